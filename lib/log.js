'use strict'

const util = require('util')

// ipc.log and the internal log lines: one string per call to config.logger,
// objects inspected with logDepth/logInColor, nothing at all when silent. It reads
// `this.config`, so clients and servers log through the config they share.
function log(...args) {
  const config = this.config
  if (config.silent) {
    return
  }
  for (let i = 0; i < args.length; i++) {
    if (typeof args[i] === 'object') {
      args[i] = util.inspect(args[i], { depth: config.logDepth, colors: config.logInColor })
    }
  }
  config.logger(args.join(' '))
}

module.exports = log
