// UDP servers, on ephemeral ports: request/reply in the style of node-ipc's own jasmine
// spec over udp4 and udp6, serveNet's UDP overloads ('::1' with udp4, case-insensitive
// type), 'start' before the bind, several frames per datagram, rawBuffer bytes (v9 decodes
// them as utf8; fixed), send errors (v9 dies of a TypeError; fixed: an 'error' event),
// stop(), broadcast as a no-op (as in v9: UDP servers record no peers), and wire interop
// with @achrinza/node-ipc@9.2.10 in separate processes, both directions.
//
// Every test runs against both implementations. In-process tests use fresh IPC instances
// (never the singleton) with silent=true. Ports are probed with a dgram bind to port 0.
// "Bound" is read from /proc/net/udp{,6} so that no probe datagram reaches the server.
import test from 'ava'
import dgram from 'node:dgram'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { spawnNode, assertLoaded } from './helpers/proc.mjs'
import { bindDgram, freeUdpPorts, udpBound } from './helpers/net.mjs'
import { IMPL_NAMES, newIpc, Recorder, delay, now } from './helpers/behav-util.mjs'
import { testUnless } from './helpers/skip.mjs'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const FIX = path.join(here, 'fixtures', 'udp')
const { PAYLOADS, frameBytes } = require('./fixtures/udp/payloads.cjs')

const STEP = 5000 // timeout for one expected event (a loopback datagram takes ~1 ms)
// Negative windows: every exchange here is a loopback datagram of about 1 ms (a round trip
// measured in the test is logged and checked to be < WINDOW / 3).
const WINDOW = 500

const LOOP = { udp4: '127.0.0.1', udp6: '::1' }
const FAMILY = { udp4: 'IPv4', udp6: 'IPv6' }
const frame = (type, data) => JSON.stringify({ type, data }) + '\f'

// ---------------------------------------------------------------------------------------
// helpers

async function hasIPv6Loopback() {
  try {
    const s = await bindDgram('udp6', 0, '::1')
    await new Promise((resolve) => s.close(resolve))
    return true
  } catch {
    return false
  }
}

// udp6 tests need the IPv6 loopback: without it they fail under CI and are skipped,
// loudly, elsewhere (helpers/skip.mjs).
const HAS_IPV6 = await hasIPv6Loopback()
const test6 = (title, ...rest) => testUnless(HAS_IPV6 ? null : 'no IPv6 loopback (::1)', test, title, ...rest)

// Wait until `port` is bound (or unbound with bound=false). Fails early with the error if
// `rec` (a Recorder on the server) sees an 'error' event, or if `child` exits.
async function waitBound(type, port, { rec, child, bound = true, ms = STEP } = {}) {
  const end = now() + ms
  for (;;) {
    if (udpBound(type, port) === bound) return
    const err = rec && rec.of('error')[0]
    if (err && bound) {
      const e = err.args[0]
      throw new Error(
        `server published 'error' instead of binding ${type} port ${port}: ${e && e.code} ${e && e.message}`,
      )
    }
    if (child && !child.alive)
      throw new Error(`${child.label} exited before binding ${type} port ${port}\n${child.describe()}`)
    if (now() > end)
      throw new Error(`timeout after ${ms} ms: ${type} port ${port} ${bound ? 'never bound' : 'still bound'}`)
    await delay(10)
  }
}

// A plain node:dgram socket standing in for a foreign peer. Records every datagram.
async function plainPeer(t, type = 'udp4') {
  const sock = await bindDgram(type)
  const rec = new Recorder()
  sock.on('message', (msg, rinfo) => rec.push('msg', [msg, rinfo]))
  t.teardown(
    () =>
      new Promise((resolve) => {
        try {
          sock.close(resolve)
        } catch {
          resolve()
        }
      }),
  )
  return {
    sock,
    rec,
    port: sock.address().port,
    send: (data, port, host = LOOP[type]) =>
      new Promise((resolve, reject) =>
        sock.send(Buffer.from(data), port, host, (err) => (err ? reject(err) : resolve())),
      ),
    msgs: () => rec.of('msg').map((e) => e.args[0]),
    waitMsgs: (n, ms = STEP) => rec.waitCount('msg', n, ms).then(() => rec.of('msg').map((e) => e.args[0])),
  }
}

