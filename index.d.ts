// Types for node-ipc-rs. Code that uses what @types/node-ipc 9.2.3 declares
// compiles against this file: the same export shape, members, overloads and member types
// (__test__/fixtures/types/v9.ts is checked against both). Additions describe what the
// runtime (lib/*.js) really has. On the types @types declares (`IPC`, `Client`, `Server`,
// `Config`, the module) every added member is optional, and each added overload is either
// covered by a signature @types declares or folded into a parameter of one, so an object or
// class written to @types' shape (a hand-made mock, a class that `implements` it) also passes
// here. On the real module, clients and servers the added members are always there.
// Where @types declares something the runtime does not do, the declaration is kept for
// source compatibility and its doc comment says what actually happens.
/// <reference types="node" />
import { EventEmitter } from 'events'
import { Socket as NetSocket } from 'net'

/**
 * The types, merged with the exported value: `ipc.Client` after `import ipc = require(...)`,
 * or `import type { Client } from ...`.
 */
declare namespace ipc {
  type EmptyCallback = () => void

  /**
   * An IPC instance. Its members are own properties (methods are not writable), so it is
   * declared as an interface: a class would put the methods on the prototype.
   */
  interface IPC {
    /**
     * Shared by this instance, its server and its clients, and read live. Replacing it
     * wholesale affects only clients and servers created afterwards.
     */
    config: Config
    /** Logs through `config.logger` unless `config.silent`. */
    log(...args: any[]): void
    /**
     * Connects to a Unix socket (on Windows the named pipe the path maps to, as v9:
     * `/tmp/app.world` is `\\.\pipe\tmp-app.world`); `path` defaults to
     * `socketRoot + appspace + id`. The callback runs synchronously, once the client is in
     * `ipc.of[id]`.
     */
    connectTo(id: string, path?: string, callback?: () => void): void
    connectTo(id: string, callback?: () => void): void
    /** Connects over TCP, or TLS when `config.tls` is set; defaults are `networkHost`/`networkPort`. */
    connectToNet(id: string, host?: string, port?: number, callback?: () => void): void
    connectToNet(id: string, callback?: () => void): void
    connectToNet(id: string, hostOrPort: number | string, callback?: () => void): void
    /** Flushes pending emits, closes the connection and removes `ipc.of[id]`; no retry follows. */
    disconnect(id: string): void
    /**
     * Creates a Unix socket server (on Windows a named-pipe server, whose `path` becomes
     * the pipe name at start); `path` defaults to `socketRoot + appspace + id`. Call
     * `ipc.server.start()` to listen. The callback is a `'start'` handler.
     */
    serve(path: string, callback?: () => void): void
    serve(callback?: () => void): void
    serve(callback: null): void
    /** Creates a TCP (TLS when `config.tls` is set) or UDP server; call `ipc.server.start()`. */
    serveNet(host?: string, port?: number, UDPType?: 'udp4' | 'udp6', callback?: () => void): void
    serveNet(UDPType: 'udp4' | 'udp6', callback?: () => void): void
    serveNet(callbackOrPort: EmptyCallback | number): void
    /** `serveNet(host, port, callback)`; also `serveNet(host, 'udp4' | 'udp6', callback)`: a UDP server on `config.networkPort`. */
    serveNet(host: string, port: number | 'udp4' | 'udp6', callback?: () => void): void
    /** `serveNet(port, callback)`: the host defaults to `config.networkHost`. */
    serveNet(port: number, callback?: () => void): void
    /** `serveNet(port, 'udp4' | 'udp6', callback)`: a UDP server on `config.networkHost`. */
    serveNet(port: number, UDPType: 'udp4' | 'udp6', callback?: () => void): void
    /** `serveNet(host, callback)`: the port defaults to `config.networkPort`. */
    serveNet(host: string, callback?: () => void): void
    /** Clients by the id given to `connectTo`/`connectToNet`. */
    of: Record<string, Client>
    /**
     * The server made by the last `serve`/`serveNet`. Typed `Server` as in @types/node-ipc;
     * at runtime it is `false` until `serve` or `serveNet` has run.
     */
    server: Server
  }

