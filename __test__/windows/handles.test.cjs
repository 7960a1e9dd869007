'use strict'

// Per-handle ref()/unref() over named pipes, Node's semantics (v9 has them through its real
// net.Server and net.Sockets): the same scenarios as handles.spec.mjs on Linux, run by the
// same fixture (fixtures/handles/scenario.cjs) in a child node.exe, on both
// implementations; the peer is a node:net pipe socket or server in this process.
const test = require('node:test')
const assert = require('node:assert')
const net = require('node:net')
const path = require('node:path')
const { IMPLS, pipePath, pipeName, once, delay, spawnNode } = require('./helpers.cjs')

const SCENARIO = path.join(__dirname, '..', 'fixtures', 'handles', 'scenario.cjs')
const EXIT_DEADLINE = 10000 // ms: "exits by itself within" (Wine starts processes slowly)
// ms: "still alive after". Under Wine a scenario that must exit does so within about
// 300 ms of its unref (its whole test, start and connect included, takes 0.6-0.7 s); no
// timer runs in these scenarios (a client's retry, 100 ms, never starts while connected).
// The window is over 6x that.
const ALIVE_WINDOW = 2000

function scenario(t, impl, name, sockPath) {
  const child = spawnNode(t, [SCENARIO], {
    env: { IPC_IMPL: impl, IPC_IMPL_PATH: IMPLS[impl], SCENARIO: name, TRANSPORT: 'unix', SOCK_PATH: sockPath },
  })
  return { child, json: child.json, waitEv: child.waitJson }
}

async function staysAlive(s) {
  await delay(ALIVE_WINDOW)
  assert.strictEqual(s.child.child.exitCode, null, `alive after ${ALIVE_WINDOW} ms`)
}

async function exitsCleanly(s) {
  assert.deepStrictEqual(await s.child.waitExit(EXIT_DEADLINE), { code: 0, signal: null })
  return s.json().find((o) => o.ev === 'exit')
}

async function serverWithPeer(t, impl, name) {
  const p = pipePath('handles')
  const s = scenario(t, impl, name, p)
  await s.waitEv((o) => o.ev === 'listening')
  const peer = net.connect(pipeName(p))
  t.after(() => peer.destroy())
  peer.on('error', () => {})
  await once(peer, 'connect')
  await s.waitEv((o) => o.ev === 'connect')
  return { s, peer, p }
}

async function pipeServer(t) {
  const p = pipePath('handles')
  const conns = []
  const server = net.createServer((c) => {
    conns.push(c)
    c.on('error', () => {})
  })
  server.listen(pipeName(p))
  await once(server, 'listening')
  t.after(() => {
    for (const c of conns) c.destroy()
    server.close()
  })
  return { p, conns }
}

for (const impl of Object.keys(IMPLS)) {
  test(`[${impl}] socket.unref() on an accepted socket leaves the ref'd listening pipe server keeping the process alive`, {
    timeout: 90000,
  }, async (t) => {
    const { s, p } = await serverWithPeer(t, impl, 'unref-socket')
    await staysAlive(s)
    const second = net.connect(pipeName(p))
    t.after(() => second.destroy())
    await once(second, 'connect')
    await s.waitEv((o) => o.ev === 'connect' && o.n === 2)
  })

  test(`[${impl}] server.unref() with a ref'd pipe connection stays alive while it is open, exits (0) when the peer disconnects`, {
    timeout: 90000,
  }, async (t) => {
    const { s, peer } = await serverWithPeer(t, impl, 'unref-server')
    await staysAlive(s)
    peer.end()
    const exit = await exitsCleanly(s)
    assert.strictEqual(exit.open, 0, 'the connection was closed before the exit')
  })

  test(`[${impl}] server.unref() and the only pipe connection's socket.unref() -> exits (0) with the peer still connected`, {
    timeout: 90000,
  }, async (t) => {
    const { s } = await serverWithPeer(t, impl, 'unref-both')
    const exit = await exitsCleanly(s)
    assert.strictEqual(exit.open, 1, 'the connection was still open at exit')
  })

  test(`[${impl}] client socket.unref() on a connected pipe client with nothing else ref'd -> exits (0) while connected`, {
    timeout: 90000,
  }, async (t) => {
    const { p, conns } = await pipeServer(t)
    const s = scenario(t, impl, 'client-unref', p)
    await s.waitEv((o) => o.ev === 'connected')
    const exit = await exitsCleanly(s)
    assert.strictEqual(exit.open, 1, 'the connection was still open at exit')
    assert.strictEqual(conns.length, 1)
  })

  test(`[${impl}] a connected pipe client without unref stays alive`, { timeout: 90000 }, async (t) => {
    const { p } = await pipeServer(t)
    const s = scenario(t, impl, 'client-ref', p)
    await s.waitEv((o) => o.ev === 'connected')
    await staysAlive(s)
    assert.ok(!s.json().some((o) => o.ev === 'disconnect' || o.ev === 'error'), 'the connection stayed up')
  })
}
