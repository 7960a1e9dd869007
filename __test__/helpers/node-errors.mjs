// Producing the same failure with node:net / node:tls / node:dgram and with an IPC
// implementation, and reducing each error to what a user can see of it (errors.spec.mjs).
import dgram from 'node:dgram'
import net from 'node:net'
import tls from 'node:tls'
import { newIpc, track, withTimeout, Recorder } from './behav-util.mjs'
import { freePort } from './net.mjs'

const WAIT = 5000

// Everything net puts on a connection/listen error, plus what the tests add. `keys` is
// the own-property order, which is what console.log / util.inspect print.
const FIELDS = ['message', 'code', 'errno', 'syscall', 'address', 'port', 'hostname', 'localAddress', 'localPort']

export function shape(err) {
  const out = { isError: err instanceof Error, keys: Object.keys(err) }
  for (const field of FIELDS) {
    if (field in err) out[field] = err[field]
  }
  // Node 20's connect to a name with several addresses, all failing (autoSelectFamily):
  // an AggregateError of each address's error, which the stack's first line names with
  // its code (`AggregateError [ECONNREFUSED]: `).
  if (err instanceof AggregateError) {
    out.aggregate = { errors: err.errors.map(shape), heading: String(err.stack).split('\n')[0] }
  }
  return out
}

// The 'error' a node:net (or node:tls) client gets for `opts`; fails on connect.
export function netConnectError(opts, mod = net, ms = WAIT) {
  const socket = mod.connect(opts)
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('error', resolve)
      socket.once(mod === tls ? 'secureConnect' : 'connect', () =>
        reject(new Error(`node:${mod === tls ? 'tls' : 'net'} connected to ${JSON.stringify(opts)}`)),
      )
    }),
    ms,
    `node error for connect ${JSON.stringify(opts)}`,
  ).finally(() => socket.destroy())
}

// The 'error' a node server gets from listen(...args); fails if it listens.
export function netListenError(args, server = net.createServer(), ms = WAIT) {
  return withTimeout(
    new Promise((resolve, reject) => {
      server.once('error', resolve)
      server.listen(...args, () => {
        server.close()
        reject(new Error(`node server listened on ${JSON.stringify(args)}`))
      })
    }),
    ms,
    `node error for listen ${JSON.stringify(args)}`,
  )
}

// The 'error' a dgram socket gets from bind(port, host).
export function dgramBindError(type, port, host, ms = WAIT) {
  const socket = dgram.createSocket(type)
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('error', resolve)
      socket.bind(port, host, () => reject(new Error(`dgram bound ${host}:${port}`)))
    }),
    ms,
    `dgram bind error ${host}:${port}`,
  ).finally(() => {
    try {
      socket.close()
    } catch {}
  })
}

// The one 'error' an impl client emits for a failed connection, with no retries: the
// events must be exactly error, disconnect, destroy (v9's close handling with
// maxRetries = 0: one attempt, then destroy).
export async function ipcClientError(t, impl, connect, cfg = {}, ms = WAIT) {
  const ipc = track(t, newIpc(impl, { maxRetries: 0, retry: 50, ...cfg }))
  connect(ipc)
  const rec = new Recorder().attach(ipc.of.x, ['connect', 'error', 'disconnect', 'destroy'])
  await rec.waitCount('destroy', 1, ms)
  t.deepEqual(rec.types(), ['error', 'disconnect', 'destroy'], `[${impl}] client events`)
  return rec.of('error')[0].args[0]
}

// The 'error' an impl server emits from start(), which must come instead of 'start'
// (stream servers), or after it for UDP, whose 'start' v9 publishes before the bind.
export async function ipcServerError(t, impl, serve, cfg = {}, ms = WAIT, { udp = false } = {}) {
  const ipc = track(t, newIpc(impl, cfg))
  serve(ipc)
  const rec = new Recorder().attach(ipc.server, ['start', 'error'])
  ipc.server.start()
  await rec.waitFor((l) => l.some((e) => e.type === 'error'), ms, `[${impl}] server 'error'`)
  t.deepEqual(rec.types(), udp ? ['start', 'error'] : ['error'], `[${impl}] server events`)
  return rec.of('error')[0].args[0]
}

// A port that was free a moment ago on `host`; null when the host cannot be bound at all
// (no ::1, say).
export function freePortOn(host) {
  return freePort(host).catch(() => null)
}

// A server holding a port on `host` for the test's duration.
export async function occupy(t, host, server = net.createServer()) {
  await withTimeout(
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, host, resolve)
    }),
    WAIT,
    `occupy ${host}`,
  )
  t.teardown(() => server.close())
  return server.address().port
}

// A dgram socket holding a port for the test's duration.
export async function occupyUdp(t, type, host) {
  const socket = dgram.createSocket(type)
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, host, resolve)
    }),
    WAIT,
    `occupy udp ${host}`,
  )
  t.teardown(() => socket.close())
  return socket.address().port
}
