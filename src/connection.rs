//! One stream connection: a reader task that frames and batches what arrives, and a
//! writer task that drains the [`Outgoing`] queue. Unix, TCP (and later TLS) streams all
//! run through here; only how the stream is opened differs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::cancel::Cancel;
use crate::endpoint::Endpoint;
use crate::errors::IoFailure;
use crate::mailbox::{put_frame, ConnId, Courier, Event};
use crate::outgoing::{Closing, Next, Outgoing};
use crate::read_buffer::ReadBuffer;

/// How long `end()` may spend flushing to a peer that does not read before the
/// connection is destroyed anyway; without it a stuck peer would keep the process alive.
pub const END_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Small chunks written together are first joined into one buffer, up to this size.
const JOIN_LIMIT: usize = 256 * 1024;

/// The parts of a connection that JS-facing calls touch.
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

/// Held by every task of a connection; the last one to finish reports the close, so
/// `Closed` always comes after every other event of that connection.
pub struct Live {
  pub shared: Arc<ConnShared>,
  pub endpoint: Arc<Endpoint>,
  pub courier: Courier,
  /// The connection was handed to a consumer that reports its close itself.
  handed_off: AtomicBool,
}

impl Live {
  pub fn new(shared: Arc<ConnShared>, endpoint: Arc<Endpoint>, courier: Courier) -> Self {
    Self { shared, endpoint, courier, handed_off: AtomicBool::new(false) }
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
    self.endpoint.forget(self.shared.id);
    let had_error = self.shared.had_error();
    self.courier.send(Event::Closed { conn: self.shared.id, had_error });
  }
}

/// Starts the reader and writer tasks of an established connection.
pub fn spawn<R, W>(live: Arc<Live>, reader: R, writer: W)
where
  R: AsyncRead + Unpin + Send + 'static,
  W: AsyncWrite + Unpin + Send + 'static,
{
  tokio::spawn(read_loop(reader, live.clone()));
  tokio::spawn(write_loop(writer, live));
}

async fn read_loop<R: AsyncRead + Unpin>(mut reader: R, live: Arc<Live>) {
  let shared = &live.shared;
  let mut decoder = live.endpoint.decoder();
  let mut read_buffer = ReadBuffer::default();
  loop {
    let room = read_buffer.make_room();
    let buf = &mut read_buffer.buf;
    let read = tokio::select! {
      biased;
      _ = shared.cancel.fired() => return,
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
      Ok(_) if live.endpoint.is_raw() => {
        live.courier.append(shared.id, true, |data| data.extend_from_slice(&buf));
        buf.clear();
      }
      Ok(_) => {
        let framed =
          live.courier.append(shared.id, false, |data| decoder.drain(&buf, |frame| put_frame(data, frame)));
        match framed {
          Ok(used) => buf.advance(used),
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
  let mut deadline = None;
  loop {
    let changed = shared.out.changed();
    tokio::pin!(changed);
    if deadline.is_none() && shared.out.closing() == Closing::End {
      deadline = Some(tokio::time::Instant::now() + END_FLUSH_TIMEOUT);
    }
    let chunks = match shared.out.next() {
      Next::Write(chunks) => chunks,
      Next::Finish(Closing::End) => {
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
        return shared.cancel.fire();
      }
      Next::Finish(_) => return,
      Next::Wait => {
        tokio::select! {
          _ = shared.cancel.fired() => return,
          _ = &mut changed => continue,
        }
      }
    };
    let size: usize = chunks.iter().map(Bytes::len).sum();
    let write = write_chunks(&mut writer, chunks);
    let result = tokio::select! {
      biased;
      _ = shared.cancel.fired() => return,
      _ = sleep_until(deadline) => return shared.destroy(),
      result = write => result,
    };
    if let Err(err) = result {
      return live.report_error(IoFailure::new(&err, "write", None, None));
    }
    if shared.out.written(size) {
      live.courier.send(Event::Drain { conn: shared.id });
    }
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
  Ok(())
}
