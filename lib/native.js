'use strict'

// The boundary to the Rust core: one NativeEndpoint per client or server. Its events reach
// the owner's `_onNative(kind, conn, arg)` one by one, from batches (flat arrays
// `[kind, connId, arg, ...]`, see src/binding/batch.rs) that tokio tasks queue, or straight
// from connections read on the JS thread (ARCHITECTURE.md, "Threads, and who owns what").

// Every value shared with the core comes from the addon's contract() (its one definition,
// src/binding/mod.rs), read when the addon is first loaded; nothing reads these before an
// endpoint exists. KIND: the event kinds, filled in then.
const KIND = {}
let binding
let contract

// The platform package napi-rs publishes for this machine (package.json's napi targets).
function platformPackage() {
  let abi = ''
  if (process.platform === 'linux') {
    const header = process.report && process.report.getReport().header
    abi = header && header.glibcVersionRuntime ? '-gnu' : '-musl'
  } else if (process.platform === 'win32') {
    abi = '-msvc'
  }
  return `node-ipc-rs-${process.platform}-${process.arch}${abi}`
}

// A missing addon fails where a server or client is made, synchronously, with a way out;
// require('node-ipc') itself works anywhere (v9 was pure JS).
function missingBinary(cause) {
  const pkg = platformPackage()
  const err = new Error(
    `node-ipc-rs has no native binary for ${process.platform}-${process.arch}: the package ${pkg}, ` +
      'which npm installs with node-ipc-rs as an optional dependency, is not installed or does not load. ' +
      `Install it (npm install ${pkg}), or reinstall without --omit=optional / --no-optional. ` +
      `Cause: ${cause && cause.message}`,
  )
  err.code = 'ERR_IPC_NATIVE_BINARY_MISSING'
  err.package = pkg
  err.cause = cause
  return err
}

// Throws ERR_IPC_NATIVE_BINARY_MISSING when the addon cannot be loaded.
function loadBinding() {
  if (!binding) {
    let loaded
    try {
      loaded = require('../binding.js')
    } catch (cause) {
      throw missingBinary(cause)
    }
    contract = loaded.contract()
    Object.assign(KIND, contract.kinds)
    Object.freeze(KIND)
    binding = loaded
  }
  return binding
}

// The contract's values: writeDropped, useJsonStringify, largeString, largeStringMark,
// defaultMaxMessageSize, defaultMaxBufferedBytes, writeHighWater.
function shared() {
  loadBinding()
  return contract
}

function createEndpoint(owner, config, delimiter) {
  const { NativeEndpoint } = loadBinding()
  const delimiterBytes = Buffer.from(String(delimiter), 'utf8')
  if (delimiterBytes.length === 0) {
    throw new TypeError('ipc.config.delimiter must be a non-empty string')
  }
  let max = config.maxMessageSize
  max = max === undefined || max === null ? contract.defaultMaxMessageSize : Number(max)
  if (Number.isNaN(max) || max < 0) {
    throw new RangeError('ipc.config.maxMessageSize must be a non-negative number or Infinity')
  }
  const allowedEvents = allowedEventSet(config)
  const limits = {
    maxBufferedBytes: limit(config, 'maxBufferedBytes', contract.defaultMaxBufferedBytes),
    frameTimeout: limit(config, 'frameTimeout', 0),
    maxPendingBytes: limit(config, 'maxPendingBytes', 0),
  }
  const endpoint = new Endpoint(owner, new NativeEndpoint(delimiterBytes, max, !!config.rawBuffer, limits))
  endpoint.allowedEvents = allowedEvents
  // Also bounds what a sync-mode client holds in JS (lib/client.js).
  endpoint.maxPendingBytes = limits.maxPendingBytes
  return endpoint
}

// ipc.config.allowedEvents (README, "Securing a server"): the event types a peer may send,
// as a Set, or null when every type is dispatched (v9). Raw mode has no event types, so
// the option cannot mean anything there and is refused rather than ignored.
function allowedEventSet(config) {
  const list = config.allowedEvents
  if (list === undefined || list === null) {
    return null
  }
  if (config.rawBuffer) {
    const err = new TypeError(
      'ipc.config.allowedEvents cannot be used with ipc.config.rawBuffer: raw mode delivers bytes, not events',
    )
    err.code = 'ERR_IPC_INVALID_CONFIG'
    throw err
  }
  const types = list instanceof Set ? [...list] : list
  if (!Array.isArray(types) || types.some((type) => typeof type !== 'string')) {
    const err = new TypeError('ipc.config.allowedEvents must be an array (or Set) of event type strings')
    err.code = 'ERR_IPC_INVALID_CONFIG'
    throw err
  }
  return new Set(types)
}

// A memory or time limit of the config (README, "Options node-ipc-rs adds"): a number
// >= 0, where 0 and Infinity turn it off; unset (undefined or null) is `unset`.
function limit(config, name, unset) {
  const value = config[name]
  if (value === undefined || value === null) {
    return unset
  }
  const n = Number(value)
  if (typeof value === 'boolean' || Number.isNaN(n) || n < 0) {
    throw new RangeError(`ipc.config.${name} must be a non-negative number, 0 or Infinity to turn it off`)
  }
  return n
}

