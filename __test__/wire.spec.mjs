// Wire format, as v9 writes and reads it: byte-exact frames (JSON.stringify({type, data}) +
// delimiter, with v9's normalization of data) in both directions, parse outcomes,
// reassembly of split frames, socket identity from payloads (socket.id from data.id), and
// delimiters: a custom printable one can collide (v9, kept); v9's bugs fixed here (README,
// "Differences from node-ipc v9"): complete frames held back until a read ends on a
// delimiter, multi-character delimiters that never deliver, one delimiter per module.
//
// All tests are serial: the v9 reference keeps ONE module-level parser per side whose
// delimiter is set by the most recently constructed endpoint, so concurrent tests with
// different delimiters would disturb each other on "ref".
import test from 'ava'
import path from 'node:path'
import { EventEmitter } from 'node:events'
import {
  IMPL_NAMES,
  newIpc,
  track,
  tmpDir,
  endpoint,
  rawServer,
  rawClient,
  startServer,
  connectClient,
  clientWithRawPeer,
  once,
  Recorder,
  delay,
  prng,
  frame,
} from './helpers/behav-util.mjs'

const TRANSPORTS = ['unix', 'tcp']

// Negative windows: a frame over loopback is delivered within a few ms; we wait far longer.
const NEG_WINDOW = 500

// The frames v9 writes: [label, type, data, exact frame body (without the delimiter)]
function frameRows() {
  return [
    ['undefined', 't', undefined, '{"type":"t","data":{}}'],
    ['null', 't', null, '{"type":"t","data":{}}'],
    ["''", 't', '', '{"type":"t","data":{}}'],
    ['NaN', 't', NaN, '{"type":"t","data":{}}'],
    ['0', 't', 0, '{"type":"t","data":0}'],
    ['false', 't', false, '{"type":"t","data":false}'],
    ['[]', 't', [], '{"type":"t","data":[]}'],
    ['{_maxListeners:10}', 't', { _maxListeners: 10 }, '{"type":"t","data":{}}'],
    ['new EventEmitter()', 't', new EventEmitter(), '{"type":"t","data":{"_events":{},"_eventsCount":0}}'],
    ['new Date(0)', 't', new Date(0), '{"type":"t","data":"1970-01-01T00:00:00.000Z"}'],
    ["Buffer.from('hi')", 't', Buffer.from('hi'), '{"type":"t","data":{"type":"Buffer","data":[104,105]}}'],
    ['{a:undefined,b:fn}', 't', { a: undefined, b: () => 1 }, '{"type":"t","data":{}}'],
    ['Infinity', 't', Infinity, '{"type":"t","data":null}'],
    ["'form\\ffeed'", 't', 'form\ffeed', '{"type":"t","data":"form\\ffeed"}'],
    ["'uni\\u00e9\\u2028'", 't', 'uni\u00e9\u2028', '{"type":"t","data":"uni\u00e9\u2028"}'],
    ['lone surrogate', 't', 'x\ud800', '{"type":"t","data":"x\\ud800"}'],
    ['(undefined, 1)', undefined, 1, '{"data":1}'],
    ["(42, 'x')", 42, 'x', '{"type":42,"data":"x"}'],
    ["({o:1}, 'x')", { o: 1 }, 'x', '{"type":{"o":1},"data":"x"}'],
    ['nested', 'n', { a: [1, { b: 'c' }], d: true }, '{"type":"n","data":{"a":[1,{"b":"c"}],"d":true}}'],
  ]
}

const END = '{"type":"end","data":"END"}\f'

function throwingData() {
  const circ = { a: 1 }
  circ.self = circ
  return [
    ['circular', circ],
    ['BigInt', { n: 1n }],
    ['BigInt bare', 2n],
  ]
}

function expectedStream() {
  return (
    frameRows()
      .map((r) => r[3] + '\f')
      .join('') + END
  )
}

