#!/usr/bin/env node
// TLS round trips of two builds of this package, alternated (the floor has no TLS case):
//   node bench/tls/compare.mjs <old package root> [new package root, default: this repo] [runs, default 5]
// A root is a checkout with its addon built (e.g. `git worktree add /tmp/old <commit>`,
// then `npm run build` there). Each run starts a server and a client process per build on
// a fresh port; prints each run and the medians of p50, p99 and client CPU (µs).
import { fork } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const [oldRoot, newRoot = path.join(HERE, '..', '..'), runs = '5'] = process.argv.slice(2)
if (!oldRoot) {
  console.error('usage: node bench/tls/compare.mjs <old package root> [new package root] [runs]')
  process.exit(2)
}
const SIDE = path.join(HERE, 'roundtrip.cjs')
const TIMEOUT = 60000

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })

async function once(root) {
  const port = await freePort()
  const env = { ...process.env, ROOT: path.resolve(root) }
  const server = fork(SIDE, ['server', String(port)], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  try {
    await new Promise((resolve, reject) => {
      server.once('message', resolve)
      server.once('exit', (code) => reject(new Error(`server exited (${code})`)))
    })
    const client = fork(SIDE, ['client', String(port)], { env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    let out = ''
    client.stdout.on('data', (d) => {
      out += d
    })
    const timer = setTimeout(() => client.kill(), TIMEOUT)
    const code = await new Promise((resolve) => client.once('exit', resolve))
    clearTimeout(timer)
    if (code !== 0) throw new Error(`client exited (${code})`)
    return JSON.parse(out)
  } finally {
    server.kill()
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = { old: [], new: [] }
for (let k = 0; k < Number(runs); k++) {
  for (const [name, root] of [
    ['old', oldRoot],
    ['new', newRoot],
  ]) {
    const r = await once(root)
    results[name].push(r)
    console.log(
      `${name} run ${k + 1}: p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs, client cpu ${r.cpu.toFixed(1)} µs`,
    )
  }
}
for (const name of ['old', 'new']) {
  const rs = results[name]
  console.log(
    `${name}: median p50 ${median(rs.map((r) => r.p50)).toFixed(1)} µs, p99 ${median(rs.map((r) => r.p99)).toFixed(1)} µs, client cpu ${median(rs.map((r) => r.cpu)).toFixed(1)} µs`,
  )
}