// A fresh IPC instance with a UDP server made by serveNet(...args, onStart); handlers on
// `types` are recorded (with the start argument as a 'start' record). The server is stopped
// in teardown if it ever started.
function udpServer(t, impl, args, { cfg = {}, types = [], onStart } = {}) {
  const ipc = newIpc(impl, cfg)
  const rec = new Recorder()
  ipc.serveNet(...args, function (arg) {
    rec.push('start', [arg])
    if (onStart) onStart(arg)
  })
  rec.attach(ipc.server, ['error', ...types])
  const srv = ipc.server
  let started = false
  const start = () => {
    started = true
    srv.start()
  }
  t.teardown(() => {
    if (started && !srv._stoppedByTest) {
      try {
        srv.stop()
      } catch {}
    }
  })
  return { ipc, srv, rec, start }
}

const pick = (r) => r && { address: r.address, family: r.family, port: r.port, size: r.size }

// ---------------------------------------------------------------------------------------
// Request/reply, as node-ipc's jasmine spec does it. The replier is the spec's helper
// (udp4Server.js: serveNet('udp4') with networkPort set; udp6Server.js: serveNet('::1',
// 'udp6')); the requester is serveNet(port, 'udp4', cb) / serveNet('::1', port, 'udp6', cb)
// and emits in its start callback to {address: 'localhost' | '::1', port}.

async function requestReply(t, impl, type) {
  const host = LOOP[type]
  const [portR, portQ] = await freeUdpPorts(type, 2)
  const replyData = { id: 'udpServer', message: `I am ${type.toUpperCase()} server!` }
  const reqData = { id: 'requester', message: 'Hello' }

  const R = udpServer(t, impl, type === 'udp4' ? ['udp4'] : ['::1', 'udp6'], {
    cfg: { id: 'udpServer', networkPort: portR },
    types: ['message'],
    onStart: () => R.srv.on('message', (data, socket) => R.srv.emit(socket, 'message', replyData)),
  })
  R.start()
  await waitBound(type, portR, { rec: R.rec })

  const Q = udpServer(t, impl, type === 'udp4' ? [portQ, 'udp4'] : ['::1', portQ, 'udp6'], {
    cfg: { id: 'requester', networkPort: portR },
    types: ['message'],
    onStart: () =>
      Q.srv.emit(
        { address: type === 'udp4' ? 'localhost' : '::1', port: Q.ipc.config.networkPort },
        'message',
        reqData,
      ),
  })
  const t0 = now()
  Q.start()
  await Q.rec.waitCount('message', 1, STEP)
  const rtt = now() - t0
  t.log(`${impl} ${type}: request + reply in ${rtt.toFixed(1)} ms`)

  t.deepEqual(R.rec.of('start')[0].args[0], { address: host, port: portR }, "replier 'start' gets {address, port}")
  t.deepEqual(Q.rec.of('start')[0].args[0], { address: host, port: portQ }, "requester 'start' gets {address, port}")

  const [req] = R.rec.of('message')
  t.deepEqual(req.args[0], reqData, 'replier got the request data')
  t.deepEqual(
    pick(req.args[1]),
    { address: host, family: FAMILY[type], port: portQ, size: frameBytes('message', reqData) },
    'replier rinfo = the requester address, family, port and the datagram size',
  )

  const [rep] = Q.rec.of('message')
  t.truthy(rep.args[1], 'the reply handler gets a socket (rinfo)')
  t.deepEqual(rep.args[0], replyData, 'requester got the reply data')
  t.deepEqual(
    pick(rep.args[1]),
    { address: host, family: FAMILY[type], port: portR, size: frameBytes('message', replyData) },
    'requester rinfo = the replier address, family, port and the datagram size',
  )

  await delay(WINDOW)
  t.is(R.rec.count('message'), 1, 'exactly one request arrived')
  t.is(Q.rec.count('message'), 1, 'exactly one reply arrived')
  t.is(R.rec.count('error') + Q.rec.count('error'), 0, 'no error event')
}

