'use strict'

// Shared by every child role: the control channel to the orchestrator (the fork() IPC
// channel, never the transport under test), the case parameters and small helpers.
//
// Parent -> child: {cmd:'mark'} (take the CPU baseline), {cmd:'go'} (the sender starts),
// {cmd:'stats'}, {cmd:'exit'}.
// Child -> parent: {ev:'ready'}, {ev:'connected'}, {ev:'conns', n}, {ev:'marked'},
// {ev:'start', t}, {ev:'done', t, ...}, {ev:'fail', error}, {ev:'stats', cpu, maxRSS}.
// Times are process.hrtime.bigint() (CLOCK_MONOTONIC, shared by all processes) as strings.

const cfg = JSON.parse(process.argv[2])

const PAYLOAD = 'x'.repeat(100)
const RAW_SIZE = 128
const LARGE_SIZE = 1024 * 1024
const BURST = cfg.burst || 2000

let baseCpu = process.cpuUsage()
let baseUsage = process.resourceUsage()
let failed = false
let onGo = null

function send(msg) {
  if (process.connected) {
    process.send(msg)
  }
}

function now() {
  return process.hrtime.bigint()
}

function fail(error) {
  if (failed) {
    return
  }
  failed = true
  send({ ev: 'fail', error: String(error && error.stack ? error.stack : error) })
}

function start() {
  send({ ev: 'start', t: String(now()) })
}

function done(extra) {
  send(Object.assign({ ev: 'done', t: String(now()) }, extra))
}

function setGo(fn) {
  onGo = fn
}

// Sends `count` items by calling emitOne(i) in bursts of BURST, yielding with
// setImmediate in between so that the event loop breathes (same for every impl).
function bursts(count, emitOne) {
  let i = 0
  function burst() {
    const end = Math.min(i + BURST, count)
    for (; i < end; i++) {
      emitOne(i)
    }
    if (i < count) {
      setImmediate(burst)
    }
  }
  burst()
}

function percentile(sorted, p) {
  if (sorted.length === 0) {
    return NaN
  }
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[idx]
}

// Latency recorder: round-trip times in ns for the measured (post-warm-up) requests.
function latencySummary(rtts) {
  const sorted = Float64Array.from(rtts).sort()
  return { p50: percentile(sorted, 50) / 1000, p99: percentile(sorted, 99) / 1000 }
}

// The cases' bookkeeping, the same for every impl; each impl only wires its transport.

// Numbered messages must arrive as 0, 1, 2, ...: the returned check fails the run on the
// first one out of order, and `check.count` is how many arrived in order.
function sequence(label = 'sequence') {
  let expected = 0
  const check = (i, detail = '') => {
    if (i !== expected) {
      fail(`${label}: got ${i}${detail}, expected ${expected}`)
      return false
    }
    expected++
    return true
  }
  Object.defineProperty(check, 'count', { get: () => expected })
  return check
}

// A receiver that ends the run once cfg.n numbered messages arrived in order.
function receiveAll() {
  const inOrder = sequence()
  return (i) => {
    if (inOrder(i) && inOrder.count === cfg.n) {
      done()
    }
  }
}

// Raw mode: ends the run when exactly cfg.n * RAW_SIZE bytes arrived.
function receiveBytes() {
  const total = cfg.n * RAW_SIZE
  let bytes = 0
  return (length) => {
    bytes += length
    if (bytes > total) {
      fail(`raw: received ${bytes} bytes, expected ${total}`)
    } else if (bytes === total) {
      done()
    }
  }
}

// Request/reply, one at a time: `request(i)` sends request i; the returned handler takes
// each reply's number. The first cfg.warmup round trips are not recorded.
function pingPong(request) {
  const W = cfg.warmup
  const rtts = new Float64Array(cfg.n)
  const replies = sequence()
  let t = 0n
  setGo(() => {
    start()
    t = now()
    request(0)
  })
  return (i) => {
    const end = now()
    if (!replies(i)) {
      return
    }
    const k = replies.count - 1
    if (k >= W) {
      rtts[k - W] = Number(end - t)
    }
    if (replies.count === W + cfg.n) {
      return done(latencySummary(rtts))
    }
    t = now()
    request(replies.count)
  }
}

// cfg.inflight requests outstanding until cfg.n were sent: `sendOne(i)` sends request i;
// the returned handler takes each ack's number.
function windowed(sendOne) {
  const acked = sequence('ack sequence')
  let sent = 0
  const next = () => sendOne(sent++)
  setGo(() => {
    start()
    while (sent < Math.min(cfg.inflight, cfg.n)) {
      next()
    }
  })
  return (i) => {
    if (acked(i) && sent < cfg.n) {
      next()
    }
  }
}

process.on('message', (m) => {
  switch (m.cmd) {
    case 'mark':
      baseCpu = process.cpuUsage()
      baseUsage = process.resourceUsage()
      send({ ev: 'marked' })
      break
    case 'go':
      if (onGo) {
        try {
          onGo()
        } catch (err) {
          fail(err)
        }
      }
      break
    case 'stats': {
      const cpu = process.cpuUsage(baseCpu)
      const usage = process.resourceUsage()
      // Context switches of all the process's threads (getrusage): thread hand-offs show here.
      const switches =
        usage.voluntaryContextSwitches - baseUsage.voluntaryContextSwitches +
        (usage.involuntaryContextSwitches - baseUsage.involuntaryContextSwitches)
      send({ ev: 'stats', cpu: { user: cpu.user, system: cpu.system }, maxRSS: usage.maxRSS, switches })
      break
    }
    case 'exit':
      process.exit(0)
  }
})

process.on('uncaughtException', (err) => {
  fail(err)
  setTimeout(() => process.exit(1), 50)
})

// The orchestrator going away (crash, timeout) must not leave children behind.
process.on('disconnect', () => process.exit(0))

module.exports = {
  cfg,
  PAYLOAD,
  RAW_SIZE,
  LARGE_SIZE,
  send,
  now,
  fail,
  start,
  done,
  setGo,
  bursts,
  sequence,
  receiveAll,
  receiveBytes,
  pingPong,
  windowed,
}