for (const impl of IMPL_NAMES) {
  for (const tr of TRANSPORTS) {
    test.serial(`[${impl}] client frames are byte-exact (${tr})`, async (t) => {
      const { c, conn } = await clientWithRawPeer(t, impl, tr)
      for (const [label, type, data] of frameRows()) {
        t.is(c.emit(type, data), undefined, label)
      }
      for (const [label, data] of throwingData()) {
        t.throws(() => c.emit('t', data), { instanceOf: TypeError }, label)
      }
      c.emit('end', 'END')
      const bytes = await conn.sink.waitEndsWith(END, 3000)
      t.deepEqual(bytes.toString('utf8').split('\f'), expectedStream().split('\f'))
      t.true(bytes.equals(Buffer.from(expectedStream(), 'utf8')), 'byte-exact (UTF-8)')
    })

    test.serial(`[${impl}] server frames are byte-exact, emit and broadcast (${tr})`, async (t) => {
      const ipc = track(t, newIpc(impl))
      const ep = await endpoint(t, tr)
      const server = await startServer(ipc, ep)
      const gotConnect = once(server, 'connect', 3000)
      const cli = await rawClient(t, ep)
      const [sock] = await gotConnect
      for (const [label, type, data] of frameRows()) {
        t.is(server.emit(sock, type, data), undefined, label)
      }
      for (const [label, data] of throwingData()) {
        t.throws(() => server.emit(sock, 't', data), { instanceOf: TypeError }, label)
      }
      server.broadcast('b', { x: 1 })
      server.emit(sock, 'end', 'END')
      const want =
        frameRows()
          .map((r) => r[3] + '\f')
          .join('') +
        '{"type":"b","data":{"x":1}}\f' +
        END
      const bytes = await cli.sink.waitEndsWith(END, 3000)
      t.deepEqual(bytes.toString('utf8').split('\f'), want.split('\f'))
      t.true(bytes.equals(Buffer.from(want, 'utf8')))
    })

    test.serial(`[${impl}] parse outcomes on the client (${tr})`, async (t) => {
      const ipc = track(t, newIpc(impl, { stopRetrying: true }))
      const ep = await endpoint(t, tr)
      const srv = await rawServer(t, ep)
      const c = connectClient(ipc, 'w', ep)
      const rec = new Recorder().attach(c, ['a', 'error', 'undefined', 'connect'])
      await rec.waitCount('connect', 1, 3000)
      const conn = await srv.waitConn()
      conn.socket.write(
        '{"type":"a","data":1}\fnot json\fnull\f{"data":7}\f\f\f{"type":"connect","data":"x"}\f{"type":"a","data":2}\f',
      )
      await rec.waitFor((l) => l.some((e) => e.type === 'a' && e.args[0] === 2), 3000, "'a' 2")
      checkParseOutcomes(t, rec.list.slice(1), false)
      t.false(conn.socket.destroyed, 'the connection stays open')
      // still usable after the bad frames
      conn.socket.write('{"type":"a","data":3}\f')
      await rec.waitFor((l) => l.some((e) => e.type === 'a' && e.args[0] === 3), 3000, "'a' 3")
    })

    test.serial(`[${impl}] parse outcomes on the server (${tr})`, async (t) => {
      const ipc = track(t, newIpc(impl))
      const ep = await endpoint(t, tr)
      const server = await startServer(ipc, ep)
      const rec = new Recorder().attach(server, ['a', 'error', 'undefined', 'connect'])
      const cli = await rawClient(t, ep)
      await rec.waitCount('connect', 1, 3000)
      const sock = rec.list[0].args[0]
      cli.socket.write(
        '{"type":"a","data":1}\fnot json\fnull\f{"data":7}\f\f\f{"type":"connect","data":"x"}\f{"type":"a","data":2}\f',
      )
      await rec.waitFor((l) => l.some((e) => e.type === 'a' && e.args[0] === 2), 3000, "'a' 2")
      checkParseOutcomes(t, rec.list.slice(1), sock)
      t.false(cli.socket.destroyed)
    })
  }

  // ------------------------------------------------------------------ reassembly

  for (const tr of TRANSPORTS) {
    test.serial(
      `[${impl}] frames split into 1-byte chunks reassemble, incl. inside UTF-8 (client, ${tr})`,
      async (t) => {
        const ipc = track(t, newIpc(impl, { stopRetrying: true }))
        const ep = await endpoint(t, tr)
        const srv = await rawServer(t, ep)
        const c = connectClient(ipc, 'w', ep)
        const rec = new Recorder().attach(c, ['m', 'error'])
        await once(c, 'connect', 3000)
        const conn = await srv.waitConn()
        if (tr === 'tcp') conn.socket.setNoDelay(true)
        const msgs = [0, 1, 2].map((i) => ({ i, s: 'h\u00e9llo \u20acuro \ud83d\ude00 \u2028 \u4e2d\u6587' }))
        const bytes = Buffer.from(msgs.map((m) => frame({ type: 'm', data: m })).join(''), 'utf8')
        for (let i = 0; i < bytes.length; i++) {
          conn.socket.write(bytes.subarray(i, i + 1))
          await new Promise((r) => setImmediate(r))
        }
        await rec.waitCount('m', 3, 3000)
        t.deepEqual(
          rec.of('m').map((e) => e.args[0]),
          msgs,
        )
        t.is(rec.count('error'), 0)
      },
    )

    test.serial(`[${impl}] frames split at random points reassemble in order (server, ${tr})`, async (t) => {
      const ipc = track(t, newIpc(impl))
      const ep = await endpoint(t, tr)
      const server = await startServer(ipc, ep)
      const rec = new Recorder().attach(server, ['m', 'error'])
      const cli = await rawClient(t, ep)
      if (tr === 'tcp') cli.socket.setNoDelay(true)
      const rnd = prng(42)
      const msgs = []
      for (let i = 0; i < 60; i++)
        msgs.push({ i, s: '\u00e9\u20ac\ud83d\ude00'.repeat(1 + (i % 5)), pad: 'x'.repeat(Math.floor(rnd() * 40)) })
      const bytes = Buffer.from(msgs.map((m) => frame({ type: 'm', data: m })).join(''), 'utf8')
      let off = 0
      let writes = 0
      while (off < bytes.length && writes < 100000) {
        const n = 1 + Math.floor(rnd() * 17)
        cli.socket.write(bytes.subarray(off, off + n))
        off += n
        writes++
        await new Promise((r) => setImmediate(r))
      }
      await rec.waitCount('m', msgs.length, 5000)
      t.deepEqual(
        rec.of('m').map((e) => e.args[0]),
        msgs,
      )
      t.is(rec.count('error'), 0)
    })

    test.serial(`[${impl}] several frames in one chunk are delivered in order (${tr})`, async (t) => {
      const ipc = track(t, newIpc(impl, { stopRetrying: true }))
      const ep = await endpoint(t, tr)
      const srv = await rawServer(t, ep)
      const c = connectClient(ipc, 'w', ep)
      const rec = new Recorder().attach(c, ['m', 'n', 'error'])
      await once(c, 'connect', 3000)
      const conn = await srv.waitConn()
      const frames = []
      for (let i = 0; i < 10; i++) frames.push(frame({ type: i % 3 ? 'm' : 'n', data: i }))
      conn.socket.write(frames.join(''))
      await rec.waitFor((l) => l.filter((e) => e.type === 'm' || e.type === 'n').length >= 10, 3000, '10 frames')
      t.deepEqual(
        rec.list.map((e) => [e.type, e.args[0]]),
        frames.map((_, i) => [i % 3 ? 'm' : 'n', i]),
      )
    })
  }

  // ------------------------------------------------------------------ socket id

  test.serial(`[${impl}] socket id taken from payload data.id; socket.disconnected gets it before close`, async (t) => {
    const ipc = track(t, newIpc(impl))
    const ep = await endpoint(t, 'unix')
    const server = await startServer(ipc, ep)
    const rec = new Recorder().attach(server, ['connect', 'hello', 'x', 'y', 'z', 'socket.disconnected', 'close'])
    const a = await rawClient(t, ep)
    await rec.waitCount('connect', 1, 3000)
    const sockA = rec.of('connect')[0].args[0]
    a.socket.write(frame({ type: 'hello', data: { id: 'alice' } }))
    await rec.waitCount('hello', 1, 3000)
    t.is(rec.of('hello')[0].args[1], sockA, 'handlers get (data, socket) with the same socket object')
    t.is(sockA.id, 'alice')
    a.socket.write(
      frame({ type: 'x', data: { id: 'bob' } }) +
        frame({ type: 'y', data: { id: 0 } }) +
        frame({ type: 'z', data: 'str' }),
    )
    await rec.waitCount('z', 1, 3000)
    t.is(sockA.id, 'bob', 'relabelled by a later truthy id, not by a falsy one')
    a.socket.end()
    await rec.waitCount('close', 1, 3000)
    const i1 = rec.types().indexOf('socket.disconnected')
    const i2 = rec.types().indexOf('close')
    t.true(i1 >= 0 && i1 < i2, 'socket.disconnected before close')
    t.is(rec.of('socket.disconnected')[0].args[0], sockA)
    t.is(rec.of('socket.disconnected')[0].args[1], 'bob')
    t.deepEqual(rec.of('close')[0].args, [false])

    // a peer that never sends an id is reported as false
    const b = await rawClient(t, ep)
    await rec.waitCount('connect', 2, 3000)
    b.socket.write(frame({ type: 'hello', data: { n: 1 } }))
    await rec.waitCount('hello', 2, 3000)
    b.socket.end()
    await rec.waitCount('socket.disconnected', 2, 3000)
    t.is(rec.of('socket.disconnected')[1].args[1], false)
  })

  // ------------------------------------------------------------------ delimiters

  test.serial(`[${impl}] custom single-char delimiter collides (v9, kept); default \\f cannot`, async (t) => {
    // default delimiter: a \f inside the payload is escaped and round-trips
    {
      const sipc = track(t, newIpc(impl))
      const cipc = track(t, newIpc(impl, { stopRetrying: true }))
      const ep = await endpoint(t, 'unix')
      const server = await startServer(sipc, ep)
      const rec = new Recorder().attach(server, ['m', 'error'])
      const c = connectClient(cipc, 'w', ep)
      c.emit('m', 'a\fb')
      c.emit('m', { s: '\f|\f' })
      await rec.waitCount('m', 2, 3000)
      t.deepEqual(
        rec.of('m').map((e) => e.args[0]),
        ['a\fb', { s: '\f|\f' }],
      )
      t.is(rec.count('error'), 0)
    }
    // '|': 'a|b' splits into two invalid frames, the following message still arrives
    {
      const sipc = track(t, newIpc(impl, { delimiter: '|' }))
      const cipc = track(t, newIpc(impl, { delimiter: '|', stopRetrying: true }))
      const ep = await endpoint(t, 'unix')
      const server = await startServer(sipc, ep)
      const rec = new Recorder().attach(server, ['m', 'ok', 'error'])
      const c = connectClient(cipc, 'w', ep)
      c.emit('m', 'a|b')
      c.emit('ok', 1)
      await rec.waitCount('ok', 1, 3000)
      t.deepEqual(rec.types(), ['error', 'error', 'ok'])
      t.is(rec.list[0].args[0].message, 'Invalid JSON response format')
      t.is(rec.list[0].args[0].response, '{"type":"m","data":"a')
      t.is(rec.list[1].args[0].response, 'b"}')
      t.deepEqual(rec.list[2].args[0], 1)
    }
  })

  test.serial(`[${impl}] custom delimiter is used for outgoing frames`, async (t) => {
    const ipc = track(t, newIpc(impl, { delimiter: '|', stopRetrying: true }))
    const ep = await endpoint(t, 'unix')
    const srv = await rawServer(t, ep)
    const c = connectClient(ipc, 'w', ep)
    c.emit('m', 'a|b')
    c.emit('end', 1)
    const conn = await srv.waitConn()
    const bytes = await conn.sink.waitEndsWith('{"type":"end","data":1}|', 3000)
    t.is(bytes.toString(), '{"type":"m","data":"a|b"}|{"type":"end","data":1}|')
  })

  test.serial(`[${impl}] multi-character delimiter '\\r\\n' (server receive)`, async (t) => {
    const ipc = track(t, newIpc(impl, { delimiter: '\r\n' }))
    const ep = await endpoint(t, 'unix')
    const server = await startServer(ipc, ep)
    const rec = new Recorder().attach(server, ['a', 'error'])
    const cli = await rawClient(t, ep)
    cli.socket.write('{"type":"a","data":1}\r\n{"type":"a","data":2}\r\n')
    if (impl === 'ref') {
      await delay(NEG_WINDOW)
      t.deepEqual(rec.types(), [], `v9 never delivers (window ${NEG_WINDOW} ms)`)
      return
    }
    await rec.waitCount('a', 2, 3000)
    // a delimiter split across chunks
    cli.socket.write('{"type":"a","data":3}\r')
    await delay(20)
    cli.socket.write('\n{"type":"a","data":"x\\r\\n"}\r\n')
    await rec.waitCount('a', 4, 3000)
    t.deepEqual(
      rec.of('a').map((e) => e.args[0]),
      [1, 2, 3, 'x\r\n'],
    )
    t.is(rec.count('error'), 0)
  })

  test.serial(`[${impl}] multi-character delimiter '\\r\\n' (client send + receive)`, async (t) => {
    const ipc = track(t, newIpc(impl, { delimiter: '\r\n', stopRetrying: true }))
    const ep = await endpoint(t, 'tcp')
    const srv = await rawServer(t, ep)
    const c = connectClient(ipc, 'w', ep)
    const rec = new Recorder().attach(c, ['a', 'error'])
    await once(c, 'connect', 3000)
    const conn = await srv.waitConn()
    c.emit('a', 'up')
    const bytes = await conn.sink.waitEndsWith('\r\n', 3000)
    t.is(bytes.toString(), '{"type":"a","data":"up"}\r\n')
    const down = Buffer.from('{"type":"a","data":1}\r\n{"type":"a","data":2}\r\n')
    for (let i = 0; i < down.length; i++) {
      conn.socket.write(down.subarray(i, i + 1))
      await new Promise((r) => setImmediate(r))
    }
    if (impl === 'ref') {
      await delay(NEG_WINDOW)
      t.deepEqual(rec.types(), [], `v9 never delivers (window ${NEG_WINDOW} ms)`)
      return
    }
    await rec.waitCount('a', 2, 3000)
    t.deepEqual(
      rec.of('a').map((e) => e.args[0]),
      [1, 2],
    )
  })

  test.serial(`[${impl}] delimiter is per endpoint (server side)`, async (t) => {
    const ipcA = track(t, newIpc(impl))
    const ipcB = track(t, newIpc(impl, { delimiter: '|' }))
    const ep = await endpoint(t, 'unix')
    const sa = await startServer(ipcA, ep)
    const rec = new Recorder().attach(sa, ['a', 'b', 'error'])
    // constructing another server with '|' (never started) replaced v9's module-level parser
    ipcB.serve(path.join(tmpDir(t), 'b.sock'))
    const cli = await rawClient(t, ep)
    cli.socket.write('{"type":"a","data":1}\f{"type":"b","data":2}|')
    if (impl === 'ref') {
      await rec.waitCount('error', 1, 3000)
      t.is(rec.list[0].args[0].response, '{"type":"a","data":1}\f{"type":"b","data":2}')
      t.is(rec.count('a'), 0)
      return
    }
    await rec.waitCount('a', 1, 3000)
    t.deepEqual(rec.list[0].args[0], 1)
    t.is(rec.count('error'), 0)
  })

  test.serial(`[${impl}] delimiter is per endpoint (client side)`, async (t) => {
    const ipcA = track(t, newIpc(impl, { stopRetrying: true }))
    const ipcB = track(t, newIpc(impl, { delimiter: '|', stopRetrying: true }))
    const ep = await endpoint(t, 'unix')
    const srv = await rawServer(t, ep)
    const ca = connectClient(ipcA, 'a', ep)
    await once(ca, 'connect', 3000)
    const conn = await srv.waitConn()
    // a later client with '|' (pointed at nothing)
    ipcB.connectTo('b', path.join(tmpDir(t), 'none.sock'))
    ca.emit('x', 1)
    const want = impl === 'ref' ? '{"type":"x","data":1}|' : '{"type":"x","data":1}\f'
    const bytes = await conn.sink.waitLength(want.length, 3000)
    t.is(bytes.toString(), want)
  })

  test.serial(`[${impl}] complete frames are delivered before the chunk ends on a delimiter (server)`, async (t) => {
    const ipc = track(t, newIpc(impl))
    const ep = await endpoint(t, 'unix')
    const server = await startServer(ipc, ep)
    const rec = new Recorder().attach(server, ['m', 'error'])
    const cli = await rawClient(t, ep)
    const frames = [1, 2, 3, 4, 5, 6].map((i) => frame({ type: 'm', data: i }))
    const f6 = frames[5]
    cli.socket.write(frames.slice(0, 5).join('') + f6.slice(0, 10))
    if (impl === 'ref') {
      await delay(NEG_WINDOW)
      t.is(rec.count('m'), 0, `v9 holds frames 1-5 back (window ${NEG_WINDOW} ms)`)
    } else {
      await rec.waitCount('m', 5, 3000)
      t.deepEqual(
        rec.of('m').map((e) => e.args[0]),
        [1, 2, 3, 4, 5],
      )
    }
    cli.socket.write(f6.slice(10))
    await rec.waitCount('m', 6, 3000)
    t.deepEqual(
      rec.of('m').map((e) => e.args[0]),
      [1, 2, 3, 4, 5, 6],
    )
    t.is(rec.count('error'), 0)
  })

  test.serial(
    `[${impl}] complete frames are delivered before the chunk ends on a delimiter (client, tcp)`,
    async (t) => {
      const ipc = track(t, newIpc(impl, { stopRetrying: true }))
      const ep = await endpoint(t, 'tcp')
      const srv = await rawServer(t, ep)
      const c = connectClient(ipc, 'w', ep)
      const rec = new Recorder().attach(c, ['m', 'error'])
      await once(c, 'connect', 3000)
      const conn = await srv.waitConn()
      const frames = [1, 2, 3, 4, 5, 6].map((i) => frame({ type: 'm', data: { i, s: '\u00e9' } }))
      const f6 = Buffer.from(frames[5])
      // cut frame 6 inside the two-byte UTF-8 sequence of the e-acute
      const cut = Buffer.byteLength('{"type":"m","data":{"i":6,"s":"') + 1
      conn.socket.write(Buffer.concat([Buffer.from(frames.slice(0, 5).join('')), f6.subarray(0, cut)]))
      if (impl === 'ref') {
        await delay(NEG_WINDOW)
        t.is(rec.count('m'), 0, `v9 holds frames 1-5 back (window ${NEG_WINDOW} ms)`)
      } else {
        await rec.waitCount('m', 5, 3000)
      }
      conn.socket.write(f6.subarray(cut))
      await rec.waitCount('m', 6, 3000)
      t.deepEqual(
        rec.of('m').map((e) => e.args[0].i),
        [1, 2, 3, 4, 5, 6],
      )
      t.is(rec.count('error'), 0)
    },
  )
}

