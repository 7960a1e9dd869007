//! What a `NativeEndpoint` keeps on its JS thread: the connections it drives there, what
//! keeps the event loop alive on its behalf, and the way to call its JS callback directly.
//!
//! Two ways carry events to JS (ARCHITECTURE.md, "Threads, and who owns what"):
//! - tokio tasks (listening, connecting, TLS, UDP) queue them in the mailbox and wake JS
//!   through a threadsafe function, which JS drains in batches;
//! - plain connections ([`PollConn`]) are read on the JS thread and call JS at once,
//!   through `napi_make_callback`, as Node's own sockets do (it runs `process.nextTick`
//!   and promise callbacks after each delivery).
//!
//! Keep-alive follows `net`: each connection's poll handle is ref'd or not on its own; the
//! threadsafe function is ref'd while the server, or a connection that lives on tokio, is
//! open and ref'd. When a Node environment goes away (a Worker ends), its cleanup hook
//! closes everything its endpoints opened.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

use super::batch::{self, JsBatch};
use super::poll_conn::{PollConn, PollOwner};
use super::teardown;
use crate::endpoint::Endpoint;
use crate::errors::IoFailure;
use crate::mailbox::{ConnId, Courier, Event, Mailbox, Wake};

pub(super) type EventsTsfn = ThreadsafeFunction<(), (), JsBatch, Status, false>;

/// While any transport task holds this, the threadsafe function can wake JS.
pub(super) struct JsWaker(EventsTsfn);

impl Wake for JsWaker {
  fn wake(&self) {
    self.0.call((), ThreadsafeFunctionCallMode::NonBlocking);
  }
}

/// What is open, as far as JS has been told; it decides whether the threadsafe function
/// keeps the loop alive.
struct Life {
  /// Listeners and UDP sockets started and not yet reported closed.
  servers: u32,
  server_refed: bool,
  /// Connections that live on tokio tasks (connecting, TLS), and whether each is ref'd.
  tokio_conns: HashMap<ConnId, bool>,
  polled: HashMap<ConnId, Rc<PollConn>>,
}

pub(super) struct JsSide {
  env: sys::napi_env,
  /// This thread's libuv loop (`uv_loop_t`), where connections read here are watched.
  uv_loop: *mut std::ffi::c_void,
  key: u64,
  pub endpoint: Arc<Endpoint>,
  mailbox: Arc<Mailbox>,
  /// The JS function connections read on this thread call: a weak reference, strong while
  /// such connections exist. An endpoint with nothing open holds nothing in JS, so its
  /// client or server can be garbage collected.
  callback: Cell<sys::napi_ref>,
  life: RefCell<Life>,
  waker: RefCell<std::sync::Weak<JsWaker>>,
  tsfn_refed: Cell<bool>,
}

thread_local! {
  /// This thread's endpoints, for the threadsafe function's callback and for teardown.
  static SIDES: RefCell<(u64, HashMap<u64, Weak<JsSide>>)> = RefCell::new((1, HashMap::new()));
}

impl JsSide {
  pub fn new(env: &Env, endpoint: Arc<Endpoint>, mailbox: Arc<Mailbox>) -> Result<Rc<Self>> {
    let mut uv_loop = std::ptr::null_mut();
    // SAFETY: a valid env on its own thread.
    check_status!(unsafe { sys::napi_get_uv_event_loop(env.raw(), &mut uv_loop) }, "no event loop")?;
    teardown::watch_env(env.raw(), shutdown_all)?;
    let key = SIDES.with(|sides| {
      let mut sides = sides.borrow_mut();
      sides.0 += 1;
      sides.0
    });
    let side = Rc::new(JsSide {
      env: env.raw(),
      uv_loop: uv_loop.cast(),
      key,
      endpoint,
      mailbox,
      callback: Cell::new(std::ptr::null_mut()),
      life: RefCell::new(Life {
        servers: 0,
        server_refed: true,
        tokio_conns: HashMap::new(),
        polled: HashMap::new(),
      }),
      waker: RefCell::new(std::sync::Weak::new()),
      tsfn_refed: Cell::new(true),
    });
    SIDES.with(|sides| sides.borrow_mut().1.insert(key, Rc::downgrade(&side)));
    Ok(side)
  }

