//! A plain (Unix or TCP) connection driven by readiness on its consumer's own thread.
//!
//! Reading on a tokio worker and waking the JS thread through a threadsafe function costs a
//! thread hand-off per message: 4.2 context switches per request/reply round trip against
//! `node:net`'s 2.0, and twice its CPU (ARCHITECTURE.md, "Socket I/O on the JS thread").
//! Node reads its own sockets on the JS thread's event loop. A [`Polled`] connection is the
//! part of that which knows nothing of the loop: the consumer watches the socket (in Node, a
//! libuv poll handle) and calls [`Polled::readable`] or [`Polled::writable`] when it is
//! ready. Both report what happened as [`Event`]s, the same ones the mailbox carries, and
//! [`Polled::interest`] says what to watch for next. Writes arrive through the connection's
//! [`Outgoing`](crate::outgoing::Outgoing) queue like every other connection's, straight to the socket from the caller
//! while the queue is empty.
//!
//! Everything here runs on one thread; the queue's lock only matters to the registry's
//! bookkeeping.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use socket2::Socket;

use crate::budget::ReadAccount;
use crate::codec::FrameDecoder;
use crate::errors::IoFailure;
use crate::mailbox::{put_frame, ConnId, Event};
use crate::outgoing::{Closing, Next};
use crate::read_buffer::ReadBuffer;
use crate::registry::{ConnShared, Registry};

/// Bytes read per readiness event at most, so that one busy peer cannot hold the thread:
/// the rest waits for the next turn of the loop (the poll is level-triggered). Also about
/// what JS turns into objects in one go (the mailbox's batch size).
const READ_BUDGET: usize = 256 * 1024;
/// Buffers per `writev` call.
const MAX_IOV: usize = 64;

/// What the consumer should watch the socket for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
  pub readable: bool,
  pub writable: bool,
}

pub struct Polled {
  shared: Arc<ConnShared>,
  registry: Arc<Registry>,
  /// Shared with the queue's direct writer until the connection closes.
  socket: Arc<Socket>,
  decoder: FrameDecoder,
  read: ReadBuffer,
  /// What the read buffer holds, against the endpoint's `maxBufferedBytes` and `frameTimeout`.
  account: ReadAccount,
  /// Other connections of the endpoint that the last read failed for `maxBufferedBytes`.
  failed_others: Vec<ConnId>,
  /// Chunks taken from the queue and not yet fully written, and the bytes they held.
  unsent: VecDeque<Bytes>,
  taken: usize,
  /// The peer ended its side: there is nothing more to read, and ours ends too (Node
  /// sockets are not half-open) once the frames read before it have been handled.
  read_closed: bool,
  end_applied: bool,
  /// Closed for good; the consumer stops watching and drops this.
  finished: bool,
}

impl Polled {
  /// Takes over an established connection registered in `registry`. The socket must be
  /// non-blocking.
  pub fn new(socket: Socket, shared: Arc<ConnShared>, registry: Arc<Registry>) -> Polled {
    let socket = Arc::new(socket);
    let direct = socket.clone();
    shared.out.set_direct(Box::new(move |bytes| (&*direct).write(bytes)));
    Polled {
      decoder: registry.decoder(),
      account: ReadAccount::new(registry.clone(), shared.clone()),
      failed_others: Vec::new(),
      shared,
      registry,
      socket,
      read: ReadBuffer::default(),
      unsent: VecDeque::new(),
      taken: 0,
      read_closed: false,
      end_applied: false,
      finished: false,
    }
  }

  pub fn id(&self) -> ConnId {
    self.shared.id
  }

  pub fn shared(&self) -> &Arc<ConnShared> {
    &self.shared
  }

  pub fn as_raw_fd(&self) -> RawFd {
    self.socket.as_raw_fd()
  }

  pub fn interest(&self) -> Interest {
    let open = self.finished().is_none();
    Interest {
      readable: open && !self.read_closed,
      writable: open && (!self.unsent.is_empty() || self.shared.out.has_work() || self.end_due()),
    }
  }

