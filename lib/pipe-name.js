'use strict'

// v9's mapping of a local socket path to a Windows named pipe (README, "Platforms"), used
// by the server and the client on win32.
const PIPE_PREFIX = '\\\\.\\pipe\\'

function toPipeName(path) {
  // v9's server re-prefixed names that already were pipes; both sides skip.
  if (path.startsWith(PIPE_PREFIX)) {
    return path
  }
  return PIPE_PREFIX + path.replace(/^\//, '').replace(/\//g, '-')
}

module.exports = { toPipeName, PIPE_PREFIX }
