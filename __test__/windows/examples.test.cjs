'use strict'

// The original node-ipc example programs (the registry copy shipped in @node-ipc/compat@9.2.5),
// unchanged, run in Windows node.exe against each implementation: unixWindowsSocket/* and
// rawBuffer/ (named pipes: /tmp/app.world is \\.\pipe\tmp-app.world), TCPSocket/*, TLSSocket/*
// and UDPSocket/*. The checks on each example's output are the Linux tests' own
// (helpers/example-checks.cjs, which examples*.spec.mjs call too): the same lines, counts,
// windows and exit behaviour, on both implementations.
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
// These local helpers (the socket-table probes, withExample) are the Windows counterparts of
// helpers/net.mjs and helpers/examples.mjs; processes run through helpers.cjs's spawnNode.
const test = require('node:test')
const assert = require('node:assert')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { ROOT, IMPLS, tmpDir, delay, spawnNode } = require('./helpers.cjs')
const { nodeAsserts } = require('../helpers/assert-adapter.cjs')
const checks = require('../helpers/example-checks.cjs')

const { LINE_TIMEOUT, layOutExample } = checks

// A whole test, processes included (basicSync waits for three replies 3 s apart).
const TEST_TIMEOUT = 120000

// The examples' endpoints: v9's default /tmp/app.world becomes this pipe on Windows.
const PIPE_WORLD = { kind: 'pipe', name: '\\\\.\\pipe\\tmp-app.world' }
const TCP_WORLD = { kind: 'tcp', port: 8000 }
const udpPort = (port) => ({ kind: 'udp', port })

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

/** layOutExample (helpers/example-checks.cjs) in a temp folder, with the pipe servers' preload. */
function setupExample(t, implPath, dir) {
  const ex = layOutExample(tmpDir(t), implPath, dir)
  const preload = path.join(ex.tmp, 'example-harness-ready.cjs')
  fs.writeFileSync(preload, READY_PRELOAD)
  return { ...ex, preload }
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
    const p = spawnNode(t, args, {
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

/**
 * `${title} [ref]` then `${title} [ours]`, in order: each runs `check(a, ex)` in withExample,
 * `a` the node:assert adapter the shared checks take (helpers/assert-adapter.cjs).
 */
function exampleTests(dir, check, { title = dir, ...options } = {}) {
  for (const impl of ['ref', 'ours']) {
    test(`${title} [${impl}]`, { timeout: TEST_TIMEOUT }, (t) =>
      withExample(t, impl, dir, (ex) => check(nodeAsserts, ex), options),
    )
  }
}

// ---------------------------------------------------------------------------------------
// unixWindowsSocket/*, rawBuffer/ and TCPSocket/* (examples.spec.mjs)

for (const [example, check] of [
  ['basic', checks.checkBasic],
  ['Multi-Client-Broadcast', checks.checkMultiClientBroadcast],
  ['basicSync', checks.checkBasicSync],
]) {
  for (const [transport, world] of [
    ['unixWindowsSocket', PIPE_WORLD],
    ['TCPSocket', TCP_WORLD],
  ]) {
    exampleTests(`${transport}/${example}`, (a, ex) => check(a, ex, world))
  }
}

exampleTests('unixWindowsSocket/rawBuffer', (a, ex) => checks.checkRawExchange(a, ex, PIPE_WORLD, 'ascii'))
exampleTests('rawBuffer', (a, ex) => checks.checkRawExchange(a, ex, PIPE_WORLD, 'hex'))
// the registry copy's server crashes at the first connection (see checks.checkTcpRawBufferCrash)
exampleTests('TCPSocket/rawBuffer', (a, ex) => checks.checkTcpRawBufferCrash(a, ex, TCP_WORLD))

// ---------------------------------------------------------------------------------------
// TLSSocket/* (examples-tls.spec.mjs): the project's development certificates
// (local-node-ipc-certs/: self-signed, SAN localhost/127.0.0.1/::1, valid) laid out where the
// examples look for them, `<example>/../../../local-node-ipc-certs/...`. basic-local-only
// names no certificate: nothing is laid out and its server falls back to its own package's
// bundled certificates (the reference's expired 2016 ones, ours the project's).

const PROJECT_CERTS = path.join(ROOT, 'local-node-ipc-certs')
const REF_BUNDLED_CERTS = path.join(path.dirname(IMPLS.ref), 'local-node-ipc-certs')

/** withExample options that lay out `certs` (a local-node-ipc-certs folder, or null for none). */
const withCerts = (certs) => ({
  prepare: certs && ((ex) => fs.cpSync(certs, path.join(ex.tmp, 'root', 'local-node-ipc-certs'), { recursive: true })),
})

// every TLS example resolves its certificate paths to <root>/local-node-ipc-certs
test('the TLS example layout finds the certificates', () => checks.checkTlsCertLayout(nodeAsserts, PROJECT_CERTS))

for (const dir of ['basic', 'basic-local-only', 'basic-more-secure', 'basic-most-secure']) {
  const certs = dir === 'basic-local-only' ? null : PROJECT_CERTS
  exampleTests(`TLSSocket/${dir}`, (a, ex) => checks.checkBasic(a, ex, TCP_WORLD), withCerts(certs))
}

exampleTests('TLSSocket/basicSync', (a, ex) => checks.checkBasicSync(a, ex, TCP_WORLD), withCerts(PROJECT_CERTS))
exampleTests(
  'TLSSocket/Multi-Client-Broadcast-basic',
  (a, ex) => checks.checkMultiClientBroadcast(a, ex, TCP_WORLD),
  withCerts(PROJECT_CERTS),
)
// mutual TLS, raw, ascii; the server's connect handler prints "connection detected"
exampleTests(
  'TLSSocket/rawBuffer-only-works-with-most-secure',
  (a, ex) => checks.checkRawExchange(a, ex, TCP_WORLD, 'ascii', /^connection detected$/),
  withCerts(PROJECT_CERTS),
)

// Control: basic-most-secure with node-ipc's original (expired) certificates laid out
// instead: nothing gets through (see checks.checkMostSecureFailsWithExpiredCerts).
exampleTests('TLSSocket/basic-most-secure', (a, ex) => checks.checkMostSecureFailsWithExpiredCerts(a, ex, TCP_WORLD), {
  ...withCerts(REF_BUNDLED_CERTS),
  title: 'TLSSocket/basic-most-secure with the original expired certificates fails',
})

// ---------------------------------------------------------------------------------------
// UDPSocket/* (examples-udp.spec.mjs): world binds 8000, hello 8001, goodbye 8002.

const PORTS = { world: 8000, hello: 8001, goodbye: 8002 }
const UDP_WORLDS = Object.fromEntries(Object.entries(PORTS).map(([name, port]) => [name, udpPort(port)]))

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

exampleTests('UDPSocket/basic', (a, ex) => checks.checkUdpOneDatagramEachWay(a, ex, UDP_WORLDS, 'basic'), UDP_OPTIONS)
exampleTests(
  'UDPSocket/Multi-Client-Broadcast',
  (a, ex) => checks.checkUdpMultiClientBroadcast(a, ex, UDP_WORLDS),
  UDP_OPTIONS,
)
exampleTests(
  'UDPSocket/rawBuffer',
  (a, ex) => checks.checkUdpOneDatagramEachWay(a, ex, UDP_WORLDS, 'rawBuffer'),
  UDP_OPTIONS,
)
