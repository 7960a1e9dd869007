// ipc.config.socketMode (node-ipc-rs; README, "Securing a server"): the socket file has
// the given mode from the moment its name exists, whatever the umask, so no other user can
// connect in between (permissions are checked at connect only: a connection made in such a
// window stays). The server runs under umask 0 in a 0o755 folder, where a plain bind makes
// the file 0777; a process of another user (uid 65534) keeps connecting to the path while
// the server starts 20 times. The same race against bind-then-chmod, what a v9 user can
// do, lets that process in: the control shows the race is real and this test can fail.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { loadImpl } from './helpers/impl.mjs'
import { spawnNode, assertLoaded } from './helpers/proc.mjs'
import { OTHER_USER_UNAVAILABLE, otherUserTree, spawnAsOtherUser } from './helpers/other-user.mjs'
import { testUnless } from './helpers/skip.mjs'
import { once, startOutcome, tmpDir } from './helpers/behav-util.mjs'

const SERVER = path.join('__test__', 'fixtures', 'socket-mode', 'server.cjs')
const RACER = path.join('__test__', 'fixtures', 'socket-mode', 'racer.cjs')
const STARTS = 20
// Each start is served this long while the racer keeps trying; the racer's connects take
// well under a millisecond each, so it tries thousands of times per start.
const HOLD_MS = 100

// Starts the racer and then the server (MODE 'socketMode' or 'chmod') in the other-user
// tree, and returns both children once the server is done.
async function race(t, mode, starts) {
  const tree = otherUserTree(t, [SERVER, RACER])
  const sockPath = tree.path('s.sock')
  const racer = spawnAsOtherUser(t, tree, RACER, {
    env: { SOCK_PATH: sockPath, RACE_MS: String(starts * HOLD_MS * 3 + 10_000), CONCURRENCY: '4' },
  })
  const racing = await racer.waitJson((o) => o.ev === 'racing', 10_000)
  t.is(racing.uid, 65534, 'the racer runs as another user')
  const server = spawnNode(tree.path(SERVER), {
    impl: 'ours',
    implPath: tree.path('index.js'),
    cwd: tree.root,
    prelude: 'umask 0',
    env: { SOCK_PATH: sockPath, STARTS: String(starts), HOLD_MS: String(HOLD_MS), MODE: mode },
    t,
  })
  await server.waitJson((o) => o.ev === 'done', starts * HOLD_MS * 20 + 20_000)
  const lines = server.lines.map((l) => JSON.parse(l))
  return { server, racer, lines, started: lines.filter((o) => o.ev === 'started') }
}

testUnless(
  OTHER_USER_UNAVAILABLE,
  test.serial,
  '[ours] socketMode 0o600 under umask 0: the file is 0600 at start and another user never gets in',
  async (t) => {
    const { lines, started, racer } = await race(t, 'socketMode', STARTS)
    t.deepEqual(
      lines.filter((o) => o.ev === 'error'),
      [],
    )
    t.is(started.length, STARTS)
    t.deepEqual(
      started.map((o) => o.mode.toString(8)),
      Array(STARTS).fill('600'),
    )
    t.deepEqual(
      lines.filter((o) => o.ev === 'intruder'),
      [],
      'no connection of another uid was accepted',
    )
    t.is(racer.match(/"ev":"in"/).length, 0, 'the racer never connected')
    // It reached the file and was refused (EACCES): it was really trying.
    await racer.waitJson((o) => o.ev === 'refused', 5000)
  },
)

testUnless(
  OTHER_USER_UNAVAILABLE,
  test.serial,
  'control: bind then chmod (v9 and node:net can do no better) lets another user in',
  async (t) => {
    // Up to 3 rounds of STARTS starts: the window is short, but the racer hits it.
    let intruders = []
    for (let round = 0; round < 3 && intruders.length === 0; round++) {
      const { lines, started } = await race(t, 'chmod', STARTS)
      t.true(
        started.every((o) => o.mode === 0o777),
        'a plain bind under umask 0 makes the file 0777',
      )
      intruders = lines.filter((o) => o.ev === 'intruder')
    }
    t.log(`${intruders.length} connection(s) of another uid accepted`)
    t.true(intruders.length > 0, 'another uid got in between bind and chmod')
    t.is(intruders[0].peer.uid, 65534)
  },
)

test('[ours] socketMode sets the mode whatever the umask; readableAll adds nothing to it', async (t) => {
  const dir = tmpDir(t)
  const { IPC } = loadImpl('ours')
  for (const [socketMode, extra] of [
    [0o600, {}],
    [0o660, { readableAll: true, writableAll: true }],
    [0o666, {}],
  ]) {
    const ipc = new IPC()
    Object.assign(ipc.config, { silent: true, socketMode, ...extra })
    const sockPath = path.join(dir, `m${socketMode.toString(8)}.sock`)
    ipc.serve(sockPath, () => {})
    const outcome = await startOutcome(ipc.server)
    t.is(outcome.event, 'start', outcome.err && outcome.err.message)
    t.is((fs.statSync(sockPath).mode & 0o777).toString(8), socketMode.toString(8))
    ipc.server.stop()
  }
  t.deepEqual(fs.readdirSync(dir), [], 'stop() unlinked the files; no private folder is left')
})

test('[ours] socketMode: an invalid value is an error at start; a taken path is EADDRINUSE', async (t) => {
  const dir = tmpDir(t)
  const { IPC } = loadImpl('ours')
  for (const bad of [0o1777, -1, 1.5, '600']) {
    const ipc = new IPC()
    Object.assign(ipc.config, { silent: true, socketMode: bad })
    ipc.serve(path.join(dir, 'bad.sock'), () => {})
    const outcome = await startOutcome(ipc.server)
    t.is(outcome.event, 'error')
    t.is(outcome.err.code, 'ERR_IPC_INVALID_CONFIG')
    t.regex(outcome.err.message, /socketMode must be an integer from 0 to 0o777/)
  }
  // With unlink off, a file already at the path is kept and the bind fails, as without
  // socketMode: the link into place never replaces a file.
  const taken = path.join(dir, 'taken.sock')
  fs.writeFileSync(taken, 'keep')
  const ipc = new IPC()
  Object.assign(ipc.config, { silent: true, socketMode: 0o600, unlink: false })
  ipc.serve(taken, () => {})
  const outcome = await startOutcome(ipc.server)
  t.is(outcome.event, 'error')
  t.is(outcome.err.code, 'EADDRINUSE')
  t.is(fs.readFileSync(taken, 'utf8'), 'keep')
  t.deepEqual(fs.readdirSync(dir), ['taken.sock'], 'no private folder is left')
})

test('[ours] a client connects through the linked name and is served', async (t) => {
  const dir = tmpDir(t)
  const { IPC } = loadImpl('ours')
  const server = new IPC()
  Object.assign(server.config, { silent: true, socketMode: 0o600 })
  const sockPath = path.join(dir, 's.sock')
  server.serve(sockPath, () => server.server.on('ping', (data, socket) => server.server.emit(socket, 'pong', data)))
  t.is((await startOutcome(server.server)).event, 'start')
  t.teardown(() => server.server.stop())
  const client = new IPC()
  Object.assign(client.config, { silent: true, maxRetries: 0 })
  client.connectTo('s', sockPath)
  t.teardown(() => client.disconnect('s'))
  await once(client.of.s, 'connect')
  const pong = once(client.of.s, 'pong')
  client.of.s.emit('ping', { n: 1 })
  t.deepEqual((await pong)[0], { n: 1 })
})
