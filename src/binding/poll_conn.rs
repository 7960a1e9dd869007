//! A plain connection read and written on the JS thread: a [`Polled`] core connection
//! watched by a libuv poll handle on the environment's own loop, as Node watches its
//! sockets. Frames go to JS straight from the poll callback (no threadsafe function); a
//! write that finds the socket full waits for it to become writable on the same handle.
//!
//! Lifetime: the handle keeps the loop alive while the connection is open and ref'd, like
//! a `net.Socket`. Closing stops the handle at once (then the fd closes) and reports the
//! close to JS from the handle's close callback, on a later turn of the loop, which also
//! keeps the process alive until JS has seen it.

use std::cell::{Cell, RefCell};
use std::os::raw::c_int;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use napi::sys;
use socket2::Socket;

use super::teardown::{self, guard};
use super::uv::{self, HandleBox, Kind};
use crate::connection::END_FLUSH_TIMEOUT;
use crate::mailbox::{ConnId, Event};
use crate::outgoing::Closing;
use crate::polled::Polled;
use crate::registry::{ConnShared, Registry};

/// Whoever a connection reports to: it delivers events to JS in the connection's async
/// context, and hears of the close once libuv has let go of the connection's handles.
pub(super) trait PollOwner {
  fn deliver(&self, context: sys::napi_async_context, events: Vec<Event>);
  fn closed(&self, conn: ConnId, had_error: bool, context: sys::napi_async_context);
  /// Other connections of the owner were failed from here (`maxBufferedBytes`): they are
  /// to close too.
  fn sync_conns(&self, conns: Vec<ConnId>);
}

/// What the connection's timer is running for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerUse {
  Idle,
  /// `frameTimeout`: started when an incomplete frame begins and left running while
  /// frames come and go (checked, and started again if need be, when it fires), so that
  /// reads never touch the timer.
  Frame,
  /// Bounds how long `end()` may flush; once started, it is the timer's only use.
  Flush,
}

pub(super) struct PollConn {
  owner: Rc<dyn PollOwner>,
  /// The async resource JS callbacks of this connection run in, as each `net.Socket` is one.
  context: sys::napi_async_context,
  conn: ConnId,
  polled: RefCell<Option<Polled>>,
  poll: RefCell<Option<HandleBox>>,
  /// Bounds how long `end()` may flush to a peer that does not read, and how long a frame
  /// may stay incomplete (`frameTimeout`).
  timer: RefCell<Option<HandleBox>>,
  /// The events the poll handle watches now.
  mask: Cell<c_int>,
  timer_use: Cell<TimerUse>,
  /// The limit that closed the connection, said to JS before the close.
  over_limit: RefCell<Option<Event>>,
  closing: Cell<bool>,
  had_error: Cell<bool>,
  /// Handles whose close callback has not run yet.
  open_handles: Cell<u8>,
}

impl PollConn {
  /// Watches an established connection on `uv_loop` (this thread's). Fails only if libuv
  /// refuses the descriptor; the connection is then closed, and `context` is the caller's.
  #[allow(clippy::too_many_arguments)]
  pub fn start(
    owner: Rc<dyn PollOwner>,
    context: sys::napi_async_context,
    uv_loop: *mut uv::Loop,
    socket: Socket,
    shared: Arc<ConnShared>,
    registry: Arc<Registry>,
    refed: bool,
  ) -> std::io::Result<Rc<Self>> {
    let conn = shared.id;
    let polled = Polled::new(socket, shared, registry);
    // SAFETY: this thread's running loop; the fd stays open until the handle is closed
    // (`close` closes the handle before it drops the `Polled` that owns the fd).
    let poll = unsafe { HandleBox::poll(uv_loop, polled.as_raw_fd()) }?;
    // SAFETY: this thread's running loop.
    let timer = unsafe { HandleBox::timer(uv_loop) };
    let this = Rc::new(PollConn {
      owner,
      context,
      conn,
      polled: RefCell::new(Some(polled)),
      poll: RefCell::new(None),
      timer: RefCell::new(None),
      mask: Cell::new(0),
      timer_use: Cell::new(TimerUse::Idle),
      over_limit: RefCell::new(None),
      closing: Cell::new(false),
      had_error: Cell::new(false),
      open_handles: Cell::new(2),
    });
    // Each handle holds a count of the Rc until its close callback gives it back.
    poll.set_data(Rc::into_raw(this.clone()).cast());
    timer.set_data(Rc::into_raw(this.clone()).cast());
    teardown::handles_opened(2);
    poll.set_ref(refed);
    // The poll handle alone decides whether the connection keeps the loop alive.
    timer.set_ref(false);
    *this.poll.borrow_mut() = Some(poll);
    *this.timer.borrow_mut() = Some(timer);
    Ok(this)
  }

