// All socket I/O is native: the Rust core opens, reads and writes every socket (README;
// ARCHITECTURE.md, "Layers"), and Node's net, tls and dgram carry no message data (cluster
// workers aside: they accept through Node, then hand the socket over). During a live
// message exchange,
// process.getActiveResourcesInfo() lists no Node socket handle for node-ipc-rs, over Unix
// sockets and TCP. The same probe on a plain node:net exchange and on the v9 reference does
// list them, so the probe is proven able to fail.
//
// Node 20 names (checked with a plain node:net exchange): a Unix server and Unix sockets are
// all 'PipeWrap' (there is no 'PipeServerWrap'), TCP gives 'TCPServerWrap' and
// 'TCPSocketWrap', TLS adds 'TLSWrap' (a JS-level wrapper over a TCPSocketWrap).
// The ava worker itself may hold pipes (stdio / IPC channel), so the probe compares counts
// against a baseline taken just before the exchange. Tests here run serially.
import test from 'ava'
import net from 'node:net'
import path from 'node:path'
import { freePort } from './helpers/net.mjs'
import { loadImpl } from './helpers/impl.mjs'
import { endpoint, withTimeout } from './helpers/behav-util.mjs'

const SOCKET_HANDLES = ['TCPSocketWrap', 'TCPServerWrap', 'PipeWrap', 'PipeServerWrap', 'TLSWrap']

function socketCounts() {
  const counts = Object.fromEntries(SOCKET_HANDLES.map((n) => [n, 0]))
  for (const r of process.getActiveResourcesInfo()) if (r in counts) counts[r]++
  return counts
}
// handle types whose count grew from `base` to `now`
function grown(base, now) {
  const out = {}
  for (const n of SOCKET_HANDLES) if (now[n] > base[n]) out[n] = now[n] - base[n]
  return out
}

// node-ipc exchange (server + client in this process). Probes while the server handles the
// client's message and while the client handles the reply; both with the connection open.
async function ipcExchange(impl, ep) {
  const mod = loadImpl(impl)
  const ipc = new mod.IPC()
  ipc.config.silent = true
  ipc.config.retry = 100
  ipc.config.maxRetries = 20
  const base = socketCounts()
  const probes = {}
  let done
  const finished = new Promise((resolve, reject) => {
    done = { resolve, reject }
  })
  const onStart = () => {
    ipc.server.on('ping', (data, socket) => {
      probes.serverHandling = socketCounts()
      ipc.server.emit(socket, 'pong', { got: data })
    })
    ipc.server.on('error', (e) => done.reject(e))
    const connect = ep.port
      ? (cb) => ipc.connectToNet('n', '127.0.0.1', ep.port, cb)
      : (cb) => ipc.connectTo('n', ep.path, cb)
    connect(() => {
      const c = ipc.of.n
      c.on('connect', () => c.emit('ping', { x: 'é'.repeat(1000) }))
      c.on('pong', (data) => {
        probes.clientHandling = socketCounts()
        done.resolve(data)
      })
    })
  }
  if (ep.port) ipc.serveNet('127.0.0.1', ep.port, onStart)
  else ipc.serve(ep.path, onStart)
  ipc.server.start()
  try {
    const reply = await withTimeout(finished, 10000, `${impl} exchange`)
    return { base, probes, reply }
  } finally {
    // close everything before the next test takes its baseline
    const destroyed = ipc.of.n ? new Promise((r) => ipc.of.n.on('destroy', r)) : Promise.resolve()
    const peerClosed = new Promise((r) => ipc.server.on('socket.disconnected', r))
    ipc.disconnect('n')
    try {
      ipc.server.stop()
    } catch {}
    await withTimeout(Promise.all([destroyed, peerClosed]), 5000, 'client destroy + server peer close').catch(() => {})
  }
}

// The same exchange with plain node:net.
async function netExchange(ep) {
  const base = socketCounts()
  const probes = {}
  let accepted
  const server = net.createServer((s) => {
    accepted = s
    s.on('data', () => {
      probes.serverHandling = socketCounts()
      s.write('pong')
    })
  })
  await new Promise((r) => (ep.port ? server.listen(ep.port, '127.0.0.1', r) : server.listen(ep.path, r)))
  const c = ep.port ? net.connect(ep.port, '127.0.0.1') : net.connect(ep.path)
  c.on('connect', () => c.write('ping'))
  const reply = await withTimeout(
    new Promise((r) =>
      c.on('data', (b) => {
        probes.clientHandling = socketCounts()
        r(b.toString())
      }),
    ),
    10000,
    'net exchange',
  )
  // close everything before the next test takes its baseline
  const closed = [c, accepted].map((s) => new Promise((r) => (s.destroyed ? r() : s.on('close', r))))
  c.destroy()
  accepted.destroy()
  await Promise.all([...closed, new Promise((r) => server.close(r))])
  return { base, probes, reply }
}

