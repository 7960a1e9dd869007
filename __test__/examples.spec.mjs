// The original node-ipc example programs, unchanged (the registry copy shipped in
// @node-ipc/compat@9.2.5, SPEC §10), run as child processes against each implementation.
//
// Expectations were taken from what the v9 reference does with this copy (see the SPEC §10
// note: its Multi-Client-Broadcast clients send no `id`, so kill.connection is never
// broadcast; its TCPSocket/rawBuffer server uses `ipc.server.of` and crashes). Only lines
// that the example code itself logs are matched (through ipc.log, so ANSI colors are
// stripped and the spacing of ipc.log's join is matched loosely), plus exit behaviour.
//
// The examples bind the fixed endpoints /tmp/app.world and 127.0.0.1:8000, so every test is
// serial, holds the cross-process fixed-endpoint lock (helpers/fixed-endpoints.mjs), and
// awaits the exit of all its processes before the next one starts.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { IMPLS } from './helpers/impl.mjs'
import { withFixedEndpoints } from './helpers/fixed-endpoints.mjs'
import {
  COMPAT_EXAMPLES,
  Proc,
  TCP_WORLD,
  UNIX_WORLD,
  assertEndpointFree,
  observe,
  setupExample,
  waitListening,
  assertRunning,
  bufferBytes,
  checkMultiClientBroadcast
} from './helpers/examples.mjs'

// Negative assertions watch this long after the last expected line. Every exchange in these
// examples is a local round trip of a few ms; retries are 1000-1500 ms apart.
const WINDOW = 1500
const LINE_TIMEOUT = 10000
const LOCK_WAIT = 90000

/**
 * Set up `dir` for `impl`, hand the body a `start(file)` function, and make sure all started
 * processes are dead and the temp dir is gone afterwards. On failure, the output of every
 * process is attached with t.log.
 */
function withExample (t, impl, dir, body) {
  // the lock excludes other test files that bind the same fixed endpoints
  t.timeout(60000 + LOCK_WAIT)
  return withFixedEndpoints(() => runExample(t, impl, dir, body), LOCK_WAIT)
}

async function runExample (t, impl, dir, body) {
  const ex = await setupExample(IMPLS[impl], dir)
  const procs = []
  const start = (file) => {
    const p = new Proc(`${dir}/${file} [${impl}]`, [path.join(ex.dir, file)], { cwd: ex.dir })
    procs.push(p)
    return p
  }
  const startServer = async (file, ep) => {
    await assertEndpointFree(ep)
    const server = start(file)
    await waitListening(ep, { proc: server, timeout: LINE_TIMEOUT })
    return server
  }
  try {
    await body({ start, startServer, procs })
  } catch (err) {
    for (const p of procs) t.log(p.tail(80))
    throw err
  } finally {
    await Promise.all(procs.map((p) => p.stop()))
    await ex.cleanup()
  }
}


const hex = (s) => Buffer.from(s).toString('hex')

/** Wait until the `<Buffer ..>` lines matching `re` add up to at least `hexLen` hex digits. */
async function waitBytes (proc, re, hexLen, timeout = LINE_TIMEOUT) {
  const deadline = Date.now() + timeout
  while (bufferBytes(proc, re).length < hexLen) {
    const left = deadline - Date.now()
    if (left <= 0 || !proc.alive) return // the caller's assertion reports what arrived
    await proc.waitFor(re, { timeout: left, count: proc.match(re).length + 1 }).catch(() => {})
  }
}

// ---------------------------------------------------------------------------------------
// basic: one request, one reply

async function basic (t, impl, transport) {
  const ep = transport === 'unixWindowsSocket' ? UNIX_WORLD : TCP_WORLD
  await withExample(t, impl, `${transport}/basic`, async ({ start, startServer }) => {
    const server = await startServer('world-server.js', ep)
    const client = start('hello-client.js')

    await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
    // the message is the string 'hello' without an id, so socket.id stays undefined (prints as '')
    await server.waitFor(/got a message from\s+hello$/, { timeout: LINE_TIMEOUT })
    await client.waitFor(/got a message from world :\s+hello world!$/, { timeout: LINE_TIMEOUT })

    await observe(WINDOW)
    assertRunning(t, [server, client])
    t.is(server.match(/got a message from/).length, 1, 'server got exactly one message')
    t.is(client.match(/got a message from world/).length, 1, 'client got exactly one reply')
    t.is(client.match(/disconnected from world/).length, 0, 'client never disconnected')
    t.is(server.match(/Got an ERROR!/).length, 0, 'no server error event') // TCP example only

    // the client goes away: the server's socket.disconnected handler logs the id, which is
    // false because the client never sent an id
    await client.stop()
    await server.waitFor(/DISCONNECTED from\s+false\b/, { timeout: LINE_TIMEOUT })
    await observe(WINDOW)
    assertRunning(t, [server])
  })
}

