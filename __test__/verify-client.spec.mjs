// Access control before 'connect' (node-ipc-rs; README, "Verifying clients"):
// ipc.config.verifyClient and ipc.config.allowedUids decide about each accepted client
// before the server emits 'connect'. A refused client is closed before any of its frames
// reaches a handler, and the server emits 'error' (ERR_IPC_CLIENT_REFUSED) with its
// credentials; an admitted one gets 'connect', then the frames it sent while it waited, in
// order. Local clients of another user run as uid 65534 (helpers/other-user.mjs: the tests
// run as root in CI; elsewhere those cases fail under CI and are skipped loudly locally).
import test from 'ava'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { Recorder, delay, freePort, tmpDir, withTimeout } from './helpers/behav-util.mjs'
import { ROOT, loadImpl } from './helpers/impl.mjs'
import { OTHER_GID, OTHER_UID, OTHER_USER_UNAVAILABLE, otherUserTree, spawnAsOtherUser } from './helpers/other-user.mjs'
import { spawnNode } from './helpers/proc.mjs'
import { testUnless } from './helpers/skip.mjs'
import { makeCerts } from './helpers/tls-certs.mjs'

const CLIENT = '__test__/fixtures/verify/client.cjs'
const FRAMES = 5
const WAIT = 10000
// Negative windows: a frame or a 'connect' that was going to reach the server would do so
// within milliseconds of the connection's last event (its refusal, or its close at
// maxConnections); 600 ms is over 3x the longest interval involved here (the 200 ms
// verifier).
const QUIET_MS = 600

const C = makeCerts()
test.after.always(() => C.cleanup())

// An ours server started with `config`; `listen(ipc, onStart)` picks the transport. The
// record has 'connect' (with Date.now() as `at`), 'early' (each frame of that type, which
// the server answers with 'reply') and 'error'.
function serve(t, config, listen) {
  const { IPC } = loadImpl('ours')
  const ipc = new IPC()
  ipc.config.silent = true
  Object.assign(ipc.config, config)
  const rec = new Recorder()
  const started = new Promise((resolve) => {
    listen(ipc, () => {
      ipc.server.on('connect', (socket) => rec.push('connect', [socket], { at: Date.now() }))
      ipc.server.on('early', (data, socket) => {
        rec.push('early', [data, socket])
        ipc.server.emit(socket, 'reply', data)
      })
      ipc.server.on('error', (err) => rec.push('error', [err], { at: Date.now() }))
      resolve({ ipc, rec })
    })
    ipc.server.start()
    t.teardown(() => ipc.server.stop())
  })
  return withTimeout(started, WAIT, 'server start')
}

// Unix sockets of these servers live in the other user's tree (searchable by everyone),
// writable by all so that user may connect.
const serveUnix = (t, sockPath, config) =>
  serve(t, { writableAll: true, ...config }, (ipc, onStart) => ipc.serve(sockPath, onStart))
const serveTcp = (t, port, config) => serve(t, config, (ipc, onStart) => ipc.serveNet('127.0.0.1', port, onStart))

function otherUserClient(t, tree, sockPath) {
  return spawnAsOtherUser(t, tree, CLIENT, { env: { SOCK_PATH: sockPath, FRAMES: String(FRAMES) } })
}

function sameUserClient(t, sockPath) {
  return spawnNode(path.join(ROOT, CLIENT), {
    impl: 'ours',
    env: { SOCK_PATH: sockPath, FRAMES: String(FRAMES) },
    label: 'same-user client',
    t,
  })
}

const firstError = (rec) => rec.waitOne((e) => e.type === 'error', WAIT, "server 'error'")

// The client child was refused: ERR_IPC_CLIENT_REFUSED with `reason` and its credentials,
// its connection closed, and neither 'connect' nor any of its frames reached the server.
async function assertRefused(t, rec, child, reason) {
  const error = await firstError(rec)
  const [err] = error.args
  const me = await child.waitJson((o) => o.ev === 'connected', WAIT)
  t.is(err.code, 'ERR_IPC_CLIENT_REFUSED')
  t.is(err.reason, reason)
  t.deepEqual(err.peer, { pid: me.pid, uid: OTHER_UID, gid: OTHER_GID })
  t.regex(err.message, new RegExp(`pid ${me.pid}, uid ${OTHER_UID}, gid ${OTHER_GID}\\b.*was refused`))
  await child.waitJson((o) => o.ev === 'disconnected', WAIT)
  await delay(QUIET_MS)
  t.is(rec.count('early'), 0, 'no frame of a refused client reaches a handler')
  t.is(rec.count('connect'), 0, "a refused client is never 'connect'ed")
  return error
}

