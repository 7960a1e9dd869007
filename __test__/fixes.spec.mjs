// v9 bugs for Unix/TCP that node-ipc-rs fixes (README, "Differences from node-ipc v9") and
// that the other behaviour specs do not cover: start() unlinks whatever is at a local path,
// and for network servers a file named after the host (ours: only a stale Unix socket, and
// nothing for network servers); `config.interfaces`, the name the v9 README and types use,
// does nothing (ours: an alias of `config.interface`); on Windows a path that already is a
// pipe name gets a second pipe prefix (ours: kept; pure JS).
// Each asserts the v9 behaviour on "ref" and the fixed behaviour on "ours".
import test from 'ava'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { createRequire } from 'node:module'
import { IMPLS } from './helpers/impl.mjs'
import {
  IMPL_NAMES,
  newIpc,
  track,
  tmpDir,
  freePort,
  rawServer,
  withTimeout,
  once,
  startOutcome,
} from './helpers/behav-util.mjs'
import { staleSocket } from './helpers/net.mjs'
import { evalNode } from './helpers/proc.mjs'

for (const impl of IMPL_NAMES) {
  // ------------------------------------------------------------------ what start() unlinks

  test(`[${impl}] start() on a regular file: ${impl === 'ref' ? 'v9 deletes it and listens' : 'the file is kept, start fails'}`, async (t) => {
    const ipc = track(t, newIpc(impl))
    const p = path.join(tmpDir(t), 'precious.txt')
    fs.writeFileSync(p, 'do not delete')
    ipc.serve(p)
    const out = await startOutcome(ipc.server)
    if (impl === 'ref') {
      t.is(out.event, 'start')
      t.true(fs.statSync(p).isSocket(), 'v9 replaced the regular file by a socket')
      return
    }
    t.is(out.event, 'error')
    t.true(out.err instanceof Error)
    t.true(fs.statSync(p).isFile(), 'still a regular file')
    t.is(fs.readFileSync(p, 'utf8'), 'do not delete')
  })

  test(`[${impl}] start() on a directory: error, directory kept (both)`, async (t) => {
    const ipc = track(t, newIpc(impl))
    const p = path.join(tmpDir(t), 'adir')
    fs.mkdirSync(p)
    fs.writeFileSync(path.join(p, 'inside'), 'x')
    ipc.serve(p)
    const out = await startOutcome(ipc.server)
    t.is(out.event, 'error')
    t.true(fs.statSync(p).isDirectory())
    t.true(fs.existsSync(path.join(p, 'inside')))
  })

  test(`[${impl}] start() still replaces a stale Unix socket file (unlink=true, both)`, async (t) => {
    const ipc = track(t, newIpc(impl))
    const p = path.join(tmpDir(t), 'stale.sock')
    await staleSocket(p)
    ipc.serve(p)
    const out = await startOutcome(ipc.server)
    t.is(out.event, 'start')
    // and it really listens there
    const s = net.connect({ path: p })
    await withTimeout(
      new Promise((resolve, reject) => {
        s.once('connect', resolve)
        s.once('error', reject)
      }),
      3000,
      'connect',
    )
    s.destroy()
  })

  test(`[${impl}] unlink=false keeps a stale socket and reports EADDRINUSE (both)`, async (t) => {
    const ipc = track(t, newIpc(impl, { unlink: false }))
    const p = path.join(tmpDir(t), 'stale.sock')
    await staleSocket(p)
    ipc.serve(p)
    const out = await startOutcome(ipc.server)
    t.is(out.event, 'error')
    t.is(out.err.code, 'EADDRINUSE')
    t.true(fs.statSync(p).isSocket())
  })

  test(`[${impl}] a TCP server ${impl === 'ref' ? 'unlinks ./127.0.0.1 in the cwd (v9)' : 'never unlinks ./127.0.0.1 in the cwd'}`, async (t) => {
    const cwd = tmpDir(t)
    fs.writeFileSync(path.join(cwd, '127.0.0.1'), 'keep me')
    const port = await freePort()
    const script = `
      const fs = require('fs')
      const ipc = new (require(${JSON.stringify(IMPLS[impl])}).IPC)()
      ipc.config.silent = true
      const report = (o) => { console.log(JSON.stringify(o)); process.exit(0) }
      ipc.serveNet('127.0.0.1', ${port}, () => report({ event: 'start', exists: fs.existsSync('127.0.0.1') }))
      ipc.server.on('error', (e) => report({ event: 'error', code: e.code, exists: fs.existsSync('127.0.0.1') }))
      ipc.server.start()
      setTimeout(() => report({ event: 'timeout' }), 8000)
    `
    const out = await evalNode(script, { cwd })
    t.is(out.event, 'start')
    if (impl === 'ref') {
      t.false(out.exists, 'v9 deleted ./127.0.0.1')
      t.false(fs.existsSync(path.join(cwd, '127.0.0.1')))
    } else {
      t.true(out.exists)
      t.is(fs.readFileSync(path.join(cwd, '127.0.0.1'), 'utf8'), 'keep me')
    }
  })

  // ------------------------------------------------------------------ config.interface(s)

  test(`[${impl}] config.interface.localPort is honoured by TCP clients (both)`, async (t) => {
    const ipc = track(t, newIpc(impl, { stopRetrying: true }))
    const port = await freePort()
    const srv = await rawServer(t, { port })
    const localPort = await freePort()
    ipc.config.interface.localPort = localPort
    ipc.connectToNet('w', port)
    await once(ipc.of.w, 'connect', 3000)
    const conn = await srv.waitConn()
    t.is(conn.socket.remotePort, localPort)
  })

  test(`[${impl}] config.interfaces (alias): ${impl === 'ref' ? 'undefined in v9, setting a field throws' : 'setting a field is honoured'}`, async (t) => {
    const ipc = track(t, newIpc(impl, { stopRetrying: true }))
    const port = await freePort()
    const localPort = await freePort()
    if (impl === 'ref') {
      t.is(ipc.config.interfaces, undefined)
      t.throws(
        () => {
          ipc.config.interfaces.localPort = localPort
        },
        { instanceOf: TypeError },
      )
      return
    }
    const srv = await rawServer(t, { port })
    ipc.config.interfaces.localPort = localPort
    ipc.connectToNet('w', port)
    await once(ipc.of.w, 'connect', 3000)
    const conn = await srv.waitConn()
    t.is(conn.socket.remotePort, localPort)
  })

  test(`[${impl}] config.interfaces = {...} (alias, assigned whole): ${impl === 'ref' ? 'ignored by v9' : 'honoured'}`, async (t) => {
    const ipc = track(t, newIpc(impl, { stopRetrying: true }))
    const port = await freePort()
    const srv = await rawServer(t, { port })
    const localPort = await freePort()
    ipc.config.interfaces = { localPort }
    ipc.connectToNet('w', port)
    await once(ipc.of.w, 'connect', 3000)
    const conn = await srv.waitConn()
    if (impl === 'ref') t.not(conn.socket.remotePort, localPort)
    else t.is(conn.socket.remotePort, localPort)
  })
}

