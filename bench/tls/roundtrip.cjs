'use strict'
// One side of a TLS request/reply run (bench/tls/compare.mjs): ROOT=<package root>
// node roundtrip.cjs server|client PORT N. The client sends a request with a 100-byte
// payload, waits for the reply, and so on, 500 warm-up round trips and then N timed ones;
// it prints {p50, p99, cpu} (µs; cpu: the client's per round trip) and exits.
const path = require('node:path')

const [role, port, count] = process.argv.slice(2)
const N = Number(count || 5000)
const WARMUP = 500
const ipc = require(path.join(process.env.ROOT, 'index.js'))
const CERTS = path.join(__dirname, '..', '..', 'local-node-ipc-certs')
ipc.config.silent = true
ipc.config.id = role
const PAYLOAD = 'x'.repeat(100)

if (role === 'server') {
  ipc.config.tls = { public: path.join(CERTS, 'server.pub'), private: path.join(CERTS, 'private', 'server.key') }
  ipc.serveNet('127.0.0.1', Number(port), () => {
    ipc.server.on('request', (data, socket) => ipc.server.emit(socket, 'reply', { i: data.i }))
    process.send('ready')
  })
  ipc.server.start()
} else {
  ipc.config.tls = { rejectUnauthorized: false }
  ipc.config.maxRetries = 0
  ipc.connectToNet('server', '127.0.0.1', Number(port), () => {
    const c = ipc.of.server
    const rtts = new Float64Array(N)
    let i = 0
    let t = 0n
    let cpu0
    const request = () => {
      t = process.hrtime.bigint()
      c.emit('request', { i, payload: PAYLOAD })
    }
    c.on('connect', request)
    c.on('reply', () => {
      const now = process.hrtime.bigint()
      if (i === WARMUP) cpu0 = process.cpuUsage()
      if (i >= WARMUP) rtts[i - WARMUP] = Number(now - t) / 1000
      if (++i === WARMUP + N) {
        const used = process.cpuUsage(cpu0)
        rtts.sort()
        console.log(
          JSON.stringify({
            p50: rtts[Math.floor(N / 2)],
            p99: rtts[Math.floor(N * 0.99)],
            cpu: (used.user + used.system) / N,
          }),
        )
        process.exit(0)
      }
      request()
    })
  })
}
