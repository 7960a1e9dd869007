//! Turning core events into `(kind, connId, arg)` triples for JS: a batch from the mailbox
//! becomes one flat array `[kind, connId, arg, ...]` (one array per wake-up instead of an
//! object per event keeps the crossing cheap); a connection read on the JS thread passes
//! each triple as the arguments of a direct call (`js_thread.rs`).

use napi::bindgen_prelude::*;
use napi::sys;

use crate::errors::IoFailure;
use crate::frame_runs::{self, Piece};
use crate::json_text;
use crate::mailbox::{Event, Limit, PeerInfo};

pub struct JsBatch(pub Vec<Event>);

/// Event kinds, by the names lib/native.js uses: it reads them from `contract()`.
pub const KINDS: [(&str, u32); 17] = [
  ("LISTENING", LISTENING),
  ("SERVER_CLOSED", SERVER_CLOSED),
  ("CONNECTED", CONNECTED),
  ("FRAMES", FRAMES),
  ("RAW", RAW),
  ("ERROR", ERROR),
  ("TOO_LARGE", TOO_LARGE),
  ("DRAIN", DRAIN),
  ("CLOSED", CLOSED),
  ("DATAGRAM", DATAGRAM),
  ("FRAMES_ASCII", FRAMES_ASCII),
  ("ONE_FRAME", ONE_FRAME),
  ("DATAGRAMS_DROPPED", DATAGRAMS_DROPPED),
  ("VERIFY", VERIFY),
  ("MEMORY_LIMIT", MEMORY_LIMIT),
  ("FRAME_TIMEOUT", FRAME_TIMEOUT),
  ("PENDING_LIMIT", PENDING_LIMIT),
];
const LISTENING: u32 = 0;
const SERVER_CLOSED: u32 = 1;
const CONNECTED: u32 = 2;
/// Small frames, length-prefixed, in a Buffer (`frame_runs::Piece::Run`).
const FRAMES: u32 = 3;
const RAW: u32 = 4;
const ERROR: u32 = 5;
const TOO_LARGE: u32 = 6;
const DRAIN: u32 = 7;
const CLOSED: u32 = 8;
const DATAGRAM: u32 = 9;
/// As FRAMES, all ASCII: JS may decode them as Latin-1.
const FRAMES_ASCII: u32 = 10;
/// One frame (`frame_runs::Piece::One`), as a string; or, for a large frame whose large
/// strings were taken out (`json_text::extract_large_strings`), `[skeleton, ...strings]`.
const ONE_FRAME: u32 = 11;
/// The kernel's count of a UDP socket's dropped datagrams so far.
const DATAGRAMS_DROPPED: u32 = 12;
/// An accepted connection held for JS to admit or refuse, with its peer (as CONNECTED's).
const VERIFY: u32 = 13;
/// The limits that close a connection (`mailbox::Limit`), each with `{size, limit}`.
const MEMORY_LIMIT: u32 = 14;
const FRAME_TIMEOUT: u32 = 15;
const PENDING_LIMIT: u32 = 16;

/// Receives each converted event.
type Sink<'s> = dyn FnMut(u32, u32, sys::napi_value) -> Result<()> + 's;

struct Out<'e, 's> {
  env: &'e Env,
  sink: &'s mut Sink<'s>,
}

impl Out<'_, '_> {
  fn push<V: ToNapiValue>(&mut self, kind: u32, conn: u32, arg: V) -> Result<()> {
    // SAFETY: a value made in this env, on its thread.
    let arg = unsafe { V::to_napi_value(self.env.raw(), arg) }?;
    (self.sink)(kind, conn, arg)
  }

  /// FRAMES events hold length-prefixed frames, handed over as `frame_runs` plans.
  fn push_frames(&mut self, conn: u32, data: &[u8]) -> Result<()> {
    for piece in frame_runs::pieces(data) {
      match piece {
        Piece::One(frame) if frame.len() >= frame_runs::LARGE_FRAME => {
          let frame = large_frame(self.env, frame)?;
          self.push(ONE_FRAME, conn, JsRaw(frame))?
        }
        Piece::One(frame) => {
          let frame = js_string(self.env, frame)?;
          self.push(ONE_FRAME, conn, JsRaw(frame))?
        }
        Piece::Run { frames, ascii } => {
          let buffer = BufferSlice::copy_from(self.env, frames)?;
          self.push(if ascii { FRAMES_ASCII } else { FRAMES }, conn, buffer)?
        }
      }
    }
    Ok(())
  }

