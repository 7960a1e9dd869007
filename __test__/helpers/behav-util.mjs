// Shared plumbing for the behaviour specs (api, wire, retry, sync, raw, fixes).
// Everything here waits with explicit timeouts; nothing sleeps and hopes.
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { loadImpl } from './impl.mjs'
import { freePort } from './net.mjs'

export { freePort }

export const IMPL_NAMES = ['ref', 'ours']

// A fresh, independent IPC instance (never the singleton) with logging muted.
export function newIpc(name, cfg = {}) {
  const mod = loadImpl(name)
  const ipc = new mod.IPC()
  ipc.config.silent = true
  Object.assign(ipc.config, cfg)
  return ipc
}

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
export const now = () => performance.now()

// Resolves with the result of `fn` (or rejects) unless `ms` passes first.
export function withTimeout(promise, ms, label = 'operation') {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms waiting for ${label}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// A fresh temp folder (socket paths stay well below the 108-byte limit).
export function tmpDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'behav-'))
  if (t) t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
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
    return this.waitFor((b) => b.length >= t.length && b.subarray(b.length - t.length).equals(t), ms, `bytes ending with ${JSON.stringify(String(tail))}`)
  }
}

// A plain node:net server standing in for a peer: records each connection's bytes.
// opts: {path} or {port}. Returns {server, conns:[{socket, sink}], rec, close()}.
export async function rawServer(t, opts) {
  const conns = []
  const rec = new Recorder()
  const server = net.createServer((socket) => {
    const sink = new ByteSink()
    const c = { socket, sink }
    conns.push(c)
    socket.on('data', (d) => sink.add(d))
    socket.on('error', () => {})
    socket.on('close', () => rec.push('close', [c]))
    rec.push('connection', [c])
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    if (opts.path) server.listen(opts.path, resolve)
    else server.listen(opts.port, '127.0.0.1', resolve)
  })
  const close = () => {
    for (const c of conns) c.socket.destroy()
    return new Promise((resolve) => server.close(() => resolve()))
  }
  if (t) t.teardown(() => close().catch(() => {}))
  return { server, conns, rec, close, waitConn: (n = 1, ms = 3000) => rec.waitCount('connection', n, ms).then(() => conns[n - 1]) }
}

// A plain node:net client connected to an impl server; records its bytes.
export async function rawClient(t, opts) {
  const sink = new ByteSink()
  const socket = net.connect(opts.path ? { path: opts.path } : { port: opts.port, host: '127.0.0.1' })
  socket.on('data', (d) => sink.add(d))
  socket.on('error', () => {})
  if (t) t.teardown(() => socket.destroy())
  await withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  }), 3000, 'raw client connect')
  return { socket, sink }
}

// Endpoint descriptors for the two stream transports.
export async function endpoint(t, transport) {
  if (transport === 'unix') return { path: path.join(tmpDir(t), 's.sock') }
  return { port: await freePort() }
}

// Start an impl server on {path} or {port}; resolves when 'start' fires, rejects on 'error'.
export async function startServer(ipc, ep, cb) {
  if (ep.path) ipc.serve(ep.path, cb)
  else ipc.serveNet('127.0.0.1', ep.port, cb)
  const server = ipc.server
  const started = new Promise((resolve, reject) => {
    let done = false
    const onStart = () => { if (!done) { done = true; queueMicrotask(detach); resolve() } }
    const onErr = (err) => { if (!done) { done = true; queueMicrotask(detach); reject(err) } }
    const detach = () => { server.off('start', onStart); server.off('error', onErr) }
    server.on('start', onStart)
    server.on('error', onErr)
  })
  server.start()
  await withTimeout(started, 3000, 'server start')
  return server
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
        try { sock.destroy() } catch {}
      }
      if (s.server) {
        try { s.stop() } catch {}
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
