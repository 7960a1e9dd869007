'use strict'

const EventEmitter = require('events')
const fs = require('fs')
const cluster = require('cluster')
const net = require('net')
const PubSub = require('./pubsub')
const { Socket, flushCorked } = require('./socket')
const { KIND, allowedEventSet, createEndpoint, eachFrame, loadBinding } = require('./native')
const { formatFrame, formatLargeFrame, joinLargeFrame, parseFrame, rawFrame } = require('./message')
const { systemError, messageTooLarge, overLimit, datagramsDropped, eventNotAllowed } = require('./errors')
const { toPipeName } = require('./pipe-name')
const { resolveTls, tlsConfigError } = require('./tls-options')
const { verifyPolicy, verifyConnection } = require('./verify-client')

// `ipc.server`: a Unix-socket or TCP server over the Rust core.
class Server extends PubSub {
  constructor(path, config, log, port) {
    super()
    Object.assign(this, {
      config: config,
      path: path,
      port: port,
      udp4: false,
      udp6: false,
      log: log,
      server: false,
      sockets: [],
      emit: emit,
      broadcast: broadcast,
    })
    Object.defineProperties(this, {
      _stopRequested: { value: false, writable: true },
      // Listens of Unix/TCP servers not yet reported closed, oldest first (see _listenStarted).
      _listens: { value: [] },
      // UDP: datagrams the kernel dropped so far, and how many of them 'error' has reported.
      _dropped: { value: 0, writable: true },
      _droppedReported: { value: 0, writable: true },
      _dropReport: { value: null, writable: true },
      _lastDropReport: { value: 0, writable: true },
      _delimiter: { value: config.delimiter },
      _native: { value: null, writable: true },
      _byConn: { value: new Map() },
      // verifyClient/allowedUids as the last start read them (lib/verify-client.js).
      _verify: { value: null, writable: true },
    })
    this.on('close', serverClosed.bind(this))
  }

  onStart(socket) {
    this.trigger('start', socket)
  }

  // Stops accepting; open connections stay (v9 semantics).
  // Before start() has got as far as creating the server handle, the stop cancels the
  // start (v9 threw a TypeError there).
  stop() {
    if (!this.server) {
      this._stopRequested = true
      return
    }
    this.server.close()
  }

  start() {
    // A missing native addon throws here, synchronously (ERR_IPC_NATIVE_BINARY_MISSING).
    loadBinding()
    this._stopRequested = false
    if (!this.path) {
      this.log('Socket Server Path not specified, refusing to start')
      return
    }
    // Only a stale Unix socket is removed, never a regular file or directory, and network
    // servers unlink nothing (v9 unlinked any file, even `./127.0.0.1`). A named pipe has no
    // file to remove.
    if (!this.port && this.config.unlink && process.platform !== 'win32') {
      fs.lstat(this.path, (err, stats) => {
        if (!err && stats.isSocket()) {
          fs.unlink(this.path, () => startServer.call(this))
        } else {
          startServer.call(this)
        }
      })
      return
    }
    process.nextTick(() => startServer.call(this))
  }

  // UDP servers: datagrams the kernel dropped because the server fell behind (Linux counts
  // them; 0 elsewhere). Reported as 'error' (ERR_IPC_DATAGRAMS_DROPPED) at most once a second.
  get droppedDatagrams() {
    return this._dropped
  }

  _reportDrops() {
    this._dropReport = null
    const dropped = this._dropped - this._droppedReported
    if (dropped > 0) {
      this._droppedReported = this._dropped
      this._lastDropReport = Date.now()
      this.publish('error', datagramsDropped(dropped, this._dropped))
    }
  }

  // A listen handed to the core: it reports listening (or not, when cancelled) and then its
  // close, in the order listens were made.
  _listenStarted() {
    const attempt = { handle: this.server, binding: true, cancelled: false }
    this.server._attempt = attempt
    this._listens.push(attempt)
  }

