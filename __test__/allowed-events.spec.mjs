// ipc.config.allowedEvents (node-ipc-rs; README, "Securing a server"): frames whose type
// is not listed are dropped with an 'error' (ERR_IPC_EVENT_NOT_ALLOWED) and never reach a
// handler; listed types arrive as before. Frames on one connection arrive in order, so a
// listed frame sent after an unlisted one proves the unlisted one was handled (dropped)
// first: no observation window is needed. v9 has no such option and dispatches every type.
import test from 'ava'
import dgram from 'node:dgram'
import { freeUdpPorts, udpBound } from './helpers/net.mjs'
import {
  connectClient,
  endpoint,
  newIpc,
  once,
  rawClient,
  Recorder,
  startServer,
  track,
  until,
  delay,
} from './helpers/behav-util.mjs'

const frame = (type, data) => `${JSON.stringify({ type, data })}\f`
const args = (rec, type) => rec.of(type).map((r) => r.args)

// A server answering 'request' with 'reply'; every event it sees is recorded.
async function allowListServer(t, impl, transport, cfg) {
  const ipc = track(t, newIpc(impl, cfg))
  const ep = await endpoint(t, transport)
  const rec = new Recorder()
  const server = await startServer(ipc, ep, () => {
    ipc.server.on('request', (data, socket) => {
      rec.push('request', [data])
      ipc.server.emit(socket, 'reply', data)
    })
    ipc.server.on('evil', (data) => rec.push('evil', [data]))
    ipc.server.on('error', (err, socket) => rec.push('error', [err, socket]))
  })
  return { ipc, ep, rec, server }
}

for (const transport of ['unix', 'tcp']) {
  test(`[ours] ${transport}: an unlisted event never reaches its handler; a listed one is answered`, async (t) => {
    const { ep, rec, ipc } = await allowListServer(t, 'ours', transport, { allowedEvents: ['request'] })
    const raw = await rawClient(t, ep)
    // One write: both frames come in one read, as a hostile peer would send them.
    raw.socket.write(frame('evil', { id: 'labelled' }) + frame('request', { n: 1 }))
    await raw.sink.waitFor((b) => b.includes(frame('reply', { n: 1 })), 5000, 'the reply')
    t.deepEqual(args(rec, 'evil'), [], 'the unlisted event was not dispatched')
    const [[err, socket]] = args(rec, 'error')
    t.is(err.code, 'ERR_IPC_EVENT_NOT_ALLOWED')
    t.is(err.type, 'evil')
    t.regex(err.message, /"evil" is not in ipc\.config\.allowedEvents/)
    t.is(socket, ipc.server.sockets[0], 'the error names the socket it came from')
    t.is(socket.id, undefined, "a dropped frame's data.id does not label the socket")
    t.deepEqual(args(rec, 'request'), [[{ n: 1 }]])
  })
}

test('[ref] v9 has no allow-list: every event type is dispatched', async (t) => {
  const { ep, rec } = await allowListServer(t, 'ref', 'unix', { allowedEvents: ['request'] })
  const raw = await rawClient(t, ep)
  raw.socket.write(frame('evil', { n: 0 }) + frame('request', { n: 1 }))
  await raw.sink.waitFor((b) => b.includes(frame('reply', { n: 1 })), 5000, 'the reply')
  t.deepEqual(args(rec, 'evil'), [[{ n: 0 }]])
})

test('[ours] a non-string type and a huge type are refused with a bounded message', async (t) => {
  const { ep, rec } = await allowListServer(t, 'ours', 'unix', { allowedEvents: ['request'] })
  const raw = await rawClient(t, ep)
  const huge = 'x'.repeat(100_000)
  raw.socket.write(`${JSON.stringify({ type: 7, data: 1 })}\f${frame(huge, 2)}${frame('request', { n: 1 })}`)
  await raw.sink.waitFor((b) => b.includes(frame('reply', { n: 1 })), 5000, 'the reply')
  const errors = args(rec, 'error').map(([err]) => err)
  t.deepEqual(
    errors.map((e) => e.code),
    ['ERR_IPC_EVENT_NOT_ALLOWED', 'ERR_IPC_EVENT_NOT_ALLOWED'],
  )
  t.is(errors[0].type, 7)
  t.is(errors[1].type, huge, 'the whole type is on the error')
  t.true(errors[1].message.length < 200, 'the message quotes at most 100 characters of it')
})

// A client allowing only 'reply', connected to a server that answers each 'request' with
// an unlisted 'evil' frame first, then the 'reply'; `rec` records the client's `types`.
async function clientOfEvilServer(t, cfg, types) {
  const server = track(t, newIpc('ours'))
  const ep = await endpoint(t, 'unix')
  await startServer(server, ep, () => {
    server.server.on('request', (data, socket) => {
      server.server.emit(socket, 'evil', data)
      server.server.emit(socket, 'reply', data)
    })
  })
  const client = track(t, newIpc('ours', { allowedEvents: ['reply'], stopRetrying: true, ...cfg }))
  const c = connectClient(client, 's', ep)
  return { client, c, rec: new Recorder().attach(c, types) }
}

