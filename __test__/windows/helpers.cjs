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
const COMPAT_EXAMPLES = path.join(
  path.dirname(require.resolve('@node-ipc/compat/package.json', { paths: [ROOT] })),
  'example',
)

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

/**
 * A child node.exe running `file` (or `-e` code when `code` is given), its output collected
 * line by line. `waitFor(re, ms)` resolves with the first line matching `re` (anything with
 * a `test(line)` method); `json()`/`waitJson(pred, ms)` read JSON lines; `waitExit(ms)`
 * with the exit code; `stop()` kills it and waits. Children are killed when the test ends.
 */
function spawnNode(t, args, { cwd, env } = {}) {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines = []
  const waiters = []
  let exited = null
  const onLine = (line) => {
    lines.push(line)
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  }
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk) => {
      const parts = (rest + chunk).split(/\r?\n/)
      rest = parts.pop()
      for (const line of parts) onLine(line)
    })
    stream.on('end', () => rest && onLine(rest))
  }
  const exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal }
      resolve(exited)
    }),
  )
  const handle = {
    child,
    lines,
    output: () => lines.join('\n'),
    waitFor(re, ms = 15000) {
      const seen = lines.find((l) => re.test(l))
      if (seen !== undefined) return Promise.resolve(seen)
      // Timers are cleared once settled: a pending one would keep the test file's
      // process alive after its tests end.
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (line) => {
            clearTimeout(timer)
            resolve(line)
          },
        }
        const timer = setTimeout(() => {
          if (waiters.includes(w)) {
            waiters.splice(waiters.indexOf(w), 1)
            reject(new Error(`no line matching ${re} within ${ms} ms; output:\n${handle.output()}`))
          }
        }, ms)
        waiters.push(w)
      })
    },
    /** The output lines that are JSON objects (fixtures print one a line), parsed. */
    json: () => lines.map(parseJson).filter(Boolean),
    /** The first JSON line `pred` accepts, waiting up to `ms`. */
    async waitJson(pred, ms = 15000) {
      const match = {
        test: (l) => Boolean(parseJson(l) && pred(parseJson(l))),
        toString: () => `a JSON line where ${pred}`,
      }
      return parseJson(await handle.waitFor(match, ms))
    },
    async waitExit(ms = 15000) {
      const r = await withTimeout(exit, ms, () => `still running after ${ms} ms; output:\n${handle.output()}`)
      return r
    },
    async stop() {
      if (!exited) child.kill()
      await exit
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

/** Runs `code` in a child node.exe with `IMPL` set to the implementation's path. */
function runScript(t, impl, code, options = {}) {
  return spawnNode(t, ['-e', code], { ...options, env: { ...options.env, IMPL: IMPLS[impl] } })
}

module.exports = {
  ROOT,
  IMPLS,
  COMPAT_EXAMPLES,
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
}
