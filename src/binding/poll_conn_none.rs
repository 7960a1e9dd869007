//! Where connections cannot be read on the JS thread (Windows: no poll handles for named
//! pipes, and the addon must not import libuv from the host by name), every stream runs
//! on tokio tasks and no connection is ever handed off. `PollConn` is then a type with no
//! values, so the JS side's bookkeeping for such connections compiles unchanged and is
//! never reached.

use std::rc::Rc;
use std::sync::Arc;

use napi::sys;
use socket2::Socket;

use crate::mailbox::{ConnId, Event};
use crate::registry::{ConnShared, Registry};

#[allow(dead_code)] // implemented, never called: no connection is polled here
pub(super) trait PollOwner {
  fn deliver(&self, context: sys::napi_async_context, events: Vec<Event>);
  fn closed(&self, conn: ConnId, had_error: bool, context: sys::napi_async_context);
  fn sync_conns(&self, conns: Vec<ConnId>);
}

pub(super) enum PollConn {}

impl PollConn {
  #[allow(clippy::too_many_arguments)]
  pub fn start(
    _owner: Rc<dyn PollOwner>,
    _context: sys::napi_async_context,
    _uv_loop: *mut std::ffi::c_void,
    _socket: Socket,
    _shared: Arc<ConnShared>,
    _registry: Arc<Registry>,
    _refed: bool,
  ) -> std::io::Result<Rc<PollConn>> {
    Err(std::io::Error::new(
      std::io::ErrorKind::Unsupported,
      "connections are not read on the JS thread here",
    ))
  }

  pub fn set_ref(&self, _refed: bool) {
    match *self {}
  }

  pub fn sync(self: &Rc<Self>) {
    match **self {}
  }

  pub fn flush_now(&self) {
    match *self {}
  }

  pub fn close(self: &Rc<Self>, _had_error: bool) {
    match **self {}
  }
}
