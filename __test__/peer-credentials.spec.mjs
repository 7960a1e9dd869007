// Peer credentials (node-ipc-rs): an accepted Unix socket knows the process at the other
// end (`socket.peer = {pid, uid, gid}`), read once by the kernel at connect, and so does a
// client of its server (`ipc.of[id].peer`). Both sides run in child processes here, so the
// pid is another process's; the test process is the other side.
import test from 'ava'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadImpl } from './helpers/impl.mjs'
import { spawnScenario, assertLoaded } from './helpers/proc.mjs'
import { freePort, tmpDir } from './helpers/net.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const SCENARIO = path.join(here, 'fixtures', 'peer', 'scenario.cjs')
const LINE_TIMEOUT = 10000

function serve(t, sockPath, onConnect) {
  const { IPC } = loadImpl('ours')
  const ipc = new IPC()
  ipc.config.silent = true
  return new Promise((resolve) => {
    ipc.serve(sockPath, () => {
      ipc.server.on('connect', onConnect)
      resolve(ipc)
    })
    ipc.server.start()
    t.teardown(() => ipc.server.stop())
  })
}

test('[ours] a server knows the pid, uid and gid of a client in another process', async (t) => {
  const sockPath = path.join(tmpDir(t), 's.sock')
  let connected
  const accepted = new Promise((resolve) => {
    connected = resolve
  })
  await serve(t, sockPath, (socket) => connected(socket.peer))
  const child = spawnScenario(t, SCENARIO, 'ours', 'client', { SOCK_PATH: sockPath })
  await assertLoaded(t, child, 'ours')
  const line = await child.waitJson((o) => o.ev === 'connected', LINE_TIMEOUT)
  const peer = await accepted
  t.deepEqual(peer, { pid: line.pid, uid: line.uid, gid: line.gid })
  t.not(peer.pid, process.pid, "the client's pid, not this process's")
})

test('[ours] a client knows the pid, uid and gid of the server it reached', async (t) => {
  const sockPath = path.join(tmpDir(t), 's.sock')
  const server = spawnScenario(t, SCENARIO, 'ours', 'server', { SOCK_PATH: sockPath })
  await assertLoaded(t, server, 'ours')
  const listening = await server.waitJson((o) => o.ev === 'listening', LINE_TIMEOUT)
  const client = spawnScenario(t, SCENARIO, 'ours', 'client', { SOCK_PATH: sockPath })
  const line = await client.waitJson((o) => o.ev === 'connected', LINE_TIMEOUT)
  t.deepEqual(line.peer, { pid: listening.pid, uid: listening.uid, gid: listening.gid })
  const seen = await server.waitJson((o) => o.ev === 'connect', LINE_TIMEOUT)
  t.deepEqual(seen.peer, { pid: line.pid, uid: line.uid, gid: line.gid })
})

test('[ours] network connections carry no peer credentials', async (t) => {
  const { IPC } = loadImpl('ours')
  const server = new IPC()
  const client = new IPC()
  server.config.silent = true
  client.config.silent = true
  client.config.maxRetries = 0
  const port = await freePort()
  const accepted = new Promise((resolve) => {
    server.serveNet('127.0.0.1', port, () => server.server.on('connect', resolve))
    server.server.start()
  })
  t.teardown(() => server.server.stop())
  await new Promise((resolve) => server.server.on('start', resolve))
  const connected = new Promise((resolve) => {
    client.connectToNet('s', '127.0.0.1', port, () => client.of.s.on('connect', resolve))
  })
  t.teardown(() => client.disconnect('s'))
  const socket = await accepted
  await connected
  t.is(socket.peer, undefined)
  t.is(client.of.s.peer, undefined)
})
