'use strict'

// node-ipc-rs: `require('node-ipc')` for node-ipc v9 code, on a native transport core.
// The export is v9's singleton exactly.

const IPC = require('./lib/ipc')

class IPCModule extends IPC {
  constructor() {
    super()
    Object.defineProperty(this, 'IPC', { enumerable: true, writable: false, value: IPC })
  }
}

const ipc = new IPCModule()

// node-ipc 10-12 exported `default` (the singleton) and `IPCModule` (its class); both are
// here for their users, non-enumerable so that Object.keys(ipc) stays v9's.
Object.defineProperty(ipc, 'default', { value: ipc, enumerable: false })
Object.defineProperty(ipc, 'IPCModule', { value: IPCModule, enumerable: false })

module.exports = ipc
