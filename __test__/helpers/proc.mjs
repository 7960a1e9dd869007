// Child processes, the one wrapper every spec uses: run a node script with the
// implementation chosen by env vars (or any command, in a process group of its own), wait
// for stdout lines or for output (with timeouts), await exit (with a timeout), stop, kill.
//
// The child gets IPC_IMPL=<ours|ref> and IPC_IMPL_PATH=<absolute path to require>.
// Fixtures report results as JSON lines on stdout; `child.json()` parses them. Programs that
// print for people (the original examples) are read through `timeline`: every line of both
// streams, ANSI colours stripped, with the time it arrived.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { IMPLS } from './impl.mjs'

const require = createRequire(import.meta.url)

const live = new Set()
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL')
})

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the colour codes it strips
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')

export class Child {
  // `group`: the child leads a process group (spawned detached), and kill() kills the
  // group, so that what it started (a test runner's workers) goes with it.
  constructor(cp, label, { group = false } = {}) {
    this.cp = cp
    this.label = label
    this.group = group
    this.t0 = Date.now()
    this.stdout = ''
    this.stderr = ''
    this.lines = [] // stdout lines, as printed
    this.timeline = [] // { stream: 'stdout' | 'stderr', text (ANSI stripped), t (Date.now()) }
    this.exit = null // {code, signal} once exited
    this.exitAt = null
    this.spawnError = null
    this._waiters = new Set()
    this._closed = false
    const partial = { stdout: '', stderr: '' }
    const onText = (stream, chunk) => {
      this[stream] += chunk
      partial[stream] += chunk
      for (let nl = partial[stream].indexOf('\n'); nl !== -1; nl = partial[stream].indexOf('\n')) {
        this._line(stream, partial[stream].slice(0, nl))
        partial[stream] = partial[stream].slice(nl + 1)
      }
      this._check()
    }
    for (const stream of ['stdout', 'stderr']) {
      cp[stream].setEncoding('utf8')
      cp[stream].on('data', (chunk) => onText(stream, chunk))
    }
    cp.on('error', (err) => {
      this.spawnError = err
    })
    cp.on('exit', (code, signal) => {
      live.delete(this)
      this.exit = { code, signal }
      this.exitAt = Date.now()
    })
    // 'close' fires after the stdio streams are drained: all lines are in.
    cp.on('close', (code, signal) => {
      live.delete(this)
      this.exit ??= { code, signal }
      this.exitAt ??= Date.now()
      for (const stream of ['stdout', 'stderr']) {
        if (partial[stream]) this._line(stream, partial[stream])
        partial[stream] = ''
      }
      this._closed = true
      this._check()
    })
  }

  _line(stream, line) {
    if (stream === 'stdout') this.lines.push(line)
    this.timeline.push({ stream, text: stripAnsi(line), t: Date.now() })
  }

  _check() {
    for (const w of [...this._waiters]) w()
  }

  get pid() {
    return this.cp.pid
  }
  get alive() {
    return this.exit === null
  }

  // Parsed JSON lines (non-JSON lines are skipped).
  json() {
    const out = []
    for (const l of this.lines) {
      const t = l.trim()
      if (!t.startsWith('{')) continue
      try {
        out.push(JSON.parse(t))
      } catch {}
    }
    return out
  }

  // Timeline lines of `stream` ('stdout' | 'stderr' | 'all') that match `re`.
  match(re, stream = 'stdout') {
    return this.timeline.filter((l) => (stream === 'all' || l.stream === stream) && re.test(l.text))
  }

