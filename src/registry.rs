//! The connections of one endpoint by id, and the settings they share (framing, limits).
//! Connections hold this, not the endpoint above them: a connection can be made and tested
//! with a registry alone, and the endpoint (listener, UDP socket) is not reachable from it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::cancel::Cancel;
use crate::codec::FrameDecoder;
use crate::locked::Locked;
use crate::mailbox::{ConnId, Event, Limit};
use crate::outgoing::{Closing, Outgoing};

/// The frame size limit when `maxMessageSize` is not set (README, "Options node-ipc-rs adds").
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// The cap on bytes held in incomplete frames across one endpoint's connections when
/// `maxBufferedBytes` is not set (README, "Options node-ipc-rs adds"): four frames of the
/// default `maxMessageSize` at once, where 100 connections (the default `maxConnections`)
/// could otherwise hold 6.4 GiB.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 256 << 20;
/// Bytes queued for one peer above which writes report back-pressure.
pub const WRITE_HIGH_WATER: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct EndpointOptions {
  /// Captured per endpoint (v9 let the last constructed parser's delimiter win for all).
  pub delimiter: Vec<u8>,
  /// `None` disables the limit.
  pub max_message_size: Option<usize>,
  pub raw: bool,
  /// `maxBufferedBytes`: bytes of incomplete frames all connections together may hold
  /// (see [`Registry::hold`]); `None` disables it.
  pub max_buffered_bytes: Option<usize>,
  /// `frameTimeout`: how long a frame may stay incomplete; `None` disables it.
  pub frame_timeout: Option<Duration>,
  /// `maxPendingBytes`: bytes one connection may have queued towards its peer; `None`
  /// disables it.
  pub max_pending_bytes: Option<usize>,
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
      max_buffered_bytes: Some(DEFAULT_MAX_BUFFERED_BYTES),
      frame_timeout: None,
      max_pending_bytes: None,
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
  /// Bytes of an incomplete frame this connection's reader holds, as last counted in its
  /// registry's total (see [`Registry::hold`]).
  held: AtomicUsize,
  /// The limit that closed the connection, for whoever reports its close to say first.
  over_limit: Mutex<Option<(Limit, usize, usize)>>,
}

impl ConnShared {
  pub fn new(id: ConnId, write_high_water: usize, max_pending: Option<usize>) -> Self {
    Self {
      id,
      out: Outgoing::new(write_high_water, max_pending),
      cancel: Cancel::default(),
      had_error: AtomicBool::new(false),
      held: AtomicUsize::new(0),
      over_limit: Mutex::new(None),
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

  /// Closes because `limit` was passed (`size` against `max`); the first limit is the one
  /// reported.
  pub fn fail_over(&self, limit: Limit, size: usize, max: usize) {
    self.over_limit.locked().get_or_insert((limit, size, max));
    self.fail();
  }

  /// The [`Event::OverLimit`] to report before the close, if a limit closed it; once.
  pub fn take_over_limit(&self) -> Option<Event> {
    let (limit, size, max) = self.over_limit.locked().take()?;
    Some(Event::OverLimit { conn: self.id, limit, size, max })
  }

  /// After a push to the queue returned None: fails the connection if that was because
  /// the queue passed `maxPendingBytes`.
  fn pushed(&self, pending: Option<usize>) -> Option<usize> {
    if pending.is_none() {
      if let Some((size, max)) = self.out.take_overflow() {
        self.fail_over(Limit::Pending, size, max);
      }
    }
    pending
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
  /// Bytes of incomplete frames held by all connections: the sum of their `held`.
  /// Signed: a reader adds its share after swapping it in, and `shed` may take that share
  /// out in between, so the total can be briefly below zero; unsigned it would wrap, and
  /// every holder would look past the limit.
  buffered: AtomicIsize,
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
      buffered: AtomicIsize::new(0),
      shut_down: Cancel::default(),
    })
  }

  fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Arc<ConnShared>>> {
    self.conns.locked()
  }

  pub fn decoder(&self) -> FrameDecoder {
    FrameDecoder::new(&self.options.delimiter, self.options.max_message_size)
  }

  pub fn frame_timeout(&self) -> Option<Duration> {
    self.options.frame_timeout
  }

  /// Bytes of incomplete frames all connections hold now.
  pub fn buffered(&self) -> usize {
    self.buffered.load(Ordering::SeqCst).max(0) as usize
  }

  /// `conn`'s reader now holds `held` bytes of an incomplete frame. When that takes the
  /// total past `maxBufferedBytes`, the connections holding the most are failed (each with
  /// [`Limit::Buffered`], reported at its close) until it is back within the limit, and
  /// returned: the caller's own connection may be one of them. O(1) while within the
  /// limit; a scan of the connections when past it.
  pub fn hold(&self, conn: &ConnShared, held: usize) -> Vec<Arc<ConnShared>> {
    let before = conn.held.swap(held, Ordering::SeqCst);
    if held <= before {
      self.buffered.fetch_sub((before - held) as isize, Ordering::SeqCst);
      return Vec::new();
    }
    let grown = (held - before) as isize;
    let total = self.buffered.fetch_add(grown, Ordering::SeqCst) + grown;
    match self.options.max_buffered_bytes {
      Some(limit) if total > limit as isize => self.shed(limit),
      _ => Vec::new(),
    }
  }

