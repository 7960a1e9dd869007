// Installed without its platform package (the optional dependency that carries the addon),
// node-ipc-rs still loads, as v9 (pure JS) does anywhere, and the first serve*, connectTo*
// or server.start() throws at once an error that names the platform, the missing package
// and how to install it; nothing fails silently. The package is copied without any addon
// into a folder with no node_modules above it, as an install without the package leaves it.
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

function packageWithoutAddon(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipc-no-addon-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pkg = path.join(dir, 'node-ipc')
  fs.mkdirSync(pkg)
  for (const file of ['index.js', 'index.mjs', 'binding.js', 'package.json']) {
    fs.copyFileSync(path.join(root, file), path.join(pkg, file))
  }
  fs.cpSync(path.join(root, 'lib'), path.join(pkg, 'lib'), { recursive: true })
  t.false(
    fs.readdirSync(pkg).some((f) => f.endsWith('.node')),
    'no addon in the copy',
  )
  return pkg
}

const SCRIPT = `
  const ipc = require(process.argv[1])
  const out = { loaded: typeof ipc.serve === 'function', retry: ipc.config.retry }
  const attempt = (name, fn) => {
    try { fn(); out[name] = 'no error' } catch (err) { out[name] = { code: err.code, message: err.message, package: err.package } }
  }
  attempt('serve', () => ipc.serve('/tmp/never-bound.sock', () => {}))
  attempt('serveNet', () => ipc.serveNet('127.0.0.1', 1, () => {}))
  attempt('connectTo', () => ipc.connectTo('world', '/tmp/never-bound.sock'))
  attempt('connectToNet', () => ipc.connectToNet('world', '127.0.0.1', 1))
  console.log(JSON.stringify(out))
`

test('[ours] without the platform package: require works, serve/connectTo throw ERR_IPC_NATIVE_BINARY_MISSING', (t) => {
  const pkg = packageWithoutAddon(t)
  const out = JSON.parse(execFileSync(process.execPath, ['-e', SCRIPT, pkg], { encoding: 'utf8', timeout: 10000 }))
  t.true(out.loaded)
  t.is(out.retry, 500, 'the config is there, as in v9')
  for (const call of ['serve', 'serveNet', 'connectTo', 'connectToNet']) {
    const err = out[call]
    t.is(err.code, 'ERR_IPC_NATIVE_BINARY_MISSING', `${call}: ${JSON.stringify(err)}`)
    t.regex(err.message, new RegExp(`${process.platform}-${process.arch}`), 'names the platform')
    t.regex(err.package, /^node-ipc-rs-/)
    t.true(err.message.includes(`npm install ${err.package}`), 'says how to install it')
  }
})
