#!/usr/bin/env node
// Soak runs: the long variants of __test__/load.spec.mjs and faults.spec.mjs, with figures.
//
//   node scripts/soak.mjs                       # all three, ours: 100k cycles, 10k clients, 60 s flood
//   node scripts/soak.mjs --impl ref            # the v9 reference (@achrinza/node-ipc@9.2.10)
//   node scripts/soak.mjs --only cycles --cycles 100000 --warmup 500
//   node scripts/soak.mjs --only clients --clients 10000 --procs 4 --messages 10 --transport tcp
//   node scripts/soak.mjs --only flood --flood-seconds 60 --busy-ms 2 --msg-bytes 262144
//
// cycles:  one process (node --expose-gc, fixed 4 MiB semi-space) runs N connect/ping/
//          disconnect cycles of a fresh IPC instance against its own Unix-socket server;
//          RSS/heap/fds after gc are printed every 10,000 cycles and compared with the
//          post-warm-up baseline; the socket folder must be empty after stop().
// clients: one server process (maxConnections above N) and P client processes holding N/P
//          IPC instances each, all connected at once; each sends M messages and expects M
//          in-order acks, then one broadcast. The open-file limit is raised with `ulimit -n`.
// flood:   a server whose handler busy-loops B ms per message and a client that floods it
//          for S seconds obeying back-pressure; the server's RSS is sampled from /proc and
//          the longest stall of a 100 ms setInterval in the server is reported.
//
// Exit code 0 when every run met its bound (cycles: RSS growth < 10 MiB per run, same fds,
// no socket file left; clients: nothing lost; flood: RSS < 300 MiB, nothing lost), else 1.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FIX = path.join(ROOT, '__test__', 'fixtures', 'reliability')
const IMPLS = { ours: path.join(ROOT, 'index.js'), ref: require.resolve('@achrinza/node-ipc', { paths: [ROOT] }) }
const MiB = 1024 * 1024

function parseArgs(argv) {
  const o = {
    impl: 'ours',
    only: 'cycles,clients,flood',
    cycles: 100000,
    warmup: 500,
    clients: 10000,
    procs: 4,
    messages: 10,
    transport: 'unix',
    'flood-seconds': 60,
    'busy-ms': 2,
    'msg-bytes': 256 * 1024,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
    const key = a.slice(2)
    if (!(key in o)) throw new Error(`unknown option ${a}`)
    const v = argv[++i]
    o[key] = typeof o[key] === 'number' ? Number(v) : v
  }
  if (!IMPLS[o.impl]) throw new Error('--impl must be ours or ref')
  return o
}

const opts = parseArgs(process.argv.slice(2))
const say = (...a) => console.log(...a)

