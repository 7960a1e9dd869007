#!/usr/bin/env node
// The tests that show a Node version works, on the official builds of each version the
// package claims (engines: >=18.17.0): the addon loads, the original examples run on both
// implementations, interop with v9, process lifetime, and the packed install. The test
// tooling (npm, ava, the napi CLI) stays on this machine's Node; the processes under test
// (example servers and clients, interop peers, the installed project's code) run on the
// version's own binary (NODE_IPC_RS_TEST_NODE, see __test__/helpers/proc.mjs).
//
//   node scripts/test-node-versions.mjs                 # every version below
//   node scripts/test-node-versions.mjs 18.17.0 26.12.1 # some of them
//
// The builds come from the npm registry's node-<platform>-<arch> packages (`npm pack`, no
// install scripts), kept in NODE_IPC_RS_NODE_CACHE (default ~/.cache/node-ipc-rs/node).
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const VERSIONS = ['18.17.0', '18.20.8', '20.20.2', '22.23.5', '24.22.3', '26.12.1']
const SPECS = ['examples', 'examples-tls', 'examples-udp', 'interop', 'lifetime', 'install'].map(
  (name) => `__test__/${name}.spec.mjs`,
)
const CACHE = process.env.NODE_IPC_RS_NODE_CACHE || path.join(os.homedir(), '.cache', 'node-ipc-rs', 'node')
const AVA = path.join(ROOT, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
// Bounds: a download, and one version's whole test run (about 140 s on the 2-core CI machine).
const FETCH_TIMEOUT_MS = 5 * 60_000
const VERSION_TIMEOUT_MS = 15 * 60_000

// The official binary of `version` for this platform, fetched once: unpacked in a fresh
// folder and renamed into place, so an interrupted download is never taken for a build.
function nodeBinary(version) {
  const dir = path.join(CACHE, `${process.platform}-${process.arch}-${version}`)
  const binary = path.join(dir, 'package', 'bin', 'node')
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(CACHE, { recursive: true })
    const partial = fs.mkdtempSync(path.join(CACHE, '.partial-'))
    try {
      const name = `node-${process.platform}-${process.arch}@${version}`
      const packed = JSON.parse(
        execFileSync('npm', ['pack', name, '--json', '--ignore-scripts', '--pack-destination', partial], {
          encoding: 'utf8',
          timeout: FETCH_TIMEOUT_MS,
        }),
      )
      execFileSync('tar', ['-xzf', path.join(partial, packed[0].filename), '-C', partial], {
        timeout: FETCH_TIMEOUT_MS,
      })
      fs.rmSync(path.join(partial, packed[0].filename))
      fs.rmSync(dir, { recursive: true, force: true })
      fs.renameSync(partial, dir)
    } finally {
      fs.rmSync(partial, { recursive: true, force: true })
    }
  }
  return binary
}

function checkLoad(node, version) {
  const script = `
    const b = require(${JSON.stringify(path.join(ROOT, 'binding.js'))})
    const ipc = require(${JSON.stringify(ROOT)})
    if (typeof b.contract !== 'function' || typeof ipc.serve !== 'function') throw new Error('incomplete')
    console.log(process.version, Object.keys(b.contract().kinds).length)`
  const out = execFileSync(node, ['-e', script], { encoding: 'utf8', timeout: 60_000 }).trim()
  if (!out.startsWith(`v${version} `)) throw new Error(`Node ${version} reported ${out}`)
  return out
}

const versions = process.argv.length > 2 ? process.argv.slice(2) : VERSIONS
const results = []
for (const version of versions) {
  const started = Date.now()
  console.log(`\n== Node ${version}`)
  let ok = false
  try {
    const node = nodeBinary(version)
    console.log(`addon loads: ${checkLoad(node, version)}`)
    const ran = spawnSync(process.execPath, [AVA, ...SPECS], {
      cwd: ROOT,
      stdio: 'inherit',
      timeout: VERSION_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      env: {
        ...process.env,
        NODE_IPC_RS_TEST_NODE: node,
        // What the children must report (interop.spec checks it).
        NODE_IPC_RS_TEST_NODE_VERSION: `v${version}`,
        NODE_IPC_RS_TEST_NODE_ARCH: process.arch,
      },
    })
    if (ran.error) console.error(`Node ${version}: ${ran.error.message}`)
    ok = ran.status === 0
  } catch (err) {
    // One version's failure (a download, the addon load) still lets the others run.
    console.error(`Node ${version}: ${err.message}`)
  }
  results.push({ version, ok, seconds: Math.round((Date.now() - started) / 1000) })
}
console.log('\nNode versions:')
for (const r of results) console.log(`  ${r.version}: ${r.ok ? 'passed' : 'FAILED'} (${r.seconds} s)`)
process.exit(results.every((r) => r.ok) ? 0 : 1)
