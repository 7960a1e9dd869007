// Bad input gets a clear error and never crashes the process (SPEC D8, §4.1, §5.3, §12 #6, #26).
// Runs against ours and, where meaningful, the v9 reference (asserting v9 behaviour).
import test from 'ava'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { freePort, tmpSocketDir, rmDir } from './helpers/net.mjs'
import { newIpc } from './helpers/behav-util.mjs'

const IMPLS = ['ours', 'ref']
const WAIT = 5000

// ---------------------------------------------------------------- helpers

// An ordered list of recorded events with "wait until something matching arrives".
function recorder() {
  const list = []
  const waiters = new Set()
  return {
    list,
    push(entry) { list.push(entry); for (const w of [...waiters]) w() },
    until(pred, what, ms = WAIT) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = list.find(pred)
          if (!hit) return false
          clearTimeout(timer); waiters.delete(check); resolve(hit); return true
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timeout ${ms} ms waiting for ${what}; recorded: ${summary(list)}`))
        }, ms)
        if (!check()) waiters.add(check)
      })
    },
  }
}
function summary(list) {
  return JSON.stringify(list.map((e) => [e.ev, ...e.args.map((a) =>
    a instanceof Error ? `${a.name}:${a.code}:${a.message}` : a && typeof a === 'object' && a.constructor && a.constructor.name !== 'Object' ? `<${a.constructor.name}>` : a)]))
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function record(emitter, names, rec = recorder()) {
  for (const ev of names) emitter.on(ev, (...args) => rec.push({ ev, args }))
  return rec
}

// A fresh socket folder for this test only.
function sockDir(t) {
  const dir = tmpSocketDir()
  t.teardown(() => rmDir(dir))
  return dir
}

async function endpoint(t, transport) {
  if (transport === 'tcp') return { port: await freePort() }
  const dir = sockDir(t)
  return { path: path.join(dir, 'bad.sock'), dir }
}

// Start an ipc server on ep; resolves with {ipc, rec} after 'start'.
async function startServer(t, impl, ep, setup = () => {}, events = []) {
  const ipc = newIpc(impl)
  setup(ipc)
  const rec = recorder()
  const started = new Promise((resolve) => {
    if (ep.port) ipc.serveNet('127.0.0.1', ep.port, resolve)
    else ipc.serve(ep.path, resolve)
  })
  record(ipc.server, ['error', 'connect', 'socket.disconnected', ...events], rec)
  ipc.server.start()
  t.teardown(() => {
    for (const s of ipc.server.sockets || []) try { s.destroy() } catch {}
    try { ipc.server.stop() } catch {}
  })
  await withTimeout(started, WAIT, `${impl} server start`, () => summary(rec.list))
  return { ipc, rec }
}

function withTimeout(p, ms, what, more = () => '') {
  let timer
  return Promise.race([p, new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timeout ${ms} ms: ${what} ${more()}`)), ms)
  })]).finally(() => clearTimeout(timer))
}

// serve(p) and start() without waiting: the record has 'start' (the serve callback) and
// 'error' in the order they came, for tests where either may be the outcome.
function serveAt(t, impl, p) {
  const ipc = newIpc(impl)
  const rec = recorder()
  ipc.serve(p, () => rec.push({ ev: 'start', args: [] }))
  record(ipc.server, ['error'], rec)
  ipc.server.start()
  t.teardown(() => { try { ipc.server.stop() } catch {} })
  return rec
}

// An ipc client named 'c' (connect(ipc) makes it), recorded from before its first attempt.
function ipcClient(t, impl, cfg, connect, events = ['connect', 'error', 'disconnect', 'destroy']) {
  const ipc = newIpc(impl, cfg)
  connect(ipc)
  t.teardown(() => ipc.disconnect('c'))
  return { c: ipc.of.c, rec: record(ipc.of.c, events) }
}

// A plain node:net server on a fresh Unix path standing in for a misbehaving ipc server.
async function rawUnixServer(t, onConn) {
  const p = path.join(sockDir(t), 'raw-server.sock')
  const conns = []
  const srv = net.createServer((s) => { conns.push(s); onConn(s) })
  t.teardown(() => { for (const s of conns) s.destroy(); srv.close() })
  await new Promise((r) => srv.listen(p, r))
  return { p, conns }
}

