//! The napi surface: one class, `NativeEndpoint`, that a JS server or client drives.
//! It converts types and owns the threadsafe function's lifetime; protocol logic lives in
//! the core (framing, queues) and in the JS shim (v9 semantics).

mod batch;
mod js_thread;
#[cfg(unix)]
mod poll_conn;
#[cfg(windows)]
#[path = "poll_conn_none.rs"]
mod poll_conn;
mod teardown;
mod text;
#[cfg(unix)]
mod uv;
mod writer;

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::endpoint::{Endpoint, EndpointOptions};
use crate::mailbox::Mailbox;
use crate::tls::{ClientTls, ServerTls, TlsFailure, TlsOptions};
use crate::transport::{ConnectTarget, ListenTarget, Stream, TcpConnectOptions};
use crate::udp::UdpTarget;
use batch::JsBatch;
use js_thread::JsSide;
use text::{JsonFrame, Utf8Text};

/// Queued payload above which readers pause until JS has taken the batch (ARCHITECTURE.md, "Batching across the boundary").
const READ_HIGH_WATER: usize = 2 << 20;

/// Plain Unix and TCP connections are read and written on the JS thread
/// (`poll_conn`) unless `NODE_IPC_RS_IO=tokio`, which keeps every stream on tokio tasks:
/// the path TLS always takes, and the only one on platforms without poll handles for
/// their local sockets. The tests run a subset that way so that path stays covered.
fn plain_streams_on_js_thread() -> bool {
  static ON_JS_THREAD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
  *ON_JS_THREAD.get_or_init(|| cfg!(unix) && std::env::var("NODE_IPC_RS_IO").map_or(true, |io| io != "tokio"))
}

/// Our own duplicate of descriptor `fd`, so that Node closing its handle leaves ours open.
#[cfg(unix)]
fn adoptable(fd: i32) -> Result<Stream> {
  Stream::from_unix_fd_number(fd).map_err(|err| Error::new(Status::InvalidArg, err.to_string()))
}

/// Node's cluster hands Windows workers no descriptor (a socket's `fd` is -1 there).
#[cfg(windows)]
fn adoptable(_fd: i32) -> Result<Stream> {
  Err(Error::new(Status::InvalidArg, "adopting a descriptor is not supported on Windows"))
}

#[napi]
pub struct NativeEndpoint {
  side: Rc<JsSide>,
}

#[napi]
impl NativeEndpoint {
  /// Events reach JS two ways (see `batch.rs` for their form): batches from tokio tasks
  /// go to the `onEvents` callback given to `listen*`/`connect*`/`bindUdp`/`adoptFd`, as
  /// flat arrays `[kind, connId, arg, ...]`, after each of which JS calls `rearm()` from a
  /// later turn of its event loop; connections read on the JS thread call the function
  /// given to `setDirect` with `(kind, connId, arg)`.
  #[napi(catch_unwind, constructor)]
  pub fn new(
    env: &Env,
    delimiter: &[u8],
    max_message_size: f64,
    raw: bool,
    limits: JsLimits,
  ) -> Result<Self> {
    if delimiter.is_empty() {
      return Err(Error::new(Status::InvalidArg, "delimiter must not be empty"));
    }
    let max_message_size =
      (max_message_size.is_finite() && max_message_size >= 0.0).then_some(max_message_size as usize);
    let options = EndpointOptions {
      delimiter: delimiter.to_vec(),
      max_message_size,
      max_buffered_bytes: positive(limits.max_buffered_bytes).map(|n| n as usize),
      frame_timeout: positive(limits.frame_timeout)
        .map(|ms| std::time::Duration::from_micros((ms * 1000.0) as u64)),
      max_pending_bytes: positive(limits.max_pending_bytes).map(|n| n as usize),
      raw,
      hand_off_plain_streams: plain_streams_on_js_thread(),
      ..EndpointOptions::default()
    };
    let side = JsSide::new(env, Endpoint::new(options), Mailbox::new(READ_HIGH_WATER))?;
    Ok(Self { side })
  }

  /// The function connections read on the JS thread call; held weakly, so it must stay
  /// reachable from the endpoint's owner.
  #[napi(catch_unwind, ts_args_type = "onEvent: (kind: number, conn: number, arg: unknown) => void")]
  pub fn set_direct(&self, on_event: Function<(u32, u32, Unknown), ()>) -> Result<()> {
    self.side.set_direct_callback(&on_event)
  }

  fn endpoint(&self) -> &Arc<Endpoint> {
    &self.side.endpoint
  }

  /// JS is ready for more events: the ones queued since the last batch, or null (and the
  /// next event will call `onEvents` again).
  #[napi(catch_unwind)]
  pub fn rearm(&self) -> Option<JsBatch> {
    self.side.mailbox().rearm().map(|events| self.side.absorb(events))
  }

