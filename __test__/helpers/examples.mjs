// Helpers for running example programs as child processes (helpers/proc.mjs): temp-dir
// layout for the `@node-ipc/compat` examples and "is something listening on this endpoint"
// checks that do not connect to the server; and,
// for the examples*.spec.mjs files, one serial test per implementation under the
// fixed-endpoint lock (exampleTests) plus the scenarios that the Unix, TCP and TLS copies of
// an example share.
import test from 'ava'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { delay } from './behav-util.mjs'
import { withFixedEndpoints } from './fixed-endpoints.mjs'
import { IMPLS, ROOT } from './impl.mjs'
import { hexPort } from './net.mjs'
import { spawnNode } from './proc.mjs'

export const COMPAT_EXAMPLES = path.join(ROOT, 'node_modules', '@node-ipc', 'compat', 'example')
export const FIXTURES = path.join(ROOT, '__test__', 'fixtures')

// The examples' fixed endpoints: every example program binds these.
export const UNIX_WORLD = { path: '/tmp/app.world' }
export const TCP_WORLD = { host: '127.0.0.1', port: 8000 }

// Negative assertions watch this long after the last expected line: every exchange in the
// examples is a local round trip of a few ms (plus a handshake over TLS), and the stream
// clients retry 1000-1500 ms apart.
export const WINDOW = 1500
export const LINE_TIMEOUT = 10000

const describeEndpoint = (ep) => (ep.path ? ep.path : `${ep.host}:${ep.port}`)

/**
 * Copy one example directory of the compat package, unchanged, into a fresh mkdtemp folder:
 *   <tmp>/root/example/<dir>/...   the example files (byte-identical copies)
 *   <tmp>/root/node-ipc.js         what require('../../../node-ipc') finds three levels deep
 *   <tmp>/node-ipc.js              what the same string finds from a two-level dir (rawBuffer)
 * Both shims re-export the implementation under test.
 */
export async function setupExample(implPath, dir) {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'node-ipc-rs-example-'))
  const root = path.join(tmp, 'root')
  const src = path.join(COMPAT_EXAMPLES, dir)
  const dest = path.join(root, 'example', dir)
  await fsp.mkdir(dest, { recursive: true })
  const files = (await fsp.readdir(src)).filter((f) => f.endsWith('.js')).sort()
  for (const f of files) {
    await fsp.copyFile(path.join(src, f), path.join(dest, f))
    const a = await fsp.readFile(path.join(src, f))
    const b = await fsp.readFile(path.join(dest, f))
    if (!a.equals(b)) throw new Error(`copy of ${dir}/${f} differs from the original`)
  }
  const shim = `module.exports = require(${JSON.stringify(implPath)});\n`
  await fsp.writeFile(path.join(root, 'node-ipc.js'), shim)
  await fsp.writeFile(path.join(tmp, 'node-ipc.js'), shim)
  return {
    tmp,
    dir: dest,
    files,
    cleanup: () => fsp.rm(tmp, { recursive: true, force: true }),
  }
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

/** Every process in `procs` must still be running (they only end when killed). */
export function assertRunning(t, procs) {
  for (const p of procs) {
    t.true(p.alive, `${p.label} should run until killed, but exited: ${JSON.stringify(p.exit)}`)
  }
}

