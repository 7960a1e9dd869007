//! Turning a batch of core events into one flat JS array, `[kind, connId, arg, ...]`:
//! one array per wake-up instead of an object per event keeps the crossing cheap.

use napi::bindgen_prelude::*;
use napi::sys;

use crate::errors::IoFailure;
use crate::mailbox::{Event, PeerInfo};

pub struct JsBatch(pub Vec<Event>);

// Event kinds as index.js's lib/native.js names them.
const LISTENING: u32 = 0;
const SERVER_CLOSED: u32 = 1;
const CONNECTED: u32 = 2;
const FRAMES: u32 = 3;
const RAW: u32 = 4;
const ERROR: u32 = 5;
const TOO_LARGE: u32 = 6;
const DRAIN: u32 = 7;
const CLOSED: u32 = 8;
const DATAGRAM: u32 = 9;
/// Frames that are all ASCII: JS may decode them as Latin-1, a plain copy, which is
/// several times faster than UTF-8 decoding and gives the same string.
const FRAMES_ASCII: u32 = 10;

fn frames_are_ascii(mut data: &[u8]) -> bool {
  while data.len() >= 4 {
    let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let Some(frame) = data.get(4..4 + len) else { return false };
    if !frame.is_ascii() {
      return false;
    }
    data = &data[4 + len..];
  }
  true
}

impl ToNapiValue for JsBatch {
  unsafe fn to_napi_value(raw_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut array = env.create_array((val.0.len() * 3) as u32)?;
    for (i, event) in val.0.into_iter().enumerate() {
      let at = (i * 3) as u32;
      let (kind, conn) = match &event {
        Event::Listening => (LISTENING, 0),
        Event::ServerClosed => (SERVER_CLOSED, 0),
        Event::Connected { conn, .. } => (CONNECTED, *conn),
        Event::Frames { conn, data } if frames_are_ascii(data) => (FRAMES_ASCII, *conn),
        Event::Frames { conn, .. } => (FRAMES, *conn),
        Event::Raw { conn, .. } => (RAW, *conn),
        Event::Error { conn, .. } => (ERROR, conn.unwrap_or(0)),
        Event::TooLarge { conn, .. } => (TOO_LARGE, *conn),
        Event::Drain { conn } => (DRAIN, *conn),
        Event::Closed { conn, .. } => (CLOSED, *conn),
        Event::Datagram { .. } => (DATAGRAM, 0),
      };
      array.set(at, kind)?;
      array.set(at + 1, conn)?;
      match event {
        Event::Connected { peer, .. } => array.set(at + 2, peer_object(&env, peer)?)?,
        Event::Frames { data, .. } | Event::Raw { data, .. } => {
          array.set(at + 2, BufferSlice::copy_from(&env, data)?)?
        }
        Event::Error { failure, .. } => array.set(at + 2, failure_object(&env, failure)?)?,
        Event::TooLarge { size, limit, .. } => {
          let mut o = Object::new(&env)?;
          o.set("size", size as f64)?;
          o.set("limit", limit as f64)?;
          array.set(at + 2, o)?
        }
        Event::Closed { had_error, .. } => array.set(at + 2, had_error)?,
        Event::Datagram { raw, data, from, size } => {
          // v9 hands UDP handlers a plain rinfo object: {address, family, port, size}.
          let mut o = Object::new(&env)?;
          o.set("raw", raw)?;
          o.set("data", BufferSlice::copy_from(&env, data)?)?;
          o.set("address", from.ip().to_string())?;
          o.set("family", if from.is_ipv4() { "IPv4" } else { "IPv6" })?;
          o.set("port", from.port() as u32)?;
          o.set("size", size as u32)?;
          array.set(at + 2, o)?
        }
        Event::Listening | Event::ServerClosed | Event::Drain { .. } => {}
      }
    }
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
  Ok(o)
}
