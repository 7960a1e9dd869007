// Bad input gets a clear error and never crashes the process: invalid JSON frames give v9's
// 'error' event and the connection stays open; frames above maxMessageSize (an addition of
// ours) close only that connection; socket paths past the OS limit and regular files or
// directories at a socket path give an error instead of v9's silent truncation or deletion
// (README, "Differences from node-ipc v9" and "Unix socket files"); a refused connection is
// a Node-style error. Runs against ours and, where meaningful, the v9 reference (asserting
// v9 behaviour).
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { longPath, regularFile } from './helpers/net.mjs'
import {
  newIpc,
  track,
  tmpDir,
  endpoint,
  startServer,
  rawServer,
  rawClient,
  Recorder,
  delay,
  withTimeout,
  frameOfSize,
  dataLen,
} from './helpers/behav-util.mjs'

const IMPLS = ['ours', 'ref']
const WAIT = 5000

// ---------------------------------------------------------------- helpers

// One line per record, for failure messages.
function summary(list) {
  return JSON.stringify(
    list.map((e) => [
      e.type,
      ...e.args.map((a) =>
        a instanceof Error
          ? `${a.name}:${a.code}:${a.message}`
          : a && typeof a === 'object' && a.constructor && a.constructor.name !== 'Object'
            ? `<${a.constructor.name}>`
            : a,
      ),
    ]),
  )
}

// Start an ipc server on ep; resolves with {ipc, rec} after 'start'. `setup(ipc)` runs first.
async function serverOn(t, impl, ep, setup = () => {}, events = []) {
  const ipc = track(t, newIpc(impl))
  setup(ipc)
  const server = await startServer(ipc, ep)
  const rec = new Recorder().attach(server, ['error', 'connect', 'socket.disconnected', ...events])
  return { ipc, rec }
}

// serve(p) and start() without waiting: the record has 'start' (the serve callback) and
// 'error' in the order they came, for tests where either may be the outcome.
function serveAt(t, impl, p) {
  const ipc = track(t, newIpc(impl))
  const rec = new Recorder()
  ipc.serve(p, () => rec.push('start'))
  rec.attach(ipc.server, ['error'])
  ipc.server.start()
  return rec
}

// An ipc client named 'c' (connect(ipc) makes it), recorded from before its first attempt.
function ipcClient(t, impl, cfg, connect, events = ['connect', 'error', 'disconnect', 'destroy']) {
  const ipc = track(t, newIpc(impl, cfg))
  connect(ipc)
  return { c: ipc.of.c, rec: new Recorder().attach(ipc.of.c, events) }
}

// A plain node:net server on a fresh Unix path standing in for a misbehaving ipc server;
// onConn(socket) for each connection.
async function rawUnixServer(t, onConn) {
  const p = path.join(tmpDir(t), 'raw-server.sock')
  const { conns } = await rawServer(t, { path: p }, (c) => onConn(c.socket))
  return { p, conns }
}

// Wait until a raw peer has received `needle`.
const waitData = (raw, needle) =>
  raw.sink.waitFor((b) => b.toString('utf8').includes(needle), WAIT, `peer data ${needle}`)

// ---------------------------------------------------------------- invalid JSON