  /// Fails the connections holding the most until the total is within `limit`.
  fn shed(&self, limit: usize) -> Vec<Arc<ConnShared>> {
    let mut victims = Vec::new();
    {
      let conns = self.conns();
      while self.buffered.load(Ordering::SeqCst) > limit as isize {
        let largest = conns.values().max_by_key(|c| c.held.load(Ordering::SeqCst));
        let Some(largest) = largest else { break };
        // Its share leaves the total now, so that it is not chosen twice and others are
        // not failed while it is still closing.
        let size = largest.held.swap(0, Ordering::SeqCst);
        if size == 0 {
          // What is over is held by readers no longer registered (closing): they let go soon.
          break;
        }
        self.buffered.fetch_sub(size as isize, Ordering::SeqCst);
        victims.push((largest.clone(), size));
      }
    }
    victims
      .into_iter()
      .map(|(conn, size)| {
        conn.fail_over(Limit::Buffered, size, limit);
        conn
      })
      .collect()
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
    let shared = Arc::new(ConnShared::new(id, self.options.write_high_water, self.options.max_pending_bytes));
    self.conns().insert(id, shared.clone());
    shared
  }

  /// Removes a closed connection; its id is never used again.
  pub fn forget(&self, id: ConnId) {
    let removed = self.conns().remove(&id);
    if let Some(conn) = removed {
      // Whatever it still counted in the total goes with it.
      self.hold(&conn, 0);
    }
  }

  /// The shared state of a live connection.
  pub fn conn(&self, id: ConnId) -> Option<Arc<ConnShared>> {
    self.conns().get(&id).cloned()
  }

  /// Queues bytes for one connection and returns the bytes now pending for it. `None`: the
  /// connection is gone or closing, and the bytes are dropped (as v9 drops writes to a
  /// destroyed socket).
  pub fn write(&self, id: ConnId, data: Bytes) -> Option<usize> {
    let conn = self.conn(id)?;
    conn.pushed(conn.out.push(data))
  }

  /// As [`Registry::write`], copying only what the socket does not take at once.
  pub fn write_slice(&self, id: ConnId, data: &[u8]) -> Option<usize> {
    let conn = self.conn(id)?;
    conn.pushed(conn.out.push_slice(data))
  }

  /// Queues the same bytes for every connection; the buffer is shared, not copied.
  pub fn write_all(&self, data: Bytes) {
    let conns: Vec<_> = self.conns().values().cloned().collect();
    for conn in conns {
      conn.pushed(conn.out.push_queued(data.clone()));
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

  /// Some connection's writer task still has bytes to write ([`Outgoing::task_has_unsent`]).
  pub fn tasks_have_unsent(&self) -> bool {
    self.conns().values().any(|conn| conn.out.task_has_unsent())
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

  #[test]
  fn past_the_buffered_limit_the_largest_holders_fail_until_it_is_met() {
    let options = EndpointOptions { max_buffered_bytes: Some(100), ..EndpointOptions::default() };
    let registry = Registry::new(options);
    let (a, b, c) = (registry.add(), registry.add(), registry.add());
    assert!(registry.hold(&a, 40).is_empty());
    assert!(registry.hold(&b, 30).is_empty());
    assert!(registry.hold(&c, 30).is_empty(), "exactly the limit is allowed");
    assert!(registry.hold(&b, 10).is_empty(), "less held: no check");
    assert_eq!(registry.buffered(), 80);
    let failed = registry.hold(&c, 61);
    assert_eq!(
      failed.iter().map(|c| c.id).collect::<Vec<_>>(),
      vec![c.id],
      "the largest goes, the caller here"
    );
    assert_eq!(registry.buffered(), 50);
    assert_eq!(
      c.take_over_limit(),
      Some(Event::OverLimit { conn: c.id, limit: Limit::Buffered, size: 61, max: 100 })
    );
    assert!(c.had_error() && c.out.closing() == Closing::Destroy);
    assert_eq!(a.out.closing(), Closing::Open, "the others keep working");

    // Another connection's growth fails the largest holder, not the one that grew.
    let d = registry.add();
    assert!(registry.hold(&d, 45).is_empty());
    assert_eq!(registry.buffered(), 95);
    let failed = registry.hold(&b, 39);
    assert_eq!(failed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![d.id]);
    assert_eq!(registry.buffered(), 79);
    assert!(d.take_over_limit().is_some());
    assert!(b.take_over_limit().is_none() && a.take_over_limit().is_none());
  }

  #[test]
  fn a_forgotten_connection_leaves_the_total_and_no_limit_means_none() {
    let registry = Registry::new(EndpointOptions { max_buffered_bytes: None, ..EndpointOptions::default() });
    let a = registry.add();
    assert!(registry.hold(&a, usize::MAX / 2).is_empty());
    registry.forget(a.id);
    assert_eq!(registry.buffered(), 0);
  }

  #[test]
  fn passing_max_pending_bytes_fails_the_connection_with_its_limit() {
    let registry =
      Registry::new(EndpointOptions { max_pending_bytes: Some(4), ..EndpointOptions::default() });
    let (a, b) = (registry.add(), registry.add());
    assert_eq!(registry.write(a.id, Bytes::from_static(b"abcd")), Some(4));
    assert_eq!(registry.write(a.id, Bytes::from_static(b"e")), None);
    assert_eq!(
      a.take_over_limit(),
      Some(Event::OverLimit { conn: a.id, limit: Limit::Pending, size: 5, max: 4 })
    );
    assert!(a.had_error() && a.cancel.is_fired());
    // A broadcast counts too.
    registry.write_all(Bytes::from_static(b"12345"));
    assert!(b.take_over_limit().is_some());
  }
}
