'use strict'

const util = require('util')
const { clientRefused } = require('./errors')
const { peerCertificate } = require('./socket')

// Access control before 'connect' (README, "Verifying clients"): config.allowedUids and
// config.verifyClient decide whether an accepted client is served.
//
// Where the early frames wait: a server that verifies tells the core so when it starts
// (setVerifying); the core then holds each accepted connection without reading it and
// reports it as VERIFY, and nothing is read until this side settles it (settleClient).
// Frames a client sends at once wait in the kernel's socket buffer, which is bounded and
// pushes back on the client through flow control: admitted, they are read and delivered
// in order after 'connect'; refused, the socket is closed unread and no handler ever sees
// them. Holding them here instead would need a byte limit of its own and a copy of every
// early frame; the kernel's buffer costs nothing. Waiting connections count toward
// maxConnections in the core, and each waits verifyClientTimeout at most, so both their
// number and their time are bounded. Servers that do not verify are untouched: the core
// starts their connections at accept, as before.

// ipc.config.verifyClientTimeout's default (lib/defaults.js sets it from here).
const DEFAULT_TIMEOUT = 5000
// setTimeout's largest delay; a larger one would fire at once.
const MAX_TIMEOUT = 2 ** 31 - 1

const unset = (value) => value === undefined || value === null || value === false

// The server's verification settings, read once at start: null when it does not verify.
// Throws a TypeError or RangeError (with Node's codes) for settings it cannot use.
function verifyPolicy(config) {
  const { verifyClient, allowedUids } = config
  if (unset(verifyClient) && unset(allowedUids)) {
    return null
  }
  if (!unset(verifyClient) && typeof verifyClient !== 'function') {
    throw invalid(`ipc.config.verifyClient must be a function, got ${describe(verifyClient)}`)
  }
  let uids = null
  if (!unset(allowedUids)) {
    const valid =
      Array.isArray(allowedUids) && allowedUids.every((uid) => Number.isInteger(uid) && uid >= 0 && uid <= 2 ** 32 - 1)
    if (!valid) {
      throw invalid(`ipc.config.allowedUids must be an array of uids (integers >= 0), got ${describe(allowedUids)}`)
    }
    uids = new Set(allowedUids)
  }
  let timeout = config.verifyClientTimeout
  if (timeout === undefined || timeout === null) {
    timeout = DEFAULT_TIMEOUT
  }
  if (typeof timeout !== 'number' || !(timeout > 0 && timeout <= MAX_TIMEOUT)) {
    const err = new RangeError(
      `ipc.config.verifyClientTimeout must be a number of milliseconds > 0 and <= ${MAX_TIMEOUT}, got ${describe(timeout)}`,
    )
    err.code = 'ERR_OUT_OF_RANGE'
    throw err
  }
  return { verifyClient: unset(verifyClient) ? null : verifyClient, uids, timeout }
}

function invalid(message) {
  const err = new TypeError(message)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

function describe(value) {
  return util.inspect(value, { depth: 1, breakLength: Infinity, maxArrayLength: 10 })
}

// What verifyClient is given about a client: a local socket's credentials {pid, uid, gid}
// ({pid, sid} on a Windows pipe, {} where the OS gives none); a network client's address, port and family,
// and over TLS whether its certificate was verified and the certificate itself.
function clientInfo(peer) {
  if (peer.peer) {
    return { ...peer.peer }
  }
  if (peer.remoteAddress === undefined) {
    return {}
  }
  const info = { address: peer.remoteAddress, port: peer.remotePort, family: peer.remoteFamily }
  if (peer.encrypted) {
    info.authorized = peer.authorized
    if (!peer.authorized) {
      info.authorizationError = peer.authorizationError || 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
    }
    if (peer.peerCertificate) {
      info.certificate = peerCertificate(peer.peerCertificate)
    }
  }
  return info
}

// A VERIFY event: decides about connection `conn` of `server` (a lib/server.js Server)
// with the policy it started with, then admits or refuses it in the core. A refusal is
// published as 'error' (ERR_IPC_CLIENT_REFUSED).
function verifyConnection(server, conn, peer) {
  const policy = server._verify
  const who = { peer: peer.peer, address: peer.remoteAddress, port: peer.remotePort }
  let settled = false
  let timer = null
  const settle = (admit, reason, detail, cause) => {
    if (settled) {
      return
    }
    settled = true
    clearTimeout(timer)
    server._native.settleClient(conn, admit)
    if (!admit) {
      const err = clientRefused(who, reason, detail, cause)
      server.log('client refused:', err.message)
      server.publish('error', err)
    }
  }
  if (!policy) {
    // The server stopped verifying since this connection was accepted (a restart).
    return settle(true)
  }
  if (policy.uids) {
    // Windows pipes have a pid and a SID but no uid: no credentials allowedUids can check.
    if (!peer.peer || peer.peer.uid === undefined) {
      return settle(
        false,
        'no-credentials',
        'ipc.config.allowedUids is set and this connection has no peer credentials (only local sockets have them)',
      )
    }
    if (!policy.uids.has(peer.peer.uid)) {
      return settle(false, 'uid-not-allowed', `uid ${peer.peer.uid} is not in ipc.config.allowedUids`)
    }
  }
  if (!policy.verifyClient) {
    return settle(true)
  }
  const decided = (verdict) =>
    settle(verdict === true, 'verifier-refused', `ipc.config.verifyClient returned ${describe(verdict)}`)
  const threw = (how) => (err) =>
    settle(
      false,
      `verifier-${how}`,
      `ipc.config.verifyClient ${how}: ${err instanceof Error ? err.message : describe(err)}`,
      err,
    )
  let verdict
  let thenable = false
  try {
    verdict = policy.verifyClient(clientInfo(peer))
    thenable =
      verdict !== null &&
      (typeof verdict === 'object' || typeof verdict === 'function') &&
      typeof verdict.then === 'function'
  } catch (err) {
    return threw('threw')(err)
  }
  if (!thenable) {
    return decided(verdict)
  }
  timer = setTimeout(
    () =>
      settle(
        false,
        'verifier-timeout',
        `ipc.config.verifyClient did not settle within ${policy.timeout} ms (ipc.config.verifyClientTimeout)`,
      ),
    policy.timeout,
  )
  Promise.resolve(verdict).then(decided, threw('rejected'))
}

module.exports = { DEFAULT_TIMEOUT, verifyPolicy, verifyConnection }
