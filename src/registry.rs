//! The connections of one endpoint by id, and the settings they share (framing, limits).
//! Connections hold this, not the endpoint above them: a connection can be made and tested
//! with a registry alone, and the endpoint (listener, UDP socket) is not reachable from it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::cancel::Cancel;
use crate::codec::FrameDecoder;
use crate::locked::Locked;
use crate::mailbox::ConnId;
#[cfg(doc)]
use crate::mailbox::Event;
use crate::outgoing::{Closing, Outgoing};

/// The frame size limit when `maxMessageSize` is not set (README, "Options node-ipc-rs adds").
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// Bytes queued for one peer above which writes report back-pressure.
pub const WRITE_HIGH_WATER: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct EndpointOptions {
  /// Captured per endpoint (v9 let the last constructed parser's delimiter win for all).
  pub delimiter: Vec<u8>,
  /// `None` disables the limit.
  pub max_message_size: Option<usize>,
  pub raw: bool,
  /// Queued bytes above which `write` reports back-pressure.
  pub write_high_water: usize,
  /// Plain Unix and TCP connections are handed to the consumer as [`Event::HandedOff`]
  /// once established, for it to drive on its own thread ([`crate::polled`]); TLS
  /// connections always run on tokio tasks. Off: every stream runs on tokio tasks.
  pub hand_off_plain_streams: bool,
}

impl Default for EndpointOptions {
  fn default() -> Self {
    Self {
      delimiter: b"\x0c".to_vec(),
      max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
      raw: false,
      write_high_water: WRITE_HIGH_WATER,
      hand_off_plain_streams: false,
    }
  }
}

/// The parts of a connection that calls from JS touch, whichever kind drives it.
pub struct ConnShared {
  pub id: ConnId,
  pub out: Outgoing,
  pub cancel: Cancel,
  had_error: AtomicBool,
}

impl ConnShared {
  pub fn new(id: ConnId, write_high_water: usize) -> Self {
    Self {
      id,
      out: Outgoing::new(write_high_water),
      cancel: Cancel::default(),
      had_error: AtomicBool::new(false),
    }
  }

  pub fn destroy(&self) {
    self.out.close(Closing::Destroy);
    self.cancel.fire();
  }

  pub fn end(&self) {
    self.out.close(Closing::End);
  }

  /// Closes after an error: the close will report `had_error`.
  pub fn fail(&self) {
    self.had_error.store(true, Ordering::SeqCst);
    self.destroy();
  }

  pub fn had_error(&self) -> bool {
    self.had_error.load(Ordering::SeqCst)
  }
}

pub struct Registry {
  options: EndpointOptions,
  raw: AtomicBool,
  conns: Mutex<HashMap<ConnId, Arc<ConnShared>>>,
  next_id: AtomicU32,
  /// `u32::MAX` means unlimited.
  max_connections: AtomicU32,
  /// Accepted connections still being set up (in their TLS handshake, or held until their
  /// owner admits them, see `admission`): they count toward the limit.
  setting_up: AtomicU32,
  /// Fired by `shut_down`: connections still being set up (a TLS handshake, a stream on
  /// its way to start) are dropped instead of started.
  shut_down: Cancel,
}

impl Registry {
  pub fn new(options: EndpointOptions) -> Arc<Self> {
    Arc::new(Self {
      raw: AtomicBool::new(options.raw),
      options,
      conns: Mutex::new(HashMap::new()),
      next_id: AtomicU32::new(1),
      max_connections: AtomicU32::new(u32::MAX),
      setting_up: AtomicU32::new(0),
      shut_down: Cancel::default(),
    })
  }

  fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Arc<ConnShared>>> {
    self.conns.locked()
  }

  pub fn decoder(&self) -> FrameDecoder {
    FrameDecoder::new(&self.options.delimiter, self.options.max_message_size)
  }

  /// v9 reads `config.rawBuffer` live on every receive; JS forwards changes here.
  pub fn set_raw(&self, raw: bool) {
    self.raw.store(raw, Ordering::Relaxed);
  }

  pub fn is_raw(&self) -> bool {
    self.raw.load(Ordering::Relaxed)
  }

  pub fn hands_off_plain_streams(&self) -> bool {
    self.options.hand_off_plain_streams
  }

  pub fn set_max_connections(&self, max: u32) {
    self.max_connections.store(max, Ordering::Relaxed);
  }

  /// Connections, and accepted ones still being set up, fill `maxConnections`.
  pub fn at_capacity(&self) -> bool {
    let open = self.connection_count() + self.setting_up.load(Ordering::SeqCst) as usize;
    open >= self.max_connections.load(Ordering::Relaxed) as usize
  }

  /// An accepted connection is being set up (a handshake, a verification); it counts until
  /// the returned guard drops (once it is registered, or has failed).
  pub fn setting_up(self: &Arc<Self>) -> SettingUp {
    self.setting_up.fetch_add(1, Ordering::SeqCst);
    SettingUp(self.clone())
  }

