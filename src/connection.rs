//! A stream connection on tokio tasks: a reader task that frames and batches what arrives,
//! and a writer task that drains the [`Outgoing`] queue. TLS connections always run here,
//! and plain ones unless they are handed off to be driven elsewhere ([`crate::polled`]);
//! only how the stream is opened differs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::budget::ReadAccount;
use crate::errors::IoFailure;
#[cfg(unix)]
use crate::mailbox::HandedOffSocket;
use crate::mailbox::PeerInfo;
use crate::mailbox::{put_frame, ConnId, Courier, Event};
#[cfg(doc)]
use crate::outgoing::Outgoing;
use crate::outgoing::{Closing, Next};
use crate::read_buffer::ReadBuffer;
#[cfg(unix)]
use crate::ready_io::{ReadyIo, Shared};
use crate::registry::{ConnShared, Registry};
use crate::transport::Stream;
#[cfg(unix)]
use crate::unix_stream::UnixConn;

/// How long `end()` may spend flushing to a peer that does not read before the
/// connection is destroyed anyway; without it a stuck peer would keep the process alive.
pub const END_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Small chunks written together are first joined into one buffer, up to this size.
const JOIN_LIMIT: usize = 256 * 1024;

/// Held by every task of a connection; the last one to finish reports the close, so
/// `Closed` always comes after every other event of that connection.
pub struct Live {
  pub shared: Arc<ConnShared>,
  pub registry: Arc<Registry>,
  pub courier: Courier,
  /// The connection was handed to a consumer that reports its close itself.
  handed_off: AtomicBool,
}

impl Live {
  /// A new connection in `registry`, reporting through `courier`.
  pub fn register(registry: &Arc<Registry>, courier: &Courier) -> Arc<Live> {
    Self::register_as(registry, courier, registry.reserve_id())
  }

  /// As [`Live::register`], under an id reserved earlier ([`Registry::reserve_id`]).
  pub fn register_as(registry: &Arc<Registry>, courier: &Courier, id: ConnId) -> Arc<Live> {
    let shared = registry.add_reserved(id);
    Arc::new(Self {
      shared,
      registry: registry.clone(),
      courier: courier.clone(),
      handed_off: AtomicBool::new(false),
    })
  }

  /// From now on the connection's new owner forgets it and reports its close; dropping
  /// this does neither.
  pub fn hand_off(&self) {
    self.handed_off.store(true, Ordering::SeqCst);
  }

  pub fn report_error(&self, failure: IoFailure) {
    self.courier.send(Event::Error { conn: Some(self.shared.id), failure });
    self.shared.fail();
  }
}

impl Drop for Live {
  fn drop(&mut self) {
    if self.handed_off.load(Ordering::SeqCst) {
      return;
    }
    self.registry.forget(self.shared.id);
    if let Some(over_limit) = self.shared.take_over_limit() {
      self.courier.send(over_limit);
    }
    let had_error = self.shared.had_error();
    self.courier.send(Event::Closed { conn: self.shared.id, had_error });
  }
}

/// Runs an established connection: a plain stream goes to the registry's consumer to be
/// driven on its own thread when the registry hands them off; any other gets a reader and
/// a writer task.
pub fn start(stream: Stream, live: Arc<Live>, peer: PeerInfo) {
  if live.registry.is_shut_down() {
    // Its owner is gone (a Worker that ended): close it unannounced.
    return live.shared.destroy();
  }
  #[cfg(unix)]
  return start_or_hand_off(stream, live, peer);
  #[cfg(windows)]
  start_tasks(stream, live, peer)
}

#[cfg(unix)]
fn start_or_hand_off(stream: Stream, live: Arc<Live>, peer: PeerInfo) {
  let conn = live.shared.id;
  let hand_off = live.registry.hands_off_plain_streams();
  let socket = match stream {
    Stream::Unix(s) if hand_off => Ok(socket2::Socket::from(std::os::fd::OwnedFd::from(s))),
    Stream::Tcp(s) if hand_off => s.into_std().map(|s| socket2::Socket::from(std::os::fd::OwnedFd::from(s))),
    stream => return start_tasks(stream, live, peer),
  };
  match socket {
    Ok(socket) => {
      live.hand_off();
      live.courier.send(Event::HandedOff { conn, peer, socket: HandedOffSocket(socket) });
    }
    Err(err) => live.report_error(IoFailure::new(&err, "read", None, None)),
  }
}

