// A UDP server flooded with 60 KB datagrams while its handler is slow keeps its memory
// bounded (peak RSS within v9's + 50 MB), answers a normal client during and after the
// flood, and accounts for every datagram: delivered + dropped = sent (the kernel's count,
// Linux), reported as 'error' at most once a second. v9 read everything into memory.
import test from 'ava'
import dgram from 'node:dgram'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnNode, assertLoaded } from './helpers/proc.mjs'
import { delay } from './helpers/behav-util.mjs'
import { freeUdpPorts } from './helpers/net.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const SERVER = path.join(here, 'fixtures', 'udp', 'flood-server.cjs')
const FLOOD_MS = 4000
const FRAME = JSON.stringify({ type: 'flood', data: 'x'.repeat(60000) }) + '\f'
const frame = (type, data) => JSON.stringify({ type, data }) + '\f'

// Sends one datagram and waits for a reply of `type` on the same socket, retrying every
// 200 ms (UDP may drop either way) until `ms` have passed.
async function ask(socket, port, type, data, replyType, ms) {
  const deadline = Date.now() + ms
  return new Promise((resolve) => {
    const onMessage = (msg) => {
      for (const text of msg.toString().split('\f').filter(Boolean)) {
        const parsed = JSON.parse(text)
        if (parsed.type === replyType) {
          clearInterval(timer)
          socket.off('message', onMessage)
          resolve(parsed.data)
        }
      }
    }
    socket.on('message', onMessage)
    const send = () => {
      if (Date.now() > deadline) {
        clearInterval(timer)
        socket.off('message', onMessage)
        resolve(null)
      } else socket.send(frame(type, data), port, '127.0.0.1')
    }
    const timer = setInterval(send, 200)
    send()
  })
}

async function flood(port) {
  const socket = dgram.createSocket('udp4')
  let sent = 0
  let inFlight = 0
  const end = Date.now() + FLOOD_MS
  await new Promise((resolve) => {
    const pump = () => {
      while (inFlight < 16 && Date.now() < end) {
        inFlight++
        socket.send(FRAME, port, '127.0.0.1', (err) => {
          inFlight--
          if (!err) sent++
          if (Date.now() < end) setImmediate(pump)
          else if (inFlight === 0) resolve()
        })
      }
    }
    pump()
  })
  socket.close()
  return sent
}

async function run(t, impl) {
  const [port] = await freeUdpPorts('udp4', 1)
  const server = spawnNode(SERVER, { impl, env: { PORT: String(port) }, label: `${impl}:flood` })
  t.teardown(() => server.kill())
  await assertLoaded(t, server, impl)
  await server.waitJson((o) => o.ev === 'listening', 10000)
  const client = dgram.createSocket('udp4')
  await new Promise((resolve) => client.bind(0, '127.0.0.1', resolve))
  t.teardown(() => client.close())
  t.truthy(await ask(client, port, 'ping', { n: 0 }, 'pong', 3000), 'answers before the flood')
  const flooding = flood(port)
  // A normal client during the flood: the server answers within the flood.
  const during = await ask(client, port, 'ping', { n: 1 }, 'pong', FLOOD_MS - 500)
  const sent = await flooding
  const after = await ask(client, port, 'ping', { n: 2 }, 'pong', 5000)
  // Let the server take what is still queued, then ask what it saw.
  await delay(1000)
  const report = await ask(client, port, 'report', {}, 'report', 5000)
  return { sent, during, after, report }
}

test.serial('UDP flood: bounded memory, answers during and after, every datagram accounted for', async (t) => {
  t.timeout(90000)
  const ref = await run(t, 'ref')
  const ours = await run(t, 'ours')
  t.log(`ref: sent ${ref.sent}, delivered ${ref.report.delivered}, peak RSS ${ref.report.maxRssMB.toFixed(0)} MB`)
  t.log(
    `ours: sent ${ours.sent}, delivered ${ours.report.delivered}, dropped ${ours.report.dropped}, ` +
      `reports ${ours.report.reports.length}, peak RSS ${ours.report.maxRssMB.toFixed(0)} MB`,
  )
  t.truthy(ours.during, 'answered during the flood')
  t.truthy(ours.after, 'answered after the flood')
  t.true(ours.report.maxRssMB <= ref.report.maxRssMB + 50, 'peak RSS within v9 + 50 MB')
  if (process.platform === 'linux') {
    t.is(ours.report.delivered + ours.report.dropped, ours.sent, 'delivered + dropped = sent')
  }
  const times = ours.report.reports.map((r) => r.at)
  for (let i = 1; i < times.length; i++)
    t.true(times[i] - times[i - 1] >= 990, `reports ${times[i] - times[i - 1]} ms apart`)
  t.is(
    ours.report.reports.reduce((sum, r) => sum + r.dropped, 0),
    ours.report.dropped,
    'the reports add up to the count',
  )
})
