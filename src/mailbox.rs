//! Batched delivery of transport events to the JavaScript thread (ARCHITECTURE.md,
//! "Batching across the boundary").
//!
//! Every endpoint (a server and all its connections, or one client connection) owns one
//! [`Mailbox`]. Transport tasks push events; the first push into an empty mailbox wakes the
//! consumer once, and the consumer takes everything queued so far in one go. At low rates
//! that is one wake-up per event (no added latency); under load batches grow by
//! themselves. Readers stop reading while the queued payload is above a high-water mark,
//! so a slow JS thread pushes back on the peer instead of growing memory.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::errors::IoFailure;
use crate::locked::Locked;

/// Payload per event and per batch handed to JS, roughly.
const BATCH_BYTES: usize = 256 * 1024;

/// Identifies a connection within its endpoint.
pub type ConnId = u32;

/// The peer of a stream connection, as Node's socket properties show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
  pub remote_address: Option<String>,
  pub remote_port: Option<u16>,
  pub remote_family: Option<&'static str>,
  pub local_address: Option<String>,
  pub local_port: Option<u16>,
  pub tls: Option<TlsPeer>,
  /// Who is at the other end of a local socket, as the kernel says at connect time.
  pub cred: Option<PeerCred>,
}

/// The peer process of a local connection: on a Unix socket its pid (not always known on
/// macOS), uid and gid (`SO_PEERCRED` on Linux, `getpeereid` on macOS); on a Windows pipe
/// its pid and, where this process may read that process's token, its user's SID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCred {
  pub pid: Option<i32>,
  pub uid: Option<u32>,
  pub gid: Option<u32>,
  pub sid: Option<String>,
}

/// What a TLS connection learned in its handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeer {
  pub authorized: bool,
  pub authorization_error: Option<crate::tls::TlsFailure>,
  /// The peer's leaf certificate, DER.
  pub certificate: Option<Vec<u8>>,
  pub protocol: Option<&'static str>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
  /// A server is accepting connections (or a UDP socket is bound); `local` is the address
  /// it is bound to, for TCP and UDP.
  Listening { local: Option<std::net::SocketAddr> },
  /// A server stopped listening (after `close`, or after a listen error).
  ServerClosed,
  /// A new connection: accepted by a server, or established by a client.
  Connected { conn: ConnId, peer: PeerInfo },
  /// A new plain (Unix or TCP) connection whose I/O the consumer drives itself on its own
  /// thread (`EndpointOptions::hand_off_plain_streams`, see `polled`): no task of the
  /// core reads or writes it. The consumer reports its close; dropping the event closes
  /// the socket.
  HandedOff { conn: ConnId, peer: PeerInfo, socket: HandedOffSocket },
  /// An accepted connection held until the consumer admits or refuses it (see
  /// `admission`); nothing of it is read meanwhile.
  Verify { conn: ConnId, peer: PeerInfo },
  /// Complete frames, each as a little-endian `u32` length followed by its bytes.
  Frames { conn: ConnId, data: Vec<u8> },
  /// Bytes exactly as read, in raw mode.
  Raw { conn: ConnId, data: Vec<u8> },
  /// An I/O failure; `conn` is `None` for the listener itself.
  Error { conn: Option<ConnId>, failure: IoFailure },
  /// A frame grew past `maxMessageSize`; the connection is being closed.
  TooLarge { conn: ConnId, size: usize, limit: usize },
  /// A memory or time limit closed the connection (README, "Options node-ipc-rs adds"):
  /// `size` is what passed it (bytes; for a frame timeout, the bytes of the incomplete
  /// frame), `max` the limit (bytes; milliseconds for a frame timeout). Reported just before
  /// the connection's [`Event::Closed`].
  OverLimit { conn: ConnId, limit: Limit, size: usize, max: usize },
  /// The write queue fell back to empty after passing its high-water mark.
  Drain { conn: ConnId },
  /// The connection is fully closed; nothing more will come for it.
  Closed { conn: ConnId, had_error: bool },
  /// The kernel has dropped `total` datagrams of a UDP socket so far (its receive queue was
  /// full while JS was behind).
  DatagramsDropped { total: u32 },
  /// One UDP datagram: frames (length-prefixed, as in `Frames`) or, raw, its bytes.
  Datagram { raw: bool, data: Vec<u8>, from: std::net::SocketAddr, size: usize },
}

impl Event {
  fn payload_len(&self) -> usize {
    match self {
      Event::Frames { data, .. } | Event::Raw { data, .. } | Event::Datagram { data, .. } => data.len(),
      _ => 0,
    }
  }
}

/// Which limit an [`Event::OverLimit`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
  /// `maxBufferedBytes`: the endpoint's incomplete frames together held more; this
  /// connection held the largest.
  Buffered,
  /// `frameTimeout`: a frame stayed incomplete for longer.
  FrameTimeout,
  /// `maxPendingBytes`: more bytes were queued towards the peer.
  Pending,
}

