// Shared plumbing for the behaviour specs (api, wire, retry, sync, raw, fixes, faults, ...).
// Everything here waits with explicit timeouts; nothing sleeps and hopes.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { performance } from 'node:perf_hooks'
import { loadImpl, ROOT } from './impl.mjs'
import { freePort, tmpDir } from './net.mjs'

export { freePort, tmpDir }

export const IMPL_NAMES = ['ref', 'ours']

// A fresh, independent IPC instance (never the singleton) with logging muted.
export function newIpc(name, cfg = {}) {
  const mod = loadImpl(name)
  const ipc = new mod.IPC()
  ipc.config.silent = true
  Object.assign(ipc.config, cfg)
  return ipc
}

// The one sleep of the test suite: only for a stated observation window (a negative
// assertion: "nothing more happens within ..."), as the step of a bounded poll, or to let
// two writes reach the peer as separate reads.
export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
export const now = () => performance.now()

// Resolves with the result of `promise` (or rejects) unless `ms` passes first. `detail()`
// adds to the timeout's message what was seen by then.
export function withTimeout(promise, ms, label = 'operation', detail = () => '') {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const more = detail()
      reject(new Error(`timeout after ${ms} ms waiting for ${label}${more ? `; ${more}` : ''}`))
    }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// Records events from any emitter with on(type, fn); waits for predicates over the record.
export class Recorder {
  constructor() {
    this.list = []
    this.waiters = []
  }

  // extra(emitter) adds fields (e.g. retriesRemaining) to each record.
  attach(emitter, types, extra) {
    const self = this
    for (const type of types) {
      emitter.on(type, function (...args) {
        self.push(type, args, extra ? extra(this) : {})
      })
    }
    return this
  }

  push(type, args = [], extra = {}) {
    this.list.push({ type, args, t: now(), ...extra })
    for (const w of [...this.waiters]) {
      if (w.pred(this.list)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        clearTimeout(w.timer)
        w.resolve(this.list)
      }
    }
  }

  of(type) {
    return this.list.filter((e) => e.type === type)
  }

  count(type) {
    return this.of(type).length
  }

  types() {
    return this.list.map((e) => e.type)
  }

  waitFor(pred, ms, label = 'condition') {
    if (pred(this.list)) return Promise.resolve(this.list)
    return new Promise((resolve, reject) => {
      const w = { pred, resolve }
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        reject(new Error(`timeout after ${ms} ms waiting for ${label}; seen: ${JSON.stringify(this.types())}`))
      }, ms)
      this.waiters.push(w)
    })
  }

  waitCount(type, n, ms) {
    return this.waitFor((l) => l.filter((e) => e.type === type).length >= n, ms, `${n} x '${type}'`)
  }

  // Resolves with the first record for which `pred` holds (already there or to come).
  waitOne(pred, ms, label = 'record') {
    return this.waitFor((l) => l.some(pred), ms, label).then((l) => l.find(pred))
  }
}

// Wait for one event on an on/off emitter (event-pubsub or EventEmitter).
export function once(emitter, type, ms = 3000) {
  return withTimeout(
    new Promise((resolve) => {
      let done = false
      const fn = function (...args) {
        if (done) return
        done = true
        // Removing a handler during an event-pubsub dispatch can skip the next handler,
        // so detach after the dispatch has finished.
        queueMicrotask(() => emitter.off(type, fn))
        resolve(args)
      }
      emitter.on(type, fn)
    }),
    ms,
    `'${type}'`,
  )
}

// Poll a condition (bounded) when there is no event to wait on.
export async function until(cond, ms = 2000, step = 10, label = 'condition') {
  const end = now() + ms
  for (;;) {
    if (await cond()) return true
    if (now() > end) throw new Error(`timeout after ${ms} ms waiting for ${label}`)
    await delay(step)
  }
}

// Collects bytes per connection; lets a test wait until a byte predicate holds.
export class ByteSink {
  constructor() {
    this.chunks = []
    this.rec = new Recorder()
  }

  add(chunk) {
    this.chunks.push(Buffer.from(chunk))
    this.rec.push('chunk', [chunk])
  }

  get bytes() {
    return Buffer.concat(this.chunks)
  }