  pub fn set_ref(&self, refed: bool) {
    if let Some(poll) = &*self.poll.borrow() {
      poll.set_ref(refed);
    }
  }

  /// Brings the handle in line with the connection after anything changed it (a write
  /// from JS, `end`, `destroy`, a readiness event): watch for what it needs, or close.
  pub fn sync(self: &Rc<Self>) {
    if self.closing.get() {
      return;
    }
    let (finished, interest, ending, frame_deadline) = {
      let polled = self.polled.borrow();
      let Some(polled) = polled.as_ref() else { return };
      let ending = polled.shared().out.closing() == Closing::End;
      (polled.finished(), polled.interest(), ending, polled.frame_deadline())
    };
    if let Some(had_error) = finished {
      return self.close(had_error);
    }
    let mask =
      if interest.readable { uv::READABLE } else { 0 } | if interest.writable { uv::WRITABLE } else { 0 };
    if mask != self.mask.get() {
      let status = match &*self.poll.borrow() {
        Some(poll) => poll.start_poll(mask, on_poll),
        None => return,
      };
      if status != 0 {
        // The descriptor is unusable: nothing more can happen on it.
        return self.close(true);
      }
      self.mask.set(mask);
    }
    let timer_use = self.timer_use.get();
    if ending && timer_use != TimerUse::Flush {
      self.start_timer(TimerUse::Flush, END_FLUSH_TIMEOUT.as_millis() as u64);
    } else if let (Some(at), TimerUse::Idle) = (frame_deadline, timer_use) {
      // Rounded up, so that it does not fire just before the deadline.
      let ms = at.saturating_duration_since(Instant::now()).as_micros().div_ceil(1000);
      self.start_timer(TimerUse::Frame, ms as u64);
    }
  }

  fn start_timer(&self, why: TimerUse, ms: u64) {
    if let Some(timer) = &*self.timer.borrow() {
      timer.start_timer(on_timer, ms);
      self.timer_use.set(why);
    }
  }

  fn on_poll(self: &Rc<Self>, status: c_int, events: c_int) {
    if self.closing.get() {
      return;
    }
    let mut out = Vec::new();
    if let Some(polled) = self.polled.borrow_mut().as_mut() {
      if status < 0 {
        // libuv has stopped the handle.
        self.mask.set(0);
        polled.errored(-status, &mut out);
      } else if events & uv::READABLE != 0 {
        polled.readable(&mut out);
      }
    }
    // No borrow is held: JS may write, end or destroy this connection from its handlers.
    self.owner.deliver(self.context, out);
    // Then what is queued, and an end the peer asked for: after the frames read before it
    // were handled, so that replies to them go out first.
    let mut out = Vec::new();
    if let Some(polled) = self.polled.borrow_mut().as_mut() {
      if polled.interest().writable {
        polled.writable(&mut out);
      }
    }
    self.owner.deliver(self.context, out);
    self.sync();
    let failed = self.polled.borrow_mut().as_mut().map(Polled::take_failed_others).unwrap_or_default();
    if !failed.is_empty() {
      self.owner.sync_conns(failed);
    }
  }

