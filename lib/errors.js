'use strict'

const util = require('util')

// Node-style errors from the core's failure records, with Node's own message formats:
// `connect ECONNREFUSED 127.0.0.1:8000`, `listen EADDRINUSE: address already in use /x`.
function systemError(failure) {
  if (failure.message) {
    // TLS failures: Node's code and message, no syscall.
    const err = new Error(failure.message)
    err.code = failure.code
    return err
  }
  const code = failure.code || safeErrorName(failure.errno)
  let message
  if (failure.syscall === 'listen') {
    const description = (util.getSystemErrorMap().get(failure.errno) || [])[1] || failure.detail
    message = `listen ${code}: ${description}`
    if (failure.address !== undefined) {
      message += failure.port ? ` ${failure.address}:${failure.port}` : ` ${failure.address}`
    }
  } else {
    message = `${failure.syscall} ${code}`
    if (failure.address !== undefined) {
      message += failure.port !== undefined && failure.syscall !== 'getaddrinfo'
        ? ` ${failure.address}:${failure.port}`
        : ` ${failure.address}`
    }
  }
  if (failure.detail && failure.syscall !== 'listen') {
    message += ` (${failure.detail})`
  }
  const err = new Error(message)
  err.errno = failure.errno
  err.code = code
  err.syscall = failure.syscall
  if (failure.syscall === 'getaddrinfo') {
    err.hostname = failure.address
  } else if (failure.address !== undefined) {
    err.address = failure.address
    if (failure.port !== undefined) {
      err.port = failure.port
    }
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

function messageTooLarge({ size, limit }) {
  const err = new Error(`message of at least ${size} bytes exceeds maxMessageSize (${limit} bytes); connection closed`)
  err.code = 'ERR_IPC_MESSAGE_TOO_LARGE'
  err.size = size
  err.limit = limit
  return err
}

function unsupported(what) {
  const err = new Error(`${what} is not supported by node-ipc-rs yet`)
  err.code = 'ERR_IPC_UNSUPPORTED'
  return err
}

module.exports = { systemError, messageTooLarge, unsupported }
