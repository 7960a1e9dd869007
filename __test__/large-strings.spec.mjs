// Large strings (64 KiB and up) skip JSON.stringify on the way out and JSON.parse on the
// way in (lib/message.js, src/json_text.rs). Frames must still be byte for byte what v9
// sends, and received values exactly what v9 hands to handlers: every case runs on the
// reference too, sending against the JSON.stringify formula, receiving differentially.
import test from 'ava'
import {
  IMPL_NAMES,
  newIpc,
  track,
  endpoint,
  rawServer,
  rawClient,
  startServer,
  connectClient,
  clientWithRawPeer,
  once,
  Recorder,
  frame,
} from './helpers/behav-util.mjs'

const TRANSPORTS = ['unix', 'tcp']
const WAIT = 10000
const LARGE = 64 * 1024 // lib/message.js LARGE_STRING

const ascii = (n, seed = 0) => {
  let s = ''
  for (let i = 0; s.length < n; i++) s += String.fromCharCode(97 + ((i + seed) % 26)).repeat(97)
  return s.slice(0, n)
}
const BIG = ascii(100000)
const BIG2 = ascii(70000, 5)
const UNICODE = 'é€𝄞 日本語 '.repeat(8000)
const ESCAPES = ascii(50000) + '"\\\n\r\t\b\f\u0000\u001f\u007f\u2028\u2029' + ascii(50000)

function withGetter() {
  const data = { small: 1 }
  let calls = 0
  Object.defineProperty(data, 'g', { enumerable: true, get: () => (calls++, BIG) })
  return { data, calls: () => calls }
}

class Holder {
  constructor() {
    this.payload = BIG
  }
}

// [label, type, data]: what gets emitted; the frame must be JSON.stringify({type, data}).
function sendRows() {
  const many = {}
  for (let i = 0; i < 20; i++) many['k' + i] = i === 7 ? BIG : i
  const nullProto = Object.create(null)
  nullProto.x = BIG
  return [
    ['large string as data', 'm', BIG],
    ['large field', 'm', { i: 1, payload: BIG, s: 'small', n: null, a: [1, 'x'] }],
    ['two large fields', 'm', { a: BIG, b: BIG2, c: { deep: BIG } }],
    ['non-ASCII', 'm', { u: UNICODE }],
    ['characters JSON escapes', 'm', { e: ESCAPES }],
    ['lone surrogate', 'm', { s: BIG + '\ud800' + BIG2 }],
    ['lone low surrogate at the end', 'm', BIG + '\udc00'],
    ['U+FFFD', 'm', { s: BIG + '\ufffd' }],
    ['one under the threshold', 'm', { s: ascii(LARGE - 1) }],
    ['at the threshold', 'm', { s: ascii(LARGE) }],
    ['__proto__ own key', 'm', JSON.parse(`{"__proto__":"${BIG}","b":1}`)],
    ['null prototype', 'm', nullProto],
    ['class instance', 'm', new Holder()],
    ['toJSON', 'm', { toJSON: () => ({ t: BIG2 }), payload: BIG }],
    ['twenty fields', 'm', many],
    ['large array item', 'm', [BIG, 1]],
    ['field order with integer keys', 'm', { z: BIG, 2: 'two', 1: BIG2 }],
    ['large type string', ascii(LARGE), { payload: BIG }],
  ]
}

function expectedFrames(rows, delimiter = '\f') {
  return rows.map(([, type, data]) => frame({ type, data }, delimiter)).join('')
}