  pub fn mailbox(&self) -> &Arc<Mailbox> {
    &self.mailbox
  }

  /// The function direct deliveries call (see `callback`); set once, before anything opens.
  pub fn set_direct_callback(&self, on_event: &Function<(u32, u32, Unknown), ()>) -> Result<()> {
    if !self.callback.get().is_null() {
      return Err(Error::new(Status::InvalidArg, "the direct callback is already set"));
    }
    let mut reference = std::ptr::null_mut();
    // SAFETY: a live function value of this env; count 0 is a weak reference.
    check_status!(unsafe { sys::napi_create_reference(self.env, on_event.raw(), 0, &mut reference) })?;
    self.callback.set(reference);
    Ok(())
  }

  /// A courier for transport tasks: the threadsafe function made from `on_events` when none
  /// is running.
  pub fn courier(&self, on_events: &Function<JsBatch, ()>) -> Result<Courier> {
    let existing = self.waker.borrow().upgrade();
    let waker = match existing {
      Some(waker) => waker,
      None => {
        let (mailbox, key) = (self.mailbox.clone(), self.key);
        let tsfn: EventsTsfn = on_events
          .build_threadsafe_function::<()>()
          .callee_handled::<false>()
          .build_callback(move |_| {
            let batch = teardown::guard("event batch", || absorb(key, mailbox.take()));
            Ok(batch.unwrap_or(JsBatch(Vec::new())))
          })?;
        let waker = Arc::new(JsWaker(tsfn));
        *self.waker.borrow_mut() = Arc::downgrade(&waker);
        // A new threadsafe function starts ref'd; the next update sets it as it should be.
        self.tsfn_refed.set(true);
        waker
      }
    };
    Ok(Courier::new(self.mailbox.clone(), waker))
  }

  /// A listener or UDP socket was started; it counts until `ServerClosed` reaches JS. A
  /// new server is ref'd, as a new `net.Server` is.
  pub fn server_started(&self) {
    {
      let mut life = self.life.borrow_mut();
      life.servers += 1;
      life.server_refed = true;
    }
    self.update_keep_alive();
  }

  /// A client connection was started on tokio; it counts until it is handed off or closed.
  pub fn connecting(&self, conn: ConnId) {
    self.life.borrow_mut().tokio_conns.insert(conn, true);
    self.update_keep_alive();
  }

  /// A connection marked by [`JsSide::connecting`] that did not start after all.
  pub fn not_connecting(&self, conn: ConnId) {
    self.life.borrow_mut().tokio_conns.remove(&conn);
    self.update_keep_alive();
  }

  pub fn set_server_ref(&self, refed: bool) {
    self.life.borrow_mut().server_refed = refed;
    self.update_keep_alive();
  }

  /// `socket.ref()`/`unref()` for one connection.
  pub fn set_conn_ref(&self, conn: ConnId, refed: bool) {
    let polled = {
      let mut life = self.life.borrow_mut();
      if let Some(r) = life.tokio_conns.get_mut(&conn) {
        *r = refed;
      }
      life.polled.get(&conn).cloned()
    };
    if let Some(polled) = polled {
      polled.set_ref(refed);
    }
    self.update_keep_alive();
  }

  pub fn update_keep_alive(&self) {
    let want = {
      let life = self.life.borrow();
      (life.servers > 0 && life.server_refed) || life.tokio_conns.values().any(|refed| *refed)
    };
    if want == self.tsfn_refed.get() {
      return;
    }
    if let Some(waker) = self.waker.borrow().upgrade() {
      // SAFETY: on the JS thread of the env that made the threadsafe function.
      unsafe {
        if want {
          sys::napi_ref_threadsafe_function(self.env, waker.0.raw());
        } else {
          sys::napi_unref_threadsafe_function(self.env, waker.0.raw());
        }
      }
    }
    self.tsfn_refed.set(want);
  }

  fn polled(&self, conn: ConnId) -> Option<Rc<PollConn>> {
    self.life.borrow().polled.get(&conn).cloned()
  }

  /// Queues bytes for one connection; what the socket does not take at once waits for it
  /// to become writable. The bytes now pending, or None when the connection is gone.
  pub fn write(&self, conn: ConnId, bytes: bytes::Bytes) -> Option<usize> {
    let pending = self.endpoint.write(conn, bytes);
    self.after_write(conn, pending)
  }