/// The socket of an [`Event::HandedOff`]: non-blocking, no longer registered with tokio.
#[derive(Debug)]
pub struct HandedOffSocket(pub socket2::Socket);

impl PartialEq for HandedOffSocket {
  #[cfg(unix)]
  fn eq(&self, other: &Self) -> bool {
    use std::os::fd::AsRawFd;
    self.0.as_raw_fd() == other.0.as_raw_fd()
  }

  #[cfg(windows)]
  fn eq(&self, other: &Self) -> bool {
    use std::os::windows::io::AsRawSocket;
    self.0.as_raw_socket() == other.0.as_raw_socket()
  }
}

impl Eq for HandedOffSocket {}

/// Told when a mailbox goes from empty to non-empty. In Node this queues a call to the JS
/// callback through a threadsafe function.
pub trait Wake: Send + Sync {
  fn wake(&self);
}

#[derive(Default)]
struct Queue {
  events: Vec<Event>,
  payload: usize,
  /// A wake-up is outstanding; further pushes need not send another.
  scheduled: bool,
}

pub struct Mailbox {
  queue: Mutex<Queue>,
  room: Notify,
  high_water: usize,
}

impl Mailbox {
  pub fn new(high_water: usize) -> Arc<Self> {
    Arc::new(Self { queue: Mutex::new(Queue::default()), room: Notify::new(), high_water })
  }

  /// Everything queued so far, in order. Called by the consumer after a wake-up. No
  /// further wake-up comes until the consumer calls [`Mailbox::rearm`]: a consumer that
  /// is woken again at once, for as long as data streams in, never gets to do anything
  /// else (Node runs up to 1000 queued threadsafe calls in one go, starving its timers).
  pub fn take(&self) -> Vec<Event> {
    let events = Self::take_batch(&mut self.queue.locked());
    self.room.notify_waiters();
    events
  }

  /// At most about BATCH_BYTES of payload (at least one event), so that JS turns data
  /// into objects in bounded bursts: one huge burst promotes everything it allocates
  /// out of V8's young generation and inflates the heap.
  fn take_batch(q: &mut Queue) -> Vec<Event> {
    let mut bytes = 0;
    let count = q
      .events
      .iter()
      .take_while(|ev| {
        let first = bytes == 0;
        bytes += ev.payload_len().max(1);
        first || bytes <= BATCH_BYTES
      })
      .count();
    let batch: Vec<Event> = q.events.drain(..count).collect();
    q.payload -= batch.iter().map(Event::payload_len).sum::<usize>();
    batch
  }

  /// The consumer is ready for more: what has queued meanwhile, if anything (the
  /// consumer keeps pulling), or `None`, and then the next event wakes it again.
  pub fn rearm(&self) -> Option<Vec<Event>> {
    let events = {
      let mut q = self.queue.locked();
      if q.events.is_empty() {
        q.scheduled = false;
        return None;
      }
      Self::take_batch(&mut q)
    };
    self.room.notify_waiters();
    Some(events)
  }

  /// Queues an event; returns true when the consumer must be woken.
  fn push(&self, event: Event) -> bool {
    let mut q = self.queue.locked();
    q.payload += event.payload_len();
    q.events.push(event);
    !std::mem::replace(&mut q.scheduled, true)
  }

  /// Appends payload bytes for `conn`, merging with the previous event when it is the same
  /// kind for the same connection, so a burst of reads becomes one JS-side buffer.
  fn append<R>(&self, conn: ConnId, raw: bool, fill: impl FnOnce(&mut Vec<u8>) -> R) -> (R, bool) {
    let mut q = self.queue.locked();
    let merge = matches!(
      (q.events.last(), raw),
      (Some(Event::Frames { conn: c, data }), false) | (Some(Event::Raw { conn: c, data }), true)
        if *c == conn && data.len() < BATCH_BYTES
    );
    if !merge {
      let data = Vec::new();
      q.events.push(if raw { Event::Raw { conn, data } } else { Event::Frames { conn, data } });
    }
    let before;
    let result;
    {
      let Some(Event::Frames { data, .. } | Event::Raw { data, .. }) = q.events.last_mut() else {
        unreachable!("a payload event was just ensured");
      };
      before = data.len();
      result = fill(data);
      let grown = data.len() - before;
      q.payload += grown;
    }
    // An event that received no bytes (the read held only a partial frame) is dropped.
    if !merge && matches!(q.events.last(), Some(ev) if ev.payload_len() == 0) {
      q.events.pop();
      return (result, false);
    }
    let wake = !std::mem::replace(&mut q.scheduled, true);
    (result, wake)
  }

  fn is_over_high_water(&self) -> bool {
    self.queue.locked().payload > self.high_water
  }

  /// Waits until the consumer has taken the queue below the high-water mark.
  async fn wait_for_room(&self) {
    loop {
      let notified = self.room.notified();
      tokio::pin!(notified);
      notified.as_mut().enable();
      if !self.is_over_high_water() {
        return;
      }
      notified.await;
    }
  }
}