for (const impl of IMPL_NAMES) {
  for (const tr of TRANSPORTS) {
    test.serial(
      `[${impl}] client frames with large strings are byte-exact, one emit per tick and many in one (${tr})`,
      async (t) => {
        const { c, conn } = await clientWithRawPeer(t, impl, tr)
        const rows = sendRows()
        const getter = withGetter()
        rows.push(['getter', 'm', getter.data])
        // One tick apart, then all in one tick between small frames.
        for (const [label, type, data] of rows) {
          t.is(c.emit(type, data), undefined, label)
          await new Promise((resolve) => setImmediate(resolve))
        }
        for (const [, type, data] of rows) {
          c.emit('small', 1)
          c.emit(type, data)
        }
        c.emit('end', 'END')
        t.is(getter.calls(), 2, 'the getter runs once per emit, as under JSON.stringify')
        const want =
          expectedFrames(rows) +
          rows.map(([, type, data]) => frame({ type: 'small', data: 1 }) + frame({ type, data })).join('') +
          frame({ type: 'end', data: 'END' })
        const bytes = await conn.sink.waitEndsWith(frame({ type: 'end', data: 'END' }), WAIT)
        const got = bytes.toString('utf8').split('\f')
        const wanted = want.split('\f')
        t.is(got.length, wanted.length)
        for (let i = 0; i < wanted.length; i++) {
          if (got[i] !== wanted[i]) {
            t.fail(`frame ${i} differs: got ${got[i].length} chars starting ${JSON.stringify(got[i].slice(0, 60))}`)
            break
          }
        }
        t.true(bytes.equals(Buffer.from(want, 'utf8')), 'byte-exact')
      },
    )

    test.serial(`[${impl}] server emit and broadcast of large strings are byte-exact (${tr})`, async (t) => {
      const ipc = track(t, newIpc(impl))
      const ep = await endpoint(t, tr)
      const server = await startServer(ipc, ep)
      const rec = new Recorder().attach(server, ['connect'])
      const a = await rawClient(t, ep)
      const b = await rawClient(t, ep)
      await rec.waitCount('connect', 2, 3000)
      const [sockA] = rec.of('connect')[0].args
      const rows = sendRows()
      for (const [, type, data] of rows) {
        server.emit(sockA, type, data)
        server.broadcast(type, data)
      }
      server.broadcast('end', 'END')
      const end = frame({ type: 'end', data: 'END' })
      const bytesA = await a.sink.waitEndsWith(end, WAIT)
      const bytesB = await b.sink.waitEndsWith(end, WAIT)
      const one = rows.map(([, type, data]) => frame({ type, data }))
      t.true(bytesA.equals(Buffer.from(one.map((f) => f + f).join('') + end, 'utf8')), 'emit + broadcast, in order')
      t.true(bytesB.equals(Buffer.from(one.join('') + end, 'utf8')), 'broadcast only')
    })

    test.serial(`[${impl}] custom delimiter after a large string (${tr})`, async (t) => {
      const { c, conn } = await clientWithRawPeer(t, impl, tr, { delimiter: '<<END>>' })
      c.emit('m', { payload: BIG })
      c.emit('m', BIG2)
      const want = frame({ type: 'm', data: { payload: BIG } }, '<<END>>') + frame({ type: 'm', data: BIG2 }, '<<END>>')
      const bytes = await conn.sink.waitLength(Buffer.byteLength(want), WAIT)
      t.true(bytes.equals(Buffer.from(want)))
    })
  }
}

// Receiving: frames as a peer may send them, each delivered to 'm', 'error' or
// 'undefined'; the records of both impls must be equal.
function receiveFrames() {
  const f = (s) => Buffer.from(s + '\f', 'utf8')
  const big = BIG
  return [
    f(JSON.stringify({ type: 'm', data: big })),
    f(JSON.stringify({ type: 'm', data: { i: 1, payload: big, s: 'small', n: null } })),
    f(JSON.stringify({ type: 'm', data: { u: UNICODE } })),
    f(JSON.stringify({ type: 'm', data: { e: ESCAPES } })),
    f(JSON.stringify({ type: 'm', data: { [big]: 1, v: BIG2 } })),
    f(`{ "type" : "m" , "data" : { "k"\n: "${big}" , "a" : [ "${BIG2}" , "${big}" ] , "o":{"d":{"x":"${big}"}} } }`),
    f(`{"type":"m","data":{"__proto__":"${big}","b":1}}`),
    f(`{"type":"m","data":{"a":"node-ipc-rs:0000000000000000:0","b":"${big}"}}`),
    f(`{"type":"m","data":"${big}\\ud800${BIG2}"}`),
    f(`"${big}"`),
    f(`{"type":"m","data":"${big}",}`),
    f(`{"type":"m","data":"${big}\n${BIG2}"}`),
    f(`{"type":"m","data":["${big}" "${BIG2}"]}`),
    f(`{"type":"m","data":"${big}`),
    Buffer.concat([
      Buffer.from(`{"type":"m","data":"${big}`),
      Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
      Buffer.from(`${BIG2}"}\f`),
    ]),
    f(JSON.stringify({ type: 'm', data: 'small after' })),
  ]
}

function describe(args) {
  return args.map((a) => {
    if (a instanceof Error) return { error: a.message }
    if (a && typeof a === 'object' && a.err instanceof Error) {
      return { message: a.message, err: `${a.err.name}: ${a.err.message}`, response: JSON.stringify(a.response) }
    }
    if (a && typeof a === 'object' && typeof a.write === 'function') return 'socket'
    return {
      json: JSON.stringify(a),
      proto: a && typeof a === 'object' ? Object.getPrototypeOf(a) === Object.prototype : null,
      keys: a && typeof a === 'object' ? Object.keys(a) : null,
    }
  })
}

async function receiveOn(impl, side, tr, t) {
  const frames = receiveFrames()
  const expectedEvents = frames.length
  const ipc = track(t, newIpc(impl, { stopRetrying: true }))
  const ep = await endpoint(t, tr)
  const rec = new Recorder()
  let emitter
  let send
  if (side === 'server') {
    emitter = await startServer(ipc, ep)
    rec.attach(emitter, ['m', 'error', 'undefined'])
    const cli = await rawClient(t, ep)
    send = (b) => cli.socket.write(b)
  } else {
    const srv = await rawServer(t, ep)
    emitter = connectClient(ipc, 'r', ep)
    rec.attach(emitter, ['m', 'error', 'undefined'])
    await once(emitter, 'connect', 3000)
    const conn = await srv.waitConn()
    send = (b) => conn.socket.write(b)
  }
  // All frames in one write, so that large and small ones share read batches.
  send(Buffer.concat(frames.slice(0, 8)))
  for (const b of frames.slice(8)) send(b)
  await rec.waitFor((l) => l.length >= expectedEvents, WAIT, `${expectedEvents} events`)
  return rec.list.map((e) => ({ type: e.type, args: describe(e.args) }))
}