fn start_tasks(stream: Stream, live: Arc<Live>, peer: PeerInfo) {
  // Destroyed before it could start (a client destroyed while connecting): nothing it
  // queued goes out, as from a Node socket destroyed before it connected, and JS hears of
  // the close only.
  if live.shared.out.closing() == Closing::Destroy {
    return;
  }
  // Before JS hears of the connection: what it writes from 'connect' on is the writer's,
  // also for a process.exit() right away.
  live.shared.out.set_task(true);
  live.courier.send(Event::Connected { conn: live.shared.id, peer });
  match stream {
    #[cfg(unix)]
    Stream::Unix(s) => match UnixConn::from_std(s) {
      Ok(s) => start_shared(live, Arc::new(s)),
      Err(err) => live.report_error(IoFailure::new(&err, "read", None, None)),
    },
    #[cfg(unix)]
    Stream::Tcp(s) => start_shared(live, Arc::new(s)),
    // No direct writes on Windows: every write goes through the writer task.
    #[cfg(windows)]
    Stream::Tcp(s) => {
      let (r, w) = s.into_split();
      spawn(live, r, w)
    }
    #[cfg(windows)]
    Stream::PipeServer(s) => {
      let (r, w) = tokio::io::split(s);
      spawn(live, r, w)
    }
    #[cfg(windows)]
    Stream::PipeClient(s) => {
      let (r, w) = tokio::io::split(s);
      spawn(live, r, w)
    }
    Stream::TlsServer(s) => {
      let (r, w) = tokio::io::split(*s);
      spawn(live, r, w)
    }
    Stream::TlsClient(s) => {
      let (r, w) = tokio::io::split(*s);
      spawn(live, r, w)
    }
  }
}

/// A plain stream shared by its tasks and direct writes from the caller (`Outgoing::push`).
#[cfg(unix)]
fn start_shared<S: ReadyIo>(live: Arc<Live>, stream: Arc<S>) {
  let direct = stream.clone();
  live.shared.out.set_direct(Box::new(move |bytes| direct.try_write(bytes)));
  spawn(live, Shared(stream.clone()), Shared(stream));
}

/// Starts the reader and writer tasks of an established connection.
fn spawn<R, W>(live: Arc<Live>, reader: R, writer: W)
where
  R: AsyncRead + Unpin + Send + 'static,
  W: AsyncWrite + Unpin + Send + 'static,
{
  tokio::spawn(read_loop(reader, live.clone()));
  tokio::spawn(write_loop(writer, live));
}

