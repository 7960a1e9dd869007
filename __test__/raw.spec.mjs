// rawBuffer mode over Unix and TCP (README, "rawBuffer mode"): no framing, emit(x) writes
// Buffer.from(x, encoding), receive publishes 'data' Buffers. Ours delivers the received
// bytes unchanged where v9 decoded them with config.encoding and re-encoded them, which is
// lossy for utf8 and ascii (README, "Differences from node-ipc v9").
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
  once,
  Recorder,
  delay,
  frame,
} from './helpers/behav-util.mjs'

const TRANSPORTS = ['unix', 'tcp']
const BAD_UTF8 = Buffer.from([0xff, 0x00, 0x0c, 0x80, 0x41])

const concatData = (rec) => Buffer.concat(rec.of('data').map((e) => e.args[0]))
const dataLength = (rec) => rec.of('data').reduce((n, e) => n + e.args[0].length, 0)

async function rawClientOf(t, impl, ep, cfg = {}) {
  const ipc = track(t, newIpc(impl, { rawBuffer: true, stopRetrying: true, ...cfg }))
  const c = connectClient(ipc, 'w', ep)
  const rec = new Recorder().attach(c, ['data', 'error', 'connect', 'a'])
  await rec.waitCount('connect', 1, 3000)
  return { ipc, c, rec }
}

async function rawServerOf(t, impl, ep, cfg = {}) {
  const ipc = track(t, newIpc(impl, { rawBuffer: true, ...cfg }))
  const server = await startServer(ipc, ep)
  const rec = new Recorder().attach(server, ['data', 'error', 'connect', 'a'])
  return { ipc, server, rec }
}