  /// `Some(had_error)` once the connection is over (closed by either side, failed, or
  /// destroyed): the consumer stops watching, drops this, and reports the close.
  pub fn finished(&self) -> Option<bool> {
    (self.finished || self.shared.out.closing() == Closing::Destroy).then(|| self.shared.had_error())
  }

  /// Reads what the socket holds, up to 256 KiB, and reports the frames (or raw
  /// bytes) as one event, followed by what ended the reading, if anything.
  pub fn readable(&mut self, out: &mut Vec<Event>) {
    if self.finished().is_some() || self.read_closed {
      return;
    }
    let conn = self.shared.id;
    let raw = self.registry.is_raw();
    let mut data = Vec::new();
    let mut budget = READ_BUDGET;
    let mut completed = false;
    let stop = loop {
      let room = self.read.make_room();
      let buf = &mut self.read.buf;
      match self.socket.recv(buf.spare_capacity_mut()) {
        Ok(0) => break Some(Stop::End),
        Ok(n) => {
          // SAFETY: recv(2) initialised the first `n` bytes of the spare capacity.
          unsafe { buf.set_len(buf.len() + n) };
          self.read.note_read(n, room);
          let buf = &mut self.read.buf;
          if raw {
            data.extend_from_slice(buf);
            buf.clear();
          } else {
            match self.decoder.drain(buf, |frame| put_frame(&mut data, frame)) {
              Ok(used) => {
                completed |= used > 0;
                buf.advance(used);
              }
              Err(too_large) => break Some(Stop::TooLarge(too_large.size, too_large.limit)),
            }
          }
          // A read that did not fill the room emptied the socket: skip the read that
          // would only say so.
          if n < room || n >= budget {
            break None;
          }
          budget -= n;
        }
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break None,
        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
        Err(err) => break Some(Stop::Failed(err)),
      }
    };
    if !data.is_empty() {
      out.push(if raw { Event::Raw { conn, data } } else { Event::Frames { conn, data } });
    }
    // Once per readiness event, not per read: at most READ_BUDGET more than the limit.
    for failed in self.account.after_read(self.read.buf.len(), completed) {
      if failed.id != conn {
        self.failed_others.push(failed.id);
      }
    }
    match stop {
      None => {}
      // Ours ends in `writable`, after the consumer has handled these frames (what it
      // writes in reply still goes out, as from a Node socket's 'data' handlers).
      Some(Stop::End) => self.read_closed = true,
      Some(Stop::TooLarge(size, limit)) => {
        out.push(Event::TooLarge { conn, size, limit });
        self.fail();
      }
      Some(Stop::Failed(err)) => {
        out.push(Event::Error { conn: Some(conn), failure: IoFailure::new(&err, "read", None, None) });
        self.fail();
      }
    }
  }

  /// The poller reported an error condition on the socket (libuv says `EBADF` for any
  /// `POLLERR`): a read gives the socket's own error, as Node reports it (`read
  /// ECONNRESET`); `errno` is reported only if the read does not.
  pub fn errored(&mut self, errno: i32, out: &mut Vec<Event>) {
    self.readable(out);
    if self.finished().is_none() {
      let err = match self.socket.take_error() {
        Ok(Some(err)) => err,
        _ => io::Error::from_raw_os_error(errno),
      };
      out
        .push(Event::Error { conn: Some(self.shared.id), failure: IoFailure::new(&err, "read", None, None) });
      self.fail();
    }
  }

  /// Other connections of this endpoint that the last read failed for `maxBufferedBytes`:
  /// their owner must see them closed.
  pub fn take_failed_others(&mut self) -> Vec<ConnId> {
    std::mem::take(&mut self.failed_others)
  }

  /// When the incomplete frame held now passes `frameTimeout`, if one is held and set.
  pub fn frame_deadline(&self) -> Option<Instant> {
    self.account.deadline()
  }