  pub fn connection_count(&self) -> usize {
    self.conns().len()
  }

  /// A new connection, whose write queue exists before its stream does.
  pub fn add(&self) -> Arc<ConnShared> {
    self.add_reserved(self.reserve_id())
  }

  /// An id for a connection that is registered later ([`Registry::add_reserved`]): one
  /// held until its owner admits it is named by this id meanwhile, and keeps it.
  pub fn reserve_id(&self) -> ConnId {
    self.next_id.fetch_add(1, Ordering::Relaxed)
  }

  /// A new connection under an id from [`Registry::reserve_id`].
  pub fn add_reserved(&self, id: ConnId) -> Arc<ConnShared> {
    let shared = Arc::new(ConnShared::new(id, self.options.write_high_water));
    self.conns().insert(id, shared.clone());
    shared
  }

  /// Removes a closed connection; its id is never used again.
  pub fn forget(&self, id: ConnId) {
    self.conns().remove(&id);
  }

  /// The shared state of a live connection.
  pub fn conn(&self, id: ConnId) -> Option<Arc<ConnShared>> {
    self.conns().get(&id).cloned()
  }

  /// Queues bytes for one connection and returns the bytes now pending for it. `None`: the
  /// connection is gone or closing, and the bytes are dropped (as v9 drops writes to a
  /// destroyed socket).
  pub fn write(&self, id: ConnId, data: Bytes) -> Option<usize> {
    self.conn(id)?.out.push(data)
  }

  /// As [`Registry::write`], copying only what the socket does not take at once.
  pub fn write_slice(&self, id: ConnId, data: &[u8]) -> Option<usize> {
    self.conn(id)?.out.push_slice(data)
  }

  /// Queues the same bytes for every connection; the buffer is shared, not copied.
  pub fn write_all(&self, data: Bytes) {
    let conns: Vec<_> = self.conns().values().cloned().collect();
    for conn in conns {
      conn.out.push_queued(data.clone());
    }
  }

  pub fn end(&self, id: ConnId) {
    if let Some(conn) = self.conn(id) {
      conn.end();
    }
  }

  pub fn destroy(&self, id: ConnId) {
    if let Some(conn) = self.conn(id) {
      conn.destroy();
    }
  }

  /// Writes what `id` has queued as far as its socket takes it now (see
  /// [`Outgoing::flush_direct`]).
  pub fn flush_now(&self, id: ConnId) {
    if let Some(conn) = self.conn(id) {
      // The connection is going: a drain would reach nobody.
      let _ = conn.out.flush_direct();
    }
  }

  /// As [`Registry::flush_now`], for every connection.
  pub fn flush_all_now(&self) {
    let conns: Vec<_> = self.conns().values().cloned().collect();
    for conn in conns {
      let _ = conn.out.flush_direct();
    }
  }

  /// Destroys every connection, and any that is still being set up once it is ready.
  pub fn shut_down(&self) {
    self.shut_down.fire();
    let conns: Vec<_> = self.conns().values().cloned().collect();
    for conn in conns {
      conn.destroy();
    }
  }

  pub fn is_shut_down(&self) -> bool {
    self.shut_down.is_fired()
  }

  pub fn shut_down_signal(&self) -> &Cancel {
    &self.shut_down
  }
}

/// See [`Registry::setting_up`].
pub struct SettingUp(Arc<Registry>);

impl Drop for SettingUp {
  fn drop(&mut self) {
    self.0.setting_up.fetch_sub(1, Ordering::SeqCst);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ids_are_never_reused_and_capacity_counts_live_connections() {
    let registry = Registry::new(EndpointOptions::default());
    registry.set_max_connections(2);
    let a = registry.add();
    let b = registry.add();
    assert!(registry.at_capacity());
    registry.forget(a.id);
    assert!(!registry.at_capacity());
    let c = registry.add();
    assert!(c.id > b.id, "ids only grow");
    registry.forget(c.id);
    let handshake = registry.setting_up();
    assert!(registry.at_capacity(), "a connection being set up counts");
    drop(handshake);
    assert!(!registry.at_capacity());
  }

  #[test]
  fn writes_to_a_closing_or_unknown_connection_are_dropped() {
    let registry = Registry::new(EndpointOptions::default());
    let conn = registry.add();
    assert_eq!(registry.write(conn.id, Bytes::from_static(b"x")), Some(1));
    registry.end(conn.id);
    assert_eq!(registry.write(conn.id, Bytes::from_static(b"y")), None);
    assert_eq!(registry.write(999, Bytes::from_static(b"z")), None);
  }

  #[test]
  fn shut_down_destroys_every_connection_and_stays_fired() {
    let registry = Registry::new(EndpointOptions::default());
    let conn = registry.add();
    registry.shut_down();
    assert_eq!(conn.out.closing(), Closing::Destroy);
    assert!(registry.is_shut_down());
  }
}
