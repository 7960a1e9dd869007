'use strict'

// Shared by every child role: the control channel to the orchestrator (the fork() IPC
// channel, never the transport under test), the case parameters and small helpers.
//
// Parent -> child: {cmd:'mark'} (take the CPU baseline), {cmd:'go'} (the sender starts),
// {cmd:'stats'}, {cmd:'exit'}.
// Child -> parent: {ev:'ready'}, {ev:'connected'}, {ev:'conns', n}, {ev:'marked'},
// {ev:'start', t}, {ev:'done', t, ...}, {ev:'fail', error}, {ev:'stats', cpu, maxRSS}.
// Times are process.hrtime.bigint() (CLOCK_MONOTONIC, shared by all processes) as strings.

const { latencySummary } = require('./stats.cjs')

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

// Request/reply with cfg.inflight requests outstanding (1: send, wait for the reply, send
// the next): `request(i)` sends request i; the returned handler takes each reply's number
// (replies come back in order). A request's round trip runs from just before request(i)
// to its reply's handler; the first cfg.warmup are not recorded. After cfg.warmup + cfg.n
// replies the run ends with the recorded round trips (ns) in the done message, so that the
// orchestrator can pool them over several clients.
function requestWindow(request) {
  const W = cfg.warmup
  const total = W + cfg.n
  const sentAt = new BigInt64Array(total)
  const rtts = new Float64Array(cfg.n)
  const replies = sequence('reply sequence')
  let sent = 0
  const next = () => {
    const i = sent++
    sentAt[i] = now()
    request(i)
  }
  setGo(() => {
    start()
    while (sent < Math.min(cfg.inflight, total)) {
      next()
    }
  })
  return (i) => {
    const end = now()
    if (!replies(i)) {
      return
    }
    if (i >= W) {
      rtts[i - W] = Number(end - sentAt[i])
    }
    if (replies.count === total) {
      return done({ rtts: Array.from(rtts) })
    }
    if (sent < total) {
      next()
    }
  }
}

// Server side of request/reply with several connections: numbered requests must arrive
// as 0, 1, 2, ... on each connection; check(peer, i) keeps one sequence per peer.
function sequencePerPeer(label = 'sequence') {
  const checks = new Map()
  return (peer, i) => {
    let check = checks.get(peer)
    if (check === undefined) {
      check = sequence(`${label} of connection ${checks.size}`)
      checks.set(peer, check)
    }
    return check(i)
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
        usage.voluntaryContextSwitches -
        baseUsage.voluntaryContextSwitches +
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
  requestWindow,
  sequencePerPeer,
}
