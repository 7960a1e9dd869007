'use strict'

const os = require('os')
const { shared } = require('./native')
const { DEFAULT_TIMEOUT } = require('./verify-client')

// v9's getIPType() tests Array.isArray(os.networkInterfaces()), which is never true, so
// IPType is always '' and networkHost always 127.0.0.1 (as v9 left them).
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
    this.networkHost = this.IPType === 'IPv6' ? '::1' : '127.0.0.1'
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

    // Addition (README, "Verifying clients"): how long an asynchronous verifyClient may
    // take before the client is refused. verifyClient and allowedUids are unset.
    this.verifyClientTimeout = DEFAULT_TIMEOUT

    // Additions (README, "Options node-ipc-rs adds"): frames larger than maxMessageSize
    // close the connection (Infinity disables); maxBufferedBytes bounds the incomplete frames
    // of all of a server's connections together. Until set they read as the core's defaults
    // (the addon's contract, loaded on first read). frameTimeout and maxPendingBytes (also
    // additions) are off until set.
    withCoreDefault(this, 'maxMessageSize', 'defaultMaxMessageSize')
    withCoreDefault(this, 'maxBufferedBytes', 'defaultMaxBufferedBytes')
  }
}

// An own, enumerable property that reads as the contract's `key` until it is set.
function withCoreDefault(target, name, key) {
  let value
  Object.defineProperty(target, name, {
    enumerable: true,
    configurable: true,
    get: () => (value === undefined ? shared()[key] : value),
    set: (v) => {
      value = v
    },
  })
}

// The README and @types call it `interfaces`; v9 only read `interface`.
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