// A plain node:net peer that records what it receives and when it closes.
async function rawPeer(t, ep) {
  const sock = ep.port ? net.connect(ep.port, '127.0.0.1') : net.connect(ep.path)
  sock.setEncoding('utf8')
  const rec = recorder()
  const peer = { sock, rec, data: '' }
  sock.on('data', (d) => { peer.data += d; rec.push({ ev: 'data', args: [peer.data] }) })
  sock.on('close', () => rec.push({ ev: 'close', args: [] }))
  sock.on('error', (e) => rec.push({ ev: 'error', args: [e] }))
  t.teardown(() => sock.destroy())
  await withTimeout(new Promise((r, j) => { sock.once('connect', r); sock.once('error', j) }), WAIT, 'raw peer connect')
  peer.waitData = (needle, what = needle) => rec.until(() => peer.data.includes(needle), `peer data ${what}`)
  return peer
}

// A JSON frame of exactly `bytes` bytes (without the delimiter).
function frameOfSize(type, bytes) {
  const empty = JSON.stringify({ type, data: '' })
  return JSON.stringify({ type, data: 'x'.repeat(bytes - empty.length) })
}

// ---------------------------------------------------------------- invalid JSON

for (const impl of IMPLS) {
  for (const transport of ['unix', 'tcp']) {
    test(`[${impl}] ${transport}: server gets an invalid JSON frame -> 'error' {message, err, response}; connection stays usable`, async (t) => {
      const ep = await endpoint(t, transport)
      const { ipc, rec } = await startServer(t, impl, ep, () => {}, ['good'])
      ipc.server.on('good', (data, socket) => ipc.server.emit(socket, 'reply', { ok: data }))
      const peer = await rawPeer(t, ep)
      peer.sock.write('not json\f')
      peer.sock.write('{"type":"good","data":1}\f')

      const err = await rec.until((e) => e.ev === 'error', "server 'error'")
      const [obj, sock] = err.args
      t.is(obj.message, 'Invalid JSON response format')
      t.true(obj.err instanceof Error)
      t.is(obj.err.name, 'SyntaxError')
      t.is(obj.response, 'not json')
      t.truthy(sock, 'the socket is passed with a parse error')

      const good = await rec.until((e) => e.ev === 'good', "the following good frame")
      t.is(good.args[0], 1)
      t.is(good.args[1], sock, 'same socket object for both events')
      await peer.waitData('{"type":"reply","data":{"ok":1}}\f')
      t.false(peer.rec.list.some((e) => e.ev === 'close'), 'connection still open')
      t.is(rec.list.filter((e) => e.ev === 'error').length, 1)
    })
  }

  test(`[${impl}] client gets invalid JSON and an empty frame -> 'error' events; connection stays usable`, async (t) => {
    let received = ''
    const gotFrame = recorder()
    const { p } = await rawUnixServer(t, (s) => {
      s.setEncoding('utf8')
      s.on('data', (d) => { received += d; gotFrame.push({ ev: 'data', args: [received] }) })
      s.write('not json\f\f{"type":"good","data":{"a":[1]}}\f')
    })
    const { c, rec } = ipcClient(t, impl, { stopRetrying: true }, (ipc) => ipc.connectTo('c', p), ['error', 'good', 'disconnect', 'destroy'])
    c.on('good', (data) => c.emit('thanks', data))
    await rec.until((e) => e.ev === 'good', "'good' after the bad frames")
    const errors = rec.list.filter((e) => e.ev === 'error').map((e) => e.args[0])
    t.is(errors.length, 2, summary(rec.list))
    t.is(errors[0].message, 'Invalid JSON response format')
    t.is(errors[0].err.name, 'SyntaxError')
    t.is(errors[0].response, 'not json')
    t.is(errors[1].message, 'Invalid JSON response format')
    t.is(errors[1].response, '')
    t.deepEqual(rec.list.map((e) => e.ev), ['error', 'error', 'good'])
    t.deepEqual(rec.list[2].args, [{ a: [1] }])
    await gotFrame.until(() => received.includes('{"type":"thanks","data":{"a":[1]}}\f'), 'the client reply')
    t.false(rec.list.some((e) => e.ev === 'disconnect'))
  })
}

// ---------------------------------------------------------------- maxMessageSize (ours only)

