// Memory and time budgets (README, "Options node-ipc-rs adds"), additions of ours, so ours
// only:
// - maxBufferedBytes: bytes of incomplete frames all of a server's connections hold
//   together; past it the connection holding the most is closed with ERR_IPC_MEMORY_LIMIT,
//   and the server's memory stays bounded while the others are served;
// - frameTimeout: a frame incomplete for longer closes its connection with
//   ERR_IPC_FRAME_TIMEOUT; frames completed in time, however many reads they span, do not;
// - maxPendingBytes: bytes queued towards one peer (emits and broadcasts) past it close that
//   connection with ERR_IPC_PENDING_LIMIT, on a server and on a client; a peer that reads is
//   unaffected; a sync-mode client's emits waiting in JS for replies count too.
// Plain transports run on the JS thread's poll handles, TLS on tokio tasks; the file is also
// in `npm run test:tokio-io`, which puts every stream on tokio tasks.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  newIpc,
  track,
  endpoint,
  startServer,
  connectClient,
  Recorder,
  once,
  withTimeout,
  frame,
  rawClient,
  rawServer,
  rawPing,
  delay,
  SERVER_TLS,
  CLIENT_TLS,
} from './helpers/behav-util.mjs'
import { spawnNode, assertLoaded } from './helpers/proc.mjs'

const MiB = 1024 * 1024
const WAIT = 10000
const TRANSPORTS = ['unix', 'tcp', 'tls']
const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'reliability')

const tlsCfg = (ep, side) => (ep.tls ? { tls: side === 'server' ? SERVER_TLS : CLIENT_TLS } : {})
const writeAll = (socket, data) => new Promise((resolve) => socket.write(data, resolve))

