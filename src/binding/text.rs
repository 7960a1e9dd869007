//! A JS string as UTF-8 bytes, converted in one pass.
//!
//! napi-rs's `String` argument asks V8 for the UTF-8 length first (a full scan) and then
//! copies (a second scan). The UTF-16 length is known without a scan and bounds the UTF-8
//! size (at most 3 bytes per code unit), so one `napi_get_value_string_utf8` call into a
//! buffer that large does it in a single pass. Lone surrogates become U+FFFD, as they do
//! when Node writes a string to a socket.

use napi::bindgen_prelude::*;
use napi::sys;

pub struct Utf8Text(pub Vec<u8>);

impl TypeName for Utf8Text {
  fn type_name() -> &'static str {
    "String"
  }

  fn value_type() -> ValueType {
    ValueType::String
  }
}

impl ValidateNapiValue for Utf8Text {}

impl FromNapiValue for Utf8Text {
  unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
    let mut units = 0;
    check_status!(
      unsafe { sys::napi_get_value_string_utf16(env, value, std::ptr::null_mut(), 0, &mut units) },
      "expected a string"
    )?;
    let capacity = units * 3 + 1;
    let mut bytes: Vec<u8> = Vec::with_capacity(capacity);
    let mut written = 0;
    check_status!(
      unsafe {
        sys::napi_get_value_string_utf8(env, value, bytes.as_mut_ptr().cast(), capacity, &mut written)
      },
      "expected a string"
    )?;
    // Safety: V8 wrote `written` bytes (plus a NUL we do not keep).
    unsafe { bytes.set_len(written) };
    // Give back a large over-allocation (non-ASCII text can need up to 3x, ASCII 1x).
    if bytes.capacity() - bytes.len() > 64 * 1024 {
      bytes.shrink_to_fit();
    }
    Ok(Utf8Text(bytes))
  }
}
