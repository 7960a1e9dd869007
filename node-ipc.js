'use strict'

// node-ipc v9's main file, at the same path, for code that loads it by path
// (`require(pkgdir + '/node-ipc.js')`): the same singleton as require('node-ipc').
module.exports = require('./index.js')
