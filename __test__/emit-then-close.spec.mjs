// What was emitted right before a close is delivered, as with v9, whose emit is a
// net.Socket write that reaches the kernel at once (libuv writes immediately when nothing
// is queued), so a destroy(), stop() or process.exit() in the same tick loses nothing:
//   - emit-then-destroy: the server answers a request with 'bye' and destroys the socket;
//   - emit-then-stop: the server answers a request with 'bye' and calls ipc.server.stop();
//   - emit, destroy, exit: the server answers with 'bye', destroys the socket and exits;
//   - a server's shutdown: it broadcasts 'bye', stops and destroys every socket;
//   - emit-then-process.exit: a client (or a server) emits 100 numbered messages and calls
//     process.exit(0), all in the same tick: the peer gets all 100, in order.
// The implementation runs in a child process (fixtures/emit-close/); the peer is a plain
// node:net socket or server in the test process, which checks the bytes on the wire.
// Unix, TCP and TLS, on both implementations, except v9 over TLS with process.exit():
// v9's server delivers 1 of the 100 there and its client none (its TLS socket writes the
// rest, and a client finishes its handshake, on later turns of the loop, which exit()
// never runs), while ours waits for its TLS writer to hand them to the kernel (README,
// "Sockets and ipc.server.server").
import test from 'ava'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnNode, assertLoaded, assertExitsCleanly } from './helpers/proc.mjs'
import { scenarioEndpoint } from './helpers/net.mjs'
import { rawClient, rawServer, frame, withTimeout } from './helpers/behav-util.mjs'
import { netConnectError } from './helpers/node-errors.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const FIX = path.join(here, 'fixtures', 'emit-close')
const LINE_TIMEOUT = 10000
const WAIT = 5000 // a local close or a few KiB on a loopback connection take a few ms
const COUNT = 100

// The JSON frames in `bytes` (delimiter \f), parsed.
const CERTS = path.join(here, '..', 'local-node-ipc-certs')

// scenarioEndpoint, and TLS: a port, the bundled certificates for the fixture, and
// {tls: true} for the test's node:tls peer.
async function endpointFor(t, transport) {
  if (transport !== 'tls') {
    return scenarioEndpoint(t, transport)
  }
  const { env, ep } = await scenarioEndpoint(t, 'tcp')
  return { env: { ...env, TRANSPORT: 'tls', CERTS }, ep: { ...ep, tls: true } }
}

const frames = (bytes) =>
  bytes
    .toString('utf8')
    .split('\f')
    .filter((s) => s.length > 0)
    .map((s) => JSON.parse(s))
const numbered = (n) => Array.from({ length: n }, (_, seq) => ({ type: 'msg', data: { seq } }))

function spawnFixture(t, impl, file, env) {
  const child = spawnNode(path.join(FIX, file), {
    impl,
    env: { COUNT: String(COUNT), ...env },
    label: `${impl}:${file}:${env.MODE || ''}`,
  })
  t.teardown(() => child.kill())
  return child
}

// A server fixture in `mode` and a node:net client connected to it; the client's 'close'
// is `closed`.
async function serverAndClient(t, impl, transport, mode) {
  const { env, ep } = await endpointFor(t, transport)
  const server = spawnFixture(t, impl, 'server.cjs', { ...env, MODE: mode })
  await assertLoaded(t, server, impl)
  await server.waitJson((o) => o.ev === 'listening', LINE_TIMEOUT)
  const client = await rawClient(t, ep)
  return { server, client, closed: client.closed, ep }
}

const closedWithin = (closed, label) => withTimeout(closed, WAIT, label)

