'use strict'

// Server and client roles for node-ipc v9 API implementations: this package ('ours',
// /work/main/index.js) and the reference ('ref', @achrinza/node-ipc@9.2.10). The very
// same code drives both.

const path = require('path')
const {
  cfg,
  PAYLOAD,
  RAW_SIZE,
  LARGE_SIZE,
  send,
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
} = require('./common.cjs')

// 'ours' loads the package root the orchestrator chose (a snapshot of this repo by default).
const oursRoot = cfg.oursRoot || path.join(__dirname, '..', '..')
const ipc = cfg.impl === 'ours' ? require(path.join(oursRoot, 'index.js')) : require('@achrinza/node-ipc')

ipc.config.silent = true
ipc.config.retry = 100
ipc.config.maxRetries = 10
ipc.config.rawBuffer = cfg.case === 'raw'
// v9's sync mode is the client's: each emit waits in a queue that a received message advances.
ipc.config.sync = cfg.case === 'sync' && cfg.role === 'client'
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

  switch (cfg.case) {
    case 'throughput': {
      const received = receiveAll()
      server.on('message', (data) => received(data.i))
      break
    }
    case 'sync': // sync mode is the client's only: the server is latency's
    case 'latency': {
      const inOrder = sequence()
      server.on('request', (data, socket) => {
        if (inOrder(data.i)) {
          server.emit(socket, 'reply', { i: data.i })
        }
      })
      break
    }
    case 'clients8':
    case 'inflight64': {
      const inOrder = sequencePerPeer()
      server.on('request', (data, socket) => {
        if (inOrder(socket, data.i)) {
          server.emit(socket, 'reply', { i: data.i })
        }
      })
      break
    }
    case 'large': {
      const inOrder = sequence()
      server.on('large', (data, socket) => {
        if (data.payload.length !== LARGE_SIZE) {
          return fail(`large: message ${data.i} has ${data.payload.length} chars`)
        }
        if (inOrder(data.i)) {
          server.emit(socket, 'ack', { i: data.i })
          if (inOrder.count === N) {
            done()
          }
        }
      })
      break
    }
    case 'fanout':
      setGo(() => {
        start()
        bursts(N, (i) => server.broadcast('message', { i, payload: PAYLOAD }))
      })
      break
    case 'raw': {
      const received = receiveBytes()
      server.on('data', (buf) => received(buf.length))
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
    case 'sync': // the same round trips as latency, each emit through the sync queue
    case 'latency': {
      const replied = pingPong((i) => client.emit('request', { i, payload: PAYLOAD }))
      client.on('reply', (data) => replied(data.i))
      break
    }
    case 'clients8':
    case 'inflight64': {
      const replied = requestWindow((i) => client.emit('request', { i, payload: PAYLOAD }))
      client.on('reply', (data) => replied(data.i))
      break
    }
    case 'large': {
      const big = 'y'.repeat(LARGE_SIZE)
      const acked = windowed((i) => client.emit('large', { i, payload: big }))
      client.on('ack', (data) => acked(data.i))
      break
    }
    case 'fanout': {
      const received = receiveAll()
      client.on('message', (data) => received(data.i))
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
