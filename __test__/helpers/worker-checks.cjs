'use strict'

// The worker-teardown scenario (fixtures/workers/main.cjs) as workers.spec.mjs (ava, Linux)
// and windows/workers.test.cjs (node:test, Windows node.exe) both run and check it: its
// parameters, and the assertions on the 'settled' report. `a` is ava's `t` or nodeAsserts
// (helpers/assert-adapter.cjs).

const WORKERS = 20
const THRESHOLD = 10 // pongs per transport before a worker reports 'busy' and is terminated
const SETTLE_MS = 10000 // how long the child polls for the baseline fd and thread counts

/** The fixture's environment, apart from the implementation: its folders and certificates. */
const scenarioEnv = ({ mainDir, workDir, certs }) => ({
  WORKERS: String(WORKERS),
  THRESHOLD: String(THRESHOLD),
  MAIN_DIR: mainDir,
  WORK_DIR: workDir,
  CERTS: certs,
  SETTLE_MS: String(SETTLE_MS),
})

/**
 * Every worker ran: each had traffic on every transport (THRESHOLD pongs), no error before
 * it was terminated, and ended by terminate() (exit code 1).
 */
function checkWorkersRan(a, settled) {
  a.is(settled.workers.length, WORKERS)
  for (const w of settled.workers) {
    for (const tr of ['unix', 'tcp', 'tls', 'udp']) {
      a.true(w.busy[tr] >= THRESHOLD, `worker ${w.i} ${tr}: ${JSON.stringify(w.busy)}`)
    }
    a.deepEqual(
      w.errors.filter((e) => !e.afterBusy),
      [],
      `worker ${w.i}: no error before the termination`,
    )
    a.is(w.exitCode, 1, `worker ${w.i} ended by terminate()`)
  }
}

/**
 * Every terminated worker's endpoints are gone. `probes` holds, for each worker `i`, what
 * connecting to its Unix socket (a named pipe on Windows) and TCP and TLS ports gave (an
 * error code, or 'connected') and what binding a fresh dgram socket to its UDP ports gave
 * ('bound', or an error code); `unixGone` lists the codes that mean its socket is gone.
 */
function checkEndpointsGone(a, probes, unixGone) {
  const bad = endpointsInUse(probes, unixGone)
  a.deepEqual(bad, [], `endpoints of terminated workers still in use (${bad.length} of ${WORKERS} workers)`)
}

/** The probes of checkEndpointsGone that show an endpoint still in use. */
function endpointsInUse(probes, unixGone) {
  return probes.filter(
    (p) =>
      !unixGone.includes(p.unix) ||
      p.tcp !== 'ECONNREFUSED' ||
      p.tls !== 'ECONNREFUSED' ||
      p.udp !== 'bound' ||
      p.udpPeer !== 'bound',
  )
}

module.exports = { WORKERS, THRESHOLD, SETTLE_MS, scenarioEnv, checkWorkersRan, checkEndpointsGone, endpointsInUse }