// The bad-frame sequence written by the peer, as published (after the real 'connect').
function checkParseOutcomes(t, list, sock) {
  const types = list.map((e) => e.type)
  t.deepEqual(types, ['a', 'error', 'error', 'undefined', 'error', 'error', 'connect', 'a'])
  const withSock = (e) => {
    if (sock) {
      t.is(e.args.length, 2, `${e.type} gets (data, socket)`)
      t.is(e.args[1], sock)
    } else {
      t.is(e.args.length, 1, `${e.type} gets exactly one argument`)
    }
    return e.args[0]
  }
  t.is(withSock(list[0]), 1)
  const e1 = withSock(list[1])
  t.deepEqual(Object.keys(e1), ['message', 'err', 'response'])
  t.is(e1.message, 'Invalid JSON response format')
  t.true(e1.err instanceof SyntaxError)
  t.is(e1.response, 'not json')
  const e2 = withSock(list[2])
  t.is(e2.message, 'Invalid JSON response format')
  t.true(e2.err instanceof TypeError)
  t.regex(e2.err.message, /null/)
  t.is(e2.response, null)
  t.is(withSock(list[3]), 7)
  for (const e of [list[4], list[5]]) {
    const d = withSock(e)
    t.is(d.message, 'Invalid JSON response format')
    t.true(d.err instanceof SyntaxError)
    t.is(d.response, '')
  }
  t.is(withSock(list[6]), 'x')
  t.is(withSock(list[7]), 2)
}