  /// Writes what is queued as far as the socket takes it now (before a `destroy()` or a
  /// `process.exit()`, which drop the rest, as Node does).
  pub fn flush_now(&self) {
    if let Some(polled) = self.polled.borrow_mut().as_mut() {
      // Only a drain or a write error can come of it; the connection is about to go.
      polled.writable(&mut Vec::new());
    }
  }

  fn timer_fired(self: &Rc<Self>) {
    let why = self.timer_use.replace(TimerUse::Idle);
    if let Some(polled) = self.polled.borrow_mut().as_mut() {
      match why {
        TimerUse::Flush => polled.shared().destroy(),
        // Not yet due (a later frame is the one held now): sync starts it again.
        _ => drop(polled.check_frame_deadline(Instant::now())),
      }
    }
    self.sync();
  }

  /// Stops watching now and closes the socket; JS hears of it once libuv has let go of
  /// both handles.
  pub fn close(self: &Rc<Self>, had_error: bool) {
    if self.closing.replace(true) {
      return;
    }
    self.had_error.set(had_error);
    if let Some(polled) = &*self.polled.borrow() {
      *self.over_limit.borrow_mut() = polled.shared().take_over_limit();
    }
    // The poll handle first: libuv stops watching the fd before it is closed below.
    if let Some(poll) = self.poll.borrow_mut().take() {
      poll.close(on_poll_closed);
    }
    if let Some(timer) = self.timer.borrow_mut().take() {
      timer.close(on_timer_closed);
    }
    drop(self.polled.borrow_mut().take());
  }

  fn handle_closed(&self) {
    let left = self.open_handles.get() - 1;
    self.open_handles.set(left);
    if left == 0 {
      if let Some(over_limit) = self.over_limit.borrow_mut().take() {
        self.owner.deliver(self.context, vec![over_limit]);
      }
      self.owner.closed(self.conn, self.had_error.get(), self.context);
    }
  }
}

/// The connection a callback's handle belongs to, as a new count of its Rc.
///
/// # Safety
/// `handle` is a live handle made by [`PollConn::start`].
unsafe fn conn_of(handle: *mut uv::Handle) -> Rc<PollConn> {
  // SAFETY: `data` holds a count of this Rc until the handle's close callback.
  unsafe {
    let ptr = uv::data(handle).cast::<PollConn>();
    Rc::increment_strong_count(ptr);
    Rc::from_raw(ptr)
  }
}

unsafe extern "C" fn on_poll(handle: *mut uv::Handle, status: c_int, events: c_int) {
  guard("poll callback", || {
    // SAFETY: libuv calls this only for a live poll handle made by PollConn::start.
    unsafe { conn_of(handle) }.on_poll(status, events)
  });
}

unsafe extern "C" fn on_timer(handle: *mut uv::Handle) {
  guard("connection timer", || {
    // SAFETY: libuv calls this only for a live timer handle made by PollConn::start.
    unsafe { conn_of(handle) }.timer_fired()
  });
}

unsafe extern "C" fn on_poll_closed(handle: *mut uv::Handle) {
  guard("poll close callback", || closed(handle, Kind::Poll));
}

unsafe extern "C" fn on_timer_closed(handle: *mut uv::Handle) {
  guard("timer close callback", || closed(handle, Kind::Timer));
}

/// A handle of a connection is closed: its memory and its count of the Rc are given back
/// first (nothing there can panic), so that a panic in the rest cannot keep the
/// environment's teardown waiting.
fn closed(handle: *mut uv::Handle, kind: Kind) {
  // SAFETY: the handle's own count of the Rc, given back once; then its memory, which
  // libuv no longer uses once it calls the close callback.
  let conn = unsafe {
    let conn = Rc::from_raw(uv::data(handle).cast::<PollConn>());
    HandleBox::free(handle, kind);
    conn
  };
  teardown::handles_closed(1);
  conn.handle_closed();
}
