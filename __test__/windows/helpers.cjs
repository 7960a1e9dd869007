'use strict'

// Shared by the Windows tests, which run in node.exe under Wine with Node's own test runner
// (`npm run test:windows`, scripts/test-windows.sh): ava 7 needs a newer Node than those
// tests can rely on there, and the runner needs nothing installed. Each helper is defined
// once, here.

const { spawn } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..')
const IMPLS = {
  ours: path.join(ROOT, 'index.js'),
  ref: require.resolve('@achrinza/node-ipc', { paths: [ROOT] }),
}

/** A fresh pipe path, as node-ipc users write it (mapped to \\.\pipe\... by both impls). */
function pipePath(label = 'test') {
  return `/tmp/node-ipc-rs-${label}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`
}

/** The name node:net listens on for `pipePath` (v9's mapping). */
function pipeName(p) {
  return `\\\\.\\pipe\\${p.replace(/^\//, '').replace(/\//g, '-')}`
}

function tmpDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ipc-rs-win-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Resolves when `emitter` emits `event` (with its first argument), rejects after `ms`. */
function once(emitter, event, ms = 10000, what = event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)
    emitter.once(event, (value) => {
      clearTimeout(timer)
      resolve(value)
    })
  })
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** `promise`, or a rejection with `message()` after `ms`; the timer is cleared either way. */
function withTimeout(promise, ms, message) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function parseJson(line) {
  if (!line.startsWith('{')) return undefined
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the colour codes it strips
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')

/**
 * A child node.exe running `args` (a file, or `-e` and code), its output collected line by
 * line: `lines` as printed (both streams), and `timeline`, each line as {stream, text (ANSI
 * colours stripped), t (Date.now() when it arrived)}, for programs that print for people
 * (the original examples; helpers/example-checks.cjs).
 *   waitLine(re, ms)      the first line (either stream) matching `re` (anything with a
 *                         `test(line)` method)
 *   json(), waitJson(pred, ms)   the JSON lines (fixtures print one a line)
 *   match(re, stream), waitFor(re, {stream, timeout, count})   timeline lines of `stream`
 *                         ('stdout', 'stderr' or 'all'): those matching so far; the first
 *                         `count`, waiting
 *   waitExit(ms)          {code, signal} once it ended and its output is drained
 *   stop(grace)           SIGTERM (TerminateProcess on Windows), SIGKILL after `grace` ms;
 *                         resolves with {code, signal}
 * A wait rejects after its timeout, or once the process ended without what it waits for,
 * with the output. Children are stopped when the test ends.
 */
function spawnNode(t, args, { cwd, env, label = args.join(' ').slice(0, 80) } = {}) {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const t0 = Date.now()
  const lines = []
  const timeline = []
  const waiters = new Set()
  let closed = false
  const check = () => {
    for (const w of [...waiters]) w()
  }
  const onLine = (stream, line) => {
    lines.push(line)
    timeline.push({ stream, text: stripAnsi(line), t: Date.now() })
  }
  const rest = { stdout: '', stderr: '' }
  for (const stream of ['stdout', 'stderr']) {
    child[stream].setEncoding('utf8')
    child[stream].on('data', (chunk) => {
      const parts = (rest[stream] + chunk).split(/\r?\n/)
      rest[stream] = parts.pop()
      for (const line of parts) onLine(stream, line)
      check()
    })
  }
  child.on('error', (err) => onLine('stderr', `[spawn error] ${err.message}`))
  child.on('exit', (code, signal) => {
    handle.exit = { code, signal }
    handle.exitAt = Date.now()
  })
  // 'close' comes after the streams are drained: all lines are in.
  child.on('close', (code, signal) => {
    handle.exit ??= { code, signal }
    handle.exitAt ??= Date.now()
    for (const stream of ['stdout', 'stderr']) if (rest[stream]) onLine(stream, rest[stream])
    closed = true
    check()
  })
  // Resolves with what `probe()` returns once it is not undefined (probed now, at every
  // output and at the end). Timers are cleared once settled: a pending one would keep the
  // test file's process alive after its tests end.
  const waitUntil = (probe, ms, what, { orEnd = true } = {}) =>
    new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        waiters.delete(w)
      }
      const w = () => {
        const v = probe()
        if (v !== undefined) {
          done()
          resolve(v)
        } else if (closed && orEnd) {
          done()
          reject(new Error(`${label}: exited before ${what}\n${handle.describe()}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${label}: no ${what} within ${ms} ms\n${handle.describe()}`))
      }, ms)
      waiters.add(w)
      w()
    })
  const handle = {
    child,
    label,
    lines,
    timeline,
    exit: null,
    exitAt: null,
    get alive() {
      return handle.exit === null
    },
    output: () => lines.join('\n'),
    /** The last `n` lines of both streams (ms since the start), for failure messages. */
    describe(n = 80) {
      const state = handle.exit ? `exit ${JSON.stringify(handle.exit)} at ${handle.exitAt - t0} ms` : 'still running'
      const shown = timeline
        .slice(-n)
        .map(
          (l) => `${String(l.t - t0).padStart(6)} ${l.stream === 'stderr' ? 'ERR' : 'out'}| ${l.text.slice(0, 2000)}`,
        )
      return `--- ${label} pid ${child.pid}, ${state}; last ${shown.length} of ${timeline.length} lines:\n${shown.join('\n')}`
    },
    waitLine: (re, ms = 15000) => waitUntil(() => lines.find((l) => re.test(l)), ms, `line matching ${re}`),
    /** The output lines that are JSON objects (fixtures print one a line), parsed. */
    json: () => lines.map(parseJson).filter(Boolean),
    /** The first JSON line `pred` accepts, waiting up to `ms`. */
    async waitJson(pred, ms = 15000) {
      const match = {
        test: (l) => Boolean(parseJson(l) && pred(parseJson(l))),
        toString: () => `a JSON line where ${pred}`,
      }
      return parseJson(await handle.waitLine(match, ms))
    },
    match: (re, stream = 'stdout') =>
      timeline.filter((l) => (stream === 'all' || l.stream === stream) && re.test(l.text)),
    waitFor(re, { stream = 'stdout', timeout = 15000, count = 1 } = {}) {
      return waitUntil(
        () => {
          const m = handle.match(re, stream)
          return m.length >= count ? m.slice(0, count) : undefined
        },
        timeout,
        `${count} ${stream} line(s) matching ${re}`,
      )
    },
    waitExit: (ms = 15000) => waitUntil(() => (closed ? handle.exit : undefined), ms, 'exit', { orEnd: false }),
    async stop(grace = 3000) {
      if (closed) return handle.exit
      child.kill('SIGTERM')
      try {
        return await handle.waitExit(grace)
      } catch {
        child.kill('SIGKILL')
        return handle.waitExit(5000).catch(() => handle.exit)
      }
    },
  }
  t.after(() => handle.stop())
  return handle
}