  /**
   * The event bus of clients and the server (event-pubsub 4.3 semantics).
   * Handlers run with `this` set to the client or server. Events: `'connect'`,
   * `'disconnect'`, `'destroy'`, `'error'`, `'drain'`, `'data'` (rawBuffer mode), and on a
   * server `'start'`, `'close'`, `'socket.disconnected'`; any other name is a message type
   * (handler `(data)` on a client, `(data, socket)` on a server).
   *
   * Every method returns the object it was called on; it is typed `Client`, as @types/node-ipc
   * types `on` and `off`, so that mocks and `implements` classes written to @types' shape fit.
   * The methods @types lacks are optional in the type and always present at runtime.
   */
  interface PubSub {
    on(event: string, callback: (...args: any[]) => void): Client
    on(event: 'error', callback: (err: any) => void): Client
    on(event: 'connect' | 'disconnect' | 'destroy', callback: () => void): Client
    /** Server only: `destroyedSocketID` is the socket's `id`, or `false` when it never sent one. */
    on(event: 'socket.disconnected', callback: (socket: Socket, destroyedSocketID: string | false) => void): Client
    /** rawBuffer mode; a server handler also gets the socket (UDP: the sender's address). */
    on(event: 'data', callback: (buffer: Buffer) => void): Client
    /** Catch-all: called as `(type, ...args)` for every event, before the typed handlers. */
    on(event: '*', callback: (type: string, ...args: any[]) => void): Client
    /** Removes every registration of `handler`; `'*'` as the handler removes all handlers of `event`. */
    off(event: string, handler: any): Client
    /** Same as `on`. */
    subscribe?(event: string, callback: (...args: any[]) => void): Client
    /** A handler removed after the first dispatch that calls it. */
    once?(event: string, callback: (...args: any[]) => void): Client
    /** Same as `off`. */
    unSubscribe?(event: string, handler: any): Client
    /** Dispatches an event to this object's own handlers; nothing is sent. */
    publish?(event: string, ...args: any[]): Client
    /** Same as `publish`. */
    trigger?(event: string, ...args: any[]): Client
  }

  /**
   * `ipc.of[id]`: one logical connection that reconnects by v9's rules. The
   * members @types/node-ipc lacks are optional in the type; a real client always has them.
   */
  interface Client extends PubSub {
    /**
     * Sends a message `{type: event, data: value}` to the server. In rawBuffer mode `event`
     * itself is sent (bytes as they are, a string encoded with `config.encoding`) and `value`
     * is unused. Typed to return the client as in @types/node-ipc; at runtime it returns
     * `undefined`, or `false` once the connection's pending bytes pass the high-water mark
     * (a `'drain'` event follows).
     */
    emit(event: string | Uint8Array, value?: any): Client
    /** The connection: `false` before the first connect, a new object after each reconnect. */
    socket?: Socket | false
    /**
     * node-ipc-rs: the process serving a local socket, as the kernel reported it at connect
     * (Unix sockets); `undefined` for network connections and before the first connect.
     */
    readonly peer?: PeerCredentials
    /** Reconnect attempts left before `'destroy'` (`Infinity` by default); reset on connect. */
    retriesRemaining?: number
    /** Set by `ipc.disconnect(id)`. */
    explicitlyDisconnected?: boolean
    /** The id given to `connectTo`/`connectToNet`. */
    id?: string
    /** The socket path, or the host of a network client. */
    path?: string
    /** The port of a network client; absent on a Unix socket client. */
    port?: number
  }