for (const impl of IMPLS) {
  for (const transport of ['unix', 'tcp']) {
    test(`[${impl}] ${transport}: server gets an invalid JSON frame -> 'error' {message, err, response}; connection stays usable`, async (t) => {
      const ep = await endpoint(t, transport)
      const { ipc, rec } = await serverOn(t, impl, ep, () => {}, ['good'])
      ipc.server.on('good', (data, socket) => ipc.server.emit(socket, 'reply', { ok: data }))
      const peer = await rawClient(t, ep)
      peer.socket.write('not json\f')
      peer.socket.write('{"type":"good","data":1}\f')

      const err = await rec.waitOne((e) => e.type === 'error', WAIT, "server 'error'")
      const [obj, sock] = err.args
      t.is(obj.message, 'Invalid JSON response format')
      t.true(obj.err instanceof Error)
      t.is(obj.err.name, 'SyntaxError')
      t.is(obj.response, 'not json')
      t.truthy(sock, 'the socket is passed with a parse error')

      const good = await rec.waitOne((e) => e.type === 'good', WAIT, 'the following good frame')
      t.is(good.args[0], 1)
      t.is(good.args[1], sock, 'same socket object for both events')
      await waitData(peer, '{"type":"reply","data":{"ok":1}}\f')
      t.false(peer.socket.closed, 'connection still open')
      t.is(rec.list.filter((e) => e.type === 'error').length, 1)
    })
  }

  test(`[${impl}] client gets invalid JSON and an empty frame -> 'error' events; connection stays usable`, async (t) => {
    const { p, conns } = await rawUnixServer(t, (s) => s.write('not json\f\f{"type":"good","data":{"a":[1]}}\f'))
    const { c, rec } = ipcClient(t, impl, { stopRetrying: true }, (ipc) => ipc.connectTo('c', p), [
      'error',
      'good',
      'disconnect',
      'destroy',
    ])
    c.on('good', (data) => c.emit('thanks', data))
    await rec.waitOne((e) => e.type === 'good', WAIT, "'good' after the bad frames")
    const errors = rec.list.filter((e) => e.type === 'error').map((e) => e.args[0])
    t.is(errors.length, 2, summary(rec.list))
    t.is(errors[0].message, 'Invalid JSON response format')
    t.is(errors[0].err.name, 'SyntaxError')
    t.is(errors[0].response, 'not json')
    t.is(errors[1].message, 'Invalid JSON response format')
    t.is(errors[1].response, '')
    t.deepEqual(rec.types(), ['error', 'error', 'good'])
    t.deepEqual(rec.list[2].args, [{ a: [1] }])
    await waitData(conns[0], '{"type":"thanks","data":{"a":[1]}}\f')
    t.false(rec.list.some((e) => e.type === 'disconnect'))
  })
}

// ---------------------------------------------------------------- maxMessageSize (ours only)

for (const transport of ['unix', 'tcp']) {
  for (const withDelimiter of [false, true]) {
    test(`[ours] ${transport}: oversized frame (${withDelimiter ? 'with' : 'without'} delimiter) -> ERR_IPC_MESSAGE_TOO_LARGE, that connection closed, others served`, async (t) => {
      const ep = await endpoint(t, transport)
      const { ipc, rec } = await serverOn(
        t,
        'ours',
        ep,
        (i) => {
          i.config.maxMessageSize = 1024
        },
        ['good', 'big', 'close'],
      )
      t.is(ipc.config.maxMessageSize, 1024)
      ipc.server.on('good', (data, socket) => ipc.server.emit(socket, 'reply', { ok: data }))
      const a = await rawClient(t, ep)
      const b = await rawClient(t, ep)
      await rec.waitCount('connect', 2, WAIT)

      const payload = withDelimiter ? frameOfSize('big', 2000) + '\f' : 'y'.repeat(2000)
      a.socket.write(payload)
      const err = await rec.waitOne((e) => e.type === 'error', WAIT, "server 'error'")
      t.true(err.args[0] instanceof Error, summary([err]))
      t.is(err.args[0].code, 'ERR_IPC_MESSAGE_TOO_LARGE')
      await withTimeout(a.closed, WAIT, 'the offending connection to be closed')
      t.false(
        rec.list.some((e) => e.type === 'big'),
        'the oversized frame is not delivered',
      )

      // the other connection is still served, both ways
      b.socket.write('{"type":"good","data":"still here"}\f')
      const good = await rec.waitOne((e) => e.type === 'good', WAIT, "'good' on the other connection")
      t.is(good.args[0], 'still here')
      await waitData(b, '{"type":"reply","data":{"ok":"still here"}}\f')
      t.false(b.socket.closed)
      // and new connections are accepted
      const c = await rawClient(t, ep)
      c.socket.write('{"type":"good","data":"new"}\f')
      await waitData(c, '{"type":"reply","data":{"ok":"new"}}\f')
      t.is(rec.list.filter((e) => e.type === 'error').length, 1)
    })
  }
}

