// The original node-ipc UDPSocket example programs, unchanged (the registry copy shipped in
// @node-ipc/compat@9.2.5, SPEC §10), run as child processes against each implementation.
//
// Expectations are what the v9 reference does with this copy (run first and observed):
// only lines that the example code itself logs are matched (through ipc.log, so ANSI colors
// are stripped and the spacing of ipc.log's join is matched loosely), plus exit behaviour:
// a UDP "client" is a UDP server too, so no process ever exits on its own; all are killed.
//
// The examples bind the fixed UDP ports 8000 (world), 8001 (hello) and 8002 (goodbye), so
// every test is serial and holds the cross-process fixed-endpoint lock for its whole run.
// UDP has no connection: a client's first datagram is lost if world is not bound yet, so
// each client starts only once /proc/net/udp shows world's port.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { IMPLS } from './helpers/impl.mjs'
import { Proc, assertRunning, observe, setupExample } from './helpers/examples.mjs'
import { withFixedEndpoints } from './helpers/fixed-endpoints.mjs'

// Negative assertions watch this long after the last expected line. Every exchange in these
// examples is a single loopback datagram (a few ms); retry settings are unused by UDP.
const WINDOW = 1500
const LINE_TIMEOUT = 10000
const PORTS = { world: 8000, hello: 8001, goodbye: 8002 }

const hexPort = (port) => ':' + port.toString(16).toUpperCase().padStart(4, '0')

/** Is a udp4 socket bound on `port` (any address)? Read from /proc/net/udp: no probe datagram. */
function udpBound (port) {
  const want = hexPort(port)
  return fs.readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1).some((line) => {
    const f = line.trim().split(/\s+/)
    return f.length > 2 && f[1].endsWith(want)
  })
}

