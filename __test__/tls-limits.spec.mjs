// A TLS server's maxConnections counts every accepted socket from accept on, including those
// still in their handshake (v9, a tls.Server, does too), and handshakeTimeout (Node's
// option, through ipc.config.tls) closes a client that never finishes its handshake,
// freeing its slot. (Node 20's tls.Server only reports that timeout, as 'tlsClientError',
// and leaves the TCP connection open, so v9 never frees the slot: ours only.) The peers
// here are plain TCP sockets that never speak TLS.
import test from 'ava'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { delay, IMPL_NAMES, newIpc, track, withTimeout } from './helpers/behav-util.mjs'
import { freePort } from './helpers/net.mjs'

const CERTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'local-node-ipc-certs')
// An accepted socket over the limit is closed within a few ms; wait 100x that.
const WINDOW = 500

async function tlsServer(t, impl, maxConnections, handshakeTimeout) {
  const ipc = track(t, newIpc(impl))
  ipc.config.maxConnections = maxConnections
  ipc.config.tls = {
    public: path.join(CERTS, 'server.pub'),
    private: path.join(CERTS, 'private', 'server.key'),
    handshakeTimeout,
  }
  const port = await freePort()
  ipc.serveNet('127.0.0.1', port, () => {})
  ipc.server.on('error', () => {}) // failed handshakes are reported; not the subject here
  await new Promise((resolve) => {
    ipc.server.on('start', resolve)
    ipc.server.start()
  })
  return port
}

// A plain TCP client that says nothing; `closed` resolves when the server closes it.
function idleClient(t, port) {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  t.teardown(() => socket.destroy())
  const client = { socket, closed: false }
  client.closedAt = new Promise((resolve) =>
    socket.on('close', () => {
      client.closed = true
      resolve(Date.now())
    }),
  )
  return new Promise((resolve) => socket.on('connect', () => resolve(client)))
}

for (const impl of IMPL_NAMES) {
  test.serial(
    `[${impl}] TLS, maxConnections 5: at most 5 sockets stay open, those in a handshake included`,
    async (t) => {
      const port = await tlsServer(t, impl, 5, 60000)
      const clients = []
      for (let i = 0; i < 20; i++) clients.push(await idleClient(t, port))
      await delay(WINDOW)
      t.is(clients.filter((c) => !c.closed).length, 5)
    },
  )
}

{
  const impl = 'ours'
  test.serial(
    `[${impl}] TLS handshakeTimeout 500: an idle client is closed within a second and its slot freed`,
    async (t) => {
      const port = await tlsServer(t, impl, 1, 500)
      const first = await idleClient(t, port)
      const connectedAt = Date.now()
      const closedAt = await withTimeout(first.closedAt, 3000, 'the server closing the idle client')
      t.true(closedAt - connectedAt < 1000, `closed after ${closedAt - connectedAt} ms`)
      const second = await idleClient(t, port)
      await delay(200)
      t.false(second.closed, 'the freed slot takes the next client')
    },
  )
}