// A client child of this uid is served: 'connect' first, then every frame it sent at once,
// in order, and the replies reach it.
async function assertServed(t, rec, child) {
  const connect = await rec.waitOne((e) => e.type === 'connect', WAIT, "'connect'")
  await rec.waitCount('early', FRAMES, WAIT)
  const me = await child.waitJson((o) => o.ev === 'connected', WAIT)
  t.deepEqual(connect.args[0].peer, { pid: me.pid, uid: process.getuid(), gid: process.getgid() })
  t.deepEqual(
    rec.list.filter((e) => e.type === 'connect' || e.type === 'early').map((e) => e.type),
    ['connect', ...Array(FRAMES).fill('early')],
    "'connect' comes before the frames",
  )
  t.deepEqual(
    rec.of('early').map((e) => e.args[0].n),
    [...Array(FRAMES).keys()],
  )
  await child.waitJson((o) => o.ev === 'reply' && o.data.n === FRAMES - 1, WAIT)
  return { connect, me }
}

// ------------------------------------------------------------------ local clients

// A test with a client of uid 65534: `body(t, sockPath, startOther)` gets a socket path in a
// tree that user can reach, and `startOther()` starts such a client on it.
function withOtherUser(title, body) {
  testUnless(OTHER_USER_UNAVAILABLE, test, title, async (t) => {
    const tree = otherUserTree(t, [CLIENT])
    const sockPath = tree.path('s.sock')
    return body(t, sockPath, () => otherUserClient(t, tree, sockPath))
  })
}

withOtherUser(
  'allowedUids: a client of another uid is refused before its frames reach a handler; this uid is served',
  async (t, sockPath, startOther) => {
    const { rec } = await serveUnix(t, sockPath, { allowedUids: [process.getuid()] })
    const [err] = (await assertRefused(t, rec, startOther(), 'uid-not-allowed')).args
    t.regex(err.message, /uid 65534 is not in ipc\.config\.allowedUids/)
    await assertServed(t, rec, sameUserClient(t, sockPath))
    t.is(rec.count('error'), 1)
  },
)

withOtherUser(
  'an async verifier of 200 ms: frames sent while it runs are dropped if refused, delivered in order if admitted',
  async (t, sockPath, startOther) => {
    const calls = []
    const { rec } = await serveUnix(t, sockPath, {
      verifyClient: async (info) => {
        calls.push({ info, at: Date.now() })
        await delay(200)
        return info.uid === process.getuid()
      },
    })
    const other = startOther()
    const refused = await assertRefused(t, rec, other, 'verifier-refused')
    const me = await other.waitJson((o) => o.ev === 'connected', WAIT)
    t.deepEqual(calls[0].info, { pid: me.pid, uid: OTHER_UID, gid: OTHER_GID })
    t.true(refused.at - calls[0].at >= 199, 'refused once the verifier answered (timers fire at most 1 ms early)')
    t.regex(refused.args[0].message, /verifyClient returned false/)

    const same = sameUserClient(t, sockPath)
    const { connect } = await assertServed(t, rec, same)
    // The frames were written before the server admitted the client: they waited unread.
    const sent = (await same.waitFor(/"ev":"sent"/, { timeout: WAIT }))[0]
    t.true(sent.t <= connect.at, `the client had sent its frames (${sent.t}) before 'connect' (${connect.at})`)
    t.is(calls.length, 2)
  },
)

withOtherUser('a verifier that throws refuses', async (t, sockPath, startOther) => {
  const boom = new Error('verifier broke')
  const { rec } = await serveUnix(t, sockPath, {
    verifyClient: () => {
      throw boom
    },
  })
  const [err] = (await assertRefused(t, rec, startOther(), 'verifier-threw')).args
  t.is(err.cause, boom)
  t.regex(err.message, /verifyClient threw: verifier broke/)
})

withOtherUser('a verifier that rejects refuses', async (t, sockPath, startOther) => {
  const { rec } = await serveUnix(t, sockPath, { verifyClient: async () => Promise.reject(new Error('no')) })
  const [err] = (await assertRefused(t, rec, startOther(), 'verifier-rejected')).args
  t.is(err.cause.message, 'no')
})

withOtherUser(
  'a verifier that never settles refuses after verifyClientTimeout, not before',
  async (t, sockPath, startOther) => {
    const TIMEOUT = 300
    let calledAt
    const { rec } = await serveUnix(t, sockPath, {
      verifyClientTimeout: TIMEOUT,
      verifyClient: () => {
        calledAt = Date.now()
        return new Promise(() => {})
      },
    })
    const refused = await assertRefused(t, rec, startOther(), 'verifier-timeout')
    t.true(
      refused.at - calledAt >= TIMEOUT - 1,
      `refused ${refused.at - calledAt} ms after the call (timers fire at most 1 ms early)`,
    )
    t.regex(refused.args[0].message, /did not settle within 300 ms/)
  },
)