async function waitUdpBound (port, proc, timeout = LINE_TIMEOUT) {
  const deadline = Date.now() + timeout
  for (;;) {
    if (udpBound(port)) return
    if (!proc.alive) {
      throw new Error(`${proc.name} exited (code=${proc.exitInfo.code} signal=${proc.exitInfo.signal}) before binding udp4 port ${port}`)
    }
    if (Date.now() > deadline) throw new Error(`timeout after ${timeout}ms: nothing bound on udp4 port ${port}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Under the fixed-endpoint lock: set up `dir` for `impl`, hand the body `start(file)` and
 * `startBound(file, port)`, and make sure all processes are dead and the temp dir is gone
 * afterwards. On failure, the output of every process is attached with t.log.
 */
async function withUdpExample (t, impl, dir, body) {
  t.timeout(300000) // includes waiting for the lock held by other example test files
  await withFixedEndpoints(async () => {
    const ex = await setupExample(IMPLS[impl], dir)
    const procs = []
    const start = (file) => {
      const p = new Proc(`${dir}/${file} [${impl}]`, [path.join(ex.dir, file)], { cwd: ex.dir })
      procs.push(p)
      return p
    }
    const startBound = async (file, port) => {
      if (udpBound(port)) throw new Error(`udp4 port ${port} is already bound before the test started`)
      const p = start(file)
      await waitUdpBound(port, p)
      return p
    }
    try {
      await body({ start, startBound })
    } catch (err) {
      for (const p of procs) t.log(p.tail(80))
      throw err
    } finally {
      await Promise.all(procs.map((p) => p.stop()))
      await ex.cleanup()
    }
    for (const port of Object.values(PORTS)) t.false(udpBound(port), `udp4 port ${port} is free again after the kill`)
  })
}


async function killed (t, p) {
  const exit = await p.stop()
  t.is(exit.signal, 'SIGTERM', `${p.name} ended by our SIGTERM, not by itself: ${JSON.stringify(exit)}`)
}

// ---------------------------------------------------------------------------------------
// basic: hello (:8001) emits {id:'hello', message:'Hello'} to localhost:8000 in its start
// callback; world replies to the rinfo with 'Hello world!'.

async function basic (t, impl) {
  await withUdpExample(t, impl, 'UDPSocket/basic', async ({ startBound }) => {
    const world = await startBound('world-server.js', PORTS.world)
    const hello = await startBound('hello-client.js', PORTS.hello)

    await world.waitFor(/got a message from\s+hello\s+:\s+Hello$/, { timeout: LINE_TIMEOUT })
    await hello.waitFor(/got a message from\s+world\s+:\s+Hello world!$/, { timeout: LINE_TIMEOUT })

    await observe(WINDOW)
    assertRunning(t, [world, hello])
    t.is(world.match(/got a message from/).length, 1, 'world got exactly one message')
    t.is(hello.match(/^got Data$/).length, 1, 'hello got exactly one message')
    t.is(hello.match(/got a message from/).length, 1, 'hello logged exactly one reply')
    t.is(world.match(/\bError\b|TypeError/, 'stderr').length + hello.match(/\bError\b|TypeError/, 'stderr').length, 0, 'no error output')

    // no connection: killing hello is invisible to world
    await killed(t, hello)
    await observe(WINDOW)
    assertRunning(t, [world])
    t.is(world.match(/got a message from/).length, 1, 'world saw nothing more')
    await killed(t, world)
  })
}

test.serial('UDPSocket/basic [ref]', basic, 'ref')
test.serial('UDPSocket/basic [ours]', basic, 'ours')

// ---------------------------------------------------------------------------------------
// Multi-Client-Broadcast: hello (:8001) and goodbye (:8002) each send their id; world replies
// to each, and once it has seen both it calls server.broadcast(...), which is a no-op over
// UDP (SPEC §6.6, §12 #12): nobody receives "Everybody Loves The World!". The registry copy's
// UDP clients do send an id, so (unlike the stream Multi examples) world does broadcast.

async function multi (t, impl) {
  await withUdpExample(t, impl, 'UDPSocket/Multi-Client-Broadcast', async ({ startBound }) => {
    const world = await startBound('world-server.js', PORTS.world)
    await world.waitFor(/^123$/, { timeout: LINE_TIMEOUT })
    const hello = await startBound('hello-client.js', PORTS.hello)
    await hello.waitFor(/got a message from\s+world\s+:\s+Hello world!$/, { timeout: LINE_TIMEOUT })
    const goodbye = await startBound('goodbye-client.js', PORTS.goodbye)
    await goodbye.waitFor(/got a message from\s+world\s+:\s+Goodbye world!$/, { timeout: LINE_TIMEOUT })

    await world.waitFor(/got a message from\s+hello\s+:\s+Hello$/, { timeout: LINE_TIMEOUT })
    await world.waitFor(/got a message from\s+goodbye\s+:\s+Goodbye$/, { timeout: LINE_TIMEOUT })
    await world.waitFor(/got all required events, telling evryone how muchg I am loved!$/, { timeout: LINE_TIMEOUT })

    await observe(WINDOW) // the broadcast would take a few ms to arrive
    assertRunning(t, [world, hello, goodbye])
    t.is(world.match(/^123$/).length, 1, "world's start callback ran once")
    t.is(world.match(/got a message from/).length, 2, 'world got exactly two messages')
    t.is(world.match(/got all required events/).length, 1, 'world decided to broadcast once')
    for (const [c, reply] of [[hello, 'Hello world!'], [goodbye, 'Goodbye world!']]) {
      t.is(c.match(/^got Data$/).length, 1, `${c.name}: exactly one message`)
      t.deepEqual(c.match(/got a message from/).map((l) => l.text.replace(/^.*got a message from\s+world\s+:\s+/, '')), [reply],
        `${c.name}: only its own reply`)
      t.is(c.match(/Everybody Loves The World/).length, 0, `${c.name}: the broadcast reached nobody`)
    }

    await Promise.all([killed(t, hello), killed(t, goodbye)])
    assertRunning(t, [world])
    await killed(t, world)
  })
}

test.serial('UDPSocket/Multi-Client-Broadcast [ref]', multi, 'ref')
test.serial('UDPSocket/Multi-Client-Broadcast [ours]', multi, 'ours')

// ---------------------------------------------------------------------------------------
// rawBuffer (ascii): hello (:8001) emits 'hello' to localhost:8000; world logs the Buffer and
// replies 'goodbye' to the rinfo. One datagram each way (ASCII only, so v9's decode/re-encode
// loses nothing here).

async function rawBuffer (t, impl) {
  await withUdpExample(t, impl, 'UDPSocket/rawBuffer', async ({ startBound }) => {
    const world = await startBound('world.server.js', PORTS.world)
    const hello = await startBound('hello-client.js', PORTS.hello)

    await world.waitFor(/got a message\s+<Buffer 68 65 6c 6c 6f>\s+hello$/, { timeout: LINE_TIMEOUT })
    await hello.waitFor(/got a message from world\s+<Buffer 67 6f 6f 64 62 79 65>\s+goodbye$/, { timeout: LINE_TIMEOUT })

    await observe(WINDOW)
    assertRunning(t, [world, hello])
    t.is(world.match(/got a message/).length, 1, 'world got exactly one datagram')
    t.is(hello.match(/got a message from world/).length, 1, 'hello got exactly one datagram')

    await killed(t, hello)
    await killed(t, world)
  })
}

test.serial('UDPSocket/rawBuffer [ref]', rawBuffer, 'ref')
test.serial('UDPSocket/rawBuffer [ours]', rawBuffer, 'ours')
