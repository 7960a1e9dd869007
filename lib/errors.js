'use strict'

const util = require('util')
const { KIND } = require('./native')

// Node-style errors from the core's failure records, built the way Node's own helpers
// build them (lib/internal/errors.js), so message, property values and property order
// are what net gives for the same failure:
// * listen (UVExceptionWithHostPort): `listen EADDRINUSE: address already in use /x`,
//   code before errno; a Unix path has port -1 (net passes -1 for pipes).
// * connect, bind, ... (exceptionWithHostPort): `connect ECONNREFUSED 127.0.0.1:8000`,
//   plus ` - Local (address:port)` and localAddress/localPort when the connect was bound
//   to both (net's afterConnect).
// * getaddrinfo (dnsException): `getaddrinfo ENOTFOUND host`, `getaddrinfo EAI_AGAIN
//   host`, ..., with hostname.
// * every address of a name failed (net's autoSelectFamily, Node 20's default): an
//   AggregateError of each address's error (NodeAggregateError).
// In all of them the port shows only when > 0, and is set only when truthy.
function systemError(failure) {
  if (failure.errors) {
    return aggregateError(failure.errors.map(systemError))
  }
  if (failure.message) {
    // TLS failures: Node's code and message, no syscall.
    const err = new Error(failure.message)
    err.code = failure.code
    return err
  }
  const code = failure.code || safeErrorName(failure.errno)
  const { errno, syscall, address } = failure
  if (syscall === 'getaddrinfo') {
    const err = new Error(`getaddrinfo ${code}${address ? ` ${address}` : ''}`)
    err.errno = errno
    err.code = code
    err.syscall = syscall
    if (address) {
      err.hostname = address
    }
    return err
  }
  let port = failure.port
  if (syscall === 'listen' && port === undefined && address !== undefined) {
    port = -1
  }
  let details = ''
  if (port > 0) {
    details = ` ${address}:${port}`
  } else if (address) {
    details = ` ${address}`
  }
  let err
  if (syscall === 'listen') {
    const description = (util.getSystemErrorMap().get(errno) || [])[1] || failure.detail || 'unknown error'
    err = new Error(`listen ${code}: ${description}${details}`)
    err.code = code
    err.errno = errno
  } else {
    const local = failure.localAddress !== undefined ? `${failure.localAddress}:${failure.localPort}` : ''
    if (local) {
      details += ` - Local (${local})`
    }
    if (failure.detail) {
      // A failure with no errno of its own: say what it was.
      details += ` (${failure.detail})`
    }
    err = new Error(`${syscall} ${code}${details}`)
    err.errno = errno
    err.code = code
  }
  err.syscall = syscall
  // read/write failures carry no address (Node's errnoException).
  if (address !== undefined) {
    err.address = address
  }
  if (port) {
    err.port = port
  }
  if (failure.localAddress !== undefined && syscall !== 'listen') {
    err.localAddress = failure.localAddress
    err.localPort = failure.localPort
  }
  return err
}

// Node's NodeAggregateError: no message of its own, `code` the first error's (its only
// enumerable property), `errors` the rest, and `AggregateError [CODE]: ` heading its
// stack, as Node's stack formatting writes it for its own errors.
function aggregateError(errors) {
  const err = new AggregateError(errors)
  err.code = errors[0]?.code
  const { stack } = err
  if (typeof stack === 'string' && stack.startsWith('AggregateError\n')) {
    err.stack = `AggregateError [${err.code}]: ${stack.slice('AggregateError'.length)}`
  }
  return err
}

function safeErrorName(errno) {
  try {
    return util.getSystemErrorName(errno)
  } catch {
    return 'UNKNOWN'
  }
}

// `datagram`: the frame came in a UDP datagram; it is dropped and the socket stays open.
function messageTooLarge({ size, limit }, datagram = false) {
  const outcome = datagram ? 'frame dropped' : 'connection closed'
  const err = new Error(`message of at least ${size} bytes exceeds maxMessageSize (${limit} bytes); ${outcome}`)
  err.code = 'ERR_IPC_MESSAGE_TOO_LARGE'
  err.size = size
  err.limit = limit
  return err
}

// A memory or time limit closed a connection (src/mailbox.rs, Limit); `kind` is its event
// kind, `size` and `limit` what the core reports.
function overLimit(kind, { size, limit }) {
  let err
  if (kind === KIND.MEMORY_LIMIT) {
    err = new Error(
      `incomplete messages held more than maxBufferedBytes (${limit} bytes); this connection held the most (${size} bytes) and was closed`,
    )
    err.code = 'ERR_IPC_MEMORY_LIMIT'
  } else if (kind === KIND.FRAME_TIMEOUT) {
    err = new Error(
      `a message stayed incomplete for longer than frameTimeout (${limit} ms, ${size} bytes received); connection closed`,
    )
    err.code = 'ERR_IPC_FRAME_TIMEOUT'
  } else {
    err = new Error(`${size} bytes queued towards the peer exceed maxPendingBytes (${limit} bytes); connection closed`)
    err.code = 'ERR_IPC_PENDING_LIMIT'
  }
  err.size = size
  err.limit = limit
  return err
}

// The kernel dropped datagrams of a UDP server while JS was behind (Linux counts them).
function datagramsDropped(dropped, total) {
  const err = new Error(`${dropped} datagrams dropped: the server was too busy to take them (${total} in all)`)
  err.code = 'ERR_IPC_DATAGRAMS_DROPPED'
  err.dropped = dropped
  err.total = total
  return err
}

// A frame whose type is not in ipc.config.allowedEvents: dropped, never dispatched; the
// connection stays open. The type comes from the peer, so the message shows at most 100
// characters of it (err.type has it whole).
function eventNotAllowed(type) {
  const shown = typeof type === 'string' ? JSON.stringify(type.slice(0, 100)) : typeof type
  const err = new Error(`event type ${shown} is not in ipc.config.allowedEvents; frame dropped`)
  err.code = 'ERR_IPC_EVENT_NOT_ALLOWED'
  err.type = type
  return err
}

// A client that the server's verifyClient or allowedUids refused (README, "Verifying
// clients"): its connection was closed before 'connect', none of its frames read.
// `reason`: a short code (err.reason) and the words saying what happened; `peer`: the
// client's credentials (local sockets); `address`/`port`: a network client's; `cause`:
// what the verifier threw or rejected with.
function clientRefused({ peer, address, port }, reason, detail, cause) {
  let who = 'a client'
  if (peer) {
    who = `the client (pid ${peer.pid === undefined ? 'unknown' : peer.pid}, uid ${peer.uid}, gid ${peer.gid})`
  } else if (address !== undefined) {
    who = `the client ${address.includes(':') ? `[${address}]` : address}:${port}`
  }
  const err = new Error(`${who} was refused: ${detail}; its connection was closed before 'connect'`)
  err.code = 'ERR_IPC_CLIENT_REFUSED'
  err.reason = reason
  if (peer) {
    err.peer = peer
  }
  if (address !== undefined) {
    err.address = address
    err.port = port
  }
  if (cause !== undefined) {
    err.cause = cause
  }
  return err
}

module.exports = { systemError, messageTooLarge, overLimit, datagramsDropped, eventNotAllowed, clientRefused }
