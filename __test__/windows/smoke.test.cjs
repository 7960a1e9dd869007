'use strict'

// The Windows build loads in node.exe and a pipe round trip works on both implementations.
const test = require('node:test')
const assert = require('node:assert')
const { IMPLS, pipePath, runScript } = require('./helpers.cjs')

test('the addon is this build, loaded in Windows node.exe', { timeout: 90000 }, () => {
  assert.strictEqual(process.platform, 'win32')
  const binding = require('../../binding.js')
  assert.strictEqual(typeof binding.contract, 'function')
  assert.ok(Object.keys(binding.contract().kinds).length > 0)
})

for (const impl of Object.keys(IMPLS)) {
  test(`[${impl}] serve + connectTo over a named pipe: request, reply, then the process exits by itself`, {
    timeout: 90000,
  }, async (t) => {
    const p = pipePath('smoke')
    const child = runScript(
      t,
      impl,
      `
      const ipc = require(process.env.IMPL)
      ipc.config.silent = true
      ipc.config.id = 'world'
      ipc.serve(${JSON.stringify(p)}, () => {
        ipc.server.on('app.message', (data, socket) => ipc.server.emit(socket, 'app.message', { echo: data.message }))
      })
      ipc.server.on('start', () => {
        console.log('path ' + ipc.server.path)
        ipc.connectTo('world', ${JSON.stringify(p)}, () => {
          ipc.of.world.on('connect', () => ipc.of.world.emit('app.message', { message: 'hello' }))
          ipc.of.world.on('app.message', (data) => {
            console.log('reply ' + JSON.stringify(data))
            ipc.disconnect('world')
            ipc.server.stop()
          })
        })
      })
      ipc.server.start()
      `,
    )
    await child.waitLine(/^reply /)
    assert.deepStrictEqual(
      child.lines.filter((l) => /^(path|reply) /.test(l)),
      [`path \\\\.\\pipe\\${p.slice(1).replace(/\//g, '-')}`, 'reply {"echo":"hello"}'],
    )
    assert.deepStrictEqual(await child.waitExit(10000), { code: 0, signal: null })
  })
}