  _isUdp() {
    return !!(this.udp4 || this.udp6)
  }

  _socketFor(conn) {
    return this._byConn.get(conn)
  }

  _onNative(kind, conn, arg) {
    switch (kind) {
      case KIND.LISTENING: {
        // `arg`: the bound {address, family, port} of a TCP or UDP socket, as net and dgram
        // report it (serveNet('localhost') is bound to 127.0.0.1).
        if (this._isUdp()) {
          if (arg) {
            this.server._address = arg
          }
          // v9 treated the dgram socket as its one "connection".
          this.server.listening = true
          this.sockets.push(this.server)
          this.publish('connect', this.server)
          break
        }
        // Listens report in the order they were made: this one is the oldest still binding.
        const attempt = this._listens.find((a) => a.binding)
        if (!attempt) {
          break
        }
        attempt.binding = false
        if (attempt.cancelled) {
          // Stopped while binding: the listener is already closed again; no 'start'.
          break
        }
        attempt.handle._address = this.port ? arg : String(this.path)
        attempt.handle.listening = true
        this.onStart()
        break
      }
      case KIND.SERVER_CLOSED: {
        if (!this._isUdp()) {
          // The oldest listen still open ends (a stop and a new start may overlap).
          const attempt = this._listens.shift()
          if (attempt) {
            attempt.handle._closed()
          }
          break
        }
        const wasListening = this.server.listening
        this.server._closed()
        if (wasListening) {
          // dgram's 'close' reached v9's close handler: 'socket.disconnected'(socket, false), 'close'.
          this.publish('close', undefined)
        }
        break
      }
      case KIND.DATAGRAMS_DROPPED: {
        this._dropped = arg
        if (this._dropReport === null) {
          const wait = Math.max(0, this._lastDropReport + 1000 - Date.now())
          if (wait === 0) {
            this._reportDrops()
          } else {
            this._dropReport = setTimeout(() => this._reportDrops(), wait)
            this._dropReport.unref()
          }
        }
        break
      }
      case KIND.DATAGRAM: {
        const rinfo = { address: arg.address, family: arg.family, port: arg.port, size: arg.size }
        if (arg.raw) {
          this.publish('data', arg.data, rinfo)
        } else {
          eachFrame(arg.data, (text) => gotFrame.call(this, rinfo, text), false)
        }
        break
      }
      case KIND.CONNECTED: {
        const socket = new Socket(this._native, conn)
        socket.on('drain', () => this.publish('drain', socket))
        this._byConn.set(conn, socket)
        socket._connected(arg)
        this.sockets.push(socket)
        this.log('## socket connection to server detected ##')
        this.publish('connect', socket)
        break
      }
      case KIND.VERIFY:
        verifyConnection(this, conn, arg)
        break
      case KIND.FRAMES:
      case KIND.FRAMES_ASCII: {
        const socket = this._socketFor(conn)
        eachFrame(arg, (text) => gotFrame.call(this, socket, text), kind === KIND.FRAMES_ASCII)
        break
      }
      case KIND.ONE_FRAME:
        gotFrame.call(this, this._socketFor(conn), arg)
        break
      case KIND.RAW:
        this.publish('data', arg, this._socketFor(conn))
        break
      case KIND.ERROR: {
        const err = systemError(arg)
        if (conn === 0) {
          this.log('server error', err)
          this.server._failed(err)
        } else {
          this.log('server socket error', err)
          const socket = this._socketFor(conn)
          if (socket) {
            socket._failed(err)
          }
        }
        this.publish('error', err)
        break
      }
      case KIND.TOO_LARGE: {
        // conn 0: a frame in a UDP datagram (dropped; the socket stays open).
        const err = messageTooLarge(arg, conn === 0)
        this.log('server socket error', err)
        if (conn === 0) {
          this.publish('error', err)
        } else {
          this.publish('error', err, this._socketFor(conn))
        }
        break
      }
      case KIND.MEMORY_LIMIT:
      case KIND.FRAME_TIMEOUT:
      case KIND.PENDING_LIMIT: {
        // Reported just before the connection's close, as a frame past maxMessageSize is.
        const err = overLimit(kind, arg)
        this.log('server socket error', err)
        this.publish('error', err, this._socketFor(conn))
        break
      }
      case KIND.DRAIN: {
        const socket = this._socketFor(conn)
        if (socket) {
          socket._drained()
        }
        break
      }
      case KIND.CLOSED: {
        const socket = this._socketFor(conn)
        this._byConn.delete(conn)
        if (socket) {
          socket._closed(arg)
        }
        this.publish('close', arg)
        break
      }
    }
  }
}