for (const transport of ['unix', 'tcp']) {
  for (const withDelimiter of [false, true]) {
    test(`[ours] ${transport}: oversized frame (${withDelimiter ? 'with' : 'without'} delimiter) -> ERR_IPC_MESSAGE_TOO_LARGE, that connection closed, others served`, async (t) => {
      const ep = await endpoint(t, transport)
      const { ipc, rec } = await startServer(t, 'ours', ep, (i) => { i.config.maxMessageSize = 1024 }, ['good', 'big', 'close'])
      t.is(ipc.config.maxMessageSize, 1024)
      ipc.server.on('good', (data, socket) => ipc.server.emit(socket, 'reply', { ok: data }))
      const a = await rawPeer(t, ep)
      const b = await rawPeer(t, ep)
      await rec.until(() => rec.list.filter((x) => x.ev === 'connect').length === 2, 'two server connects')

      const payload = withDelimiter ? frameOfSize('big', 2000) + '\f' : 'y'.repeat(2000)
      a.sock.write(payload)
      const err = await rec.until((e) => e.ev === 'error', "server 'error'")
      t.true(err.args[0] instanceof Error, summary([err]))
      t.is(err.args[0].code, 'ERR_IPC_MESSAGE_TOO_LARGE')
      await a.rec.until((e) => e.ev === 'close', 'the offending connection to be closed')
      t.false(rec.list.some((e) => e.ev === 'big'), 'the oversized frame is not delivered')

      // the other connection is still served, both ways
      b.sock.write('{"type":"good","data":"still here"}\f')
      const good = await rec.until((e) => e.ev === 'good', "'good' on the other connection")
      t.is(good.args[0], 'still here')
      await b.waitData('{"type":"reply","data":{"ok":"still here"}}\f')
      t.false(b.rec.list.some((e) => e.ev === 'close'))
      // and new connections are accepted
      const c = await rawPeer(t, ep)
      c.sock.write('{"type":"good","data":"new"}\f')
      await c.waitData('{"type":"reply","data":{"ok":"new"}}\f')
      t.is(rec.list.filter((e) => e.ev === 'error').length, 1)
    })
  }
}

test('[ours] a frame of exactly maxMessageSize bytes is accepted, one byte more is not', async (t) => {
  const ep = await endpoint(t, 'unix')
  const { rec } = await startServer(t, 'ours', ep, (i) => { i.config.maxMessageSize = 1024 }, ['fit'])
  const a = await rawPeer(t, ep)
  const exact = frameOfSize('fit', 1024)
  t.is(Buffer.byteLength(exact), 1024)
  a.sock.write(exact + '\f')
  const fit = await rec.until((e) => e.ev === 'fit', "'fit' (1024-byte frame)")
  t.is(fit.args[0].length, 1024 - JSON.stringify({ type: 'fit', data: '' }).length)
  t.false(rec.list.some((e) => e.ev === 'error'))

  const b = await rawPeer(t, ep)
  b.sock.write(frameOfSize('fit', 1025) + '\f')
  const err = await rec.until((e) => e.ev === 'error', "'error' for 1025 bytes")
  t.is(err.args[0].code, 'ERR_IPC_MESSAGE_TOO_LARGE')
  await b.rec.until((e) => e.ev === 'close', 'close of the 1025-byte connection')
  t.is(rec.list.filter((e) => e.ev === 'fit').length, 1)
  t.false(a.rec.list.some((e) => e.ev === 'close'), 'the first connection is untouched')
})

test('[ours] client: oversized frame from the server -> ERR_IPC_MESSAGE_TOO_LARGE, disconnect, destroy', async (t) => {
  const { p, conns } = await rawUnixServer(t, (s) => s.write('z'.repeat(2000)))
  const { rec } = ipcClient(t, 'ours', { maxMessageSize: 1024, stopRetrying: true }, (ipc) => ipc.connectTo('c', p))
  await rec.until((e) => e.ev === 'destroy', "'destroy'")
  const evs = rec.list.map((e) => e.ev)
  t.deepEqual(evs, ['connect', 'error', 'disconnect', 'destroy'], summary(rec.list))
  t.is(rec.list[1].args[0].code, 'ERR_IPC_MESSAGE_TOO_LARGE')
  t.is(conns.length, 1)
})

// ---------------------------------------------------------------- socket path too long

function longPath(dir) {
  // well past the 108-byte sun_path limit on Linux (104 on macOS)
  const p = path.join(dir, 'L'.repeat(130) + '.sock')
  return p
}

test('[ours] server: socket path longer than the OS limit -> clear error naming the path, no start, nothing created', async (t) => {
  const dir = sockDir(t)
  const p = longPath(dir)
  t.true(Buffer.byteLength(p) > 108)
  const rec = serveAt(t, 'ours', p)
  const err = await rec.until((e) => e.ev === 'error', "server 'error'")
  t.true(err.args[0] instanceof Error)
  t.true(String(err.args[0].message).includes(p), `message names the path: ${err.args[0].message}`)
  t.false(rec.list.some((e) => e.ev === 'start'))
  t.deepEqual(fs.readdirSync(dir), [], 'no socket file created (not even a truncated one)')
})