test('[ours] a frame of exactly maxMessageSize bytes is accepted, one byte more is not', async (t) => {
  const ep = await endpoint(t, 'unix')
  const { rec } = await serverOn(
    t,
    'ours',
    ep,
    (i) => {
      i.config.maxMessageSize = 1024
    },
    ['fit'],
  )
  const a = await rawClient(t, ep)
  const exact = frameOfSize('fit', 1024)
  t.is(Buffer.byteLength(exact), 1024)
  a.socket.write(exact + '\f')
  const fit = await rec.waitOne((e) => e.type === 'fit', WAIT, "'fit' (1024-byte frame)")
  t.is(fit.args[0].length, dataLen('fit', 1024))
  t.false(rec.list.some((e) => e.type === 'error'))

  const b = await rawClient(t, ep)
  b.socket.write(frameOfSize('fit', 1025) + '\f')
  const err = await rec.waitOne((e) => e.type === 'error', WAIT, "'error' for 1025 bytes")
  t.is(err.args[0].code, 'ERR_IPC_MESSAGE_TOO_LARGE')
  await withTimeout(b.closed, WAIT, 'close of the 1025-byte connection')
  t.is(rec.list.filter((e) => e.type === 'fit').length, 1)
  t.false(a.socket.closed, 'the first connection is untouched')
})

test('[ours] client: oversized frame from the server -> ERR_IPC_MESSAGE_TOO_LARGE, disconnect, destroy', async (t) => {
  const { p, conns } = await rawUnixServer(t, (s) => s.write('z'.repeat(2000)))
  const { rec } = ipcClient(t, 'ours', { maxMessageSize: 1024, stopRetrying: true }, (ipc) => ipc.connectTo('c', p))
  await rec.waitOne((e) => e.type === 'destroy', WAIT, "'destroy'")
  const evs = rec.types()
  t.deepEqual(evs, ['connect', 'error', 'disconnect', 'destroy'], summary(rec.list))
  t.is(rec.list[1].args[0].code, 'ERR_IPC_MESSAGE_TOO_LARGE')
  t.is(conns.length, 1)
})

// ---------------------------------------------------------------- socket path too long

test('[ours] server: socket path longer than the OS limit -> clear error naming the path, no start, nothing created', async (t) => {
  const dir = tmpDir(t)
  const p = longPath(dir)
  t.true(Buffer.byteLength(p) > 108)
  const rec = serveAt(t, 'ours', p)
  const err = await rec.waitOne((e) => e.type === 'error', WAIT, "server 'error'")
  t.true(err.args[0] instanceof Error)
  t.true(String(err.args[0].message).includes(p), `message names the path: ${err.args[0].message}`)
  t.false(rec.list.some((e) => e.type === 'start'))
  t.deepEqual(fs.readdirSync(dir), [], 'no socket file created (not even a truncated one)')
})

test('[ref] server: socket path longer than the OS limit -> v9 silently listens on a truncated path', async (t) => {
  const dir = tmpDir(t)
  const p = longPath(dir)
  const rec = serveAt(t, 'ref', p)
  await rec.waitOne((e) => e.type === 'start', WAIT, "'start'")
  t.false(rec.list.some((e) => e.type === 'error'))
  const entries = fs.readdirSync(dir)
  t.is(entries.length, 1)
  t.true(
    path.basename(p).startsWith(entries[0]) && entries[0].length < path.basename(p).length,
    `truncated: ${entries[0]}`,
  )
  // libuv copies as much as fits in sun_path (108 bytes on Linux, no terminating NUL)
  const len = Buffer.byteLength(path.join(dir, entries[0]))
  t.true(len >= 103 && len <= 108, `truncated length ${len}`)
})

