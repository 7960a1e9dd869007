// Test certificates for the TLS tests, generated with the openssl CLI into a mkdtemp folder
// once per test file. Every certificate is a self-signed X.509 v3 leaf (CA:FALSE,
// extendedKeyUsage serverAuth+clientAuth, no keyUsage), the shape node-ipc's examples and
// trustedConnections expect: the peer's own certificate file is the trust anchor.
//
//   srv        SAN localhost, 127.0.0.1, ::1 (the good server)
//   cli        SAN localhost (the good client)
//   other      same SAN as srv, another key: trusting it does not trust srv
//   wronghost  SAN example.com only (hostname mismatch for 127.0.0.1 / localhost)
//   expired    SAN as srv, valid 2020-01-01 .. 2021-01-01 (made with `openssl ca -selfsign`,
//              because OpenSSL 3.0's req/x509 cannot set a notAfter in the past)
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const EXT = ['basicConstraints=critical,CA:FALSE', 'extendedKeyUsage=serverAuth,clientAuth']
const SAN_GOOD = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'

function openssl(args, cwd) {
  return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString()
}

function selfSigned(dir, name, cn, san) {
  const key = path.join(dir, `${name}.key`)
  const pub = path.join(dir, `${name}.pub`)
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-sha256',
      '-days',
      '30',
      '-keyout',
      key,
      '-out',
      pub,
      '-subj',
      `/CN=${cn}/O=node-ipc-rs tests`,
      '-addext',
      san,
      ...EXT.flatMap((e) => ['-addext', e]),
    ],
    dir,
  )
  return { key, pub }
}

function expiredSelfSigned(dir, name, cn, san) {
  const ca = path.join(dir, `${name}-ca`)
  fs.mkdirSync(ca)
  fs.writeFileSync(path.join(ca, 'index.txt'), '')
  fs.writeFileSync(path.join(ca, 'serial'), '01\n')
  fs.writeFileSync(
    path.join(ca, 'ca.cnf'),
    [
      '[ ca ]',
      'default_ca = CA_default',
      '[ CA_default ]',
      `dir = ${ca}`,
      `database = ${ca}/index.txt`,
      `new_certs_dir = ${ca}`,
      `serial = ${ca}/serial`,
      'default_md = sha256',
      'policy = policy_any',
      'copy_extensions = copy',
      'unique_subject = no',
      'email_in_dn = no',
      '[ policy_any ]',
      'commonName = supplied',
      'organizationName = optional',
      '',
    ].join('\n'),
  )
  const key = path.join(dir, `${name}.key`)
  const pub = path.join(dir, `${name}.pub`)
  const csr = path.join(ca, `${name}.csr`)
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${cn}/O=node-ipc-rs tests`,
      '-addext',
      san,
      ...EXT.flatMap((e) => ['-addext', e]),
    ],
    ca,
  )
  openssl(
    [
      'ca',
      '-batch',
      '-config',
      path.join(ca, 'ca.cnf'),
      '-selfsign',
      '-keyfile',
      key,
      '-in',
      csr,
      '-out',
      pub,
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20210101000000Z',
      '-notext',
    ],
    ca,
  )
  return { key, pub }
}

/** Generate the whole set into a fresh mkdtemp folder; `cleanup()` removes it. */
export function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ipc-rs-tls-'))
  const certs = {
    dir,
    srv: selfSigned(dir, 'srv', 'localhost', SAN_GOOD),
    cli: selfSigned(dir, 'cli', 'hello-client', 'subjectAltName=DNS:localhost'),
    other: selfSigned(dir, 'other', 'localhost', SAN_GOOD),
    wronghost: selfSigned(dir, 'wronghost', 'example.com', 'subjectAltName=DNS:example.com'),
    expired: expiredSelfSigned(dir, 'expired', 'localhost', SAN_GOOD),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  }
  // sanity: the expired one really is expired, the others are not
  const end = (p) =>
    new Date(
      openssl(['x509', '-in', p, '-noout', '-enddate'])
        .trim()
        .replace(/^notAfter=/, ''),
    )
  if (!(end(certs.expired.pub) < new Date())) throw new Error('expired test certificate is not expired')
  if (!(end(certs.srv.pub) > new Date())) throw new Error('srv test certificate is already expired')
  return certs
}