function gotFrame(socket, text) {
  const [type, data] = parseFrame(text)
  const allowed = this._native.allowedEvents
  if (allowed !== null && !allowed.has(type)) {
    this.publish('error', eventNotAllowed(type), socket)
    return
  }
  // Any payload with a truthy id labels its socket, as in v9.
  if (data && data.id) {
    socket.id = data.id
  }
  if (!this.config.silent) {
    this.log('received event of : ', type, data)
  }
  this.publish(type, data, socket)
}

function emit(socket, type, data) {
  if (!this.config.silent) {
    this.log('dispatching event to socket', ' : ', type, data)
  }
  if (!this.config.rawBuffer && socket && typeof socket._writeJson === 'function' && !this._isUdp()) {
    const pieces = formatLargeFrame(type, data, this._delimiter)
    if (pieces !== null) {
      return socket._writeJson(pieces) ? undefined : false
    }
  }
  const message = this.config.rawBuffer
    ? rawFrame(type, this.config.encoding)
    : formatFrame(type, data, this._delimiter)
  if (this._isUdp()) {
    if (!socket.address || !socket.port) {
      this.log(
        'Attempting to emit to a single UDP socket without supplying socket address or port. Redispatching event as broadcast to all connected sockets',
      )
      this.broadcast(type, data)
      return
    }
    udpSend.call(this, message, socket)
    return
  }
  return socket.write(message) ? undefined : false
}

// v9's UDPWrite: the frame encoded with config.encoding, to {address, port}. Send
// failures become an 'error' event (v9 crashed the process).
function udpSend(message, target) {
  if (!this._native || !this.server) {
    return
  }
  const bytes = Buffer.from(message, this.config.encoding)
  this._native.sendUdp(String(target.address), Number(target.port), bytes)
}

// Serialised once, written to every connection by one native call. Earlier corked
// emits go first, so per-socket order is kept.
function broadcast(type, data) {
  this.log(
    'broadcasting event to all known sockets listening to ',
    this.path,
    ' : ',
    this.port ? this.port : '',
    type,
    data,
  )
  const pieces = this.config.rawBuffer ? null : formatLargeFrame(type, data, this._delimiter)
  const message =
    pieces !== null
      ? null
      : this.config.rawBuffer
        ? rawFrame(type, this.config.encoding)
        : formatFrame(type, data, this._delimiter)
  if (!this._native) {
    return
  }
  if (this._isUdp()) {
    // v9 never recorded UDP peers, so its broadcast reached nobody; kept.
    this.log('UDP servers know no peers: broadcast reaches nobody (as in node-ipc v9)')
    return
  }
  flushCorked()
  if (pieces !== null) {
    if (!this._native.broadcastJson(pieces)) {
      this._native.broadcast(joinLargeFrame(pieces))
    }
    return
  }
  if (typeof message === 'string') {
    this._native.broadcast(message)
  } else {
    this._native.broadcastBuffer(message)
  }
}