for (const impl of IMPL_NAMES) {
  test(
    `[${impl}] udp4 request/reply (emit to localhost in the start callback, reply to rinfo)`,
    requestReply,
    impl,
    'udp4',
  )
  test6(`[${impl}] udp6 request/reply on ::1`, requestReply, impl, 'udp6')
}

// ---------------------------------------------------------------------------------------
// serveNet overloads that decide the UDP bind.

for (const impl of IMPL_NAMES) {
  test(`[${impl}] serveNet('::1', port, 'udp4') binds udp4 on 127.0.0.1`, async (t) => {
    const [port] = await freeUdpPorts('udp4')
    const S = udpServer(t, impl, ['::1', port, 'udp4'], { types: ['m'] })
    t.is(S.srv.path, '127.0.0.1', 'server.path is rewritten to 127.0.0.1')
    t.is(S.srv.port, port)
    t.true(S.srv.udp4)
    t.false(S.srv.udp6)
    S.start()
    await waitBound('udp4', port, { rec: S.rec })
    t.deepEqual(S.rec.of('start')[0].args[0], { address: '127.0.0.1', port })
    const D = await plainPeer(t, 'udp4')
    await D.send(frame('m', { via: '127.0.0.1' }), port, '127.0.0.1')
    await S.rec.waitCount('m', 1, STEP)
    t.deepEqual(S.rec.of('m')[0].args[0], { via: '127.0.0.1' }, 'a udp4 datagram to 127.0.0.1 arrives')
    t.is(S.rec.of('m')[0].args[1].family, 'IPv4')
  })

  test(`[${impl}] serveNet('UDP4', cb): type detection in the host argument is case-insensitive`, async (t) => {
    const [port] = await freeUdpPorts('udp4')
    const S = udpServer(t, impl, ['UDP4'], { cfg: { networkPort: port }, types: ['m'] })
    t.true(S.srv.udp4, 'server.udp4')
    t.false(S.srv.udp6)
    t.is(S.srv.UDP4, undefined, 'no mixed-case property')
    t.is(S.srv.path, '127.0.0.1')
    t.is(S.srv.port, port, 'port = config.networkPort')
    S.start()
    await waitBound('udp4', port, { rec: S.rec })
    const D = await plainPeer(t, 'udp4')
    await D.send(frame('m', 1), port)
    await S.rec.waitCount('m', 1, STEP)
    t.is(S.rec.of('m')[0].args[0], 1)
  })

  test6(`[${impl}] serveNet('Udp6', cb) with networkHost '::1' binds udp6`, async (t) => {
    const [port] = await freeUdpPorts('udp6')
    const S = udpServer(t, impl, ['Udp6'], { cfg: { networkPort: port, networkHost: '::1' }, types: ['m'] })
    t.true(S.srv.udp6, 'server.udp6')
    t.false(S.srv.udp4)
    t.is(S.srv.path, '::1')
    S.start()
    await waitBound('udp6', port, { rec: S.rec })
    t.deepEqual(S.rec.of('start')[0].args[0], { address: '::1', port })
    const D = await plainPeer(t, 'udp6')
    await D.send(frame('m', 6), port, '::1')
    await S.rec.waitCount('m', 1, STEP)
    t.is(S.rec.of('m')[0].args[0], 6)
    t.deepEqual(pick(S.rec.of('m')[0].args[1]), {
      address: '::1',
      family: 'IPv6',
      port: D.port,
      size: frameBytes('m', 6),
    })
  })

  test(`[${impl}] a UDP type in the 3rd argument is not lower-cased: 'UDP4' makes a junk property, not UDP`, (t) => {
    const ipc = newIpc(impl)
    ipc.serveNet('127.0.0.1', 3435, 'UDP4', () => {})
    t.true(ipc.server.UDP4)
    t.false(ipc.server.udp4)
    t.false(ipc.server.udp6)
  })
}

// ---------------------------------------------------------------------------------------
// 'start' fires before the bind completes: v9 publishes it synchronously right after bind().