async fn read_loop<R: AsyncRead + Unpin>(mut reader: R, live: Arc<Live>) {
  let shared = &live.shared;
  let mut decoder = live.registry.decoder();
  let mut read_buffer = ReadBuffer::default();
  let mut account = ReadAccount::new(live.registry.clone(), shared.clone());
  // `frameTimeout`: one timer, started when an incomplete frame begins and left running
  // while frames come and go; when it fires it checks, and runs on to the deadline of the
  // frame held then, if any. Reads never touch it.
  let frame_timer = tokio::time::sleep(Duration::ZERO);
  tokio::pin!(frame_timer);
  let mut timer_running = false;
  loop {
    let room = read_buffer.make_room();
    let buf = &mut read_buffer.buf;
    let read = tokio::select! {
      biased;
      _ = shared.cancel.fired() => return,
      _ = &mut frame_timer, if timer_running => {
        if account.check_deadline(std::time::Instant::now()) {
          return;
        }
        match account.deadline() {
          Some(at) => frame_timer.as_mut().reset(at.into()),
          None => timer_running = false,
        }
        continue;
      }
      read = reader.read_buf(buf) => read,
    };
    if let Ok(n) = read {
      read_buffer.note_read(n, room);
    }
    let buf = &mut read_buffer.buf;
    match read {
      // Node sockets do not allow half-open connections: the peer's end ends ours, after
      // what we still have queued has been written.
      Ok(0) => return shared.end(),
      Ok(_) if live.registry.is_raw() => {
        live.courier.append(shared.id, true, |data| data.extend_from_slice(buf));
        buf.clear();
      }
      Ok(_) => {
        let framed =
          live.courier.append(shared.id, false, |data| decoder.drain(buf, |frame| put_frame(data, frame)));
        match framed {
          Ok(used) => {
            buf.advance(used);
            let held = buf.len();
            if account.after_read(held, used > 0).iter().any(|failed| Arc::ptr_eq(failed, shared)) {
              return;
            }
            if !timer_running {
              if let Some(at) = account.deadline() {
                frame_timer.as_mut().reset(at.into());
                timer_running = true;
              }
            }
          }
          Err(too_large) => {
            live.courier.send(Event::TooLarge {
              conn: shared.id,
              size: too_large.size,
              limit: too_large.limit,
            });
            return shared.fail();
          }
        }
      }
      // A TLS peer that closed without close_notify has closed, as far as Node is concerned.
      Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return shared.end(),
      Err(err) => {
        let failure = match crate::tls::stream_failure(&err) {
          Some(tls) => IoFailure::tls(tls, None, None),
          None => IoFailure::new(&err, "read", None, None),
        };
        return live.report_error(failure);
      }
    }
    tokio::select! {
      biased;
      _ = shared.cancel.fired() => return,
      _ = live.courier.wait_for_room() => {}
    }
  }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut writer: W, live: Arc<Live>) {
  let shared = &live.shared;
  // However this returns, nothing more will be written: a process.exit() must not wait.
  let _ended = TaskEnded(shared);
  let mut deadline = None;
  loop {
    let changed = shared.out.changed();
    tokio::pin!(changed);
    // A plain stream takes what it can straight from the queue, under the queue's lock, so
    // that nothing the socket had room for is ever held here when a destroy() comes (it
    // writes what is still queued the same way first). Only what is left waits below.
    if shared.out.flush_direct() {
      live.courier.send(Event::Drain { conn: shared.id });
    }
    let chunks = match shared.out.next() {
      Next::Write(chunks) => chunks,
      Next::Finish(Closing::End) => {
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
        return shared.cancel.fire();
      }
      Next::Finish(_) => return last_words(&mut writer, shared),
      Next::Wait => {
        tokio::select! {
          _ = shared.cancel.fired() => return last_words(&mut writer, shared),
          _ = &mut changed => continue,
        }
      }
    };
    let size: usize = chunks.iter().map(Bytes::len).sum();
    let outcome = {
      let write = write_chunks(&mut writer, chunks);
      tokio::pin!(write);
      // An `end()` that comes while this write waits for a peer that does not read starts
      // the flush deadline too.
      loop {
        let changed = shared.out.changed();
        if deadline.is_none() && shared.out.closing() == Closing::End {
          deadline = Some(tokio::time::Instant::now() + END_FLUSH_TIMEOUT);
        }
        tokio::select! {
          biased;
          // Destroyed: the write under way gets one more try without waiting; only if it
          // finishes can what was queued after it follow (never half a frame before it).
          _ = shared.cancel.fired() => break match poll_once(write.as_mut()) {
            Some(Ok(())) => None,
            _ => return,
          },
          _ = sleep_until(deadline) => return shared.destroy(),
          result = &mut write => break Some(result),
          _ = changed => {}
        }
      }
    };
    let Some(result) = outcome else {
      return last_words(&mut writer, shared);
    };
    if let Err(err) = result {
      return live.report_error(IoFailure::new(&err, "write", None, None));
    }
    if shared.out.written(size) {
      live.courier.send(Event::Drain { conn: shared.id });
    }
  }
}

/// Tells the queue its writer task has ended when dropped.
struct TaskEnded<'a>(&'a ConnShared);

impl Drop for TaskEnded<'_> {
  fn drop(&mut self) {
    self.0.out.set_task(false);
  }
}

/// After a destroy: what is still queued for this task gets one try at the socket, as far
/// as it takes it without waiting ([`Closing::Destroy`]); a peer that does not read delays
/// nothing.
fn last_words<W: AsyncWrite + Unpin>(writer: &mut W, shared: &ConnShared) {
  let chunks = shared.out.take_last_words();
  if !chunks.is_empty() {
    let write = write_chunks(writer, chunks);
    tokio::pin!(write);
    let _ = poll_once(write.as_mut());
  }
}

/// Polls `future` once without waiting: its output if it finished.
fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
  let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
  match future.poll(&mut cx) {
    std::task::Poll::Ready(output) => Some(output),
    std::task::Poll::Pending => None,
  }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
  match deadline {
    Some(at) => tokio::time::sleep_until(at).await,
    None => std::future::pending().await,
  }
}