for (const impl of IMPL_NAMES) {
  for (const tr of TRANSPORTS) {
    test(`[${impl}] client emit writes Buffer.from(x, 'utf8'); extra args ignored; number throws (${tr})`, async (t) => {
      const ep = await endpoint(t, tr)
      const srv = await rawServer(t, ep)
      const { c } = await rawClientOf(t, impl, ep)
      const conn = await srv.waitConn()
      t.is(c.emit(BAD_UTF8), undefined)
      c.emit('h\u00e9', 'this data argument is ignored')
      c.emit([1, 2, 300])
      t.throws(() => c.emit(5), { instanceOf: TypeError })
      c.emit(Buffer.from('END'))
      const want = Buffer.concat([
        BAD_UTF8,
        Buffer.from('h\u00e9', 'utf8'),
        Buffer.from([1, 2, 44]),
        Buffer.from('END'),
      ])
      const got = await conn.sink.waitLength(want.length, 3000)
      t.is(got.toString('hex'), want.toString('hex'))
    })

    test(`[${impl}] client emit with encoding 'hex' (${tr})`, async (t) => {
      const ep = await endpoint(t, tr)
      const srv = await rawServer(t, ep)
      const { c } = await rawClientOf(t, impl, ep, { encoding: 'hex' })
      const conn = await srv.waitConn()
      c.emit('abcd')
      c.emit(Buffer.from([0xde, 0xad]))
      c.emit([0x10, 0x1ff])
      const got = await conn.sink.waitLength(6, 3000)
      t.is(got.toString('hex'), 'abcddead10ff')
    })

    test(`[${impl}] server emit(socket, x) and broadcast write raw bytes (${tr})`, async (t) => {
      const ep = await endpoint(t, tr)
      const { server, rec } = await rawServerOf(t, impl, ep)
      const cli = await rawClient(t, ep)
      await rec.waitCount('connect', 1, 3000)
      const sock = rec.of('connect')[0].args[0]
      t.is(server.emit(sock, BAD_UTF8), undefined)
      server.emit(sock, 'h\u00e9', 'ignored')
      server.emit(sock, [1, 2, 300])
      t.throws(() => server.emit(sock, 7), { instanceOf: TypeError })
      server.broadcast('B')
      const want = Buffer.concat([BAD_UTF8, Buffer.from('h\u00e9'), Buffer.from([1, 2, 44]), Buffer.from('B')])
      const got = await cli.sink.waitLength(want.length, 3000)
      t.is(got.toString('hex'), want.toString('hex'))
    })

    test(`[${impl}] client receives invalid UTF-8 ${impl === 'ref' ? 'replaced by U+FFFD (v9)' : 'unchanged'} (${tr})`, async (t) => {
      const ep = await endpoint(t, tr)
      const srv = await rawServer(t, ep)
      const { rec } = await rawClientOf(t, impl, ep)
      const conn = await srv.waitConn()
      conn.socket.write(BAD_UTF8)
      const want = impl === 'ref' ? 'efbfbd000cefbfbd41' : 'ff000c8041'
      await rec.waitFor(() => dataLength(rec) >= want.length / 2, 3000, 'raw data')
      t.is(concatData(rec).toString('hex'), want)
      for (const e of rec.of('data')) {
        t.true(Buffer.isBuffer(e.args[0]))
        t.is(e.args.length, 1)
      }
    })

    test(`[${impl}] server receives invalid UTF-8 ${impl === 'ref' ? 'replaced by U+FFFD (v9)' : 'unchanged'}; 'data' gets (Buffer, socket) (${tr})`, async (t) => {
      const ep = await endpoint(t, tr)
      const { server, rec } = await rawServerOf(t, impl, ep)
      const cli = await rawClient(t, ep)
      await rec.waitCount('connect', 1, 3000)
      const sock = rec.of('connect')[0].args[0]
      cli.socket.write(BAD_UTF8)
      const want = impl === 'ref' ? 'efbfbd000cefbfbd41' : 'ff000c8041'
      await rec.waitFor(() => dataLength(rec) >= want.length / 2, 3000, 'raw data')
      t.is(concatData(rec).toString('hex'), want)
      for (const e of rec.of('data')) {
        t.true(Buffer.isBuffer(e.args[0]))
        t.is(e.args[1], sock)
      }
      // the socket argument can be used to answer
      server.emit(rec.of('data')[0].args[1], Buffer.from('ok'))
      const got = await cli.sink.waitLength(2, 3000)
      t.is(got.toString(), 'ok')
    })
  }

  test(`[${impl}] encoding 'ascii': ${impl === 'ref' ? 'high bit stripped (v9)' : 'bytes unchanged'}`, async (t) => {
    const ep = await endpoint(t, 'unix')
    const srv = await rawServer(t, ep)
    const { rec } = await rawClientOf(t, impl, ep, { encoding: 'ascii' })
    const conn = await srv.waitConn()
    conn.socket.write(BAD_UTF8)
    await rec.waitFor(() => dataLength(rec) >= 5, 3000, 'raw data')
    t.is(concatData(rec).toString('hex'), impl === 'ref' ? '7f000c0041' : 'ff000c8041')
  })

  for (const encoding of ['hex', 'latin1']) {
    test(`[${impl}] encoding '${encoding}' is lossless on receive (both sides)`, async (t) => {
      const ep = await endpoint(t, 'unix')
      const srv = await rawServer(t, ep)
      const { rec } = await rawClientOf(t, impl, ep, { encoding })
      const conn = await srv.waitConn()
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      conn.socket.write(all)
      await rec.waitFor(() => dataLength(rec) >= 256, 3000, '256 bytes')
      t.true(concatData(rec).equals(all))

      const ep2 = await endpoint(t, 'tcp')
      const { rec: srec } = await rawServerOf(t, impl, ep2, { encoding })
      const cli = await rawClient(t, ep2)
      await srec.waitCount('connect', 1, 3000)
      cli.socket.write(all)
      await srec.waitFor(() => dataLength(srec) >= 256, 3000, '256 bytes')
      t.true(concatData(srec).equals(all))
    })
  }

  test(`[${impl}] no framing: JSON frames arrive as bytes; 1 MiB arrives intact`, async (t) => {
    const ep = await endpoint(t, 'unix')
    const srv = await rawServer(t, ep)
    const { rec } = await rawClientOf(t, impl, ep)
    const conn = await srv.waitConn()
    const f = frame({ type: 'a', data: 1 })
    conn.socket.write(f)
    await rec.waitFor(() => dataLength(rec) >= f.length, 3000, 'frame bytes')
    t.is(concatData(rec).toString(), f)
    t.is(rec.count('a'), 0)
    t.is(rec.count('error'), 0)

    rec.list.length = 0
    const big = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = 0x20 + (i % 95)
    conn.socket.write(big)
    await rec.waitFor(() => dataLength(rec) >= big.length, 5000, '1 MiB')
    t.is(dataLength(rec), big.length)
    t.true(concatData(rec).equals(big))
  })

  test(`[${impl}] several raw emits may coalesce; bytes are never reframed`, async (t) => {
    const ep = await endpoint(t, 'unix')
    const { server, rec } = await rawServerOf(t, impl, ep)
    const ipc = track(t, newIpc(impl, { rawBuffer: true, stopRetrying: true }))
    const c = connectClient(ipc, 'w', ep)
    const crec = new Recorder().attach(c, ['data'])
    await once(c, 'connect', 3000)
    await rec.waitCount('connect', 1, 3000)
    const sock = rec.of('connect')[0].args[0]
    server.emit(sock, 'hello')
    server.emit(sock, 'goodbye')
    await crec.waitFor(() => dataLength(crec) >= 12, 3000, '12 bytes')
    t.is(concatData(crec).toString(), 'hellogoodbye')
    await delay(100) // no extra bytes follow (window >> loopback latency)
    t.is(dataLength(crec), 12)
  })
}

