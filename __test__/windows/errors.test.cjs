'use strict'

// TCP and host lookups on Windows: each failure as Node reports it in this node.exe (code,
// errno with libuv's Windows numbers, syscall, address, port), compared with what node:net
// says for the same thing here.
const test = require('node:test')
const assert = require('node:assert')
const net = require('node:net')
const { once, quietIpc, errorFields, netError, clientError } = require('./helpers.cjs')

/** A port nobody listens on: one a server had a moment ago. */
async function closedPort() {
  const s = net.createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address()
  await new Promise((resolve) => s.close(resolve))
  return port
}

test('[ours] TCP connect to a closed port: ECONNREFUSED with errno -4078, as node:net', {
  timeout: 90000,
}, async () => {
  const port = await closedPort()
  const expected = await netError((done) => net.connect(port, '127.0.0.1').on('error', done))
  assert.strictEqual(expected.errno, -4078)
  assert.deepStrictEqual(await clientError('connectToNet', '127.0.0.1', port), expected)
})

test('[ours] TCP listen on a port in use: EADDRINUSE as node:net', { timeout: 90000 }, async (t) => {
  const holder = net.createServer().listen(0, '127.0.0.1')
  await once(holder, 'listening')
  t.after(() => holder.close())
  const { port } = holder.address()
  const expected = await netError((done) => net.createServer().on('error', done).listen(port, '127.0.0.1'))
  const server = quietIpc()
  server.serveNet('127.0.0.1', port)
  const failed = once(server.server, 'error')
  server.server.start()
  const got = errorFields(await failed)
  // Wine may let a second socket bind a port in use (SO_REUSEADDR semantics differ); the
  // outcome must be node:net's either way, and here node:net failed.
  assert.strictEqual(expected.code, 'EADDRINUSE')
  assert.deepStrictEqual(got, expected)
})

test('[ours] a host name that does not resolve fails as node:net does', { timeout: 90000 }, async () => {
  const host = 'no-such-host.invalid'
  const expected = await netError((done) => net.connect(80, host).on('error', done))
  assert.ok(['ENOTFOUND', 'EAI_AGAIN'].includes(expected.code), JSON.stringify(expected))
  const got = await clientError('connectToNet', host, 80)
  // node:net reports the host as `hostname`, which ours adds too; compare what both carry.
  assert.deepStrictEqual(
    { code: got.code, errno: got.errno, syscall: got.syscall },
    {
      code: expected.code,
      errno: expected.errno,
      syscall: expected.syscall,
    },
  )
})

test('[ours] localhost resolves through the Windows resolver: a TCP round trip by name', {
  timeout: 90000,
}, async (t) => {
  // A free port: serveNet treats 0 as "not given" (v9), which means the examples' 8000.
  const port = await closedPort()
  const server = quietIpc()
  server.serveNet('localhost', port, () => {
    server.server.on('ping', (data, socket) => server.server.emit(socket, 'pong', data))
  })
  server.server.start()
  await once(server.server, 'start')
  t.after(() => server.server.stop())
  const client = quietIpc()
  const pong = new Promise((resolve) => {
    client.connectToNet('s', 'localhost', port, () => {
      client.of.s.on('connect', () => client.of.s.emit('ping', 'by name'))
      client.of.s.on('pong', resolve)
    })
  })
  t.after(() => client.disconnect('s'))
  assert.strictEqual(await pong, 'by name')
})