/// What a transport task holds to report events: the mailbox plus the wake-up. In Node
/// the waker keeps the event loop alive, so the process lives exactly as long as some
/// task still holds a courier.
#[derive(Clone)]
pub struct Courier {
  mailbox: Arc<Mailbox>,
  waker: Arc<dyn Wake>,
}

impl Courier {
  pub fn new(mailbox: Arc<Mailbox>, waker: Arc<dyn Wake>) -> Self {
    Self { mailbox, waker }
  }

  pub fn send(&self, event: Event) {
    if self.mailbox.push(event) {
      self.waker.wake();
    }
  }

  /// Appends received payload for `conn` (merged with the previous event when it is the same kind for the same connection) and wakes the consumer.
  pub fn append<R>(&self, conn: ConnId, raw: bool, fill: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let (result, wake) = self.mailbox.append(conn, raw, fill);
    if wake {
      self.waker.wake();
    }
    result
  }

  /// Backpressure for readers: returns once the consumer has caught up.
  pub async fn wait_for_room(&self) {
    self.mailbox.wait_for_room().await
  }
}

/// Appends one frame in the length-prefixed form that [`Event::Frames`] carries.
pub fn put_frame(out: &mut Vec<u8>, frame: &[u8]) {
  out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
  out.extend_from_slice(frame);
}

#[cfg(test)]
pub mod testing {
  //! A waker for tests: counts wake-ups and lets a test await the next one.
  use super::*;
  use std::sync::atomic::{AtomicUsize, Ordering};

  #[derive(Default)]
  pub struct CountingWaker {
    pub wakes: AtomicUsize,
    pub notify: Notify,
  }

  impl Wake for CountingWaker {
    fn wake(&self) {
      self.wakes.fetch_add(1, Ordering::SeqCst);
      self.notify.notify_one();
    }
  }

  /// A courier plus a way to collect its events, as the JS side would.
  pub struct Collector {
    pub mailbox: Arc<Mailbox>,
    pub waker: Arc<CountingWaker>,
    pub events: Vec<Event>,
  }

  impl Collector {
    pub fn new(high_water: usize) -> (Self, Courier) {
      let mailbox = Mailbox::new(high_water);
      let waker = Arc::new(CountingWaker::default());
      let courier = Courier::new(mailbox.clone(), waker.clone());
      (Self { mailbox, waker, events: Vec::new() }, courier)
    }

    /// Takes events until `done` holds for the collected list, or panics after 5 s.
    pub async fn until(&mut self, done: impl Fn(&[Event]) -> bool) -> &[Event] {
      let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
      loop {
        let notified = self.waker.notify.notified();
        while let Some(events) = self.mailbox.rearm() {
          self.events.extend(events);
        }
        if done(&self.events) {
          return &self.events;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
          while let Some(events) = self.mailbox.rearm() {
            self.events.extend(events);
          }
          assert!(done(&self.events), "timed out; events so far: {:?}", self.events);
          return &self.events;
        }
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::testing::*;
  use super::*;
  use std::sync::atomic::Ordering;

  #[test]
  fn wakes_once_per_batch_and_keeps_order() {
    let (c, courier) = Collector::new(1 << 20);
    courier.send(Event::Listening { local: None });
    courier.send(Event::Drain { conn: 1 });
    assert_eq!(c.waker.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(c.mailbox.take(), vec![Event::Listening { local: None }, Event::Drain { conn: 1 }]);
    // Until the consumer re-arms, new events wait without another wake-up...
    courier.send(Event::ServerClosed);
    assert_eq!(c.waker.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(c.mailbox.rearm(), Some(vec![Event::ServerClosed]));
    assert_eq!(c.mailbox.rearm(), None);
    // ...and once it has, the next event wakes it.
    courier.send(Event::Listening { local: None });
    assert_eq!(c.waker.wakes.load(Ordering::SeqCst), 2);
  }

  #[test]
  fn consecutive_payload_for_one_connection_merges() {
    let (c, courier) = Collector::new(1 << 20);
    courier.append(1, false, |d| put_frame(d, b"a"));
    courier.append(1, false, |d| put_frame(d, b"b"));
    courier.append(2, false, |d| put_frame(d, b"c"));
    courier.append(1, false, |_| ()); // a read that completed no frame
    let events = c.mailbox.take();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], Event::Frames { conn: 1, data: vec![1, 0, 0, 0, b'a', 1, 0, 0, 0, b'b'] });
  }

  #[tokio::test]
  async fn readers_wait_while_the_queue_is_over_high_water() {
    let (c, courier) = Collector::new(4);
    courier.append(1, true, |d| d.extend_from_slice(b"12345"));
    let waiting = tokio::spawn({
      let courier = courier.clone();
      async move { courier.wait_for_room().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!waiting.is_finished());
    c.mailbox.take();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.expect("reader resumed").unwrap();
  }
}