// Bytes passed to emit are taken when emit is called: changing the Buffer afterwards does
// not change what is sent (v9 copied it; ours copies into the socket's cork or the core).
for (const impl of IMPL_NAMES) {
  for (const tr of TRANSPORTS) {
    test(`[${impl}] raw emit and broadcast send the bytes as they were at the call, sync client too (${tr})`, async (t) => {
      const ep = await endpoint(t, tr)
      const sizes = [16, 100 * 1024] // below and above the cork's size limit
      const srv = await rawServer(t, ep)
      const { c } = await rawClientOf(t, impl, ep)
      const { c: cs } = await rawClientOf(t, impl, ep, { sync: true })
      const conn = await srv.waitConn(1)
      const connSync = await srv.waitConn(2)
      const queued = []
      for (const size of sizes) {
        const buf = Buffer.alloc(size, 'a')
        c.emit(buf)
        buf.fill('z')
        // Sync: the first goes at once, the second waits in the queue for a reply.
        const u8 = new Uint8Array(size).fill(0x62)
        cs.emit(u8)
        queued.push(u8)
      }
      for (const u8 of queued) u8.fill(0x7a)
      const total = sizes.reduce((a, b) => a + b, 0)
      const got = await conn.sink.waitLength(total, 5000)
      t.true(got.equals(Buffer.alloc(total, 'a')), 'client: the bytes of the call')
      await connSync.sink.waitLength(sizes[0], 5000)
      connSync.socket.write('reply')
      const gotSync = await connSync.sink.waitLength(total, 5000)
      t.true(gotSync.equals(Buffer.alloc(total, 'b')), 'sync client: the bytes of the call')

      const ep2 = await endpoint(t, tr)
      const { server, rec } = await rawServerOf(t, impl, ep2)
      const cli = await rawClient(t, ep2)
      await rec.waitCount('connect', 1, 3000)
      const sock = rec.of('connect')[0].args[0]
      for (const size of sizes) {
        const one = Buffer.alloc(size, 'c')
        server.emit(sock, one)
        one.fill('z')
        const all = Buffer.alloc(size, 'd')
        server.broadcast(all)
        all.fill('z')
      }
      const want = Buffer.concat(sizes.map((n) => Buffer.concat([Buffer.alloc(n, 'c'), Buffer.alloc(n, 'd')])))
      const gotServer = await cli.sink.waitLength(want.length, 5000)
      t.true(gotServer.equals(want), 'server emit and broadcast: the bytes of the call')
    })
  }
}