  fn push_event(&mut self, event: Event) -> Result<()> {
    let env = self.env;
    match event {
      Event::Listening { local: None } => self.push(LISTENING, 0, ()),
      Event::Listening { local: Some(local) } => {
        let mut o = Object::new(env)?;
        o.set("address", local.ip().to_string())?;
        o.set("family", if local.is_ipv4() { "IPv4" } else { "IPv6" })?;
        o.set("port", local.port() as u32)?;
        self.push(LISTENING, 0, o)
      }
      Event::ServerClosed => self.push(SERVER_CLOSED, 0, ()),
      Event::Connected { conn, peer } => self.push(CONNECTED, conn, peer_object(env, peer)?),
      Event::Verify { conn, peer } => self.push(VERIFY, conn, peer_object(env, peer)?),
      // Turned into `Connected` on the JS thread before conversion (js_thread.rs); one
      // that gets here had no endpoint left to take it, and dropping it closes it.
      Event::HandedOff { .. } => Ok(()),
      Event::Frames { conn, data } => self.push_frames(conn, &data),
      Event::Raw { conn, data } => self.push(RAW, conn, BufferSlice::copy_from(env, data)?),
      Event::Error { conn, failure } => self.push(ERROR, conn.unwrap_or(0), failure_object(env, failure)?),
      Event::TooLarge { conn, size, limit } => {
        let mut o = Object::new(env)?;
        o.set("size", size as f64)?;
        o.set("limit", limit as f64)?;
        self.push(TOO_LARGE, conn, o)
      }
      Event::OverLimit { conn, limit, size, max } => {
        let kind = match limit {
          Limit::Buffered => MEMORY_LIMIT,
          Limit::FrameTimeout => FRAME_TIMEOUT,
          Limit::Pending => PENDING_LIMIT,
        };
        let mut o = Object::new(env)?;
        o.set("size", size as f64)?;
        o.set("limit", max as f64)?;
        self.push(kind, conn, o)
      }
      Event::Drain { conn } => self.push(DRAIN, conn, ()),
      Event::DatagramsDropped { total } => self.push(DATAGRAMS_DROPPED, 0, total),
      Event::Closed { conn, had_error } => self.push(CLOSED, conn, had_error),
      Event::Datagram { raw, data, from, size } => {
        // v9 hands UDP handlers a plain rinfo object: {address, family, port, size}.
        let mut o = Object::new(env)?;
        o.set("raw", raw)?;
        o.set("data", BufferSlice::copy_from(env, data)?)?;
        o.set("address", from.ip().to_string())?;
        o.set("family", if from.is_ipv4() { "IPv4" } else { "IPv6" })?;
        o.set("port", from.port() as u32)?;
        o.set("size", size as u32)?;
        self.push(DATAGRAM, 0, o)
      }
    }
  }
}

/// Converts `events` in order, handing each `(kind, conn, arg)` to `sink`.
pub fn convert(env: &Env, events: Vec<Event>, sink: &mut Sink<'_>) -> Result<()> {
  let mut out = Out { env, sink };
  for event in events {
    out.push_event(event)?;
  }
  Ok(())
}

fn large_frame(env: &Env, frame: &[u8]) -> Result<sys::napi_value> {
  let Some(extracted) =
    json_text::extract_large_strings(frame, json_text::process_mark().as_bytes(), json_text::LARGE_STRING)
  else {
    return js_string(env, frame);
  };
  let mut array = env.create_array(extracted.strings.len() as u32 + 1)?;
  array.set(0, JsRaw(js_string(env, &extracted.skeleton)?))?;
  for (n, text) in extracted.strings.iter().enumerate() {
    array.set(n as u32 + 1, JsRaw(js_string(env, text.as_bytes())?))?;
  }
  // SAFETY: an array made in this env, on its thread.
  unsafe { Array::to_napi_value(env.raw(), array) }
}