  /**
   * `ipc.server`. The members @types/node-ipc lacks are optional in the type; a
   * real server always has them.
   */
  interface Server extends PubSub {
    /** Starts listening (Unix socket, TCP, TLS or UDP); `'start'` follows. */
    start(): void
    /** Stops accepting connections; connected sockets stay open (v9 semantics). */
    stop(): void
    /**
     * Declared by @types/node-ipc. The runtime's emit takes the socket first; without one
     * a stream server throws a TypeError and a UDP server broadcasts to nobody.
     */
    emit(value: any): Client
    emit(event: string, value: any): Client
    /**
     * Sends a message to one client socket, or on a UDP server to `{address, port}`. At
     * runtime it returns `undefined`, or `false` once that socket's pending bytes pass the
     * high-water mark (the server then publishes `'drain'` with the socket).
     */
    emit(socket: Socket | NetSocket | SocketConfig, event: string, value?: any): Server
    /** Sends `value` as the message type with no data; in rawBuffer mode, sends it as bytes. */
    emit(socketConfig: Socket | NetSocket | SocketConfig, value?: any): Server
    /**
     * Sends a message to every connected socket; in rawBuffer mode `event` itself is sent
     * as bytes. Typed to return a client as in @types/node-ipc; at runtime it returns
     * `undefined`. A UDP server knows no peers, so its broadcast reaches nobody (as in v9).
     */
    broadcast(event: string | Uint8Array, value?: any): Client
    /** Connected sockets. On a UDP server it holds the one datagram handle once listening. */
    sockets?: Socket[]
    /** The listener: `false` until `start()`, then a handle with the `net.Server` members v9 code uses. */
    server?: ServerHandle | false
    /** The socket path (on Windows, once started, the pipe name), or the host of a network server. */
    path?: string
    /** The port of a network server; `undefined` for a Unix socket server. */
    port?: number
    /** Whether this is a UDP server. */
    udp4?: boolean
    udp6?: boolean
  }

  /**
   * The per-connection object handed to server handlers and held in `Client.socket`. It
   * is not a `net.Socket`: data moves through the native core, and this object has the
   * members v9 code uses. Events: `'connect'`, `'close'(hadError)`, `'error'`,
   * `'drain'`.
   */
  /**
   * The process at the other end of a local socket (node-ipc-rs): a Unix socket's peer has
   * `uid` and `gid`, a Windows named pipe's peer `sid`.
   */
  interface PeerCredentials {
    /** Absent where the OS does not say (macOS may not). */
    pid?: number
    /** Unix sockets. */
    uid?: number
    /** Unix sockets. */
    gid?: number
    /** Windows pipes: the peer's user as a string SID (`'S-1-5-21-…'`), where its token may be read. */
    sid?: string
  }

  interface Socket extends EventEmitter {
    /** Server side: the last truthy `id` field of any payload this socket sent. */
    id?: any
    /** node-ipc-rs, Unix sockets and Windows pipes: the peer process as the OS reported it at accept or connect. */
    peer?: PeerCredentials
    connecting: boolean
    destroyed: boolean
    readable: boolean
    writable: boolean
    /** Network sockets only, once connected. */
    remoteAddress?: string
    remotePort?: number
    remoteFamily?: string
    localAddress?: string
    localPort?: number
    /** TLS sockets only. */
    encrypted?: boolean
    /** TLS: whether the peer's certificate was verified. */
    authorized?: boolean
    /** TLS: why the peer is not authorized, as a Node error code such as `'UNABLE_TO_VERIFY_LEAF_SIGNATURE'`. */
    authorizationError?: string
    /** `{address, family, port}` of the local end of a network socket, otherwise `{}`. */
    address(): { address?: string; family?: string; port?: number }
    /**
     * Queues bytes for the peer. Returns `false` once pending bytes pass the high-water
     * mark (`'drain'` follows). Writes to a closed socket are dropped without an error.
     */
    write(data: string | Uint8Array, callback?: (err?: Error | null) => void): boolean
    write(data: string | Uint8Array, encoding?: BufferEncoding, callback?: (err?: Error | null) => void): boolean
    /** Flushes pending writes, then closes; `callback` runs on `'close'`. */
    end(callback?: () => void): this
    end(data: string | Uint8Array, callback?: () => void): this
    end(data: string | Uint8Array, encoding?: BufferEncoding, callback?: () => void): this
    /** Closes at once, dropping pending writes. */
    destroy(error?: Error): this
    ref(): this
    unref(): this
    /** Accepted for `net.Socket` compatibility; no effect (the core does its own decoding). */
    setEncoding(encoding?: BufferEncoding): this
    /** Accepted for `net.Socket` compatibility; no effect. */
    setKeepAlive(enable?: boolean, initialDelay?: number): this
    /** Accepted for `net.Socket` compatibility; no effect. */
    setNoDelay(noDelay?: boolean): this
    /** Accepted for `net.Socket` compatibility; no effect: no timeout is armed. */
    setTimeout(timeout: number): this
    /**
     * TLS: the peer's leaf certificate in the shape of Node's `getPeerCertificate()`; an
     * empty object when the peer sent none; `null` on a socket without TLS.
     */
    getPeerCertificate(): PeerCertificate | null
    /** TLS: the negotiated protocol version, such as `'TLSv1.3'`; `null` without TLS. */
    getProtocol(): string | null
  }

