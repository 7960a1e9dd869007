// The seven original TLSSocket example programs, unchanged (the registry copy shipped in
// @node-ipc/compat@9.2.5), run as child processes against each implementation,
// with the project's development certificates (local-node-ipc-certs/ at the package root:
// self-signed, SAN localhost/127.0.0.1/::1, valid) laid out where the examples look for
// them: `<example>/../../../local-node-ipc-certs/...`.
//
// Expectations were taken from what the v9 reference does with the same certificates.
// `basic-local-only` configures no certificate: its server falls back to the package's own
// bundled ones, as v9's does (the reference's are its expired 2016 certs, ours the project's),
// so for that example no certificates are laid out at all. With the project's certificates,
// `basic-most-secure` and `rawBuffer-only-works-with-most-secure` do mutual TLS with
// verification on both sides. A last pair of tests lays out node-ipc's original (expired)
// certificates instead and checks that most-secure then fails, as it does in v9.
//
// Only lines that the example code itself prints are matched (through ipc.log, so ANSI
// colors are stripped and the spacing of ipc.log's join is matched loosely), plus exit
// behaviour. The examples bind 127.0.0.1:8000 / localhost:8000, so every test is serial,
// holds the cross-process fixed-endpoint lock and awaits the exit of its processes.
import test from 'ava'
import fsp from 'node:fs/promises'
import path from 'node:path'
import checks from './helpers/example-checks.cjs'
import { IMPLS, ROOT } from './helpers/impl.mjs'
import { hexPort } from './helpers/net.mjs'
import { TCP_WORLD, exampleTests, isListening } from './helpers/examples.mjs'

const { checkBasic, checkBasicSync, checkMultiClientBroadcast, checkRawExchange } = checks

const PROJECT_CERTS = path.join(ROOT, 'local-node-ipc-certs')
const REF_BUNDLED_CERTS = path.join(path.dirname(IMPLS.ref), 'local-node-ipc-certs')

// The servers listen on localhost, which resolves to 127.0.0.1 here; accept a ::1 (or ::)
// listener too, in case it does not.
const LISTENING_V4_OR_V6 = {
  async up(ep) {
    if (await isListening(ep)) return true
    if (process.platform !== 'linux') return false
    const local = new RegExp(`^0{24}(01000000|00000000):${hexPort(ep.port)}$`) // ::1 or ::
    const txt = await fsp.readFile('/proc/net/tcp6', 'utf8').catch(() => '')
    return txt.split('\n').some((line) => {
      const f = line.trim().split(/\s+/)
      return local.test(f[1] || '') && f[3] === '0A' // 0A = LISTEN
    })
  },
  name: (ep) => `port ${ep.port}`,
}

/** withExample options that lay out `certs` (a local-node-ipc-certs folder, or null for none). */
const withCerts = (certs) => ({
  probe: LISTENING_V4_OR_V6,
  prepare: certs && ((ex) => fsp.cp(certs, path.join(ex.tmp, 'root', 'local-node-ipc-certs'), { recursive: true })),
  runTimeout: 90000,
  lockWait: 120000,
})

// every TLS example resolves its certificate paths to <root>/local-node-ipc-certs
test.serial('the example layout finds the certificates', (t) => checks.checkTlsCertLayout(t, PROJECT_CERTS))

for (const dir of ['basic', 'basic-local-only', 'basic-more-secure', 'basic-most-secure']) {
  // basic-local-only names no certificate files: nothing is laid out, the server falls back
  // to its own package's bundled certificates
  const certs = dir === 'basic-local-only' ? null : PROJECT_CERTS
  exampleTests(`TLSSocket/${dir}`, (t, ex) => checkBasic(t, ex, TCP_WORLD), withCerts(certs))
}

exampleTests('TLSSocket/basicSync', (t, ex) => checkBasicSync(t, ex, TCP_WORLD), withCerts(PROJECT_CERTS))
exampleTests(
  'TLSSocket/Multi-Client-Broadcast-basic',
  (t, ex) => checkMultiClientBroadcast(t, ex, TCP_WORLD),
  withCerts(PROJECT_CERTS),
)
// mutual TLS, raw, ascii; the server's connect handler prints "connection detected"
exampleTests(
  'TLSSocket/rawBuffer-only-works-with-most-secure',
  (t, ex) => checkRawExchange(t, ex, TCP_WORLD, 'ascii', /^connection detected$/),
  withCerts(PROJECT_CERTS),
)

// Control: basic-most-secure with node-ipc's original (expired) certificates laid out
// instead: nothing gets through (see checkMostSecureFailsWithExpiredCerts).
exampleTests('TLSSocket/basic-most-secure', (t, ex) => checks.checkMostSecureFailsWithExpiredCerts(t, ex, TCP_WORLD), {
  ...withCerts(REF_BUNDLED_CERTS),
  title: 'TLSSocket/basic-most-secure with the original expired certificates fails',
})
