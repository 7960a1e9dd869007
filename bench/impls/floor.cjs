'use strict'

// The floor: plain node:net, one `JSON.stringify(msg) + '\n'` write per message and a
// line splitter with JSON.parse on receive; raw: 128-byte Buffers and byte counting.

const net = require('net')
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
} = require('./common.cjs')

const N = cfg.n

function writeMsg(socket, type, data) {
  socket.write(JSON.stringify({ type, data }) + '\n')
}

// Calls onMsg(parsed) for every '\n'-terminated JSON line. Only new chunks are scanned and
// a partial line is kept as a list of pieces, so a 1 MiB line costs linear time.
function lines(socket, onMsg) {
  socket.setEncoding('utf8')
  let pending = []
  socket.on('data', (chunk) => {
    let start = 0
    let idx
    // biome-ignore lint/suspicious/noAssignInExpressions: the floor's splitter stays as first measured
    while ((idx = chunk.indexOf('\n', start)) !== -1) {
      let line = chunk.slice(start, idx)
      if (pending.length > 0) {
        pending.push(line)
        line = pending.join('')
        pending = []
      }
      onMsg(JSON.parse(line))
      start = idx + 1
    }
    if (start < chunk.length) {
      pending.push(start === 0 ? chunk : chunk.slice(start))
    }
  })
}

// The data of every message of one type on this socket.
function onType(socket, type, onData) {
  lines(socket, (msg) => {
    if (msg.type === type) {
      onData(msg.data)
    }
  })
}

if (cfg.role === 'server') {
  runServer()
} else {
  runClient()
}

function runServer() {
  const sockets = []
  // One receiver for all connections, as a node-ipc server has.
  const received = cfg.case === 'raw' ? receiveBytes() : cfg.case === 'throughput' ? receiveAll() : sequence()
  const server = net.createServer((socket) => {
    sockets.push(socket)
    socket.on('error', (err) => fail(err))
    send({ ev: 'conns', n: sockets.length })
    switch (cfg.case) {
      case 'throughput':
        onType(socket, 'message', (data) => received(data.i))
        break
      case 'sync': // node:net has no sync mode: the latency round trip
      case 'latency':
        onType(socket, 'request', (data) => {
          if (received(data.i)) {
            writeMsg(socket, 'reply', { i: data.i })
          }
        })
        break
      case 'clients8':
      case 'inflight64': {
        const inOrder = sequence(`sequence of connection ${sockets.length - 1}`)
        onType(socket, 'request', (data) => {
          if (inOrder(data.i)) {
            writeMsg(socket, 'reply', { i: data.i })
          }
        })
        break
      }
      case 'large':
        onType(socket, 'large', (data) => {
          if (data.payload.length !== LARGE_SIZE) {
            return fail(`large: message ${data.i} has ${data.payload.length} chars`)
          }
          if (received(data.i)) {
            writeMsg(socket, 'ack', { i: data.i })
            if (received.count === N) {
              done()
            }
          }
        })
        break
      case 'raw':
        socket.on('data', (buf) => received(buf.length))
        break
      case 'fanout':
        socket.resume()
        break
    }
  })
  server.on('error', (err) => fail(err))
  if (cfg.case === 'fanout') {
    setGo(() => {
      start()
      bursts(N, (i) => {
        const line = JSON.stringify({ type: 'message', data: { i, payload: PAYLOAD } }) + '\n'
        for (let k = 0; k < sockets.length; k++) {
          sockets[k].write(line)
        }
      })
    })
  }
  const onListening = () => send({ ev: 'ready' })
  if (cfg.transport === 'unix') {
    server.listen(cfg.path, onListening)
  } else {
    server.listen(cfg.port, '127.0.0.1', onListening)
  }
}

function runClient() {
  const socket = cfg.transport === 'unix' ? net.connect(cfg.path) : net.connect(cfg.port, '127.0.0.1')
  socket.on('connect', () => send({ ev: 'connected' }))
  socket.on('error', (err) => fail(err))

  switch (cfg.case) {
    case 'throughput':
      setGo(() => {
        start()
        bursts(N, (i) => writeMsg(socket, 'message', { i, payload: PAYLOAD }))
      })
      break
    case 'sync': // node:net has no sync mode: the latency round trip
    case 'latency': {
      const replied = pingPong((i) => writeMsg(socket, 'request', { i, payload: PAYLOAD }))
      onType(socket, 'reply', (data) => replied(data.i))
      break
    }
    case 'clients8':
    case 'inflight64': {
      const replied = requestWindow((i) => writeMsg(socket, 'request', { i, payload: PAYLOAD }))
      onType(socket, 'reply', (data) => replied(data.i))
      break
    }
    case 'large': {
      const big = 'y'.repeat(LARGE_SIZE)
      const acked = windowed((i) => writeMsg(socket, 'large', { i, payload: big }))
      onType(socket, 'ack', (data) => acked(data.i))
      break
    }
    case 'fanout': {
      const received = receiveAll()
      onType(socket, 'message', (data) => received(data.i))
      break
    }
    case 'raw': {
      const buf = Buffer.alloc(RAW_SIZE, 'r')
      setGo(() => {
        start()
        bursts(N, () => socket.write(buf))
      })
      break
    }
  }
}
