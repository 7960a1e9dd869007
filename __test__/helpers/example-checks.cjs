'use strict'

// What the Linux example specs (examples*.spec.mjs, ava, through helpers/examples.mjs) and
// the Windows ones (windows/examples.test.cjs, node:test in node.exe) share: the layout of
// an example's copy, and the checks on the output of the original example programs. Each
// runner keeps its own process wrapper (helpers/proc.mjs's Child, windows/helpers.cjs's
// spawnNode) and its own way to tell that a server is up; the checks see only:
//
//   a        the assertions (helpers/assert-adapter.cjs: ava's `t`, or nodeAsserts)
//   ex       { impl, dir, start(file), startServer(file, ep) } from the runner's withExample
//   ep       an endpoint in the runner's own terms, passed through to startServer
//
// and a process as `label`, `alive`, `exit`, `match(re, stream)`, `waitFor(re, {stream,
// timeout, count})` (the first `count` lines of the timeline, each {stream, text, t}, `t`
// the arrival time on this process's clock), `waitExit(ms)` and `stop()` (resolves with
// {code, signal}).
//
// Only lines that the example code itself logs are matched (through ipc.log, so ANSI
// colours are stripped and the spacing of ipc.log's join is matched loosely), plus exit
// behaviour. Expectations were taken from what the v9 reference does with the registry copy
// of the examples (@node-ipc/compat@9.2.5).
const fs = require('node:fs')
const path = require('node:path')
const { setTimeout: delay } = require('node:timers/promises')

const ROOT = path.resolve(__dirname, '..', '..')
const COMPAT_EXAMPLES = path.join(
  path.dirname(require.resolve('@node-ipc/compat/package.json', { paths: [ROOT] })),
  'example',
)

// Negative assertions watch this long after the last expected line: every exchange in the
// examples is a local round trip of a few ms (plus a handshake over TLS), and the stream
// clients retry 1000-1500 ms apart.
const WINDOW = 1500
const LINE_TIMEOUT = 10000
// The TLS examples' client retry interval (ipc.config.retry = 1500 in every one).
const EXAMPLE_RETRY = 1500

/**
 * Copy one example directory of the compat package, unchanged, into the empty folder `tmp`:
 *   <tmp>/root/example/<dir>/...   the example files (byte-identical copies)
 *   <tmp>/root/node-ipc.js         what require('../../../node-ipc') finds three levels deep
 *   <tmp>/node-ipc.js              what the same string finds from a two-level dir (rawBuffer)
 * Both shims re-export the implementation at `implPath`.
 */
function layOutExample(tmp, implPath, dir) {
  const src = path.join(COMPAT_EXAMPLES, dir)
  const dest = path.join(tmp, 'root', 'example', dir)
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
  return { tmp, dir: dest, files }
}

