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
use std::os::windows::io::{AsRawHandle, RawHandle};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions};

use windows_sys::Win32::Foundation::HANDLE;

use crate::locked::Locked;
use crate::mailbox::{PeerCred, PeerInfo};

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

/// The client process of a connected server instance (README, "Peer credentials").
pub fn client_of(pipe: &NamedPipeServer) -> PeerInfo {
  use windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId;
  peer_of(pipe.as_raw_handle(), GetNamedPipeClientProcessId)
}

/// The server process a client reached.
pub fn server_of(pipe: &NamedPipeClient) -> PeerInfo {
  use windows_sys::Win32::System::Pipes::GetNamedPipeServerProcessId;
  peer_of(pipe.as_raw_handle(), GetNamedPipeServerProcessId)
}

type PidQuery = unsafe extern "system" fn(HANDLE, *mut u32) -> windows_sys::core::BOOL;

/// The pipe knows the other end's pid; the user comes from that process's token. Read once,
/// at connect, as `SO_PEERCRED` is on Linux: a pid looked up later could name another
/// process by then.
fn peer_of(handle: RawHandle, query: PidQuery) -> PeerInfo {
  let mut pid = 0u32;
  // SAFETY: `handle` is the open pipe's, borrowed for the call; `pid` outlives the call.
  if unsafe { query(handle as HANDLE, &mut pid) } == 0 {
    return PeerInfo::default();
  }
  let cred = PeerCred { pid: Some(pid as i32), uid: None, gid: None, sid: user_sid(pid) };
  PeerInfo { cred: Some(cred), ..PeerInfo::default() }
}

/// The string SID (`S-1-5-21-...`) of the user `pid` runs as, or None where this process
/// may not query that process or its token (another user's process, without privileges).
fn user_sid(pid: u32) -> Option<String> {
  use windows_sys::Win32::Foundation::{CloseHandle, LocalFree};
  use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
  use windows_sys::Win32::Security::{GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER};
  use windows_sys::Win32::System::Threading::{
    OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
  };

  // SAFETY: plain Win32 calls on handles this function opens and closes itself; the buffer
  // is u64-aligned (TOKEN_USER holds pointers) and large enough for TOKEN_USER and the
  // largest SID (68 bytes), and the length passed is its size; the string
  // ConvertSidToStringSidW allocates is read up to its NUL and freed with LocalFree.
  unsafe {
    let process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
    if process.is_null() {
      return None;
    }
    let mut token: HANDLE = std::ptr::null_mut();
    let opened = OpenProcessToken(process, TOKEN_QUERY, &mut token);
    CloseHandle(process);
    if opened == 0 {
      return None;
    }
    let mut buffer = [0u64; 32];
    let mut length = 0u32;
    let read = GetTokenInformation(
      token,
      TokenUser,
      buffer.as_mut_ptr().cast(),
      std::mem::size_of_val(&buffer) as u32,
      &mut length,
    );
    CloseHandle(token);
    if read == 0 {
      return None;
    }
    let user = &*(buffer.as_ptr() as *const TOKEN_USER);
    let mut text: windows_sys::core::PWSTR = std::ptr::null_mut();
    if ConvertSidToStringSidW(user.User.Sid, &mut text) == 0 {
      return None;
    }
    let mut len = 0;
    while *text.add(len) != 0 {
      len += 1;
    }
    let sid = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
    LocalFree(text.cast());
    Some(sid)
  }
}