for (const impl of ['ours', 'ref']) {
  for (const transport of ['unix', 'tcp', 'tls']) {
    test(`[${impl}] ${transport}: emit then socket.destroy() in the same tick delivers the message`, async (t) => {
      const { server, client, closed } = await serverAndClient(t, impl, transport, 'destroy')
      client.socket.write(frame({ type: 'req', data: { reason: 'destroy-1' } }))
      await server.waitJson((o) => o.ev === 'done', LINE_TIMEOUT)
      await closedWithin(closed, 'the server closing the connection')
      t.deepEqual(
        frames(client.sink.bytes),
        [{ type: 'bye', data: { reason: 'destroy-1' } }],
        `bytes: ${JSON.stringify(client.sink.bytes.toString())}`,
      )
      t.true(server.alive, 'the server process is still running')
    })

    test(`[${impl}] ${transport}: emit, socket.destroy() and process.exit(0) in the same tick deliver the message`, async (t) => {
      const { server, client, closed } = await serverAndClient(t, impl, transport, 'kick-exit')
      client.socket.write(frame({ type: 'req', data: { reason: 'kick-exit-1' } }))
      await assertExitsCleanly(t, server, WAIT)
      await closedWithin(closed, 'the connection closing with the server process')
      t.deepEqual(
        frames(client.sink.bytes),
        [{ type: 'bye', data: { reason: 'kick-exit-1' } }],
        `bytes: ${JSON.stringify(client.sink.bytes.toString())}`,
      )
    })

    test(`[${impl}] ${transport}: emit then ipc.server.stop() in the same tick delivers the message`, async (t) => {
      const { server, client, ep } = await serverAndClient(t, impl, transport, 'stop')
      client.socket.write(frame({ type: 'req', data: { reason: 'stop-1' } }))
      await server.waitJson((o) => o.ev === 'done', LINE_TIMEOUT)
      const want = frame({ type: 'bye', data: { reason: 'stop-1' } })
      await client.sink.waitFor((b) => b.length >= Buffer.byteLength(want), WAIT, "'bye'")
      t.deepEqual(
        frames(client.sink.bytes),
        [{ type: 'bye', data: { reason: 'stop-1' } }],
        `bytes: ${JSON.stringify(client.sink.bytes.toString())}`,
      )
      // the stop took effect: nobody listens there any more
      const err = await netConnectError(ep.path ? { path: ep.path } : { host: '127.0.0.1', port: ep.port })
      t.true(
        transport === 'tcp' ? err.code === 'ECONNREFUSED' : ['ENOENT', 'ECONNREFUSED'].includes(err.code),
        `connect after stop: ${err.code}`,
      )
    })

    test(`[${impl}] ${transport}: broadcast, stop and destroy every socket in the same tick delivers the broadcast`, async (t) => {
      const { server, client, closed } = await serverAndClient(t, impl, transport, 'shutdown')
      client.socket.write(frame({ type: 'req', data: { reason: 'shutdown-1' } }))
      await server.waitJson((o) => o.ev === 'done', LINE_TIMEOUT)
      await closedWithin(closed, 'the server closing the connection')
      t.deepEqual(
        frames(client.sink.bytes),
        [{ type: 'bye', data: { reason: 'shutdown-1' } }],
        `bytes: ${JSON.stringify(client.sink.bytes.toString())}`,
      )
    })

    if (impl === 'ref' && transport === 'tls') {
      continue // v9 loses these (see the top of the file)
    }

    test(`[${impl}] ${transport}: client emits ${COUNT} then process.exit(0) in the same tick: the server receives all ${COUNT} in order`, async (t) => {
      const { env, ep } = await endpointFor(t, transport)
      const srv = await rawServer(t, ep)
      const client = spawnFixture(t, impl, 'client.cjs', env)
      await assertLoaded(t, client, impl)
      const conn = await srv.waitConn(1, LINE_TIMEOUT)
      await client.waitJson((o) => o.ev === 'connected', LINE_TIMEOUT)
      await assertExitsCleanly(t, client, WAIT)
      await srv.rec.waitCount('close', 1, WAIT)
      const got = frames(conn.sink.bytes)
      t.is(got.length, COUNT, `received ${got.length} of ${COUNT} messages`)
      t.deepEqual(got, numbered(COUNT))
    })

    test(`[${impl}] ${transport}: server emits ${COUNT} then process.exit(0) in the same tick: the client receives all ${COUNT} in order`, async (t) => {
      const { server, client, closed } = await serverAndClient(t, impl, transport, 'exit')
      client.socket.write(frame({ type: 'req', data: { reason: 'exit-1' } }))
      await assertExitsCleanly(t, server, WAIT)
      await closedWithin(closed, 'the connection closing with the server process')
      const got = frames(client.sink.bytes)
      t.is(got.length, COUNT, `received ${got.length} of ${COUNT} messages`)
      t.deepEqual(got, numbered(COUNT))
    })
  }
}