  /// Fails the connection if its incomplete frame has passed `frameTimeout` by `now`.
  pub fn check_frame_deadline(&mut self, now: Instant) -> bool {
    self.finished().is_none() && self.account.check_deadline(now)
  }

  fn end_due(&self) -> bool {
    self.read_closed && !self.end_applied
  }

  /// Writes what is queued until the socket is full; carries out `end()` once the queue
  /// is empty (and the peer's end, which ends ours after what is queued).
  pub fn writable(&mut self, out: &mut Vec<Event>) {
    if self.finished().is_some() {
      return;
    }
    if self.end_due() {
      self.end_applied = true;
      self.shared.end();
    }
    loop {
      if self.unsent.is_empty() {
        match self.shared.out.next() {
          Next::Write(chunks) => {
            self.taken = chunks.iter().map(Bytes::len).sum();
            self.unsent = chunks.into();
          }
          Next::Finish(Closing::End) => {
            // The peer may be gone already; closing is all that is left either way.
            let _ = self.socket.shutdown(std::net::Shutdown::Write);
            self.finished = true;
            return;
          }
          Next::Finish(_) => {
            self.finished = true;
            return;
          }
          Next::Wait => return,
        }
      }
      match write_some(&self.socket, &mut self.unsent) {
        Ok(true) => {
          if self.shared.out.written(std::mem::take(&mut self.taken)) {
            out.push(Event::Drain { conn: self.shared.id });
          }
        }
        Ok(false) => return,
        Err(err) => {
          let failure = IoFailure::new(&err, "write", None, None);
          out.push(Event::Error { conn: Some(self.shared.id), failure });
          return self.fail();
        }
      }
    }
  }

  fn fail(&mut self) {
    self.shared.fail();
    self.finished = true;
  }
}

impl Drop for Polled {
  /// The connection is over: later writes are dropped, the direct writer lets go of the
  /// socket (which closes with this), and the registry forgets the id.
  fn drop(&mut self) {
    self.shared.destroy();
    self.shared.out.clear_direct();
    self.registry.forget(self.shared.id);
  }
}

enum Stop {
  End,
  TooLarge(usize, usize),
  Failed(io::Error),
}

