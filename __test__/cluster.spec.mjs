// Cluster scenario: the README / example/clusterUnixSocket pattern (README, "Cluster"), which
// works in v9 because cluster workers that listen on one path share one listening socket.
// A cluster master unlinks the socket path and forks 2 workers; each worker serves the same
// path with unlink=false. A client connects 8 times in a row, each time emitting one message
// on 'connect' and immediately calling ipc.disconnect('world') (emit-then-disconnect, which
// flushes before it closes). Every message must arrive, and the connections must be spread
// over both workers.
import test from 'ava'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { IMPLS } from './helpers/impl.mjs'
import { FIXTURES, pidAlive, waitListening, waitPidsGone } from './helpers/examples.mjs'
import { spawnNode } from './helpers/proc.mjs'

const ROUNDS = 8
const WORKERS = 2
const TIMEOUT = 15000
const DIR = path.join(FIXTURES, 'cluster')

async function cluster(t, impl) {
  t.timeout(60000)
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'node-ipc-rs-cluster-'))
  const socketPath = path.join(tmp, 'ipc.sock')
  const env = { NODE_IPC_IMPL: IMPLS[impl], NODE_IPC_SOCKET: socketPath, CLUSTER_ROUNDS: String(ROUNDS) }
  const procs = []
  let workerPids = []
  try {
    const master = spawnNode(path.join(DIR, 'cluster-server.js'), {
      cwd: tmp,
      env,
      label: `cluster-server.js [${impl}]`,
    })
    procs.push(master)
    const forked = await master.waitFor(/^master \d+ forked worker \d+$/, { timeout: TIMEOUT, count: WORKERS })
    workerPids = forked.map((l) => Number(/worker (\d+)$/.exec(l.text)[1]))
    // both workers have run their serve() callback ('start', i.e. listening)
    const listening = await master.waitFor(/^pid \d+ listening on /, { timeout: TIMEOUT, count: WORKERS })
    t.deepEqual(
      listening.map((l) => Number(/^pid (\d+)/.exec(l.text)[1])).sort(),
      [...workerPids].sort(),
      'each worker started serving the shared path',
    )
    t.is(master.match(/EADDRINUSE/, 'all').length, 0, 'no worker failed to bind')
    t.true((await fsp.stat(socketPath)).isSocket(), 'the shared path is a socket')
    await waitListening({ path: socketPath }, { proc: master, timeout: TIMEOUT })

    const client = spawnNode(path.join(DIR, 'cluster-client.js'), {
      cwd: tmp,
      env,
      label: `cluster-client.js [${impl}]`,
    })
    procs.push(client)
    await client.waitFor(/^client done after \d+ rounds$/, { timeout: TIMEOUT })
    const got = await master.waitFor(/^pid \d+ got: round-\d+ /, { timeout: TIMEOUT, count: ROUNDS })

    const rounds = got.map((l) => Number(/round-(\d+)/.exec(l.text)[1])).sort((a, b) => a - b)
    t.deepEqual(rounds, [...Array(ROUNDS).keys()], 'every emit-then-disconnect message was received once')
    const receivers = new Set(got.map((l) => Number(/^pid (\d+)/.exec(l.text)[1])))
    t.deepEqual(
      [...receivers].sort(),
      [...workerPids].sort(),
      'messages were received by both workers (and only by them)',
    )
    const byRound = got
      .map((l) => /^pid (\d+) got: round-(\d+)/.exec(l.text))
      .sort((a, b) => a[2] - b[2])
      .map((m) => m[1])
    t.log(`receiving pid per round: ${byRound.join(' ')}`)

    const clientExit = await client.waitExit(TIMEOUT)
    t.deepEqual(
      { code: clientExit.code, signal: clientExit.signal },
      { code: 0, signal: null },
      'the client exits on its own once done',
    )

    t.true(master.alive, 'master still running')
    t.deepEqual(workerPids.filter(pidAlive), workerPids, 'both workers still running')
    t.is(master.match(/saw worker \d+ exit/).length, 0, 'no worker exited early')

    // kill the master by pid; its SIGTERM handler takes the workers down with it
    await master.stop(TIMEOUT)
    const orphans = await waitPidsGone(workerPids, { timeout: TIMEOUT })
    t.deepEqual(orphans, [], 'no worker outlives the master')
  } catch (err) {
    for (const p of procs) t.log(p.describe())
    throw err
  } finally {
    await Promise.all(procs.map((p) => p.stop()))
    // last resort: never leave a worker behind, even when the test failed
    const left = await waitPidsGone(workerPids, { timeout: 3000 })
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    await waitPidsGone(left, { timeout: 3000 })
    await fsp.rm(tmp, { recursive: true, force: true })
  }
}

test.serial('cluster: 2 workers share one socket path, emit-then-disconnect delivers [ref]', cluster, 'ref')
test.serial('cluster: 2 workers share one socket path, emit-then-disconnect delivers [ours]', cluster, 'ours')