// ------------------------------------------------------------------ Windows pipe names (pure JS)

const PIPE_ROWS = [
  ['/tmp/app.world', '\\\\.\\pipe\\tmp-app.world'],
  ['myapp.world', '\\\\.\\pipe\\myapp.world'],
  ['/var/run/a/b.sock', '\\\\.\\pipe\\var-run-a-b.sock'],
  ['C:\\dir\\x.sock', '\\\\.\\pipe\\C:\\dir\\x.sock'],
]
const ALREADY = '\\\\.\\pipe\\already'

// v9 with process.platform stubbed to win32, in a child process; net is stubbed so that
// nothing is bound: reports the path the server would listen on and the client connect to.
test('[ref] v9 server double-prefixes a path that already is a pipe (platform stubbed)', async (t) => {
  const script = `
    Object.defineProperty(process, 'platform', { value: 'win32' })
    const net = require('net')
    const out = { server: [], client: [] }
    const paths = ${JSON.stringify([...PIPE_ROWS.map((r) => r[0]), ALREADY])}
    net.createServer = () => ({ on() {}, listen(opts) { out.server.push(opts.path) } })
    net.connect = (opts) => { out.client.push(opts.path); throw new Error('stop') }
    const { IPC } = require(${JSON.stringify(IMPLS.ref)})
    for (const p of paths) {
      const ipc = new IPC(); ipc.config.silent = true; ipc.config.unlink = false
      ipc.serve(p); ipc.server.start()
      try { ipc.connectTo('c', p) } catch {}
    }
    console.log(JSON.stringify(out))
  `
  const out = await evalNode(script, { cwd: tmpDir(t) })
  t.deepEqual(out.client, [...PIPE_ROWS.map((r) => r[1]), ALREADY])
  t.deepEqual(out.server, [...PIPE_ROWS.map((r) => r[1]), '\\\\.\\pipe\\\\\\.\\pipe\\already'])
})