// node <nodeArgs> <script> through bash with `ulimit -n` raised to `nofile` (or left if higher).
function run(script, { env = {}, nodeArgs = [], nofile = 4096, label }) {
  const cmd = `[ "$(ulimit -n)" -ge ${nofile} ] || ulimit -n ${nofile} || exit 97; exec "$@"`
  const cp = spawn('bash', ['-c', cmd, 'bash', process.execPath, ...nodeArgs, script], {
    env: { ...process.env, IPC_IMPL: opts.impl, IPC_IMPL_PATH: IMPLS[opts.impl], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const p = { cp, label, lines: [], stderr: '', listeners: new Set(), exited: null }
  let partial = ''
  cp.stdout.setEncoding('utf8')
  cp.stdout.on('data', (d) => {
    partial += d
    for (let nl = partial.indexOf('\n'); nl !== -1; nl = partial.indexOf('\n')) {
      const line = partial.slice(0, nl)
      partial = partial.slice(nl + 1)
      let obj = null
      try {
        obj = JSON.parse(line)
      } catch {}
      if (obj) {
        p.lines.push(obj)
        for (const l of [...p.listeners]) l(obj)
      }
    }
  })
  cp.stderr.setEncoding('utf8')
  cp.stderr.on('data', (d) => {
    p.stderr += d
  })
  p.exit = new Promise((resolve) =>
    cp.on('close', (code, signal) => {
      p.exited = { code, signal }
      resolve(p.exited)
    }),
  )
  p.waitFor = (pred, ms) =>
    new Promise((resolve, reject) => {
      const hit = p.lines.find(pred)
      if (hit) return resolve(hit)
      const timer = setTimeout(() => {
        p.listeners.delete(l)
        reject(new Error(`${label}: timeout ${ms} ms\n${p.stderr.slice(-2000)}`))
      }, ms)
      const l = (obj) => {
        if (pred(obj)) {
          clearTimeout(timer)
          p.listeners.delete(l)
          resolve(obj)
        }
      }
      p.listeners.add(l)
      p.exit.then(() => {
        if (p.listeners.has(l)) {
          clearTimeout(timer)
          p.listeners.delete(l)
          reject(new Error(`${label}: exited ${JSON.stringify(p.exited)}\n${p.stderr.slice(-2000)}`))
        }
      })
    })
  p.kill = async (sig = 'SIGKILL') => {
    if (!p.exited) {
      cp.kill(sig)
      await p.exit
    }
  }
  return p
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function rssOf(pid) {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024
  } catch {
    return 0
  }
}

const mb = (b) => (b / MiB).toFixed(1)

async function soakCycles() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-soak-'))
  const total = opts.cycles + opts.warmup
  say(`\n== cycles: ${opts.cycles} connect/disconnect cycles after ${opts.warmup} warm-up (${opts.impl}, unix)`)
  // progress lines (every 2 s) show RSS without gc; the gc'd figures are the baseline and the end
  const results = []
  const p = run(path.join(FIX, 'cycles.cjs'), {
    label: 'cycles',
    nodeArgs: ['--expose-gc', '--max-semi-space-size=4', '--min-semi-space-size=4'],
    env: {
      SOCK_PATH: path.join(dir, 's.sock'),
      DIR: dir,
      CYCLES: String(total),
      WARMUP: String(opts.warmup),
      LANES: '1',
    },
  })
  p.listeners.add((o) => {
    if (o.ev === 'progress')
      say(
        `  ${o.completed} cycles, ${o.failures} failures, RSS ${mb(o.rss)} MiB (no gc), fds ${o.fds}, ${(o.ms / 1000).toFixed(0)} s`,
      )
  })
  const base = await p.waitFor((o) => o.ev === 'baseline', 60000)
  const done = await p.waitFor((o) => o.ev === 'done', 3600000)
  await p.exit
  fs.rmSync(dir, { recursive: true, force: true })
  const growth = done.rss - base.rss
  const ok = done.failures === 0 && growth < 10 * MiB && done.fds === base.fds && done.dirAfterStop.length === 0
  say(`  baseline (after warm-up, gc): RSS ${mb(base.rss)} MiB, heap ${mb(base.heap)} MiB, fds ${base.fds}`)
  say(`  end (gc):                     RSS ${mb(done.rss)} MiB, heap ${mb(done.heap)} MiB, fds ${done.fds}`)
  say(
    `  ${done.measuredCycles} cycles in ${(done.measuredMs / 1000).toFixed(1)} s (${done.cyclesPerSec}/s); failures ${done.failures}; ` +
      `RSS growth ${mb(growth)} MiB (${(growth / done.measuredCycles).toFixed(0)} B/cycle); heap growth ${mb(done.heap - base.heap)} MiB; ` +
      `socket files left: ${JSON.stringify(done.dirAfterStop)} -> ${ok ? 'OK' : 'FAIL'}`,
  )
  results.push({ run: 'cycles', ok, base, done })
  return results
}

async function soakClients() {
  const N = opts.clients
  const P = opts.procs
  const per = Math.ceil(N / P)
  const tcp = opts.transport === 'tcp'
  const dir = tcp ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-soak-'))
  const env = tcp ? { PORT: String(await freePort()) } : { SOCK_PATH: path.join(dir, 's.sock') }
  say(
    `\n== clients: ${per * P} concurrent clients in ${P} processes, ${opts.messages} messages each (${opts.impl}, ${opts.transport})`,
  )
  const nofile = per * P + 1024
  const server = run(path.join(FIX, 'server.cjs'), {
    label: 'server',
    nofile,
    env: { ...env, MAX_CONN: String(per * P + 100), BROADCAST_AT: String(per * P), QUIET: '1', STATS_MS: '1000' },
  })
  await server.waitFor((o) => o.ev === 'listening', 20000)
  const t0 = Date.now()
  let maxRss = 0
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, rssOf(server.cp.pid))
  }, 200)
  const clients = Array.from({ length: P }, (_, i) =>
    run(path.join(FIX, 'clients.cjs'), {
      label: `clients-${i}`,
      nofile: per + 1024,
      env: { ...env, N: String(per), K: String(opts.messages), PREFIX: `p${i}-` },
    }),
  )
  let lastLog = 0
  server.listeners.add((o) => {
    if (o.ev === 'stats' && Date.now() - lastLog > 2000) {
      lastLog = Date.now()
      say(`  server: ${o.connects} connects, ${o.hellos} messages, RSS ${mb(o.rss)} MiB`)
    }
  })
  let dones
  try {
    dones = await Promise.all(clients.map((c) => c.waitFor((o) => o.ev === 'done', 600000)))
  } finally {
    clearInterval(sampler)
  }
  const ms = Date.now() - t0
  const connectedAt = Math.max(...clients.map((c) => (c.lines.find((o) => o.ev === 'connected') || { ms: NaN }).ms))
  await Promise.all(clients.map((c) => c.exit))
  server.cp.kill('SIGTERM')
  await Promise.race([server.exit, new Promise((r) => setTimeout(r, 10000))])
  await server.kill()
  const final = server.lines.filter((o) => o.ev === 'stats').pop()
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
  const sum = (k) => dones.reduce((s, d) => s + d[k], 0)
  const ok =
    sum('connected') === per * P &&
    sum('acks') === per * P * opts.messages &&
    sum('outOfOrder') === 0 &&
    sum('broadcasts') === per * P &&
    sum('errors') === 0
  say(`  all connected after ${connectedAt} ms (slowest process), all done after ${ms} ms`)
  say(
    `  connected ${sum('connected')}, acks ${sum('acks')}, out of order ${sum('outOfOrder')}, broadcasts ${sum('broadcasts')}, ` +
      `errors ${sum('errors')} ${JSON.stringify(Object.assign({}, ...dones.map((d) => d.errorCodes)))}, disconnects ${sum('disconnects')}`,
  )
  say(
    `  server: connects ${final && final.connects}, messages ${final && final.hellos}, max RSS ${mb(maxRss)} MiB -> ${ok ? 'OK' : 'FAIL'}`,
  )
  return [{ run: 'clients', ok, dones, final, maxRss, ms }]
}

