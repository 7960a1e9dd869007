//! Streams read and written through `&self`, so that a reader task, a writer task and
//! direct writes from the JS thread can share one (`connection`'s plain streams on tokio).

use std::io;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use socket2::SockRef;
use tokio::io::{Interest, ReadBuf};
use tokio::net::TcpStream;

/// Crate-private, so its implementations are the ones below and `unix_stream`'s: each
/// reads with `recv(2)` through socket2, which reports exactly the bytes it initialised.
pub(crate) trait ReadyIo: Send + Sync + std::os::fd::AsFd + 'static {
  /// Reads into possibly uninitialised memory; `Ok(n)`: the first `n` bytes of `buf` are
  /// initialised.
  fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [MaybeUninit<u8>]) -> Poll<io::Result<usize>>;
  fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
  fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

impl ReadyIo for TcpStream {
  fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [MaybeUninit<u8>]) -> Poll<io::Result<usize>> {
    loop {
      ready!(self.poll_read_ready(cx))?;
      match self.try_io(Interest::READABLE, || SockRef::from(self).recv(buf)) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
        result => return Poll::Ready(result),
      }
    }
  }

  fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    loop {
      ready!(self.poll_write_ready(cx))?;
      match TcpStream::try_write(self, buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
        result => return Poll::Ready(result),
      }
    }
  }

  fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
    TcpStream::try_write(self, buf)
  }
}

/// One stream shared by its reader task, its writer task and direct writes from the JS
/// thread (see `Outgoing::push`).
pub(crate) struct Shared<S>(pub Arc<S>);

impl<S: ReadyIo> tokio::io::AsyncRead for Shared<S> {
  fn poll_read(
    self: std::pin::Pin<&mut Self>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
  ) -> Poll<io::Result<()>> {
    // Read into the uninitialised tail, as tokio's own streams do: zeroing it first would
    // touch every connection's whole buffer (10,000 idle clients: 640 MB).
    // SAFETY: nothing here de-initialises bytes of `buf`.
    let unfilled = unsafe { buf.unfilled_mut() };
    let n = ready!(self.0.poll_read(cx, unfilled))?;
    // SAFETY: `ReadyIo::poll_read` initialised the first `n` bytes of the unfilled part.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
  }
}

impl<S: ReadyIo> tokio::io::AsyncWrite for Shared<S> {
  fn poll_write(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    self.0.poll_write(cx, buf)
  }

  fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
    Poll::Ready(Ok(()))
  }

  fn poll_shutdown(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
    let result = SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write);
    Poll::Ready(result.or_else(|e| if e.kind() == io::ErrorKind::NotConnected { Ok(()) } else { Err(e) }))
  }
}
