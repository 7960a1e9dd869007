// Closing towards a peer that stopped reading gives up within the flush deadline (5 s,
// README "Differences") on every transport and both sides, and the process exits: a client
// that emits about 1 MiB and calls ipc.disconnect(), a server that emits it, ends the
// socket and stops. The peer (this process) never reads; TCP and TLS get 16 MiB, more than
// loopback's buffers take. v9's disconnect destroyed the socket at once, losing what was
// queued, so its client exits at once; its server's socket.end() (a net.Socket's) waits for
// the peer forever, so the server side is not compared. node-ipc-rs first tries to deliver
// what is queued, for at most the deadline.
import test from 'ava'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { spawnNode, assertLoaded } from './helpers/proc.mjs'
import { scenarioEndpoint } from './helpers/net.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const SIDE = path.join(here, 'fixtures', 'stalled', 'side.cjs')
const CERTS = path.join(here, '..', 'local-node-ipc-certs')
const DEADLINE = 5000 // the flush deadline
const SLACK = 3000 // process start, 1 MiB of writes, exit

// A peer that accepts or connects and never reads: its receive buffer fills up.
function stalledServer(t, ep, secure) {
  const onSocket = (socket) => {
    socket.pause()
    socket.on('error', () => {})
  }
  const server = secure
    ? tls.createServer(
        {
          cert: fs.readFileSync(path.join(CERTS, 'server.pub')),
          key: fs.readFileSync(path.join(CERTS, 'private', 'server.key')),
        },
        onSocket,
      )
    : net.createServer(onSocket)
  t.teardown(() => server.close())
  return new Promise((resolve) =>
    server.listen(ep.path ? { path: ep.path } : { port: ep.port, host: '127.0.0.1' }, resolve),
  )
}

function stalledClient(t, ep, secure) {
  const socket = secure
    ? tls.connect({ port: ep.port, host: '127.0.0.1', rejectUnauthorized: false })
    : net.connect(ep.path ? { path: ep.path } : { port: ep.port, host: '127.0.0.1' })
  socket.pause()
  socket.on('error', () => {})
  t.teardown(() => socket.destroy())
}

for (const impl of ['ours', 'ref']) {
  for (const transport of ['unix', 'tcp', 'tls']) {
    for (const role of impl === 'ref' ? ['client'] : ['client', 'server']) {
      test(`[${impl}] ${transport} ${role}: closing towards a peer that stopped reading ends within the deadline`, async (t) => {
        const { env, ep } = await scenarioEndpoint(t, transport === 'unix' ? 'unix' : 'tcp')
        const secure = transport === 'tls'
        if (role === 'client') await stalledServer(t, ep, secure)
        const chunks = transport === 'unix' ? 16 : 256
        const side = spawnNode(SIDE, {
          impl,
          env: { ...env, ROLE: role, TRANSPORT: transport, CERTS, CHUNKS: String(chunks) },
          label: `${impl}:${transport}:${role}`,
        })
        t.teardown(() => side.kill())
        await assertLoaded(t, side, impl)
        if (role === 'server') {
          await side.waitJson((o) => o.ev === 'listening', 10000)
          stalledClient(t, ep, secure)
        }
        await side.waitJson((o) => o.ev === 'closing', 10000)
        const closingAt = Date.now()
        const exit = await side.waitExit(DEADLINE + SLACK)
        t.deepEqual(exit, { code: 0, signal: null }, side.describe())
        t.true(Date.now() - closingAt <= DEADLINE + SLACK)
      })
    }
  }
}
