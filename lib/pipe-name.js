'use strict'

// v9's mapping of a local socket path to a Windows named pipe. Windows
// transport is not built yet; the mapping is kept, and tested, for when it is.
const PIPE_PREFIX = '\\\\.\\pipe\\'

function toPipeName(path) {
  // v9's server re-prefixed names that already were pipes; both sides skip.
  if (path.startsWith(PIPE_PREFIX)) {
    return path
  }
  return PIPE_PREFIX + path.replace(/^\//, '').replace(/\//g, '-')
}

module.exports = { toPipeName, PIPE_PREFIX }
