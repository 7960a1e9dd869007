'use strict'

const PubSub = require('./pubsub')
const Queue = require('./queue')
const { Socket } = require('./socket')
const { KIND, createEndpoint, eachFrame } = require('./native')
const { formatFrame, formatLargeFrame, parseFrame, rawFrame } = require('./message')
const { systemError, messageTooLarge, overLimit, eventNotAllowed } = require('./errors')
const { toPipeName } = require('./pipe-name')
const { resolveTls, tlsConfigError } = require('./tls-options')

// `ipc.of[id]`: one logical connection that reconnects by v9's rules (README, "Clients").
class Client extends PubSub {
  constructor(config, log) {
    super()
    Object.assign(this, {
      Client: Client,
      config: config,
      queue: new Queue(),
      socket: false,
      connect: connect,
      emit: emit,
      log: log,
      retriesRemaining: config.maxRetries || 0,
      explicitlyDisconnected: false,
    })
    Object.defineProperties(this, {
      // Captured per client (v9 let the last constructed endpoint's delimiter win).
      _delimiter: { value: config.delimiter },
      _native: { value: null, writable: true },
      _raw: { value: false, writable: true },
      _conn: { value: 0, writable: true },
      _retryTimer: { value: null, writable: true },
      _retired: { value: false, writable: true },
      // Bytes of the sync queue's emits waiting for replies (maxPendingBytes counts them).
      _syncQueued: { value: 0, writable: true },
    })
  }

  // node-ipc-rs: the process serving a local socket ({pid, uid, gid}; {pid, sid} on a pipe, as the OS
  // reported it at connect), so a client can tell its server from a squatter on the path
  // (README, "Peer credentials"); undefined for network connections and before connect.
  get peer() {
    return this.socket ? this.socket.peer : undefined
  }

  // Replaced in ipc.of by a new connectTo: stop for good, including a pending retry
  // (v9 left it running and reconnecting forever).
  _retire() {
    this._retired = true
    clearTimeout(this._retryTimer)
    this._retryTimer = null
    if (this.socket) {
      this.socket.destroy()
    }
  }

  // rawBuffer is read live in v9; the core learns of a change at the next emit or connect.
  // With an allow-list raw mode stays off: raw bytes would reach 'data' unchecked (the
  // combination is refused when the endpoint is made).
  _syncRawMode() {
    const raw = !!this.config.rawBuffer && (!this._native || this._native.allowedEvents === null)
    if (this._native && raw !== this._raw) {
      this._raw = raw
      this._native.setRaw(raw)
    }
  }

  _onNative(kind, conn, arg) {
    // Late events of a socket this client has moved on from are ignored.
    if (conn !== this._conn || this._retired) {
      return
    }
    const socket = this.socket
    switch (kind) {
      case KIND.CONNECTED:
        socket._connected(arg)
        this.publish('connect')
        this.retriesRemaining = this.config.maxRetries
        this.log('retrying reset')
        break
      case KIND.FRAMES:
      case KIND.FRAMES_ASCII:
        if (!this.config.silent) {
          this.log('## received events ##')
        }
        eachFrame(arg, (text) => this._gotFrame(text), kind === KIND.FRAMES_ASCII)
        break
      case KIND.ONE_FRAME:
        if (!this.config.silent) {
          this.log('## received events ##')
        }
        this._gotFrame(arg)
        break
      case KIND.RAW:
        this.log('## received events ##')
        this.publish('data', arg)
        if (this.config.sync) {
          this.queue.next()
        }
        break
      case KIND.ERROR:
        this._failed(systemError(arg))
        break
      case KIND.TOO_LARGE:
        this._failed(messageTooLarge(arg))
        break
      case KIND.MEMORY_LIMIT:
      case KIND.FRAME_TIMEOUT:
      case KIND.PENDING_LIMIT:
        this._failed(overLimit(kind, arg))
        break
      case KIND.DRAIN:
        socket._drained()
        break
      case KIND.CLOSED:
        socket._closed(arg)
        this._closed()
        break
    }
  }

  _gotFrame(text) {
    const [type, data] = parseFrame(text)
    const allowed = this._native.allowedEvents
    if (allowed !== null && !allowed.has(type)) {
      // Dropped as if it never came: it does not count as the reply a sync queue waits for.
      this.publish('error', eventNotAllowed(type))
      return
    }
    if (!this.config.silent) {
      this.log('detected event', type, data)
    }
    this.publish(type, data)
    // One reply releases one queued request (v9 advanced once per chunk).
    if (this.config.sync) {
      this.queue.next()
    }
  }

  // A connection attempt that could not even start: error, then the close rules.
  _attemptFailed(err) {
    const socket = new Socket(this._native, 0)
    socket.destroyed = true
    this.socket = socket
    this._conn = 0
    process.nextTick(() => {
      if (this.socket !== socket || this._retired) {
        return
      }
      this.log('\n\n######\nerror: ', err)
      this.publish('error', err)
      socket._closed(true)
      this._closed()
    })
  }

  // A sync-mode client's emits wait in JS for the server's replies; a server that stops
  // replying must not make it hold them without end. Past maxPendingBytes the queue is
  // dropped and the connection closed, as for bytes the socket has not taken
  // (ERR_IPC_PENDING_LIMIT); the queue starts idle on the next connection.
  _syncOverflow(size, limit) {
    this.queue.clear()
    this.queue.next() // nothing to send: the queue is no longer waiting for a reply
    this._syncQueued = 0
    // Closed before 'error' handlers run, so that what they emit cannot go out on it.
    this.socket.destroy()
    this._failed(overLimit(KIND.PENDING_LIMIT, { size, limit }))
  }

