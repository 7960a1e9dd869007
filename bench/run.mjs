#!/usr/bin/env node
// node-ipc-rs benchmark (issue #5): this package ('ours'), the reference
// @achrinza/node-ipc@9.2.10 ('ref') and a plain node:net floor ('floor'), side by side.
//
//   npm run bench                      full run (>= 3 samples per cell)
//   npm run bench -- --quick           about a minute: smaller counts, 2 samples, still all impls and both transports
//   options: --json <file>  --samples N  --timeout <ms>  --cases a,b  --transports unix,tcp
//            --impls ours,ref,floor  --cpu-prof <dir> [--cpu-prof-impl ours] [--cpu-prof-role server|client|all]
//            --no-snapshot  --allow-debug  --pin <cpu>
//
// --pin runs every child process on one CPU (Linux, through taskset). A request/reply
// round trip then costs no wake-up of another CPU, which on a small VM is most of an
// unpinned round trip and the same for every implementation: pinned, the code's own share
// shows (BENCHMARKS.md, "Pinned to one CPU"). Runs the targets are judged on are unpinned.
//
// 'ours' runs from a snapshot of the package (index.js, binding.js, lib/, the .node addon)
// copied to a temp dir at start, so a rebuild in the working tree during the run cannot
// mix builds; --no-snapshot loads the working tree directly. A debug addon (> 15 MB) is
// refused unless --allow-debug.
//
// Every sample runs in fresh child processes (server + clients) on a fresh endpoint: a
// Unix socket in a mkdtemp directory, or 127.0.0.1 on a port probed with listen(0). The
// orchestrator only coordinates over the fork() channel; it is idle while a sample runs.
// A sample that exceeds its timeout has all its children SIGKILLed and is recorded as failed.

import { RATIO_GOALS, RESOURCE_GOALS, RSS_GOAL_MB, SWITCH_GOALS, meets } from './targets.mjs'
import { fork } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { latencySummary } from './impls/stats.cjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.join(HERE, '..')
const SCRIPTS = {
  ours: path.join(HERE, 'impls', 'nodeipc.cjs'),
  ref: path.join(HERE, 'impls', 'nodeipc.cjs'),
  floor: path.join(HERE, 'impls', 'floor.cjs'),
}
const LARGE_SIZE = 1024 * 1024
const ALL_CASES = ['throughput', 'latency', 'large', 'fanout', 'raw', 'sync', 'clients8', 'inflight64']
// Request/reply cases: lower metrics are better.
const RR_CASES = ['latency', 'sync', 'clients8', 'inflight64']
const ALL_TRANSPORTS = ['unix', 'tcp']
const ALL_IMPLS = ['ours', 'ref', 'floor']

// ---------------------------------------------------------------------------- options

function parseArgs(argv) {
  const opts = {}
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]
    if (!arg.startsWith('--')) {
      throw new Error(`unexpected argument ${arg}`)
    }
    arg = arg.slice(2)
    let value
    const eq = arg.indexOf('=')
    if (eq !== -1) {
      value = arg.slice(eq + 1)
      arg = arg.slice(0, eq)
    }
    if (['quick', 'help', 'no-snapshot', 'allow-debug'].includes(arg)) {
      opts[arg] = true
      continue
    }
    if (value === undefined) {
      value = argv[++i]
      if (value === undefined) {
        throw new Error(`--${arg} needs a value`)
      }
    }
    opts[arg] = value
  }
  return opts
}

const opts = parseArgs(process.argv.slice(2))
if (opts.help) {
  console.log(
    'usage: node bench/run.mjs [--quick] [--json file] [--samples N] [--timeout ms]\n' +
      `       [--cases ${ALL_CASES.join(',')}]\n` +
      '       [--transports unix,tcp] [--impls ours,ref,floor]\n' +
      '       [--cpu-prof dir [--cpu-prof-impl ours] [--cpu-prof-role server|client|all]]\n' +
      '       [--no-snapshot] [--allow-debug] [--pin cpu]',
  )
  process.exit(0)
}
const quick = !!opts.quick
const list = (value, all) => {
  if (!value) {
    return all
  }
  const items = value.split(',').map((s) => s.trim())
  for (const item of items) {
    if (!all.includes(item)) {
      throw new Error(`unknown ${item}; expected one of ${all.join(', ')}`)
    }
  }
  return all.filter((x) => items.includes(x))
}

