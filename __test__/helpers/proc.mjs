// Child-process helpers: run a node script with the implementation chosen by env vars (or
// any command, in a process group of its own), wait for stdout lines or for output (with
// timeouts), await exit (with a timeout), kill.
//
// The child gets IPC_IMPL=<ours|ref> and IPC_IMPL_PATH=<absolute path to require>.
// Fixtures report results as JSON lines on stdout; `child.json()` parses them.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { IMPLS } from './impl.mjs'

const require = createRequire(import.meta.url)

const live = new Set()
process.on('exit', () => { for (const c of live) c.kill('SIGKILL') })

export class Child {
  // `group`: the child leads a process group (spawned detached), and kill() kills the
  // group, so that what it started (a test runner's workers) goes with it.
  constructor(cp, label, { group = false } = {}) {
    this.cp = cp
    this.label = label
    this.group = group
    this.stdout = ''
    this.stderr = ''
    this.lines = []
    this.exit = null // {code, signal} once exited
    this._waiters = new Set()
    this._outputWaiters = new Set()
    this._exitWaiters = []
    let partial = ''
    cp.stdout.setEncoding('utf8')
    cp.stderr.setEncoding('utf8')
    cp.stdout.on('data', (chunk) => {
      this.stdout += chunk
      partial += chunk
      let nl
      while ((nl = partial.indexOf('\n')) !== -1) {
        const line = partial.slice(0, nl)
        partial = partial.slice(nl + 1)
        this.lines.push(line)
        for (const w of [...this._waiters]) w.check(line)
      }
      for (const w of [...this._outputWaiters]) w.check()
    })
    cp.stderr.on('data', (chunk) => {
      this.stderr += chunk
      for (const w of [...this._outputWaiters]) w.check()
    })
    cp.on('exit', (code, signal) => {
      live.delete(this)
      this.exit = { code, signal }
    })
    // 'close' fires after stdio streams are drained: all lines are in.
    cp.on('close', () => {
      if (partial) { this.lines.push(partial); partial = '' }
      for (const w of [...this._waiters]) { for (const l of this.lines) w.check(l); w.fail('exited') }
      for (const w of [...this._outputWaiters]) { w.check(); w.fail('exited') }
      for (const w of this._exitWaiters.splice(0)) w(this.exit)
    })
    this._closed = false
    cp.on('close', () => { this._closed = true })
  }

  get pid() { return this.cp.pid }
  get alive() { return this.exit === null }

  // Parsed JSON lines (non-JSON lines are skipped).
  json() {
    const out = []
    for (const l of this.lines) {
      const t = l.trim()
      if (!t.startsWith('{')) continue
      try { out.push(JSON.parse(t)) } catch {}
    }
    return out
  }

  // Resolve with the first stdout line (already seen or future) for which `match` holds.
  // `match` is a RegExp (tested against the raw line) or a predicate on the parsed JSON line.
  waitLine(match, timeoutMs = 10000) {
    const test = (line) => {
      if (match instanceof RegExp) return match.test(line)
      let obj
      try { obj = JSON.parse(line) } catch { return false }
      return !!match(obj)
    }
    for (const l of this.lines) if (test(l)) return Promise.resolve(l)
    return new Promise((resolve, reject) => {
      const w = {
        check: (line) => { if (test(line)) { done(); resolve(line) } },
        fail: (why) => { done(); reject(new Error(`${this.label}: ${why} before a line matched ${match}\n${this.describe()}`)) },
      }
      const timer = setTimeout(() => w.fail(`timeout ${timeoutMs} ms`), timeoutMs)
      const done = () => { clearTimeout(timer); this._waiters.delete(w) }
      if (this._closed) { w.fail('exited'); return }
      this._waiters.add(w)
    })
  }