/** An `impl` IPC (ours by default) that logs nothing and makes one connection attempt. */
function quietIpc(config = {}, impl = 'ours') {
  const { IPC } = require(IMPLS[impl])
  const ipc = new IPC()
  Object.assign(ipc.config, { silent: true, retry: 100, maxRetries: 0 }, config)
  return ipc
}

/**
 * A quiet `impl` server (quietIpc(config, impl)) serving pipe path `p` and started:
 * resolves with the IPC once it emitted 'start'; stopped when the test ends. `onServe(ipc)`
 * is serve's callback (it runs on 'start', before this resolves).
 */
async function startPipeServer(t, p, config = {}, onServe = () => {}, impl = 'ours') {
  const ipc = quietIpc(config, impl)
  ipc.serve(p, () => onServe(ipc))
  const started = once(ipc.server, 'start')
  ipc.server.start()
  await started
  t.after(() => ipc.server.stop())
  return ipc
}

/** The fields by which the tests compare an error with node:net's for the same thing. */
const errorFields = (err) => ({
  code: err.code,
  errno: err.errno,
  syscall: err.syscall,
  address: err.address,
  port: err.port,
})

/** The error that `start(done)` passes to `done` (a node:net call in this process), as errorFields. */
function netError(start) {
  return new Promise((resolve) => start((err) => resolve(errorFields(err))))
}

/**
 * The first error a quiet client publishes for `connectTo(p)` or `connectToNet(host, port)`
 * (`method`, `...args`), as errorFields; the client is disconnected then.
 */
function clientError(method, ...args) {
  const client = quietIpc()
  return new Promise((resolve) => {
    client[method]('x', ...args, () => {
      client.of.x.on('error', (err) => {
        client.disconnect('x')
        resolve(errorFields(err))
      })
    })
  })
}

/** Runs `code` in a child node.exe with `IMPL` set to the implementation's path. */
function runScript(t, impl, code, options = {}) {
  return spawnNode(t, ['-e', code], { ...options, env: { ...options.env, IMPL: IMPLS[impl] } })
}

module.exports = {
  ROOT,
  IMPLS,
  pipePath,
  pipeName,
  tmpDir,
  once,
  delay,
  withTimeout,
  spawnNode,
  runScript,
  quietIpc,
  startPipeServer,
  errorFields,
  netError,
  clientError,
}
