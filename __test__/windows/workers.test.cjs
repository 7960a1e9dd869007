'use strict'

// Worker teardown on Windows: the scenario of workers.spec.mjs (fixtures/workers/main.cjs)
// in a child node.exe. 20 worker_threads Workers, each with a named-pipe, TCP, TLS and UDP
// server and client in traffic, are terminated mid-traffic while the main thread uses the
// addon too; then every worker's pipe is gone (ENOENT, as node:net says for a pipe nobody
// serves), its TCP/TLS ports refuse, its UDP ports bind again, and the main thread still
// makes a round trip. Under Wine the child sees its host process's /proc, so its open
// descriptors are counted as on Linux; on Windows itself nothing is counted (no /proc).
const test = require('node:test')
const assert = require('node:assert')
const dgram = require('node:dgram')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { IMPLS, ROOT, tmpDir, spawnNode } = require('./helpers.cjs')
const { nodeAsserts } = require('../helpers/assert-adapter.cjs')
const {
  WORKERS,
  scenarioEnv,
  checkWorkersRan,
  checkEndpointsGone,
  endpointsInUse,
} = require('../helpers/worker-checks.cjs')

const MAIN = path.join(__dirname, '..', 'fixtures', 'workers', 'main.cjs')

const connectOutcome = (opts) =>
  new Promise((resolve) => {
    const s = net.connect(opts)
    s.on('connect', () => {
      s.destroy()
      resolve('connected')
    })
    s.on('error', (err) => resolve(err.code))
  })

const bindOutcome = (port) =>
  new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    s.on('error', (err) => resolve(err.code))
    s.bind(port, '127.0.0.1', () => s.close(() => resolve('bound')))
  })

const toPipe = (p) => (p.startsWith('\\\\.\\pipe\\') ? p : `\\\\.\\pipe\\${p.replace(/^\//, '').replace(/\//g, '-')}`)

for (const impl of Object.keys(IMPLS)) {
  test(`[${impl}] ${WORKERS} workers terminated mid-traffic leave nothing open and their endpoints gone`, {
    timeout: 240000,
  }, async (t) => {
    const child = spawnNode(t, [MAIN], {
      env: {
        IPC_IMPL: impl,
        IPC_IMPL_PATH: IMPLS[impl],
        ...scenarioEnv({ mainDir: tmpDir(t), workDir: tmpDir(t), certs: path.join(ROOT, 'local-node-ipc-certs') }),
      },
    })
    const s = await child.waitJson((o) => ['settled', 'worker-failed', 'fatal'].includes(o.ev), 200000)
    assert.strictEqual(s.ev, 'settled', `the worker runs did not complete: ${JSON.stringify(s)}\n${child.output()}`)

    checkWorkersRan(nodeAsserts, s)
    assert.ok(s.mainRoundTrip, "the main thread's own server and client still make a round trip")

    if (fs.existsSync('/proc/self/fd')) {
      // Wine's own descriptors come and go in that process too (one run ended with 3 fewer
      // than the baseline): no descriptor that was not open at the baseline, and no more
      // of them than then.
      const detail = `after ${s.waitedMs} ms: ${s.final.fds} (baseline ${s.baseline.fds}); not in the baseline: ${JSON.stringify(s.extraFds.slice(0, 20))}`
      assert.deepStrictEqual(s.extraFds, [], detail)
      assert.ok(s.final.fds <= s.baseline.fds, detail)
    } else {
      t.diagnostic('no /proc here: descriptors not counted')
    }

    assert.strictEqual(child.child.exitCode, null, 'the process that ran the workers still runs during the probes')
    const probe = async () => {
      const probes = []
      for (const w of s.workers) {
        probes.push({
          i: w.i,
          unix: await connectOutcome({ path: toPipe(w.unixPath) }),
          tcp: await connectOutcome({ host: '127.0.0.1', port: w.tcpPort }),
          tls: await connectOutcome({ host: '127.0.0.1', port: w.tlsPort }),
          udp: await bindOutcome(w.udpPort),
          udpPeer: await bindOutcome(w.udpPeerPort),
        })
      }
      return probes
    }
    // a pipe nobody serves: ENOENT, as node:net says. Under Wine a terminated worker's
    // listener has been seen to take a moment longer to go (once, v9's TLS one): probed
    // again until all are gone, for at most PROBE_MS.
    const PROBE_MS = 5000
    const until = Date.now() + PROBE_MS
    let probes = await probe()
    while (endpointsInUse(probes, ['ENOENT']).length > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      probes = await probe()
    }
    checkEndpointsGone(nodeAsserts, probes, ['ENOENT'])
  })
}