  // Resolve once stdout + stderr (so far or later) match `re`; reject on exit or timeout.
  waitOutput(re, timeoutMs = 10000) {
    const output = () => this.stdout + this.stderr
    if (re.test(output())) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const w = {
        check: () => { if (re.test(output())) { done(); resolve() } },
        fail: (why) => { done(); reject(new Error(`${this.label}: ${why} before the output matched ${re}\n${this.describe()}`)) },
      }
      const timer = setTimeout(() => w.fail(`timeout ${timeoutMs} ms`), timeoutMs)
      const done = () => { clearTimeout(timer); this._outputWaiters.delete(w) }
      if (this._closed) { w.fail('exited'); return }
      this._outputWaiters.add(w)
    })
  }

  // Same as waitLine but resolves with the parsed JSON object.
  async waitJson(pred, timeoutMs = 10000) {
    return JSON.parse(await this.waitLine(pred, timeoutMs))
  }

  // Resolve with {code, signal} when the process has exited and its output is drained;
  // reject after timeoutMs (the process is left running: the caller decides to kill).
  waitExit(timeoutMs = 10000) {
    if (this._closed) return Promise.resolve(this.exit)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this._exitWaiters.indexOf(onExit)
        if (i !== -1) this._exitWaiters.splice(i, 1)
        reject(new Error(`${this.label}: still running after ${timeoutMs} ms\n${this.describe()}`))
      }, timeoutMs)
      const onExit = (e) => { clearTimeout(timer); resolve(e) }
      this._exitWaiters.push(onExit)
    })
  }

  // Kill (SIGKILL by default) and wait for the exit.
  async kill(signal = 'SIGKILL') {
    if (!this._closed) {
      try {
        if (this.group) process.kill(-this.cp.pid, signal)
        else this.cp.kill(signal)
      } catch {}
      try { await this.waitExit(5000) } catch {}
    }
    return this.exit
  }

  describe() {
    const tail = (s) => (s.length > 4000 ? '…' + s.slice(-4000) : s)
    return `--- ${this.label} pid ${this.cp.pid} exit ${JSON.stringify(this.exit)}\n` +
      `--- stdout:\n${tail(this.stdout)}\n--- stderr:\n${tail(this.stderr)}`
  }
}

// Spawn `node <script> ...args` with the implementation `impl` ('ours' | 'ref') selected
// through IPC_IMPL / IPC_IMPL_PATH. Extra env vars in `env`.
export function spawnNode(script, { impl, args = [], env = {}, cwd, label } = {}) {
  const childEnv = { ...process.env, ...env }
  if (impl) {
    if (!IMPLS[impl]) throw new Error(`unknown impl ${impl}`)
    childEnv.IPC_IMPL = impl
    childEnv.IPC_IMPL_PATH = IMPLS[impl]
  }
  const cp = spawn(process.execPath, [script, ...args], {
    cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'],
  })
  const child = new Child(cp, label || `${impl || 'node'}:${script.split('/').pop()}`)
  live.add(child)
  return child
}

// Spawn any command as the leader of its own process group (see Child's `group`).
export function spawnCommand(command, args, { env = {}, cwd, label } = {}) {
  const cp = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const child = new Child(cp, label || `${command.split('/').pop()} ${args[0] || ''}`, { group: true })
  live.add(child)
  return child
}

// Kill every child still running (use in test.afterEach.always / teardown).
export async function killAll(children) {
  await Promise.all(children.map((c) => c && c.kill()))
}

// The fixture's 'loaded' line (fixtures/interop/load-impl.cjs) names the right package:
// `impl` ('ours' | 'ref') from the path IMPLS gives.
export async function assertLoaded(t, child, impl, timeoutMs = 10000) {
  const loaded = await child.waitJson((o) => o.ev === 'loaded', timeoutMs)
  t.true(loaded.ok, `${child.label} loaded the wrong module: ${JSON.stringify(loaded)}`)
  t.is(loaded.impl, impl)
  t.is(loaded.path, require.resolve(IMPLS[impl]))
  t.is(loaded.pkg, impl === 'ours' ? 'node-ipc-rs' : '@achrinza/node-ipc')
}

// A negative assertion: the child is still running `windowMs` from now (it may not exit
// by itself in that window). The caller states why the window is long enough.
export async function assertStaysAlive(t, child, windowMs) {
  const r = await child.waitExit(windowMs).then((e) => e, () => 'alive')
  t.is(r, 'alive', `process exited within ${windowMs} ms: ${child.describe()}`)
}

// The child exits by itself with code 0 within `deadlineMs`.
export async function assertExitsCleanly(t, child, deadlineMs) {
  const e = await child.waitExit(deadlineMs)
  t.deepEqual(e, { code: 0, signal: null }, child.describe())
}