for (const impl of IMPL_NAMES) {
  test(`[${impl}] UDP 'start' fires before the bind: a bind failure gives 'start' then 'error' EADDRINUSE`, async (t) => {
    const blocker = await bindDgram('udp4')
    t.teardown(() => new Promise((resolve) => blocker.close(resolve)))
    const port = blocker.address().port
    const S = udpServer(t, impl, ['127.0.0.1', port, 'udp4'])
    S.start()
    await S.rec.waitCount('error', 1, STEP)
    t.deepEqual(S.rec.types().slice(0, 2), ['start', 'error'], "'start' first, then 'error'")
    t.deepEqual(S.rec.of('start')[0].args[0], { address: '127.0.0.1', port })
    t.is(S.rec.of('error')[0].args[0].code, 'EADDRINUSE')
  })

  test(`[${impl}] UDP 'connect' fires once, at listening, after 'start'`, async (t) => {
    const [port] = await freeUdpPorts('udp4')
    const S = udpServer(t, impl, ['127.0.0.1', port, 'udp4'], { types: ['connect'] })
    S.start()
    await S.rec.waitCount('connect', 1, STEP)
    await delay(WINDOW)
    t.deepEqual(S.rec.types(), ['start', 'connect'], "exactly: 'start', then one 'connect'")
    t.is(typeof S.rec.of('connect')[0].args[0], 'object', "'connect' carries the socket")
    t.true(udpBound('udp4', port), 'bound once connect has fired')
  })
}

// ---------------------------------------------------------------------------------------
// Framing inside datagrams, with a plain node:dgram peer.

for (const impl of IMPL_NAMES) {
  test(`[${impl}] several frames in one datagram are delivered in order; the reply is one exact frame`, async (t) => {
    const [port] = await freeUdpPorts('udp4')
    const S = udpServer(t, impl, ['127.0.0.1', port, 'udp4'], {
      types: ['m', 'n'],
      onStart: () => S.srv.on('n', (data, rinfo) => S.srv.emit(rinfo, 'ack', { got: data })),
    })
    S.start()
    await waitBound('udp4', port, { rec: S.rec })
    const D = await plainPeer(t, 'udp4')
    const dgramText = '{"type":"m","data":1}\f{"type":"m","data":{"k":[2]}}\f{"type":"n","data":"\u00e9\\f"}\f'
    await D.send(dgramText, port)
    await S.rec.waitCount('n', 1, STEP)
    const got = S.rec.list.filter((e) => e.type === 'm' || e.type === 'n')
    t.deepEqual(
      got.map((e) => [e.type, e.args[0]]),
      [
        ['m', 1],
        ['m', { k: [2] }],
        ['n', '\u00e9\f'],
      ],
      'three frames, in order',
    )
    for (const e of got) {
      t.deepEqual(
        pick(e.args[1]),
        { address: '127.0.0.1', family: 'IPv4', port: D.port, size: Buffer.byteLength(dgramText) },
        `${e.type}: rinfo of the datagram`,
      )
    }
    const [reply] = await D.waitMsgs(1)
    t.is(
      reply.toString('hex'),
      Buffer.from(frame('ack', { got: '\u00e9\f' })).toString('hex'),
      'reply bytes = {"type":"ack","data":...}\\f',
    )
    t.is(S.rec.count('error'), 0)
  })

  test(`[${impl}] a frame split across datagrams is lost: the tail is an 'error' (v9, kept: inherent to UDP)`, async (t) => {
    const [port] = await freeUdpPorts('udp4')
    const S = udpServer(t, impl, ['127.0.0.1', port, 'udp4'], { types: ['m'] })
    S.start()
    await waitBound('udp4', port, { rec: S.rec })
    const D = await plainPeer(t, 'udp4')
    await D.send('{"type":"m","da', port)
    await D.send('ta":1}\f', port)
    await D.send(frame('m', 3), port)
    await S.rec.waitCount('m', 1, STEP)
    t.deepEqual(S.rec.types(), ['start', 'error', 'm'], 'one error (the tail), then the next whole frame')
    const [err, rinfo] = S.rec.of('error')[0].args
    t.is(err.message, 'Invalid JSON response format')
    t.is(err.response, 'ta":1}')
    t.is(err.err && err.err.name, 'SyntaxError')
    t.is(rinfo && rinfo.port, D.port, 'the error carries the rinfo')
    t.is(S.rec.of('m')[0].args[0], 3, 'the following frame arrives intact')
  })
}

