//! The write queue of one connection.
//!
//! JS corks the emits of one tick into a single chunk; the writer task takes everything
//! queued at once and writes it with as few syscalls as it can. Writes made
//! before the connection exists simply wait here (v9 buffered them in `net.Socket`, and
//! real code depends on that: it emits right after `connectTo`).

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::locked::Locked;
use bytes::{Buf, Bytes};
use tokio::sync::Notify;

/// How the connection is to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Closing {
  Open,
  /// Flush what is queued, then close (`end()`, `ipc.disconnect`, peer EOF).
  End,
  /// Close now (`destroy()`). What is queued is dropped, except that a connection written
  /// only by its task (TLS; every stream on Windows) makes one last attempt to write it
  /// without waiting ([`Outgoing::take_last_words`]), as a Node socket's `destroy()` does
  /// not take back what `write()` already gave the kernel.
  Destroy,
}

/// A non-blocking write straight to the socket: `Ok(n)` bytes went out (maybe fewer than
/// offered), or an error such as `WouldBlock`.
pub type DirectWrite = Box<dyn Fn(&[u8]) -> std::io::Result<usize> + Send + Sync>;

struct State {
  chunks: VecDeque<Bytes>,
  pending: usize,
  closing: Closing,
  /// Pending bytes passed the high-water mark since the queue was last empty.
  over_high_water: bool,
  /// The writer task holds chunks it took and is writing them.
  writing: bool,
  /// Pending bytes that passed the queue's limit, until the connection takes the failure.
  overflowed: Option<usize>,
  direct: Option<DirectWrite>,
  /// A writer task runs for this queue (see [`Outgoing::task_has_unsent`]).
  task: bool,
}

pub struct Outgoing {
  state: Mutex<State>,
  writer: Notify,
  high_water: usize,
  /// `maxPendingBytes`: past it the queue drops everything and closes (`None`: no limit).
  limit: Option<usize>,
}

enum Chunk<'a> {
  Owned(Bytes),
  Borrowed(&'a [u8]),
}

impl Chunk<'_> {
  fn as_slice(&self) -> &[u8] {
    match self {
      Chunk::Owned(bytes) => bytes,
      Chunk::Borrowed(bytes) => bytes,
    }
  }

  /// What is left after the first `sent` bytes, owned.
  fn rest(self, sent: usize) -> Bytes {
    match self {
      Chunk::Owned(mut bytes) => {
        bytes.advance(sent);
        bytes
      }
      Chunk::Borrowed(bytes) => Bytes::copy_from_slice(&bytes[sent..]),
    }
  }
}

/// What the writer should do next.
pub enum Next {
  Write(Vec<Bytes>),
  Finish(Closing),
  Wait,
}

impl Outgoing {
  pub fn new(high_water: usize, limit: Option<usize>) -> Self {
    Self {
      state: Mutex::new(State {
        chunks: VecDeque::new(),
        pending: 0,
        closing: Closing::Open,
        over_high_water: false,
        writing: false,
        overflowed: None,
        direct: None,
        task: false,
      }),
      writer: Notify::new(),
      high_water,
      limit,
    }
  }

  /// Queues bytes and returns how many are now pending; above the high-water mark a
  /// drain event follows once they are written. None when the connection is closing: the
  /// bytes are dropped, as v9 dropped writes to a destroyed socket. None too when they
  /// would take the queue past its limit: then it drops everything and closes at once
  /// (`Closing::Destroy`), and [`Outgoing::take_overflow`] says by how much.
  pub fn push(&self, chunk: Bytes) -> Option<usize> {
    self.push_with(Chunk::Owned(chunk), true)
  }

  /// As [`Outgoing::push`], for bytes the caller keeps: only what the socket does not take
  /// at once is copied (a small write to an idle connection allocates nothing).
  pub fn push_slice(&self, bytes: &[u8]) -> Option<usize> {
    self.push_with(Chunk::Borrowed(bytes), true)
  }

