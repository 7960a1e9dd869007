// Load and leaks (nothing leaks once servers stop and clients disconnect; README, "Unix
// socket files"): 1,000 concurrent clients on one server, 10,000 connect/disconnect cycles
// (RSS after gc, open file descriptors, socket files), server start/stop cycles. Everything
// heavy runs in child processes (fixtures/reliability/*); the reference runs the same
// scenarios as a control, so a failure of ours here is a difference from v9, not a property
// of the machine.
// The longer variants (100k cycles, 10k clients, a 60 s flood) are in scripts/soak.mjs.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnNode } from './helpers/proc.mjs'
import { scenarioEndpoint, tmpDir } from './helpers/net.mjs'
import { newIpc, withTimeout, until } from './helpers/behav-util.mjs'

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'reliability')
const MiB = 1024 * 1024

// `node [nodeArgs] script` for `impl` with the open-file limit raised to at least 4096
// first (`ulimit -n`), killed at teardown.
const ULIMIT = '[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096 || exit 97'
const spawnWithUlimit = (t, script, opts) => spawnNode(script, { ...opts, prelude: ULIMIT, t })

function fdCount() {
  return fs.readdirSync('/proc/self/fd').length
}

// ----------------------------------------------------------------------------- 1,000 clients

for (const impl of ['ours', 'ref']) {
  for (const tr of ['unix', 'tcp']) {
    test.serial(
      `[${impl}] ${tr}: 1,000 concurrent clients (2 processes x 500 IPC instances) on one server: 10 messages each answered in order, one broadcast reaches all, nothing lost`,
      async (t) => {
        const ep = await scenarioEndpoint(t, tr)
        const N = 500
        const K = 10
        const server = spawnWithUlimit(t, path.join(FIX, 'server.cjs'), {
          impl,
          env: { ...ep.env, MAX_CONN: '1100', BROADCAST_AT: String(2 * N), QUIET: '1' },
          label: `${impl}:server`,
        })
        await server.waitJson((o) => o.ev === 'listening', 10000)
        const t0 = Date.now()
        const clients = ['a', 'b'].map((prefix) =>
          spawnWithUlimit(t, path.join(FIX, 'clients.cjs'), {
            impl,
            env: { ...ep.env, N: String(N), K: String(K), PREFIX: prefix },
            label: `${impl}:clients-${prefix}`,
          }),
        )
        const dones = await Promise.all(clients.map((c) => c.waitJson((o) => o.ev === 'done', 45000)))
        const ms = Date.now() - t0
        await Promise.all(clients.map((c) => c.waitExit(10000)))
        server.cp.kill('SIGTERM')
        const final = await server.waitJson((o) => o.ev === 'stats', 10000)
        t.log(`${impl} ${tr}: 1,000 clients done in ${ms} ms; server RSS ${Math.round(final.rss / MiB)} MiB`)
        for (const d of dones) {
          t.is(d.connected, N)
          t.is(d.acks, N * K)
          t.is(d.outOfOrder, 0)
          t.is(d.broadcasts, N)
          t.is(d.errors, 0, JSON.stringify(d.errorCodes))
          t.is(d.disconnects, 0)
        }
        t.is(final.connects, 2 * N, 'exactly one server connect per client')
        t.is(final.hellos, 2 * N * K)
        t.is(server.json().filter((o) => o.ev === 'broadcasting').length, 1)
        t.is(server.json().filter((o) => o.ev === 'error').length, 0)
      },
    )
  }
}

// ----------------------------------------------------------------------------- 10,000 cycles

// V8 grows its young generation under allocation pressure (up to 2 x 16 MiB of semi-spaces)
// and keeps it: RSS noise that is not a leak. A fixed 4 MiB semi-space removes it, for
// both implementations alike.
const CYCLE_NODE_ARGS = ['--expose-gc', '--max-semi-space-size=4', '--min-semi-space-size=4']

for (const impl of ['ours', 'ref']) {
  test.serial(
    `[${impl}] unix: 10,000 connect/disconnect cycles (fresh IPC each, ping/pong, ipc.disconnect): RSS after gc within 10 MiB of the post-warm-up baseline, same fd count, no socket file left`,
    async (t) => {
      const ep = await scenarioEndpoint(t, 'unix')
      const child = spawnWithUlimit(t, path.join(FIX, 'cycles.cjs'), {
        impl,
        nodeArgs: CYCLE_NODE_ARGS,
        env: { ...ep.env, DIR: ep.dir, CYCLES: '10000', WARMUP: '500', LANES: '1' },
      })
      const done = await child.waitJson((o) => o.ev === 'done', 58000)
      const base = child.json().find((o) => o.ev === 'baseline')
      const growth = done.rss - base.rss
      t.log(
        `${impl}: ${done.measuredCycles} cycles after warm-up in ${done.measuredMs} ms (${done.cyclesPerSec}/s); ` +
          `RSS ${Math.round(base.rss / MiB)} -> ${Math.round(done.rss / MiB)} MiB (${(growth / MiB).toFixed(1)}); ` +
          `heap ${(base.heap / MiB).toFixed(1)} -> ${(done.heap / MiB).toFixed(1)} MiB; fds ${base.fds} -> ${done.fds}`,
      )
      t.is(done.failures, 0, JSON.stringify(done.failureKinds))
      t.is(done.completed, 10000)
      t.is(done.disconnected, 10000, "every cycle reached the server's socket.disconnected")
      t.is(done.serverSockets, 0)
      t.true(
        growth < 10 * MiB,
        `RSS grew ${(growth / MiB).toFixed(1)} MiB over ${done.measuredCycles} cycles (heap ${(base.heap / MiB).toFixed(1)} -> ${(done.heap / MiB).toFixed(1)} MiB)`,
      )
      t.is(done.fds, base.fds, 'open file descriptors')
      t.deepEqual(done.dirAfterStop, [], 'no socket file left in the folder')
    },
  )
}

// ----------------------------------------------------------------------------- server start/stop cycles

for (const impl of ['ours', 'ref']) {
  test.serial(
    `[${impl}] unix: 300 server start/stop cycles (after 20 warm-up ones): each start creates the socket file, each stop removes it; fds back to the start`,
    async (t) => {
      const dir = tmpDir(t, 'nipc-ss-')
      let fds0 = fdCount()
      let leftovers = 0
      for (let i = -20; i < 300; i++) {
        // the first starts bring up the runtime (ours: tokio's epoll/eventfd descriptors)
        if (i === 0) fds0 = fdCount()
        const ipc = newIpc(impl)
        const p = path.join(dir, `s${i % 7}.sock`)
        await withTimeout(
          new Promise((resolve, reject) => {
            ipc.serve(p, resolve)
            ipc.server.on('error', reject)
            ipc.server.start()
          }),
          5000,
          `start ${i}`,
        )
        if (!fs.lstatSync(p).isSocket()) leftovers++
        await withTimeout(new Promise((resolve) => ipc.server.server.close(resolve)), 5000, `stop ${i}`)
        if (fs.existsSync(p)) leftovers++
      }
      // let handle closes settle (bounded; the assertion below reports what is left)
      await until(() => fdCount() <= fds0, 3000, 20, 'fds back to the start').catch(() => {})
      t.is(leftovers, 0)
      t.deepEqual(fs.readdirSync(dir), [])
      t.is(fdCount(), fds0)
    },
  )
}
