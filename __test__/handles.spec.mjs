// Per-handle ref()/unref() (Node's semantics, which v9 has because its handles are a real
// net.Server and net.Sockets): the listening server and each connection keep the process
// alive on their own, so unref'ing one leaves the others in charge.
//   - an unref'd accepted socket does not unref the (ref'd) listening server;
//   - an unref'd server with a ref'd connection lives until that connection closes;
//   - an unref'd server whose only connection is unref'd exits with the peer connected;
//   - a connected client whose socket is unref'd exits; left alone, it stays.
// Each scenario (fixtures/handles/scenario.cjs) runs in a child process, on both
// implementations; the peer is a plain node:net socket or server in the test process.
import test from 'ava'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnScenario, assertLoaded, assertStaysAlive, assertExitsCleanly } from './helpers/proc.mjs'
import { scenarioEndpoint } from './helpers/net.mjs'
import { rawClient, rawServer } from './helpers/behav-util.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const SCENARIO = path.join(here, 'fixtures', 'handles', 'scenario.cjs')
const LINE_TIMEOUT = 10000
const EXIT_DEADLINE = 5000 // ms: "exits by itself within"
// ms: "still alive after". A process with nothing ref'd exits within a few ms of the
// unref (no timer runs in these scenarios; the client's retry, 100 ms, never starts
// because the connection stays up): the window is 15x that interval.
const ALIVE_WINDOW = 1500

const run = (t, impl, scenario, env) => spawnScenario(t, SCENARIO, impl, scenario, env)

const exitLine = (child) => child.json().find((o) => o.ev === 'exit')

// Start a server scenario and connect a node:net peer to it; resolves once the server
// has handled the connection (its 'connect' handler ran).
async function serverWithPeer(t, impl, scenario, transport) {
  const { env, ep } = await scenarioEndpoint(t, transport)
  const child = run(t, impl, scenario, env)
  await assertLoaded(t, child, impl)
  await child.waitJson((o) => o.ev === 'listening', LINE_TIMEOUT)
  const peer = await rawClient(t, ep)
  await child.waitJson((o) => o.ev === 'connect', LINE_TIMEOUT)
  return { child, peer, closed: peer.closed, ep }
}

for (const impl of ['ours', 'ref']) {
  for (const transport of ['unix', 'tcp']) {
    test(`[${impl}] ${transport}: socket.unref() on an accepted socket leaves the ref'd listening server keeping the process alive`, async (t) => {
      const { child, ep } = await serverWithPeer(t, impl, 'unref-socket', transport)
      await assertStaysAlive(t, child, ALIVE_WINDOW)
      // still serving: a second peer is accepted
      await rawClient(t, ep)
      await child.waitJson((o) => o.ev === 'connect' && o.n === 2, LINE_TIMEOUT)
      t.true(child.alive)
    })

    test(`[${impl}] ${transport}: server.unref() with a ref'd connection stays alive while it is open, exits (0) when the peer disconnects`, async (t) => {
      const { child, peer, closed } = await serverWithPeer(t, impl, 'unref-server', transport)
      await assertStaysAlive(t, child, ALIVE_WINDOW)
      peer.socket.end()
      await closed
      await assertExitsCleanly(t, child, EXIT_DEADLINE)
      t.is(exitLine(child).open, 0, 'the connection was closed before the exit')
    })

    test(`[${impl}] ${transport}: server.unref() and the only connection's socket.unref() -> exits (0) with the peer still connected`, async (t) => {
      const { child } = await serverWithPeer(t, impl, 'unref-both', transport)
      await assertExitsCleanly(t, child, EXIT_DEADLINE)
      t.is(exitLine(child).open, 1, 'the connection was still open at exit')
    })

    test(`[${impl}] ${transport}: client socket.unref() on a connected client with nothing else ref'd -> exits (0) while connected`, async (t) => {
      const { env, ep } = await scenarioEndpoint(t, transport)
      const peer = await rawServer(t, ep)
      const child = run(t, impl, 'client-unref', env)
      await assertLoaded(t, child, impl)
      await child.waitJson((o) => o.ev === 'connected', LINE_TIMEOUT)
      await assertExitsCleanly(t, child, EXIT_DEADLINE)
      t.is(exitLine(child).open, 1, 'the connection was still open at exit')
      t.is(peer.conns.length, 1)
    })

    test(`[${impl}] ${transport}: a connected client without unref stays alive`, async (t) => {
      const { env, ep } = await scenarioEndpoint(t, transport)
      await rawServer(t, ep)
      const child = run(t, impl, 'client-ref', env)
      await assertLoaded(t, child, impl)
      await child.waitJson((o) => o.ev === 'connected', LINE_TIMEOUT)
      await assertStaysAlive(t, child, ALIVE_WINDOW)
      t.false(
        child.json().some((o) => o.ev === 'disconnect' || o.ev === 'error'),
        'the connection stayed up',
      )
    })
  }
}