// Peak resident set size of a process in bytes (VmHWM), from /proc.
function peakRss(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

// An ours server on a fresh endpoint of `transport` answering 'ping' with 'pong', its
// events recorded: 'error' with [err, socket], 'socket.disconnected', 'msg' with [data].
async function budgetServer(t, transport, cfg) {
  const ep = await endpoint(t, transport)
  const ipc = track(t, newIpc('ours', { ...cfg, ...tlsCfg(ep, 'server') }))
  const rec = new Recorder()
  await startServer(ipc, ep, () => {
    rec.attach(ipc.server, ['error', 'socket.disconnected', 'msg'])
    ipc.server.on('ping', (data, socket) => ipc.server.emit(socket, 'pong', data))
    ipc.server.on('msg', (data, socket) => ipc.server.emit(socket, 'got', data))
  })
  return { ep, ipc, rec }
}

const errorsWith = (rec, code) => rec.of('error').filter((e) => e.args[0] && e.args[0].code === code)

// ---------------------------------------------------------------------- maxBufferedBytes

for (const transport of ['unix', 'tls']) {
  test(`${transport}: maxBufferedBytes 64 MiB, 16 connections trickling 16 MiB incomplete frames: server RSS stays bounded, the largest holders are closed with ERR_IPC_MEMORY_LIMIT, a normal client is answered`, async (t) => {
    t.timeout(120000)
    const LIMIT = 64 * MiB
    const CONNS = 16
    const FRAME = 16 * MiB
    const CHUNK = 256 * 1024
    const ep = await endpoint(t, transport)
    const env = ep.path ? { SOCK_PATH: ep.path } : { PORT: String(ep.port) }
    const config = { maxBufferedBytes: LIMIT, ...(ep.tls ? { tls: SERVER_TLS } : {}) }
    const server = spawnNode(path.join(FIX, 'server.cjs'), {
      impl: 'ours',
      env: { ...env, CONFIG: JSON.stringify(config), QUIET: '1' },
      label: `budgets:${transport}`,
      t,
    })
    await assertLoaded(t, server, 'ours')
    await server.waitJson((o) => o.ev === 'listening', WAIT)

    const raws = []
    for (let i = 0; i < CONNS; i++) {
      const raw = await rawClient(t, ep)
      raw.gone = false
      raw.closed.then(() => {
        raw.gone = true
      })
      raw.socket.write('{"type":"big","data":"')
      raws.push(raw)
    }
    // Round by round, each open connection gets one more chunk of its frame, which never
    // ends: together they would hold 256 MiB.
    const chunk = Buffer.alloc(CHUNK, 'x')
    let pinged = false
    for (let sent = 0; sent < FRAME; sent += CHUNK) {
      const open = raws.filter((r) => !r.gone)
      await withTimeout(
        Promise.all(open.map((r) => Promise.race([writeAll(r.socket, chunk), r.closed]))),
        WAIT,
        `round at ${sent} bytes`,
      )
      if (!pinged && sent >= FRAME / 2) {
        // Meanwhile, past the budget by now, a normal client is served.
        const normal = await rawClient(t, ep)
        await rawPing(normal, 'midway', WAIT)
        normal.socket.destroy()
        pinged = true
      }
    }
    const normal = await rawClient(t, ep)
    await rawPing(normal, 'after', WAIT)
    const errors = server.json().filter((o) => o.ev === 'error')
    const closedCount = raws.filter((r) => r.gone).length
    const peak = peakRss(server.pid)
    t.log(`peak RSS ${(peak / MiB).toFixed(1)} MiB; ${closedCount} of ${CONNS} closed; ${errors.length} errors`)
    t.true(errors.length >= 1, 'at least one connection closed for the budget')
    t.true(
      errors.every((e) => e.code === 'ERR_IPC_MEMORY_LIMIT'),
      JSON.stringify(errors.slice(0, 3)),
    )
    t.true(closedCount >= 1 && closedCount < CONNS, `${closedCount} closed: the others keep their connections`)
    t.true(peak > 0 && peak < LIMIT + 100 * 1000 * 1000, `peak RSS ${peak}`)
  })
}

test('unix: maxBufferedBytes closes the connection holding the most, whichever connection passed the budget, and 0 turns it off', async (t) => {
  const { ep, rec } = await budgetServer(t, 'unix', { maxBufferedBytes: 1 * MiB })
  const big = await rawClient(t, ep)
  const small = await rawClient(t, ep)
  await writeAll(big.socket, `{"type":"msg","data":"${'b'.repeat(900 * 1024)}`)
  // Whichever read takes the total past 1 MiB, the big one holds the most and goes.
  await writeAll(small.socket, `{"type":"msg","data":"${'s'.repeat(200 * 1024)}`)
  await withTimeout(big.closed, WAIT, 'the largest holder closed')
  const [err] = (await rec.waitOne((e) => e.type === 'error', WAIT, 'error')).args
  t.is(err.code, 'ERR_IPC_MEMORY_LIMIT')
  t.is(err.limit, 1 * MiB)
  t.true(err.size > 200 * 1024, `size ${err.size}: the big one held the most`)
  // The small one completes its frame and is answered.
  small.socket.write('"}\f')
  await small.sink.waitFor((b) => b.includes('"type":"got"'), WAIT, 'the small frame answered')
  t.is(errorsWith(rec, 'ERR_IPC_MEMORY_LIMIT').length, 1)

  const off = await budgetServer(t, 'unix', { maxBufferedBytes: 0 })
  const raw = await rawClient(t, off.ep)
  await writeAll(raw.socket, `{"type":"msg","data":"${'o'.repeat(2 * MiB)}`)
  raw.socket.write('"}\f')
  await raw.sink.waitFor((b) => b.includes('"type":"got"'), WAIT, 'the 2 MiB frame answered')
  t.is(off.rec.count('error'), 0, '0: no budget')
})

// -------------------------------------------------------------------------- frameTimeout

// Serial: the streaming peer's frames each stay incomplete for one round trip through this
// process, which the other tests' bulk transfers could stretch past the timeout.
for (const transport of TRANSPORTS) {
  test.serial(
    `${transport}: frameTimeout closes a connection whose frame stays incomplete, not one that completes its frames`,
    async (t) => {
      const TIMEOUT = 2000
      const { ep, rec } = await budgetServer(t, transport, { frameTimeout: TIMEOUT })
      const stalled = await rawClient(t, ep)
      const prompt = await rawClient(t, ep)
      const streaming = await rawClient(t, ep)
      // The prompt one sends half a frame, then the rest as a separate read.
      prompt.socket.write('{"type":"msg","data":"prom')
      // The stalled one sends half a frame and nothing more.
      stalled.socket.write('{"type":"msg","data":"half')
      await delay(20)
      prompt.socket.write('pt"}\f')
      // The streaming one always ends its writes inside a frame: each write completes the
      // previous frame and starts the next, for longer than the timeout in all.
      const events = []
      let n = 0
      streaming.socket.write('{"type":"msg","data":"s0')
      const streamUntil = Date.now() + 1.5 * TIMEOUT
      const streamed = (async () => {
        for (; Date.now() < streamUntil && n < 1000; n++) {
          streaming.socket.write(`"}\f{"type":"msg","data":"s${n + 1}`)
          await streaming.sink.waitFor((b) => b.includes(`"data":"s${n}"`), WAIT, `echo of s${n}`)
        }
        streaming.socket.write('"}\f')
        await streaming.sink.waitFor((b) => b.includes(`"data":"s${n}"`), WAIT, `echo of s${n}`)
      })()
      await prompt.sink.waitFor((b) => b.includes('"data":"prompt"'), WAIT, 'the prompt frame answered')
      events.push('prompt answered')
      await withTimeout(stalled.closed, WAIT + TIMEOUT, 'the stalled connection closed')
      events.push('stalled closed')
      const [err, socket] = (await rec.waitOne((e) => e.type === 'error', WAIT, 'error')).args
      t.is(err.code, 'ERR_IPC_FRAME_TIMEOUT')
      t.is(err.limit, TIMEOUT)
      t.is(err.size, Buffer.byteLength('{"type":"msg","data":"half'))
      t.truthy(socket, 'the error names the socket')
      await streamed
      t.true(n >= 2, `${n} frames streamed`)
      // A window of 3x the timeout after the close: nobody else is closed.
      await delay(3 * TIMEOUT)
      await rawPing(prompt, 'prompt still served', WAIT)
      await rawPing(streaming, 'streaming still served', WAIT)
      t.deepEqual(events, ['prompt answered', 'stalled closed'])
      t.is(rec.count('error'), 1, JSON.stringify(rec.of('error').map((e) => e.args[0].code)))
      t.is(rec.count('socket.disconnected'), 1)
    },
  )
}

// ------------------------------------------------------------------------ maxPendingBytes

for (const transport of TRANSPORTS) {
  for (const how of ['emit', 'broadcast']) {
    test(`${transport}: server maxPendingBytes (${how}) closes the connection whose peer stopped reading with ERR_IPC_PENDING_LIMIT; a reading peer is unaffected`, async (t) => {
      const LIMIT = 1 * MiB
      const PIECE = 'p'.repeat(256 * 1024)
      const ep = await endpoint(t, transport)
      const ipc = track(t, newIpc('ours', { maxPendingBytes: LIMIT, ...tlsCfg(ep, 'server') }))
      const rec = new Recorder()
      const sockets = []
      await startServer(ipc, ep, () => {
        rec.attach(ipc.server, ['error', 'socket.disconnected'])
        ipc.server.on('connect', (socket) => sockets.push(socket))
      })
      const stalled = await rawClient(t, ep)
      stalled.socket.pause()
      const reading = await rawClient(t, ep)
      await withTimeout(
        (async () => {
          while (sockets.length < 2) await delay(5)
        })(),
        WAIT,
        'both connections',
      )
      const [toStalled, toReading] = sockets
      // Piece by piece, each once the reading peer has it all: its queue stays small, the
      // stalled peer's grows past the limit once the kernel's buffers are full.
      let n = 0
      for (; n < 256 && rec.count('error') === 0; n++) {
        const tag = `{"type":"piece","data":{"n":${n}`
        if (how === 'emit') {
          ipc.server.emit(toStalled, 'piece', { n, piece: PIECE })
          ipc.server.emit(toReading, 'piece', { n, piece: PIECE })
        } else {
          ipc.server.broadcast('piece', { n, piece: PIECE })
        }
        await reading.sink.waitFor((b) => b.includes(tag), WAIT, `piece ${n}`)
      }
      const [err, socket] = (await rec.waitOne((e) => e.type === 'error', WAIT, 'error')).args
      t.is(err.code, 'ERR_IPC_PENDING_LIMIT')
      t.is(err.limit, LIMIT)
      t.true(err.size > LIMIT, `size ${err.size}`)
      t.is(socket, toStalled)
      // The stalled peer reads nothing, not even the end: the server's side shows the close.
      await rec.waitCount('socket.disconnected', 1, WAIT)
      // The reading peer goes on: a window of 3 more pieces, and it is still open.
      for (let i = 0; i < 3; i++, n++) {
        ipc.server.emit(toReading, 'piece', { n, piece: PIECE })
        await reading.sink.waitFor((b) => b.includes(`{"type":"piece","data":{"n":${n}`), WAIT, `piece ${n}`)
      }
      t.false(toReading.destroyed)
      t.is(rec.count('error'), 1)
      t.is(rec.count('socket.disconnected'), 1)
    })
  }

  test(`${transport}: client maxPendingBytes closes the connection to a server that stopped reading with ERR_IPC_PENDING_LIMIT`, async (t) => {
    const LIMIT = 1 * MiB
    const ep = await endpoint(t, transport)
    const srv = await rawServer(t, ep, (c) => c.socket.pause())
    const ipc = track(t, newIpc('ours', { maxPendingBytes: LIMIT, stopRetrying: true, ...tlsCfg(ep, 'client') }))
    const c = connectClient(ipc, 'w', ep)
    const rec = new Recorder().attach(c, ['error', 'disconnect', 'destroy'])
    await once(c, 'connect', WAIT)
    await srv.waitConn()
    const piece = 'c'.repeat(256 * 1024)
    for (let n = 0; n < 256 && rec.count('error') === 0; n++) {
      c.emit('piece', piece)
      await delay(0)
    }
    await rec.waitCount('disconnect', 1, WAIT)
    const err = rec.of('error')[0].args[0]
    t.is(err.code, 'ERR_IPC_PENDING_LIMIT')
    t.is(err.limit, LIMIT)
    t.deepEqual(rec.types().slice(0, 2), ['error', 'disconnect'])
  })
}

for (const transport of ['unix', 'tls']) {
  // The sync queue lives in JS: a server that never replies would make it grow without end.
  test(`${transport}: a sync-mode client's queue of emits waiting for replies is bounded by maxPendingBytes; replies free it`, async (t) => {
    const LIMIT = 64 * 1024
    const ep = await endpoint(t, transport)
    const server = track(t, newIpc('ours', tlsCfg(ep, 'server')))
    const got = new Recorder()
    let answering = true
    await startServer(server, ep, () => {
      got.attach(server.server, ['req', 'socket.connected', 'socket.disconnected'])
      server.server.on('req', (data, socket) => {
        if (answering) {
          server.server.emit(socket, 'ack', data.n)
        }
      })
    })
    const cfg = { sync: true, maxPendingBytes: LIMIT, retry: 50, maxRetries: 3, ...tlsCfg(ep, 'client') }
    const piece = 'q'.repeat(1024) // ~1 KiB frames

    // Answered: 48 emits wait at once (~48 KiB), and every ack brings one more, 150 in
    // all: the queue never empties, so only replies freeing their bytes keep it under the
    // limit. Over Unix, an emit larger than the limit goes out when the queue is idle: the
    // socket takes it at once, as without sync mode. (Over TLS every write waits in the
    // core's queue for its thread first, so the core's own limit refuses it.)
    const ok = track(t, newIpc('ours', cfg))
    const a = connectClient(ok, 'a', ep)
    const aRec = new Recorder().attach(a, ['error', 'ack'])
    await once(a, 'connect', WAIT)
    let sent = 0
    a.on('ack', () => {
      if (sent < 150) {
        a.emit('req', { n: sent++, piece })
      }
    })
    while (sent < 48) {
      a.emit('req', { n: sent++, piece })
    }
    await aRec.waitCount('ack', 150, WAIT)
    t.deepEqual(
      aRec.of('ack').map((e) => e.args[0]),
      Array.from({ length: 150 }, (_, n) => n),
    )
    if (transport === 'unix') {
      t.is(a.emit('req', { n: 'large', piece: 'L'.repeat(2 * LIMIT) }), undefined)
      await aRec.waitCount('ack', 151, WAIT)
    }
    t.is(aRec.count('error'), 0)

    // Not answered: the first emit goes out, the rest wait; past 64 KiB the queue is
    // dropped and the connection closed with ERR_IPC_PENDING_LIMIT. The client reconnects
    // with an idle queue.
    answering = false
    const stuck = track(t, newIpc('ours', cfg))
    const b = connectClient(stuck, 'b', ep)
    const bRec = new Recorder().attach(b, ['error', 'disconnect', 'connect', 'ack'])
    await bRec.waitCount('connect', 1, WAIT)
    const before = got.count('req')
    // Emit 0 goes out at once (the queue is idle) and has arrived before the rest, which
    // wait until one no longer fits.
    b.emit('req', { n: 0, piece })
    await got.waitCount('req', before + 1, WAIT)
    let refusedAt = -1
    for (let n = 1; n < 100 && refusedAt < 0; n++) {
      if (b.emit('req', { n, piece }) === false) {
        refusedAt = n
      }
    }
    await bRec.waitCount('disconnect', 1, WAIT)
    const err = bRec.of('error')[0].args[0]
    t.is(err.code, 'ERR_IPC_PENDING_LIMIT')
    t.is(err.limit, LIMIT)
    t.true(err.size > LIMIT)
    t.true(refusedAt >= 58 && refusedAt <= 64, `refused at emit ${refusedAt}`)
    t.is(b.queue.contents.length, 0)
    t.is(got.count('req'), before + 1, 'nothing that waited was sent')

    answering = true
    await bRec.waitCount('connect', 2, WAIT)
    b.emit('req', { n: 'again', piece })
    await bRec.waitCount('ack', 1, WAIT)
    t.is(bRec.of('ack')[0].args[0], 'again')
  })
}

test('the limits are validated where a server is started, and read as their defaults', async (t) => {
  for (const name of ['maxBufferedBytes', 'frameTimeout', 'maxPendingBytes']) {
    const ep = await endpoint(t, 'unix')
    const ipc = track(t, newIpc('ours', { [name]: -1 }))
    ipc.serve(ep.path)
    const failed = once(ipc.server, 'error', WAIT)
    ipc.server.start()
    const [err] = await failed
    t.true(err instanceof RangeError, String(err))
    t.regex(err.message, new RegExp(`ipc.config.${name}`))
  }
  const cfg = newIpc('ours').config
  t.is(cfg.maxBufferedBytes, 256 * MiB)
  t.is(cfg.frameTimeout, undefined)
  t.is(cfg.maxPendingBytes, undefined)
})