  // Resolve with what `probe()` returns once it is not undefined (probed now, at every
  // output and at the end); reject after `timeoutMs`, or when the process has ended and
  // its output is drained without it.
  _waitUntil(probe, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      let timer
      const done = () => {
        clearTimeout(timer)
        this._waiters.delete(check)
      }
      const check = () => {
        const v = probe()
        if (v !== undefined) {
          done()
          resolve(v)
          return
        }
        if (this._closed) {
          done()
          reject(new Error(`${this.label}: exited before ${what}\n${this.describe()}`))
        }
      }
      timer = setTimeout(() => {
        done()
        reject(new Error(`${this.label}: timeout ${timeoutMs} ms before ${what}\n${this.describe()}`))
      }, timeoutMs)
      this._waiters.add(check)
      check()
    })
  }

  // Resolve with the first stdout line (already seen or future) for which `match` holds.
  // `match` is a RegExp (tested against the raw line) or a predicate on the parsed JSON line.
  waitLine(match, timeoutMs = 10000) {
    const test = (line) => {
      if (match instanceof RegExp) return match.test(line)
      let obj
      try {
        obj = JSON.parse(line)
      } catch {
        return false
      }
      return !!match(obj)
    }
    return this._waitUntil(() => this.lines.find(test), timeoutMs, `a line matched ${match}`)
  }

  // Same as waitLine but resolves with the parsed JSON object.
  async waitJson(pred, timeoutMs = 10000) {
    return JSON.parse(await this.waitLine(pred, timeoutMs))
  }

  // Resolve once stdout + stderr (so far or later) match `re`; reject on exit or timeout.
  waitOutput(re, timeoutMs = 10000) {
    return this._waitUntil(
      () => (re.test(this.stdout + this.stderr) ? true : undefined),
      timeoutMs,
      `the output matched ${re}`,
    ).then(() => {})
  }

  // Resolve with the first `count` timeline lines of `stream` that match `re`.
  waitFor(re, { stream = 'stdout', timeout = 10000, count = 1 } = {}) {
    return this._waitUntil(
      () => {
        const m = this.match(re, stream)
        return m.length >= count ? m.slice(0, count) : undefined
      },
      timeout,
      `${count} ${stream} line(s) matched ${re}`,
    )
  }

  // Resolve with {code, signal} when the process has exited and its output is drained;
  // reject after timeoutMs (the process is left running: the caller decides to kill).
  waitExit(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      let timer
      const check = () => {
        if (!this._closed) return
        clearTimeout(timer)
        this._waiters.delete(check)
        resolve(this.exit)
      }
      timer = setTimeout(() => {
        this._waiters.delete(check)
        reject(new Error(`${this.label}: still running after ${timeoutMs} ms\n${this.describe()}`))
      }, timeoutMs)
      this._waiters.add(check)
      check()
    })
  }

  _signal(signal) {
    try {
      if (this.group) process.kill(-this.cp.pid, signal)
      else this.cp.kill(signal)
    } catch {}
  }

  // Kill (SIGKILL by default) and wait for the exit.
  async kill(signal = 'SIGKILL') {
    if (!this._closed) {
      this._signal(signal)
      try {
        await this.waitExit(5000)
      } catch {}
    }
    return this.exit
  }

  // SIGTERM, then SIGKILL if it is still running after `grace` ms; resolves with the exit.
  async stop(grace = 3000) {
    if (this._closed) return this.exit
    this._signal('SIGTERM')
    try {
      return await this.waitExit(grace)
    } catch {
      return this.kill('SIGKILL')
    }
  }

  // The last `n` lines of both streams (ms since the start), for failure messages.
  describe(n = 80) {
    const state = this.exit
      ? `exit ${JSON.stringify(this.exit)} at ${this.exitAt - this.t0} ms`
      : this.spawnError
        ? `spawn error ${this.spawnError.message}`
        : 'still running'
    const cut = (s) => (s.length > 2000 ? s.slice(0, 2000) + '…' : s)
    const shown = this.timeline
      .slice(-n)
      .map((l) => `${String(l.t - this.t0).padStart(6)} ${l.stream === 'stderr' ? 'ERR' : 'out'}| ${cut(l.text)}`)
    return `--- ${this.label} pid ${this.cp.pid}, ${state}; last ${shown.length} of ${this.timeline.length} lines:\n${shown.join('\n')}`
  }
}

function track(child, t) {
  live.add(child)
  if (t) t.teardown(() => child.kill())
  return child
}