  waitFor(pred, ms, label = 'bytes') {
    return this.rec.waitFor(() => pred(this.bytes), ms, label).then(() => this.bytes)
  }

  waitLength(n, ms) {
    return this.waitFor((b) => b.length >= n, ms, `${n} bytes`)
  }

  waitEndsWith(tail, ms) {
    const t = Buffer.from(tail)
    return this.waitFor(
      (b) => b.length >= t.length && b.subarray(b.length - t.length).equals(t),
      ms,
      `bytes ending with ${JSON.stringify(String(tail))}`,
    )
  }
}

// The package's bundled development certificates, for raw TLS peers.
const CERTS = path.join(ROOT, 'local-node-ipc-certs')
export const SERVER_TLS = { public: path.join(CERTS, 'server.pub'), private: path.join(CERTS, 'private', 'server.key') }
export const CLIENT_TLS = { trustedConnections: [path.join(CERTS, 'server.pub')] }

// A plain node:net server standing in for a peer (node:tls with the bundled certificates
// for {tls: true}): records each connection's bytes and calls onConn(c) for each.
// ep: {path}, {port} or {port, tls: true}. Returns {server, conns:[{socket, sink, closed}],
// rec, close(), waitConn(n)}; `closed` resolves at the connection's 'close'.
export async function rawServer(t, ep, onConn = () => {}) {
  const conns = []
  const rec = new Recorder()
  const handler = (socket) => {
    const c = { socket, sink: new ByteSink() }
    c.closed = new Promise((resolve) => socket.on('close', resolve))
    conns.push(c)
    socket.on('data', (d) => c.sink.add(d))
    socket.on('error', () => {})
    socket.on('close', () => rec.push('close', [c]))
    onConn(c)
    rec.push('connection', [c])
  }
  const server = ep.tls
    ? tls.createServer({ key: fs.readFileSync(SERVER_TLS.private), cert: fs.readFileSync(SERVER_TLS.public) }, handler)
    : net.createServer(handler)
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    if (ep.path) server.listen(ep.path, resolve)
    else server.listen(ep.port, '127.0.0.1', resolve)
  })
  const close = () => {
    for (const c of conns) c.socket.destroy()
    return new Promise((resolve) => server.close(() => resolve()))
  }
  if (t) t.teardown(() => close().catch(() => {}))
  return {
    server,
    conns,
    rec,
    close,
    waitConn: (n = 1, ms = 5000) => rec.waitCount('connection', n, ms).then(() => conns[n - 1]),
  }
}

// A plain node:net client (node:tls without verification for {tls: true}) connected to an
// impl server on ep; records its bytes. Returns {socket, sink, closed}; `closed` resolves at
// the socket's 'close'.
export async function rawClient(t, ep, ms = 5000) {
  const sink = new ByteSink()
  const socket = ep.tls
    ? tls.connect({ host: '127.0.0.1', port: ep.port, rejectUnauthorized: false })
    : net.connect(ep.path ? { path: ep.path } : { port: ep.port, host: '127.0.0.1' })
  socket.on('data', (d) => sink.add(d))
  socket.on('error', () => {})
  const closed = new Promise((resolve) => socket.on('close', resolve))
  if (t) t.teardown(() => socket.destroy())
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once(ep.tls ? 'secureConnect' : 'connect', resolve)
      socket.once('error', reject)
    }),
    ms,
    'raw client connect',
  )
  return { socket, sink, closed }
}

// Endpoint descriptors for the stream transports: {path, dir} (unix, in a folder removed at
// teardown), {port} (tcp) or {port, tls: true} (tls).
export async function endpoint(t, transport) {
  if (transport === 'unix') {
    const dir = tmpDir(t)
    return { path: path.join(dir, 's.sock'), dir }
  }
  if (transport === 'tls') return { port: await freePort(), tls: true }
  return { port: await freePort() }
}

