'use strict'

// node-ipc v9's dao/socketServer.js held its internals; node-ipc-rs has no such file to offer.
const err = new Error(
  "node-ipc-rs has no 'dao/socketServer.js' (an internal file of node-ipc v9): use require('node-ipc') " +
    "(the singleton, and its IPC class), or the v9 files it keeps: 'entities/EventParser', " +
    "'entities/Defaults' and 'services/IPC'.",
)
err.code = 'ERR_IPC_INTERNAL_PATH'
throw err
