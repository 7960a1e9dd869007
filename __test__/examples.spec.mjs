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
import checks from './helpers/example-checks.cjs'
import { TCP_WORLD, UNIX_WORLD, exampleTests } from './helpers/examples.mjs'

const { checkBasic, checkBasicSync, checkMultiClientBroadcast, checkRawExchange, checkTcpRawBufferCrash } = checks

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
// the registry copy's server crashes at the first connection (see checkTcpRawBufferCrash)
exampleTests('TCPSocket/rawBuffer', (t, ex) => checkTcpRawBufferCrash(t, ex, TCP_WORLD))
