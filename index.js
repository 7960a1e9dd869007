'use strict'

// node-ipc-rs: `require('node-ipc')` for node-ipc v9 code, on a native transport core.
// The export is v9's singleton exactly (SPEC §1, D9).

const IPC = require('./lib/ipc')

class IPCModule extends IPC {
  constructor() {
    super()
    Object.defineProperty(this, 'IPC', { enumerable: true, writable: false, value: IPC })
  }
}

const ipc = new IPCModule()

// v10-v12 style `require('node-ipc').default`, without changing Object.keys(ipc).
Object.defineProperty(ipc, 'default', { value: ipc, enumerable: false })

module.exports = ipc