// ---------------------------------------------------------------------------------------
// rawBuffer over UDP. v9 decodes the datagram as utf8 and re-encodes it
// (lossy); ours delivers the bytes. Sending writes the Buffer unchanged on both.

const BAD_UTF8 = Buffer.from([0xff, 0x00, 0x0c, 0x80, 0x41])

for (const impl of IMPL_NAMES) {
  test(`[${impl}] rawBuffer over UDP: received bytes ${impl === 'ours' ? 'arrive unchanged (fix)' : 'are utf8-mangled (v9)'}; sent bytes are exact`, async (t) => {
    const [port] = await freeUdpPorts('udp4')
    const S = udpServer(t, impl, ['127.0.0.1', port, 'udp4'], {
      cfg: { rawBuffer: true, encoding: 'utf8' },
      types: ['data'],
      onStart: () =>
        S.srv.on('data', (buf, rinfo) => {
          if (S.rec.count('data') === 1) S.srv.emit(rinfo, Buffer.from([0xff, 0x00, 0x80, 0x0c, 0xfe]))
        }),
    })
    S.start()
    await waitBound('udp4', port, { rec: S.rec })
    const D = await plainPeer(t, 'udp4')
    await D.send(BAD_UTF8, port)
    await D.send('ab', port)
    await D.send('cd', port)
    await S.rec.waitCount('data', 3, STEP)
    const [first, rinfo] = S.rec.of('data')[0].args
    t.true(Buffer.isBuffer(first), "'data' carries a Buffer")
    t.is(first.toString('hex'), impl === 'ours' ? 'ff000c8041' : 'efbfbd000cefbfbd41')
    t.deepEqual(pick(rinfo), { address: '127.0.0.1', family: 'IPv4', port: D.port, size: 5 })
    t.deepEqual(
      S.rec
        .of('data')
        .slice(1)
        .map((e) => e.args[0].toString()),
      ['ab', 'cd'],
      'one data event per datagram',
    )
    const [reply] = await D.waitMsgs(1)
    t.is(reply.toString('hex'), 'ff00800cfe', 'emit(rinfo, Buffer) sends the exact bytes')
  })

  test(`[${impl}] rawBuffer over UDP with encoding 'hex': ${impl === 'ours' ? 'bytes unchanged (fix)' : "Buffer.from(utf8 text, 'hex') garbage (v9)"}; emit('0aff') sends 0a ff`, async (t) => {
    const [port] = await freeUdpPorts('udp4')
    const S = udpServer(t, impl, ['127.0.0.1', port, 'udp4'], {
      cfg: { rawBuffer: true, encoding: 'hex' },
      types: ['data'],
      onStart: () => S.srv.on('data', (buf, rinfo) => S.srv.emit(rinfo, '0aff')),
    })
    S.start()
    await waitBound('udp4', port, { rec: S.rec })
    const D = await plainPeer(t, 'udp4')
    await D.send(Buffer.from([0x00, 0x11, 0xfe, 0x41]), port)
    await S.rec.waitCount('data', 1, STEP)
    // v9: msg.toString() is '\u0000\u0011\ufffdA', and hex parsing stops at the first non-hex char
    t.is(S.rec.of('data')[0].args[0].toString('hex'), impl === 'ours' ? '0011fe41' : '')
    const [reply] = await D.waitMsgs(1)
    t.is(reply.toString('hex'), '0aff', "emit('0aff') with encoding 'hex' sends bytes 0a ff")
  })
}

// ---------------------------------------------------------------------------------------
// A failed send. v9's send callback is unbound and throws an uncaught
// TypeError (the process dies); the fix publishes 'error' and the server keeps serving.

const SEND_ERRORS = [
  { name: 'unknown host', env: 'unknown-host', codes: ['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME'] },
  { name: 'datagram too large (70000 bytes > 65507, udp4)', env: 'too-large', codes: ['EMSGSIZE'] },
]

