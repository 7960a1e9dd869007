//! `write(conn, text)` as a plain N-API function: the call every emit ends in.
//!
//! A `#[napi]` method costs about 6,000 instructions per call here (argument conversion,
//! unwrapping the class instance, napi-rs's borrow scope), as much as a sixth of a whole
//! request/reply round trip on one side (measured with callgrind). This function is bound
//! to its endpoint's JS-thread state, converts the string into a reused buffer, and copies
//! only what the socket does not take at once.

use std::cell::RefCell;
use std::ffi::{c_void, CStr};
use std::rc::Rc;

use napi::sys;

use super::js_thread::JsSide;
use super::teardown::guard;

/// Strings whose UTF-8 form may exceed this are converted into a buffer of their own, which
/// the queue keeps if the socket does not take them at once (no second copy).
const SCRATCH_LIMIT: usize = 16 * 1024;

thread_local! {
  static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(SCRATCH_LIMIT));
}

/// A JS function `(conn, text) => pending` writing to `side`'s connections: the bytes now
/// queued for `conn`, or -1 when it is gone and the text was dropped.
///
/// # Safety
/// `env` is `side`'s env, on its thread.
pub(super) unsafe fn make(env: sys::napi_env, side: &Rc<JsSide>) -> napi::Result<sys::napi_value> {
  let data = Rc::into_raw(side.clone()).cast_mut().cast::<c_void>();
  let mut function = std::ptr::null_mut();
  // SAFETY: per the caller; the name is 5 bytes; `data` stays valid until the finalizer.
  let status = unsafe {
    let status = sys::napi_create_function(env, c"write".as_ptr(), 5, Some(write), data, &mut function);
    if status == sys::Status::napi_ok {
      sys::napi_add_finalizer(env, function, data, Some(release), std::ptr::null_mut(), std::ptr::null_mut())
    } else {
      status
    }
  };
  if status != sys::Status::napi_ok {
    // SAFETY: the count taken above, not handed to a finalizer.
    drop(unsafe { Rc::from_raw(data.cast::<JsSide>()) });
    return Err(napi::Error::new(napi::Status::GenericFailure, "cannot make the write function"));
  }
  Ok(function)
}

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  guard("write function finalizer", || {
    // SAFETY: the count `make` gave this function, released once.
    drop(unsafe { Rc::from_raw(data.cast::<JsSide>()) })
  });
}

unsafe extern "C" fn write(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  let mut result = std::ptr::null_mut();
  // SAFETY: called by Node with this function's callback info, on the JS thread.
  let outcome = guard("write", || unsafe { write_call(env, info) });
  let failure = match outcome {
    Some(Ok(pending)) => {
      // SAFETY: as above.
      unsafe { sys::napi_create_double(env, pending, &mut result) };
      None
    }
    Some(Err(message)) => Some(message),
    None => Some(c"node-ipc-rs: internal error in write"),
  };
  if let Some(message) = failure {
    // SAFETY: as above; a C string.
    unsafe { sys::napi_throw_type_error(env, std::ptr::null(), message.as_ptr()) };
  }
  result
}

/// # Safety
/// Called from [`write`] with its arguments.
unsafe fn write_call(env: sys::napi_env, info: sys::napi_callback_info) -> Result<f64, &'static CStr> {
  let mut argc = 2;
  let mut argv = [std::ptr::null_mut(); 2];
  let mut data = std::ptr::null_mut();
  let mut conn = 0u32;
  let mut units = 0;
  // SAFETY: per the caller; `data` is the JsSide `make` bound (alive until finalized).
  let side = unsafe {
    let status =
      sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), std::ptr::null_mut(), &mut data);
    if status != sys::Status::napi_ok || data.is_null() {
      return Err(c"node-ipc-rs: write called without its endpoint");
    }
    if sys::napi_get_value_uint32(env, argv[0], &mut conn) != sys::Status::napi_ok {
      return Err(c"node-ipc-rs: write expects a connection id");
    }
    if sys::napi_get_value_string_utf16(env, argv[1], std::ptr::null_mut(), 0, &mut units)
      != sys::Status::napi_ok
    {
      return Err(c"node-ipc-rs: write expects a string");
    }
    &*data.cast::<JsSide>()
  };
  // At most 3 bytes per UTF-16 unit, plus the NUL V8 writes.
  let room = units * 3 + 1;
  if room > SCRATCH_LIMIT {
    let mut bytes = Vec::with_capacity(room);
    // SAFETY: per the caller.
    unsafe { utf8_into(env, argv[1], &mut bytes) }?;
    // Room was made for 3 bytes a unit; what waits in the queue should not keep it.
    return Ok(pending(side.write(conn, bytes::Bytes::from(super::text::trim(bytes)))));
  }
  SCRATCH.with(|scratch| {
    let mut scratch = scratch.borrow_mut();
    scratch.clear();
    scratch.reserve(room);
    // SAFETY: per the caller.
    unsafe { utf8_into(env, argv[1], &mut scratch) }?;
    Ok(pending(side.write_slice(conn, &scratch)))
  })
}

/// Writes the string's UTF-8 form into `out`'s spare capacity (which must hold 3 bytes per
/// UTF-16 unit plus one). Lone surrogates become U+FFFD, as when Node writes a string.
///
/// # Safety
/// On the env's thread, `value` a string of the env.
unsafe fn utf8_into(
  env: sys::napi_env,
  value: sys::napi_value,
  out: &mut Vec<u8>,
) -> Result<(), &'static CStr> {
  let mut written = 0;
  let room = out.capacity() - out.len();
  // SAFETY: V8 writes at most `room` bytes into the spare capacity and reports how many.
  unsafe {
    let end = out.as_mut_ptr().add(out.len()).cast::<std::os::raw::c_char>();
    if sys::napi_get_value_string_utf8(env, value, end, room, &mut written) != sys::Status::napi_ok {
      return Err(c"node-ipc-rs: write expects a string");
    }
    out.set_len(out.len() + written);
  }
  Ok(())
}

fn pending(queued: Option<usize>) -> f64 {
  super::pending_or_dropped(queued)
}
