// ESM entry. It re-exports the CommonJS module rather than being a second copy, so
// `import ipc from 'node-ipc-rs'` and `require('node-ipc-rs')` are one singleton and one class.
import ipc from './index.js'

export default ipc
export const IPC = ipc.IPC
export const IPCModule = ipc.IPCModule
