'use strict'

const EventEmitter = require('events')
const { X509Certificate } = require('crypto')

// The per-connection object v9 code receives where node-ipc handed out a net.Socket
// (README, "Sockets and ipc.server.server"). Data moves through the Rust core; this object only queues writes and
// mirrors state.
//
// The first string written in a tick goes to the core at once (a reply leaves before its
// handler returns); the rest of the tick's strings are corked, since a native call costs
// far more than a string append, and go out in groups that double in size (2, 4, 8, ...
// strings) with the remainder at the end of the tick. The doubling keeps a peer that has
// many requests in flight busy while this side still answers the rest of a burst (the
// first replies arrive early) at a cost of about log2(n) native calls for n writes.

// Bytes queued for one peer above which write() returns false and 'drain' follows (the
// core's writeHighWater, read once a socket exists: the addon is loaded by then).
const { flushPending, shared } = require('./native')
let WRITE_HIGH_WATER
let WRITE_DROPPED
let USE_JSON_STRINGIFY
const { joinLargeFrame } = require('./message')

// Buffers at least this large are handed over as they are, not copied into the cork.
const BYTES_CORK_LIMIT = 64 * 1024

const corked = new Set()
let flushScheduled = false

// process.exit() runs no further ticks: what was emitted in the exiting tick, and what
// waits in the core's queues (broadcasts), goes out now as far as the sockets take it at
// once (v9's net.Socket wrote it synchronously too).
process.on('exit', () => {
  flushCorked()
  flushPending()
})

// A peer's leaf certificate (DER) in the shape of Node's tlsSocket.getPeerCertificate().
function peerCertificate(der) {
  const x509 = new X509Certificate(der)
  const names = (text) =>
    Object.fromEntries(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(/=(.*)/s).slice(0, 2)),
    )
  return {
    subject: names(x509.subject),
    issuer: names(x509.issuer),
    subjectaltname: x509.subjectAltName,
    valid_from: x509.validFrom,
    valid_to: x509.validTo,
    fingerprint: x509.fingerprint,
    fingerprint256: x509.fingerprint256,
    serialNumber: x509.serialNumber,
    raw: Buffer.from(der),
  }
}

// A reaction on a settled promise is the cheapest microtask: queueMicrotask makes an
// AsyncResource per call, which cost a request/reply round trip more CPU (bench --pin 1
// over Unix, runs back to back: 28.6-29.4 against 25.4-25.7 µs). What flushing throws
// (nothing should) surfaces as an uncaught exception, as from process.nextTick, not as a
// rejection.
const RESOLVED = Promise.resolve()
function flushAtTickEnd() {
  try {
    flushCorked()
  } catch (err) {
    process.nextTick(() => {
      throw err
    })
  }
}

function flushCorked() {
  flushScheduled = false
  // Most ticks wrote once and corked nothing; Set#clear allocates a new table even when
  // the set is empty (a measurable share of a request/reply round trip).
  if (corked.size === 0) {
    return
  }
  for (const socket of corked) {
    socket._flush()
    socket._corkCount = 0
    socket._corkGroup = 2
  }
  corked.clear()
}

class Socket extends EventEmitter {
  constructor(endpoint, conn) {
    super()
    if (WRITE_HIGH_WATER === undefined) {
      ;({
        writeHighWater: WRITE_HIGH_WATER,
        writeDropped: WRITE_DROPPED,
        useJsonStringify: USE_JSON_STRINGIFY,
      } = shared())
    }
    Object.defineProperties(this, {
      _endpoint: { value: endpoint },
      _conn: { value: conn },
      _corked: { value: '', writable: true },
      // Strings corked since the last native write of this tick, and how many go out
      // together next (doubles within a tick, back to 2 at its end).
      _corkCount: { value: 0, writable: true },
      _corkGroup: { value: 2, writable: true },
      // Frames with large strings written in this tick (formatLargeFrame's pieces, joined),
      // and their length; _corked text follows them.
      _corkedPieces: { value: null, writable: true },
      _corkedPiecesLength: { value: 0, writable: true },
      // Small Buffers written in one tick, copied together for one native call.
      _corkedBytes: { value: null, writable: true },
      _corkedLength: { value: 0, writable: true },
      _needDrain: { value: false, writable: true },
      _nativePending: { value: 0, writable: true },
    })
    this.connecting = true
    this.destroyed = false
    this.readable = true
    this.writable = true
    this.remoteAddress = undefined
    this.remotePort = undefined
    this.remoteFamily = undefined
    this.localAddress = undefined
    this.localPort = undefined
  }

