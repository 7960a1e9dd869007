'use strict'

// The original node-ipc example programs (the registry copy shipped in @node-ipc/compat@9.2.5),
// unchanged, run in Windows node.exe against each implementation: unixWindowsSocket/* and
// rawBuffer/ (named pipes: /tmp/app.world is \\.\pipe\tmp-app.world), TCPSocket/*, TLSSocket/*
// and UDPSocket/*. The assertions on each example's output are those of the Linux tests
// (examples.spec.mjs, examples-tls.spec.mjs, examples-udp.spec.mjs and helpers/examples.mjs),
// ported: the same lines, counts, windows and exit behaviour, on both implementations.
//
// The examples bind fixed endpoints (the pipe, ports 8000-8002), so the tests run one after
// another (plain sequential test() calls; the runner is started with --test-concurrency=1),
// and every process of a test is dead before the next test starts.
//
// When is a server up? As on Linux, a client starts only once its server listens: a stream
// client that finds nothing logs "disconnected from world", which the assertions forbid, and
// a UDP datagram sent too early is lost. A probe connection would be a client the assertions
// count (the servers log a DISCONNECTED line for it, the rawBuffer servers write to it, and
// TCPSocket/basic allows one connection), so nothing here connects to see. TCP and UDP: the
// system's socket table (under Wine: Linux's /proc/net/* through Wine's Z: drive, as the
// Linux tests read /proc; on Windows: `netstat -ano`; Wine's netstat does not list listening
// TCP sockets). Named pipes: Wine cannot list \\.\pipe\ (readdir fails with UNKNOWN), and the
// servers print nothing once they listen. So a pipe server runs with a preload (`node -r`)
// that prints one stderr line, with the server's path, when `ipc.server.server.listening`
// (net.Server's field in v9) turns true; it only reads that state, adds no listener and no
// connection.
// These local helpers (the process wrapper with streams, timestamps and ANSI stripping, the
// socket-table probes, setupExample) are the Windows counterparts of helpers/proc.mjs,
// helpers/net.mjs and helpers/examples.mjs.
const test = require('node:test')
const assert = require('node:assert')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { ROOT, IMPLS, COMPAT_EXAMPLES, tmpDir, delay } = require('./helpers.cjs')

// Negative assertions watch this long after the last expected line: every exchange in the
// examples is a local round trip of a few ms (plus a handshake over TLS), and the stream
// clients retry 1000-1500 ms apart.
const WINDOW = 1500
const LINE_TIMEOUT = 10000
// A whole test, processes included (basicSync waits for three replies 3 s apart).
const TEST_TIMEOUT = 120000

// The examples' endpoints: v9's default /tmp/app.world becomes this pipe on Windows.
const PIPE_WORLD = { kind: 'pipe', name: '\\\\.\\pipe\\tmp-app.world' }
const TCP_WORLD = { kind: 'tcp', port: 8000 }
const udpPort = (port) => ({ kind: 'udp', port })

// ---------------------------------------------------------------------------------------
// Child processes (the Windows counterpart of helpers/proc.mjs's Child)

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the colour codes it strips
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')

/**
 * A child node.exe: every line of both streams, ANSI colours stripped, with the time it
 * arrived (`timeline`). `waitFor(re, {stream, timeout, count})` resolves with the first
 * `count` matching lines and rejects on timeout or once the process ended without them.
 */
class Proc {
  constructor(args, { cwd, env, label }) {
    this.label = label
    this.t0 = Date.now()
    this.timeline = [] // { stream, text, t }
    this.exit = null
    this.exitAt = null
    this._closed = false
    this._waiters = new Set()
    this.cp = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const partial = { stdout: '', stderr: '' }
    for (const stream of ['stdout', 'stderr']) {
      this.cp[stream].setEncoding('utf8')
      this.cp[stream].on('data', (chunk) => {
        partial[stream] += chunk
        for (let nl = partial[stream].indexOf('\n'); nl !== -1; nl = partial[stream].indexOf('\n')) {
          this._line(stream, partial[stream].slice(0, nl))
          partial[stream] = partial[stream].slice(nl + 1)
        }
        this._check()
      })
    }
    this.cp.on('error', (err) => this._line('stderr', `[spawn error] ${err.message}`))
    this.cp.on('exit', (code, signal) => {
      this.exit = { code, signal }
      this.exitAt = Date.now()
    })
    // 'close' comes after the streams are drained: all lines are in.
    this.cp.on('close', (code, signal) => {
      this.exit ??= { code, signal }
      this.exitAt ??= Date.now()
      for (const stream of ['stdout', 'stderr']) if (partial[stream]) this._line(stream, partial[stream])
      this._closed = true
      this._check()
    })
  }

