// Types of the ESM entry (index.mjs), which exports exactly these: the singleton as
// `default`, and the classes `IPC` and `IPCModule`. The singleton's methods are not named
// exports (they use `this`), so `import { connectTo } from ...` is an error here as at run time.
import ipc from './index.js'

export default ipc

export declare const IPC: ipc.IPCConstructor
export type IPC = ipc.IPC
export declare const IPCModule: ipc.IPCModuleConstructor
/** What `new IPCModule()` gives: an `IPC` instance with the base class as `IPC`. */
export type IPCModule = ipc.IPCModule
/** The default export's type: an `IPCModule` instance with `default` and `IPCModule` (optional in the type). */
export type IPCSingleton = ipc.IPCSingleton

export type EmptyCallback = ipc.EmptyCallback
export type PubSub = ipc.PubSub
export type Client = ipc.Client
export type Server = ipc.Server
export type Socket = ipc.Socket
export type PeerCertificate = ipc.PeerCertificate
export type PeerCredentials = ipc.PeerCredentials
export type ClientInfo = ipc.ClientInfo
export type ClientRefusedError = ipc.ClientRefusedError
export type ServerHandle = ipc.ServerHandle
export type SocketConfig = ipc.SocketConfig
export type InterfaceOptions = ipc.InterfaceOptions
export type TlsOptions = ipc.TlsOptions
export type Config = ipc.Config
export type IPCConstructor = ipc.IPCConstructor
export type IPCModuleConstructor = ipc.IPCModuleConstructor
