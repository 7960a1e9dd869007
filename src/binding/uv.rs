//! The few libuv calls the binding makes on the JS thread's event loop.
//!
//! libuv is part of the `node` binary, which exports its symbols: on Linux and macOS they
//! resolve when the addon loads, with no build flags. napi-rs binds no libuv handles, so
//! these are declared here. Handles are allocated at `uv_handle_size` bytes (their layout
//! belongs to the libuv that Node was built with) and freed only in their close callback.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::c_void;
use std::os::raw::c_int;

pub type Loop = c_void;
/// Any handle: `uv_handle_t`, whose first field is the `data` pointer.
pub type Handle = c_void;

pub type PollCb = unsafe extern "C" fn(handle: *mut Handle, status: c_int, events: c_int);
pub type TimerCb = unsafe extern "C" fn(handle: *mut Handle);
pub type CloseCb = unsafe extern "C" fn(handle: *mut Handle);

pub const READABLE: c_int = 1;
pub const WRITABLE: c_int = 2;

/// `uv_handle_type` values (`UV_HANDLE_TYPE_MAP` order in uv.h, stable since libuv 1.0).
#[derive(Clone, Copy)]
#[repr(C)]
pub enum Kind {
  Poll = 8,
  Timer = 13,
}

extern "C" {
  fn uv_handle_size(kind: Kind) -> usize;
  fn uv_poll_init(event_loop: *mut Loop, handle: *mut Handle, fd: c_int) -> c_int;
  fn uv_poll_start(handle: *mut Handle, events: c_int, cb: PollCb) -> c_int;
  fn uv_poll_stop(handle: *mut Handle) -> c_int;
  fn uv_timer_init(event_loop: *mut Loop, handle: *mut Handle) -> c_int;
  fn uv_timer_start(handle: *mut Handle, cb: TimerCb, timeout: u64, repeat: u64) -> c_int;
  fn uv_close(handle: *mut Handle, cb: CloseCb);
  fn uv_ref(handle: *mut Handle);
  fn uv_unref(handle: *mut Handle);
}

fn layout(kind: Kind) -> Layout {
  // SAFETY: uv_handle_size only reads a table.
  let size = unsafe { uv_handle_size(kind) };
  Layout::from_size_align(size.max(1), 16).expect("a handle size is small")
}

/// An initialised handle of one kind. It is closed with [`HandleBox::close`], whose
/// callback must free it with [`HandleBox::free`]; until then its memory stays put.
pub struct HandleBox {
  ptr: *mut Handle,
}

impl HandleBox {
  fn allocate(kind: Kind) -> *mut Handle {
    let layout = layout(kind);
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc_zeroed(layout) };
    if ptr.is_null() {
      std::alloc::handle_alloc_error(layout);
    }
    ptr.cast()
  }

  /// A poll handle watching `fd` on `event_loop` (not started yet).
  ///
  /// # Safety
  /// `event_loop` is the calling thread's running loop, and `fd` stays open until the
  /// handle is closed.
  pub unsafe fn poll(event_loop: *mut Loop, fd: c_int) -> std::io::Result<HandleBox> {
    let ptr = Self::allocate(Kind::Poll);
    // SAFETY: a zeroed block of uv_handle_size(UV_POLL) bytes, per the caller's loop and fd.
    let status = unsafe { uv_poll_init(event_loop, ptr, fd) };
    if status != 0 {
      // SAFETY: never initialised, so libuv holds no pointer to it.
      unsafe { dealloc(ptr.cast(), layout(Kind::Poll)) };
      return Err(std::io::Error::from_raw_os_error(-status));
    }
    Ok(HandleBox { ptr })
  }

  /// A timer handle on `event_loop` (not started).
  ///
  /// # Safety
  /// `event_loop` is the calling thread's running loop.
  pub unsafe fn timer(event_loop: *mut Loop) -> HandleBox {
    let ptr = Self::allocate(Kind::Timer);
    // SAFETY: a zeroed block of uv_handle_size(UV_TIMER) bytes; uv_timer_init cannot fail.
    unsafe { uv_timer_init(event_loop, ptr) };
    HandleBox { ptr }
  }

  /// Stores the pointer that callbacks get back with [`data`].
  pub fn set_data(&self, data: *const c_void) {
    // SAFETY: `data` is the first field of every uv handle.
    unsafe { *self.ptr.cast::<*const c_void>() = data };
  }

  pub fn start_poll(&self, events: c_int, cb: PollCb) -> c_int {
    // SAFETY: an initialised poll handle, not closed (close consumes the box).
    unsafe {
      if events == 0 {
        uv_poll_stop(self.ptr)
      } else {
        uv_poll_start(self.ptr, events, cb)
      }
    }
  }

  pub fn start_timer(&self, cb: TimerCb, timeout_ms: u64) {
    // SAFETY: an initialised timer handle, not closed.
    unsafe { uv_timer_start(self.ptr, cb, timeout_ms, 0) };
  }

  pub fn set_ref(&self, refed: bool) {
    // SAFETY: an initialised handle, not closed.
    unsafe {
      if refed {
        uv_ref(self.ptr)
      } else {
        uv_unref(self.ptr)
      }
    }
  }

  /// Stops the handle at once (a poll handle no longer watches its fd, so the fd may be
  /// closed right after) and frees it from `cb`, on a later turn of the loop.
  pub fn close(self, cb: CloseCb) {
    let this = std::mem::ManuallyDrop::new(self);
    // SAFETY: an initialised handle, closed once (this consumes the box).
    unsafe { uv_close(this.ptr, cb) };
  }

  /// Frees a closed handle's memory.
  ///
  /// # Safety
  /// Only from the close callback of a handle of this kind made by [`HandleBox`].
  pub unsafe fn free(handle: *mut Handle, kind: Kind) {
    // SAFETY: allocated by `allocate` with this layout; libuv is done with it.
    unsafe { dealloc(handle.cast(), layout(kind)) };
  }
}

impl Drop for HandleBox {
  /// A handle must be closed, never dropped: libuv keeps a pointer to it in its loop, and a
  /// loop closed with live handles aborts the Worker it belongs to.
  fn drop(&mut self) {
    debug_assert!(false, "a libuv handle was dropped without being closed");
  }
}

/// The pointer stored with [`HandleBox::set_data`].
///
/// # Safety
/// `handle` is a live uv handle.
pub unsafe fn data(handle: *mut Handle) -> *const c_void {
  // SAFETY: `data` is the first field of every uv handle.
  unsafe { *handle.cast::<*const c_void>() }
}