async function soakFlood() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-soak-'))
  const env = { SOCK_PATH: path.join(dir, 's.sock') }
  say(
    `\n== flood: ${opts['flood-seconds']} s of ${opts['msg-bytes']}-byte messages into a server busy ${opts['busy-ms']} ms per message (${opts.impl}, unix)`,
  )
  const server = run(path.join(FIX, 'server.cjs'), {
    label: 'server',
    env: { ...env, BUSY_MS: String(opts['busy-ms']), STATS_MS: '100', FLOOD_EVERY: '100', QUIET: '1' },
  })
  await server.waitFor((o) => o.ev === 'listening', 20000)
  const client = run(path.join(FIX, 'flood-client.cjs'), {
    label: 'flood-client',
    env: { ...env, MSG_BYTES: String(opts['msg-bytes']), DURATION_MS: String(opts['flood-seconds'] * 1000) },
  })
  await client.waitFor((o) => o.ev === 'connected', 20000)
  let maxRss = 0
  const samples = []
  const sampler = setInterval(() => {
    const r = rssOf(server.cp.pid)
    maxRss = Math.max(maxRss, r)
    samples.push(r)
  }, 100)
  let lastLog = 0
  client.listeners.add((o) => {
    if (o.ev === 'progress' && Date.now() - lastLog > 5000) {
      lastLog = Date.now()
      say(
        `  client pushed ${mb(o.bytes)} MiB (${o.falses} x false, ${o.drains} x drain); server RSS now ${mb(rssOf(server.cp.pid))} MiB`,
      )
    }
  })
  const done = await client.waitFor((o) => o.ev === 'done', (opts['flood-seconds'] + 120) * 1000)
  const lastHandled = server.lines.filter((o) => o.ev === 'flood').pop()
  const lastCount = Math.floor(done.emitted / 100) * 100
  const all = await server
    .waitFor((o) => o.ev === 'flood' && o.flood >= lastCount, 600000)
    .catch((e) => ({ err: e.message }))
  await server.waitFor((o) => o.ev === 'stats' && o.flood >= done.emitted, 600000).catch(() => {})
  clearInterval(sampler)
  const ticks = server.lines.filter((o) => o.ev === 'stats').map((o) => o.t)
  const maxGap = ticks.slice(1).reduce((m, x, i) => Math.max(m, x - ticks[i]), 0)
  await client.kill()
  await server.kill()
  fs.rmSync(dir, { recursive: true, force: true })
  const backlog = done.bytes - (lastHandled ? lastHandled.floodBytes : 0)
  const ok = done.throws === 0 && maxRss < 300 * MiB && !all.err
  say(
    `  client pushed ${mb(done.bytes)} MiB in ${(done.ms / 1000).toFixed(1)} s (${(done.bytes / MiB / (done.ms / 1000)).toFixed(1)} MiB/s); ` +
      `emit returned ${JSON.stringify(done.returns)}; ${done.drains} drains; threw ${done.throws}`,
  )
  say(
    `  server max RSS ${mb(maxRss)} MiB; backlog when the flood ended ~${mb(backlog)} MiB (granularity 100 messages); ` +
      `everything handled: ${!all.err}; longest stall of the server's 100 ms interval: ${maxGap} ms (${ticks.length} ticks) -> ${ok ? 'OK' : 'FAIL'}`,
  )
  return [{ run: 'flood', ok, done, maxRss, backlog, maxGap }]
}

const only = new Set(opts.only.split(','))
const all = []
if (only.has('cycles')) all.push(...(await soakCycles()))
if (only.has('clients')) all.push(...(await soakClients()))
if (only.has('flood')) all.push(...(await soakFlood()))
say(`\n${all.map((r) => `${r.run}: ${r.ok ? 'OK' : 'FAIL'}`).join(', ')}`)
process.exit(all.every((r) => r.ok) ? 0 : 1)