// Start an impl server on {path} or {port}; resolves when 'start' fires, rejects on 'error'.
export async function startServer(ipc, ep, cb) {
  if (ep.path) ipc.serve(ep.path, cb)
  else ipc.serveNet('127.0.0.1', ep.port, cb)
  const server = ipc.server
  const started = new Promise((resolve, reject) => {
    let done = false
    const onStart = () => {
      if (!done) {
        done = true
        queueMicrotask(detach)
        resolve()
      }
    }
    const onErr = (err) => {
      if (!done) {
        done = true
        queueMicrotask(detach)
        reject(err)
      }
    }
    const detach = () => {
      server.off('start', onStart)
      server.off('error', onErr)
    }
    server.on('start', onStart)
    server.on('error', onErr)
  })
  server.start()
  await withTimeout(started, 3000, 'server start')
  return server
}

// Start ipc.server (serve/serveNet already called) and report the first of 'start' /
// 'error': {event: 'start'} or {event: 'error', err}.
export function startOutcome(server, ms = 5000) {
  return withTimeout(
    new Promise((resolve) => {
      let done = false
      server.on('start', () => {
        if (!done) {
          done = true
          resolve({ event: 'start' })
        }
      })
      server.on('error', (err) => {
        if (!done) {
          done = true
          resolve({ event: 'error', err })
        }
      })
      server.start()
    }),
    ms,
    'start or error',
  )
}

// Connect an impl client to {path} or {port}; returns the client synchronously.
export function connectClient(ipc, id, ep, cb) {
  if (ep.path) ipc.connectTo(id, ep.path, cb)
  else ipc.connectToNet(id, '127.0.0.1', ep.port, cb)
  return ipc.of[id]
}

// An impl client ('w', no retries) connected to a plain node:net peer on a fresh endpoint
// of `transport`; resolves once both sides see the connection.
export async function clientWithRawPeer(t, impl, transport, cfg = {}) {
  const ipc = track(t, newIpc(impl, { stopRetrying: true, ...cfg }))
  const ep = await endpoint(t, transport)
  const srv = await rawServer(t, ep)
  const c = connectClient(ipc, 'w', ep)
  await once(c, 'connect', 3000)
  const conn = await srv.waitConn()
  return { ipc, c, conn }
}

// A ping over a raw connection answered with its pong: the server still reads and parses
// that connection.
export async function rawPing(raw, tag, ms = 5000) {
  const want = frame({ type: 'pong', data: { tag } })
  raw.socket.write(frame({ type: 'ping', data: { tag } }))
  await raw.sink.waitFor((b) => b.includes(want), ms, `raw pong ${tag}`)
}

// A fresh client of the same impl gets its ping answered: whatever a test did to the
// server, it still serves others. The server must answer 'ping' with 'pong'.
export async function wellBehaved(t, impl, ep, message = 'a well-behaved client is served', ms = 5000) {
  const ipc = track(t, newIpc(impl, { stopRetrying: true }))
  const c = connectClient(ipc, 'good', ep)
  const pong = once(c, 'pong', ms)
  c.on('connect', () => c.emit('ping', { tag: 'ok' }))
  const [data] = await pong
  t.deepEqual(data, { tag: 'ok' }, message)
  ipc.disconnect('good')
}

// Stop everything an IPC instance owns so the worker can exit.
export function cleanupIpc(ipc) {
  try {
    ipc.config.stopRetrying = true
    for (const id of Object.keys(ipc.of)) ipc.disconnect(id)
    const s = ipc.server
    if (s) {
      for (const sock of [...(s.sockets || [])]) {
        try {
          sock.destroy()
        } catch {}
      }
      if (s.server) {
        try {
          s.stop()
        } catch {}
      }
    }
  } catch {}
}

// Registers cleanup for an IPC instance with an ava test.
export function track(t, ipc) {
  t.teardown(() => cleanupIpc(ipc))
  return ipc
}

// A small deterministic PRNG for reproducible random splits.
export function prng(seed = 1) {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

export const frame = (obj, delim = '\f') => JSON.stringify(obj) + delim

// A JSON frame {type, data: 'xxx…'} of exactly `bytes` bytes (without the delimiter), and
// the length of its data string.
export const dataLen = (type, bytes) => bytes - JSON.stringify({ type, data: '' }).length
export function frameOfSize(type, bytes) {
  const s = JSON.stringify({ type, data: 'x'.repeat(dataLen(type, bytes)) })
  if (Buffer.byteLength(s) !== bytes)
    throw new Error(`frameOfSize(${JSON.stringify(type)}, ${bytes}): the type is not ASCII`)
  return s
}