  /// As [`JsSide::write`], copying only what the socket does not take at once.
  pub fn write_slice(&self, conn: ConnId, bytes: &[u8]) -> Option<usize> {
    let pending = self.endpoint.write_slice(conn, bytes);
    self.after_write(conn, pending)
  }

  fn after_write(&self, conn: ConnId, pending: Option<usize>) -> Option<usize> {
    // Bytes queued, or dropped: the connection may have closed (`maxPendingBytes`).
    if pending != Some(0) {
      self.sync_conn(conn);
    }
    pending
  }

  /// After JS queued bytes for, ended or destroyed a connection: a connection read on this
  /// thread watches for writability or closes.
  pub fn sync_conn(&self, conn: ConnId) {
    if let Some(polled) = self.polled(conn) {
      polled.sync();
    }
  }

  /// After a broadcast queued bytes for every connection.
  pub fn sync_all(&self) {
    for polled in self.all_polled() {
      polled.sync();
    }
  }

  fn all_polled(&self) -> Vec<Rc<PollConn>> {
    self.life.borrow().polled.values().cloned().collect()
  }

  /// Writes what is queued for `conn` as far as its socket takes it now: before a destroy,
  /// as a `net.Socket` has written what it could before it is destroyed.
  pub fn flush_now(&self, conn: ConnId) {
    match self.polled(conn) {
      Some(polled) => polled.flush_now(),
      // A plain stream on tokio tasks writes straight too; TLS cannot (its task encrypts).
      None => self.endpoint.flush_now(conn),
    }
  }

  /// Mailbox events on their way to JS: handed-off connections start being watched here
  /// (and reach JS as `Connected`), and what they say about open things is noted.
  pub fn absorb(self: &Rc<Self>, events: Vec<Event>) -> JsBatch {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
      match event {
        Event::HandedOff { conn, peer, socket } => {
          let refed = self.life.borrow_mut().tokio_conns.remove(&conn).unwrap_or(true);
          out.push(Event::Connected { conn, peer });
          // The endpoint forgets a handed-off connection only once its owner here drops
          // it, so this always finds it; if not, JS still hears of a close.
          let Some(shared) = self.endpoint.conn(conn) else {
            out.push(Event::Closed { conn, had_error: false });
            continue;
          };
          if let Err(err) = self.start_polled(conn, socket.0, shared, refed) {
            self.endpoint.forget(conn);
            out.push(Event::Error { conn: Some(conn), failure: IoFailure::new(&err, "read", None, None) });
            out.push(Event::Closed { conn, had_error: true });
          }
        }
        Event::Connected { conn, .. } => {
          self.life.borrow_mut().tokio_conns.entry(conn).or_insert(true);
          out.push(event);
        }
        Event::Closed { conn, .. } => {
          self.life.borrow_mut().tokio_conns.remove(&conn);
          out.push(event);
        }
        Event::ServerClosed => {
          let mut life = self.life.borrow_mut();
          life.servers = life.servers.saturating_sub(1);
          drop(life);
          out.push(event);
        }
        other => out.push(other),
      }
    }
    self.update_keep_alive();
    JsBatch(out)
  }

  fn start_polled(
    self: &Rc<Self>,
    conn: ConnId,
    socket: socket2::Socket,
    shared: Arc<crate::registry::ConnShared>,
    refed: bool,
  ) -> std::io::Result<()> {
    let context =
      self.open_direct_calls().ok_or_else(|| std::io::Error::other("the endpoint's callback is gone"))?;
    let owner: Rc<dyn PollOwner> = self.clone();
    match PollConn::start(
      owner,
      context,
      self.uv_loop,
      socket,
      shared,
      self.endpoint.registry().clone(),
      refed,
    ) {
      Ok(polled) => {
        self.life.borrow_mut().polled.insert(conn, polled.clone());
        polled.sync();
        Ok(())
      }
      Err(err) => {
        self.close_direct_calls(context);
        Err(err)
      }
    }
  }

  /// The callback reference is strong while connections call it; each connection runs its
  /// callbacks in an async context of its own. None if JS has dropped the callback.
  fn open_direct_calls(&self) -> Option<sys::napi_async_context> {
    let reference = self.callback.get();
    if reference.is_null() {
      return None;
    }
    let mut count = 0;
    let mut context = std::ptr::null_mut();
    // SAFETY: on the env's thread; the reference and the name are valid.
    unsafe {
      let mut name = std::ptr::null_mut();
      let named = sys::napi_create_string_latin1(self.env, c"node-ipc-rs".as_ptr(), 11, &mut name);
      if named != sys::Status::napi_ok
        || sys::napi_async_init(self.env, std::ptr::null_mut(), name, &mut context) != sys::Status::napi_ok
      {
        return None;
      }
      if sys::napi_reference_ref(self.env, reference, &mut count) != sys::Status::napi_ok {
        sys::napi_async_destroy(self.env, context);
        return None;
      }
    }
    Some(context)
  }

  fn close_direct_calls(&self, context: sys::napi_async_context) {
    if teardown::tearing_down() {
      // The environment frees its contexts and references itself.
      return;
    }
    let mut count = 0;
    // SAFETY: on the env's thread; both were made by open_direct_calls.
    unsafe {
      sys::napi_async_destroy(self.env, context);
      sys::napi_reference_unref(self.env, self.callback.get(), &mut count);
    }
  }

  /// The environment is going away: close everything this endpoint opened, at once.
  fn shutdown(&self) {
    self.endpoint.shutdown();
    for conn in self.all_polled() {
      conn.close(false);
    }
    let reference = self.callback.replace(std::ptr::null_mut());
    if !reference.is_null() {
      // SAFETY: the env is still whole while its cleanup hooks run.
      unsafe { sys::napi_delete_reference(self.env, reference) };
    }
  }
}