for (const transport of ['unix', 'tcp']) {
  test.serial(`[ours] ${transport}: no Node socket handle is active during an exchange`, async (t) => {
    const { base, probes, reply } = await ipcExchange('ours', await endpoint(t, transport))
    t.deepEqual(reply, { got: { x: 'é'.repeat(1000) } })
    t.deepEqual(
      grown(base, probes.serverHandling),
      {},
      `server-side probe: ${JSON.stringify(probes.serverHandling)} vs baseline ${JSON.stringify(base)}`,
    )
    t.deepEqual(
      grown(base, probes.clientHandling),
      {},
      `client-side probe: ${JSON.stringify(probes.clientHandling)} vs baseline ${JSON.stringify(base)}`,
    )
  })

  test.serial(`[control: node:net] ${transport}: the probe sees Node socket handles`, async (t) => {
    const { base, probes, reply } = await netExchange(await endpoint(t, transport))
    t.is(reply, 'pong')
    const g = grown(base, probes.clientHandling)
    if (transport === 'tcp') t.deepEqual(g, { TCPServerWrap: 1, TCPSocketWrap: 2 })
    else t.deepEqual(g, { PipeWrap: 3 }) // server + both ends
  })

  test.serial(`[control: ref] ${transport}: the probe sees the v9 reference's Node sockets`, async (t) => {
    const { base, probes, reply } = await ipcExchange('ref', await endpoint(t, transport))
    t.deepEqual(reply, { got: { x: 'é'.repeat(1000) } })
    for (const p of [probes.serverHandling, probes.clientHandling]) {
      const g = grown(base, p)
      if (transport === 'tcp') t.deepEqual(g, { TCPServerWrap: 1, TCPSocketWrap: 2 })
      else t.deepEqual(g, { PipeWrap: 3 })
    }
  })
}

// UDP is native too: two udp4 servers ping/pong; Node's name is 'UDPWrap'.
async function udpExchange(impl) {
  const mod = loadImpl(impl)
  const a = new mod.IPC()
  const b = new mod.IPC()
  a.config.silent = b.config.silent = true
  const [pa, pb] = [await freePort(), await freePort()]
  const base = { ...socketCounts(), UDPWrap: udpCount() }
  const probes = {}
  let done
  const finished = new Promise((resolve, reject) => {
    done = { resolve, reject }
  })
  a.serveNet('127.0.0.1', pa, 'udp4', () => {})
  a.server.on('ping', (data, rinfo) => {
    probes.serverHandling = { ...socketCounts(), UDPWrap: udpCount() }
    a.server.emit(rinfo, 'pong', { got: data })
  })
  a.server.on('error', (e) => done.reject(e))
  a.server.start()
  b.serveNet('127.0.0.1', pb, 'udp4', () => b.server.emit({ address: '127.0.0.1', port: pa }, 'ping', { x: 1 }))
  b.server.on('pong', (data) => {
    probes.clientHandling = { ...socketCounts(), UDPWrap: udpCount() }
    done.resolve(data)
  })
  b.server.on('error', (e) => done.reject(e))
  b.server.start()
  try {
    return { base, probes, reply: await withTimeout(finished, 10000, `${impl} udp exchange`) }
  } finally {
    for (const s of [a.server, b.server])
      try {
        s.stop()
      } catch {}
  }
}
const udpCount = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length

test.serial('[ours] udp4: no Node socket handle (UDPWrap) is active during an exchange', async (t) => {
  const { base, probes, reply } = await udpExchange('ours')
  t.deepEqual(reply, { got: { x: 1 } })
  for (const p of [probes.serverHandling, probes.clientHandling])
    t.is(p.UDPWrap - base.UDPWrap, 0, JSON.stringify({ base, p }))
})

test.serial("[control: ref] udp4: the probe sees the v9 reference's dgram sockets", async (t) => {
  const { base, probes, reply } = await udpExchange('ref')
  t.deepEqual(reply, { got: { x: 1 } })
  for (const p of [probes.serverHandling, probes.clientHandling])
    t.is(p.UDPWrap - base.UDPWrap, 2, JSON.stringify({ base, p }))
})
