'use strict'

// node-ipc v9's entities/Defaults.js, at the same path: the class of `ipc.config`'s
// defaults with v9's fields and values. This package's own defaults (lib/defaults.js) add
// `maxMessageSize` and `maxBufferedBytes`, whose defaults are read from the native addon,
// and `verifyClientTimeout`; the v9 class leaves them out, so it has v9's fields only, and
// spreading or serialising `new Defaults()` never needs the addon, as in v9.
const Base = require('../lib/defaults.js')

class Defaults extends Base {
  constructor() {
    super()
    delete this.maxMessageSize
    delete this.verifyClientTimeout
    delete this.maxBufferedBytes
  }
}

module.exports = Defaults
