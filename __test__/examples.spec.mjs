// The original node-ipc example programs, unchanged (the registry copy shipped in
// @node-ipc/compat@9.2.5), run as child processes against each implementation.
//
// Expectations were taken from what the v9 reference does with this copy, which was edited
// in places after node-ipc's own release: its Multi-Client-Broadcast clients send no `id`,
// so kill.connection is never broadcast; its TCPSocket/rawBuffer server uses
// `ipc.server.of` and crashes. Only lines
// that the example code itself logs are matched (through ipc.log, so ANSI colors are
// stripped and the spacing of ipc.log's join is matched loosely), plus exit behaviour.
//
// The examples bind the fixed endpoints /tmp/app.world and 127.0.0.1:8000, so every test is
// serial, holds the cross-process fixed-endpoint lock (helpers/fixed-endpoints.mjs), and
// awaits the exit of all its processes before the next one starts (helpers/examples.mjs).
import { delay } from './helpers/behav-util.mjs'
import {
  LINE_TIMEOUT,
  TCP_WORLD,
  UNIX_WORLD,
  WINDOW,
  assertRunning,
  exampleTests,
  checkBasic,
  checkBasicSync,
  checkMultiClientBroadcast,
  checkRawExchange,
} from './helpers/examples.mjs'

const WORLDS = { unixWindowsSocket: UNIX_WORLD, TCPSocket: TCP_WORLD }

for (const [example, check] of [
  ['basic', checkBasic],
  ['Multi-Client-Broadcast', checkMultiClientBroadcast],
  ['basicSync', checkBasicSync],
]) {
  for (const [transport, world] of Object.entries(WORLDS)) {
    exampleTests(`${transport}/${example}`, (t, ex) => check(t, ex, world))
  }
}

exampleTests('unixWindowsSocket/rawBuffer', (t, ex) => checkRawExchange(t, ex, UNIX_WORLD, 'ascii'))
exampleTests('rawBuffer', (t, ex) => checkRawExchange(t, ex, UNIX_WORLD, 'hex'))

// TCPSocket/rawBuffer: the registry copy's server does `ipc.server.of.rawBufferClient` in its
// 'connect' handler. v9's server has no `of`, so the first connection throws a TypeError
// that kills the server (exit code 1). The client connected, then keeps retrying forever.
exampleTests('TCPSocket/rawBuffer', async (t, { start, startServer }) => {
  const server = await startServer('world.server.js', TCP_WORLD)
  const client = start('hello-client.js')

  await client.waitFor(/## connected to world ##/, { timeout: LINE_TIMEOUT })
  const exit = await server.waitExit(LINE_TIMEOUT)
  t.deepEqual({ code: exit.code, signal: exit.signal }, { code: 1, signal: null }, 'server crashes with exit code 1')
  t.true(
    server.match(/TypeError: Cannot read properties of undefined \(reading 'rawBufferClient'\)/, 'stderr').length > 0,
    'server died of the TypeError from ipc.server.of.rawBufferClient',
  )
  t.true(
    server.match(/ipc\.server\.of\.rawBufferClient|world\.server\.js:\d+/, 'stderr').length > 0,
    'the stack points into the example',
  )

  await delay(WINDOW)
  assertRunning(t, [client])
  t.is(server.match(/got a message/).length, 0, 'server never got data')
  t.is(client.match(/got a message from world/).length, 0, 'client never got data')
})