const cases = list(opts.cases, ALL_CASES)
const transports = list(opts.transports, ALL_TRANSPORTS)
const impls = list(opts.impls, ALL_IMPLS)
// Full: 3 samples per cell (median and range). Quick: 2, to stay near a minute.
const samples = Number(opts.samples || (quick ? 2 : 3))
const timeoutMs = Number(opts.timeout || (quick ? 20000 : 60000))
const params = quick
  ? {
      throughput: { n: 30000 },
      latency: { n: 1000, warmup: 200 },
      large: { n: 12, inflight: 8 },
      fanout: { n: 1500, clients: 8 },
      raw: { n: 30000 },
      sync: { n: 1000, warmup: 200 },
      clients8: { n: 300, warmup: 50, clients: 8, inflight: 1 },
      inflight64: { n: 3000, warmup: 200, inflight: 64 },
    }
  : {
      throughput: { n: 200000 },
      latency: { n: 10000, warmup: 500 },
      large: { n: 100, inflight: 8 },
      fanout: { n: 20000, clients: 8 },
      raw: { n: 200000 },
      sync: { n: 10000, warmup: 500 },
      clients8: { n: 1000, warmup: 100, clients: 8, inflight: 1 },
      inflight64: { n: 10000, warmup: 500, inflight: 64 },
    }
const cpuProf = opts['cpu-prof'] ? path.resolve(opts['cpu-prof']) : null
const cpuProfImpl = opts['cpu-prof-impl'] || 'ours'
const cpuProfRole = opts['cpu-prof-role'] || 'all'
const pin = opts.pin === undefined ? null : String(opts.pin)
if (pin !== null && (process.platform !== 'linux' || !/^\d+$/.test(pin))) {
  throw new Error('--pin takes one CPU number, on Linux')
}

// The addon of the working tree: name, size, mtime (a release build is ~3 MB, debug ~40 MB).
function addonInfo(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.node'))
    .map((f) => {
      const st = statSync(path.join(dir, f))
      return { file: f, size: st.size, mtimeMs: st.mtimeMs, debug: st.size > 15e6 }
    })
}

// Copies what `require('<root>/index.js')` loads into a temp dir.
function snapshotPackage() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nipc-bench-pkg-'))
  for (const f of ['index.js', 'binding.js', 'package.json', ...addonInfo(ROOT).map((a) => a.file)]) {
    cpSync(path.join(ROOT, f), path.join(dir, f))
  }
  for (const d of ['lib', 'local-node-ipc-certs']) {
    cpSync(path.join(ROOT, d), path.join(dir, d), { recursive: true })
  }
  return dir
}

let oursRoot = ROOT
process.on('exit', () => {
  if (oursRoot !== ROOT) {
    rmSync(oursRoot, { recursive: true, force: true })
  }
})
process.on('SIGINT', () => process.exit(130))