test('[ref] server: socket path longer than the OS limit -> v9 silently listens on a truncated path', async (t) => {
  const dir = sockDir(t)
  const p = longPath(dir)
  const rec = serveAt(t, 'ref', p)
  await rec.until((e) => e.ev === 'start', "'start'")
  t.false(rec.list.some((e) => e.ev === 'error'))
  const entries = fs.readdirSync(dir)
  t.is(entries.length, 1)
  t.true(path.basename(p).startsWith(entries[0]) && entries[0].length < path.basename(p).length, `truncated: ${entries[0]}`)
  // libuv copies as much as fits in sun_path (108 bytes on Linux, no terminating NUL)
  const len = Buffer.byteLength(path.join(dir, entries[0]))
  t.true(len >= 103 && len <= 108, `truncated length ${len}`)
})

for (const impl of IMPLS) {
  test(`[${impl}] client: connectTo a path longer than the OS limit -> 'error' naming the path, then disconnect, destroy`, async (t) => {
    const p = longPath(sockDir(t))
    const { rec } = ipcClient(t, impl, { maxRetries: 0 }, (ipc) => ipc.connectTo('c', p))
    await rec.until((e) => e.ev === 'destroy', "'destroy'")
    t.deepEqual(rec.list.map((e) => e.ev), ['error', 'disconnect', 'destroy'], summary(rec.list))
    const err = rec.list[0].args[0]
    t.true(err instanceof Error)
    t.true(String(err.message).includes(p), `message names the path: ${err.message}`)
    if (impl === 'ref') t.is(err.code, 'ENOENT')
  })
}

// ---------------------------------------------------------------- regular file at the socket path (§12 #26)

// A regular file where the server's socket goes; its content shows whether it survived.
function preciousFile(t) {
  const p = path.join(sockDir(t), 'precious.sock')
  fs.writeFileSync(p, 'keep me\n')
  return p
}

test('[ours] server: a regular file at the socket path is not deleted; start reports an error', async (t) => {
  const p = preciousFile(t)
  const rec = serveAt(t, 'ours', p)
  const err = await rec.until((e) => e.ev === 'error', "server 'error'")
  t.true(err.args[0] instanceof Error, summary([err]))
  t.false(rec.list.some((e) => e.ev === 'start'))
  t.true(fs.statSync(p).isFile())
  t.is(fs.readFileSync(p, 'utf8'), 'keep me\n')
})

test('[ref] server: v9 deletes a regular file at the socket path and listens there (§12 #26)', async (t) => {
  const p = preciousFile(t)
  const rec = serveAt(t, 'ref', p)
  await rec.until((e) => e.ev === 'start', "'start'")
  t.false(rec.list.some((e) => e.ev === 'error'))
  t.true(fs.statSync(p).isSocket(), 'the file was replaced by a socket')
})

test('[ours] server: a directory at the socket path is not deleted; start reports an error', async (t) => {
  const p = path.join(sockDir(t), 'adir.sock')
  fs.mkdirSync(p)
  fs.writeFileSync(path.join(p, 'inner'), 'x')
  const rec = serveAt(t, 'ours', p)
  await rec.until((e) => e.ev === 'error', "server 'error'")
  t.false(rec.list.some((e) => e.ev === 'start'))
  t.true(fs.statSync(p).isDirectory())
  t.is(fs.readFileSync(path.join(p, 'inner'), 'utf8'), 'x')
})

// ---------------------------------------------------------------- connection refused

const ERRNO = os.constants.errno
for (const impl of IMPLS) {
  for (const [transport, stop] of [['tcp', 'maxRetries'], ['tcp', 'stopRetrying'], ['unix', 'maxRetries'], ['unix', 'stopRetrying']]) {
    test(`[${impl}] ${transport}: connection refused -> Node-style 'error', then disconnect, destroy (${stop})`, async (t) => {
      const ep = await endpoint(t, transport)
      const cfg = { retry: 100, ...(stop === 'maxRetries' ? { maxRetries: 0 } : { stopRetrying: true }) }
      const { rec } = ipcClient(t, impl, cfg, (ipc) => {
        if (ep.port) ipc.connectToNet('c', '127.0.0.1', ep.port)
        else ipc.connectTo('c', path.join(ep.dir, 'nothing-here.sock'))
      })
      await rec.until((e) => e.ev === 'destroy', "'destroy'")
      // nothing else follows: wait 4x the retry interval
      await sleep(400)
      t.deepEqual(rec.list.map((e) => e.ev), ['error', 'disconnect', 'destroy'], summary(rec.list))
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