  interface PeerCertificate {
    subject: Record<string, string>
    issuer: Record<string, string>
    subjectaltname?: string
    valid_from: string
    valid_to: string
    fingerprint: string
    fingerprint256: string
    serialNumber: string
    raw: Buffer
  }

  /** `ipc.server.server`: the `net.Server` members v9 code uses. Events: `'close'`, `'error'`. */
  interface ServerHandle extends EventEmitter {
    /** `{address, family, port}` for a network server, the path for a Unix socket server, `null` before listening. */
    address(): { address: string; family: string; port: number } | string | null
    close(callback?: (err?: Error) => void): this
    listening: boolean
    maxConnections: number
    ref(): this
    unref(): this
  }

  /** A UDP peer for `server.emit` (UDP handlers receive one, with `family` and `size`, as their last argument). */
  interface SocketConfig {
    address?: string | undefined
    port?: number | undefined
  }

  /** `config.interface`: what a TCP/TLS client binds and resolves with. Falsy fields are unset. */
  interface InterfaceOptions {
    /** Local address to connect from. */
    localAddress?: string | false | undefined
    /** Local port to connect from. */
    localPort?: number | false | undefined
    /** IP family of the host lookup: 4 or 6. */
    family?: 4 | 6 | false | undefined
    /** Kept in the defaults as in v9; node-ipc-rs does not use it. */
    hints?: false | undefined
    /** Kept in the defaults as in v9; node-ipc-rs does not use it. */
    lookup?: false | undefined
  }

  /**
   * `config.tls`. The runtime default is `false` (plain TCP); any object means TLS for
   * `connectToNet`/`serveNet`. Typed as an object, as in @types/node-ipc. Other Node TLS
   * options are not supported by the rustls core: they are ignored with a log line.
   */
  interface TlsOptions {
    /** Client: verify the server (default true). Server with `requestCert`: verify clients. */
    rejectUnauthorized?: boolean | undefined
    /** Path of this side's certificate (PEM). A server without one uses the bundled development pair. */
    public?: string | undefined
    /** Path of this side's private key (PEM). */
    private?: string | undefined
    /** Path(s) of the certificates trusted for the peer; replaces `ca`. */
    trustedConnections?: string | string[] | undefined
    /** Server: ask clients for a certificate. */
    requestCert?: boolean | undefined
    /** Accepted and ignored: rustls negotiates (EC)DHE itself (it is logged once). */
    dhparam?: string | undefined
    /** Private key as PEM text (when `private` is not set); of an array only the first is used. */
    key?: string | Buffer | Array<string | Buffer | { pem: string | Buffer }> | undefined
    /** Certificate chain as PEM text (when `public` is not set). */
    cert?: string | Buffer | Array<string | Buffer> | undefined
    /** Trusted certificates as PEM text (when `trustedConnections` is not set). */
    ca?: string | Buffer | Array<string | Buffer> | undefined
    /** Client: the name to verify the server's certificate against (default: the host). */
    servername?: string | undefined
    /** TLS 1.2 is the lowest version rustls speaks; `'TLSv1'` and `'TLSv1.1'` mean 1.2. */
    minVersion?: 'TLSv1.3' | 'TLSv1.2' | 'TLSv1.1' | 'TLSv1' | undefined
    maxVersion?: 'TLSv1.3' | 'TLSv1.2' | 'TLSv1.1' | 'TLSv1' | undefined
  }