  _line(stream, line) {
    this.timeline.push({ stream, text: stripAnsi(line.replace(/\r$/, '')), t: Date.now() })
  }

  _check() {
    for (const w of [...this._waiters]) w()
  }

  get alive() {
    return this.exit === null
  }

  match(re, stream = 'stdout') {
    return this.timeline.filter((l) => (stream === 'all' || l.stream === stream) && re.test(l.text))
  }

  waitFor(re, { stream = 'stdout', timeout = LINE_TIMEOUT, count = 1 } = {}) {
    const what = `${count} ${stream} line(s) matched ${re}`
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        this._waiters.delete(check)
      }
      const check = () => {
        const m = this.match(re, stream)
        if (m.length >= count) {
          done()
          resolve(m.slice(0, count))
        } else if (this._closed) {
          done()
          reject(new Error(`${this.label}: exited before ${what}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${this.label}: timeout ${timeout} ms before ${what}`))
      }, timeout)
      this._waiters.add(check)
      check()
    })
  }

  /** {code, signal} once the process ended and its output is drained; rejects after `ms`. */
  waitExit(ms = LINE_TIMEOUT) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!this._closed) return
        clearTimeout(timer)
        this._waiters.delete(check)
        resolve(this.exit)
      }
      const timer = setTimeout(() => {
        this._waiters.delete(check)
        reject(new Error(`${this.label}: still running after ${ms} ms`))
      }, ms)
      this._waiters.add(check)
      check()
    })
  }

  /** SIGTERM (TerminateProcess on Windows), SIGKILL if still running after `grace` ms. */
  async stop(grace = 3000) {
    if (this._closed) return this.exit
    this.cp.kill('SIGTERM')
    try {
      return await this.waitExit(grace)
    } catch {
      this.cp.kill('SIGKILL')
      return this.waitExit(5000).catch(() => this.exit)
    }
  }

  describe(n = 80) {
    const state = this.exit ? `exit ${JSON.stringify(this.exit)} at ${this.exitAt - this.t0} ms` : 'still running'
    const shown = this.timeline
      .slice(-n)
      .map(
        (l) =>
          `${String(l.t - this.t0).padStart(6)} ${l.stream === 'stderr' ? 'ERR' : 'out'}| ${l.text.slice(0, 2000)}`,
      )
    return `--- ${this.label} pid ${this.cp.pid}, ${state}; last ${shown.length} of ${this.timeline.length} lines:\n${shown.join('\n')}`
  }
}

function assertRunning(procs) {
  for (const p of procs) {
    assert.ok(p.alive, `${p.label} should run until killed, but exited: ${JSON.stringify(p.exit)}`)
  }
}

// ---------------------------------------------------------------------------------------
// Is a server up? (the counterpart of isListening / udpBound, see the header)

const hexPort = (port) => port.toString(16).toUpperCase().padStart(4, '0')

/** The lines of Linux's /proc/net/<name> when running under Wine (Z: is /), else null. */
function procNet(name) {
  try {
    return fs.readFileSync(`Z:\\proc\\net\\${name}`, 'utf8').split('\n').slice(1)
  } catch {
    return null
  }
}

function netstat() {
  const r = spawnSync('netstat', ['-ano'], { encoding: 'utf8', timeout: 10000, windowsHide: true })
  if (r.error || r.status !== 0) throw new Error(`netstat -ano failed: ${r.error?.message || r.status}`)
  return r.stdout.split(/\r?\n/)
}

/** Something listens on TCP `port` (any local address, IPv4 or IPv6). */
function tcpListening(port) {
  const tables = ['tcp', 'tcp6'].map(procNet)
  if (tables.some((t) => t)) {
    const want = `:${hexPort(port)}`
    return tables.some((t) =>
      (t || []).some((line) => {
        const f = line.trim().split(/\s+/)
        return f.length > 3 && f[1].endsWith(want) && f[3] === '0A' // 0A = LISTEN
      }),
    )
  }
  return netstat().some((l) => new RegExp(`^\\s*TCP\\s+\\S+:${port}\\s+\\S+\\s+LISTENING\\b`).test(l))
}