for (const impl of IMPL_NAMES) {
  for (const c of SEND_ERRORS) {
    const what =
      impl === 'ours'
        ? "publishes 'error' and keeps serving (fix)"
        : 'kills the process with an uncaught TypeError (v9)'
    test(`[${impl}] UDP send error, ${c.name}: ${what}`, async (t) => {
      t.timeout(30000)
      const [port] = await freeUdpPorts('udp4')
      const child = spawnNode(path.join(FIX, 'send-error.cjs'), {
        impl,
        env: { PORT: String(port), CASE: c.env },
        label: `send-error[${impl}]`,
      })
      t.teardown(() => child.kill())
      try {
        const loaded = await child.waitJson((o) => o.ev === 'loaded', 10000)
        t.true(loaded.ok && loaded.impl === impl, `right implementation: ${JSON.stringify(loaded)}`)
        const start = await child.waitJson((o) => o.ev === 'start', STEP)
        t.deepEqual(start.arg, { address: '127.0.0.1', port })
        if (impl === 'ref') {
          const exit = await child.waitExit(10000)
          t.deepEqual(exit, { code: 1, signal: null }, 'the process dies (exit code 1)')
          t.regex(child.stderr, /TypeError: Cannot read properties of undefined \(reading 'log'\)/)
          t.regex(child.stderr, /socketServer\.js:\d+/, 'thrown from the send callback in dao/socketServer.js')
          t.is(child.json().filter((o) => o.ev === 'error').length, 0, "no 'error' event was published")
          return
        }
        const err = await child.waitJson((o) => o.ev === 'error', STEP)
        t.true(err.isError, "the 'error' argument is an Error")
        t.true(c.codes.includes(err.code), `error code ${err.code} is one of ${c.codes.join('|')} (${err.message})`)
        await waitBound('udp4', port, { child })
        const D = await plainPeer(t, 'udp4')
        await D.send(frame('ping', { after: 'error' }), port)
        const [pong] = await D.waitMsgs(1)
        t.is(pong.toString(), frame('pong', { after: 'error' }), 'still serves a good request afterwards')
        t.true(child.alive, 'the process is alive')
        t.is(child.json().filter((o) => o.ev === 'error').length, 1, "exactly one 'error' for the failed send")
      } catch (e) {
        t.log(child.describe())
        throw e
      }
    })
  }
}

// ---------------------------------------------------------------------------------------
// stop() closes the dgram socket: 'socket.disconnected'(socket, false), then
// 'close'(undefined). Nothing is served afterwards and the port is free again.

for (const impl of IMPL_NAMES) {
  test(`[${impl}] stop() on a UDP server: 'socket.disconnected'(socket, false) then 'close', port released`, async (t) => {
    const [port] = await freeUdpPorts('udp4')
    const S = udpServer(t, impl, ['127.0.0.1', port, 'udp4'], {
      types: ['socket.disconnected', 'close', 'ping'],
      onStart: () => S.srv.on('ping', (data, rinfo) => S.srv.emit(rinfo, 'pong', data)),
    })
    S.start()
    await waitBound('udp4', port, { rec: S.rec })
    const D = await plainPeer(t, 'udp4')
    await D.send(frame('ping', 1), port)
    await D.waitMsgs(1)

    S.srv._stoppedByTest = true
    S.srv.stop()
    await S.rec.waitCount('close', 1, STEP)
    const seq = S.rec.types().filter((x) => x === 'socket.disconnected' || x === 'close')
    t.deepEqual(seq, ['socket.disconnected', 'close'])
    const [sock, id] = S.rec.of('socket.disconnected')[0].args
    t.true(typeof sock === 'object' && sock !== null, "'socket.disconnected' carries the socket")
    t.is(id, false, 'destroyedSocketId is false')
    const closeArgs = S.rec.of('close')[0].args
    t.is(closeArgs[0], undefined, "'close' gets undefined (dgram close has no hadError)")

    await waitBound('udp4', port, { bound: false })
    await D.send(frame('ping', 2), port)
    await delay(WINDOW)
    t.is(S.rec.count('ping'), 1, 'nothing is received after stop()')
    t.is(D.msgs().length, 1, 'no reply after stop()')
    t.is(S.rec.count('close'), 1)
    t.is(S.rec.count('socket.disconnected'), 1)
  })

  test(`[${impl}] after stop() a UDP server process exits on its own (nothing else keeps it alive)`, async (t) => {
    t.timeout(30000)
    const [port] = await freeUdpPorts('udp4')
    const child = spawnNode(path.join(FIX, 'peer.cjs'), {
      impl,
      env: { ROLE: 'replier', TYPE: 'udp4', HOST: '127.0.0.1', PORT: String(port) },
      label: `replier[${impl}]`,
    })
    t.teardown(() => child.kill())
    try {
      await child.waitJson((o) => o.ev === 'start', 10000)
      await waitBound('udp4', port, { child })
      const D = await plainPeer(t, 'udp4')
      await D.send(frame('stop', {}), port)
      await child.waitJson((o) => o.ev === 'close', STEP)
      const exit = await child.waitExit(STEP)
      t.deepEqual(exit, { code: 0, signal: null }, 'exit code 0, by itself')
      const evs = child
        .json()
        .map((o) => o.ev)
        .filter((e) => e === 'socket.disconnected' || e === 'close')
      t.deepEqual(evs, ['socket.disconnected', 'close'])
      t.is(child.json().find((o) => o.ev === 'socket.disconnected').id, false)
    } catch (e) {
      t.log(child.describe())
      throw e
    }
  })
}