/** Every process in `procs` must still be running (they only end when killed). */
function assertRunning(a, procs) {
  for (const p of procs) {
    a.true(p.alive, `${p.label} should run until killed, but exited: ${JSON.stringify(p.exit)}`)
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
// Stream examples: the Unix (pipe on Windows), TCP and TLS copies alike

/**
 * basic: one request, one reply, then the client is killed. The message is the string
 * 'hello' without an id, so socket.id stays undefined (prints as '') and the server's
 * socket.disconnected handler logs the id as false.
 */
async function checkBasic(a, { start, startServer }, ep) {
  const server = await startServer('world-server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  await server.waitFor(/got a message from\s+hello$/, { timeout: LINE_TIMEOUT })
  await client.waitFor(/got a message from world :\s+hello world!$/, { timeout: LINE_TIMEOUT })

  await delay(WINDOW)
  assertRunning(a, [server, client])
  a.is(server.match(/got a message from/).length, 1, 'server got exactly one message')
  a.is(client.match(/got a message from world/).length, 1, 'client got exactly one reply')
  a.is(client.match(/## connected to world ##/).length, 1, 'client connected once')
  a.is(client.match(/disconnected from world/).length, 0, 'client never disconnected')
  // the Unix/pipe example has no error handler, so this can only fail over TCP and TLS
  a.is(server.match(/Got an ERROR!/).length, 0, 'no server error event')

  // Killing the client (SIGTERM; TerminateProcess on Windows) ends its connection without a
  // TLS close_notify, which Node's TLS server treats as an ordinary close
  await client.stop()
  await server.waitFor(/DISCONNECTED from\s+false\b/, { timeout: LINE_TIMEOUT })
  await delay(WINDOW)
  assertRunning(a, [server])
  a.is(server.match(/Got an ERROR!/).length, 0, 'no server error event when the client goes away')
}

/**
 * Multi-Client-Broadcast: the registry copy's clients send {message} without an id, so the
 * server keys both under `undefined`, never sees hello and goodbye, and never broadcasts
 * kill.connection; both clients stay connected until killed.
 */
async function checkMultiClientBroadcast(a, { start, startServer }, ep) {
  const server = await startServer('world-server.js', ep)
  const goodbye = start('goodbye-client.js')
  const hello = start('hello-client.js')

  await goodbye.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  await hello.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  await server.waitFor(/got a message from\s+\{ message: 'goodbye' \}$/, { timeout: LINE_TIMEOUT })
  await server.waitFor(/got a message from\s+\{ message: 'hello' \}$/, { timeout: LINE_TIMEOUT })
  await hello.waitFor(/got a message from world :\s+hello world!$/, { timeout: LINE_TIMEOUT })

  await delay(WINDOW)
  assertRunning(a, [server, hello, goodbye])
  a.is(server.match(/got a message from/).length, 2, 'server got exactly two messages')
  a.is(server.match(/got all required events/).length, 0, 'server never decides to broadcast')
  for (const c of [hello, goodbye]) {
    a.is(c.match(/world requested kill\.connection/).length, 0, `${c.label}: no kill.connection`)
    a.is(c.match(/disconnected from world/).length, 0, `${c.label}: never disconnected`)
  }
  a.is(hello.match(/got a message from world/).length, 1, 'hello got exactly one reply')

  await Promise.all([hello.stop(), goodbye.stop()])
  await server.waitFor(/DISCONNECTED from\s+false\b/, { timeout: LINE_TIMEOUT, count: 2 })
  assertRunning(a, [server])
}

/**
 * basicSync: the client (sync=true) queues hello0..hello9 on connect; the server replies to
 * each after a delay. Requests must reach the server one per reply. Only the first three
 * requests are checked, then everything is killed.
 */
async function checkBasicSync(a, { dir, start, startServer }, ep) {
  // the delay is the example's own, so that a change to it cannot pass unnoticed
  const serverSrc = fs.readFileSync(path.join(dir, 'world-server.js'), 'utf8')
  const replyDelay = Number(/\},\s*(\d+)\s*\)/.exec(serverSrc)?.[1])
  a.true(replyDelay >= 1000, `reply delay parsed from the example: ${replyDelay}`)
  const slack = 300 // parent-side timestamp jitter

  const server = await startServer('world-server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  const got = await server.waitFor(/got a message from\s+hello\d$/, {
    timeout: 3 * replyDelay + LINE_TIMEOUT,
    count: 3,
  })
  const received = server.match(/got a message from\s+hello\d$/)
  a.deepEqual(
    got.map((l) => /hello(\d)$/.exec(l.text)[1]),
    ['0', '1', '2'],
    'requests arrive in order',
  )
  a.is(received.length, 3, 'no request beyond hello2 arrived before the third reply was due')

  for (let i = 1; i < 3; i++) {
    const gap = got[i].t - got[i - 1].t
    a.true(
      gap >= replyDelay - slack,
      `hello${i} arrived ${gap}ms after hello${i - 1}; expected >= ~${replyDelay}ms (one request per reply)`,
    )
    a.true(gap < 2 * replyDelay + LINE_TIMEOUT, `hello${i} arrived ${gap}ms after hello${i - 1}; too slow`)
  }
  // The client printed both replies before it sent hello2, but its output travels on its
  // own pipe: wait for it rather than read what has arrived so far.
  const replies = await client.waitFor(/got a message from world :\s+hello\d world!/, {
    timeout: LINE_TIMEOUT,
    count: 2,
  })
  a.is(replies.length, 2, 'client got the replies to hello0 and hello1')
  for (let i = 1; i < 3; i++) {
    // the request follows the reply to the previous one (both arrival times on this
    // process's clock)
    const replyAt = replies[i - 1].t
    const requestAt = got[i].t
    a.true(requestAt >= replyAt - slack, `hello${i} reached the server only after the reply to hello${i - 1}`)
  }
  a.true(/hello0 world!/.test(replies[0].text) && /hello1 world!/.test(replies[1].text), 'replies in order')
  assertRunning(a, [server, client])
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
async function checkRawExchange(a, { start, startServer }, ep, encoding, connectLine) {
  const { serverGot, fromWorld, want, says } = RAW_CONVERSATIONS[encoding]
  const server = await startServer('world.server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  if (connectLine) await server.waitFor(connectLine, { timeout: LINE_TIMEOUT })
  await server.waitFor(serverGot, { timeout: LINE_TIMEOUT })
  await waitBytes(client, fromWorld, want.length)
  a.is(bufferBytes(client, fromWorld), want, says)
  if (encoding === 'ascii') {
    for (const l of client.match(fromWorld)) {
      const m = /<Buffer((?: [0-9a-f]{2})*)>\s+(\S*)$/.exec(l.text)
      a.is(
        Buffer.from(m[1].replace(/ /g, ''), 'hex').toString('ascii'),
        m[2],
        `data.toString() matches the bytes: ${l.text}`,
      )
    }
  }

  await delay(WINDOW)
  assertRunning(a, [server, client])
  if (connectLine) a.is(server.match(connectLine).length, 1, 'one connection')
  a.is(server.match(/got a message/).length, 1, 'server got exactly one data chunk')
  a.is(bufferBytes(client, fromWorld), want, 'nothing more arrived at the client')
}

/**
 * TCPSocket/rawBuffer: the registry copy's server does `ipc.server.of.rawBufferClient` in its
 * 'connect' handler. v9's server has no `of`, so the first connection throws a TypeError
 * that kills the server (exit code 1). The client connected, then keeps retrying forever.
 */
async function checkTcpRawBufferCrash(a, { start, startServer }, ep) {
  const server = await startServer('world.server.js', ep)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  const exit = await server.waitExit(LINE_TIMEOUT)
  a.deepEqual({ code: exit.code, signal: exit.signal }, { code: 1, signal: null }, 'server crashes with exit code 1')
  a.true(
    server.match(/TypeError: Cannot read properties of undefined \(reading 'rawBufferClient'\)/, 'stderr').length > 0,
    'server died of the TypeError from ipc.server.of.rawBufferClient',
  )
  a.true(
    server.match(/ipc\.server\.of\.rawBufferClient|world\.server\.js:\d+/, 'stderr').length > 0,
    'the stack points into the example',
  )

  await delay(WINDOW)
  assertRunning(a, [client])
  a.is(server.match(/got a message/).length, 0, 'server never got data')
  a.is(client.match(/got a message from world/).length, 0, 'client never got data')
}

// ---------------------------------------------------------------------------------------
// TLSSocket/*: the examples find their certificates at
// `<example>/../../../local-node-ipc-certs/...`, where the runners lay out a copy.

/** Every TLS example resolves its certificate paths into local-node-ipc-certs, and `certs` has each. */
function checkTlsCertLayout(a, certs) {
  let seen = 0
  for (const d of fs.readdirSync(path.join(COMPAT_EXAMPLES, 'TLSSocket'))) {
    const full = path.join(COMPAT_EXAMPLES, 'TLSSocket', d)
    if (!fs.statSync(full).isDirectory()) continue
    for (const f of fs.readdirSync(full).filter((x) => x.endsWith('.js'))) {
      const src = fs.readFileSync(path.join(full, f), 'utf8')
      for (const m of src.matchAll(/__dirname \+ "([^"]+)"/g)) {
        a.regex(
          m[1],
          /^\/\.\.\/\.\.\/\.\.\/local-node-ipc-certs\/(server\.pub|client\.pub|private\/(server|client)\.key|private\/dhparam\.pem)$/,
          `${d}/${f}`,
        )
        const rel = m[1].replace('/../../../local-node-ipc-certs/', '')
        a.true(fs.existsSync(path.join(certs, rel)), `the project ships local-node-ipc-certs/${rel}`)
        seen++
      }
    }
  }
  a.true(seen > 0, 'the TLS examples name certificate files')
}

/**
 * basic-most-secure with node-ipc's original certificates (expired 2017, CN DigiNow, no SAN)
 * laid out. Verification is on at both ends, so nothing gets through. v9 prints
 * "## connected to world ##" on every attempt (connect fires before the handshake, and
 * resets the retry count); ours fires it after the handshake (README, "Differences from
 * node-ipc v9") and so never reports a connection.
 */
async function checkMostSecureFailsWithExpiredCerts(a, { impl, start, startServer }, ep) {
  const server = await startServer('world-server.js', ep)
  const client = start('hello-client.js')
  if (impl === 'ref') {
    // a connect line per attempt: see two attempts, so the retry ran
    await client.waitFor(/## connected to world ##/, { timeout: EXAMPLE_RETRY + LINE_TIMEOUT, count: 2 })
  } else {
    // watch three retry intervals: at least two failed attempts
    await delay(3 * EXAMPLE_RETRY)
    a.is(client.match(/## connected to world ##/).length, 0, 'connect never fires for a failed handshake')
  }
  assertRunning(a, [server, client])
  a.is(server.match(/got a message from/).length, 0, 'nothing reached the server')
  a.is(client.match(/got a message from world/).length, 0, 'nothing reached the client')
}

// ---------------------------------------------------------------------------------------
// UDPSocket/*: world binds 8000, hello 8001, goodbye 8002 (`eps` holds the runner's
// endpoints for them, by those names). A UDP "client" is a UDP server too, so no process
// ever exits on its own; all are killed. UDP has no connection: a client's first datagram
// is lost if world is not bound yet, so each client starts only once world's port is bound.
// Every exchange is a single loopback datagram (a few ms); retry settings are unused by UDP.

async function killed(a, p) {
  const exit = await p.stop()
  a.is(exit.signal, 'SIGTERM', `${p.label} ended by our SIGTERM, not by itself: ${JSON.stringify(exit)}`)
}

/**
 * The UDP examples in which hello (:8001) sends one datagram to localhost:8000 in its start
 * callback and world replies to the rinfo: `worldGot` and `helloGot` are the lines they log
 * for it. `gotData` is a line hello logs once per message, if it logs one.
 */
const UDP_ONE_DATAGRAM_EACH_WAY = {
  // hello emits {id:'hello', message:'Hello'}; world replies 'Hello world!'.
  basic: {
    worldFile: 'world-server.js',
    worldGot: /got a message from\s+hello\s+:\s+Hello$/,
    helloGot: /got a message from\s+world\s+:\s+Hello world!$/,
    gotData: /^got Data$/,
  },
  // hello emits 'hello'; world logs the Buffer and replies 'goodbye'. ASCII only, so v9's
  // decode/re-encode loses nothing here.
  rawBuffer: {
    worldFile: 'world.server.js',
    worldGot: /got a message\s+<Buffer 68 65 6c 6c 6f>\s+hello$/,
    helloGot: /got a message from world\s+<Buffer 67 6f 6f 64 62 79 65>\s+goodbye$/,
  },
}

/** UDPSocket/<example>, one of UDP_ONE_DATAGRAM_EACH_WAY. */
async function checkUdpOneDatagramEachWay(a, { startServer }, eps, example) {
  const { worldFile, worldGot, helloGot, gotData } = UDP_ONE_DATAGRAM_EACH_WAY[example]
  const world = await startServer(worldFile, eps.world)
  const hello = await startServer('hello-client.js', eps.hello)

  await world.waitFor(worldGot, { timeout: LINE_TIMEOUT })
  await hello.waitFor(helloGot, { timeout: LINE_TIMEOUT })

  await delay(WINDOW)
  assertRunning(a, [world, hello])
  a.is(world.match(/got a message/).length, 1, 'world got exactly one datagram')
  if (gotData) a.is(hello.match(gotData).length, 1, 'hello got exactly one message')
  a.is(hello.match(/got a message from/).length, 1, 'hello got exactly one datagram')
  a.is(
    world.match(/\bError\b|TypeError/, 'stderr').length + hello.match(/\bError\b|TypeError/, 'stderr').length,
    0,
    'no error output',
  )

  // no connection: killing hello is invisible to world
  await killed(a, hello)
  await delay(WINDOW)
  assertRunning(a, [world])
  a.is(world.match(/got a message/).length, 1, 'world saw nothing more')
  await killed(a, world)
}

/**
 * UDPSocket/Multi-Client-Broadcast: hello (:8001) and goodbye (:8002) each send their id;
 * world replies to each, and once it has seen both it calls server.broadcast(...), which is
 * a no-op over UDP (UDP servers record no peers, in v9 and here): nobody receives
 * "Everybody Loves The World!". The registry copy's UDP clients do send an id, so (unlike
 * the stream Multi examples) world does broadcast.
 */
async function checkUdpMultiClientBroadcast(a, { startServer }, eps) {
  const world = await startServer('world-server.js', eps.world)
  await world.waitFor(/^123$/, { timeout: LINE_TIMEOUT })
  const hello = await startServer('hello-client.js', eps.hello)
  await hello.waitFor(/got a message from\s+world\s+:\s+Hello world!$/, { timeout: LINE_TIMEOUT })
  const goodbye = await startServer('goodbye-client.js', eps.goodbye)
  await goodbye.waitFor(/got a message from\s+world\s+:\s+Goodbye world!$/, { timeout: LINE_TIMEOUT })

  await world.waitFor(/got a message from\s+hello\s+:\s+Hello$/, { timeout: LINE_TIMEOUT })
  await world.waitFor(/got a message from\s+goodbye\s+:\s+Goodbye$/, { timeout: LINE_TIMEOUT })
  await world.waitFor(/got all required events, telling evryone how muchg I am loved!$/, { timeout: LINE_TIMEOUT })

  await delay(WINDOW) // the broadcast would take a few ms to arrive
  assertRunning(a, [world, hello, goodbye])
  a.is(world.match(/^123$/).length, 1, "world's start callback ran once")
  a.is(world.match(/got a message from/).length, 2, 'world got exactly two messages')
  a.is(world.match(/got all required events/).length, 1, 'world decided to broadcast once')
  for (const [c, reply] of [
    [hello, 'Hello world!'],
    [goodbye, 'Goodbye world!'],
  ]) {
    a.is(c.match(/^got Data$/).length, 1, `${c.label}: exactly one message`)
    a.deepEqual(
      c.match(/got a message from/).map((l) => l.text.replace(/^.*got a message from\s+world\s+:\s+/, '')),
      [reply],
      `${c.label}: only its own reply`,
    )
    a.is(c.match(/Everybody Loves The World/).length, 0, `${c.label}: the broadcast reached nobody`)
  }

  await Promise.all([killed(a, hello), killed(a, goodbye)])
  assertRunning(a, [world])
  await killed(a, world)
}

module.exports = {
  COMPAT_EXAMPLES,
  WINDOW,
  LINE_TIMEOUT,
  layOutExample,
  assertRunning,
  bufferBytes,
  checkBasic,
  checkMultiClientBroadcast,
  checkBasicSync,
  checkRawExchange,
  checkTcpRawBufferCrash,
  checkTlsCertLayout,
  checkMostSecureFailsWithExpiredCerts,
  checkUdpOneDatagramEachWay,
  checkUdpMultiClientBroadcast,
}
