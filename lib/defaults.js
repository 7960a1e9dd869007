'use strict'

const os = require('os')

// v9's getIPType() tests Array.isArray(os.networkInterfaces()), which is never true, so
// IPType is always '' and networkHost always 127.0.0.1 (SPEC §2, §12 #29).
const IP_TYPE = ''

class Defaults {
  constructor() {
    this.appspace = 'app.'
    this.socketRoot = '/tmp/'
    this.id = os.hostname()

    this.encoding = 'utf8'
    this.rawBuffer = false
    this.sync = false
    this.unlink = true

    this.delimiter = '\f'

    this.silent = false
    this.logDepth = 5
    this.logInColor = true
    this.logger = console.log.bind(console)

    this.maxConnections = 100
    this.retry = 500
    this.maxRetries = Infinity
    this.stopRetrying = false

    this.IPType = IP_TYPE
    this.tls = false
    this.networkHost = this.IPType == 'IPv6' ? '::1' : '127.0.0.1'
    this.networkPort = 8000

    this.readableAll = false
    this.writableAll = false

    this.interface = {
      localAddress: false,
      localPort: false,
      family: false,
      hints: false,
      lookup: false,
    }

    // Addition (SPEC D8): frames larger than this close the connection. Infinity disables.
    this.maxMessageSize = 64 * 1024 * 1024
  }
}

// The README and @types call it `interfaces`; v9 only read `interface` (SPEC §12 #28).
Object.defineProperty(Defaults.prototype, 'interfaces', {
  configurable: true,
  enumerable: false,
  get() {
    return this.interface
  },
  set(value) {
    this.interface = value
  },
})

module.exports = Defaults