// ---------------------------------------------------------------------------------------
// Broadcast on a UDP server reaches nobody (as in v9: UDP servers record no peers), and so
// does emit() without an address or a port. Peers: another node-ipc UDP server and a plain
// dgram socket, both of which have talked to the server (so a peer-recording broadcast
// would reach them).

for (const impl of IMPL_NAMES) {
  test(`[${impl}] UDP broadcast and emit without address/port reach nobody (v9, kept)`, async (t) => {
    const [portS, portP] = await freeUdpPorts('udp4', 2)
    const S = udpServer(t, impl, ['127.0.0.1', portS, 'udp4'], {
      types: ['hello'],
      onStart: () => S.srv.on('hello', (data, rinfo) => S.srv.emit(rinfo, 'welcome', data)),
    })
    S.start()
    await waitBound('udp4', portS, { rec: S.rec })

    const KINDS = ['welcome', 'news', 'news2', 'news3', 'news4', 'marker']
    const P = udpServer(t, impl, [portP, 'udp4'], {
      types: KINDS,
      onStart: () => P.srv.emit({ address: '127.0.0.1', port: portS }, 'hello', { id: 'P' }),
    })
    P.start()
    const D = await plainPeer(t, 'udp4')
    await D.send(frame('hello', { id: 'D' }), portS)
    await P.rec.waitCount('welcome', 1, STEP)
    await D.waitMsgs(1)
    t.is(S.rec.count('hello'), 2, 'the server has heard from both peers')

    S.srv.broadcast('news', { n: 1 })
    S.srv.emit({}, 'news2', { n: 2 })
    S.srv.emit({ address: '127.0.0.1' }, 'news3', { n: 3 })
    S.srv.emit({ port: D.port }, 'news4', { n: 4 })
    // a direct send after them: once it is in, anything sent before it would be too
    const t0 = now()
    S.srv.emit({ address: '127.0.0.1', port: D.port }, 'marker', {})
    S.srv.emit({ address: '127.0.0.1', port: portP }, 'marker', {})
    await P.rec.waitCount('marker', 1, STEP)
    await D.waitMsgs(2)
    const rtt = now() - t0
    const window = Math.max(WINDOW, Math.ceil(3 * rtt))
    t.log(`${impl}: markers in ${rtt.toFixed(1)} ms; negative window ${window} ms`)
    await delay(window)

    t.deepEqual(
      D.msgs().map((m) => m.toString()),
      [frame('welcome', { id: 'D' }), frame('marker', {})],
      'plain peer: welcome and marker only',
    )
    t.deepEqual(
      P.rec.types().filter((x) => KINDS.includes(x)),
      ['welcome', 'marker'],
      'node-ipc peer: welcome and marker only',
    )
    t.is(S.rec.count('error'), 0, 'no error')
  })
}

// ---------------------------------------------------------------------------------------
// Wire interop, one process per side: the requester (serveNet(HOST, port, TYPE, cb)) emits
// p0..pN in its start callback to the replier, which answers each to the rinfo. udp4 uses
// 'localhost' as the target, udp6 '::1'. ref<->ref runs as a control of the harness.

const PAIRS = [
  { requester: 'ref', replier: 'ours' },
  { requester: 'ours', replier: 'ref' },
  { requester: 'ref', replier: 'ref', control: true },
]

