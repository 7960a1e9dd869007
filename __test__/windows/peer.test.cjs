'use strict'

// Peer credentials on named pipes (README, "Peer credentials"): a server's socket knows the
// pid of the client process at the other end of the pipe, and a client knows its server's
// (GetNamedPipeClientProcessId / GetNamedPipeServerProcessId, read once at connect). The
// user's SID is there where the token may be read; Wine's tokens are not the point here, so
// only its form is checked when present.
const test = require('node:test')
const assert = require('node:assert')
const { once, pipePath, quietIpc, runScript } = require('./helpers.cjs')

const SID = /^S-1-\d+(-\d+)+$/

test('[ours] a pipe server knows the pid of a client in another process', { timeout: 90000 }, async (t) => {
  const p = pipePath('peer-server')
  const ipc = quietIpc()
  const accepted = new Promise((resolve) => {
    ipc.serve(p, () => ipc.server.on('connect', resolve))
  })
  const started = once(ipc.server, 'start')
  ipc.server.start()
  t.after(() => ipc.server.stop())
  await started
  const child = runScript(
    t,
    'ours',
    `
    const ipc = require(process.env.IMPL)
    ipc.config.silent = true
    ipc.config.maxRetries = 0
    ipc.connectTo('s', ${JSON.stringify(p)}, () => {
      ipc.of.s.on('connect', () => console.log(JSON.stringify({ ev: 'connected', pid: process.pid, peer: ipc.of.s.peer })))
    })
    `,
  )
  const line = await child.waitJson((o) => o.ev === 'connected', 30000)
  const socket = await accepted
  assert.ok(socket.peer, 'the socket has peer credentials')
  assert.strictEqual(socket.peer.pid, line.pid, "the client's pid")
  assert.notStrictEqual(socket.peer.pid, process.pid)
  assert.strictEqual(socket.peer.uid, undefined, 'no uid on Windows')
  if (socket.peer.sid !== undefined) assert.match(socket.peer.sid, SID)
  assert.strictEqual(line.peer.pid, process.pid, "the client sees this server's pid")
  if (line.peer.sid !== undefined) assert.match(line.peer.sid, SID)
})

test('[ours] socketMode is refused on a pipe, with a clear error', { timeout: 90000 }, async () => {
  const ipc = quietIpc()
  ipc.config.socketMode = 0o600
  ipc.serve(pipePath('peer-mode'), () => {})
  const failed = once(ipc.server, 'error')
  ipc.server.start()
  const err = await failed
  assert.strictEqual(err.code, 'ERR_IPC_INVALID_CONFIG')
  assert.match(err.message, /socketMode does not apply to Windows named pipes/)
})
