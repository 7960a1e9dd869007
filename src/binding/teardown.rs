//! Per JS thread (one Node environment each): the environment's end, and the libuv handles
//! that must be closed before it may complete. Also the guard every callback from C runs in.

use std::cell::RefCell;
use std::ffi::c_void;

use napi::bindgen_prelude::*;
use napi::sys;

struct State {
  env: sys::napi_env,
  /// What closes everything this thread's endpoints opened.
  on_cleanup: Option<fn()>,
  /// libuv handles opened and not yet freed.
  open_handles: usize,
  /// The environment's cleanup has begun.
  tearing_down: bool,
  /// The hook's handle while it waits for the last handle to be freed.
  hook: Option<sys::napi_async_cleanup_hook_handle>,
}

thread_local! {
  static STATE: RefCell<State> = const {
    RefCell::new(State { env: std::ptr::null_mut(), on_cleanup: None, open_handles: 0, tearing_down: false, hook: None })
  };
}

/// Registers the environment's cleanup hook the first time this thread's env is seen;
/// `on_cleanup` closes what is open (it may leave handles closing: the hook completes
/// once they are freed).
pub(super) fn watch_env(env: sys::napi_env, on_cleanup: fn()) -> Result<()> {
  STATE.with(|state| {
    let mut state = state.borrow_mut();
    if state.env == env {
      return Ok(());
    }
    let mut handle = std::ptr::null_mut();
    check_status!(
      // SAFETY: a valid env on its own thread; the hook is a plain function with no data.
      unsafe {
        sys::napi_add_async_cleanup_hook(env, Some(on_env_cleanup), std::ptr::null_mut(), &mut handle)
      },
      "cannot watch the environment's teardown"
    )?;
    *state = State { env, on_cleanup: Some(on_cleanup), open_handles: 0, tearing_down: false, hook: None };
    Ok(())
  })
}

/// Once cleanup has begun, JS may not be called and handles are closing.
pub(super) fn tearing_down() -> bool {
  STATE.try_with(|state| state.borrow().tearing_down).unwrap_or(true)
}

#[cfg_attr(windows, allow(dead_code))] // libuv handles are opened on Unix only
pub(super) fn handles_opened(n: usize) {
  STATE.with(|state| state.borrow_mut().open_handles += n);
}

/// Completes the environment's teardown once the last handle is freed.
#[cfg_attr(windows, allow(dead_code))]
pub(super) fn handles_closed(n: usize) {
  let hook = STATE.with(|state| {
    let mut state = state.borrow_mut();
    state.open_handles = state.open_handles.saturating_sub(n);
    if state.open_handles == 0 {
      state.hook.take()
    } else {
      None
    }
  });
  if let Some(hook) = hook {
    // SAFETY: the hook's handle, taken out of the state, so removed once.
    unsafe { sys::napi_remove_async_cleanup_hook(hook) };
  }
}

unsafe extern "C" fn on_env_cleanup(hook: sys::napi_async_cleanup_hook_handle, _: *mut c_void) {
  let on_cleanup = STATE.with(|state| {
    let mut state = state.borrow_mut();
    state.tearing_down = true;
    state.env = std::ptr::null_mut();
    state.on_cleanup.take()
  });
  if let Some(on_cleanup) = on_cleanup {
    guard("environment cleanup", on_cleanup);
  }
  // Complete now, or from the close callback of the last handle.
  let done = STATE.with(|state| {
    let mut state = state.borrow_mut();
    if state.open_handles == 0 {
      true
    } else {
      state.hook = Some(hook);
      false
    }
  });
  if done {
    // SAFETY: the hook's own handle, removed once (it was not stored).
    unsafe { sys::napi_remove_async_cleanup_hook(hook) };
  }
}

/// Runs the body of a callback from C (libuv, N-API); a panic stops there, with a message,
/// instead of unwinding into C, which would abort the process.
pub(super) fn guard<T>(what: &str, f: impl FnOnce() -> T) -> Option<T> {
  match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
    Ok(value) => Some(value),
    Err(_) => {
      eprintln!("node-ipc-rs: internal error in the {what}");
      None
    }
  }
}