/// A JS string from UTF-8 bytes, by a plain copy when they are ASCII. Invalid sequences
/// become U+FFFD, as Buffer#toString makes them.
fn js_string(env: &Env, bytes: &[u8]) -> Result<sys::napi_value> {
  let mut value = std::ptr::null_mut();
  // SAFETY: on the env's thread; V8 copies `bytes.len()` bytes from a live slice.
  let status = unsafe {
    if bytes.is_ascii() {
      sys::napi_create_string_latin1(env.raw(), bytes.as_ptr().cast(), bytes.len() as isize, &mut value)
    } else {
      sys::napi_create_string_utf8(env.raw(), bytes.as_ptr().cast(), bytes.len() as isize, &mut value)
    }
  };
  check_status!(status, "creating a string of {} bytes", bytes.len())?;
  Ok(value)
}

/// A napi_value made by hand, for `Array::set`.
struct JsRaw(sys::napi_value);

impl ToNapiValue for JsRaw {
  unsafe fn to_napi_value(_: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    Ok(val.0)
  }
}

impl ToNapiValue for JsBatch {
  unsafe fn to_napi_value(raw_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut array = env.create_array((val.0.len() * 3) as u32)?;
    let mut len = 0;
    convert(&env, val.0, &mut |kind, conn, arg| {
      array.set(len, kind)?;
      array.set(len + 1, conn)?;
      array.set(len + 2, JsRaw(arg))?;
      len += 3;
      Ok(())
    })?;
    // SAFETY: an array made in this env, on its thread.
    unsafe { Array::to_napi_value(raw_env, array) }
  }
}

fn peer_object(env: &Env, peer: PeerInfo) -> Result<Object<'_>> {
  let mut o = Object::new(env)?;
  if let Some(a) = peer.remote_address {
    o.set("remoteAddress", a)?;
  }
  if let Some(p) = peer.remote_port {
    o.set("remotePort", p as u32)?;
  }
  if let Some(f) = peer.remote_family {
    o.set("remoteFamily", f)?;
  }
  if let Some(a) = peer.local_address {
    o.set("localAddress", a)?;
  }
  if let Some(p) = peer.local_port {
    o.set("localPort", p as u32)?;
  }
  if let Some(cred) = peer.cred {
    let mut c = Object::new(env)?;
    if let Some(pid) = cred.pid {
      c.set("pid", pid)?;
    }
    if let Some(uid) = cred.uid {
      c.set("uid", uid)?;
    }
    if let Some(gid) = cred.gid {
      c.set("gid", gid)?;
    }
    if let Some(sid) = cred.sid {
      c.set("sid", sid)?;
    }
    o.set("peer", c)?;
  }
  if let Some(tls) = peer.tls {
    o.set("encrypted", true)?;
    o.set("authorized", tls.authorized)?;
    if let Some(failure) = tls.authorization_error {
      o.set("authorizationError", failure.code)?;
      o.set("authorizationMessage", failure.message)?;
    }
    if let Some(der) = tls.certificate {
      o.set("peerCertificate", BufferSlice::copy_from(env, der)?)?;
    }
    if let Some(protocol) = tls.protocol {
      o.set("tlsProtocol", protocol)?;
    }
  }
  Ok(o)
}

fn failure_object(env: &Env, f: IoFailure) -> Result<Object<'_>> {
  let mut o = Object::new(env)?;
  o.set("errno", f.errno)?;
  o.set("syscall", f.syscall)?;
  if let Some(code) = f.code {
    o.set("code", code)?;
  }
  if let Some(a) = f.address {
    o.set("address", a)?;
  }
  if let Some(p) = f.port {
    o.set("port", p as u32)?;
  }
  if let Some(d) = f.detail {
    o.set("detail", d)?;
  }
  if let Some(m) = f.message {
    o.set("message", m)?;
  }
  if let Some((address, port)) = f.local {
    o.set("localAddress", address)?;
    o.set("localPort", port as u32)?;
  }
  if !f.errors.is_empty() {
    // Every address failed: lib/errors.js makes Node's AggregateError of these.
    let mut errors = env.create_array(f.errors.len() as u32)?;
    for (n, failure) in f.errors.into_iter().enumerate() {
      errors.set(n as u32, failure_object(env, failure)?)?;
    }
    o.set("errors", errors)?;
  }
  Ok(o)
}