test.serial('unixWindowsSocket/basic [ref]', basic, 'ref', 'unixWindowsSocket')
test.serial('unixWindowsSocket/basic [ours]', basic, 'ours', 'unixWindowsSocket')
test.serial('TCPSocket/basic [ref]', basic, 'ref', 'TCPSocket')
test.serial('TCPSocket/basic [ours]', basic, 'ours', 'TCPSocket')

// ---------------------------------------------------------------------------------------
// Multi-Client-Broadcast: the registry copy's clients send {message} without an id, so the
// server keys both under `undefined`, never sees hello+goodbye, and never broadcasts
// kill.connection; both clients stay connected until killed.

async function multi (t, impl, transport) {
  const ep = transport === 'unixWindowsSocket' ? UNIX_WORLD : TCP_WORLD
  await withExample(t, impl, `${transport}/Multi-Client-Broadcast`, async ({ start, startServer }) => {
    const server = await startServer('world-server.js', ep)
    await checkMultiClientBroadcast(t, server, start, { window: WINDOW, lineTimeout: LINE_TIMEOUT })
  })
}

test.serial('unixWindowsSocket/Multi-Client-Broadcast [ref]', multi, 'ref', 'unixWindowsSocket')
test.serial('unixWindowsSocket/Multi-Client-Broadcast [ours]', multi, 'ours', 'unixWindowsSocket')
test.serial('TCPSocket/Multi-Client-Broadcast [ref]', multi, 'ref', 'TCPSocket')
test.serial('TCPSocket/Multi-Client-Broadcast [ours]', multi, 'ours', 'TCPSocket')

// ---------------------------------------------------------------------------------------
// basicSync: the client (sync=true) queues hello0..hello9 on connect; the server replies to
// each after a delay. Requests must reach the server one per reply. Only the first three
// requests are checked, then everything is killed.

async function basicSync (t, impl, transport) {
  const ep = transport === 'unixWindowsSocket' ? UNIX_WORLD : TCP_WORLD
  const dir = `${transport}/basicSync`
  const serverSrc = fs.readFileSync(path.join(COMPAT_EXAMPLES, dir, 'world-server.js'), 'utf8')
  const delay = Number(/\},\s*(\d+)\s*\)/.exec(serverSrc)?.[1])
  t.true(delay >= 1000, `reply delay parsed from the example: ${delay}`)
  const slack = 300 // parent-side timestamp jitter

  await withExample(t, impl, dir, async ({ start, startServer }) => {
    const server = await startServer('world-server.js', ep)
    const client = start('hello-client.js')

    await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
    const got = await server.waitFor(/got a message from\s+hello\d$/, { timeout: 3 * delay + LINE_TIMEOUT, count: 3 })
    const received = server.match(/got a message from\s+hello\d$/)
    t.deepEqual(got.map((l) => /hello(\d)$/.exec(l.text)[1]), ['0', '1', '2'], 'requests arrive in order')
    t.is(received.length, 3, 'no request beyond hello2 arrived before the third reply was due')

    for (let i = 1; i < 3; i++) {
      const gap = got[i].t - got[i - 1].t
      t.true(gap >= delay - slack, `hello${i} arrived ${gap}ms after hello${i - 1}; expected >= ~${delay}ms (one request per reply)`)
      t.true(gap < 2 * delay + LINE_TIMEOUT, `hello${i} arrived ${gap}ms after hello${i - 1}; too slow`)
    }
    // The client printed both replies before it sent hello2, but its output travels on its
    // own pipe: wait for it rather than read what has arrived so far.
    const replies = await client.waitFor(/got a message from world :\s+hello\d world!/, { timeout: LINE_TIMEOUT, count: 2 })
    t.is(replies.length, 2, 'client got the replies to hello0 and hello1')
    for (let i = 1; i < 3; i++) {
      // the request follows the reply to the previous one (same parent clock, Proc t0 differ)
      const replyAt = client.t0 + replies[i - 1].t
      const requestAt = server.t0 + got[i].t
      t.true(requestAt >= replyAt - slack, `hello${i} reached the server only after the reply to hello${i - 1}`)
    }
    t.true(/hello0 world!/.test(replies[0].text) && /hello1 world!/.test(replies[1].text), 'replies in order')
    assertRunning(t, [server, client])
  })
}

test.serial('unixWindowsSocket/basicSync [ref]', basicSync, 'ref', 'unixWindowsSocket')
test.serial('unixWindowsSocket/basicSync [ours]', basicSync, 'ours', 'unixWindowsSocket')
test.serial('TCPSocket/basicSync [ref]', basicSync, 'ref', 'TCPSocket')
test.serial('TCPSocket/basicSync [ours]', basicSync, 'ours', 'TCPSocket')

