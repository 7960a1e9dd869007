'use strict'

// The floor: plain node:net, one `JSON.stringify(msg) + '\n'` write per message and a
// line splitter with JSON.parse on receive; raw: 128-byte Buffers and byte counting.

const net = require('net')
const { cfg, PAYLOAD, RAW_SIZE, LARGE_SIZE, send, now, fail, start, done, setGo, bursts, latencySummary } =
  require('./common.cjs')

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

if (cfg.role === 'server') {
  runServer()
} else {
  runClient()
}

function runServer() {
  const sockets = []
  let expected = 0
  const server = net.createServer((socket) => {
    sockets.push(socket)
    socket.on('error', (err) => fail(err))
    send({ ev: 'conns', n: sockets.length })
    switch (cfg.case) {
      case 'throughput':
        lines(socket, (msg) => {
          if (msg.type !== 'message') {
            return
          }
          if (msg.data.i !== expected) {
            return fail(`sequence: got ${msg.data.i}, expected ${expected}`)
          }
          if (++expected === N) {
            done()
          }
        })
        break
      case 'latency':
        lines(socket, (msg) => {
          if (msg.type !== 'request') {
            return
          }
          if (msg.data.i !== expected) {
            return fail(`sequence: got ${msg.data.i}, expected ${expected}`)
          }
          expected++
          writeMsg(socket, 'reply', { i: msg.data.i })
        })
        break
      case 'large':
        lines(socket, (msg) => {
          if (msg.type !== 'large') {
            return
          }
          if (msg.data.i !== expected || msg.data.payload.length !== LARGE_SIZE) {
            return fail(`sequence: got ${msg.data.i}, expected ${expected}`)
          }
          expected++
          writeMsg(socket, 'ack', { i: msg.data.i })
          if (expected === N) {
            done()
          }
        })
        break
      case 'raw': {
        const total = N * RAW_SIZE
        let bytes = 0
        socket.on('data', (buf) => {
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
    case 'latency': {
      const W = cfg.warmup
      const rtts = new Float64Array(N)
      let i = 0
      let t = 0n
      lines(socket, (msg) => {
        const end = now()
        if (msg.type !== 'reply') {
          return
        }
        if (msg.data.i !== i) {
          return fail(`sequence: got ${msg.data.i}, expected ${i}`)
        }
        if (i >= W) {
          rtts[i - W] = Number(end - t)
        }
        i++
        if (i === W + N) {
          return done(latencySummary(rtts))
        }
        t = now()
        writeMsg(socket, 'request', { i, payload: PAYLOAD })
      })
      setGo(() => {
        start()
        t = now()
        writeMsg(socket, 'request', { i: 0, payload: PAYLOAD })
      })
      break
    }
    case 'large': {
      const big = 'y'.repeat(LARGE_SIZE)
      let sent = 0
      let acked = 0
      const sendOne = () => writeMsg(socket, 'large', { i: sent++, payload: big })
      lines(socket, (msg) => {
        if (msg.type !== 'ack') {
          return
        }
        if (msg.data.i !== acked) {
          return fail(`ack sequence: got ${msg.data.i}, expected ${acked}`)
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
      lines(socket, (msg) => {
        if (msg.type !== 'message') {
          return
        }
        if (msg.data.i !== expected) {
          return fail(`sequence: got ${msg.data.i}, expected ${expected}`)
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
        bursts(N, () => socket.write(buf))
      })
      break
    }
  }
}