impl PollOwner for JsSide {
  /// Calls the direct callback from a libuv callback (no JS on the stack): with
  /// `(kind, conn, arg)` for a single event, or with the flat array of several, which JS
  /// delivers one by one and, if a handler throws, goes on with from the next tick (as
  /// for batches from the mailbox). `process.nextTick` callbacks run after the call, as
  /// after a Node socket's. A throwing handler becomes an uncaught exception, as a throwing
  /// `'data'` listener of a Node socket does.
  fn deliver(&self, context: sys::napi_async_context, events: Vec<Event>) {
    if events.is_empty() || teardown::tearing_down() {
      return;
    }
    let env = self.env;
    // SAFETY: on the env's thread, outside any JS call, so a handle scope of our own
    // holds the values made here; the reference is strong while a connection exists.
    unsafe {
      let mut scope = std::ptr::null_mut();
      if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
        return;
      }
      let mut function = std::ptr::null_mut();
      sys::napi_get_reference_value(env, self.callback.get(), &mut function);
      if !function.is_null() {
        let envelope = Env::from_raw(env);
        let mut triples = Vec::with_capacity(3);
        let mut failures = Vec::new();
        for event in events {
          // One event's conversion failing (a string V8 cannot hold) loses that event only.
          let converted = batch::convert(&envelope, vec![event], &mut |kind, conn, arg| {
            triples.push((kind, conn, arg));
            Ok(())
          });
          if let Err(err) = converted {
            failures.push(err);
          }
        }
        let mut argv = [std::ptr::null_mut(); 3];
        let argc = match triples.as_slice() {
          [] => 0,
          [(kind, conn, arg)] => {
            sys::napi_create_uint32(env, *kind, &mut argv[0]);
            sys::napi_create_uint32(env, *conn, &mut argv[1]);
            argv[2] = *arg;
            3
          }
          several => {
            sys::napi_create_array_with_length(env, several.len() * 3, &mut argv[0]);
            for (n, (kind, conn, arg)) in several.iter().enumerate() {
              let mut value = std::ptr::null_mut();
              sys::napi_create_uint32(env, *kind, &mut value);
              sys::napi_set_element(env, argv[0], (n * 3) as u32, value);
              sys::napi_create_uint32(env, *conn, &mut value);
              sys::napi_set_element(env, argv[0], (n * 3 + 1) as u32, value);
              sys::napi_set_element(env, argv[0], (n * 3 + 2) as u32, *arg);
            }
            1
          }
        };
        if argc > 0 {
          let mut result = std::ptr::null_mut();
          let status =
            sys::napi_make_callback(env, context, function, function, argc, argv.as_ptr(), &mut result);
          if status == sys::Status::napi_pending_exception {
            raise_pending(env);
          }
        }
        for err in failures {
          raise(env, &format!("node-ipc-rs: could not convert received data: {err}"));
        }
      }
      sys::napi_close_handle_scope(env, scope);
    }
  }

  fn sync_conns(&self, conns: Vec<ConnId>) {
    for conn in conns {
      self.sync_conn(conn);
    }
  }

  /// A connection read on this thread has closed and libuv has let go of its handles.
  fn closed(&self, conn: ConnId, had_error: bool, context: sys::napi_async_context) {
    self.life.borrow_mut().polled.remove(&conn);
    self.deliver(context, vec![Event::Closed { conn, had_error }]);
    self.close_direct_calls(context);
  }
}

