//! Windows named pipes, where Unix has domain sockets. A pipe has no listen backlog: a
//! client can only connect to an instance the server has created and is waiting on, so
//! the listener keeps [`PENDING_INSTANCES`] instances waiting at all times (libuv keeps
//! the same number for Node's pipe servers), and a client that finds them all taken
//! (`ERROR_PIPE_BUSY`) retries, as libuv's `uv_pipe_connect` does. There is no socket
//! file: a pipe's name is gone when its last instance closes.
//!
//! The listener owns its waiting instances (no tasks): dropping it closes them at once, so
//! after `server.stop()` a client gets `ENOENT` and the name can be listened on again.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions};

use crate::locked::Locked;

/// Instances waiting for a client at any time (libuv's default for Node's pipe servers).
pub const PENDING_INSTANCES: usize = 4;

/// How long a client waits for a busy pipe to offer an instance before it gives up:
/// libuv's `uv_pipe_connect` waits 30 s (`WaitNamedPipeW`) too, and then fails with
/// `ERROR_SEM_TIMEOUT`, which Node reports as ETIMEDOUT; so does this.
const BUSY_WAIT: Duration = Duration::from_secs(30);
const BUSY_RETRY: Duration = Duration::from_millis(20);

/// `ERROR_PIPE_BUSY`: every instance of the pipe is connected to another client.
const ERROR_PIPE_BUSY: i32 = 231;
/// `ERROR_SEM_TIMEOUT`: what `WaitNamedPipeW` says when no instance came free in time.
const ERROR_SEM_TIMEOUT: i32 = 121;

/// One instance waiting for its client; it owns the instance, so dropping it closes it.
type Waiting = Pin<Box<dyn Future<Output = io::Result<NamedPipeServer>> + Send>>;

fn wait_on(server: NamedPipeServer) -> Waiting {
  Box::pin(async move { server.connect().await.map(|()| server) })
}

/// A listening pipe.
pub struct PipeListener {
  name: String,
  /// The waiting instances; `None` where creating one failed (retried on the next poll).
  waiting: Mutex<Vec<Option<Waiting>>>,
}

impl PipeListener {
  /// Creates the pipe `name`. Its first instance is created here, so that a name already
  /// in use fails the bind (with `ERROR_ACCESS_DENIED`, which Node reports as EADDRINUSE).
  pub fn bind(name: &str) -> io::Result<PipeListener> {
    let first = ServerOptions::new().first_pipe_instance(true).create(name)?;
    let mut waiting = vec![Some(wait_on(first))];
    for _ in 1..PENDING_INSTANCES {
      waiting.push(ServerOptions::new().create(name).ok().map(wait_on));
    }
    Ok(PipeListener { name: name.to_string(), waiting: Mutex::new(waiting) })
  }

  /// A connected instance; the one that connected is replaced by a new waiting instance at
  /// once. A failure to create one is reported (the accept loop backs off and polls again).
  pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<NamedPipeServer>> {
    let mut waiting = self.waiting.locked();
    for slot in waiting.iter_mut() {
      if slot.is_none() {
        match ServerOptions::new().create(&self.name) {
          Ok(server) => *slot = Some(wait_on(server)),
          Err(err) => return Poll::Ready(Err(err)),
        }
      }
      let Some(pending) = slot.as_mut() else { continue };
      if let Poll::Ready(result) = pending.as_mut().poll(cx) {
        *slot = ServerOptions::new().create(&self.name).ok().map(wait_on);
        return Poll::Ready(result);
      }
    }
    Poll::Pending
  }
}

/// Opens the pipe `name`, waiting while every instance is busy (up to [`BUSY_WAIT`]).
pub async fn connect(name: &str) -> io::Result<NamedPipeClient> {
  let deadline = Instant::now() + BUSY_WAIT;
  loop {
    match ClientOptions::new().open(name) {
      Err(err) if err.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
        if Instant::now() >= deadline {
          return Err(io::Error::from_raw_os_error(ERROR_SEM_TIMEOUT));
        }
        tokio::time::sleep(BUSY_RETRY).await
      }
      result => return result,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::future::poll_fn;
  use tokio::io::{AsyncReadExt, AsyncWriteExt};

  fn name(label: &str) -> String {
    format!(r"\\.\pipe\node-ipc-rs-unit-{label}-{}", std::process::id())
  }

  #[tokio::test]
  async fn more_clients_than_waiting_instances_are_all_accepted_and_talk() {
    let name = name("many");
    let listener = PipeListener::bind(&name).unwrap();
    let n = PENDING_INSTANCES * 3;
    let clients = tokio::spawn({
      let name = name.clone();
      async move {
        let mut all = Vec::new();
        for i in 0..n {
          let mut c = connect(&name).await.unwrap();
          c.write_all(&[i as u8]).await.unwrap();
          all.push(c);
        }
        all
      }
    });
    let mut got = Vec::new();
    for _ in 0..n {
      let mut server = poll_fn(|cx| listener.poll_accept(cx)).await.unwrap();
      let mut byte = [0u8];
      server.read_exact(&mut byte).await.unwrap();
      got.push(byte[0]);
    }
    got.sort();
    assert_eq!(got, (0..n as u8).collect::<Vec<_>>());
    drop(clients.await.unwrap());
  }

  #[tokio::test]
  async fn a_dropped_listener_leaves_no_instance_to_connect_to() {
    let name = name("gone");
    let listener = PipeListener::bind(&name).unwrap();
    drop(listener);
    // The handles close once the I/O driver has cancelled their pending connects.
    let deadline = Instant::now() + Duration::from_secs(2);
    let err = loop {
      match ClientOptions::new().open(&name) {
        Err(err) => break err,
        Ok(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(10)).await,
        Ok(_) => panic!("{name} still accepts clients 2 s after the listener was dropped"),
      }
    };
    assert_eq!(err.raw_os_error(), Some(2), "ERROR_FILE_NOT_FOUND: {err}");
    // The name can be served again.
    drop(PipeListener::bind(&name).unwrap());
  }

  #[tokio::test]
  async fn connecting_to_a_missing_pipe_fails_at_once() {
    let err = connect(&name("missing")).await.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(2));
  }
}