  /** `ipc.config`. Fields are read live unless noted. */
  interface Config {
    /** Default `'app.'`. */
    appspace: string
    /** Default `'/tmp/'`. */
    socketRoot: string
    /** Default `os.hostname()`. */
    id: string
    /** Default `'127.0.0.1'`. */
    networkHost: string
    /** Default 8000. */
    networkPort: number
    readableAll: boolean
    writableAll: boolean
    /** Used for rawBuffer and UDP sends (`Buffer.from(x, encoding)`). Default `'utf8'`. */
    encoding: 'ascii' | 'utf8' | 'utf16le' | 'ucs2' | 'base64' | 'hex'
    rawBuffer: boolean
    sync: boolean
    silent: boolean
    logInColor: boolean
    logDepth: number
    logger(msg: string): void
    maxConnections: number
    /** Milliseconds between reconnect attempts. Default 500. */
    retry: number
    /** Reconnect attempts per disconnect. Default `Infinity`; `false` or 0 means none. */
    maxRetries: boolean | number
    /** Any truthy value stops retrying at the next close. */
    stopRetrying: boolean
    unlink: boolean
    /**
     * The name @types/node-ipc and v9's README use, typed as they declare it. At runtime it
     * is an alias of `interface`, which has the real field types (an address, a port).
     */
    interfaces: {
      localAddress?: boolean | undefined
      localPort?: boolean | undefined
      family?: boolean | undefined
      hints?: boolean | undefined
      lookup?: boolean | undefined
    }
    /** The name v9 reads; `interfaces` is an alias of it. */
    interface?: InterfaceOptions
    tls: TlsOptions
    /** Frame delimiter, `'\f'` by default; any non-empty string. Captured when a client or server is created. */
    delimiter?: string
    /** Always `''` (as in v9). */
    IPType?: string
    /**
     * Largest accepted JSON frame in bytes, without its delimiter (default 64 MiB). A larger
     * one raises `'error'` with code `'ERR_IPC_MESSAGE_TOO_LARGE'` and closes that
     * connection. `Infinity` disables the limit.
     */
    maxMessageSize?: number
    /**
     * The event types a peer may send (unset: all, as in v9). A frame of another type is
     * dropped, never dispatched, and raises `'error'` with code
     * `'ERR_IPC_EVENT_NOT_ALLOWED'` (`err.type` is the refused type); the connection stays
     * open. Read when a server starts or a client connects. Refused with
     * `'ERR_IPC_INVALID_CONFIG'` together with `rawBuffer` (raw mode has no event types).
     */
    allowedEvents?: readonly string[] | ReadonlySet<string>
    /**
     * Unix socket servers: the socket file's permission bits (e.g. `0o600`), in place
     * before the file's name exists, whatever the umask (no other user can connect in
     * between, unlike a `chmod` after `start`). `readableAll`/`writableAll` add nothing
     * then. An invalid value, Windows pipes and cluster workers raise `'error'` with code
     * `'ERR_IPC_INVALID_CONFIG'` at start.
     */
    socketMode?: number
    /**
     * node-ipc-rs: decides about each accepted client before the server emits `'connect'`
     * (README, "Verifying clients"). Only `true` (or a promise of `true`) admits; anything
     * else, a throw, a rejection, or no answer within `verifyClientTimeout` refuses: the
     * connection is closed unread and the server emits `'error'` with a
     * `ClientRefusedError`. Read when the server starts.
     */
    verifyClient?: ((info: ClientInfo) => boolean | PromiseLike<boolean>) | null | false
    /**
     * node-ipc-rs: a local client whose uid is not listed is refused before `'connect'`;
     * so is any client without credentials (TCP, TLS). Checked before `verifyClient`.
     * Read when the server starts.
     */
    allowedUids?: readonly number[] | null | false
    /** node-ipc-rs: milliseconds an asynchronous `verifyClient` may take (default 5000). */
    verifyClientTimeout?: number
    /**
     * Bytes of incomplete frames all of a server's connections (a client's connection) may
     * hold together (default 256 MiB). Past it the connection holding the most is closed
     * with `'error'` code `'ERR_IPC_MEMORY_LIMIT'`. `0` or `Infinity` turns it off.
     */
    maxBufferedBytes?: number
    /**
     * Milliseconds a frame may stay incomplete (off by default); past it the connection is
     * closed with `'error'` code `'ERR_IPC_FRAME_TIMEOUT'`. `0` or `Infinity`: off.
     */
    frameTimeout?: number
    /**
     * Bytes that may be queued towards one peer (off by default), a sync-mode client's
     * emits waiting for replies included; past it the connection is closed with `'error'`
     * code `'ERR_IPC_PENDING_LIMIT'`. `0` or `Infinity`: off.
     */
    maxPendingBytes?: number
  }

