'use strict'

const fs = require('fs')
const path = require('path')

// Turns `ipc.config.tls` into what the core takes (README, "TLS"), without mutating it:
// v9 wrote key/cert/ca/dhparam back into config.tls, which broke restarting a TLS server.
// Files are re-read on every connect and start, as v9 did.

const PACKAGE_CERTS = path.join(__dirname, '..', 'local-node-ipc-certs')
const SUPPORTED = new Set([
  'public',
  'private',
  'trustedConnections',
  'requestCert',
  'rejectUnauthorized',
  'dhparam',
  'key',
  'cert',
  'ca',
  'servername',
  'minVersion',
  'maxVersion',
  // Node's tls.Server option: how long a connection may take to finish its handshake.
  'handshakeTimeout',
])
// v9 itself wrote these into config.tls on every connect; finding them there is normal.
const WRITTEN_BY_V9 = new Set(['host', 'port'])

const reported = new WeakMap()

// Each notice once per config.tls object, through ipc.log (so `silent` mutes it).
function reportOnce(log, tls, key, text) {
  let seen = reported.get(tls)
  if (!seen) {
    seen = new Set()
    reported.set(tls, seen)
  }
  if (!seen.has(key)) {
    seen.add(key)
    log(text)
  }
}

function pem(value) {
  if (value === undefined || value === null || value === false) {
    return undefined
  }
  if (Array.isArray(value)) {
    return value.length ? Buffer.concat(value.map((v) => Buffer.concat([pem(v), Buffer.from('\n')]))) : undefined
  }
  return Buffer.isBuffer(value) ? value : Buffer.from(String(value))
}

function pemList(value) {
  if (value === undefined || value === null || value === false) {
    return undefined
  }
  return (Array.isArray(value) ? value : [value]).map(pem)
}

function firstKey(value) {
  return Array.isArray(value) ? pem(value[0] && value[0].pem ? value[0].pem : value[0]) : pem(value)
}

// side: 'server' or 'client'. Throws (synchronously) on unreadable files.
function resolveTls(tls, side, log) {
  for (const key of Object.keys(tls)) {
    if (!SUPPORTED.has(key) && !WRITTEN_BY_V9.has(key)) {
      reportOnce(log, tls, key, `TLS option "${key}" is not supported by node-ipc-rs (rustls) and is ignored`)
    }
  }
  if (side === 'server' && tls.dhparam) {
    reportOnce(log, tls, 'dhparam', 'TLS option "dhparam" is not applicable: rustls negotiates (EC)DHE itself; ignored')
  }
  let key = tls.private ? fs.readFileSync(tls.private) : firstKey(tls.key)
  let cert = tls.public ? fs.readFileSync(tls.public) : pem(tls.cert)
  if (side === 'server' && (!key || !cert)) {
    reportOnce(
      log,
      tls,
      'fallback',
      'TLS server has no public/private: using the bundled development certificate from ' +
        `${PACKAGE_CERTS}; its private key is public, for local testing only`,
    )
    key = key || fs.readFileSync(path.join(PACKAGE_CERTS, 'private', 'server.key'))
    cert = cert || fs.readFileSync(path.join(PACKAGE_CERTS, 'server.pub'))
  }
  let ca
  if (tls.trustedConnections) {
    const files = typeof tls.trustedConnections === 'string' ? [tls.trustedConnections] : tls.trustedConnections
    ca = files.map((file) => fs.readFileSync(file))
  } else {
    ca = pemList(tls.ca)
  }
  return {
    cert,
    key,
    ca,
    requestCert: !!tls.requestCert,
    rejectUnauthorized: tls.rejectUnauthorized !== false,
    servername: tls.servername ? String(tls.servername) : undefined,
    minVersion: tls.minVersion ? String(tls.minVersion) : undefined,
    maxVersion: tls.maxVersion ? String(tls.maxVersion) : undefined,
    handshakeTimeout:
      tls.handshakeTimeout === undefined || tls.handshakeTimeout === null ? undefined : Number(tls.handshakeTimeout),
  }
}

// A TLS configuration the core refused ("CODE: message") as an Error with that code.
function tlsConfigError(err) {
  const match = /^([A-Z_]+): (.*)$/s.exec(err && err.message)
  if (!match) {
    return err
  }
  const out = new Error(match[2])
  out.code = match[1]
  return out
}

module.exports = { resolveTls, tlsConfigError, PACKAGE_CERTS }
