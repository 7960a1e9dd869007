'use strict'

// node-ipc v9's services/IPC.js, at the same path: the IPC class (`new IPC()` is a fresh
// instance, as `require('node-ipc').IPC` gives it).

module.exports = require('../index.js').IPC