/// Writes from the front of `unsent` until it is empty (`true`) or the socket is full.
fn write_some(socket: &Socket, unsent: &mut VecDeque<Bytes>) -> io::Result<bool> {
  while !unsent.is_empty() {
    let slices: Vec<IoSlice<'_>> = unsent.iter().take(MAX_IOV).map(|b| IoSlice::new(b)).collect();
    match socket.send_vectored(&slices) {
      Ok(mut n) => {
        while n > 0 {
          let front = unsent.front_mut().expect("the kernel wrote no more than it was given");
          if n >= front.len() {
            n -= front.len();
            unsent.pop_front();
          } else {
            front.advance(n);
            n = 0;
          }
        }
      }
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      Err(err) => return Err(err),
    }
  }
  Ok(true)
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::mailbox::Limit;
  use crate::registry::EndpointOptions;
  use std::io::Read;
  use std::os::unix::net::UnixStream;

  struct Fixture {
    registry: Arc<Registry>,
    polled: Polled,
    peer: UnixStream,
  }

  fn fixture(options: EndpointOptions) -> Fixture {
    let registry = Registry::new(options);
    let (ours, peer) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let polled =
      Polled::new(Socket::from(std::os::fd::OwnedFd::from(ours)), registry.add(), registry.clone());
    Fixture { registry, polled, peer }
  }

  fn frames(events: &[Event]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for event in events {
      if let Event::Frames { data, .. } = event {
        let mut at = 0;
        while at < data.len() {
          let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
          frames.push(data[at + 4..at + 4 + len].to_vec());
          at += 4 + len;
        }
      }
    }
    frames
  }

  #[test]
  fn one_readable_event_delivers_every_complete_frame_in_one_batch() {
    let mut f = fixture(EndpointOptions::default());
    f.peer.write_all(b"a\x0cbb\x0cpart").unwrap();
    let mut events = Vec::new();
    f.polled.readable(&mut events);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(frames(&events), vec![b"a".to_vec(), b"bb".to_vec()]);
    f.peer.write_all(b"ial\x0c").unwrap();
    events.clear();
    f.polled.readable(&mut events);
    assert_eq!(frames(&events), vec![b"partial".to_vec()]);
    // Nothing more to read: no event, and the socket is still watched for reads only.
    events.clear();
    f.polled.readable(&mut events);
    assert!(events.is_empty());
    assert_eq!(f.polled.interest(), Interest { readable: true, writable: false });
  }

  #[test]
  fn raw_mode_delivers_the_bytes_as_read() {
    let mut f = fixture(EndpointOptions { raw: true, ..EndpointOptions::default() });
    f.peer.write_all(b"\x0cno frames\x0c").unwrap();
    let mut events = Vec::new();
    f.polled.readable(&mut events);
    assert_eq!(events, vec![Event::Raw { conn: f.polled.id(), data: b"\x0cno frames\x0c".to_vec() }]);
  }

  #[test]
  fn the_peers_end_lets_replies_out_then_finishes_without_error() {
    let mut f = fixture(EndpointOptions::default());
    let id = f.polled.id();
    f.peer.write_all(b"last\x0c").unwrap();
    f.peer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut events = Vec::new();
    f.polled.readable(&mut events);
    assert_eq!(frames(&events), vec![b"last".to_vec()]);
    // A short read ends the first call; the poll reports the end on the next.
    f.polled.readable(&mut events);
    assert_eq!(events.len(), 1, "the end is no event: {events:?}");
    assert_eq!(
      f.polled.interest(),
      Interest { readable: false, writable: true },
      "the end is to be carried out"
    );
    // The consumer handles "last" before the end is applied: its reply goes out.
    assert_eq!(f.registry.write(id, Bytes::from_static(b"reply\x0c")), Some(0));
    f.polled.writable(&mut events);
    assert_eq!(f.polled.finished(), Some(false));
    assert_eq!(f.registry.write(id, Bytes::from_static(b"late")), None, "closed: writes are dropped");
    drop(f.polled);
    assert_eq!(f.registry.connection_count(), 0, "forgotten once dropped");
    let mut rest = Vec::new();
    f.peer.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"reply\x0c");
  }

  #[test]
  fn an_oversized_frame_is_reported_and_fails_the_connection() {
    let mut f = fixture(EndpointOptions { max_message_size: Some(4), ..EndpointOptions::default() });
    f.peer.write_all(b"ok\x0ctoo long\x0c").unwrap();
    let mut events = Vec::new();
    f.polled.readable(&mut events);
    assert_eq!(frames(&events), vec![b"ok".to_vec()], "frames before it are delivered");
    assert!(matches!(events.last(), Some(Event::TooLarge { size: 8, limit: 4, .. })), "{events:?}");
    assert_eq!(f.polled.finished(), Some(true));
    assert_eq!(f.polled.interest(), Interest { readable: false, writable: false });
  }

  #[test]
  fn a_read_past_max_buffered_bytes_fails_the_largest_holder_and_names_it() {
    let options = EndpointOptions { max_buffered_bytes: Some(100), ..EndpointOptions::default() };
    let mut a = fixture(options);
    let (ours, mut peer_b) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let mut b =
      Polled::new(Socket::from(std::os::fd::OwnedFd::from(ours)), a.registry.add(), a.registry.clone());
    let mut events = Vec::new();
    a.peer.write_all(&[b'a'; 80]).unwrap();
    a.polled.readable(&mut events);
    peer_b.write_all(b"done\x0c").unwrap();
    b.readable(&mut events);
    assert!(b.take_failed_others().is_empty(), "a complete frame holds nothing");
    peer_b.write_all(&[b'b'; 30]).unwrap();
    b.readable(&mut events);
    assert_eq!(b.take_failed_others(), vec![a.polled.id()]);
    assert_eq!(a.polled.finished(), Some(true));
    assert_eq!(b.finished(), None, "the reader that passed the budget goes on");
    let reported = a.polled.shared().take_over_limit();
    assert_eq!(
      reported,
      Some(Event::OverLimit { conn: a.polled.id(), limit: Limit::Buffered, size: 80, max: 100 })
    );
    drop(a.polled);
    assert_eq!(a.registry.buffered(), 30);
  }

  #[test]
  fn writes_go_straight_out_while_the_queue_is_empty() {
    let mut f = fixture(EndpointOptions::default());
    assert_eq!(f.registry.write(f.polled.id(), Bytes::from_static(b"hi\x0c")), Some(0));
    assert!(!f.polled.interest().writable, "nothing queued");
    let mut got = [0u8; 8];
    let n = f.peer.read(&mut got).unwrap();
    assert_eq!(&got[..n], b"hi\x0c");
  }

  #[test]
  fn a_full_socket_queues_the_rest_and_writable_drains_it_in_order() {
    let options = EndpointOptions { write_high_water: 1024, ..EndpointOptions::default() };
    let mut f = fixture(options);
    let id = f.polled.id();
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut sent = Vec::new();
    // Until the kernel buffer is full, and then some: those bytes wait in the queue.
    for _ in 0..64 {
      f.registry.write(id, Bytes::from(chunk.clone())).unwrap();
      sent.extend_from_slice(&chunk);
      if f.polled.interest().writable {
        break;
      }
    }
    f.registry.write(id, Bytes::from(chunk.clone())).unwrap();
    sent.extend_from_slice(&chunk);
    assert!(f.polled.interest().writable, "the rest waits for room");

    let mut peer = f.peer.try_clone().unwrap();
    let expected = sent.len();
    let reader = std::thread::spawn(move || {
      let mut got = Vec::new();
      let mut buf = vec![0u8; 256 * 1024];
      while got.len() < expected {
        let n = peer.read(&mut buf).unwrap();
        assert!(n > 0, "early end");
        got.extend_from_slice(&buf[..n]);
      }
      got
    });
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while f.polled.interest().writable {
      assert!(std::time::Instant::now() < deadline, "drained within 10 s");
      f.polled.writable(&mut events);
      std::thread::yield_now();
    }
    assert_eq!(reader.join().unwrap(), sent, "every byte, in order");
    assert_eq!(events, vec![Event::Drain { conn: id }], "one drain after passing the high-water mark");
  }

  #[test]
  fn destroy_finishes_at_once_and_drops_what_is_queued() {
    let mut f = fixture(EndpointOptions::default());
    let id = f.polled.id();
    f.registry.destroy(id);
    assert_eq!(f.polled.finished(), Some(false));
    assert_eq!(f.registry.write(id, Bytes::from_static(b"x")), None);
    let mut events = Vec::new();
    f.polled.readable(&mut events);
    f.polled.writable(&mut events);
    assert!(events.is_empty());
  }

  #[test]
  fn a_reset_tcp_peer_is_a_read_error() {
    let registry = Registry::new(EndpointOptions::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    let mut polled = Polled::new(Socket::from(std::os::fd::OwnedFd::from(ours)), registry.add(), registry);
    // Closing with unread data makes the kernel reset the connection.
    polled.shared().out.push(Bytes::from_static(b"unread\x0c")).unwrap();
    peer.write_all(b"x").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    drop(peer);
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while polled.finished().is_none() && std::time::Instant::now() < deadline {
      polled.readable(&mut events);
      std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(polled.finished(), Some(true), "{events:?}");
    let errno = events.iter().find_map(|e| match e {
      Event::Error { failure, .. } => Some((failure.errno, failure.syscall)),
      _ => None,
    });
    assert_eq!(errno, Some((-libc::ECONNRESET, "read")), "{events:?}");
  }
}