  _failed(err) {
    this.socket._failed(err)
    this.log('\n\n######\nerror: ', err)
    this.publish('error', err)
  }

  // v9's retry algorithm, exactly: retry after config.retry ms while retriesRemaining
  // lasts, unless stopRetrying or an explicit disconnect; then 'destroy'.
  _closed() {
    this.log(
      'connection closed',
      this.id,
      this.path,
      this.retriesRemaining,
      'tries remaining of',
      this.config.maxRetries,
    )
    if (this.config.stopRetrying || this.retriesRemaining < 1 || this.explicitlyDisconnected) {
      this.publish('disconnect')
      this.log(this.config.id, 'exceeded connection rety amount of', ' or stopRetrying flag set.')
      this.socket.destroy()
      this.publish('destroy')
      return
    }
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null
      if (this.explicitlyDisconnected || this._retired) {
        return
      }
      this.retriesRemaining--
      this.connect()
    }, this.config.retry)
    this.publish('disconnect')
  }
}

function emit(type, data) {
  if (!this.config.silent) {
    this.log('dispatching event to ', this.id, this.path, ' : ', type, ',', data)
  }
  if (!this.config.rawBuffer && !this.config.sync && this.socket && this.socket._writeJson) {
    const pieces = formatLargeFrame(type, data, this._delimiter)
    if (pieces !== null) {
      this._syncRawMode()
      return this.socket._writeJson(pieces) ? undefined : false
    }
  }
  // A queued (sync) emit keeps v9's copy: the caller may change its bytes before it goes.
  const message = !this.config.rawBuffer
    ? formatFrame(type, data, this._delimiter)
    : this.config.sync
      ? Buffer.from(type, this.config.encoding)
      : rawFrame(type, this.config.encoding)
  this._syncRawMode()
  if (!this.config.sync) {
    // v9 returned undefined; false (an addition, README "Back-pressure") says: wait for 'drain'.
    return this.socket.write(message) ? undefined : false
  }
  if (this.queue.contents.length === 0) {
    this._syncQueued = 0 // emptied by queue.clear(), or all sent
  }
  // Only an emit that waits for a reply counts; one the idle queue sends at once is the
  // socket's (and the core's limit) already.
  const job = () => {
    if (job.waited) {
      this._syncQueued -= job.size
    }
    syncEmit.call(this, message)
  }
  this.queue.add(job)
  const waiting = this.queue.contents
  if (waiting.length > 0 && waiting[waiting.length - 1] === job) {
    job.size = typeof message === 'string' ? Buffer.byteLength(message) : message.length
    const limit = this._native ? this._native.maxPendingBytes : 0
    if (limit > 0 && limit !== Infinity && this._syncQueued + job.size > limit && this.socket) {
      this._syncOverflow(this._syncQueued + job.size, limit)
      return false
    }
    job.waited = true
    this._syncQueued += job.size
  }
}

function syncEmit(message) {
  this.log('dispatching event to ', this.id, this.path, ' : ', message)
  this.socket.write(message)
}

function connect() {
  this.log('requested connection to ', this.id, this.path)
  if (!this.path) {
    this.log('\n\n######\nerror: ', this.id, ' client has not specified socket path it wishes to connect to.')
    return
  }
  let port
  if (this.port) {
    port = Number(this.port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      const err = new RangeError(`Port should be >= 0 and < 65536. Received ${this.port}.`)
      err.code = 'ERR_SOCKET_BAD_PORT'
      throw err
    }
  }
  if (!this._native) {
    this._native = createEndpoint(this, this.config, this._delimiter)
    this._raw = !!this.config.rawBuffer
  }
  this._syncRawMode()
  if (!this.port) {
    this.log('Connecting client on Unix Socket :', this.path)
    // On Windows the path names a pipe, mapped as v9 maps it; `this.path` stays as given.
    const local = process.platform === 'win32' ? toPipeName(String(this.path)) : String(this.path)
    this._conn = this._native.connectUnix(local)
  } else {
    const iface = this.config.interface || this.config.interfaces || {}
    let tls
    if (this.config.tls) {
      this.log('Connecting client via TLS to', this.path, port, this.config.tls)
    } else {
      this.log('Connecting client via TCP to', { host: this.path, port })
    }
    try {
      tls = this.config.tls ? resolveTls(this.config.tls, 'client', this.log.bind(this)) : undefined
      this._conn = this._native.connectTcp(
        String(this.path),
        port,
        iface.localAddress ? String(iface.localAddress) : undefined,
        iface.localPort ? Number(iface.localPort) : undefined,
        iface.family ? Number(iface.family) : undefined,
        tls,
      )
    } catch (err) {
      // An unreadable certificate file or a bad TLS option fails this attempt like a
      // refused connection (v9 threw, from a retry timer even: an uncaught crash).
      return this._attemptFailed(tlsConfigError(err))
    }
  }
  const socket = new Socket(this._native, this._conn)
  socket.on('drain', () => {
    if (this.socket === socket) {
      this.publish('drain')
    }
  })
  this.socket = socket
}

module.exports = Client