/** A udp4 socket is bound to `port`. */
function udpBound(port) {
  const table = procNet('udp')
  if (table) {
    return table.some((line) => {
      const f = line.trim().split(/\s+/)
      return f.length > 2 && f[1].endsWith(`:${hexPort(port)}`)
    })
  }
  return netstat().some((l) => new RegExp(`^\\s*UDP\\s+[0-9.]+:${port}\\s`).test(l))
}

// Loaded with `node -r` by a pipe server: one stderr line once the implementation's server
// handle (ipc.server.server: v9's net.Server, ours' equivalent) reports listening. It reads
// that state every 5 ms and does nothing else; the timer is unref'd.
const READY_PRELOAD = `'use strict'
const ipc = require(process.env.NODE_IPC_EXAMPLE_IMPL)
const timer = setInterval(() => {
  const handle = ipc.server && ipc.server.server
  if (handle && handle.listening) {
    clearInterval(timer)
    process.stderr.write('[example-harness] listening on ' + ipc.server.path + '\\n')
  }
}, 5)
timer.unref()
`
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const READY_LINE = new RegExp(`^\\[example-harness\\] listening on ${escapeRe(PIPE_WORLD.name)}$`)

const describeEndpoint = (ep) => (ep.kind === 'pipe' ? ep.name : `${ep.kind} port ${ep.port}`)

function isUp(ep, server) {
  if (ep.kind === 'pipe') return server.match(READY_LINE, 'stderr').length > 0
  return ep.kind === 'tcp' ? tcpListening(ep.port) : udpBound(ep.port)
}

async function waitListening(ep, server, timeout = LINE_TIMEOUT) {
  const deadline = Date.now() + timeout
  for (;;) {
    if (isUp(ep, server)) return
    if (!server.alive) throw new Error(`${server.label} exited (${JSON.stringify(server.exit)}) before listening`)
    if (Date.now() > deadline)
      throw new Error(`timeout after ${timeout} ms: nothing listening on ${describeEndpoint(ep)}`)
    await delay(20)
  }
}

/** Nothing may listen on `ep` yet (a leftover or foreign process). Pipes: see startServer. */
function assertEndpointFree(ep) {
  if (ep.kind !== 'pipe' && isUp(ep)) {
    throw new Error(`${describeEndpoint(ep)} already has a listener before the test started`)
  }
}

// ---------------------------------------------------------------------------------------
// Example layout and the per-implementation tests (the counterpart of helpers/examples.mjs)

/**
 * Copy one example directory of the compat package, unchanged, into a fresh temp folder:
 *   <tmp>/root/example/<dir>/...   the example files (byte-identical copies)
 *   <tmp>/root/node-ipc.js         what require('../../../node-ipc') finds three levels deep
 *   <tmp>/node-ipc.js              what the same string finds from a two-level dir (rawBuffer)
 * Both shims re-export the implementation under test.
 */
function setupExample(t, implPath, dir) {
  const tmp = tmpDir(t)
  const dest = path.join(tmp, 'root', 'example', dir)
  const src = path.join(COMPAT_EXAMPLES, dir)
  fs.mkdirSync(dest, { recursive: true })
  const files = fs
    .readdirSync(src)
    .filter((f) => f.endsWith('.js'))
    .sort()
  for (const f of files) {
    fs.copyFileSync(path.join(src, f), path.join(dest, f))
    if (!fs.readFileSync(path.join(src, f)).equals(fs.readFileSync(path.join(dest, f)))) {
      throw new Error(`copy of ${dir}/${f} differs from the original`)
    }
  }
  const shim = `module.exports = require(${JSON.stringify(implPath)});\n`
  fs.writeFileSync(path.join(tmp, 'root', 'node-ipc.js'), shim)
  fs.writeFileSync(path.join(tmp, 'node-ipc.js'), shim)
  const preload = path.join(tmp, 'example-harness-ready.cjs')
  fs.writeFileSync(preload, READY_PRELOAD)
  return { tmp, dir: dest, preload }
}

/**
 * Copy example `dir` for `impl` and run `body({ impl, dir, start, startServer })`.
 * `start(file)` runs one of the example's files; `startServer(file, ep)` does so once `ep`
 * is free and resolves when the server is up on it. Afterwards every started process is
 * dead; on failure their output is added to the error. `prepare(ex)` lays out more files
 * first; `after()` checks what the dead processes must not leave behind.
 */