  // Node's net.Socket accepts these; the core already frames bytes, so they change nothing.
  setEncoding() {
    return this
  }
  setKeepAlive() {
    return this
  }
  setNoDelay() {
    return this
  }
  setTimeout() {
    return this
  }

  address() {
    return this.localPort === undefined
      ? {}
      : { address: this.localAddress, family: this.remoteFamily, port: this.localPort }
  }

  write(data, encoding, callback) {
    if (typeof encoding === 'function') {
      callback = encoding
      encoding = undefined
    }
    if (typeof data === 'string' && encoding && !/^utf-?8$/i.test(encoding)) {
      data = Buffer.from(data, encoding)
    }
    if (typeof data !== 'string' && !ArrayBuffer.isView(data)) {
      const err = new TypeError(
        'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array.' +
          ` Received ${data === null ? 'null' : typeof data}`,
      )
      err.code = 'ERR_INVALID_ARG_TYPE'
      throw err
    }
    // Writes to a closed socket are dropped without an error, as v9's were.
    if (this.destroyed || !this.writable) {
      return false
    }
    if (typeof data === 'string') {
      if (data.length > 0) {
        this._flushBytes()
        if (!flushScheduled && this._corked.length === 0 && this._corkedPieces === null) {
          // The first write of a tick goes out at once, so a reply leaves before its
          // handler returns; later writes in the same tick are corked into one call.
          // The tick's end is a microtask, not a process.nextTick callback: after a native
          // callback (a read) that scheduled a nextTick, Node calls into JS once more to
          // run the queue, while the microtask checkpoint runs anyway (flushAtTickEnd).
          flushScheduled = true
          RESOLVED.then(flushAtTickEnd)
          this._queued(this._endpoint.write(this._conn, data))
        } else {
          this._corked += data
          this._cork()
          if (++this._corkCount >= this._corkGroup && this._corkedPieces === null) {
            this._corkCount = 0
            this._corkGroup *= 2
            this._flushText()
          }
        }
      }
    } else {
      const view = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      this._flushText()
      if (view.length >= BYTES_CORK_LIMIT) {
        this._flushBytes()
        this._queued(this._endpoint.writeBuffer(this._conn, view))
      } else if (view.length > 0) {
        this._corkBytes(view)
      }
    }
    if (callback) {
      // As with a net.Socket, the callback runs once the data is handed on: a corked
      // write goes now (nextTick callbacks run before the tick's end flushes the cork).
      this._flush()
      process.nextTick(callback)
    }
    // Corked data counts as pending too (one char ~ one byte: an estimate is enough).
    this._checkPending()
    return !this._needDrain
  }

  _checkPending() {
    if (this._nativePending + this._corked.length + this._corkedPiecesLength + this._corkedLength > WRITE_HIGH_WATER) {
      this._needDrain = true
    }
  }

  // A frame from formatLargeFrame (lib/message.js): its large strings go to the core as
  // they are, which writes them as JSON literals. Corked like text.
  _writeJson(pieces) {
    // Code that wraps socket.write (logging, metrics) still sees every frame.
    if (this.write !== Socket.prototype.write) {
      return this.write(joinLargeFrame(pieces))
    }
    if (this.destroyed || !this.writable) {
      return false
    }
    this._flushBytes()
    // The quotes of each large string, and the text corked before, which the pieces take in.
    let length = pieces.length - 1 + this._corked.length
    for (let i = 0; i < pieces.length; i++) {
      length += pieces[i].length
    }
    if (this._corkedPieces === null) {
      this._corkedPieces = pieces
      pieces[0] = this._corked + pieces[0]
    } else {
      const corked = this._corkedPieces
      corked[corked.length - 1] += this._corked + pieces[0]
      for (let i = 1; i < pieces.length; i++) {
        corked.push(pieces[i])
      }
    }
    this._corked = ''
    this._corkedPiecesLength += length
    this._cork()
    this._checkPending()
    return !this._needDrain
  }

  _cork() {
    corked.add(this)
    if (!flushScheduled) {
      flushScheduled = true
      RESOLVED.then(flushAtTickEnd)
    }
  }

  _corkBytes(view) {
    const needed = this._corkedLength + view.length
    if (!this._corkedBytes || this._corkedBytes.length < needed) {
      const current = this._corkedBytes ? this._corkedBytes.length : 0
      const grown = Buffer.allocUnsafe(Math.max(needed, 2 * current, 2 * BYTES_CORK_LIMIT))
      if (this._corkedLength > 0) {
        this._corkedBytes.copy(grown, 0, 0, this._corkedLength)
      }
      this._corkedBytes = grown
    }
    view.copy(this._corkedBytes, this._corkedLength)
    this._corkedLength = needed
    this._cork()
  }

