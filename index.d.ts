// Types for node-ipc-rs. The export has the shape of @types/node-ipc 9.2.3, so code that
// compiled against those types compiles against these; additions are optional members.
/// <reference types="node" />
import { Socket as NetSocket } from 'net'

declare namespace NodeIPC {
  type EmptyCallback = () => void

  class IPC {
    config: Config
    log(...args: any[]): void
    connectTo(id: string, path?: string, callback?: () => void): void
    connectTo(id: string, callback?: () => void): void
    connectToNet(id: string, host?: string, port?: number, callback?: () => void): void
    connectToNet(id: string, callback?: () => void): void
    connectToNet(id: string, hostOrPort: number | string, callback?: () => void): void
    disconnect(id: string): void
    serve(path: string, callback?: () => void): void
    serve(callback?: () => void): void
    serve(callback: null): void
    serveNet(host?: string, port?: number, UDPType?: 'udp4' | 'udp6', callback?: () => void): void
    serveNet(UDPType: 'udp4' | 'udp6', callback?: () => void): void
    serveNet(callbackOrPort: EmptyCallback | number): void
    serveNet(host: string, port: number, callback?: () => void): void
    serveNet(port: number, UDPType: 'udp4' | 'udp6', callback?: () => void): void
    of: Record<string, Client>
    server: Server
  }

  /** The per-connection object handed to server handlers and kept in `Client.socket`. */
  interface Socket extends NetSocket {
    /** Set from the `id` field of any payload received on this socket (v9 semantics). */
    id?: string
  }

  interface Client {
    on(event: string, callback: (...args: any[]) => void): Client
    on(event: 'error', callback: (err: any) => void): Client
    on(event: 'connect' | 'disconnect' | 'destroy', callback: () => void): Client
    on(event: 'socket.disconnected', callback: (socket: NetSocket, destroyedSocketID: string) => void): Client
    on(event: 'data', callback: (buffer: Buffer) => void): Client
    /** Catch-all: `(type, ...args)` for every event. */
    on(event: '*', callback: (type: string, ...args: any[]) => void): Client
    once(event: string, callback: (...args: any[]) => void): Client
    emit(event: string, value?: any): Client
    off(event: string, handler: any): Client
    publish(event: string, ...args: any[]): Client
    trigger(event: string, ...args: any[]): Client
    socket?: Socket | false
    retriesRemaining?: number
    explicitlyDisconnected?: boolean
    id?: string
    path?: string
    port?: number
  }

  interface Server extends Client {
    start(): void
    stop(): void
    emit(value: any): Client
    emit(event: string, value: any): Client
    emit(socket: NetSocket | SocketConfig, event: string, value?: any): Server
    emit(socketConfig: NetSocket | SocketConfig, value?: any): Server
    broadcast(event: string, value?: any): Client
    sockets?: Socket[]
    server?: ServerHandle | false
    path?: string
    port?: number
    udp4?: boolean
    udp6?: boolean
  }

  /** `ipc.server.server`: the net.Server members v9 code uses. */
  interface ServerHandle {
    address(): { address: string; family: string; port: number } | string | null
    close(callback?: (err?: Error) => void): ServerHandle
    listening: boolean
    maxConnections: number
    ref(): ServerHandle
    unref(): ServerHandle
  }

  interface SocketConfig {
    address?: string | undefined
    port?: number | undefined
  }

  interface InterfaceOptions {
    localAddress?: boolean | string | undefined
    localPort?: boolean | number | undefined
    family?: boolean | number | undefined
    hints?: boolean | number | undefined
    lookup?: boolean | ((...args: any[]) => void) | undefined
  }

  interface TlsOptions {
    rejectUnauthorized?: boolean | undefined
    public?: string | undefined
    private?: string | undefined
    dhparam?: string | undefined
    requestCert?: boolean | undefined
    trustedConnections?: string | string[] | undefined
    key?: string | Buffer | Array<string | Buffer> | undefined
    cert?: string | Buffer | Array<string | Buffer> | undefined
    ca?: string | Buffer | Array<string | Buffer> | undefined
    servername?: string | undefined
    minVersion?: string | undefined
    maxVersion?: string | undefined
    [option: string]: any
  }

  interface Config {
    appspace: string
    socketRoot: string
    id: string
    networkHost: string
    networkPort: number
    readableAll: boolean
    writableAll: boolean
    encoding: 'ascii' | 'utf8' | 'utf16le' | 'ucs2' | 'base64' | 'hex'
    rawBuffer: boolean
    sync: boolean
    silent: boolean
    logInColor: boolean
    logDepth: number
    logger(msg: string): void
    maxConnections: number
    retry: number
    maxRetries: boolean | number
    stopRetrying: boolean
    unlink: boolean
    /** The name v9's README and @types use; an alias of `interface`. */
    interfaces: InterfaceOptions
    /** The name v9 reads. */
    interface?: InterfaceOptions
    tls: TlsOptions
    /** Frame delimiter, `'\f'` by default; any non-empty string. */
    delimiter?: string
    IPType?: string
    /** Largest accepted frame in bytes (default 64 MiB); `Infinity` disables the limit. */
    maxMessageSize?: number
  }
}

declare const RootIPC: NodeIPC.IPC & { IPC: new () => NodeIPC.IPC; default: NodeIPC.IPC & { IPC: new () => NodeIPC.IPC } }
export = RootIPC