  #[napi(catch_unwind)]
  pub fn listen_unix(
    &self,
    on_events: Function<JsBatch, ()>,
    path: String,
    readable_all: bool,
    writable_all: bool,
    socket_mode: Option<u32>,
  ) -> Result<()> {
    let courier = self.side.courier(&on_events)?;
    self.side.server_started();
    within_runtime_if_available(|| {
      self
        .endpoint()
        .listen(ListenTarget::Unix { path, readable_all, writable_all, mode: socket_mode }, courier)
    });
    Ok(())
  }

  /// With `tls`, a TLS server; an unusable TLS configuration throws with `code` set.
  #[napi(catch_unwind)]
  pub fn listen_tcp(
    &self,
    on_events: Function<JsBatch, ()>,
    host: String,
    port: u16,
    tls: Option<JsTlsOptions>,
  ) -> Result<()> {
    let tls = match tls {
      Some(options) => Some(Arc::new(ServerTls::new(&options.into()).map_err(tls_error)?)),
      None => None,
    };
    let courier = self.side.courier(&on_events)?;
    self.side.server_started();
    within_runtime_if_available(|| self.endpoint().listen(ListenTarget::Tcp { host, port, tls }, courier));
    Ok(())
  }

  /// A UDP socket (`udp4`, or `udp6` when `ipv6`); see `src/udp.rs`.
  #[napi(catch_unwind)]
  pub fn bind_udp(
    &self,
    on_events: Function<JsBatch, ()>,
    host: String,
    port: u16,
    ipv6: bool,
  ) -> Result<()> {
    let courier = self.side.courier(&on_events)?;
    self.side.server_started();
    within_runtime_if_available(|| self.endpoint().bind_udp(UdpTarget { host, port, ipv6 }, courier));
    Ok(())
  }

  /// Queues one datagram; false once the UDP socket is closed.
  #[napi(catch_unwind)]
  pub fn send_udp(&self, host: String, port: u16, data: &[u8]) -> bool {
    self.endpoint().send_udp(host, port, Bytes::copy_from_slice(data))
  }

  #[napi(catch_unwind)]
  pub fn close_udp(&self) {
    within_runtime_if_available(|| self.endpoint().close_udp());
  }

  #[napi(catch_unwind)]
  pub fn stop_listening(&self) {
    within_runtime_if_available(|| self.endpoint().stop_listening());
  }

  /// Takes over a Unix socket accepted by Node's cluster module; the caller closes its copy.
  #[napi(catch_unwind)]
  pub fn adopt_fd(&self, on_events: Function<JsBatch, ()>, fd: i32) -> Result<()> {
    let stream = adoptable(fd)?;
    let courier = self.side.courier(&on_events)?;
    self.side.update_keep_alive();
    within_runtime_if_available(|| self.endpoint().adopt(stream, &courier))
      .map_err(|err| Error::new(Status::GenericFailure, err.to_string()))
  }

  /// While on, accepted connections are held unread until `settleClient` (the server's
  /// `verifyClient`/`allowedUids`, README "Verifying clients"); each is reported as a
  /// VERIFY event with its peer.
  #[napi(catch_unwind)]
  pub fn set_verifying(&self, on: bool) {
    self.endpoint().set_verifying(on);
  }

  /// Admits (it starts, and is reported as CONNECTED) or refuses (closed unread, with no
  /// further event) a connection a VERIFY event reported; false if it is not waiting.
  #[napi(catch_unwind)]
  pub fn settle_client(&self, conn: u32, admit: bool) -> bool {
    if admit {
      // Until JS hears of it (CONNECTED) it counts as a client connection being set up, so
      // that the event is not lost to a process whose server stopped meanwhile. Marked
      // before it starts: the held connection's courier keeps the threadsafe function (to
      // ref) alive until then, and starting may drop the last one.
      self.side.connecting(conn);
    }
    let settled = within_runtime_if_available(|| self.endpoint().settle(conn, admit));
    if admit && !settled {
      self.side.not_connecting(conn);
    }
    settled
  }

  #[napi(catch_unwind)]
  pub fn connect_unix(&self, on_events: Function<JsBatch, ()>, path: String) -> Result<u32> {
    let courier = self.side.courier(&on_events)?;
    let conn = within_runtime_if_available(|| self.endpoint().connect(ConnectTarget::Unix { path }, courier));
    self.side.connecting(conn);
    Ok(conn)
  }