// v9's internal close handler: drops the first socket that is no longer readable, then
// publishes 'socket.disconnected' before user 'close' handlers run.
function serverClosed() {
  for (let i = 0; i < this.sockets.length; i++) {
    const socket = this.sockets[i]
    if (socket && socket.readable) {
      continue
    }
    const destroyedSocketId = (socket && socket.id) || false
    // v9 called destroyedSocketId.toString() here, so a peer could crash the server with
    // {"id":{"toString":0}}; the log inspects the value instead.
    if (!this.config.silent) {
      this.log('socket disconnected', destroyedSocketId)
    }
    if (socket && socket.destroy) {
      socket.destroy()
    }
    this.sockets.splice(i, 1)
    this.publish('socket.disconnected', socket, destroyedSocketId)
    return
  }
}

// ipc.config.socketMode (README, "Securing a server"): the socket file's permission bits,
// set before its name exists (the core binds in a private directory and links it into
// place), or undefined. Named pipes have no mode bits: refused there rather than ignored,
// since the option is a security promise.
function socketModeOf(config) {
  const mode = config.socketMode
  if (mode === undefined || mode === null) {
    return undefined
  }
  let problem = null
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    problem = `ipc.config.socketMode must be an integer from 0 to 0o777 (permission bits). Received ${String(mode)}.`
  } else if (process.platform === 'win32') {
    problem = 'ipc.config.socketMode does not apply to Windows named pipes, which have no permission bits'
  } else if (cluster.isWorker) {
    // The primary binds a cluster's socket through node:net, which can only chmod after.
    problem = 'ipc.config.socketMode is not supported in cluster workers (the primary binds the socket)'
  }
  if (problem !== null) {
    const err = new TypeError(problem)
    err.code = 'ERR_IPC_INVALID_CONFIG'
    throw err
  }
  return mode
}

function startServer() {
  if (this._stopRequested) {
    this._stopRequested = false
    this.log('server stopped before it started')
    return
  }
  this.log('starting server on ', this.path, this.port ? `:${this.port}` : '')
  const config = this.config
  try {
    if (!this._native) {
      this._native = createEndpoint(this, config, this._delimiter)
    } else {
      // A restarted server reads its allow-list again, as it does its verification.
      this._native.allowedEvents = allowedEventSet(config)
    }
    // UDP servers have no connections to verify.
    this._verify = this._isUdp() ? null : verifyPolicy(config)
  } catch (err) {
    this.publish('error', err)
    return
  }
  const native = this._native
  native.setRaw(!!config.rawBuffer)
  // Off (no verifyClient, no allowedUids): connections start at accept, as in v9.
  native.setVerifying(this._verify !== null)
  this.server = new ServerHandle(native, this._isUdp())
  this.server.maxConnections = config.maxConnections
  if (this._isUdp()) {
    startUdp.call(this)
    return
  }
  if (!this.port) {
    this.log('starting server as', 'Unix || Windows Socket')
    let socketMode
    try {
      socketMode = socketModeOf(config)
    } catch (err) {
      this.publish('error', err)
      return
    }
    if (cluster.isWorker) {
      listenInClusterWorker.call(this)
      return
    }
    if (process.platform === 'win32') {
      // As v9, the server's path becomes the pipe name; unlike v9, a pipe name is kept as it
      // is instead of getting a second prefix (README, "Differences from node-ipc v9").
      this.path = toPipeName(String(this.path))
    }
    this._listenStarted()
    native.listenUnix(String(this.path), !!config.readableAll, !!config.writableAll, socketMode)
    return
  }
  this.log('starting server as', config.tls ? 'TLS' : 'TCP')
  const port = Number(this.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    const err = new RangeError(`options.port should be >= 0 and < 65536. Received ${this.port}.`)
    err.code = 'ERR_SOCKET_BAD_PORT'
    this.publish('error', err)
    return
  }
  try {
    const tls = config.tls ? resolveTls(config.tls, 'server', this.log.bind(this)) : undefined
    this._listenStarted()
    native.listenTcp(String(this.path), port, tls)
  } catch (err) {
    this.publish('error', tlsConfigError(err))
  }
}

