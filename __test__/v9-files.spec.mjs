// v9's files that code loads by path: entities/EventParser (with the entities/Defaults it
// requires) and services/IPC, at the same place in the package and through the exports map
// (with and without .js), behaving as v9's; other v9 internals (dao/*) throw a clear error.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { IMPLS } from './helpers/impl.mjs'
import { newIpc, track, tmpDir, withTimeout } from './helpers/behav-util.mjs'

const require = createRequire(import.meta.url)
const OURS = path.dirname(IMPLS.ours)
const REF = path.dirname(require.resolve('@achrinza/node-ipc'))
// js-message as the reference resolves it (a dependency of the reference, not of ours).
const Message = createRequire(require.resolve('@achrinza/node-ipc'))('js-message')
// As real code finds it: next to the file the package name resolves to.
const OursParser = require(path.resolve(path.dirname(require.resolve(IMPLS.ours)), 'entities/EventParser'))
const RefParser = require(path.join(REF, 'entities', 'EventParser.js'))

const { table } = require('./fixtures/event-parser-table.cjs')

function message(type, data) {
  const m = new Message()
  m.type = type
  if (data !== undefined) m.data = data
  return m
}

test('entities/EventParser: format and parse give v9 output (and format normalises data as v9) on the table of inputs', (t) => {
  const ours = table(OursParser, Message)
  t.true(ours.length > 100, 'the table has rows')
  t.deepEqual(ours, table(RefParser, Message))
})

test("entities/Defaults has v9's fields and values, without the addon; services/IPC and node-ipc.js are where v9 had them", (t) => {
  const Defaults = require(path.join(OURS, 'entities', 'Defaults.js'))
  const RefDefaults = require(path.join(REF, 'entities', 'Defaults.js'))
  const plain = (d) => ({ ...d, logger: typeof d.logger })
  t.deepEqual(plain(new Defaults()), plain(new RefDefaults()))
  t.is(Defaults.name, 'Defaults')
  // Spreading it, as code that builds a config does, loads no native addon (v9's was plain JS).
  const loaded = execFileSync(
    process.execPath,
    [
      '-e',
      `const D = require(${JSON.stringify(path.join(OURS, 'entities', 'Defaults.js'))})
      JSON.stringify({ ...new D() })
      console.log(JSON.stringify(Object.keys(require.cache).filter((f) => f.endsWith('.node'))))`,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  )
  t.deepEqual(JSON.parse(loaded), [])
  const IPC = require(path.join(OURS, 'services', 'IPC.js'))
  t.is(IPC, require(IMPLS.ours).IPC)
  t.is(typeof new IPC().serve, 'function')
  t.is(require(path.join(OURS, 'node-ipc.js')), require(IMPLS.ours), "v9's main file: the same singleton")
})

test('the exports map reaches them with and without .js; v9 internals throw a clear error', (t) => {
  const self = createRequire(IMPLS.ours)
  for (const name of ['entities/EventParser', 'entities/EventParser.js'])
    t.is(self(`node-ipc-rs/${name}`), OursParser, name)
  for (const name of ['node-ipc', 'node-ipc.js']) t.is(self(`node-ipc-rs/${name}`), require(IMPLS.ours), name)
  t.is(self('node-ipc-rs/entities/Defaults'), self('node-ipc-rs/entities/Defaults.js'))
  t.is(self('node-ipc-rs/services/IPC'), require(IMPLS.ours).IPC)
  for (const name of ['dao/client', 'dao/socketServer.js']) {
    const err = t.throws(() => self(`node-ipc-rs/${name}`))
    t.is(err.code, 'ERR_IPC_INTERNAL_PATH', name)
    t.regex(err.message, /node-ipc-rs.*entities\/EventParser/)
  }
  t.true(fs.existsSync(path.join(OURS, 'entities', 'EventParser.js')))
})

// Both implementations, so the test shows what v9 does with the same code.
for (const impl of ['ref', 'ours']) {
  test(`[${impl}] a frame made with EventParser and written with socket.write(text, callback) reaches a handler`, async (t) => {
    const Parser = impl === 'ours' ? OursParser : RefParser
    const server = track(t, newIpc(impl))
    const client = track(t, newIpc(impl, { stopRetrying: true }))
    const sock = path.join(tmpDir(t), 's.sock')
    const received = new Promise((resolve) => {
      server.serve(sock, () => server.server.on('hello', (data) => resolve(data)))
      server.server.start()
    })
    await withTimeout(new Promise((resolve) => server.server.on('start', resolve)), 5000, 'server start')
    const written = new Promise((resolve) => {
      client.connectTo('world', sock, () => {
        client.of.world.on('connect', () => {
          const text = new Parser(client.config).format(message('hello', { n: 1, s: 'é😀' }))
          client.of.world.socket.write(text, () => resolve('callback fired'))
        })
      })
    })
    t.deepEqual(await withTimeout(received, 5000, 'the handler gets the frame'), { n: 1, s: 'é😀' })
    t.is(await withTimeout(written, 5000, 'the write callback'), 'callback fired')
  })
}