  #[napi(catch_unwind)]
  #[allow(clippy::too_many_arguments)]
  pub fn connect_tcp(
    &self,
    on_events: Function<JsBatch, ()>,
    host: String,
    port: u16,
    local_address: Option<String>,
    local_port: Option<u16>,
    family: Option<u8>,
    tls: Option<JsTlsOptions>,
  ) -> Result<u32> {
    let tls = match tls {
      Some(options) => Some(Arc::new(ClientTls::new(&options.into(), &host).map_err(tls_error)?)),
      None => None,
    };
    let courier = self.side.courier(&on_events)?;
    let options = TcpConnectOptions { local_address, local_port, family, tls };
    let conn = within_runtime_if_available(|| {
      self.endpoint().connect(ConnectTarget::Tcp { host, port, options }, courier)
    });
    self.side.connecting(conn);
    Ok(conn)
  }

  /// A function `(conn, text) => pending` that queues a string (JSON frames) for one
  /// connection and returns the bytes now pending for it, or -1 when the connection is
  /// gone and the bytes were dropped (see `writer.rs` for why it is not a method).
  #[napi(catch_unwind, ts_return_type = "(conn: number, text: string) => number")]
  pub fn text_writer(&self, env: &Env) -> Result<Unknown<'_>> {
    // SAFETY: this endpoint's env, on its thread.
    unsafe {
      let function = writer::make(env.raw(), &self.side)?;
      Unknown::from_napi_value(env.raw(), function)
    }
  }

  #[napi(catch_unwind)]
  pub fn write_buffer(&self, conn: u32, data: &[u8]) -> f64 {
    pending_or_dropped(self.side.write_slice(conn, data))
  }

  /// A frame whose large strings the core writes as JSON literals (`text::JsonFrame`).
  /// Returns what `write` returns, or -2 when the shim must use `JSON.stringify` instead.
  #[napi(catch_unwind)]
  pub fn write_json(&self, conn: u32, frame: JsonFrame) -> f64 {
    match frame.0 {
      Some(bytes) => pending_or_dropped(self.side.write(conn, Bytes::from(bytes))),
      None => USE_JSON_STRINGIFY,
    }
  }

  /// `broadcast` for a `text::JsonFrame`; false when the shim must use `JSON.stringify`.
  #[napi(catch_unwind)]
  pub fn broadcast_json(&self, frame: JsonFrame) -> bool {
    match frame.0 {
      Some(bytes) => {
        self.broadcast_bytes(Bytes::from(bytes));
        true
      }
      None => false,
    }
  }

  /// Queues the same string for every connection, serialised and copied once.
  #[napi(catch_unwind)]
  pub fn broadcast(&self, data: Utf8Text) {
    self.broadcast_bytes(Bytes::from(data.0));
  }

  #[napi(catch_unwind)]
  pub fn broadcast_buffer(&self, data: &[u8]) {
    self.broadcast_bytes(Bytes::copy_from_slice(data));
  }

  /// Queued, not written: a burst of broadcasts in one JS turn goes out in few writes per
  /// connection when the sockets report writable.
  fn broadcast_bytes(&self, data: Bytes) {
    self.endpoint().write_all(data);
    self.side.sync_all();
  }

  /// Flushes what is queued, then closes.
  #[napi(catch_unwind)]
  pub fn end(&self, conn: u32) {
    self.endpoint().end(conn);
    self.side.sync_conn(conn);
  }

  /// What is queued goes out as far as the socket takes it now; the rest is dropped.
  #[napi(catch_unwind)]
  pub fn destroy(&self, conn: u32) {
    self.side.flush_now(conn);
    self.endpoint().destroy(conn);
    self.side.sync_conn(conn);
  }

  #[napi(catch_unwind)]
  pub fn set_raw(&self, raw: bool) {
    self.endpoint().set_raw(raw);
  }

  /// `max` is clamped to u32 (Infinity or negative means unlimited).
  #[napi(catch_unwind)]
  pub fn set_max_connections(&self, max: f64) {
    let max = if max.is_finite() && max >= 0.0 { max.min(u32::MAX as f64) as u32 } else { u32::MAX };
    self.endpoint().set_max_connections(max);
  }

  /// `server.ref()`/`unref()`: the listener or UDP socket only, as in Node.
  #[napi(catch_unwind)]
  pub fn ref_server(&self, refed: bool) {
    self.side.set_server_ref(refed);
  }

  /// `socket.ref()`/`unref()` for one connection.
  #[napi(catch_unwind)]
  pub fn ref_conn(&self, conn: u32, refed: bool) {
    self.side.set_conn_ref(conn, refed);
  }
}

/// The memory and time limits as lib/native.js resolved them (README, "Options node-ipc-rs
/// adds"): 0, Infinity or NaN turn one off.
#[napi(object)]
pub struct JsLimits {
  pub max_buffered_bytes: f64,
  /// Milliseconds.
  pub frame_timeout: f64,
  pub max_pending_bytes: f64,
}

