'use strict'

const Defaults = require('./defaults')
const Client = require('./client')
const Server = require('./server')
const log = require('./log')
const { loadBinding } = require('./native')

// The IPC class with node-ipc v9's members and argument overloading.
class IPC {
  constructor() {
    Object.defineProperties(this, {
      config: { enumerable: true, writable: true, value: new Defaults() },
      connectTo: { enumerable: true, writable: false, value: connect },
      connectToNet: { enumerable: true, writable: false, value: connectNet },
      disconnect: { enumerable: true, writable: false, value: disconnect },
      serve: { enumerable: true, writable: false, value: serve },
      serveNet: { enumerable: true, writable: false, value: serveNet },
      of: { enumerable: true, writable: true, value: {} },
      server: { enumerable: true, writable: true, configurable: true, value: false },
      log: { enumerable: true, writable: false, value: log },
    })
  }
}

function emptyCallback() {}

function disconnect(id) {
  const client = this.of[id]
  if (!client) {
    return
  }
  client.explicitlyDisconnected = true
  client.off('*', '*')
  clearTimeout(client._retryTimer)
  // Flush, then close: v9 destroyed the socket and could lose the last emits.
  if (client.socket && client.socket.end) {
    client.socket.end()
  }
  delete this.of[id]
}

function serve(path, callback) {
  // A missing native addon throws here, synchronously (ERR_IPC_NATIVE_BINARY_MISSING).
  loadBinding()
  if (typeof path === 'function') {
    callback = path
    path = false
  }
  if (!path) {
    this.log(
      'Server path not specified, so defaulting to',
      'ipc.config.socketRoot + ipc.config.appspace + ipc.config.id',
      this.config.socketRoot + this.config.appspace + this.config.id,
    )
    path = this.config.socketRoot + this.config.appspace + this.config.id
  }
  if (!callback) {
    callback = emptyCallback
  }
  this.server = new Server(path, this.config, log)
  this.server.on('start', callback)
}

function serveNet(host, port, UDPType, callback) {
  // A missing native addon throws here, synchronously (ERR_IPC_NATIVE_BINARY_MISSING).
  loadBinding()
  if (typeof host === 'number') {
    callback = UDPType
    UDPType = port
    port = host
    host = false
  }
  if (typeof host === 'function') {
    callback = host
    UDPType = false
    host = false
    port = false
  }
  if (!host) {
    this.log('Server host not specified, so defaulting to', 'ipc.config.networkHost', this.config.networkHost)
    host = this.config.networkHost
  }
  if (host.toLowerCase() === 'udp4' || host.toLowerCase() === 'udp6') {
    callback = port
    UDPType = host.toLowerCase()
    port = false
    host = this.config.networkHost
  }
  if (typeof port === 'string') {
    callback = UDPType
    UDPType = port
    port = false
  }
  if (typeof port === 'function') {
    callback = port
    UDPType = false
    port = false
  }
  if (!port) {
    this.log('Server port not specified, so defaulting to', 'ipc.config.networkPort', this.config.networkPort)
    port = this.config.networkPort
  }
  if (typeof UDPType === 'function') {
    callback = UDPType
    UDPType = false
  }
  if (!callback) {
    callback = emptyCallback
  }
  this.server = new Server(host, this.config, log, port)
  if (UDPType) {
    this.server[UDPType] = true
    if (UDPType === 'udp4' && host === '::1') {
      this.server.path = '127.0.0.1'
    }
  }
  this.server.on('start', callback)
}

// An existing entry whose socket is still alive short-circuits; a dead one is retired
// for good before it is replaced.
function reuseOrRetire(ipc, id, callback) {
  const existing = ipc.of[id]
  if (!existing) {
    return false
  }
  if (!existing.socket.destroyed) {
    ipc.log('Already Connected to', id, '- So executing success without connection')
    callback()
    return true
  }
  existing._retire()
  return false
}

function connect(id, path, callback) {
  // A missing native addon throws here, synchronously (ERR_IPC_NATIVE_BINARY_MISSING).
  loadBinding()
  if (typeof path === 'function') {
    callback = path
    path = false
  }
  if (!callback) {
    callback = emptyCallback
  }
  if (!id) {
    this.log(
      'Service id required',
      'Requested service connection without specifying service id. Aborting connection attempt',
    )
    return
  }
  if (!path) {
    // v9 logged `(path).data`, a String.prototype extension it no longer had: undefined.
    this.log(
      'Service path not specified, so defaulting to',
      'ipc.config.socketRoot + ipc.config.appspace + id',
      undefined,
    )
    path = this.config.socketRoot + this.config.appspace + id
  }
  if (reuseOrRetire(this, id, callback)) {
    return
  }
  const client = new Client(this.config, this.log)
  this.of[id] = client
  client.id = id
  client.path = path
  client.connect()
  callback(this)
}

function connectNet(id, host, port, callback) {
  // A missing native addon throws here, synchronously (ERR_IPC_NATIVE_BINARY_MISSING).
  loadBinding()
  if (!id) {
    this.log(
      'Service id required',
      'Requested service connection without specifying service id. Aborting connection attempt',
    )
    return
  }
  if (typeof host === 'number') {
    callback = port
    port = host
    host = false
  }
  if (typeof host === 'function') {
    callback = host
    host = false
    port = false
  }
  if (!host) {
    this.log('Server host not specified, so defaulting to', 'ipc.config.networkHost', this.config.networkHost)
    host = this.config.networkHost
  }
  if (typeof port === 'function') {
    callback = port
    port = false
  }
  if (!port) {
    this.log('Server port not specified, so defaulting to', 'ipc.config.networkPort', this.config.networkPort)
    port = this.config.networkPort
  }
  // v9 threw `ReferenceError: UDPType is not defined` here.
  if (typeof callback === 'string') {
    throw new TypeError(
      `connectToNet: there is no UDP client in node-ipc ('${callback}'); ` +
        "use serveNet(port, 'udp4'|'udp6') on both ends and server.emit({address, port}, ...)",
    )
  }
  if (!callback) {
    callback = emptyCallback
  }
  if (reuseOrRetire(this, id, callback)) {
    return
  }
  const client = new Client(this.config, this.log)
  this.of[id] = client
  client.id = id
  client.path = host
  client.port = port
  client.connect()
  callback(this)
}

module.exports = IPC
