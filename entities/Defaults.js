'use strict'

// node-ipc v9's entities/Defaults.js, at the same path: the class of `ipc.config`'s
// defaults (this package's own, with its additions).

module.exports = require('../lib/defaults.js')