for (const impl of IMPLS) {
  test(`[${impl}] client: connectTo a path longer than the OS limit -> 'error' naming the path, then disconnect, destroy`, async (t) => {
    const p = longPath(tmpDir(t))
    const { rec } = ipcClient(t, impl, { maxRetries: 0 }, (ipc) => ipc.connectTo('c', p))
    await rec.waitOne((e) => e.type === 'destroy', WAIT, "'destroy'")
    t.deepEqual(rec.types(), ['error', 'disconnect', 'destroy'], summary(rec.list))
    const err = rec.list[0].args[0]
    t.true(err instanceof Error)
    t.true(String(err.message).includes(p), `message names the path: ${err.message}`)
    if (impl === 'ref') t.is(err.code, 'ENOENT')
  })
}

// ---------------------------------------------------------------- regular file at the socket path

test('[ours] server: a regular file at the socket path is not deleted; start reports an error', async (t) => {
  const p = regularFile(t, 'precious.sock')
  const rec = serveAt(t, 'ours', p)
  const err = await rec.waitOne((e) => e.type === 'error', WAIT, "server 'error'")
  t.true(err.args[0] instanceof Error, summary([err]))
  t.false(rec.list.some((e) => e.type === 'start'))
  t.true(fs.statSync(p).isFile())
  t.is(fs.readFileSync(p, 'utf8'), 'keep me\n')
})

test('[ref] server: v9 deletes a regular file at the socket path and listens there', async (t) => {
  const p = regularFile(t, 'precious.sock')
  const rec = serveAt(t, 'ref', p)
  await rec.waitOne((e) => e.type === 'start', WAIT, "'start'")
  t.false(rec.list.some((e) => e.type === 'error'))
  t.true(fs.statSync(p).isSocket(), 'the file was replaced by a socket')
})

test('[ours] server: a directory at the socket path is not deleted; start reports an error', async (t) => {
  const p = path.join(tmpDir(t), 'adir.sock')
  fs.mkdirSync(p)
  fs.writeFileSync(path.join(p, 'inner'), 'x')
  const rec = serveAt(t, 'ours', p)
  await rec.waitOne((e) => e.type === 'error', WAIT, "server 'error'")
  t.false(rec.list.some((e) => e.type === 'start'))
  t.true(fs.statSync(p).isDirectory())
  t.is(fs.readFileSync(path.join(p, 'inner'), 'utf8'), 'x')
})

// ---------------------------------------------------------------- connection refused

const ERRNO = os.constants.errno
for (const impl of IMPLS) {
  for (const [transport, stop] of [
    ['tcp', 'maxRetries'],
    ['tcp', 'stopRetrying'],
    ['unix', 'maxRetries'],
    ['unix', 'stopRetrying'],
  ]) {
    test(`[${impl}] ${transport}: connection refused -> Node-style 'error', then disconnect, destroy (${stop})`, async (t) => {
      const ep = await endpoint(t, transport)
      const cfg = { retry: 100, ...(stop === 'maxRetries' ? { maxRetries: 0 } : { stopRetrying: true }) }
      const { rec } = ipcClient(t, impl, cfg, (ipc) => {
        if (ep.port) ipc.connectToNet('c', '127.0.0.1', ep.port)
        else ipc.connectTo('c', path.join(ep.dir, 'nothing-here.sock'))
      })
      await rec.waitOne((e) => e.type === 'destroy', WAIT, "'destroy'")
      // nothing else follows: wait 4x the retry interval
      await delay(400)
      t.deepEqual(rec.types(), ['error', 'disconnect', 'destroy'], summary(rec.list))
      const err = rec.list[0].args[0]
      t.true(err instanceof Error)
      t.is(err.syscall, 'connect')
      if (transport === 'tcp') {
        t.is(err.code, 'ECONNREFUSED')
        t.is(err.errno, -ERRNO.ECONNREFUSED)
        t.is(err.address, '127.0.0.1')
        t.is(err.port, ep.port)
        t.is(err.message, `connect ECONNREFUSED 127.0.0.1:${ep.port}`)
      } else {
        const p = path.join(ep.dir, 'nothing-here.sock')
        t.is(err.code, 'ENOENT')
        t.is(err.errno, -ERRNO.ENOENT)
        t.is(err.address, p)
        t.is(err.message, `connect ENOENT ${p}`)
      }
    })
  }
}
