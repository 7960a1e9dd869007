//! JS strings as UTF-8 bytes, converted in one pass.
//!
//! napi-rs's `String` argument asks V8 for the UTF-8 length first (a full scan) and then
//! copies (a second scan). The UTF-16 length is known without a scan and bounds the UTF-8
//! size (at most 3 bytes per code unit), so one `napi_get_value_string_utf8` call into a
//! buffer that large does it in a single pass. Lone surrogates become U+FFFD, as they do
//! when Node writes a string to a socket.

use napi::bindgen_prelude::*;
use napi::sys;

use crate::json_text;

/// Over-allocation given back once a conversion is done (non-ASCII text can need up to
/// 3 bytes per code unit, ASCII needs 1).
const SLACK: usize = 64 * 1024;

fn utf16_units(env: sys::napi_env, value: sys::napi_value) -> Result<usize> {
  let mut units = 0;
  check_status!(
    // SAFETY: a value of this env, on its thread; with no buffer V8 only reports the length.
    unsafe { sys::napi_get_value_string_utf16(env, value, std::ptr::null_mut(), 0, &mut units) },
    "expected a string"
  )?;
  Ok(units)
}

/// Appends the string's UTF-8 bytes; `out` must have room for 3 bytes per unit plus one.
fn append_utf8(env: sys::napi_env, value: sys::napi_value, units: usize, out: &mut Vec<u8>) -> Result<()> {
  let room = units * 3 + 1;
  out.reserve(room);
  let mut written = 0;
  check_status!(
    // SAFETY: `out` has `room` bytes of spare capacity after its length; V8 writes at most
    // that many.
    unsafe {
      sys::napi_get_value_string_utf8(env, value, out.as_mut_ptr().add(out.len()).cast(), room, &mut written)
    },
    "expected a string"
  )?;
  // Safety: V8 wrote `written` bytes after the old length (plus a NUL we do not keep).
  unsafe { out.set_len(out.len() + written) };
  Ok(())
}

pub(super) fn trim(mut bytes: Vec<u8>) -> Vec<u8> {
  if bytes.capacity() - bytes.len() > SLACK {
    bytes.shrink_to_fit();
  }
  bytes
}

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
    let units = utf16_units(env, value)?;
    let mut bytes = Vec::new();
    append_utf8(env, value, units, &mut bytes)?;
    Ok(Utf8Text(trim(bytes)))
  }
}

/// One JSON frame handed over in pieces by `lib/message.js`: an array
/// `[json, string, json, ..., json]` whose even items are JSON text, written as they are,
/// and whose odd items are large strings, written as JSON string literals. `None` when a
/// string may hold a lone surrogate: the shim then uses `JSON.stringify` (see `json_text`).
pub struct JsonFrame(pub Option<Vec<u8>>);

impl TypeName for JsonFrame {
  fn type_name() -> &'static str {
    "Array"
  }

  fn value_type() -> ValueType {
    ValueType::Object
  }
}

impl ValidateNapiValue for JsonFrame {}

impl FromNapiValue for JsonFrame {
  unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
    let mut length = 0;
    // SAFETY: a value of this env, on its thread (napi checks that it is an array).
    check_status!(unsafe { sys::napi_get_array_length(env, value, &mut length) }, "expected an array")?;
    if length % 2 == 0 {
      return Err(Error::new(Status::InvalidArg, "a JSON frame has an odd number of pieces"));
    }
    let mut pieces = Vec::with_capacity(length as usize);
    let mut capacity = 0;
    for index in 0..length {
      let mut piece = std::ptr::null_mut();
      check_status!(
        // SAFETY: an array of this env, on its thread, read within its length.
        unsafe { sys::napi_get_element(env, value, index, &mut piece) },
        "reading a frame piece"
      )?;
      let units = utf16_units(env, piece)?;
      capacity += units * 3 + 3;
      pieces.push((piece, units));
    }
    let mut out = Vec::with_capacity(capacity);
    for (index, (piece, units)) in pieces.into_iter().enumerate() {
      if index % 2 == 0 {
        append_utf8(env, piece, units, &mut out)?;
        continue;
      }
      out.push(b'"');
      let start = out.len();
      append_utf8(env, piece, units, &mut out)?;
      if !json_text::close_literal(&mut out, start) {
        return Ok(JsonFrame(None));
      }
    }
    Ok(JsonFrame(Some(trim(out))))
  }
}