// Ours with process.platform stubbed to win32, the addon's local listen and connect
// recorded instead of run: the server listens on the mapped name and reports it as its path
// (as v9), a name that already is a pipe is kept (v9 prefixed it again), and the client
// connects to the same name while its own path stays as given.
test('[ours] on Windows server and client map a path to the same pipe name (platform stubbed)', async (t) => {
  const script = `
    const ipc = require(${JSON.stringify(IMPLS.ours)})
    const { NativeEndpoint } = require(${JSON.stringify(path.join(path.dirname(IMPLS.ours), 'lib', 'native.js'))}).loadBinding()
    const out = { server: [], serverPath: [], client: [], clientPath: [] }
    NativeEndpoint.prototype.listenUnix = function (onEvents, name) { out.server.push(name) }
    NativeEndpoint.prototype.connectUnix = function (onEvents, name) { out.client.push(name); return 1 }
    Object.defineProperty(process, 'platform', { value: 'win32' })
    ipc.config.silent = true
    ipc.config.maxRetries = 0
    const paths = ${JSON.stringify([...PIPE_ROWS.map((r) => r[0]), ALREADY])}
    paths.forEach((p, i) => {
      ipc.serve(p)
      ipc.server.start()
      ipc.connectTo('c' + i, p)
    })
    setImmediate(() => {
      out.serverPath = [ipc.server.path]
      out.clientPath = paths.map((p, i) => ipc.of['c' + i].path)
      console.log(JSON.stringify(out))
    })
  `
  const out = await evalNode(script, { cwd: tmpDir(t) })
  const mapped = [...PIPE_ROWS.map((r) => r[1]), ALREADY]
  t.deepEqual(out.server, mapped)
  t.deepEqual(out.client, mapped)
  t.deepEqual(out.serverPath, [ALREADY], 'the last server reports its pipe name as its path')
  t.deepEqual(out.clientPath, [...PIPE_ROWS.map((r) => r[0]), ALREADY], 'client paths stay as given')
})

// lib/pipe-name.js holds v9's mapping (with the fix): a missing file, or one without
// toPipeName, fails here.
test('[ours] pipe-name mapping keeps a path that already is a pipe', (t) => {
  const file = path.join(path.dirname(IMPLS.ours), 'lib', 'pipe-name.js')
  t.true(fs.existsSync(file), `${file} exists`)
  const { toPipeName } = createRequire(import.meta.url)(file)
  t.is(typeof toPipeName, 'function', 'lib/pipe-name.js exports toPipeName')
  for (const [from, to] of PIPE_ROWS) t.is(toPipeName(from), to, from)
  t.is(toPipeName(ALREADY), ALREADY)
})