// ---------------------------------------------------------------------------------------
// rawBuffer (unix, ascii): the server sends 'hello' on connect and 'goodbye' per data chunk;
// the client sends 'hello'. Raw mode has no framing, so the client may see the two server
// writes as one chunk or two: compare the concatenated bytes.

async function rawBufferUnix (t, impl) {
  await withExample(t, impl, 'unixWindowsSocket/rawBuffer', async ({ start, startServer }) => {
    const server = await startServer('world.server.js', UNIX_WORLD)
    const client = start('hello-client.js')
    const want = hex('hello') + hex('goodbye')
    const fromWorld = /got a message from world :\s+<Buffer[ 0-9a-f]*>/

    await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
    await server.waitFor(/got a message\s+<Buffer 68 65 6c 6c 6f>\s+hello$/, { timeout: LINE_TIMEOUT })
    await waitBytes(client, fromWorld, want.length)
    t.is(bufferBytes(client, fromWorld), want, 'client received "hello" then "goodbye" as raw bytes')
    for (const l of client.match(fromWorld)) {
      const m = /<Buffer((?: [0-9a-f]{2})*)>\s+(\S*)$/.exec(l.text)
      t.is(Buffer.from(m[1].replace(/ /g, ''), 'hex').toString('ascii'), m[2], `data.toString() matches the bytes: ${l.text}`)
    }

    await observe(WINDOW)
    assertRunning(t, [server, client])
    t.is(server.match(/got a message/).length, 1, 'server got exactly one data chunk')
    t.is(bufferBytes(client, fromWorld), want, 'nothing more arrived at the client')
  })
}

test.serial('unixWindowsSocket/rawBuffer [ref]', rawBufferUnix, 'ref')
test.serial('unixWindowsSocket/rawBuffer [ours]', rawBufferUnix, 'ours')

// rawBuffer (two levels deep, unix, hex): the server sends [0xaa] on connect and [0x0d,0xee]
// per data chunk; the client sends a 6-byte Buffer.

async function rawBufferHex (t, impl) {
  await withExample(t, impl, 'rawBuffer', async ({ start, startServer }) => {
    const server = await startServer('world.server.js', UNIX_WORLD)
    const client = start('hello-client.js')
    const want = 'aa0dee'
    const fromWorld = /got a message from world :\s+<Buffer[ 0-9a-f]*>$/

    await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
    await server.waitFor(/got a message\s+<Buffer 00 02 00 ff ee cc>$/, { timeout: LINE_TIMEOUT })
    await waitBytes(client, fromWorld, want.length)
    t.is(bufferBytes(client, fromWorld), want, 'client received aa, then 0d ee')

    await observe(WINDOW)
    assertRunning(t, [server, client])
    t.is(server.match(/got a message/).length, 1, 'server got exactly one data chunk')
    t.is(bufferBytes(client, fromWorld), want, 'nothing more arrived at the client')
  })
}

test.serial('rawBuffer [ref]', rawBufferHex, 'ref')
test.serial('rawBuffer [ours]', rawBufferHex, 'ours')

// TCPSocket/rawBuffer: the registry copy's server does `ipc.server.of.rawBufferClient` in its
// 'connect' handler. v9's server has no `of`, so the first connection throws a TypeError
// that kills the server (exit code 1). The client connected, then keeps retrying forever.

async function rawBufferTcp (t, impl) {
  await withExample(t, impl, 'TCPSocket/rawBuffer', async ({ start, startServer }) => {
    const server = await startServer('world.server.js', TCP_WORLD)
    const client = start('hello-client.js')

    await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
    const exit = await server.waitExit(LINE_TIMEOUT)
    t.deepEqual({ code: exit.code, signal: exit.signal }, { code: 1, signal: null }, 'server crashes with exit code 1')
    t.true(
      server.match(/TypeError: Cannot read properties of undefined \(reading 'rawBufferClient'\)/, 'stderr').length > 0,
      'server died of the TypeError from ipc.server.of.rawBufferClient'
    )
    t.true(server.match(/ipc\.server\.of\.rawBufferClient|world\.server\.js:\d+/, 'stderr').length > 0, 'the stack points into the example')

    await observe(WINDOW)
    assertRunning(t, [client])
    t.is(server.match(/got a message/).length, 0, 'server never got data')
    t.is(client.match(/got a message from world/).length, 0, 'client never got data')
  })
}

test.serial('TCPSocket/rawBuffer [ref]', rawBufferTcp, 'ref')
test.serial('TCPSocket/rawBuffer [ours]', rawBufferTcp, 'ours')
