// server.stop() while the server is still binding cancels it: no 'start', and nothing
// listens there afterwards (net.Server#close between listen() and 'listening' does the
// same; v9's bind was synchronous, so that was its only window). The stop is made right
// after start() handed the bind to the core, from a microtask queued by the server's own
// "starting server as" log line, so the bind cannot have been reported yet.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { delay, newIpc, track, tmpDir } from './helpers/behav-util.mjs'
import { freePort } from './helpers/net.mjs'
import { netConnectError } from './helpers/node-errors.mjs'

// The bind takes well under 10 ms here; nothing may start within 30x that.
const WINDOW = 300

async function stopWhileBinding(t, ipc) {
  let started = false
  ipc.server.on('start', () => {
    started = true
  })
  ipc.config.silent = false
  ipc.config.logger = (line) => {
    if (line.startsWith('starting server as')) {
      queueMicrotask(() => ipc.server.stop())
    }
  }
  ipc.server.start()
  await delay(WINDOW)
  t.false(started, "no 'start' after a stop during the bind")
  t.false(ipc.server.server.listening)
}

test('[ours] unix: stop() while binding: no start, no socket file, connections refused', async (t) => {
  const ipc = track(t, newIpc('ours'))
  const sock = path.join(tmpDir(t), 's.sock')
  ipc.serve(sock, () => {})
  await stopWhileBinding(t, ipc)
  t.false(fs.existsSync(sock), 'no socket file')
  const err = await netConnectError({ path: sock })
  t.true(['ENOENT', 'ECONNREFUSED'].includes(err.code), err.code)
})

test('[ours] tcp: stop() while binding: no start, connections refused', async (t) => {
  const ipc = track(t, newIpc('ours'))
  const port = await freePort()
  ipc.serveNet('127.0.0.1', port, () => {})
  await stopWhileBinding(t, ipc)
  const err = await netConnectError({ host: '127.0.0.1', port })
  t.is(err.code, 'ECONNREFUSED')
})

test('[ours] stop() before start() got to the bind cancels the start', async (t) => {
  const ipc = track(t, newIpc('ours'))
  const port = await freePort()
  ipc.serveNet('127.0.0.1', port, () => {})
  let started = false
  ipc.server.on('start', () => {
    started = true
  })
  ipc.server.start()
  t.notThrows(() => ipc.server.stop(), 'v9 threw a TypeError here')
  await delay(WINDOW)
  t.false(started)
  const err = await netConnectError({ host: '127.0.0.1', port })
  t.is(err.code, 'ECONNREFUSED')
})