for (const side of ['server', 'client']) {
  for (const tr of TRANSPORTS) {
    test.serial(`[ours vs ref] ${side} receives large-string frames as v9 does, errors included (${tr})`, async (t) => {
      const ref = await receiveOn('ref', side, tr, t)
      const ours = await receiveOn('ours', side, tr, t)
      t.is(ours.length, ref.length)
      t.true(
        ref.some((e) => e.type === 'error'),
        'the cases include frames JSON.parse rejects',
      )
      for (let i = 0; i < ref.length; i++) {
        t.deepEqual(ours[i], ref[i], `event ${i}`)
      }
    })
  }
}

// Messages whose serialisation runs user code (getters, toJSON, proxy traps) take the
// JSON.stringify path whole, so effects happen as often and in the order v9 has them.
function effectfulRows() {
  return [
    [
      'getter that changes an earlier field',
      () => {
        const o = { a: { x: 1 } }
        Object.defineProperty(o, 'b', {
          enumerable: true,
          get() {
            this.a.x = 2
            return BIG
          },
        })
        return ['m', o]
      },
    ],
    [
      'nested toJSON that deletes a later field',
      () => {
        const p = {
          a: {
            toJSON() {
              delete p.c
              return 1
            },
          },
          b: BIG,
          c: 'orig',
        }
        return ['m', p]
      },
    ],
    [
      'type whose toJSON changes data',
      () => {
        const d = { a: 'orig', b: BIG }
        return [
          {
            toJSON() {
              d.a = 'changed'
              return 't'
            },
          },
          d,
        ]
      },
    ],
    [
      'proxy whose getPrototypeOf trap throws',
      () => {
        return [
          'm',
          new Proxy(
            { b: BIG },
            {
              getPrototypeOf() {
                throw new Error('trap')
              },
            },
          ),
        ]
      },
    ],
    [
      'small message with a counting getter',
      () => {
        const o = { n: 0 }
        Object.defineProperty(o, 'g', {
          enumerable: true,
          get() {
            return ++o.n
          },
        })
        return ['m', o]
      },
    ],
  ]
}

for (const impl of IMPL_NAMES) {
  for (const tr of TRANSPORTS) {
    test.serial(`[${impl}] serialisation that runs user code behaves as under JSON.stringify (${tr})`, async (t) => {
      const { c, conn } = await clientWithRawPeer(t, impl, tr)
      let want = ''
      for (const [label, make] of effectfulRows()) {
        const [type, data] = make()
        t.notThrows(() => c.emit(type, data), label)
        const [wantType, wantData] = make() // a fresh twin, stringified once as v9 does
        want += frame({ type: wantType, data: wantData })
      }
      c.emit('end', 'END')
      want += frame({ type: 'end', data: 'END' })
      const bytes = await conn.sink.waitEndsWith(frame({ type: 'end', data: 'END' }), WAIT)
      t.true(bytes.equals(Buffer.from(want)), 'the bytes JSON.stringify made, effects included')
    })

    test.serial(`[${impl}] a wrapped socket.write sees frames with large strings (${tr})`, async (t) => {
      const ipc = track(t, newIpc(impl))
      const ep = await endpoint(t, tr)
      const server = await startServer(ipc, ep)
      const rec = new Recorder().attach(server, ['connect'])
      const cli = await rawClient(t, ep)
      await rec.waitCount('connect', 1, 3000)
      const sock = rec.of('connect')[0].args[0]
      const seen = []
      const write = sock.write
      sock.write = function (data, ...rest) {
        seen.push(String(data))
        return write.call(this, data, ...rest)
      }
      server.emit(sock, 'm', { payload: BIG })
      const want = frame({ type: 'm', data: { payload: BIG } })
      await cli.sink.waitLength(Buffer.byteLength(want), WAIT)
      t.deepEqual(seen, [want])
    })
  }
}

test.serial('[ours] text corked before a large frame still counts toward the high-water mark', async (t) => {
  const ipc = track(t, newIpc('ours'))
  const ep = await endpoint(t, 'unix')
  const server = await startServer(ipc, ep)
  const rec = new Recorder().attach(server, ['connect'])
  const cli = await rawClient(t, ep)
  cli.socket.pause()
  await rec.waitCount('connect', 1, 3000)
  const sock = rec.of('connect')[0].args[0]
  const MiB = 1024 * 1024
  // All in one tick: 10 MiB of text, a large frame that takes it in, then 7 MiB more:
  // 17 MiB pending passes the 16 MiB mark (lib/native.js WRITE_HIGH_WATER).
  t.true(sock.write('x'.repeat(10 * MiB)))
  t.is(server.emit(sock, 'm', 'y'.repeat(LARGE)), undefined)
  t.false(sock.write('x'.repeat(7 * MiB)))
})