// ------------------------------------------------------------------ network clients

const frame = (n) => `${JSON.stringify({ type: 'early', data: { n } })}\f`

// A node:net (or node:tls) client that writes FRAMES frames the moment it is connected.
async function rawSender(t, connect, secure = false) {
  const socket = connect()
  socket.on('error', () => {})
  const closed = new Promise((resolve) => socket.on('close', resolve))
  t.teardown(() => socket.destroy())
  await withTimeout(
    new Promise((resolve) => socket.once(secure ? 'secureConnect' : 'connect', resolve)),
    WAIT,
    'client connect',
  )
  for (let n = 0; n < FRAMES; n++) socket.write(frame(n))
  // Read now: a closed socket no longer knows it.
  return { socket, closed, localPort: socket.localPort }
}

const tcpSender = (t, port) => rawSender(t, () => net.connect({ port, host: '127.0.0.1' }))

// The raw client was refused and closed, and nothing of it reached the server.
async function assertRawRefused(t, rec, client, reason) {
  const [err] = (await firstError(rec)).args
  t.is(err.code, 'ERR_IPC_CLIENT_REFUSED')
  t.is(err.reason, reason)
  t.is(err.peer, undefined)
  t.is(err.address, '127.0.0.1')
  t.is(err.port, client.localPort)
  await withTimeout(client.closed, WAIT, 'the refused client closed')
  await delay(QUIET_MS)
  t.is(rec.count('early'), 0)
  t.is(rec.count('connect'), 0)
  return err
}

async function assertRawServed(t, rec, client) {
  const connect = await rec.waitOne((e) => e.type === 'connect', WAIT, "'connect'")
  await rec.waitCount('early', FRAMES, WAIT)
  t.is(connect.args[0].remotePort, client.localPort)
  t.deepEqual(
    rec.of('early').map((e) => e.args[0].n),
    [...Array(FRAMES).keys()],
  )
}

test('TCP: verifyClient sees the address and port; a refused client is closed, an admitted one served', async (t) => {
  const port = await freePort()
  const infos = []
  const { rec } = await serveTcp(t, port, {
    verifyClient: (info) => {
      infos.push(info)
      return infos.length > 1
    },
  })
  const refused = await tcpSender(t, port)
  await assertRawRefused(t, rec, refused, 'verifier-refused')
  t.deepEqual(infos[0], { address: '127.0.0.1', port: refused.localPort, family: 'IPv4' })
  const admitted = await tcpSender(t, port)
  await assertRawServed(t, rec, admitted)
  t.is(infos[1].port, admitted.localPort)
})

test('TCP: allowedUids refuses a peer without credentials', async (t) => {
  const port = await freePort()
  const { rec } = await serveTcp(t, port, { allowedUids: [process.getuid()] })
  const err = await assertRawRefused(t, rec, await tcpSender(t, port), 'no-credentials')
  t.regex(err.message, /127\.0\.0\.1:\d+ was refused: .*no peer credentials/)
})

test('TLS: verifyClient sees the client certificate; refused and admitted by it', async (t) => {
  const port = await freePort()
  const infos = []
  const { rec } = await serveTcp(t, port, {
    tls: { public: C.srv.pub, private: C.srv.key, requestCert: true, trustedConnections: C.cli.pub },
    verifyClient: (info) => {
      infos.push(info)
      return infos.length > 1 && info.certificate.subject.CN === 'hello-client'
    },
  })
  const key = C.cli.key
  const cert = C.cli.pub
  const connect = () =>
    tls.connect({
      port,
      host: '127.0.0.1',
      key: readFileSync(key),
      cert: readFileSync(cert),
      rejectUnauthorized: false,
    })
  const refused = await rawSender(t, connect, true)
  await assertRawRefused(t, rec, refused, 'verifier-refused')
  t.is(infos[0].address, '127.0.0.1')
  t.is(infos[0].port, refused.localPort)
  t.true(infos[0].authorized)
  t.is(infos[0].certificate.subject.CN, 'hello-client')
  t.true(Buffer.isBuffer(infos[0].certificate.raw))
  await assertRawServed(t, rec, await rawSender(t, connect, true))
})

// ------------------------------------------------------------------ limits and settings

test('a connection awaiting verification counts toward maxConnections', async (t) => {
  const port = await freePort()
  let admit
  const verdict = new Promise((resolve) => {
    admit = resolve
  })
  let calls = 0
  const { rec } = await serveTcp(t, port, {
    maxConnections: 1,
    verifyClient: () => {
      calls++
      return verdict
    },
  })
  const first = await tcpSender(t, port)
  const second = await tcpSender(t, port)
  // The server is full while the first waits: the second is closed at accept, unverified.
  await withTimeout(second.closed, WAIT, 'the second client closed at maxConnections')
  await delay(QUIET_MS)
  t.is(calls, 1, 'only the first client was verified')
  t.is(rec.count('connect'), 0, 'the first is still waiting')
  admit(true)
  await assertRawServed(t, rec, first)
})

