// Helpers for running example programs as child processes (helpers/proc.mjs): temp-dir
// layout for the `@node-ipc/compat` examples and "is something listening on this endpoint"
// checks that do not connect to the server; and, for the examples*.spec.mjs files, one
// serial test per implementation under the fixed-endpoint lock (exampleTests). The checks
// on the examples' output are in helpers/example-checks.cjs, shared with the Windows tests.
import test from 'ava'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { delay } from './behav-util.mjs'
import { withFixedEndpoints } from './fixed-endpoints.mjs'
import checks from './example-checks.cjs'
import { IMPLS, ROOT } from './impl.mjs'
import { hexPort } from './net.mjs'
import { spawnNode } from './proc.mjs'

export const { COMPAT_EXAMPLES, LINE_TIMEOUT } = checks
export const FIXTURES = path.join(ROOT, '__test__', 'fixtures')

// The examples' fixed endpoints: every example program binds these.
export const UNIX_WORLD = { path: '/tmp/app.world' }
export const TCP_WORLD = { host: '127.0.0.1', port: 8000 }

const describeEndpoint = (ep) => (ep.path ? ep.path : `${ep.host}:${ep.port}`)

/** layOutExample (helpers/example-checks.cjs) in a fresh mkdtemp folder, with its `cleanup`. */
export async function setupExample(implPath, dir) {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'node-ipc-rs-example-'))
  return { ...checks.layOutExample(tmp, implPath, dir), cleanup: () => fsp.rm(tmp, { recursive: true, force: true }) }
}

const hexIPv4 = (host) =>
  host
    .split('.')
    .map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0'))
    .reverse()
    .join('')

/**
 * Is there a listening socket on `ep` ({path} or {host, port})? On Linux this reads
 * /proc/net/unix or /proc/net/tcp, so the server never sees a probe connection. Elsewhere
 * it falls back to a probe connect.
 */
export async function isListening(ep) {
  if (process.platform === 'linux') {
    if (ep.path) {
      const txt = await fsp.readFile('/proc/net/unix', 'utf8')
      // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON
      return txt.split('\n').some((line) => {
        const f = line.trim().split(/\s+/)
        if (f.length < 8 || f[3] !== '00010000') return false
        const p = f.slice(7).join(' ')
        // a listener bound through a relative path shows that relative path (e.g. Node's cluster
        // primary), so accept a relative entry that is a suffix of the wanted path
        return p === ep.path || (!p.startsWith('/') && !p.startsWith('@') && ep.path.endsWith('/' + p))
      })
    }
    const want = `${hexIPv4(ep.host)}:${hexPort(ep.port)}`
    const any = `00000000:${hexPort(ep.port)}`
    const txt = await fsp.readFile('/proc/net/tcp', 'utf8')
    return txt.split('\n').some((line) => {
      const f = line.trim().split(/\s+/)
      return (f[1] === want || f[1] === any) && f[3] === '0A' // 0A = LISTEN
    })
  }
  return new Promise((resolve) => {
    const s = net.connect(ep.path ? { path: ep.path } : { host: ep.host, port: ep.port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** How to tell that a stream server is up on {path} or {host, port}: see isListening. */
export const LISTENER = { up: isListening, name: describeEndpoint }

/**
 * Poll until something listens on `ep` (as `probe` sees it); reject on timeout or if `proc`
 * exits first.
 */
export async function waitListening(ep, { proc, timeout = 10000, interval = 20, probe = LISTENER } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    if (await probe.up(ep)) return
    if (proc && !proc.alive) {
      throw new Error(`${proc.label} exited (${JSON.stringify(proc.exit)}) before listening on ${probe.name(ep)}`)
    }
    if (Date.now() > deadline) throw new Error(`timeout after ${timeout}ms: nothing listening on ${probe.name(ep)}`)
    await delay(interval)
  }
}

/** Reject if something already listens on `ep` (a leftover or foreign process). */
export async function assertEndpointFree(ep, probe = LISTENER) {
  if (await probe.up(ep)) {
    throw new Error(`${probe.name(ep)} already has a listener before the test started`)
  }
}

/** Is a process with this pid alive (signal 0 probe; a zombie counts as dead)? */
export function pidAlive(pid) {
  try {
    process.kill(pid, 0)
  } catch (err) {
    if (err.code !== 'EPERM') return false
  }
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
    } catch {
      return false
    }
  }
  return true
}

/** Poll until none of `pids` is alive; resolve with the ones still alive after `timeout`. */
export async function waitPidsGone(pids, { timeout = 5000, interval = 25 } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    const alive = pids.filter(pidAlive)
    if (alive.length === 0 || Date.now() > deadline) return alive
    await delay(interval)
  }
}

/**
 * Copy example `dir` for `impl` and run `body({ impl, dir, start, startServer })` under the
 * fixed-endpoint lock. `start(file)` runs one of the example's files; `startServer(file, ep)`
 * does so once `ep` is free and resolves when the server is up on it, so that a client never
 * races the bind. Afterwards every started process is dead and the temp dir is gone; on
 * failure each process's output is attached with t.log.
 *
 * Options: `probe` ({ up(ep), name(ep) }) tells that a server is up, for servers that are not
 * one stream listener; `prepare(ex)` lays out more files next to the copy before anything
 * runs; `after(t)` checks, once all processes are dead and still under the lock, what they
 * must not leave behind. Other example files hold the lock for whole tests; the wait for
 * it fails once the lock has made no progress for `lockWait` ms, and the test may run
 * `runTimeout` ms besides.
 */
function withExample(
  t,
  impl,
  dir,
  body,
  { probe = LISTENER, prepare, after, runTimeout = 60000, lockWait = 90000 } = {},
) {
  t.timeout(runTimeout + lockWait)
  return withFixedEndpoints(async () => {
    const ex = await setupExample(IMPLS[impl], dir)
    const procs = []
    const start = (file) => {
      const p = spawnNode(path.join(ex.dir, file), { cwd: ex.dir, label: `${dir}/${file} [${impl}]` })
      procs.push(p)
      return p
    }
    const startServer = async (file, ep) => {
      await assertEndpointFree(ep, probe)
      const server = start(file)
      await waitListening(ep, { proc: server, timeout: LINE_TIMEOUT, probe })
      return server
    }
    try {
      if (prepare) await prepare(ex)
      await body({ impl, dir: ex.dir, start, startServer })
    } catch (err) {
      for (const p of procs) t.log(p.describe())
      throw err
    } finally {
      await Promise.all(procs.map((p) => p.stop()))
      // A server stopped by a signal cannot unlink its socket file (node:net's cannot
      // either); the next example would replace it, but nothing should outlive the run.
      if (fs.statSync(UNIX_WORLD.path, { throwIfNoEntry: false })?.isSocket()) fs.rmSync(UNIX_WORLD.path)
      await ex.cleanup()
    }
    if (after) await after(t)
  }, lockWait)
}

/**
 * Declare `${title} [ref]` and `${title} [ours]` (title defaults to `dir`): serial, because
 * every example binds the same fixed endpoints. Each runs `check(t, ex)` in withExample.
 */
export function exampleTests(dir, check, { title = dir, ...options } = {}) {
  for (const impl of ['ref', 'ours']) {
    test.serial(`${title} [${impl}]`, (t) => withExample(t, impl, dir, (ex) => check(t, ex), options))
  }
}