async function withExample(t, impl, dir, body, { prepare, after } = {}) {
  const ex = setupExample(t, IMPLS[impl], dir)
  const procs = []
  const start = (file, { preload = false } = {}) => {
    const args = preload ? ['-r', ex.preload, path.join(ex.dir, file)] : [path.join(ex.dir, file)]
    const p = new Proc(args, {
      cwd: ex.dir,
      env: { NODE_IPC_EXAMPLE_IMPL: IMPLS[impl] },
      label: `${dir}/${file} [${impl}]`,
    })
    procs.push(p)
    return p
  }
  // A pipe cannot be checked for a listener without connecting to it: if something already
  // serves \\.\pipe\tmp-app.world, the example's server fails to bind and never reports
  // listening, and the wait below fails with its output.
  const startServer = async (file, ep) => {
    assertEndpointFree(ep)
    const server = start(file, { preload: ep.kind === 'pipe' })
    await waitListening(ep, server)
    return server
  }
  try {
    if (prepare) prepare(ex)
    await body({ impl, dir: ex.dir, start, startServer })
  } catch (err) {
    err.message += `\n${procs.map((p) => p.describe()).join('\n')}`
    throw err
  } finally {
    await Promise.all(procs.map((p) => p.stop()))
  }
  if (after) await after()
}

/** `${title} [ref]` then `${title} [ours]`, in order: each runs `check(ex)` in withExample. */
function exampleTests(dir, check, { title = dir, ...options } = {}) {
  for (const impl of ['ref', 'ours']) {
    test(`${title} [${impl}]`, { timeout: TEST_TIMEOUT }, (t) => withExample(t, impl, dir, (ex) => check(ex), options))
  }
}

/** Bytes of all `<Buffer ..>` shown in lines matching `re`, concatenated, as hex. */
function bufferBytes(proc, re) {
  return proc
    .match(re)
    .map((l) => {
      const m = /<Buffer((?: [0-9a-f]{2})*)>/.exec(l.text)
      return m ? m[1].replace(/ /g, '') : ''
    })
    .join('')
}

/** Wait until the `<Buffer ..>` lines matching `re` add up to at least `hexLen` hex digits. */
async function waitBytes(proc, re, hexLen, timeout = LINE_TIMEOUT) {
  const deadline = Date.now() + timeout
  while (bufferBytes(proc, re).length < hexLen) {
    const left = deadline - Date.now()
    if (left <= 0 || !proc.alive) return // the caller's assertion reports what arrived
    await proc.waitFor(re, { timeout: left, count: proc.match(re).length + 1 }).catch(() => {})
  }
}

// ---------------------------------------------------------------------------------------
// The scenarios the pipe, TCP and TLS copies of an example share (helpers/examples.mjs)

/**
 * basic: one request, one reply, then the client is killed. The message is the string
 * 'hello' without an id, so socket.id stays undefined (prints as '') and the server's
 * socket.disconnected handler logs the id as false.
 */