/// A limit that is on: finite and above 0.
fn positive(value: f64) -> Option<f64> {
  (value.is_finite() && value > 0.0).then_some(value)
}

/// TLS settings as the JS shim resolved them (files already read; PEM text).
#[napi(object)]
pub struct JsTlsOptions {
  pub cert: Option<Buffer>,
  pub key: Option<Buffer>,
  pub ca: Option<Vec<Buffer>>,
  pub request_cert: Option<bool>,
  pub reject_unauthorized: Option<bool>,
  pub servername: Option<String>,
  pub min_version: Option<String>,
  pub max_version: Option<String>,
  /// Milliseconds.
  pub handshake_timeout: Option<f64>,
}

impl From<JsTlsOptions> for TlsOptions {
  fn from(js: JsTlsOptions) -> Self {
    TlsOptions {
      cert: js.cert.map(|b| b.to_vec()),
      key: js.key.map(|b| b.to_vec()),
      ca: js.ca.unwrap_or_default().into_iter().map(|b| b.to_vec()).collect(),
      request_cert: js.request_cert.unwrap_or(false),
      // Node's default: verify unless told not to.
      reject_unauthorized: js.reject_unauthorized.unwrap_or(true),
      servername: js.servername,
      min_version: js.min_version,
      max_version: js.max_version,
      handshake_timeout: js
        .handshake_timeout
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| std::time::Duration::from_millis(ms as u64)),
    }
  }
}

fn pending_or_dropped(pending: Option<usize>) -> f64 {
  pending.map_or(WRITE_DROPPED, |p| p as f64)
}

fn tls_error(failure: TlsFailure) -> Error {
  Error::new(Status::InvalidArg, format!("{}: {}", failure.code, failure.message))
}

/// Writes what every connection of this thread has queued, as far as the sockets take it
/// now: lib/socket.js calls it on `process.exit()`, which runs no further turn of the loop.
#[allow(dead_code)] // called from JS only (napi-derive registers it in the addon build)
#[napi(catch_unwind)]
pub fn flush_pending() {
  js_thread::flush_all_now();
}

/// Panics when NODE_IPC_RS_PANIC_TEST is set in the environment, and does nothing otherwise:
/// a test's way to show that a panic in a call from JS reaches JS as an error (every export
/// catches them) instead of aborting Node.
#[allow(dead_code)] // called from JS only (napi-derive registers it in the addon build)
#[napi(catch_unwind)]
pub fn panic_check() {
  if std::env::var_os("NODE_IPC_RS_PANIC_TEST").is_some() {
    panic!("node-ipc-rs: the panic test");
  }
}

/// What `write` returns when the connection is gone and the bytes were dropped.
const WRITE_DROPPED: f64 = -1.0;
/// What `writeJson` returns when the shim must use `JSON.stringify` instead.
const USE_JSON_STRINGIFY: f64 = -2.0;

/// Every value lib/ shares with the core, from its one definition here: the event kinds
/// (`batch.rs`), the named results of the write calls, the limits and thresholds. lib/
/// reads it once, when it first loads the addon.
#[allow(dead_code)] // called from JS only (napi-derive registers it in the addon build)
#[napi(
  catch_unwind,
  ts_return_type = "{ kinds: Record<string, number>, writeDropped: number, useJsonStringify: number, largeString: number, defaultMaxMessageSize: number, defaultMaxBufferedBytes: number, writeHighWater: number, largeStringMark: string }"
)]
pub fn contract(env: &Env) -> Result<Object<'_>> {
  let mut kinds = Object::new(env)?;
  for (name, kind) in batch::KINDS {
    kinds.set(name, kind)?;
  }
  let mut contract = Object::new(env)?;
  contract.set("kinds", kinds)?;
  contract.set("writeDropped", WRITE_DROPPED)?;
  contract.set("useJsonStringify", USE_JSON_STRINGIFY)?;
  contract.set("largeString", crate::json_text::LARGE_STRING as f64)?;
  contract.set("defaultMaxMessageSize", crate::registry::DEFAULT_MAX_MESSAGE_SIZE as f64)?;
  contract.set("defaultMaxBufferedBytes", crate::registry::DEFAULT_MAX_BUFFERED_BYTES as f64)?;
  contract.set("writeHighWater", crate::registry::WRITE_HIGH_WATER as f64)?;
  // See `json_text::process_mark`.
  contract.set("largeStringMark", crate::json_text::process_mark())?;
  Ok(contract)
}

/// One tokio worker thread: the JS thread already does the direct writes and the JS
/// work, and on small machines more workers mostly add context switches.
#[napi_derive::module_init]
fn init_runtime() {
  if let Ok(runtime) = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
    napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
  }
}
