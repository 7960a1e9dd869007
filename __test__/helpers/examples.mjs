// Helpers for running example programs as child processes: temp-dir layout for the
// `@node-ipc/compat` examples, a line-collecting process wrapper with timed waits, and
// "is something listening on this endpoint" checks that do not connect to the server.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { ROOT } from './impl.mjs'

export const COMPAT_EXAMPLES = path.join(ROOT, 'node_modules', '@node-ipc', 'compat', 'example')
export const FIXTURES = path.join(ROOT, '__test__', 'fixtures')

// The examples' fixed endpoints (SPEC §10).
export const UNIX_WORLD = { path: '/tmp/app.world' }
export const TCP_WORLD = { host: '127.0.0.1', port: 8000 }

export const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')

const describeEndpoint = (ep) => (ep.path ? ep.path : `${ep.host}:${ep.port}`)

/**
 * Copy one example directory of the compat package, unchanged, into a fresh mkdtemp folder:
 *   <tmp>/root/example/<dir>/...   the example files (byte-identical copies)
 *   <tmp>/root/node-ipc.js         what require('../../../node-ipc') finds three levels deep
 *   <tmp>/node-ipc.js              what the same string finds from a two-level dir (rawBuffer)
 * Both shims re-export the implementation under test.
 */
export async function setupExample (implPath, dir) {
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
    cleanup: () => fsp.rm(tmp, { recursive: true, force: true })
  }
}

/**
 * A child process whose stdout/stderr are collected as ANSI-stripped lines with the time
 * (ms since the Proc was created, parent clock) at which each line arrived.
 */