impl Drop for JsSide {
  fn drop(&mut self) {
    let _ = SIDES.try_with(|sides| sides.borrow_mut().1.remove(&self.key));
    let reference = self.callback.get();
    if !reference.is_null() && !teardown::tearing_down() {
      // SAFETY: on the env's thread (finalizers and close callbacks run there).
      unsafe { sys::napi_delete_reference(self.env, reference) };
    }
  }
}

/// Hands a JS exception left pending by a call to Node's uncaught-exception handling.
///
/// # Safety
/// On the env's thread, outside any JS call.
#[cfg_attr(windows, allow(dead_code))] // only direct deliveries (Unix) raise
unsafe fn raise_pending(env: sys::napi_env) {
  let mut exception = std::ptr::null_mut();
  // SAFETY: per the caller.
  unsafe {
    sys::napi_get_and_clear_last_exception(env, &mut exception);
    sys::napi_fatal_exception(env, exception);
  }
}

/// Raises an `Error` with `message` as an uncaught exception.
///
/// # Safety
/// On the env's thread, outside any JS call.
#[cfg_attr(windows, allow(dead_code))]
unsafe fn raise(env: sys::napi_env, message: &str) {
  let mut text = std::ptr::null_mut();
  let mut error = std::ptr::null_mut();
  // SAFETY: per the caller; the message's length is given.
  unsafe {
    sys::napi_create_string_utf8(env, message.as_ptr().cast(), message.len() as isize, &mut text);
    sys::napi_create_error(env, std::ptr::null_mut(), text, &mut error);
    sys::napi_fatal_exception(env, error);
  }
}

fn this_threads_sides() -> Vec<Rc<JsSide>> {
  SIDES.with(|sides| sides.borrow().1.values().filter_map(Weak::upgrade).collect())
}

/// The threadsafe function's call, on the JS thread: the mailbox's events, absorbed by
/// their endpoint if it still exists.
fn absorb(key: u64, events: Vec<Event>) -> JsBatch {
  match SIDES.with(|sides| sides.borrow().1.get(&key).and_then(Weak::upgrade)) {
    Some(side) => side.absorb(events),
    None => JsBatch(events),
  }
}

/// How long `process.exit()` waits at most for writer tasks (see [`flush_all_now`]).
const EXIT_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// What `process.exit()` leaves behind is written as far as the sockets take it now.
/// Connections written by their tokio tasks (TLS; every stream on Windows) are written
/// while `process.exit()` runs its `'exit'` listeners: this waits for their tasks, at most
/// EXIT_FLUSH_WAIT (a peer that does not read gets no more than the kernel took).
pub(super) fn flush_all_now() {
  let sides = this_threads_sides();
  for side in &sides {
    for conn in side.all_polled() {
      conn.flush_now();
    }
    side.endpoint.flush_all_now();
  }
  let deadline = std::time::Instant::now() + EXIT_FLUSH_WAIT;
  while sides.iter().any(|side| side.endpoint.tasks_have_unsent()) && std::time::Instant::now() < deadline {
    std::thread::sleep(std::time::Duration::from_millis(1));
  }
}

/// The environment's cleanup hook (see `teardown`).
fn shutdown_all() {
  for side in this_threads_sides() {
    side.shutdown();
  }
}