  /// Queues for the writer task only. A broadcast goes to many sockets at once: writing
  /// each directly would cost one syscall per socket and message on the JS thread, while
  /// the writer tasks coalesce a burst of broadcasts into few writes.
  pub fn push_queued(&self, chunk: Bytes) -> Option<usize> {
    self.push_with(Chunk::Owned(chunk), false)
  }

  fn push_with(&self, chunk: Chunk<'_>, direct: bool) -> Option<usize> {
    let pending = {
      let mut s = self.state.locked();
      if s.closing != Closing::Open {
        return None;
      }
      let bytes = chunk.as_slice();
      let mut sent = 0;
      // Nothing queued and the writer idle: write from the caller's thread (JS's) and
      // skip the hand-off to a worker thread, which costs two context switches. Only what
      // the socket does not take at once is queued. The lock keeps the writer out meanwhile.
      if direct && s.chunks.is_empty() && !s.writing {
        if let Some(direct) = &s.direct {
          sent = direct(bytes).unwrap_or(0);
        }
      }
      if sent == bytes.len() {
        return Some(s.pending);
      }
      let rest_len = bytes.len() - sent;
      if self.limit.is_some_and(|limit| s.pending + rest_len > limit) {
        // A peer that does not read would make the queue grow without end: give up on it.
        s.overflowed = Some(s.pending + rest_len);
        s.closing = Closing::Destroy;
        s.chunks.clear();
        s.pending = 0;
        drop(s);
        self.writer.notify_one();
        return None;
      }
      let rest = chunk.rest(sent);
      s.pending += rest.len();
      s.chunks.push_back(rest);
      if s.pending > self.high_water {
        s.over_high_water = true;
      }
      s.pending
    };
    self.writer.notify_one();
    Some(pending)
  }

  /// Writes what is queued straight to the socket, as far as it takes it now, when the
  /// stream allows direct writes and no writer holds chunks: before a `destroy()` or a
  /// `process.exit()`, which drop the rest (a `net.Socket` has written what it could).
  /// Returns true when that emptied a queue that had passed the high-water mark: a drain
  /// event is due.
  pub fn flush_direct(&self) -> bool {
    let mut guard = self.state.locked();
    let state = &mut *guard;
    if state.writing || state.closing == Closing::Destroy {
      return false;
    }
    let Some(direct) = &state.direct else { return false };
    let mut wrote = false;
    while let Some(front) = state.chunks.front_mut() {
      let Ok(n) = direct(front) else { break };
      wrote |= n > 0;
      state.pending = state.pending.saturating_sub(n);
      if n < front.len() {
        front.advance(n);
        break;
      }
      state.chunks.pop_front();
    }
    if wrote && state.chunks.is_empty() && state.over_high_water {
      state.over_high_water = false;
      return true;
    }
    false
  }

  /// Asks the writer to finish; a stronger request overrides a weaker one.
  pub fn close(&self, how: Closing) {
    {
      let mut s = self.state.locked();
      if how <= s.closing {
        return;
      }
      s.closing = how;
      // A direct writer has written what the socket takes already (the binding flushes it
      // before a destroy); the writer task gets one try at what is queued for it.
      if how == Closing::Destroy && s.direct.is_some() {
        s.chunks.clear();
        s.pending = 0;
      }
    }
    self.writer.notify_one();
  }

  /// After a push returned None: `Some((pending, limit))` when it was the queue's limit,
  /// once.
  pub fn take_overflow(&self) -> Option<(usize, usize)> {
    let size = self.state.locked().overflowed.take()?;
    Some((size, self.limit.unwrap_or(0)))
  }

  /// Enables direct writes once the stream exists (Unix and TCP; TLS needs its task).
  pub fn set_direct(&self, direct: DirectWrite) {
    self.state.locked().direct = Some(direct);
  }

