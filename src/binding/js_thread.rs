//! What a `NativeEndpoint` keeps on its JS thread: the connections it drives there, what
//! keeps the event loop alive on its behalf, and the way to call its JS callback directly.
//!
//! Two ways carry events to JS:
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
use std::ffi::c_void;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

use super::batch::JsBatch;
use super::poll_conn::PollConn;
use super::uv;
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
  uv_loop: *mut uv::Loop,
  key: u64,
  pub endpoint: Arc<Endpoint>,
  mailbox: Arc<Mailbox>,
  /// The JS function connections read on this thread call, `(kind, conn, arg)`: a weak
  /// reference, strong while such connections exist. An endpoint with nothing open holds
  /// nothing in JS, so its client or server can be garbage collected.
  callback: Cell<sys::napi_ref>,
  /// The async context of direct calls, while the callback reference is strong.
  async_context: Cell<sys::napi_async_context>,
  life: RefCell<Life>,
  waker: RefCell<std::sync::Weak<JsWaker>>,
  tsfn_refed: Cell<bool>,
}

impl JsSide {
  pub fn new(env: &Env, endpoint: Arc<Endpoint>, mailbox: Arc<Mailbox>) -> Result<Rc<Self>> {
    let mut uv_loop = std::ptr::null_mut();
    // SAFETY: a valid env on its own thread.
    check_status!(unsafe { sys::napi_get_uv_event_loop(env.raw(), &mut uv_loop) }, "no event loop")?;
    let key = register_thread(env.raw())?;
    let side = Rc::new(JsSide {
      env: env.raw(),
      uv_loop: uv_loop.cast(),
      key,
      endpoint,
      mailbox,
      callback: Cell::new(std::ptr::null_mut()),
      async_context: Cell::new(std::ptr::null_mut()),
      life: RefCell::new(Life {
        servers: 0,
        server_refed: true,
        tokio_conns: HashMap::new(),
        polled: HashMap::new(),
      }),
      waker: RefCell::new(std::sync::Weak::new()),
      tsfn_refed: Cell::new(true),
    });
    THREAD.with(|t| t.borrow_mut().sides.insert(key, Rc::downgrade(&side)));
    Ok(side)
  }

