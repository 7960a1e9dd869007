// Worker teardown: a worker_threads Worker that loaded the implementation and ran servers
// and clients on every transport must take all of it with it when it is terminated in the
// middle of its traffic, as Node does with the net/tls/dgram handles of a terminated
// worker (v9 is pure JS on those, so it runs here as the control of the test itself).
//
// In a child process (fixtures/workers/main.cjs), so that the fd and thread counts are
// that process's alone: the main thread runs its own server + client, measures the
// baseline, runs 20 workers one after the other (worker.cjs: Unix socket, TCP, TLS with
// local-node-ipc-certs/, UDP udp4; each with a client in the worker keeping messages in
// flight) and terminates each once every transport has exchanged messages. Then:
//   - the open fd count (/proc/self/fd) and thread count (/proc/self/task) come back to
//     the baseline within 10 s (tolerance: none, the counts must be equal);
//   - no socket file is left in the workers' folder;
//   - every worker's endpoint is gone: a Unix connect gives ENOENT or ECONNREFUSED, a
//     TCP/TLS connect ECONNREFUSED, and each UDP port can be bound again by a fresh dgram
//     socket;
//   - the main thread's server and client still make a round trip.
// Each of these is its own test, over one child run per implementation.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnNode, assertLoaded } from './helpers/proc.mjs'
import { tmpSocketDir, rmDir, bindDgram } from './helpers/net.mjs'
import { netConnectError } from './helpers/node-errors.mjs'
import { ROOT } from './helpers/impl.mjs'
import workerChecks from './helpers/worker-checks.cjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const MAIN = path.join(here, 'fixtures', 'workers', 'main.cjs')
const CERTS = path.join(ROOT, 'local-node-ipc-certs')
const { WORKERS, SETTLE_MS, scenarioEnv, checkWorkersRan, checkEndpointsGone } = workerChecks

// What connecting to `opts` gives: the error code, or 'connected'.
const connectOutcome = (opts) =>
  netConnectError(opts).then(
    (err) => err.code,
    () => 'connected',
  )

// Whether a fresh dgram socket can bind 127.0.0.1:port: 'bound', or the error code.
const bindOutcome = (port) =>
  bindDgram('udp4', port).then(
    (s) => new Promise((resolve) => s.close(() => resolve('bound'))),
    (err) => err.code,
  )

// One child run per implementation, started by the first test that needs it and shared
// by that implementation's tests; the child stays alive until the end of the file, so the
// probes run while the process that hosted the workers still exists.
const runs = {}
const cleanups = []
test.after.always(async () => {
  for (const c of cleanups) await c()
})

function run(impl) {
  runs[impl] ??= (async () => {
    const mainDir = tmpSocketDir('nipc-main-')
    const workDir = tmpSocketDir('nipc-work-')
    const child = spawnNode(MAIN, {
      impl,
      env: scenarioEnv({ mainDir, workDir, certs: CERTS }),
      label: `workers[${impl}]`,
    })
    cleanups.push(async () => {
      await child.kill()
      rmDir(mainDir)
      rmDir(workDir)
    })
    await child.waitJson((o) => o.ev === 'baseline', 20000)
    const s = await child.waitJson((o) => ['settled', 'worker-failed', 'fatal'].includes(o.ev), 70000)
    if (s.ev !== 'settled')
      throw new Error(`the worker runs did not complete: ${JSON.stringify(s)}\n${child.describe()}`)
    return { child, s, workDir }
  })()
  return runs[impl]
}

for (const impl of ['ours', 'ref']) {
  const title = (what) => `[${impl}] ${WORKERS} workers terminated mid-traffic: ${what}`

  test(title('each had traffic on every transport and ended by terminate()'), async (t) => {
    t.timeout(90000)
    const { child, s } = await run(impl)
    await assertLoaded(t, child, impl)
    checkWorkersRan(t, s)
    t.true(child.alive)
  })

  test(title(`the fd and thread counts come back to the baseline within ${SETTLE_MS} ms (exactly)`), async (t) => {
    t.timeout(90000)
    const { s } = await run(impl)
    const more = s.extraFds.length > 20 ? ` (+${s.extraFds.length - 20} more)` : ''
    t.deepEqual(
      s.final,
      s.baseline,
      `fd/thread counts after ${s.waitedMs} ms: ${JSON.stringify(s.final)}, baseline ${JSON.stringify(s.baseline)}; ` +
        `fds not in the baseline: ${JSON.stringify(s.extraFds.slice(0, 20))}${more}; ` +
        `threads ${JSON.stringify(s.finalThreads)} (baseline ${JSON.stringify(s.baselineThreads)})`,
    )
  })

  test(title('no socket file is left'), async (t) => {
    t.timeout(90000)
    const { workDir } = await run(impl)
    t.deepEqual(fs.readdirSync(workDir), [], "socket files left in the workers' folder")
  })

  test(
    title(
      'their endpoints refuse connections (Unix ENOENT/ECONNREFUSED, TCP/TLS ECONNREFUSED) and their UDP ports bind again',
    ),
    async (t) => {
      t.timeout(90000)
      const { child, s } = await run(impl)
      t.true(child.alive, 'the process that ran the workers is still running during the probes')
      const probes = await Promise.all(
        s.workers.map(async (w) => ({
          i: w.i,
          unix: await connectOutcome({ path: w.unixPath }),
          tcp: await connectOutcome({ host: '127.0.0.1', port: w.tcpPort }),
          tls: await connectOutcome({ host: '127.0.0.1', port: w.tlsPort }),
          udp: await bindOutcome(w.udpPort),
          udpPeer: await bindOutcome(w.udpPeerPort),
        })),
      )
      checkEndpointsGone(t, probes, ['ENOENT', 'ECONNREFUSED'])
    },
  )

  test(title("the main thread's own server and client still make a round trip"), async (t) => {
    t.timeout(90000)
    const { child, s } = await run(impl)
    t.true(s.mainRoundTrip)
    t.true(child.alive)
  })
}
