// The original node-ipc UDPSocket example programs, unchanged (the registry copy shipped in
// @node-ipc/compat@9.2.5), run as child processes against each implementation.
//
// Expectations are what the v9 reference does with this copy (run first and observed):
// only lines that the example code itself logs are matched (through ipc.log, so ANSI colors
// are stripped and the spacing of ipc.log's join is matched loosely), plus exit behaviour:
// a UDP "client" is a UDP server too, so no process ever exits on its own; all are killed.
//
// The examples bind the fixed UDP ports 8000 (world), 8001 (hello) and 8002 (goodbye), so
// every test is serial and holds the cross-process fixed-endpoint lock for its whole run.
// UDP has no connection: a client's first datagram is lost if world is not bound yet, so
// each client starts only once /proc/net/udp shows world's port. Every exchange is a single
// loopback datagram (a few ms); retry settings are unused by UDP.
import { delay } from './helpers/behav-util.mjs'
import { LINE_TIMEOUT, WINDOW, assertRunning, exampleTests } from './helpers/examples.mjs'
import { udpBound } from './helpers/net.mjs'

const PORTS = { world: 8000, hello: 8001, goodbye: 8002 }

const OPTIONS = {
  probe: { up: (port) => udpBound('udp4', port), name: (port) => `udp4 port ${port}` },
  after: (t) => {
    for (const port of Object.values(PORTS))
      t.false(udpBound('udp4', port), `udp4 port ${port} is free again after the kill`)
  },
  lockWait: 240000,
}

async function killed(t, p) {
  const exit = await p.stop()
  t.is(exit.signal, 'SIGTERM', `${p.label} ended by our SIGTERM, not by itself: ${JSON.stringify(exit)}`)
}

/**
 * hello (:8001) sends one datagram to localhost:8000 in its start callback and world replies
 * to the rinfo: `worldGot` and `helloGot` are the lines they log for it. `gotData` is a line
 * hello logs once per message, if it logs one.
 */
const oneDatagramEachWay =
  ({ worldFile, worldGot, helloGot, gotData }) =>
  async (t, { startServer }) => {
    const world = await startServer(worldFile, PORTS.world)
    const hello = await startServer('hello-client.js', PORTS.hello)

    await world.waitFor(worldGot, { timeout: LINE_TIMEOUT })
    await hello.waitFor(helloGot, { timeout: LINE_TIMEOUT })

    await delay(WINDOW)
    assertRunning(t, [world, hello])
    t.is(world.match(/got a message/).length, 1, 'world got exactly one datagram')
    if (gotData) t.is(hello.match(gotData).length, 1, 'hello got exactly one message')
    t.is(hello.match(/got a message from/).length, 1, 'hello got exactly one datagram')
    t.is(
      world.match(/\bError\b|TypeError/, 'stderr').length + hello.match(/\bError\b|TypeError/, 'stderr').length,
      0,
      'no error output',
    )

    // no connection: killing hello is invisible to world
    await killed(t, hello)
    await delay(WINDOW)
    assertRunning(t, [world])
    t.is(world.match(/got a message/).length, 1, 'world saw nothing more')
    await killed(t, world)
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
  OPTIONS,
)

// Multi-Client-Broadcast: hello (:8001) and goodbye (:8002) each send their id; world replies
// to each, and once it has seen both it calls server.broadcast(...), which is a no-op over
// UDP (UDP servers record no peers, in v9 and here): nobody receives "Everybody Loves The
// World!". The registry copy's UDP clients do send an id, so (unlike the stream Multi
// examples) world does broadcast.

exampleTests(
  'UDPSocket/Multi-Client-Broadcast',
  async (t, { startServer }) => {
    const world = await startServer('world-server.js', PORTS.world)
    await world.waitFor(/^123$/, { timeout: LINE_TIMEOUT })
    const hello = await startServer('hello-client.js', PORTS.hello)
    await hello.waitFor(/got a message from\s+world\s+:\s+Hello world!$/, { timeout: LINE_TIMEOUT })
    const goodbye = await startServer('goodbye-client.js', PORTS.goodbye)
    await goodbye.waitFor(/got a message from\s+world\s+:\s+Goodbye world!$/, { timeout: LINE_TIMEOUT })

    await world.waitFor(/got a message from\s+hello\s+:\s+Hello$/, { timeout: LINE_TIMEOUT })
    await world.waitFor(/got a message from\s+goodbye\s+:\s+Goodbye$/, { timeout: LINE_TIMEOUT })
    await world.waitFor(/got all required events, telling evryone how muchg I am loved!$/, { timeout: LINE_TIMEOUT })

    await delay(WINDOW) // the broadcast would take a few ms to arrive
    assertRunning(t, [world, hello, goodbye])
    t.is(world.match(/^123$/).length, 1, "world's start callback ran once")
    t.is(world.match(/got a message from/).length, 2, 'world got exactly two messages')
    t.is(world.match(/got all required events/).length, 1, 'world decided to broadcast once')
    for (const [c, reply] of [
      [hello, 'Hello world!'],
      [goodbye, 'Goodbye world!'],
    ]) {
      t.is(c.match(/^got Data$/).length, 1, `${c.label}: exactly one message`)
      t.deepEqual(
        c.match(/got a message from/).map((l) => l.text.replace(/^.*got a message from\s+world\s+:\s+/, '')),
        [reply],
        `${c.label}: only its own reply`,
      )
      t.is(c.match(/Everybody Loves The World/).length, 0, `${c.label}: the broadcast reached nobody`)
    }

    await Promise.all([killed(t, hello), killed(t, goodbye)])
    assertRunning(t, [world])
    await killed(t, world)
  },
  OPTIONS,
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
  OPTIONS,
)