  pub fn uv_loop(&self) -> *mut uv::Loop {
    self.uv_loop
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
          .build_callback(move |_| Ok(absorb(key, mailbox.take())))?;
        let waker = Arc::new(JsWaker(tsfn));
        *self.waker.borrow_mut() = Arc::downgrade(&waker);
        // A new threadsafe function starts ref'd.
        self.tsfn_refed.set(true);
        waker
      }
    };
    Ok(Courier::new(self.mailbox.clone(), waker))
  }

  /// A listener or UDP socket was started; it counts until `ServerClosed` reaches JS.
  pub fn server_started(&self) {
    self.life.borrow_mut().servers += 1;
    self.update_keep_alive();
  }

  /// A client connection was started on tokio; it counts until it is handed off or closed.
  pub fn connecting(&self, conn: ConnId) {
    self.life.borrow_mut().tokio_conns.insert(conn, true);
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

  fn update_keep_alive(&self) {
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
    if matches!(pending, Some(queued) if queued > 0) {
      self.sync_conn(conn);
    }
    pending
  }

  /// After JS queued bytes for, ended or destroyed a connection: a connection read on this
  /// thread watches for writability or closes.
  pub fn sync_conn(&self, conn: ConnId) {
    let polled = self.life.borrow().polled.get(&conn).cloned();
    if let Some(polled) = polled {
      polled.sync();
    }
  }

  /// After a broadcast queued bytes for every connection.
  pub fn sync_all(&self) {
    let all: Vec<_> = self.life.borrow().polled.values().cloned().collect();
    for polled in all {
      polled.sync();
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
          // The endpoint forgets a handed-off connection only once its owner here drops it.
          let Some(shared) = self.endpoint.conn(conn) else { continue };
          out.push(Event::Connected { conn, peer });
          if !self.open_direct_calls() {
            drop(socket);
            self.endpoint.forget(conn);
            out.push(Event::Closed { conn, had_error: false });
            continue;
          }
          match PollConn::start(self, socket.0, shared, refed) {
            Ok(polled) => {
              self.life.borrow_mut().polled.insert(conn, polled.clone());
              polled.sync();
            }
            Err(err) => {
              out.push(Event::Error { conn: Some(conn), failure: IoFailure::new(&err, "read", None, None) });
              out.push(Event::Closed { conn, had_error: true });
              self.close_direct_calls_if_idle();
            }
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

  /// Makes the callback reference strong for direct calls; false if JS has dropped it.
  fn open_direct_calls(&self) -> bool {
    if !self.async_context.get().is_null() {
      return true;
    }
    let reference = self.callback.get();
    if reference.is_null() {
      return false;
    }
    let mut count = 0;
    let mut context = std::ptr::null_mut();
    // SAFETY: on the env's thread; the reference and the name are valid.
    unsafe {
      if sys::napi_reference_ref(self.env, reference, &mut count) != sys::Status::napi_ok {
        return false;
      }
      let mut name = std::ptr::null_mut();
      sys::napi_create_string_latin1(self.env, c"node-ipc-rs".as_ptr(), -1, &mut name);
      if sys::napi_async_init(self.env, std::ptr::null_mut(), name, &mut context) != sys::Status::napi_ok {
        sys::napi_reference_unref(self.env, reference, &mut count);
        return false;
      }
    }
    self.async_context.set(context);
    true
  }

  fn close_direct_calls_if_idle(&self) {
    let context = self.async_context.get();
    if context.is_null() || !self.life.borrow().polled.is_empty() {
      return;
    }
    self.async_context.set(std::ptr::null_mut());
    let mut count = 0;
    // SAFETY: on the env's thread; both were made by open_direct_calls.
    unsafe {
      sys::napi_async_destroy(self.env, context);
      sys::napi_reference_unref(self.env, self.callback.get(), &mut count);
    }
  }

  /// Calls the direct callback with `(kind, conn, arg)` for each event, from a libuv
  /// callback (no JS on the stack), each call followed by `process.nextTick` callbacks as
  /// after a Node socket's. A throwing handler becomes an uncaught exception, as a throwing
  /// `'data'` listener of a Node socket does; the events after it are still delivered.
  pub fn deliver(&self, events: Vec<Event>) {
    let context = self.async_context.get();
    if events.is_empty() || context.is_null() || tearing_down() {
      return;
    }
    let env = self.env;
    // SAFETY: on the env's thread, outside any JS call, so a handle scope of our own
    // holds the values made here; the reference is strong while `context` is set.
    unsafe {
      let mut scope = std::ptr::null_mut();
      if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
        return;
      }
      let mut function = std::ptr::null_mut();
      sys::napi_get_reference_value(env, self.callback.get(), &mut function);
      if !function.is_null() {
        let converted = super::batch::convert(&Env::from_raw(env), events, &mut |kind, conn, arg| {
          let mut argv = [std::ptr::null_mut(), std::ptr::null_mut(), arg];
          sys::napi_create_uint32(env, kind, &mut argv[0]);
          sys::napi_create_uint32(env, conn, &mut argv[1]);
          let mut result = std::ptr::null_mut();
          let status =
            sys::napi_make_callback(env, context, function, function, argv.len(), argv.as_ptr(), &mut result);
          if status == sys::Status::napi_pending_exception {
            raise_pending(env);
          }
          Ok(())
        });
        if let Err(err) = converted {
          let message = format!("node-ipc-rs: could not convert received data: {err}");
          let mut text = std::ptr::null_mut();
          let mut error = std::ptr::null_mut();
          sys::napi_create_string_utf8(env, message.as_ptr().cast(), message.len() as isize, &mut text);
          sys::napi_create_error(env, std::ptr::null_mut(), text, &mut error);
          sys::napi_fatal_exception(env, error);
        }
      }
      sys::napi_close_handle_scope(env, scope);
    }
  }

  /// A connection read on this thread has closed and libuv has let go of its handles.
  pub fn poll_conn_closed(&self, conn: ConnId, had_error: bool) {
    self.life.borrow_mut().polled.remove(&conn);
    self.deliver(vec![Event::Closed { conn, had_error }]);
    self.close_direct_calls_if_idle();
  }

  /// The environment is going away: close everything this endpoint opened, at once.
  fn shutdown(&self) {
    self.endpoint.shutdown();
    let polled: Vec<_> = self.life.borrow().polled.values().cloned().collect();
    for conn in polled {
      conn.close(false);
    }
  }
}

impl Drop for JsSide {
  fn drop(&mut self) {
    THREAD.with(|t| t.borrow_mut().sides.remove(&self.key));
    let reference = self.callback.get();
    if !reference.is_null() && !tearing_down() {
      // SAFETY: on the env's thread (finalizers and close callbacks run there).
      unsafe { sys::napi_delete_reference(self.env, reference) };
    }
  }
}

/// Hands a JS exception left pending by a call to Node's uncaught-exception handling.
///
/// # Safety
/// On the env's thread, outside any JS call.
unsafe fn raise_pending(env: sys::napi_env) {
  let mut exception = std::ptr::null_mut();
  // SAFETY: per the caller.
  unsafe {
    sys::napi_get_and_clear_last_exception(env, &mut exception);
    sys::napi_fatal_exception(env, exception);
  }
}

/// The threadsafe function's call, on the JS thread: the mailbox's events, absorbed by
/// their endpoint if it still exists.
fn absorb(key: u64, events: Vec<Event>) -> JsBatch {
  match THREAD.with(|t| t.borrow().sides.get(&key).and_then(Weak::upgrade)) {
    Some(side) => side.absorb(events),
    None => JsBatch(events),
  }
}

/// Per JS thread (one Node environment each): its endpoints, and its teardown.
struct ThreadState {
  env: sys::napi_env,
  next_key: u64,
  sides: HashMap<u64, Weak<JsSide>>,
  /// libuv handles opened and not yet freed.
  open_handles: usize,
  /// Set once the environment's cleanup has begun; completes it when handles are freed.
  teardown: Option<sys::napi_async_cleanup_hook_handle>,
}

thread_local! {
  static THREAD: RefCell<ThreadState> = RefCell::new(ThreadState {
    env: std::ptr::null_mut(),
    next_key: 1,
    sides: HashMap::new(),
    open_handles: 0,
    teardown: None,
  });
}

/// Registers the environment's cleanup hook the first time an endpoint is made on this
/// thread; returns a key for the new endpoint.
fn register_thread(env: sys::napi_env) -> Result<u64> {
  THREAD.with(|t| {
    let mut t = t.borrow_mut();
    if t.env != env {
      let mut handle = std::ptr::null_mut();
      // SAFETY: a valid env; the hook is a plain function with no data.
      check_status!(
        unsafe {
          sys::napi_add_async_cleanup_hook(env, Some(on_env_cleanup), std::ptr::null_mut(), &mut handle)
        },
        "cannot watch the environment's teardown"
      )?;
      t.env = env;
      t.teardown = None;
      t.open_handles = 0;
    }
    let key = t.next_key;
    t.next_key += 1;
    Ok(key)
  })
}

fn tearing_down() -> bool {
  THREAD.with(|t| t.borrow().teardown.is_some())
}

pub(super) fn handles_opened(n: usize) {
  THREAD.with(|t| t.borrow_mut().open_handles += n);
}

/// Completes the environment's teardown once the last handle is freed.
pub(super) fn handles_closed(n: usize) {
  let done = THREAD.with(|t| {
    let mut t = t.borrow_mut();
    t.open_handles -= n;
    match t.teardown {
      Some(handle) if t.open_handles == 0 && !handle.is_null() => {
        t.teardown = Some(std::ptr::null_mut());
        Some(handle)
      }
      _ => None,
    }
  });
  if let Some(handle) = done {
    // SAFETY: the handle given to on_env_cleanup, removed once.
    unsafe { sys::napi_remove_async_cleanup_hook(handle) };
  }
}

unsafe extern "C" fn on_env_cleanup(handle: sys::napi_async_cleanup_hook_handle, _: *mut c_void) {
  let mut handle = Some(handle);
  guard("environment cleanup", || {
    let sides: Vec<_> = THREAD.with(|t| {
      let mut t = t.borrow_mut();
      t.teardown = handle;
      t.sides.values().filter_map(Weak::upgrade).collect()
    });
    for side in sides {
      side.shutdown();
    }
    let idle = THREAD.with(|t| {
      let mut t = t.borrow_mut();
      t.env = std::ptr::null_mut();
      if t.open_handles == 0 {
        t.teardown = Some(std::ptr::null_mut());
        true
      } else {
        false
      }
    });
    if !idle {
      handle = None;
    }
  });
  if let Some(handle) = handle {
    // SAFETY: the hook's own handle, removed once (or later from handles_closed).
    unsafe { sys::napi_remove_async_cleanup_hook(handle) };
  }
}

/// Runs a libuv or cleanup callback body; a panic stops there, with a message, instead of
/// unwinding into C (which would abort the process).
pub(super) fn guard(what: &str, f: impl FnOnce()) {
  if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
    eprintln!("node-ipc-rs: internal error in a {what}; the connection may be left closed");
  }
}