async fn write_chunks<W: AsyncWrite + Unpin>(writer: &mut W, chunks: Vec<Bytes>) -> std::io::Result<()> {
  // Small chunks are joined into buffers of up to JOIN_LIMIT so that many queued writes
  // cost few syscalls; a chunk that is large on its own goes out as it is.
  let mut joined = Vec::new();
  for chunk in chunks {
    if chunk.len() >= JOIN_LIMIT / 4 {
      if !joined.is_empty() {
        writer.write_all(&joined).await?;
        joined.clear();
      }
      writer.write_all(&chunk).await?;
      continue;
    }
    if joined.len() + chunk.len() > JOIN_LIMIT {
      writer.write_all(&joined).await?;
      joined.clear();
    }
    joined.extend_from_slice(&chunk);
  }
  if !joined.is_empty() {
    writer.write_all(&joined).await?;
  }
  // A TLS stream may hold records of the last bytes it accepted when the socket was full;
  // without a flush they would wait for the next write.
  writer.flush().await
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::mailbox::testing::Collector;
  use crate::registry::EndpointOptions;
  use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

  fn frames(events: &[Event]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for event in events {
      if let Event::Frames { data, .. } = event {
        let mut at = 0;
        while at < data.len() {
          let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
          out.push(data[at + 4..at + 4 + len].to_vec());
          at += 4 + len;
        }
      }
    }
    out
  }

  fn closed(events: &[Event], conn: ConnId) -> Option<bool> {
    events.iter().find_map(|e| match e {
      Event::Closed { conn: c, had_error } if *c == conn => Some(*had_error),
      _ => None,
    })
  }

  /// A connection on tasks over an in-memory stream whose other end is returned.
  fn connection(options: EndpointOptions, buffer: usize) -> (Arc<Registry>, Collector, ConnId, DuplexStream) {
    let registry = Registry::new(options);
    let (collector, courier) = Collector::new(1 << 20);
    let live = Live::register(&registry, &courier);
    let id = live.shared.id;
    let (ours, peer) = tokio::io::duplex(buffer);
    let (reader, writer) = tokio::io::split(ours);
    spawn(live, reader, writer);
    (registry, collector, id, peer)
  }

  #[tokio::test]
  async fn frames_are_reported_and_writes_go_out_then_end_flushes_and_closes() {
    let (registry, mut events, id, mut peer) = connection(EndpointOptions::default(), 64 * 1024);
    peer.write_all(b"a\x0cb\x0cpart").await.unwrap();
    let got = events.until(|e| frames(e).len() == 2).await;
    assert_eq!(frames(got), vec![b"a".to_vec(), b"b".to_vec()]);

    registry.write(id, Bytes::from_static(b"reply\x0c")).unwrap();
    registry.write(id, Bytes::from_static(b"last\x0c")).unwrap();
    registry.end(id);
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"reply\x0clast\x0c", "everything queued, in order, before the end");
    assert_eq!(closed(events.until(|e| closed(e, id).is_some()).await, id), Some(false));
    assert_eq!(registry.connection_count(), 0, "the close forgets it");
  }

  #[tokio::test]
  async fn an_oversized_frame_is_reported_and_fails_the_connection() {
    let options = EndpointOptions { max_message_size: Some(4), ..EndpointOptions::default() };
    let (_registry, mut events, id, mut peer) = connection(options, 64 * 1024);
    peer.write_all(b"ok\x0ctoo long\x0c").await.unwrap();
    let got = events.until(|e| closed(e, id).is_some()).await;
    assert_eq!(frames(got), vec![b"ok".to_vec()]);
    assert!(got.iter().any(|e| matches!(e, Event::TooLarge { size: 8, limit: 4, .. })), "{got:?}");
    assert_eq!(closed(got, id), Some(true));
  }

  #[tokio::test(start_paused = true)]
  async fn end_gives_up_at_the_deadline_when_the_peer_stops_reading_mid_write() {
    let (registry, mut events, id, _peer) = connection(EndpointOptions::default(), 1024);
    // More than the stream holds: the writer is blocked in this write when end() comes.
    registry.write(id, Bytes::from(vec![7u8; 64 * 1024])).unwrap();
    tokio::task::yield_now().await;
    registry.end(id);
    // Paused time jumps ahead while every task waits.
    tokio::time::sleep(END_FLUSH_TIMEOUT - Duration::from_millis(100)).await;
    assert!(closed(&events.mailbox.take(), id).is_none(), "still flushing before the deadline");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(closed(events.until(|e| closed(e, id).is_some()).await, id), Some(false));
  }
}