  /// Drops the direct writer, and with it its share of the stream, so that the socket
  /// closes when its owner lets go (see `polled`).
  pub fn clear_direct(&self) {
    self.state.locked().direct = None;
  }

  /// Something for the writer to do: queued bytes, or a close to carry out.
  pub fn has_work(&self) -> bool {
    let s = self.state.locked();
    !s.chunks.is_empty() || s.closing != Closing::Open
  }

  pub fn closing(&self) -> Closing {
    self.state.locked().closing
  }

  /// The writer's next step. Queued data goes out before an `End` is honoured.
  pub fn next(&self) -> Next {
    let mut s = self.state.locked();
    if s.closing == Closing::Destroy {
      return Next::Finish(Closing::Destroy);
    }
    if !s.chunks.is_empty() {
      s.writing = true;
      return Next::Write(s.chunks.drain(..).collect());
    }
    match s.closing {
      Closing::Open => Next::Wait,
      how => Next::Finish(how),
    }
  }

  /// After a destroy, what the writer task may still try to write once, without waiting
  /// (empty for a connection with a direct writer, and after an overflow).
  pub fn take_last_words(&self) -> Vec<Bytes> {
    let mut s = self.state.locked();
    if s.closing != Closing::Destroy {
      return Vec::new();
    }
    s.pending = 0;
    s.chunks.drain(..).collect()
  }

  /// A writer task runs for this queue from now on (set before JS hears of the
  /// connection, so that nothing it writes is missed by [`Outgoing::task_has_unsent`]), or
  /// no longer.
  pub fn set_task(&self, running: bool) {
    self.state.locked().task = running;
  }

  /// Bytes are queued for, or being written by, the running writer task of a connection
  /// without a direct writer (a destroyed one's last words included): what a
  /// `process.exit()` would cut off.
  pub fn task_has_unsent(&self) -> bool {
    let s = self.state.locked();
    s.task && s.direct.is_none() && (s.writing || !s.chunks.is_empty())
  }

  /// Records that `written` bytes left; returns true when a drain event is due.
  pub fn written(&self, written: usize) -> bool {
    let mut s = self.state.locked();
    s.writing = false;
    s.pending = s.pending.saturating_sub(written);
    if s.pending == 0 && s.chunks.is_empty() && s.over_high_water {
      s.over_high_water = false;
      return true;
    }
    false
  }

  /// Resolves after the next push or close.
  pub async fn changed(&self) {
    self.writer.notified().await
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn expect_write(q: &Outgoing) -> Vec<Bytes> {
    match q.next() {
      Next::Write(chunks) => chunks,
      _ => panic!("expected data to write"),
    }
  }

  #[test]
  fn takes_every_queued_chunk_at_once() {
    let q = Outgoing::new(100, None);
    q.push(Bytes::from_static(b"ab"));
    q.push(Bytes::from_static(b"cd"));
    assert_eq!(expect_write(&q), vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]);
    assert!(matches!(q.next(), Next::Wait));
  }

  #[test]
  fn end_flushes_first_destroy_drops() {
    let q = Outgoing::new(100, None);
    q.push(Bytes::from_static(b"last words"));
    q.close(Closing::End);
    assert_eq!(q.push(Bytes::from_static(b"too late")), None);
    assert_eq!(expect_write(&q).len(), 1);
    assert!(matches!(q.next(), Next::Finish(Closing::End)));

    let q = Outgoing::new(100, None);
    q.set_direct(Box::new(|_| Err(std::io::ErrorKind::WouldBlock.into())));
    q.push(Bytes::from_static(b"dropped"));
    q.close(Closing::Destroy);
    q.close(Closing::End); // weaker, ignored
    assert!(matches!(q.next(), Next::Finish(Closing::Destroy)));
    assert!(q.take_last_words().is_empty(), "the direct writer had its chance");
  }