/** Bytes of all `<Buffer ..>` shown in lines matching `re`, concatenated, as hex. */
export function bufferBytes(proc, re) {
  return proc
    .match(re)
    .map((l) => {
      const m = /<Buffer((?: [0-9a-f]{2})*)>/.exec(l.text)
      return m ? m[1].replace(/ /g, '') : ''
    })
    .join('')
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

/**
 * basic (Unix, TCP and TLS alike): one request, one reply, then the client is killed. The
 * message is the string 'hello' without an id, so socket.id stays undefined (prints as '')
 * and the server's socket.disconnected handler logs the id as false.
 */
export async function checkBasic(t, { start, startServer }, ep) {
  const server = await startServer('world-server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  await server.waitFor(/got a message from\s+hello$/, { timeout: LINE_TIMEOUT })
  await client.waitFor(/got a message from world :\s+hello world!$/, { timeout: LINE_TIMEOUT })

  await delay(WINDOW)
  assertRunning(t, [server, client])
  t.is(server.match(/got a message from/).length, 1, 'server got exactly one message')
  t.is(client.match(/got a message from world/).length, 1, 'client got exactly one reply')
  t.is(client.match(/## connected to world ##/).length, 1, 'client connected once')
  t.is(client.match(/disconnected from world/).length, 0, 'client never disconnected')
  // the Unix example has no error handler, so this can only fail over TCP and TLS
  t.is(server.match(/Got an ERROR!/).length, 0, 'no server error event')

  // SIGTERM ends the client's connection without a TLS close_notify, which Node's TLS server
  // treats as an ordinary close
  await client.stop()
  await server.waitFor(/DISCONNECTED from\s+false\b/, { timeout: LINE_TIMEOUT })
  await delay(WINDOW)
  assertRunning(t, [server])
  t.is(server.match(/Got an ERROR!/).length, 0, 'no server error event when the client goes away')
}

/**
 * Multi-Client-Broadcast (Unix, TCP and TLS alike): the registry copy's clients send
 * {message} without an id, so the server keys both under `undefined`, never sees hello and
 * goodbye, and never broadcasts kill.connection; both clients stay connected until killed.
 */
export async function checkMultiClientBroadcast(t, { start, startServer }, ep) {
  const server = await startServer('world-server.js', ep)
  const goodbye = start('goodbye-client.js')
  const hello = start('hello-client.js')

  await goodbye.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  await hello.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  await server.waitFor(/got a message from\s+\{ message: 'goodbye' \}$/, { timeout: LINE_TIMEOUT })
  await server.waitFor(/got a message from\s+\{ message: 'hello' \}$/, { timeout: LINE_TIMEOUT })
  await hello.waitFor(/got a message from world :\s+hello world!$/, { timeout: LINE_TIMEOUT })

  await delay(WINDOW)
  assertRunning(t, [server, hello, goodbye])
  t.is(server.match(/got a message from/).length, 2, 'server got exactly two messages')
  t.is(server.match(/got all required events/).length, 0, 'server never decides to broadcast')
  for (const c of [hello, goodbye]) {
    t.is(c.match(/world requested kill\.connection/).length, 0, `${c.label}: no kill.connection`)
    t.is(c.match(/disconnected from world/).length, 0, `${c.label}: never disconnected`)
  }
  t.is(hello.match(/got a message from world/).length, 1, 'hello got exactly one reply')

  await Promise.all([hello.stop(), goodbye.stop()])
  await server.waitFor(/DISCONNECTED from\s+false\b/, { timeout: LINE_TIMEOUT, count: 2 })
  assertRunning(t, [server])
}

/**
 * basicSync (Unix, TCP and TLS alike): the client (sync=true) queues hello0..hello9 on
 * connect; the server replies to each after a delay. Requests must reach the server one per
 * reply. Only the first three requests are checked, then everything is killed.
 */
export async function checkBasicSync(t, { dir, start, startServer }, ep) {
  // the delay is the example's own, so that a change to it cannot pass unnoticed
  const serverSrc = fs.readFileSync(path.join(dir, 'world-server.js'), 'utf8')
  const replyDelay = Number(/\},\s*(\d+)\s*\)/.exec(serverSrc)?.[1])
  t.true(replyDelay >= 1000, `reply delay parsed from the example: ${replyDelay}`)
  const slack = 300 // parent-side timestamp jitter

  const server = await startServer('world-server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  const got = await server.waitFor(/got a message from\s+hello\d$/, {
    timeout: 3 * replyDelay + LINE_TIMEOUT,
    count: 3,
  })
  const received = server.match(/got a message from\s+hello\d$/)
  t.deepEqual(
    got.map((l) => /hello(\d)$/.exec(l.text)[1]),
    ['0', '1', '2'],
    'requests arrive in order',
  )
  t.is(received.length, 3, 'no request beyond hello2 arrived before the third reply was due')

  for (let i = 1; i < 3; i++) {
    const gap = got[i].t - got[i - 1].t
    t.true(
      gap >= replyDelay - slack,
      `hello${i} arrived ${gap}ms after hello${i - 1}; expected >= ~${replyDelay}ms (one request per reply)`,
    )
    t.true(gap < 2 * replyDelay + LINE_TIMEOUT, `hello${i} arrived ${gap}ms after hello${i - 1}; too slow`)
  }
  // The client printed both replies before it sent hello2, but its output travels on its
  // own pipe: wait for it rather than read what has arrived so far.
  const replies = await client.waitFor(/got a message from world :\s+hello\d world!/, {
    timeout: LINE_TIMEOUT,
    count: 2,
  })
  t.is(replies.length, 2, 'client got the replies to hello0 and hello1')
  for (let i = 1; i < 3; i++) {
    // the request follows the reply to the previous one (both arrival times on this
    // process's clock)
    const replyAt = replies[i - 1].t
    const requestAt = got[i].t
    t.true(requestAt >= replyAt - slack, `hello${i} reached the server only after the reply to hello${i - 1}`)
  }
  t.true(/hello0 world!/.test(replies[0].text) && /hello1 world!/.test(replies[1].text), 'replies in order')
  assertRunning(t, [server, client])
}

const hex = (s) => Buffer.from(s).toString('hex')

/** Wait until the `<Buffer ..>` lines matching `re` add up to at least `hexLen` hex digits. */
async function waitBytes(proc, re, hexLen, timeout = LINE_TIMEOUT) {
  const deadline = Date.now() + timeout
  while (bufferBytes(proc, re).length < hexLen) {
    const left = deadline - Date.now()
    if (left <= 0 || !proc.alive) return // the caller's assertion reports what arrived
    await proc.waitFor(re, { timeout: left, count: proc.match(re).length + 1 }).catch(() => {})
  }
}

// The two conversations of the stream rawBuffer examples, by the examples' encoding. With
// 'ascii' the examples log data.toString() after each Buffer.
const RAW_CONVERSATIONS = {
  // the client sends 'hello'; the server sends 'hello' on connect and 'goodbye' per data chunk
  ascii: {
    serverGot: /got a message\s+<Buffer 68 65 6c 6c 6f>\s+hello$/,
    fromWorld: /got a message from world :\s+<Buffer[ 0-9a-f]*>/,
    want: hex('hello') + hex('goodbye'),
    says: 'client received "hello" then "goodbye" as raw bytes',
  },
  // the client sends a 6-byte Buffer; the server sends [0xaa] on connect and [0x0d, 0xee] per
  // data chunk
  hex: {
    serverGot: /got a message\s+<Buffer 00 02 00 ff ee cc>$/,
    fromWorld: /got a message from world :\s+<Buffer[ 0-9a-f]*>$/,
    want: 'aa0dee',
    says: 'client received aa, then 0d ee',
  },
}

/**
 * A stream rawBuffer example in `encoding`. Raw mode has no framing, so the client may see
 * the two server writes as one chunk or two: compare the concatenated bytes. `connectLine`
 * is a line the server prints once per connection, if it prints one.
 */
export async function checkRawExchange(t, { start, startServer }, ep, encoding, connectLine) {
  const { serverGot, fromWorld, want, says } = RAW_CONVERSATIONS[encoding]
  const server = await startServer('world.server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  if (connectLine) await server.waitFor(connectLine, { timeout: LINE_TIMEOUT })
  await server.waitFor(serverGot, { timeout: LINE_TIMEOUT })
  await waitBytes(client, fromWorld, want.length)
  t.is(bufferBytes(client, fromWorld), want, says)
  if (encoding === 'ascii') {
    for (const l of client.match(fromWorld)) {
      const m = /<Buffer((?: [0-9a-f]{2})*)>\s+(\S*)$/.exec(l.text)
      t.is(
        Buffer.from(m[1].replace(/ /g, ''), 'hex').toString('ascii'),
        m[2],
        `data.toString() matches the bytes: ${l.text}`,
      )
    }
  }

  await delay(WINDOW)
  assertRunning(t, [server, client])
  if (connectLine) t.is(server.match(connectLine).length, 1, 'one connection')
  t.is(server.match(/got a message/).length, 1, 'server got exactly one data chunk')
  t.is(bufferBytes(client, fromWorld), want, 'nothing more arrived at the client')
}
