// One source for the values lib/ shares with the core: the addon's contract()
// (src/binding/mod.rs). lib/ reads them from there and never writes them down itself, so
// that the two cannot drift apart. A literal of any of them in lib/ fails here.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const contract = require(path.join(root, 'binding.js')).contract()

// The code of a JS file without its comments and the text of its strings (a message may
// name a number: "port < 65536").
const code = (text) =>
  text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''")

// Every number written in `text`, as a literal or a product of literals (`16 * 1024`),
// with its sign.
function numbersIn(text) {
  const found = []
  for (const m of text.matchAll(/(-\s*)?\b\d+(?:\s*\*\s*\d+)*\b/g)) {
    const value = m[0]
      .replace(/^-\s*/, '')
      .split('*')
      .reduce((a, b) => a * Number(b), 1)
    found.push({ value: m[1] ? -value : value, text: m[0] })
  }
  return found
}

// JS-only settings whose value happens to equal one of the contract's.
const JS_ONLY = [/^const BYTES_CORK_LIMIT = .*$/m]

const libFiles = fs
  .readdirSync(path.join(root, 'lib'))
  .filter((f) => f.endsWith('.js'))
  .map((f) => {
    let text = code(fs.readFileSync(path.join(root, 'lib', f), 'utf8'))
    for (const line of JS_ONLY) text = text.replace(line, '')
    return { file: `lib/${f}`, text }
  })

test('the contract has the kinds and the values lib/ needs', (t) => {
  t.deepEqual(Object.keys(contract).sort(), [
    'defaultMaxBufferedBytes',
    'defaultMaxMessageSize',
    'kinds',
    'largeString',
    'largeStringMark',
    'useJsonStringify',
    'writeDropped',
    'writeHighWater',
  ])
  const kinds = Object.values(contract.kinds)
  t.is(new Set(kinds).size, kinds.length, 'each kind has its own number')
  t.true(kinds.length >= 12)
})

test('lib/ uses the kinds the core sends, by name', (t) => {
  const { KIND, createEndpoint } = require(path.join(root, 'lib', 'native.js'))
  // Loading an endpoint loads the addon, which fills KIND in.
  createEndpoint({ _onNative() {} }, {}, '\f')
  t.deepEqual({ ...KIND }, contract.kinds)
  for (const { file, text } of libFiles) {
    for (const name of Object.keys(contract.kinds)) {
      t.notRegex(text, new RegExp(`\\b${name}\\s*[:=]\\s*-?\\d`), `${file} defines ${name} itself`)
    }
  }
})

test('no value of the contract is written as a literal in lib/', (t) => {
  // -1 is also a port (net's for pipes) and an index: the write results are checked by how
  // they are compared below; every other value may not appear at all.
  const values = [
    contract.writeDropped,
    contract.useJsonStringify,
    contract.largeString,
    contract.defaultMaxMessageSize,
    contract.defaultMaxBufferedBytes,
    contract.writeHighWater,
  ].filter((v) => Math.abs(v) >= 2)
  t.is(values.length, 5)
  for (const { file, text } of libFiles) {
    for (const { value, text: literal } of numbersIn(text)) {
      t.false(values.includes(value), `${file}: ${literal} is a value of the contract`)
    }
    t.notRegex(text, /pending\s*(?:[=!]==?|[<>]=?)\s*-?\d/, `${file} compares a write result with a number`)
    t.false(text.includes(contract.largeStringMark), `${file} holds the large-string mark`)
  }
})

test('the literal check finds literals and products of them', (t) => {
  const found = numbersIn('const a = 16 * 1024 * 1024; if (x === -2) f(64*1024)').map((n) => n.value)
  t.deepEqual(found, [16 * 1024 * 1024, -2, 64 * 1024])
})
