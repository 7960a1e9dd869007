//! An endpoint is what one JS server or client object drives: its connections, its framing
//! settings and its listener. Calls from JS address connections by id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::cancel::Cancel;
use crate::codec::FrameDecoder;
use crate::connection::{ConnShared, Live};
#[cfg(doc)]
use crate::mailbox::Event;
use crate::mailbox::{ConnId, Courier};

#[derive(Debug, Clone)]
pub struct EndpointOptions {
  /// Captured per endpoint (v9 shared one parser per module: SPEC §12 #4).
  pub delimiter: Vec<u8>,
  /// `None` disables the limit.
  pub max_message_size: Option<usize>,
  pub raw: bool,
  /// Queued bytes above which `write` reports back-pressure (SPEC D8).
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
      max_message_size: Some(64 << 20),
      raw: false,
      write_high_water: 16 << 20,
      hand_off_plain_streams: false,
    }
  }
}

pub struct Endpoint {
  options: EndpointOptions,
  raw: AtomicBool,
  conns: Mutex<HashMap<ConnId, Arc<ConnShared>>>,
  next_id: AtomicU32,
  /// `u32::MAX` means unlimited.
  max_connections: AtomicU32,
  pub(crate) listener: Mutex<Option<Arc<crate::server::ListenerSlot>>>,
  pub(crate) udp: Mutex<Option<crate::udp::UdpSlot>>,
  /// Fired by `shutdown`: connections still being set up (a TLS handshake, a stream on
  /// its way to `start`) are dropped instead of started.
  shut_down: Cancel,
}

impl Endpoint {
  pub fn new(options: EndpointOptions) -> Arc<Self> {
    Arc::new(Self {
      raw: AtomicBool::new(options.raw),
      options,
      conns: Mutex::new(HashMap::new()),
      next_id: AtomicU32::new(1),
      max_connections: AtomicU32::new(u32::MAX),
      listener: Mutex::new(None),
      udp: Mutex::new(None),
      shut_down: Cancel::default(),
    })
  }

  pub fn decoder(&self) -> FrameDecoder {
    FrameDecoder::new(&self.options.delimiter, self.options.max_message_size)
  }

  pub fn decoder_without_limit(&self) -> FrameDecoder {
    FrameDecoder::new(&self.options.delimiter, None)
  }

  /// v9 reads `config.rawBuffer` live on every receive; JS forwards changes here.
  pub fn set_raw(&self, raw: bool) {
    self.raw.store(raw, Ordering::Relaxed);
  }

  pub fn is_raw(&self) -> bool {
    self.raw.load(Ordering::Relaxed)
  }

  pub fn set_max_connections(&self, max: u32) {
    self.max_connections.store(max, Ordering::Relaxed);
  }

  pub(crate) fn at_capacity(&self) -> bool {
    self.connection_count() >= self.max_connections.load(Ordering::Relaxed) as usize
  }

  pub fn connection_count(&self) -> usize {
    self.conns.lock().unwrap().len()
  }

  /// A new connection whose write queue exists before its stream does.
  pub(crate) fn register(self: &Arc<Self>, courier: &Courier) -> Arc<Live> {
    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
    let shared = Arc::new(ConnShared::new(id, self.options.write_high_water));
    self.conns.lock().unwrap().insert(id, shared.clone());
    Arc::new(Live::new(shared, self.clone(), courier.clone()))
  }

  pub fn shut_down_signal(&self) -> &Cancel {
    &self.shut_down
  }

  pub fn hands_off_plain_streams(&self) -> bool {
    self.options.hand_off_plain_streams
  }

  /// Removes a closed connection; its id is never used again.
  pub fn forget(&self, id: ConnId) {
    self.conns.lock().unwrap().remove(&id);
  }

  /// The shared state of a live connection.
  pub fn conn(&self, id: ConnId) -> Option<Arc<ConnShared>> {
    self.conns.lock().unwrap().get(&id).cloned()
  }

  /// Stops everything at once: the listener, the UDP socket and every connection,
  /// without flushing (the owner is going away, as when a Worker's environment ends).
  pub fn shutdown(&self) {
    self.shut_down.fire();
    self.stop_listening();
    self.close_udp();
    let conns: Vec<_> = self.conns.lock().unwrap().values().cloned().collect();
    for conn in conns {
      conn.destroy();
    }
  }

  /// Queues bytes for one connection and returns the bytes now pending for it. `None`: the
  /// connection is gone or closing, and the bytes are dropped (as v9 drops writes to a
  /// destroyed socket).
  pub fn write(&self, id: ConnId, data: Bytes) -> Option<usize> {
    self.conn(id)?.out.push(data)
  }

  /// As [`Endpoint::write`], copying only what the socket does not take at once.
  pub fn write_slice(&self, id: ConnId, data: &[u8]) -> Option<usize> {
    self.conn(id)?.out.push_slice(data)
  }

  /// Queues the same bytes for every connection; the buffer is shared, not copied.
  pub fn write_all(&self, data: Bytes) {
    let conns: Vec<_> = self.conns.lock().unwrap().values().cloned().collect();
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
}