test('unusable verification settings fail the start with a clear error', async (t) => {
  const cases = [
    [{ verifyClient: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE', /verifyClient must be a function, got 'yes'/],
    [{ allowedUids: 0 }, TypeError, 'ERR_INVALID_ARG_TYPE', /allowedUids must be an array of uids/],
    [{ allowedUids: [0, -1] }, TypeError, 'ERR_INVALID_ARG_TYPE', /allowedUids must be an array of uids/],
    [{ allowedUids: [0], verifyClientTimeout: 0 }, RangeError, 'ERR_OUT_OF_RANGE', /verifyClientTimeout/],
    [{ verifyClient: () => true, verifyClientTimeout: 2 ** 31 }, RangeError, 'ERR_OUT_OF_RANGE', /<= 2147483647/],
  ]
  const starts = []
  for (const [config, type, code, message] of cases) {
    const { IPC } = loadImpl('ours')
    const ipc = new IPC()
    ipc.config.silent = true
    Object.assign(ipc.config, config)
    const sockPath = path.join(tmpDir(t), 's.sock')
    ipc.serve(sockPath, () => starts.push(config))
    const failed = new Promise((resolve) => ipc.server.on('error', resolve))
    ipc.server.start()
    t.teardown(() => ipc.server.stop())
    const err = await withTimeout(failed, WAIT, `the error for ${JSON.stringify(config)}`)
    t.true(err instanceof type)
    t.is(err.code, code)
    t.regex(err.message, message)
  }
  // A start would have followed within milliseconds.
  await delay(QUIET_MS)
  t.deepEqual(starts, [], 'no server started')
})

// A cluster worker's connections are accepted by Node and adopted by the core: they are
// verified too, with the credentials read at adoption.
for (const allowed of ['this uid', 'another uid']) {
  test(`cluster worker: allowedUids with ${allowed} ${allowed === 'this uid' ? 'serves' : 'refuses'} a client of this uid`, async (t) => {
    const sockPath = path.join(tmpDir(t), 's.sock')
    const uids = allowed === 'this uid' ? [process.getuid()] : [process.getuid() + 1]
    const server = spawnNode(path.join(ROOT, '__test__/fixtures/verify/cluster-server.cjs'), {
      impl: 'ours',
      env: { SOCK_PATH: sockPath, ALLOWED_UIDS: JSON.stringify(uids) },
      label: 'cluster server',
      t,
    })
    await server.waitJson((o) => o.ev === 'listening', WAIT)
    const client = sameUserClient(t, sockPath)
    const me = await client.waitJson((o) => o.ev === 'connected', WAIT)
    const creds = { pid: me.pid, uid: process.getuid(), gid: process.getgid() }
    if (allowed === 'this uid') {
      t.deepEqual((await server.waitJson((o) => o.ev === 'connect', WAIT)).peer, creds)
      await client.waitJson((o) => o.ev === 'reply' && o.data.n === FRAMES - 1, WAIT)
    } else {
      const refused = await server.waitJson((o) => o.ev === 'refused', WAIT)
      t.deepEqual(refused, { ev: 'refused', code: 'ERR_IPC_CLIENT_REFUSED', reason: 'uid-not-allowed', peer: creds })
      await client.waitJson((o) => o.ev === 'disconnected', WAIT)
      await delay(QUIET_MS)
      t.false(server.lines.some((l) => l.includes('"ev":"connect"')))
      t.false(client.lines.some((l) => l.includes('"ev":"reply"')))
    }
  })
}

test('a client admitted after its server stopped is still connected and served', async (t) => {
  const sockPath = path.join(tmpDir(t), 's.sock')
  const server = spawnNode(path.join(ROOT, '__test__/fixtures/verify/stopped-server.cjs'), {
    impl: 'ours',
    env: { SOCK_PATH: sockPath },
    label: 'stopped server',
    t,
  })
  await server.waitJson((o) => o.ev === 'listening', WAIT)
  const client = sameUserClient(t, sockPath)
  await server.waitJson((o) => o.ev === 'verifying', WAIT)
  await server.waitJson((o) => o.ev === 'connect', WAIT)
  await server.waitJson((o) => o.ev === 'early' && o.n === FRAMES - 1, WAIT)
  t.deepEqual(
    server
      .json()
      .filter((o) => o.ev === 'early')
      .map((o) => o.n),
    [...Array(FRAMES).keys()],
  )
  t.true(server.alive, 'the admitted connection keeps the server process alive')
  await client.kill()
})