test('[ours] a client drops unlisted events from its server and keeps its sync queue waiting', async (t) => {
  const { c, rec } = await clientOfEvilServer(t, { sync: true }, ['evil', 'error', 'reply'])
  await once(c, 'connect')
  c.emit('request', { n: 1 })
  c.emit('request', { n: 2 })
  await rec.waitCount('reply', 2, 5000)
  t.deepEqual(
    args(rec, 'reply').map(([d]) => d.n),
    [1, 2],
  )
  t.deepEqual(args(rec, 'evil'), [])
  t.deepEqual(
    args(rec, 'error').map(([err]) => [err.code, err.type]),
    [
      ['ERR_IPC_EVENT_NOT_ALLOWED', 'evil'],
      ['ERR_IPC_EVENT_NOT_ALLOWED', 'evil'],
    ],
  )
})

test('[ours] a UDP server applies the allow-list to datagrams', async (t) => {
  const ipc = track(t, newIpc('ours', { allowedEvents: ['request'] }))
  const rec = new Recorder()
  const [port] = await freeUdpPorts('udp4')
  ipc.serveNet('127.0.0.1', port, 'udp4', () => {
    ipc.server.on('request', (data) => rec.push('request', [data]))
    ipc.server.on('evil', (data) => rec.push('evil', [data]))
    ipc.server.on('error', (err) => rec.push('error', [err]))
  })
  await startServerEvent(ipc.server)
  // v9 publishes UDP's 'start' before the bind completes; wait until the port is bound.
  await until(() => udpBound('udp4', port), 5000, 10, 'the UDP bind')
  const sock = dgram.createSocket('udp4')
  t.teardown(() => sock.close())
  sock.send(frame('evil', 1) + frame('request', { n: 1 }), port, '127.0.0.1')
  await rec.waitCount('request', 1, 5000)
  t.deepEqual(args(rec, 'evil'), [])
  t.deepEqual(
    args(rec, 'error').map(([err]) => err.code),
    ['ERR_IPC_EVENT_NOT_ALLOWED'],
  )
})

function startServerEvent(server) {
  const started = once(server, 'start', 5000)
  server.start()
  return started
}

test('[ours] allowedEvents with rawBuffer is refused: server error, client throws', async (t) => {
  const ipc = track(t, newIpc('ours', { rawBuffer: true, allowedEvents: ['request'] }))
  const ep = await endpoint(t, 'unix')
  const errors = []
  ipc.serve(ep.path, () => {})
  ipc.server.on('error', (err) => errors.push(err))
  ipc.server.on('start', () => errors.push('started'))
  const failed = once(ipc.server, 'error')
  ipc.server.start()
  await failed
  // A start would follow the bind within milliseconds; 300 ms is far more than 3x that.
  await delay(300)
  t.is(errors.length, 1, 'one error and no start')
  t.is(errors[0].code, 'ERR_IPC_INVALID_CONFIG')
  t.regex(errors[0].message, /allowedEvents cannot be used with ipc\.config\.rawBuffer/)

  const client = track(t, newIpc('ours', { rawBuffer: true, allowedEvents: ['reply'], stopRetrying: true }))
  const thrown = t.throws(() => client.connectTo('s', ep.path))
  t.is(thrown.code, 'ERR_IPC_INVALID_CONFIG')
})

test('[ours] allowedEvents must be a list of strings', async (t) => {
  const client = track(t, newIpc('ours', { allowedEvents: 'request', stopRetrying: true }))
  const ep = await endpoint(t, 'unix')
  const thrown = t.throws(() => client.connectTo('s', ep.path))
  t.is(thrown.code, 'ERR_IPC_INVALID_CONFIG')
  t.regex(thrown.message, /array \(or Set\) of event type strings/)
  const fromSet = track(t, newIpc('ours', { allowedEvents: new Set(['reply']), stopRetrying: true }))
  t.notThrows(() => fromSet.connectTo('s', ep.path))
})

test('[ours] a restarted server reads allowedEvents again', async (t) => {
  const { ep, rec, ipc } = await allowListServer(t, 'ours', 'unix', { allowedEvents: ['request'] })
  ipc.server.stop()
  ipc.config.allowedEvents = ['request', 'evil']
  const restarted = once(ipc.server, 'start')
  ipc.server.start()
  await restarted
  const raw = await rawClient(t, ep)
  raw.socket.write(frame('evil', 1) + frame('request', { n: 1 }))
  await raw.sink.waitFor((b) => b.includes(frame('reply', { n: 1 })), 5000, 'the reply')
  // serve's callback runs at each start, so the handlers are there twice now.
  t.deepEqual(args(rec, 'evil'), [[1], [1]], 'the new list lets it through')
  t.deepEqual(args(rec, 'error'), [])
})

test('[ours] a client with an allow-list stays out of raw mode when rawBuffer is turned on later', async (t) => {
  const { client, c, rec } = await clientOfEvilServer(t, {}, ['data', 'reply', 'error'])
  await once(c, 'connect')
  c.emit('request', { n: 1 })
  // Before the reply comes: raw mode on, and an emit, where a client takes up the change.
  client.config.rawBuffer = true
  c.emit('x')
  await rec.waitCount('reply', 1, 5000)
  t.deepEqual(args(rec, 'data'), [], 'no raw bytes bypassed the list')
  t.deepEqual(
    args(rec, 'error').map(([err]) => err.code),
    ['ERR_IPC_EVENT_NOT_ALLOWED'],
  )
})