async function checkBasic({ start, startServer }, ep) {
  const server = await startServer('world-server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/)
  await server.waitFor(/got a message from\s+hello$/)
  await client.waitFor(/got a message from world :\s+hello world!$/)

  await delay(WINDOW)
  assertRunning([server, client])
  assert.strictEqual(server.match(/got a message from/).length, 1, 'server got exactly one message')
  assert.strictEqual(client.match(/got a message from world/).length, 1, 'client got exactly one reply')
  assert.strictEqual(client.match(/## connected to world ##/).length, 1, 'client connected once')
  assert.strictEqual(client.match(/disconnected from world/).length, 0, 'client never disconnected')
  // the pipe example has no error handler, so this can only fail over TCP and TLS
  assert.strictEqual(server.match(/Got an ERROR!/).length, 0, 'no server error event')

  // killing the client ends its connection without a TLS close_notify, which Node's TLS
  // server treats as an ordinary close
  await client.stop()
  await server.waitFor(/DISCONNECTED from\s+false\b/)
  await delay(WINDOW)
  assertRunning([server])
  assert.strictEqual(server.match(/Got an ERROR!/).length, 0, 'no server error event when the client goes away')
}

/**
 * Multi-Client-Broadcast: the registry copy's clients send {message} without an id, so the
 * server keys both under `undefined`, never sees hello and goodbye, and never broadcasts
 * kill.connection; both clients stay connected until killed.
 */
async function checkMultiClientBroadcast({ start, startServer }, ep) {
  const server = await startServer('world-server.js', ep)
  const goodbye = start('goodbye-client.js')
  const hello = start('hello-client.js')

  await goodbye.waitFor(/## connected to world ##/)
  await hello.waitFor(/## connected to world ##/)
  await server.waitFor(/got a message from\s+\{ message: 'goodbye' \}$/)
  await server.waitFor(/got a message from\s+\{ message: 'hello' \}$/)
  await hello.waitFor(/got a message from world :\s+hello world!$/)

  await delay(WINDOW)
  assertRunning([server, hello, goodbye])
  assert.strictEqual(server.match(/got a message from/).length, 2, 'server got exactly two messages')
  assert.strictEqual(server.match(/got all required events/).length, 0, 'server never decides to broadcast')
  for (const c of [hello, goodbye]) {
    assert.strictEqual(c.match(/world requested kill\.connection/).length, 0, `${c.label}: no kill.connection`)
    assert.strictEqual(c.match(/disconnected from world/).length, 0, `${c.label}: never disconnected`)
  }
  assert.strictEqual(hello.match(/got a message from world/).length, 1, 'hello got exactly one reply')

  await Promise.all([hello.stop(), goodbye.stop()])
  await server.waitFor(/DISCONNECTED from\s+false\b/, { count: 2 })
  assertRunning([server])
}

/**
 * basicSync: the client (sync=true) queues hello0..hello9 on connect; the server replies to
 * each after a delay. Requests must reach the server one per reply. Only the first three
 * requests are checked, then everything is killed.
 */
async function checkBasicSync({ dir, start, startServer }, ep) {
  // the delay is the example's own, so that a change to it cannot pass unnoticed
  const serverSrc = fs.readFileSync(path.join(dir, 'world-server.js'), 'utf8')
  const replyDelay = Number(/\},\s*(\d+)\s*\)/.exec(serverSrc)?.[1])
  assert.ok(replyDelay >= 1000, `reply delay parsed from the example: ${replyDelay}`)
  const slack = 300 // parent-side timestamp jitter

  const server = await startServer('world-server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/)
  const got = await server.waitFor(/got a message from\s+hello\d$/, {
    timeout: 3 * replyDelay + LINE_TIMEOUT,
    count: 3,
  })
  const received = server.match(/got a message from\s+hello\d$/)
  assert.deepStrictEqual(
    got.map((l) => /hello(\d)$/.exec(l.text)[1]),
    ['0', '1', '2'],
    'requests arrive in order',
  )
  assert.strictEqual(received.length, 3, 'no request beyond hello2 arrived before the third reply was due')

  for (let i = 1; i < 3; i++) {
    const gap = got[i].t - got[i - 1].t
    assert.ok(
      gap >= replyDelay - slack,
      `hello${i} arrived ${gap}ms after hello${i - 1}; expected >= ~${replyDelay}ms (one request per reply)`,
    )
    assert.ok(gap < 2 * replyDelay + LINE_TIMEOUT, `hello${i} arrived ${gap}ms after hello${i - 1}; too slow`)
  }
  // The client printed both replies before it sent hello2, but its output travels on its
  // own pipe: wait for it rather than read what has arrived so far.
  const replies = await client.waitFor(/got a message from world :\s+hello\d world!/, { count: 2 })
  assert.strictEqual(replies.length, 2, 'client got the replies to hello0 and hello1')
  for (let i = 1; i < 3; i++) {
    // the request follows the reply to the previous one (both arrival times on this clock)
    const replyAt = replies[i - 1].t
    const requestAt = got[i].t
    assert.ok(requestAt >= replyAt - slack, `hello${i} reached the server only after the reply to hello${i - 1}`)
  }
  assert.ok(/hello0 world!/.test(replies[0].text) && /hello1 world!/.test(replies[1].text), 'replies in order')
  assertRunning([server, client])
}

const hex = (s) => Buffer.from(s).toString('hex')

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
async function checkRawExchange({ start, startServer }, ep, encoding, connectLine) {
  const { serverGot, fromWorld, want, says } = RAW_CONVERSATIONS[encoding]
  const server = await startServer('world.server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/)
  if (connectLine) await server.waitFor(connectLine)
  await server.waitFor(serverGot)
  await waitBytes(client, fromWorld, want.length)
  assert.strictEqual(bufferBytes(client, fromWorld), want, says)
  if (encoding === 'ascii') {
    for (const l of client.match(fromWorld)) {
      const m = /<Buffer((?: [0-9a-f]{2})*)>\s+(\S*)$/.exec(l.text)
      assert.strictEqual(
        Buffer.from(m[1].replace(/ /g, ''), 'hex').toString('ascii'),
        m[2],
        `data.toString() matches the bytes: ${l.text}`,
      )
    }
  }

  await delay(WINDOW)
  assertRunning([server, client])
  if (connectLine) assert.strictEqual(server.match(connectLine).length, 1, 'one connection')
  assert.strictEqual(server.match(/got a message/).length, 1, 'server got exactly one data chunk')
  assert.strictEqual(bufferBytes(client, fromWorld), want, 'nothing more arrived at the client')
}

// ---------------------------------------------------------------------------------------
// unixWindowsSocket/*, rawBuffer/ and TCPSocket/* (examples.spec.mjs)

for (const [example, check] of [
  ['basic', checkBasic],
  ['Multi-Client-Broadcast', checkMultiClientBroadcast],
  ['basicSync', checkBasicSync],
]) {
  for (const [transport, world] of [
    ['unixWindowsSocket', PIPE_WORLD],
    ['TCPSocket', TCP_WORLD],
  ]) {
    exampleTests(`${transport}/${example}`, (ex) => check(ex, world))
  }
}

exampleTests('unixWindowsSocket/rawBuffer', (ex) => checkRawExchange(ex, PIPE_WORLD, 'ascii'))
exampleTests('rawBuffer', (ex) => checkRawExchange(ex, PIPE_WORLD, 'hex'))

// TCPSocket/rawBuffer: the registry copy's server does `ipc.server.of.rawBufferClient` in its
// 'connect' handler. v9's server has no `of`, so the first connection throws a TypeError
// that kills the server (exit code 1). The client connected, then keeps retrying forever.
exampleTests('TCPSocket/rawBuffer', async ({ start, startServer }) => {
  const server = await startServer('world.server.js', TCP_WORLD)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/)
  const exit = await server.waitExit(LINE_TIMEOUT)
  assert.deepStrictEqual(
    { code: exit.code, signal: exit.signal },
    { code: 1, signal: null },
    'server crashes with exit code 1',
  )
  assert.ok(
    server.match(/TypeError: Cannot read properties of undefined \(reading 'rawBufferClient'\)/, 'stderr').length > 0,
    'server died of the TypeError from ipc.server.of.rawBufferClient',
  )
  assert.ok(
    server.match(/ipc\.server\.of\.rawBufferClient|world\.server\.js:\d+/, 'stderr').length > 0,
    'the stack points into the example',
  )

  await delay(WINDOW)
  assertRunning([client])
  assert.strictEqual(server.match(/got a message/).length, 0, 'server never got data')
  assert.strictEqual(client.match(/got a message from world/).length, 0, 'client never got data')
})

// ---------------------------------------------------------------------------------------
// TLSSocket/* (examples-tls.spec.mjs): the project's development certificates
// (local-node-ipc-certs/: self-signed, SAN localhost/127.0.0.1/::1, valid) laid out where the
// examples look for them, `<example>/../../../local-node-ipc-certs/...`. basic-local-only
// names no certificate: nothing is laid out and its server falls back to its own package's
// bundled certificates (the reference's expired 2016 ones, ours the project's).

// The examples' client retry interval (ipc.config.retry = 1500 in every TLS example).
const EXAMPLE_RETRY = 1500
const PROJECT_CERTS = path.join(ROOT, 'local-node-ipc-certs')
const REF_BUNDLED_CERTS = path.join(path.dirname(IMPLS.ref), 'local-node-ipc-certs')

/** withExample options that lay out `certs` (a local-node-ipc-certs folder, or null for none). */
const withCerts = (certs) => ({
  prepare: certs && ((ex) => fs.cpSync(certs, path.join(ex.tmp, 'root', 'local-node-ipc-certs'), { recursive: true })),
})

test('the TLS example layout finds the certificates', () => {
  // every TLS example resolves its certificate paths to <root>/local-node-ipc-certs
  let seen = 0
  for (const d of fs.readdirSync(path.join(COMPAT_EXAMPLES, 'TLSSocket'))) {
    const full = path.join(COMPAT_EXAMPLES, 'TLSSocket', d)
    if (!fs.statSync(full).isDirectory()) continue
    for (const f of fs.readdirSync(full).filter((x) => x.endsWith('.js'))) {
      const src = fs.readFileSync(path.join(full, f), 'utf8')
      for (const m of src.matchAll(/__dirname \+ "([^"]+)"/g)) {
        assert.match(
          m[1],
          /^\/\.\.\/\.\.\/\.\.\/local-node-ipc-certs\/(server\.pub|client\.pub|private\/(server|client)\.key|private\/dhparam\.pem)$/,
          `${d}/${f}`,
        )
        const rel = m[1].replace('/../../../local-node-ipc-certs/', '')
        assert.ok(fs.existsSync(path.join(PROJECT_CERTS, rel)), `the project ships local-node-ipc-certs/${rel}`)
        seen++
      }
    }
  }
  assert.ok(seen > 0, 'the TLS examples name certificate files')
})

for (const dir of ['basic', 'basic-local-only', 'basic-more-secure', 'basic-most-secure']) {
  const certs = dir === 'basic-local-only' ? null : PROJECT_CERTS
  exampleTests(`TLSSocket/${dir}`, (ex) => checkBasic(ex, TCP_WORLD), withCerts(certs))
}

exampleTests('TLSSocket/basicSync', (ex) => checkBasicSync(ex, TCP_WORLD), withCerts(PROJECT_CERTS))
exampleTests(
  'TLSSocket/Multi-Client-Broadcast-basic',
  (ex) => checkMultiClientBroadcast(ex, TCP_WORLD),
  withCerts(PROJECT_CERTS),
)
// mutual TLS, raw, ascii; the server's connect handler prints "connection detected"
exampleTests(
  'TLSSocket/rawBuffer-only-works-with-most-secure',
  (ex) => checkRawExchange(ex, TCP_WORLD, 'ascii', /^connection detected$/),
  withCerts(PROJECT_CERTS),
)

// Control: basic-most-secure with node-ipc's original certificates (expired 2017, CN
// DigiNow, no SAN) laid out instead. Verification is on at both ends, so nothing gets
// through. v9 prints "## connected to world ##" on every attempt (connect fires before the
// handshake, and resets the retry count); ours fires it after the handshake (README,
// "Differences from node-ipc v9") and so never reports a connection.
exampleTests(
  'TLSSocket/basic-most-secure',
  async ({ impl, start, startServer }) => {
    const server = await startServer('world-server.js', TCP_WORLD)
    const client = start('hello-client.js')
    if (impl === 'ref') {
      // a connect line per attempt: see two attempts, so the retry ran
      await client.waitFor(/## connected to world ##/, { timeout: EXAMPLE_RETRY + LINE_TIMEOUT, count: 2 })
    } else {
      // watch three retry intervals: at least two failed attempts
      await delay(3 * EXAMPLE_RETRY)
      assert.strictEqual(
        client.match(/## connected to world ##/).length,
        0,
        'connect never fires for a failed handshake',
      )
    }
    assertRunning([server, client])
    assert.strictEqual(server.match(/got a message from/).length, 0, 'nothing reached the server')
    assert.strictEqual(client.match(/got a message from world/).length, 0, 'nothing reached the client')
  },
  {
    ...withCerts(REF_BUNDLED_CERTS),
    title: 'TLSSocket/basic-most-secure with the original expired certificates fails',
  },
)

// ---------------------------------------------------------------------------------------
// UDPSocket/* (examples-udp.spec.mjs): a UDP "client" is a UDP server too, so no process
// ever exits on its own; all are killed. world binds 8000, hello 8001, goodbye 8002. UDP has
// no connection: a client's first datagram is lost if world is not bound yet, so each client
// starts only once world's port is bound.

const PORTS = { world: 8000, hello: 8001, goodbye: 8002 }

// Under Wine a killed process is reported ended (its 'exit' and 'close') a few ms before its
// Unix process has closed its sockets: a plain dgram socket in a killed node.exe stayed in
// /proc/net/udp for 5-12 ms after 'close'. So the ports must be free again within a bounded
// poll rather than at the very moment of the exit.
const PORTS_FREED_WITHIN = 2000

const UDP_OPTIONS = {
  after: async () => {
    const deadline = Date.now() + PORTS_FREED_WITHIN
    while (Object.values(PORTS).some(udpBound) && Date.now() < deadline) await delay(10)
    for (const port of Object.values(PORTS)) {
      assert.strictEqual(
        udpBound(port),
        false,
        `udp4 port ${port} is free again within ${PORTS_FREED_WITHIN} ms of the kill`,
      )
    }
  },
}

async function killed(p) {
  const exit = await p.stop()
  assert.strictEqual(exit.signal, 'SIGTERM', `${p.label} ended by our SIGTERM, not by itself: ${JSON.stringify(exit)}`)
}

/**
 * hello (:8001) sends one datagram to localhost:8000 in its start callback and world replies
 * to the rinfo: `worldGot` and `helloGot` are the lines they log for it. `gotData` is a line
 * hello logs once per message, if it logs one.
 */
const oneDatagramEachWay =
  ({ worldFile, worldGot, helloGot, gotData }) =>
  async ({ startServer }) => {
    const world = await startServer(worldFile, udpPort(PORTS.world))
    const hello = await startServer('hello-client.js', udpPort(PORTS.hello))

    await world.waitFor(worldGot)
    await hello.waitFor(helloGot)

    await delay(WINDOW)
    assertRunning([world, hello])
    assert.strictEqual(world.match(/got a message/).length, 1, 'world got exactly one datagram')
    if (gotData) assert.strictEqual(hello.match(gotData).length, 1, 'hello got exactly one message')
    assert.strictEqual(hello.match(/got a message from/).length, 1, 'hello got exactly one datagram')
    assert.strictEqual(
      world.match(/\bError\b|TypeError/, 'stderr').length + hello.match(/\bError\b|TypeError/, 'stderr').length,
      0,
      'no error output',
    )

    // no connection: killing hello is invisible to world
    await killed(hello)
    await delay(WINDOW)
    assertRunning([world])
    assert.strictEqual(world.match(/got a message/).length, 1, 'world saw nothing more')
    await killed(world)
  }

// basic: hello emits {id:'hello', message:'Hello'}; world replies 'Hello world!'.
exampleTests(
  'UDPSocket/basic',
  oneDatagramEachWay({
    worldFile: 'world-server.js',
    worldGot: /got a message from\s+hello\s+:\s+Hello$/,
    helloGot: /got a message from\s+world\s+:\s+Hello world!$/,
    gotData: /^got Data$/,
  }),
  UDP_OPTIONS,
)

// Multi-Client-Broadcast: hello (:8001) and goodbye (:8002) each send their id; world replies
// to each, and once it has seen both it calls server.broadcast(...), which is a no-op over
// UDP (UDP servers record no peers, in v9 and here): nobody receives "Everybody Loves The
// World!". The registry copy's UDP clients do send an id, so (unlike the stream Multi
// examples) world does broadcast.
exampleTests(
  'UDPSocket/Multi-Client-Broadcast',
  async ({ startServer }) => {
    const world = await startServer('world-server.js', udpPort(PORTS.world))
    await world.waitFor(/^123$/)
    const hello = await startServer('hello-client.js', udpPort(PORTS.hello))
    await hello.waitFor(/got a message from\s+world\s+:\s+Hello world!$/)
    const goodbye = await startServer('goodbye-client.js', udpPort(PORTS.goodbye))
    await goodbye.waitFor(/got a message from\s+world\s+:\s+Goodbye world!$/)

    await world.waitFor(/got a message from\s+hello\s+:\s+Hello$/)
    await world.waitFor(/got a message from\s+goodbye\s+:\s+Goodbye$/)
    await world.waitFor(/got all required events, telling evryone how muchg I am loved!$/)

    await delay(WINDOW) // the broadcast would take a few ms to arrive
    assertRunning([world, hello, goodbye])
    assert.strictEqual(world.match(/^123$/).length, 1, "world's start callback ran once")
    assert.strictEqual(world.match(/got a message from/).length, 2, 'world got exactly two messages')
    assert.strictEqual(world.match(/got all required events/).length, 1, 'world decided to broadcast once')
    for (const [c, reply] of [
      [hello, 'Hello world!'],
      [goodbye, 'Goodbye world!'],
    ]) {
      assert.strictEqual(c.match(/^got Data$/).length, 1, `${c.label}: exactly one message`)
      assert.deepStrictEqual(
        c.match(/got a message from/).map((l) => l.text.replace(/^.*got a message from\s+world\s+:\s+/, '')),
        [reply],
        `${c.label}: only its own reply`,
      )
      assert.strictEqual(c.match(/Everybody Loves The World/).length, 0, `${c.label}: the broadcast reached nobody`)
    }

    await Promise.all([killed(hello), killed(goodbye)])
    assertRunning([world])
    await killed(world)
  },
  UDP_OPTIONS,
)

// rawBuffer (ascii): hello emits 'hello'; world logs the Buffer and replies 'goodbye'. ASCII
// only, so v9's decode/re-encode loses nothing here.
exampleTests(
  'UDPSocket/rawBuffer',
  oneDatagramEachWay({
    worldFile: 'world.server.js',
    worldGot: /got a message\s+<Buffer 68 65 6c 6c 6f>\s+hello$/,
    helloGot: /got a message from world\s+<Buffer 67 6f 6f 64 62 79 65>\s+goodbye$/,
  }),
  UDP_OPTIONS,
)