// ---------------------------------------------------------------------------- children

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.on('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

class Child {
  constructor(name, script, cfg, sample) {
    this.name = name
    this.msgs = []
    this.waiters = []
    this.tail = ''
    this.exited = null
    this.exiting = false
    const execArgv = []
    if (cpuProf && cfg.impl === cpuProfImpl && (cpuProfRole === 'all' || cpuProfRole === cfg.role)) {
      execArgv.push(
        '--cpu-prof',
        `--cpu-prof-dir=${cpuProf}`,
        `--cpu-prof-name=${cfg.impl}-${cfg.case}-${cfg.transport}-${name}-s${cfg.sample}-${process.pid}.cpuprofile`,
      )
    }
    // taskset execs node with the fork channel's fd and environment as they are.
    this.proc = fork(script, [JSON.stringify(cfg)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      ...(pin === null ? { execArgv } : { execPath: 'taskset', execArgv: ['-c', pin, process.execPath, ...execArgv] }),
    })
    const keep = (d) => {
      this.tail = (this.tail + d).slice(-2000)
    }
    this.proc.stdout.on('data', keep)
    this.proc.stderr.on('data', keep)
    this.proc.on('message', (m) => {
      this.msgs.push(m)
      if (m.ev === 'fail') {
        sample.abort(new Error(`${name}: ${m.error}`))
      }
      this.check()
    })
    // A send to a child that is going away (killed after a failure) fails with EPIPE.
    this.proc.on('error', (err) => {
      if (!this.exiting) {
        sample.abort(new Error(`${name}: ${err.message}`))
      }
    })
    this.proc.on('exit', (code, signal) => {
      this.exited = { code, signal }
      if (!this.exiting) {
        sample.abort(new Error(`${name} exited early (code ${code}, signal ${signal}) ${this.tail.trim()}`))
      }
      this.check()
    })
  }

  send(msg) {
    if (this.proc.connected) {
      this.proc.send(msg)
    }
  }

  // Resolves with the first message (received from index `from` on) that satisfies pred.
  wait(pred, from = 0) {
    return new Promise((resolve) => {
      this.waiters.push({ pred, from, resolve })
      this.check()
    })
  }

  check() {
    this.waiters = this.waiters.filter((w) => {
      for (let i = w.from; i < this.msgs.length; i++) {
        if (w.pred(this.msgs[i])) {
          w.resolve(this.msgs[i])
          return false
        }
      }
      return true
    })
  }

  kill() {
    this.exiting = true
    if (!this.exited) {
      this.proc.kill('SIGKILL')
    }
  }

  async exit(graceMs) {
    this.exiting = true
    if (this.exited) {
      return
    }
    const gone = new Promise((resolve) => this.proc.once('exit', resolve))
    this.send({ cmd: 'exit' })
    const timer = setTimeout(() => this.kill(), graceMs)
    await gone
    clearTimeout(timer)
  }
}

async function runSample(impl, kase, transport, sampleIndex) {
  const p = params[kase]
  const clients = p.clients || 1
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nipc-bench-'))
  const endpoint = transport === 'unix' ? { path: path.join(dir, 'bench.sock') } : { port: await freePort() }
  const base = { impl, case: kase, transport, sample: sampleIndex, oursRoot, ...endpoint, ...p }
  const children = []
  let abortReject
  const aborted = new Promise((_, reject) => {
    abortReject = reject
  })
  aborted.catch(() => {})
  const sample = {
    failed: null,
    abort(err) {
      if (!sample.failed) {
        sample.failed = err
        abortReject(err)
      }
    },
  }
  const timer = setTimeout(() => sample.abort(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs)
  const guard = (promise) => Promise.race([promise, aborted])
  const record = { type: 'sample', case: kase, transport, impl, sample: sampleIndex, ok: false }
  const t = Date.now()
  try {
    const server = new Child('server', SCRIPTS[impl], { ...base, role: 'server' }, sample)
    children.push(server)
    await guard(server.wait((m) => m.ev === 'ready'))
    const clientProcs = []
    for (let k = 0; k < clients; k++) {
      const c = new Child(`client${k}`, SCRIPTS[impl], { ...base, role: 'client', k }, sample)
      children.push(c)
      clientProcs.push(c)
    }
    await guard(Promise.all(clientProcs.map((c) => c.wait((m) => m.ev === 'connected'))))
    await guard(server.wait((m) => m.ev === 'conns' && m.n >= clients))

    // CPU baseline in every process, then go.
    const marks = children.map((c) => c.wait((m) => m.ev === 'marked', c.msgs.length))
    for (const c of children) {
      c.send({ cmd: 'mark' })
    }
    await guard(Promise.all(marks))
    // clients8: every client sends (and receives its replies).
    const senders = kase === 'fanout' ? [server] : kase === 'clients8' ? clientProcs : [clientProcs[0]]
    const receivers = kase === 'fanout' || RR_CASES.includes(kase) ? clientProcs : [server]
    const starts = senders.map((c) => c.wait((m) => m.ev === 'start'))
    const dones = receivers.map((c) => c.wait((m) => m.ev === 'done'))
    for (const c of senders) {
      c.send({ cmd: 'go' })
    }
    const startMsgs = await guard(Promise.all(starts))
    const doneMsgs = await guard(Promise.all(dones))

    const statsP = children.map((c) => c.wait((m) => m.ev === 'stats', c.msgs.length))
    for (const c of children) {
      c.send({ cmd: 'stats' })
    }
    const stats = await guard(Promise.all(statsP))

    const t0 = startMsgs.reduce((min, m) => (BigInt(m.t) < min ? BigInt(m.t) : min), BigInt(startMsgs[0].t))
    const t1 = doneMsgs.reduce((max, m) => (BigInt(m.t) > max ? BigInt(m.t) : max), 0n)
    const seconds = Number(t1 - t0) / 1e9
    const cpuOf = (s) => s.cpu.user + s.cpu.system
    const serverCpu = cpuOf(stats[0])
    const clientCpu = stats.slice(1).reduce((sum, s) => sum + cpuOf(s), 0)
    let messages
    const metrics = {}
    switch (kase) {
      case 'throughput':
      case 'raw':
        messages = p.n
        metrics.msgsPerSec = p.n / seconds
        break
      case 'latency':
      case 'sync':
        messages = p.n + p.warmup
        metrics.p50us = doneMsgs[0].p50
        metrics.p99us = doneMsgs[0].p99
        break
      case 'clients8':
      case 'inflight64': {
        // The round trips of all clients, pooled.
        messages = (p.n + p.warmup) * clients
        const pooled = latencySummary(doneMsgs.flatMap((m) => m.rtts))
        metrics.p50us = pooled.p50
        metrics.p99us = pooled.p99
        break
      }
      case 'large':
        messages = p.n
        metrics.MBps = (p.n * LARGE_SIZE) / 1e6 / seconds
        break
      case 'fanout':
        messages = p.n * clients
        metrics.deliveriesPerSec = messages / seconds
        break
    }
    Object.assign(record, {
      ok: true,
      seconds,
      messages,
      metrics,
      cpuUs: { server: serverCpu, clients: clientCpu },
      cpuPerMsgUs: (serverCpu + clientCpu) / messages,
      switchesPerMsg: stats.reduce((sum, s) => sum + s.switches, 0) / messages,
      rssMB: {
        server: stats[0].maxRSS / 1024,
        client: Math.max(...stats.slice(1).map((s) => s.maxRSS)) / 1024,
      },
    })
  } catch (err) {
    record.ok = false
    record.error = String(err && err.message ? err.message : err).slice(0, 1000)
    record.timeout = /^timeout/.test(record.error)
    for (const c of children) {
      c.kill()
    }
  } finally {
    clearTimeout(timer)
    await Promise.all(children.map((c) => c.exit(cpuProf ? 15000 : 2000)))
    rmSync(dir, { recursive: true, force: true })
  }
  record.wallMs = Date.now() - t
  return record
}

// ---------------------------------------------------------------------------- stats

const METRICS = {
  throughput: [['msgsPerSec', 'msgs/s', +1]],
  latency: [
    ['p50us', 'p50 µs', -1],
    ['p99us', 'p99 µs', -1],
  ],
  large: [['MBps', 'MB/s', +1]],
  fanout: [['deliveriesPerSec', 'deliv/s', +1]],
  raw: [['msgsPerSec', 'msgs/s', +1]],
}
for (const kase of RR_CASES) {
  METRICS[kase] = METRICS.latency
}

function median(values) {
  const s = [...values].sort((a, b) => a - b)
  if (s.length === 0) {
    return NaN
  }
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function summarize(records) {
  const ok = records.filter((r) => r.ok)
  const first = records[0]
  const summary = {
    type: 'summary',
    case: first.case,
    transport: first.transport,
    impl: first.impl,
    samples: records.length,
    ok: ok.length,
    failures: records.filter((r) => !r.ok).map((r) => r.error),
    metrics: {},
  }
  for (const [key] of METRICS[first.case]) {
    const values = ok.map((r) => r.metrics[key])
    summary.metrics[key] = {
      median: median(values),
      min: values.length ? Math.min(...values) : NaN,
      max: values.length ? Math.max(...values) : NaN,
    }
  }
  summary.cpuPerMsgUs = median(ok.map((r) => r.cpuPerMsgUs))
  summary.switchesPerMsg = median(ok.map((r) => r.switchesPerMsg))
  summary.rssMB = { server: median(ok.map((r) => r.rssMB.server)), client: median(ok.map((r) => r.rssMB.client)) }
  return summary
}

// ---------------------------------------------------------------------------- output

function fmt(value) {
  if (value === undefined || value === null || Number.isNaN(value)) {
    return '-'
  }
  const abs = Math.abs(value)
  if (abs >= 100000) {
    return Math.round(value).toLocaleString('en-US')
  }
  if (abs >= 100) {
    return value.toFixed(0)
  }
  if (abs >= 10) {
    return value.toFixed(1)
  }
  return value.toFixed(2)
}

function table(rows, header) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (cells) =>
    cells.map((c, i) => (i < 3 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN
}

function fmtRatio(r) {
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : '-'
}

// ---------------------------------------------------------------------------- main

async function main() {
  const cpu = os.cpus()
  const machine = {
    type: 'machine',
    cpu: cpu[0] ? cpu[0].model : 'unknown',
    cores: cpu.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    mode: quick ? 'quick' : 'full',
    pin,
    samples,
    timeoutMs,
    params,
    date: new Date().toISOString(),
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
  }
  console.log(`node-ipc-rs benchmark (${machine.mode})`)
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.platform}`)
  if (pin !== null) {
    console.log(`every child process pinned to CPU ${pin} (taskset)`)
  }
  console.log(`load average at start: ${machine.loadavg.join(' ')} (other work on the machine skews results)`)
  console.log(
    `params: ${Object.entries(params)
      .filter(([k]) => cases.includes(k))
      .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
      .join('; ')}; samples ${samples}; timeout ${timeoutMs} ms`,
  )
  const addons = addonInfo(ROOT)
  const warnings = []
  if (impls.includes('ours')) {
    if (addons.length === 0) {
      console.error('no .node addon in the package root: run `npm run build` first')
      process.exit(2)
    }
    for (const a of addons) {
      machine.addon = `${a.file} ${(a.size / 1e6).toFixed(1)} MB${a.debug ? ' (debug build)' : ''}`
      console.log(`addon: ${machine.addon}, built ${new Date(a.mtimeMs).toISOString()}`)
      if (a.debug && !opts['allow-debug']) {
        console.error('the addon looks like a debug build (> 15 MB): run `npm run build`, or pass --allow-debug')
        process.exit(2)
      }
    }
    if (!opts['no-snapshot']) {
      oursRoot = snapshotPackage()
      console.log(`ours: snapshot of the package in ${oursRoot}`)
    }
  }
  console.log('')

  const jsonLines = [machine]
  const summaries = []
  const began = Date.now()
  for (const kase of cases) {
    for (const transport of transports) {
      const byImpl = Object.fromEntries(impls.map((i) => [i, []]))
      for (let s = 0; s < samples; s++) {
        // Rotate the order so that no implementation always runs first.
        const order = impls.map((_, j) => impls[(j + s) % impls.length])
        for (const impl of order) {
          const rec = await runSample(impl, kase, transport, s)
          byImpl[impl].push(rec)
          jsonLines.push(rec)
          const shown = rec.ok
            ? Object.entries(rec.metrics)
                .map(([k, v]) => `${k}=${fmt(v)}`)
                .join(' ') + ` cpu/msg=${fmt(rec.cpuPerMsgUs)}µs`
            : `FAILED: ${rec.error}`
          process.stderr.write(
            `  ${kase.padEnd(10)} ${transport.padEnd(4)} ${impl.padEnd(5)} #${s}  ${shown}  [${rec.wallMs} ms]\n`,
          )
        }
      }
      for (const impl of impls) {
        const sum = summarize(byImpl[impl])
        summaries.push(sum)
        jsonLines.push(sum)
      }
    }
  }
  const find = (kase, transport, impl) =>
    summaries.find((s) => s.case === kase && s.transport === transport && s.impl === impl)

  // Results table.
  const rows = []
  for (const kase of cases) {
    for (const transport of transports) {
      for (const impl of impls) {
        const s = find(kase, transport, impl)
        for (const [key, label] of METRICS[kase]) {
          const m = s.metrics[key]
          rows.push([
            kase,
            transport,
            impl,
            label,
            fmt(m.median),
            s.ok > 1 ? `${fmt(m.min)} – ${fmt(m.max)}` : '-',
            fmt(s.cpuPerMsgUs),
            fmt(s.switchesPerMsg),
            fmt(s.rssMB.server),
            fmt(s.rssMB.client),
            `${s.ok}/${s.samples}`,
          ])
        }
      }
    }
  }
  console.log(
    table(rows, [
      'case',
      'transport',
      'impl',
      'metric',
      'median',
      'range',
      'cpu µs/msg',
      'ctxsw/msg',
      'rss srv MB',
      'rss cli MB',
      'ok',
    ]),
  )

  // Ratios of ours to the floor and to the reference.
  if (impls.includes('ours')) {
    const rrows = []
    const ratios = []
    for (const kase of cases) {
      for (const transport of transports) {
        const ours = find(kase, transport, 'ours')
        const floor = find(kase, transport, 'floor')
        const ref = find(kase, transport, 'ref')
        for (const [key, label] of METRICS[kase]) {
          const r = {
            type: 'ratio',
            case: kase,
            transport,
            metric: key,
            oursVsFloor: floor ? ratio(ours.metrics[key].median, floor.metrics[key].median) : NaN,
            oursVsRef: ref ? ratio(ours.metrics[key].median, ref.metrics[key].median) : NaN,
            cpuOursVsFloor: floor ? ratio(ours.cpuPerMsgUs, floor.cpuPerMsgUs) : NaN,
            cpuOursVsRef: ref ? ratio(ours.cpuPerMsgUs, ref.cpuPerMsgUs) : NaN,
            rssServerMinusFloorMB: floor ? ours.rssMB.server - floor.rssMB.server : NaN,
            rssClientMinusFloorMB: floor ? ours.rssMB.client - floor.rssMB.client : NaN,
          }
          ratios.push(r)
          jsonLines.push(r)
          rrows.push([
            kase,
            transport,
            label,
            fmtRatio(r.oursVsFloor),
            fmtRatio(r.oursVsRef),
            fmtRatio(r.cpuOursVsFloor),
            fmtRatio(r.cpuOursVsRef),
            Number.isFinite(r.rssServerMinusFloorMB) ? r.rssServerMinusFloorMB.toFixed(1) : '-',
            Number.isFinite(r.rssClientMinusFloorMB) ? r.rssClientMinusFloorMB.toFixed(1) : '-',
          ])
        }
      }
    }
    console.log('')
    console.log(
      `ours relative to floor and ref (metric medians; ${RR_CASES.join(', ')}: lower is better, others: higher)`,
    )
    console.log(
      table(rrows, [
        'case',
        'transport',
        'metric',
        'ours/floor',
        'ours/ref',
        'cpu ours/floor',
        'cpu ours/ref',
        'rss srv Δfloor MB',
        'rss cli Δfloor MB',
      ]),
    )

    // Targets (issue #5), only when the floor ran.
    if (impls.includes('floor')) {
      const goals = RATIO_GOALS
      const resourceGoals = RESOURCE_GOALS
      const switchGoals = SWITCH_GOALS
      const trows = []
      const check = meets
      for (const r of ratios) {
        const goal = goals[r.case][r.metric]
        if (!goal) {
          continue
        }
        const [op, bound] = goal
        const label = METRICS[r.case].find(([k]) => k === r.metric)[1]
        trows.push([
          r.case,
          r.transport,
          `${label} ${op} ${bound}x floor`,
          fmtRatio(r.oursVsFloor),
          check(r.oursVsFloor, op, bound) ? 'met' : 'MISSED',
        ])
      }
      for (const kase of cases) {
        if (!resourceGoals.includes(kase)) {
          continue
        }
        for (const transport of transports) {
          const r = ratios.find((x) => x.case === kase && x.transport === transport)
          trows.push([
            kase,
            transport,
            'cpu/msg <= 1.0x floor',
            fmtRatio(r.cpuOursVsFloor),
            check(r.cpuOursVsFloor, '<=', 1) ? 'met' : 'MISSED',
          ])
          if (switchGoals[kase] !== undefined) {
            const switches = find(kase, transport, 'ours').switchesPerMsg
            trows.push([
              kase,
              transport,
              `ctxsw/msg <= ${switchGoals[kase]}`,
              fmt(switches),
              check(switches, '<=', switchGoals[kase]) ? 'met' : 'MISSED',
            ])
          }
          const worst = Math.max(r.rssServerMinusFloorMB, r.rssClientMinusFloorMB)
          trows.push([
            kase,
            transport,
            `peak RSS <= floor + ${RSS_GOAL_MB} MB`,
            Number.isFinite(worst) ? `${worst >= 0 ? '+' : ''}${worst.toFixed(1)} MB` : '-',
            check(worst, '<=', RSS_GOAL_MB) ? 'met' : 'MISSED',
          ])
        }
      }
      console.log('')
      console.log('targets (ours vs floor)')
      console.log(table(trows, ['case', 'transport', 'target', 'actual', 'result']))
      if (quick) {
        // Runs of a few hundred milliseconds mostly measure start-up and JIT warm-up.
        console.log('--quick is a smoke test: its short runs do not measure the targets; run without it for that.')
      }
    }
  }

  if (impls.includes('ours')) {
    const after = addonInfo(ROOT)
    const changed = JSON.stringify(after) !== JSON.stringify(addons)
    if (changed) {
      const msg = opts['no-snapshot']
        ? 'WARNING: the addon in the working tree changed during the run (--no-snapshot): results for ours may mix builds'
        : 'note: the addon in the working tree changed during the run; ours ran from the snapshot taken at start'
      warnings.push(msg)
      console.log('')
      console.log(msg)
    }
    if (oursRoot !== ROOT) {
      rmSync(oursRoot, { recursive: true, force: true })
    }
  }
  for (const w of warnings) {
    jsonLines.push({ type: 'warning', message: w })
  }

  console.log('')
  console.log(
    `load average at end: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
  console.log(`total wall time ${((Date.now() - began) / 1000).toFixed(1)} s`)
  console.log('')
  console.log('JSON lines (summaries):')
  for (const line of jsonLines) {
    if (line.type !== 'sample') {
      console.log(JSON.stringify(line))
    }
  }
  if (opts.json) {
    writeFileSync(path.resolve(opts.json), jsonLines.map((l) => JSON.stringify(l)).join('\n') + '\n')
    console.log(`\nJSON lines (machine, samples, summaries, ratios) written to ${path.resolve(opts.json)}`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