// The Node that runs the processes under test: this one, or the one named by
// NODE_IPC_RS_TEST_NODE (a path, or a JSON array for a command with arguments, such as an
// emulator and an arm64 node), which scripts/test-node-versions.mjs and
// scripts/test-linux-arm64.sh set. The test tooling itself (ava) stays on this Node.
export const NODE_UNDER_TEST = (() => {
  const named = process.env.NODE_IPC_RS_TEST_NODE
  if (!named) return [process.execPath]
  return named.startsWith('[') ? JSON.parse(named) : [named]
})()

// Spawn `node [nodeArgs] <script> ...args` with the implementation `impl` ('ours' | 'ref')
// selected through IPC_IMPL / IPC_IMPL_PATH. Extra env vars in `env`. `prelude`: a bash
// command run first in the same process (a umask, a raised `ulimit -n`), after which bash
// execs node. `t`: the child is killed at that test's teardown. `uid`/`gid`: the child
// runs as that user (the caller must be root); `node` (a command, as NODE_UNDER_TEST) and
// `implPath` (what IPC_IMPL_PATH names) replace the defaults, for a child that runs from a
// copy of the package (helpers/other-user.mjs).
export function spawnNode(
  script,
  { impl, implPath, args = [], env = {}, cwd, label, nodeArgs = [], prelude, uid, gid, node: command, t } = {},
) {
  const childEnv = { ...process.env, ...env }
  if (impl) {
    if (!IMPLS[impl]) throw new Error(`unknown impl ${impl}`)
    childEnv.IPC_IMPL = impl
    childEnv.IPC_IMPL_PATH = implPath || IMPLS[impl]
  }
  const argv = [...nodeArgs, script, ...args]
  const opts = { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] }
  if (uid !== undefined) opts.uid = uid
  if (gid !== undefined) opts.gid = gid
  const [node, ...nodePrefix] = command || NODE_UNDER_TEST
  const cp = prelude
    ? spawn('bash', ['-c', `${prelude}; exec "$@"`, 'bash', node, ...nodePrefix, ...argv], opts)
    : spawn(node, [...nodePrefix, ...argv], opts)
  return track(new Child(cp, label || `${impl || 'node'}:${script.split('/').pop()}`), t)
}

// A scenario fixture (fixtures/<area>/scenario.cjs) for `impl`, told which scenario to run
// through SCENARIO; killed at the teardown of `t`.
export function spawnScenario(t, script, impl, scenario, env = {}) {
  return spawnNode(script, { impl, env: { ...env, SCENARIO: scenario }, label: `${impl}:${scenario}`, t })
}

// Spawn any command as the leader of its own process group (see Child's `group`).
export function spawnCommand(command, args, { env = {}, cwd, label, t } = {}) {
  const cp = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  return track(new Child(cp, label || `${command.split('/').pop()} ${args[0] || ''}`, { group: true }), t)
}

// Wait for `child` to end by itself; after `timeoutMs` kill it. Never rejects: resolves with
// {code, signal, timedOut} for the caller to assert on (the output stays on `child`).
export async function runToEnd(child, timeoutMs) {
  const timedOut = await child.waitExit(timeoutMs).then(
    () => false,
    () => true,
  )
  if (timedOut) await child.kill()
  return { ...child.exit, timedOut }
}

// `node -e <code>` in `cwd`, to its end: resolves with its last JSON line; rejects if it
// fails, runs longer than `timeoutMs` or prints no JSON.
export async function evalNode(code, { cwd, timeoutMs = 15000, label = 'node -e' } = {}) {
  const child = spawnNode('-e', { args: [code], cwd, label })
  const end = await runToEnd(child, timeoutMs)
  if (end.code !== 0) throw new Error(`${label} failed: ${JSON.stringify(end)}\n${child.describe()}`)
  const out = child.json()
  if (!out.length) throw new Error(`${label} printed no JSON line\n${child.describe()}`)
  return out[out.length - 1]
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
  const r = await child.waitExit(windowMs).then(
    (e) => e,
    () => 'alive',
  )
  t.is(r, 'alive', `process exited within ${windowMs} ms: ${child.describe()}`)
}

// The child exits by itself with code 0 within `deadlineMs`.
export async function assertExitsCleanly(t, child, deadlineMs) {
  const e = await child.waitExit(deadlineMs)
  t.deepEqual(e, { code: 0, signal: null }, child.describe())
}