  #[test]
  fn a_task_written_queue_keeps_its_last_words_for_one_try_after_a_destroy() {
    let q = Outgoing::new(100, None);
    q.push(Bytes::from_static(b"bye"));
    assert!(!q.task_has_unsent(), "no task is writing yet (a connection still being made)");
    q.set_task(true);
    assert!(q.task_has_unsent());
    assert!(q.take_last_words().is_empty(), "nothing to give up while open");
    q.close(Closing::Destroy);
    assert!(matches!(q.next(), Next::Finish(Closing::Destroy)));
    assert!(q.task_has_unsent(), "an exit waits for the last words too");
    assert_eq!(q.take_last_words(), vec![Bytes::from_static(b"bye")]);
    assert!(q.take_last_words().is_empty(), "taken once");
    assert!(!q.task_has_unsent());
    q.push_queued(Bytes::from_static(b"x"));
    q.set_task(false);
    assert!(!q.task_has_unsent(), "a writer that has ended writes nothing more");
    assert_eq!(q.push(Bytes::from_static(b"later")), None, "writes after the destroy are dropped");
  }

  #[test]
  fn flush_direct_writes_the_queue_in_order_as_far_as_the_socket_takes_it() {
    let q = Outgoing::new(100, None);
    q.push_queued(Bytes::from_static(b"abc"));
    q.push_queued(Bytes::from_static(b"def"));
    assert!(!q.flush_direct(), "no direct writer yet: nothing happens");
    let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = taken.clone();
    // A socket that takes 4 bytes, then is full.
    q.set_direct(Box::new(move |bytes| {
      let mut got = sink.lock().unwrap();
      let room = 4usize.saturating_sub(got.len()).min(bytes.len());
      if room == 0 {
        return Err(std::io::ErrorKind::WouldBlock.into());
      }
      got.extend_from_slice(&bytes[..room]);
      Ok(room)
    }));
    assert!(!q.flush_direct());
    assert_eq!(*taken.lock().unwrap(), b"abcd");
    assert_eq!(expect_write(&q), vec![Bytes::from_static(b"ef")], "the rest stays queued");
  }

  #[test]
  fn reports_high_water_and_one_drain() {
    let q = Outgoing::new(4, None);
    assert_eq!(q.push(Bytes::from_static(b"abc")), Some(3));
    assert_eq!(q.push(Bytes::from_static(b"de")), Some(5));
    let chunks = expect_write(&q);
    assert!(!q.written(chunks[0].len()));
    assert!(q.written(chunks[1].len()));
    assert!(!q.written(0));
  }

  #[test]
  fn passing_the_limit_drops_the_queue_and_closes_once() {
    let q = Outgoing::new(4, Some(8));
    assert_eq!(q.push(Bytes::from_static(b"abcde")), Some(5));
    assert_eq!(q.push(Bytes::from_static(b"fgh")), Some(8), "exactly the limit is allowed");
    assert_eq!(q.take_overflow(), None);
    assert_eq!(q.push_queued(Bytes::from_static(b"i")), None, "one byte more is not");
    assert_eq!(q.take_overflow(), Some((9, 8)));
    assert_eq!(q.take_overflow(), None, "reported once");
    assert_eq!(q.closing(), Closing::Destroy);
    assert!(matches!(q.next(), Next::Finish(Closing::Destroy)), "what was queued is dropped");
    assert!(q.take_last_words().is_empty(), "even for the writer task");
    assert_eq!(q.push(Bytes::from_static(b"j")), None);
    assert_eq!(q.take_overflow(), None, "a write to a closed queue is no overflow");
  }

  #[test]
  fn bytes_the_socket_takes_at_once_do_not_count() {
    let q = Outgoing::new(4, Some(2));
    q.set_direct(Box::new(|bytes| Ok(bytes.len())));
    assert_eq!(q.push(Bytes::from(vec![1u8; 100])), Some(0));
    assert_eq!(q.take_overflow(), None);
  }
}
