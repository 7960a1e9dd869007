//! Windows named pipes, where Unix has domain sockets. A pipe has no listen backlog: a
//! client can only connect to an instance the server has created and is waiting on, so
//! the listener keeps [`PENDING_INSTANCES`] instances waiting at all times (libuv keeps
//! the same number for Node's pipe servers), each in its own task, and a client that
//! finds them all taken (`ERROR_PIPE_BUSY`) retries, as libuv's `uv_pipe_connect` does.
//! There is no socket file: a pipe's name is gone when its last instance closes.

use std::io;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::locked::Locked;

/// Instances waiting for a client at any time (libuv's default for Node's pipe servers).
pub const PENDING_INSTANCES: usize = 4;

/// How long a client waits for a busy pipe to offer an instance before it gives up with
/// `EBUSY`: libuv's `uv_pipe_connect` waits 30 s (`WaitNamedPipeW`) too.
const BUSY_WAIT: Duration = Duration::from_secs(30);
const BUSY_RETRY: Duration = Duration::from_millis(20);

/// `ERROR_PIPE_BUSY`: every instance of the pipe is connected to another client.
const ERROR_PIPE_BUSY: i32 = 231;

/// A listening pipe: connected instances arrive from the waiting tasks; dropping it stops
/// them and closes every instance still waiting, so the name is released.
pub struct PipeListener {
  connected: Mutex<mpsc::Receiver<io::Result<NamedPipeServer>>>,
  waiters: Vec<JoinHandle<()>>,
}

impl PipeListener {
  /// Creates the pipe `name`. Its first instance is created here, so that a name already
  /// in use fails the bind (with `ERROR_ACCESS_DENIED`, which Node reports as EADDRINUSE).
  pub fn bind(name: &str) -> io::Result<PipeListener> {
    let first = ServerOptions::new().first_pipe_instance(true).create(name)?;
    let (tx, rx) = mpsc::channel(PENDING_INSTANCES);
    let mut waiters = Vec::with_capacity(PENDING_INSTANCES);
    let mut first = Some(first);
    for _ in 0..PENDING_INSTANCES {
      waiters.push(tokio::spawn(wait_for_clients(name.to_string(), first.take(), tx.clone())));
    }
    Ok(PipeListener { connected: Mutex::new(rx), waiters })
  }

  pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<NamedPipeServer>> {
    match self.connected.locked().poll_recv(cx) {
      Poll::Ready(Some(result)) => Poll::Ready(result),
      // Every waiter ended: only when the listener is dropped, so not seen in practice.
      Poll::Ready(None) => Poll::Pending,
      Poll::Pending => Poll::Pending,
    }
  }
}

impl Drop for PipeListener {
  fn drop(&mut self) {
    for waiter in &self.waiters {
      waiter.abort();
    }
  }
}

/// One waiting instance after another: wait for a client, pass the connected instance on,
/// create the next. A failure to create one is passed on too (the accept loop backs off).
async fn wait_for_clients(
  name: String,
  mut next: Option<NamedPipeServer>,
  tx: mpsc::Sender<io::Result<NamedPipeServer>>,
) {
  loop {
    let server = match next.take() {
      Some(server) => server,
      None => match ServerOptions::new().create(&name) {
        Ok(server) => server,
        Err(err) => {
          if tx.send(Err(err)).await.is_err() {
            return;
          }
          tokio::time::sleep(Duration::from_millis(10)).await;
          continue;
        }
      },
    };
    let connected = server.connect().await.map(|()| server);
    if tx.send(connected).await.is_err() {
      return;
    }
  }
}

/// Opens the pipe `name`, waiting while every instance is busy (up to [`BUSY_WAIT`]).
pub async fn connect(name: &str) -> io::Result<NamedPipeClient> {
  let deadline = Instant::now() + BUSY_WAIT;
  loop {
    match ClientOptions::new().open(name) {
      Err(err) if err.raw_os_error() == Some(ERROR_PIPE_BUSY) && Instant::now() < deadline => {
        tokio::time::sleep(BUSY_RETRY).await
      }
      result => return result,
    }
  }
}