  _flush() {
    this._flushText()
    this._flushBytes()
  }

  _flushText() {
    if (this._corkedPieces !== null) {
      const pieces = this._corkedPieces
      pieces[pieces.length - 1] += this._corked
      this._corkedPieces = null
      this._corkedPiecesLength = 0
      this._corked = ''
      let pending = this._endpoint.writeJson(this._conn, pieces)
      if (pending === USE_JSON_STRINGIFY) {
        pending = this._endpoint.write(this._conn, joinLargeFrame(pieces))
      }
      this._queued(pending)
    } else if (this._corked.length > 0) {
      const text = this._corked
      this._corked = ''
      this._queued(this._endpoint.write(this._conn, text))
    }
  }

  // The core copies what it is given, so the cork buffer is reused.
  _flushBytes() {
    if (this._corkedLength > 0) {
      const length = this._corkedLength
      this._corkedLength = 0
      this._queued(this._endpoint.writeBuffer(this._conn, this._corkedBytes.subarray(0, length)))
      if (this._corkedBytes.length > 4 * BYTES_CORK_LIMIT) {
        this._corkedBytes = null
      }
    }
  }

  // `pending`: bytes the core now holds for this peer, or WRITE_DROPPED.
  _queued(pending) {
    if (pending === WRITE_DROPPED) {
      return
    }
    this._nativePending = pending
    // Above the mark the core reports the drain; below it, a drain that write() promised
    // on an estimate is due now.
    if (this._needDrain && pending <= WRITE_HIGH_WATER) {
      process.nextTick(() => this._drained())
    }
  }

  // Flushes what was written, then closes (v9 destroyed at once and lost it).
  end(data, encoding, callback) {
    if (typeof data === 'function') {
      callback = data
      data = undefined
    }
    if (data !== undefined && data !== null) {
      this.write(data, encoding)
    }
    if (!this.destroyed && this.writable) {
      this.writable = false
      this._flush()
      corked.delete(this)
      this._endpoint.end(this._conn)
    }
    if (typeof callback === 'function') {
      this.once('close', () => callback())
    }
    return this
  }

  // What was written before goes out as far as the socket takes it at once, as with
  // net.Socket#destroy after write ("send the reason, then kick"); the rest is dropped.
  destroy(err) {
    if (!this.destroyed) {
      if (this.writable) {
        this._flush()
      }
      corked.delete(this)
      this._endpoint.destroy(this._conn)
      this.destroyed = true
      this.readable = false
      this.writable = false
      if (err && this.listenerCount('error') > 0) {
        process.nextTick(() => this.emit('error', err))
      }
    }
    return this
  }

  ref() {
    if (this._conn !== 0) {
      this._endpoint.refConn(this._conn, true)
    }
    return this
  }

  unref() {
    if (this._conn !== 0) {
      this._endpoint.refConn(this._conn, false)
    }
    return this
  }

  _connected(peer) {
    this.connecting = false
    if (peer) {
      const { peerCertificate, tlsProtocol, authorizationMessage, ...visible } = peer
      Object.assign(this, visible)
      if (peer.encrypted) {
        Object.defineProperties(this, {
          _peerCertificate: { value: peerCertificate },
          _tlsProtocol: { value: tlsProtocol },
        })
        if (!peer.authorized && peer.authorizationError === undefined) {
          this.authorizationError = 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
        }
      }
    }
    this.emit('connect')
  }

  // TLS sockets: the peer's leaf certificate in the shape of Node's
  // tlsSocket.getPeerCertificate(), or {} when there is none.
  getPeerCertificate() {
    if (!this._peerCertificate) {
      return this.encrypted ? {} : null
    }
    return peerCertificate(this._peerCertificate)
  }

  getProtocol() {
    return this.encrypted ? this._tlsProtocol || null : null
  }

  _drained() {
    this._nativePending = 0
    if (this._needDrain) {
      this._needDrain = false
      this.emit('drain')
    }
  }

  // An 'error' nobody listens for must not throw from the event loop: v9 users listen
  // on the client or server, not on the socket.
  _failed(err) {
    if (this.listenerCount('error') > 0) {
      this.emit('error', err)
    }
  }

  _closed(hadError) {
    this.connecting = false
    this.destroyed = true
    this.readable = false
    this.writable = false
    this._corked = ''
    this._corkedPieces = null
    this._corkedPiecesLength = 0
    this._corkedLength = 0
    corked.delete(this)
    this.emit('close', hadError)
  }
}

module.exports = { Socket, flushCorked, peerCertificate }