for (const pair of PAIRS) {
  for (const type of ['udp4', 'udp6']) {
    const title = `${pair.control ? '[control] ' : ''}interop ${type}: ${pair.requester} requester -> ${pair.replier} replier -> back`
    ;(type === 'udp6' ? test6 : test)(title, async (t) => {
      t.timeout(60000)
      const host = LOOP[type]
      const [portR, portQ] = await freeUdpPorts(type, 2)
      const replier = spawnNode(path.join(FIX, 'peer.cjs'), {
        impl: pair.replier,
        env: { ROLE: 'replier', TYPE: type, HOST: host, PORT: String(portR) },
        label: `replier[${pair.replier}]`,
      })
      t.teardown(() => replier.kill())
      let requester
      try {
        await assertLoaded(t, replier, pair.replier)
        const rs = await replier.waitJson((o) => o.ev === 'start', STEP)
        t.deepEqual(rs.arg, { address: host, port: portR })
        await waitBound(type, portR, { child: replier })
        const errLine = replier.json().find((o) => o.ev === 'error')
        if (errLine) throw new Error(`replier error: ${JSON.stringify(errLine)}`)

        requester = spawnNode(path.join(FIX, 'peer.cjs'), {
          impl: pair.requester,
          env: {
            ROLE: 'requester',
            TYPE: type,
            HOST: host,
            PORT: String(portQ),
            TARGET_HOST: type === 'udp4' ? 'localhost' : '::1',
            TARGET_PORT: String(portR),
          },
          label: `requester[${pair.requester}]`,
        })
        t.teardown(() => requester.kill())
        await assertLoaded(t, requester, pair.requester)
        // Datagrams may arrive in any order: v9 resolves 'localhost' with one dns.lookup per
        // send, and those complete out of order. Wait for every type on both sides.
        const all = (child, prefix) => (o) => {
          const seen = new Set(
            child
              .json()
              .filter((x) => x.ev === 'recv')
              .map((x) => x.type),
          )
          return o.ev === 'recv' && PAYLOADS.every((_, i) => seen.has(prefix + i))
        }
        await requester.waitJson(all(requester, 'r'), 15000)
        await replier.waitJson(all(replier, 'p'), STEP)

        const qs = requester.json().find((o) => o.ev === 'start')
        t.deepEqual(qs && qs.arg, { address: host, port: portQ }, 'requester start argument')

        const byType = (list) => list.sort((a, b) => Number(a.type.slice(1)) - Number(b.type.slice(1)))
        const got = byType(replier.json().filter((o) => o.ev === 'recv'))
        t.deepEqual(
          got.map((o) => o.type),
          PAYLOADS.map((_, i) => 'p' + i),
          'replier got each of p0..pN exactly once',
        )
        PAYLOADS.forEach((p, i) => {
          const r = got[i]
          if (!r) return
          t.deepEqual(r.data, p.want, `p${i} data`)
          t.deepEqual(
            r.rinfo,
            { address: host, family: FAMILY[type], port: portQ, size: frameBytes('p' + i, p.want) },
            `p${i} rinfo`,
          )
        })

        const back = byType(requester.json().filter((o) => o.ev === 'recv'))
        t.deepEqual(
          back.map((o) => o.type),
          PAYLOADS.map((_, i) => 'r' + i),
          'requester got each of r0..rN exactly once',
        )
        PAYLOADS.forEach((p, i) => {
          const r = back[i]
          if (!r) return
          const want = { echo: p.want, by: pair.replier }
          t.deepEqual(r.data, want, `r${i} data`)
          t.deepEqual(
            r.rinfo,
            { address: host, family: FAMILY[type], port: portR, size: frameBytes('r' + i, want) },
            `r${i} rinfo`,
          )
        })
        t.deepEqual(
          [...replier.json(), ...requester.json()].filter((o) => o.ev === 'error'),
          [],
          'no error on either side',
        )
        t.true(replier.alive && requester.alive, 'both still run (UDP endpoints never exit on their own)')
      } catch (e) {
        t.log(replier.describe())
        if (requester) t.log(requester.describe())
        throw e
      }
    })
  }
}
