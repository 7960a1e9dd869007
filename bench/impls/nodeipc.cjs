'use strict'

// Server and client roles for node-ipc v9 API implementations: this package ('ours',
// /work/main/index.js) and the reference ('ref', @achrinza/node-ipc@9.2.10). The very
// same code drives both.

const path = require('path')
const { cfg, PAYLOAD, RAW_SIZE, LARGE_SIZE, send, now, fail, start, done, setGo, bursts, latencySummary } =
  require('./common.cjs')

// 'ours' loads the package root the orchestrator chose (a snapshot of this repo by default).
const oursRoot = cfg.oursRoot || path.join(__dirname, '..', '..')
const ipc = cfg.impl === 'ours' ? require(path.join(oursRoot, 'index.js')) : require('@achrinza/node-ipc')

ipc.config.silent = true
ipc.config.retry = 100
ipc.config.maxRetries = 10
ipc.config.rawBuffer = cfg.case === 'raw'
ipc.config.id = cfg.role === 'server' ? 'bench-server' : `bench-client-${cfg.k}`

const N = cfg.n

if (cfg.role === 'server') {
  runServer()
} else {
  runClient()
}

function runServer() {
  const onStart = () => send({ ev: 'ready' })
  if (cfg.transport === 'unix') {
    ipc.serve(cfg.path, onStart)
  } else {
    ipc.serveNet('127.0.0.1', cfg.port, onStart)
  }
  const server = ipc.server
  let conns = 0
  server.on('connect', () => {
    conns++
    send({ ev: 'conns', n: conns })
  })
  server.on('error', (err) => fail(err))

  let expected = 0
  switch (cfg.case) {
    case 'throughput':
      server.on('message', (data) => {
        if (data.i !== expected) {
          return fail(`sequence: got ${data.i}, expected ${expected}`)
        }
        if (++expected === N) {
          done()
        }
      })
      break
    case 'latency':
      server.on('request', (data, socket) => {
        if (data.i !== expected) {
          return fail(`sequence: got ${data.i}, expected ${expected}`)
        }
        expected++
        server.emit(socket, 'reply', { i: data.i })
      })
      break
    case 'large':
      server.on('large', (data, socket) => {
        if (data.i !== expected || data.payload.length !== LARGE_SIZE) {
          return fail(`sequence: got ${data.i} (${data.payload.length} chars), expected ${expected}`)
        }
        expected++
        server.emit(socket, 'ack', { i: data.i })
        if (expected === N) {
          done()
        }
      })
      break
    case 'fanout':
      setGo(() => {
        start()
        bursts(N, (i) => server.broadcast('message', { i, payload: PAYLOAD }))
      })
      break
    case 'raw': {
      const total = N * RAW_SIZE
      let bytes = 0
      server.on('data', (buf) => {
        bytes += buf.length
        if (bytes >= total) {
          if (bytes > total) {
            return fail(`raw: received ${bytes} bytes, expected ${total}`)
          }
          done()
        }
      })
      break
    }
  }
  server.start()
}

function runClient() {
  const id = 'bench-server'
  let client
  let reported = false
  const onConnect = () => {
    if (!reported) {
      reported = true
      send({ ev: 'connected' })
    }
  }
  if (cfg.transport === 'unix') {
    ipc.connectTo(id, cfg.path)
  } else {
    ipc.connectToNet(id, '127.0.0.1', cfg.port)
  }
  client = ipc.of[id]
  client.on('connect', onConnect)
  client.on('error', (err) => {
    if (reported) {
      fail(err)
    }
  })

  switch (cfg.case) {
    case 'throughput':
      setGo(() => {
        start()
        bursts(N, (i) => client.emit('message', { i, payload: PAYLOAD }))
      })
      break
    case 'latency': {
      const W = cfg.warmup
      const rtts = new Float64Array(N)
      let i = 0
      let t = 0n
      client.on('reply', (data) => {
        const end = now()
        if (data.i !== i) {
          return fail(`sequence: got ${data.i}, expected ${i}`)
        }
        if (i >= W) {
          rtts[i - W] = Number(end - t)
        }
        i++
        if (i === W + N) {
          return done(latencySummary(rtts))
        }
        t = now()
        client.emit('request', { i, payload: PAYLOAD })
      })
      setGo(() => {
        start()
        t = now()
        client.emit('request', { i: 0, payload: PAYLOAD })
      })
      break
    }
    case 'large': {
      const big = 'y'.repeat(LARGE_SIZE)
      let sent = 0
      let acked = 0
      const sendOne = () => client.emit('large', { i: sent++, payload: big })
      client.on('ack', (data) => {
        if (data.i !== acked) {
          return fail(`ack sequence: got ${data.i}, expected ${acked}`)
        }
        acked++
        if (sent < N) {
          sendOne()
        }
      })
      setGo(() => {
        start()
        while (sent < Math.min(cfg.inflight, N)) {
          sendOne()
        }
      })
      break
    }
    case 'fanout': {
      let expected = 0
      client.on('message', (data) => {
        if (data.i !== expected) {
          return fail(`sequence: got ${data.i}, expected ${expected}`)
        }
        if (++expected === N) {
          done()
        }
      })
      break
    }
    case 'raw': {
      const buf = Buffer.alloc(RAW_SIZE, 'r')
      setGo(() => {
        start()
        bursts(N, () => client.emit(buf))
      })
      break
    }
  }
}