// The native endpoint plus its event callbacks. The core holds them only while something
// is open (the batch callback in the threadsafe function its tasks hold, the direct one by
// a reference that is weak while no connection is open), so an idle client or server is
// garbage (no native reference keeps it).
class Endpoint {
  constructor(owner, native) {
    this.native = native
    const pull = () => {
      const batch = native.rearm()
      if (batch) {
        receive(batch)
      }
    }
    // Between two batches the event loop gets a turn (timers, other sockets): the core
    // wakes JS once, then JS pulls from a later tick until the queue is empty.
    const receive = (batch) => {
      setImmediate(pull)
      deliver(owner, batch, 0)
    }
    this.onEvents = receive
    // Connections read on this thread call with one event, or with a batch of several
    // (delivered as above, without the pull). This object keeps it alive for the core.
    this.onDirect = (kind, conn, arg) =>
      typeof kind === 'number' ? owner._onNative(kind, conn, arg) : deliver(owner, kind, 0)
    native.setDirect(this.onDirect)
    // A plain function, not a method: the call every emit ends in (src/binding/writer.rs).
    this.write = native.textWriter()
  }

  listenUnix(path, readableAll, writableAll, socketMode) {
    return this.native.listenUnix(this.onEvents, path, readableAll, writableAll, socketMode)
  }
  listenTcp(host, port, tls) {
    return this.native.listenTcp(this.onEvents, host, port, tls)
  }
  bindUdp(host, port, ipv6) {
    return this.native.bindUdp(this.onEvents, host, port, ipv6)
  }
  adoptFd(fd) {
    return this.native.adoptFd(this.onEvents, fd)
  }
  connectUnix(path) {
    return this.native.connectUnix(this.onEvents, path)
  }
  connectTcp(host, port, localAddress, localPort, family, tls) {
    return this.native.connectTcp(this.onEvents, host, port, localAddress, localPort, family, tls)
  }
  writeBuffer(conn, bytes) {
    return this.native.writeBuffer(conn, bytes)
  }
  writeJson(conn, pieces) {
    return this.native.writeJson(conn, pieces)
  }
  broadcastJson(pieces) {
    return this.native.broadcastJson(pieces)
  }
  broadcast(text) {
    this.native.broadcast(text)
  }
  broadcastBuffer(bytes) {
    this.native.broadcastBuffer(bytes)
  }
  sendUdp(host, port, bytes) {
    return this.native.sendUdp(host, port, bytes)
  }
  end(conn) {
    this.native.end(conn)
  }
  destroy(conn) {
    this.native.destroy(conn)
  }
  stopListening() {
    this.native.stopListening()
  }
  closeUdp() {
    this.native.closeUdp()
  }
  setRaw(raw) {
    this.native.setRaw(raw)
  }
  setVerifying(on) {
    this.native.setVerifying(on)
  }
  settleClient(conn, admit) {
    return this.native.settleClient(conn, admit)
  }
  setMaxConnections(max) {
    this.native.setMaxConnections(max)
  }
  // The listener or UDP socket only, as net.Server#ref/unref.
  refServer(refed) {
    this.native.refServer(refed)
  }
  // One connection, as net.Socket#ref/unref.
  refConn(conn, refed) {
    this.native.refConn(conn, refed)
  }
}

// A user handler that throws propagates as an uncaught exception, as in v9; whatever
// else the batch held is still delivered on the next tick (if the process survives), so
// no connection misses its close.
function deliver(owner, batch, from) {
  let i = from
  try {
    for (; i < batch.length; i += 3) {
      owner._onNative(batch[i], batch[i + 1], batch[i + 2])
    }
  } finally {
    if (i < batch.length) {
      process.nextTick(deliver, owner, batch, i + 3)
    }
  }
}

// Calls fn(text) for each length-prefixed frame of a FRAMES payload, resumably as above.
// `ascii`: the core found every frame ASCII, so a Latin-1 copy is the same string.
function eachFrame(buf, fn, ascii, from = 0) {
  let off = from
  try {
    while (off < buf.length) {
      const len = buf.readUInt32LE(off)
      const start = off + 4
      off = start + len
      fn(ascii ? buf.latin1Slice(start, off) : buf.utf8Slice(start, off))
    }
  } finally {
    if (off < buf.length) {
      process.nextTick(eachFrame, buf, fn, ascii, off)
    }
  }
}

// What the JS thread's connections have queued goes out as far as the sockets take it now
// (process.exit() runs no further turn of the loop). Nothing to do if nothing was loaded.
function flushPending() {
  if (binding) {
    binding.flushPending()
  }
}

module.exports = { KIND, allowedEventSet, createEndpoint, eachFrame, flushPending, loadBinding, shared }
