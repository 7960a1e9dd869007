// Process lifetime (README, "In test suites"; ARCHITECTURE.md, "Keep-alive, and
// environments that end"): a listening server, an open connection or a pending retry keeps
// Node alive; once every server is stopped and every client is destroyed or disconnected,
// the process exits by itself (code 0) after delivering the pending events. Each scenario
// runs in a child process, against both implementations (v9 behaves the same way here).
import test from 'ava'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnScenario, assertLoaded, assertStaysAlive } from './helpers/proc.mjs'
import { scenarioEndpoint } from './helpers/net.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const SCENARIO = path.join(here, 'fixtures', 'lifetime', 'scenario.cjs')
const EXIT_DEADLINE = 5000 // ms: "exits by itself within"
const ALIVE_WINDOW = 1500 // ms: "still alive after"; no timer in these scenarios runs slower than 200 ms

const endpoint = async (t, transport) => (await scenarioEndpoint(t, transport, 'life.sock')).env

const run = (t, impl, scenario, env) => spawnScenario(t, SCENARIO, impl, scenario, env)

const exitEvents = (child) => {
  const e = child.json().find((o) => o.ev === 'exit')
  return e ? e.events : null
}

for (const impl of ['ours', 'ref']) {
  for (const transport of ['unix', 'tcp']) {
    test(`[${impl}] ${transport}: server stopped + client disconnected -> exits by itself with 0`, async (t) => {
      const child = run(t, impl, 'stop-and-disconnect', await endpoint(t, transport))
      await assertLoaded(t, child, impl)
      await child.waitJson((o) => o.ev === 'released', 10000)
      const e = await child.waitExit(EXIT_DEADLINE)
      t.deepEqual(e, { code: 0, signal: null }, child.describe())
      const events = exitEvents(child)
      t.truthy(events, 'exit line printed')
      // pending events were delivered before exit (disconnect/destroy on the detached client,
      // the server's view of the closed peer)
      t.true(events.includes('c:pong'))
      t.true(events.includes('c:disconnect'), JSON.stringify(events))
      t.true(events.includes('c:destroy'), JSON.stringify(events))
      t.true(events.indexOf('c:disconnect') < events.indexOf('c:destroy'), JSON.stringify(events))
      t.true(events.includes('server:socket.disconnected'), JSON.stringify(events))
      t.true(events.includes('server:close'), JSON.stringify(events))
      t.false(
        events.some((x) => x.includes(':error')),
        JSON.stringify(events),
      )
    })

    test(`[${impl}] ${transport}: a listening server keeps the process alive`, async (t) => {
      const child = run(t, impl, 'listening', await endpoint(t, transport))
      await assertLoaded(t, child, impl)
      await child.waitJson((o) => o.ev === 'listening', 10000)
      await assertStaysAlive(t, child, ALIVE_WINDOW)
      const e = await child.kill()
      t.is(e.signal, 'SIGKILL')
    })

    test(`[${impl}] ${transport}: server.stop() with a client still connected keeps the process alive`, async (t) => {
      const child = run(t, impl, 'stopped-server-open-connection', await endpoint(t, transport))
      await assertLoaded(t, child, impl)
      await child.waitJson((o) => o.ev === 'stopped', 10000)
      await assertStaysAlive(t, child, ALIVE_WINDOW)
      t.false(
        child.json().some((o) => o.ev === 'event' && /disconnect|destroy|close/.test(o.e)),
        'the connection stayed open',
      )
      await child.kill()
    })

    test(`[${impl}] ${transport}: client destroyed after maxRetries exits by itself`, async (t) => {
      const child = run(t, impl, 'retry-exhausted', await endpoint(t, transport))
      await assertLoaded(t, child, impl)
      const e = await child.waitExit(EXIT_DEADLINE)
      t.deepEqual(e, { code: 0, signal: null }, child.describe())
      const code = transport === 'tcp' ? 'ECONNREFUSED' : 'ENOENT'
      t.deepEqual(exitEvents(child), [
        `c:error:${code}`,
        'c:disconnect',
        `c:error:${code}`,
        'c:disconnect',
        `c:error:${code}`,
        'c:disconnect',
        'c:destroy',
      ])
    })

    test(`[${impl}] ${transport}: ipc.disconnect while a retry is pending -> exits by itself`, async (t) => {
      const child = run(t, impl, 'disconnect-during-retry', await endpoint(t, transport))
      await assertLoaded(t, child, impl)
      await child.waitJson((o) => o.ev === 'released', 10000)
      const e = await child.waitExit(EXIT_DEADLINE)
      t.deepEqual(e, { code: 0, signal: null }, child.describe())
      const events = exitEvents(child)
      t.is(events.filter((x) => x === 'c:connect').length, 0)
      // no further attempt after the disconnect: exactly one error
      t.is(events.filter((x) => x.startsWith('c:error')).length, 1, JSON.stringify(events))
    })

    test(`[${impl}] ${transport}: a client connected to a server (other process) keeps the process alive`, async (t) => {
      const env = await endpoint(t, transport)
      const server = run(t, 'ref', 'listening', env)
      await server.waitJson((o) => o.ev === 'listening', 10000)
      const client = run(t, impl, 'client-connected', env)
      await assertLoaded(t, client, impl)
      await client.waitJson((o) => o.ev === 'connected', 10000)
      await assertStaysAlive(t, client, ALIVE_WINDOW)
      t.true(server.alive)
      await client.kill()
    })
  }
}