export class Proc {
  constructor (name, args, { cwd, env } = {}) {
    this.name = name
    this.t0 = Date.now()
    this.lines = [] // { stream, text, t }
    this.partial = { stdout: '', stderr: '' }
    this.exitInfo = undefined
    this.waiters = new Set()
    this.child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    this.pid = this.child.pid
    for (const stream of ['stdout', 'stderr']) {
      this.child[stream].setEncoding('utf8')
      this.child[stream].on('data', (chunk) => this._onData(stream, chunk))
    }
    this.spawnError = undefined
    this.child.on('error', (err) => {
      this.spawnError = err
    })
    // 'close' (not 'exit') so that all output has been read when we resolve
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        for (const stream of ['stdout', 'stderr']) {
          if (this.partial[stream]) this._push(stream, this.partial[stream])
          this.partial[stream] = ''
        }
        this.exitInfo = { code, signal, t: this.now() }
        this._check()
        resolve(this.exitInfo)
      })
    })
  }

  now () {
    return Date.now() - this.t0
  }

  get alive () {
    return this.exitInfo === undefined
  }

  _push (stream, raw) {
    this.lines.push({ stream, text: stripAnsi(raw), t: this.now() })
  }

  _onData (stream, chunk) {
    const parts = (this.partial[stream] + chunk).split('\n')
    this.partial[stream] = parts.pop()
    for (const p of parts) this._push(stream, p)
    this._check()
  }

  _check () {
    for (const w of [...this.waiters]) w()
  }

  /** Lines of `stream` ('stdout' | 'stderr' | 'all') matching `re`. */
  match (re, stream = 'stdout') {
    return this.lines.filter((l) => (stream === 'all' || l.stream === stream) && re.test(l.text))
  }

  text (stream = 'stdout') {
    return this.lines.filter((l) => stream === 'all' || l.stream === stream).map((l) => l.text).join('\n')
  }

  tail (n = 60) {
    const ls = this.lines.slice(-n).map((l) => `${String(l.t).padStart(6)} ${l.stream === 'stderr' ? 'ERR' : 'out'}| ${l.text}`)
    const exit = this.exitInfo ? `exit code=${this.exitInfo.code} signal=${this.exitInfo.signal} at ${this.exitInfo.t}ms` : 'still running'
    return `----- ${this.name} (pid ${this.pid}, ${exit}), last ${ls.length} of ${this.lines.length} lines:\n${ls.join('\n')}`
  }

  /**
   * Resolve with the first `count` lines matching `re` once they have appeared. Rejects after
   * `timeout` ms, or as soon as the process has exited without producing them.
   */
  waitFor (re, { stream = 'stdout', timeout = 10000, count = 1 } = {}) {
    return new Promise((resolve, reject) => {
      let timer
      const done = (fn, v) => {
        clearTimeout(timer)
        this.waiters.delete(check)
        fn(v)
      }
      const check = () => {
        const m = this.match(re, stream)
        if (m.length >= count) return done(resolve, m.slice(0, count))
        if (!this.alive) {
          return done(reject, new Error(`${this.name} exited (code=${this.exitInfo.code} signal=${this.exitInfo.signal}) with ${m.length}/${count} ${stream} lines matching ${re}`))
        }
      }
      timer = setTimeout(() => {
        const m = this.match(re, stream)
        done(reject, new Error(`timeout after ${timeout}ms: ${this.name} printed ${m.length}/${count} ${stream} lines matching ${re}`))
      }, timeout)
      this.waiters.add(check)
      check()
    })
  }

  /** Resolve with {code, signal} when the process exits; reject after `timeout` ms. */
  waitExit (timeout = 10000) {
    if (!this.alive) return Promise.resolve(this.exitInfo)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout after ${timeout}ms: ${this.name} (pid ${this.pid}) did not exit`)), timeout)
      this.exited.then((info) => {
        clearTimeout(timer)
        resolve(info)
      })
    })
  }

  /** SIGTERM this process (by pid), SIGKILL after `grace` ms, and await its exit. */
  async stop (grace = 3000) {
    if (!this.alive) return this.exitInfo
    try {
      this.child.kill('SIGTERM')
    } catch {}
    try {
      return await this.waitExit(grace)
    } catch {
      try {
        this.child.kill('SIGKILL')
      } catch {}
      return this.exited
    }
  }
}

/** Resolve after `ms`; only for stated observation windows of negative assertions. */
export const observe = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const hexPort = (port) => port.toString(16).toUpperCase().padStart(4, '0')
const hexIPv4 = (host) => host.split('.').map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0')).reverse().join('')

/**
 * Is there a listening socket on `ep` ({path} or {host, port})? On Linux this reads
 * /proc/net/unix or /proc/net/tcp, so the server never sees a probe connection. Elsewhere
 * it falls back to a probe connect.
 */
export async function isListening (ep) {
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

/** Poll until something listens on `ep`; reject on timeout or if `proc` exits first. */
export async function waitListening (ep, { proc, timeout = 10000, interval = 20 } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    if (await isListening(ep)) return
    if (proc && !proc.alive) {
      throw new Error(`${proc.name} exited (code=${proc.exitInfo.code} signal=${proc.exitInfo.signal}) before listening on ${describeEndpoint(ep)}`)
    }
    if (Date.now() > deadline) throw new Error(`timeout after ${timeout}ms: nothing listening on ${describeEndpoint(ep)}`)
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

/** Reject if something already listens on `ep` (a leftover or foreign process). */
export async function assertEndpointFree (ep) {
  if (await isListening(ep)) {
    throw new Error(`${describeEndpoint(ep)} already has a listener before the test started`)
  }
}

/** Is a process with this pid alive (signal 0 probe; a zombie counts as dead)? */
export function pidAlive (pid) {
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
export async function waitPidsGone (pids, { timeout = 5000, interval = 25 } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    const alive = pids.filter(pidAlive)
    if (alive.length === 0 || Date.now() > deadline) return alive
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

/** Every process in `procs` must still be running (they only end when killed). */
export function assertRunning (t, procs) {
  for (const p of procs) {
    t.true(p.alive, `${p.name} should run until killed, but exited: ${JSON.stringify(p.exitInfo)}`)
  }
}

/** Bytes of all `<Buffer ..>` shown in lines matching `re`, concatenated, as hex. */
export function bufferBytes (proc, re) {
  return proc.match(re).map((l) => {
    const m = /<Buffer((?: [0-9a-f]{2})*)>/.exec(l.text)
    return m ? m[1].replace(/ /g, '') : ''
  }).join('')
}

/**
 * The registry copy of the Multi-Client-Broadcast examples (TCP, Unix and TLS alike): its
 * clients send no id, so the server never sees both and never broadcasts kill.connection;
 * both clients stay connected until killed. `server` is already listening.
 */
export async function checkMultiClientBroadcast (t, server, start, { window, lineTimeout }) {
  const goodbye = start('goodbye-client.js')
  const hello = start('hello-client.js')

  await goodbye.waitFor(/## connected to world ##/, { timeout: lineTimeout })
  await hello.waitFor(/## connected to world ##/, { timeout: lineTimeout })
  await server.waitFor(/got a message from\s+\{ message: 'goodbye' \}$/, { timeout: lineTimeout })
  await server.waitFor(/got a message from\s+\{ message: 'hello' \}$/, { timeout: lineTimeout })
  await hello.waitFor(/got a message from world :\s+hello world!$/, { timeout: lineTimeout })

  await observe(window)
  assertRunning(t, [server, hello, goodbye])
  t.is(server.match(/got a message from/).length, 2, 'server got exactly two messages')
  t.is(server.match(/got all required events/).length, 0, 'server never decides to broadcast')
  for (const c of [hello, goodbye]) {
    t.is(c.match(/world requested kill\.connection/).length, 0, `${c.name}: no kill.connection`)
    t.is(c.match(/disconnected from world/).length, 0, `${c.name}: never disconnected`)
  }
  t.is(hello.match(/got a message from world/).length, 1, 'hello got exactly one reply')

  await Promise.all([hello.stop(), goodbye.stop()])
  await server.waitFor(/DISCONNECTED from\s+false\b/, { timeout: lineTimeout, count: 2 })
  assertRunning(t, [server])
}