  /**
   * What `config.verifyClient` is given: a local client's credentials (an empty object
   * where the OS gives none), or a network client's address, and over TLS its certificate.
   */
  interface ClientInfo {
    /** Local sockets: the client process, as `socket.peer` has it. */
    pid?: number
    /** Windows pipes: the client's user as a string SID, where its token may be read. */
    sid?: string
    uid?: number
    gid?: number
    /** Network clients: `remoteAddress`, `remotePort`, `remoteFamily` as on the socket. */
    address?: string
    port?: number
    family?: string
    /** TLS: whether the client's certificate was verified, and if not why. */
    authorized?: boolean
    authorizationError?: string
    /** TLS: the client's certificate, as `getPeerCertificate()` gives it; absent if it sent none. */
    certificate?: PeerCertificate
  }

  /** The server's `'error'` for a client that `verifyClient` or `allowedUids` refused. */
  interface ClientRefusedError extends Error {
    code: 'ERR_IPC_CLIENT_REFUSED'
    /** Why, as a short code. */
    reason:
      | 'uid-not-allowed'
      | 'no-credentials'
      | 'verifier-refused'
      | 'verifier-threw'
      | 'verifier-rejected'
      | 'verifier-timeout'
    /** A local client's credentials. */
    peer?: PeerCredentials
    /** A network client's address and port. */
    address?: string
    port?: number
    /** What the verifier threw or rejected with. */
    cause?: unknown
  }

  /** The `IPC` class: `new ipc.IPC()` is an independent instance (without `IPC` or `default`). */
  interface IPCConstructor {
    new (): IPC
    readonly prototype: IPC
  }

  /**
   * An instance of the singleton's class, `new IPCModule()` (node-ipc 10–12 exported the
   * class): an independent `IPC` instance that also has the base class as `IPC`.
   */
  interface IPCModule extends IPC {
    /** The base class: an enumerable, read-only own property. */
    readonly IPC: IPCConstructor
  }

  /** The singleton's class: `new IPCModule()` has `IPC`, but not `default` or `IPCModule`. */
  interface IPCModuleConstructor {
    new (): IPCModule
    readonly prototype: IPCModule
  }

  /**
   * The module itself (`typeof ipc`): the singleton, an `IPCModule` instance, with the
   * non-enumerable `default` and `IPCModule`. Those two are always there at runtime but
   * optional in the type, like the other additions to @types' shape: a value of that shape
   * (`IPC & { IPC }`) is still accepted where `typeof ipc` is expected.
   */
  interface IPCSingleton extends IPCModule {
    /**
     * The base class. Read-only at runtime (assigning to it throws in strict code); not
     * `readonly` in the type, as in @types/node-ipc.
     */
    IPC: IPCConstructor
    /** The module itself, for `require('node-ipc').default` (v10–v12 style code). */
    readonly default?: IPCSingleton
    /** The singleton's class, for `require('node-ipc').IPCModule` (v10–v12 style code). */
    readonly IPCModule?: IPCModuleConstructor
  }
}

declare const ipc: ipc.IPCSingleton
export = ipc