function startUdp() {
  const type = this.udp4 ? 'udp4' : 'udp6'
  this.log('starting server as', type)
  const port = Number(this.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    const err = new RangeError(`Port should be >= 0 and < 65536. Received ${this.port}.`)
    err.code = 'ERR_SOCKET_BAD_PORT'
    this.publish('error', err)
    return
  }
  this._native.bindUdp(String(this.path), port, type === 'udp6')
  this.server._address = { address: String(this.path), family: type === 'udp6' ? 'IPv6' : 'IPv4', port }
  // v9 announced the start synchronously, before the bind completed.
  this.onStart({ address: this.path, port: this.port })
}

// Cluster workers share one listening socket through Node's cluster module, as in v9: Node
// accepts, paused, and the core takes the connection over at once.
function listenInClusterWorker() {
  const native = this._native
  const config = this.config
  const nodeServer = net.createServer({ pauseOnConnect: true }, (socket) => {
    const fd = socket._handle && socket._handle.fd
    try {
      native.adoptFd(fd)
    } catch (err) {
      this.publish('error', err)
    }
    socket.destroy()
  })
  nodeServer.maxConnections = config.maxConnections
  nodeServer.on('error', (err) => {
    this.log('server error', err)
    this.publish('error', err)
  })
  this.server._useNodeServer(nodeServer)
  nodeServer.listen({ path: this.path, readableAll: !!config.readableAll, writableAll: !!config.writableAll }, () => {
    this.server.listening = true
    this.onStart()
  })
}

// `ipc.server.server`: the net.Server members v9 code uses.
class ServerHandle extends EventEmitter {
  constructor(native, udp) {
    super()
    Object.defineProperties(this, {
      _native: { value: native },
      _udp: { value: !!udp },
      _node: { value: null, writable: true },
      _maxConnections: { value: Infinity, writable: true },
      _address: { value: null, writable: true },
      // A listen was asked of the core and has not reported back yet.
      // This handle's listen in the core, while it has not reported listening: {binding,
      // cancelled} (see Server#_listens).
      _attempt: { value: null, writable: true },
    })
    this.listening = false
  }

  get maxConnections() {
    return this._maxConnections
  }

  set maxConnections(value) {
    this._maxConnections = value
    this._native.setMaxConnections(value === undefined || value === null ? Infinity : Number(value))
    if (this._node) {
      this._node.maxConnections = value
    }
  }

  _useNodeServer(nodeServer) {
    this._node = nodeServer
    nodeServer.on('close', () => this._closed())
  }

  address() {
    return this._node ? this._node.address() : this._address
  }

  close(callback) {
    if (this._udp) {
      // dgram closes at any time, even before its bind completed.
      if (typeof callback === 'function') {
        this.once('close', () => callback())
      }
      this._native.closeUdp()
      return this
    }
    if (!this.listening) {
      // Closing while the bind is still in progress cancels it, as net.Server#close does
      // between listen() and 'listening': the server never listens.
      const attempt = this._attempt
      if (attempt && attempt.binding && !attempt.cancelled) {
        attempt.cancelled = true
        this._native.stopListening()
      }
      if (typeof callback === 'function') {
        const err = new Error('Server is not running.')
        err.code = 'ERR_SERVER_NOT_RUNNING'
        process.nextTick(callback, err)
      }
      return this
    }
    if (typeof callback === 'function') {
      this.once('close', () => callback())
    }
    if (this._node) {
      this._node.close()
    } else if (this._udp) {
      this._native.closeUdp()
    } else {
      this._native.stopListening()
    }
    return this
  }

  _closed() {
    const wasListening = this.listening
    this.listening = false
    if (wasListening) {
      this.emit('close')
    }
  }

  _failed(err) {
    if (this.listenerCount('error') > 0) {
      this.emit('error', err)
    }
  }

  ref() {
    this._native.refServer(true)
    if (this._node) {
      this._node.ref()
    }
    return this
  }

  unref() {
    this._native.refServer(false)
    if (this._node) {
      this._node.unref()
    }
    return this
  }
}

module.exports = Server
