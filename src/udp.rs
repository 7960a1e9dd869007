//! UDP (udp4/udp6): the one transport without connections (v9's UDP servers and clients). Each
//! datagram carries whole frames; a frame cut at the end of a datagram is dropped, as in
//! v9. Sends queue from the moment `bind` is called, so emits made in the `start`
//! callback (which v9 fires before the bind completes) go out once it has.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::cancel::Cancel;
use crate::errors::IoFailure;
use crate::mailbox::{put_frame, Courier, Event};
use crate::registry::Registry;

/// The largest datagram payload IPv4/IPv6 can carry; reads use a buffer this large.
const MAX_DATAGRAM: usize = 65_535;

#[derive(Debug, Clone)]
pub struct UdpTarget {
  pub host: String,
  pub port: u16,
  pub ipv6: bool,
}

struct Outgoing {
  host: String,
  port: u16,
  data: Bytes,
}

/// A bound (or binding) UDP socket, as its owner holds it.
pub struct UdpSlot {
  sends: mpsc::UnboundedSender<Outgoing>,
  cancel: Arc<Cancel>,
}

impl UdpSlot {
  pub fn close(&self) {
    self.cancel.fire();
  }

  /// Queues a datagram; false once the socket is closed.
  pub fn send(&self, host: String, port: u16, data: Bytes) -> bool {
    self.sends.send(Outgoing { host, port, data }).is_ok()
  }
}

/// Binds in the background: `Listening`, or `Error` then `ServerClosed`; `ServerClosed`
/// again once the slot is closed. Framing and raw mode follow `registry`'s settings.
pub fn bind_udp(registry: &Arc<Registry>, target: UdpTarget, courier: Courier) -> UdpSlot {
  let (sends, queue) = mpsc::unbounded_channel();
  let cancel = Arc::new(Cancel::default());
  let slot = UdpSlot { sends, cancel: cancel.clone() };
  let registry = registry.clone();
  tokio::spawn(async move {
    let bound = tokio::select! {
      _ = cancel.fired() => return courier.send(Event::ServerClosed),
      bound = bind(&target) => bound,
    };
    let socket = match bound {
      Ok(socket) => Arc::new(socket),
      Err(failure) => {
        courier.send(Event::Error { conn: None, failure });
        return courier.send(Event::ServerClosed);
      }
    };
    courier.send(Event::Listening { local: socket.local_addr().ok() });
    tokio::spawn(send_loop(socket.clone(), queue, target.ipv6, cancel.clone(), courier.clone()));
    receive_loop(&socket, &registry, &cancel, &courier).await;
    courier.send(Event::ServerClosed);
  });
  slot
}

async fn bind(target: &UdpTarget) -> Result<UdpSocket, IoFailure> {
  let addr = resolve(&target.host, target.port, target.ipv6).await?;
  let fail =
    |err: &std::io::Error| IoFailure::new(err, "bind", Some(addr.ip().to_string()), Some(target.port));
  if addr.is_ipv6() != target.ipv6 {
    return Err(fail(&wrong_family()));
  }
  UdpSocket::bind(addr).await.map_err(|err| fail(&err))
}

/// An IP literal of the other family: dgram passes it on as dns.lookup returns it, and
/// the bind or send fails with EINVAL.
fn wrong_family() -> std::io::Error {
  #[cfg(unix)]
  let einval = libc::EINVAL;
  // WSAEINVAL, which libuv reports as EINVAL.
  #[cfg(windows)]
  let einval = 10022;
  std::io::Error::from_raw_os_error(einval)
}

/// Like dgram, a name resolves within the socket's own address family (dns.lookup with
/// family 4 or 6, no hints), to its first address.
async fn resolve(host: &str, port: u16, ipv6: bool) -> Result<SocketAddr, IoFailure> {
  let addrs = crate::lookup::lookup(host, port, Some(if ipv6 { 6 } else { 4 }), false).await?;
  Ok(addrs[0])
}

/// Receives until cancelled. While JS is behind (the mailbox above its high-water mark) it
/// stops reading, so that a flood fills the kernel's queue and the kernel drops the rest,
/// instead of this process's memory growing; what the kernel dropped is counted
/// ([`Event::DatagramsDropped`], Linux) and reported with the next datagram.
async fn receive_loop(socket: &UdpSocket, registry: &Registry, cancel: &Cancel, courier: &Courier) {
  let mut buf = vec![0u8; MAX_DATAGRAM];
  let counting = kernel_drops::enable(socket);
  let mut dropped = 0;
  loop {
    let received = tokio::select! {
      biased;
      _ = cancel.fired() => return,
      received = socket.async_io(tokio::io::Interest::READABLE, || kernel_drops::recv(socket, &mut buf)) => received,
    };
    match received {
      Ok((size, from, drops)) => {
        if let Some(total) = drops.filter(|total| counting && *total != dropped) {
          dropped = total;
          courier.send(Event::DatagramsDropped { total });
        }
        for event in datagram(registry, &buf[..size], from) {
          courier.send(event);
        }
      }
      // Windows reports an earlier send's ICMP port unreachable on the next receive;
      // libuv ignores it there (dgram never sees it), so do we.
      Err(err) if ignored_on_receive(&err) => {}
      // ICMP errors (a port unreachable from an earlier send) surface on reads; the
      // socket stays usable, so report and go on.
      Err(err) => {
        courier.send(Event::Error { conn: None, failure: IoFailure::new(&err, "recvmsg", None, None) })
      }
    }
    tokio::select! {
      biased;
      _ = cancel.fired() => return,
      _ = courier.wait_for_room() => {}
    }
  }
}

/// WSAECONNRESET and WSAENETRESET on a UDP receive, which libuv's Windows `uv_udp` skips.
#[cfg(windows)]
fn ignored_on_receive(err: &std::io::Error) -> bool {
  matches!(err.raw_os_error(), Some(10054 | 10052))
}

#[cfg(unix)]
fn ignored_on_receive(_: &std::io::Error) -> bool {
  false
}

/// The kernel's count of datagrams it dropped because the socket's receive queue was full
/// (Linux's `SO_RXQ_OVFL`, cumulative, delivered with each datagram received). Elsewhere
/// nothing is counted.
#[cfg(unix)]
mod kernel_drops {
  use std::io;
  use std::net::SocketAddr;
  use std::os::fd::AsRawFd;

  use tokio::net::UdpSocket;

  #[cfg(target_os = "linux")]
  pub fn enable(socket: &UdpSocket) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: an open socket; the option value is a c_int of the size given.
    let status = unsafe {
      libc::setsockopt(
        socket.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RXQ_OVFL,
        (&on as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
      )
    };
    status == 0
  }

  #[cfg(not(target_os = "linux"))]
  pub fn enable(_: &UdpSocket) -> bool {
    false
  }

  /// One datagram, without blocking: its size, its sender, and the kernel's drop count if
  /// it came with one.
  pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u32>)> {
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // Room for a few control messages, aligned as cmsghdr needs.
    let mut control = [0u64; 8];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live buffer of the length given with it.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
      return Err(io::Error::last_os_error());
    }
    Ok((n as usize, from(&addr)?, drop_count(&msg)))
  }

  #[cfg(target_os = "linux")]
  fn drop_count(msg: &libc::msghdr) -> Option<u32> {
    let mut count = None;
    // SAFETY: `msg` was filled by recvmsg, so its control buffer holds `msg_controllen`
    // bytes of well-formed control messages, which the CMSG macros walk.
    unsafe {
      let mut cmsg = libc::CMSG_FIRSTHDR(msg);
      while !cmsg.is_null() {
        if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SO_RXQ_OVFL {
          count = Some(std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<u32>()));
        }
        cmsg = libc::CMSG_NXTHDR(msg, cmsg);
      }
    }
    count
  }

  #[cfg(not(target_os = "linux"))]
  fn drop_count(_: &libc::msghdr) -> Option<u32> {
    None
  }

  fn from(addr: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match addr.ss_family as libc::c_int {
      libc::AF_INET => {
        // SAFETY: the family says the storage holds a sockaddr_in.
        let v4 = unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
        Ok(SocketAddr::new(ip.into(), u16::from_be(v4.sin_port)))
      }
      libc::AF_INET6 => {
        // SAFETY: the family says the storage holds a sockaddr_in6.
        let v6 = unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
        let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
        Ok(
          std::net::SocketAddrV6::new(ip, u16::from_be(v6.sin6_port), v6.sin6_flowinfo, v6.sin6_scope_id)
            .into(),
        )
      }
      _ => Err(io::Error::new(io::ErrorKind::InvalidData, "a datagram from an unknown address family")),
    }
  }
}

/// Windows has no drop count: a plain non-blocking receive.
#[cfg(windows)]
mod kernel_drops {
  use std::io;
  use std::net::SocketAddr;

  use tokio::net::UdpSocket;

  pub fn enable(_: &UdpSocket) -> bool {
    false
  }

  /// One datagram, without blocking (the raw call that tokio's `async_io` retries on
  /// readiness, so not tokio's own `try_recv_from`).
  pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u32>)> {
    let sock = socket2::SockRef::from(socket);
    // SAFETY: initialised bytes may be viewed as possibly-uninitialised ones; recv_from
    // only writes to them.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
    let (n, from) = sock.recv_from(uninit)?;
    let from = from.as_socket().ok_or_else(|| {
      io::Error::new(io::ErrorKind::InvalidData, "a datagram from an unknown address family")
    })?;
    Ok((n, from, None))
  }
}

/// A datagram's frames (or, raw, its bytes), and a `TooLarge` for each frame in it past
/// `maxMessageSize`: that frame is dropped, the others are delivered and the socket stays
/// open (a frame cut at the end of a datagram is dropped too, as in v9).
fn datagram(registry: &Registry, bytes: &[u8], from: SocketAddr) -> Vec<Event> {
  let raw = registry.is_raw();
  let size = bytes.len();
  if raw {
    return vec![Event::Datagram { raw, data: bytes.to_vec(), from, size }];
  }
  let mut frames = Vec::with_capacity(bytes.len() + 16);
  let mut too_large = Vec::new();
  let mut decoder = registry.decoder();
  let mut at = 0;
  loop {
    match decoder.next_frame(&bytes[at..]) {
      Ok(Some(len)) => {
        put_frame(&mut frames, &bytes[at..at + len]);
        at += len + decoder.delimiter_len();
      }
      Ok(None) => break,
      Err(err) => {
        too_large.push(Event::TooLarge { conn: 0, size: err.size, limit: err.limit });
        match decoder.skip_frame(&bytes[at..]) {
          Some(skip) => at += skip,
          None => break,
        }
      }
    }
  }
  let mut events = vec![Event::Datagram { raw, data: frames, from, size }];
  events.extend(too_large);
  events
}

async fn send_loop(
  socket: Arc<UdpSocket>,
  mut queue: mpsc::UnboundedReceiver<Outgoing>,
  ipv6: bool,
  cancel: Arc<Cancel>,
  courier: Courier,
) {
  loop {
    let next = tokio::select! {
      biased;
      _ = cancel.fired() => return,
      next = queue.recv() => next,
    };
    let Some(Outgoing { host, port, data }) = next else { return };
    let sent = match resolve(&host, port, ipv6).await {
      Ok(addr) if addr.is_ipv6() != ipv6 => {
        Err(IoFailure::new(&wrong_family(), "send", Some(addr.ip().to_string()), Some(port)))
      }
      Ok(addr) => socket
        .send_to(&data, addr)
        .await
        .map(|_| ())
        .map_err(|err| IoFailure::new(&err, "send", Some(addr.ip().to_string()), Some(port))),
      Err(failure) => Err(failure),
    };
    // v9 crashed the process here (an unhandled dgram error); an error event is all it takes.
    if let Err(failure) = sent {
      courier.send(Event::Error { conn: None, failure });
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::registry::EndpointOptions;

  #[test]
  fn frames_past_max_message_size_are_dropped_with_an_error_and_the_rest_delivered() {
    let registry = Registry::new(EndpointOptions { max_message_size: Some(4), ..EndpointOptions::default() });
    let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let events = datagram(&registry, b"ok\x0ctoo long\x0cfine\x0cpartial", from);
    let mut expected = Vec::new();
    put_frame(&mut expected, b"ok");
    put_frame(&mut expected, b"fine");
    assert_eq!(
      events,
      vec![
        Event::Datagram { raw: false, data: expected, from, size: 24 },
        Event::TooLarge { conn: 0, size: 8, limit: 4 },
        Event::TooLarge { conn: 0, size: 7, limit: 4 },
      ]
    );
    // Without a limit every complete frame goes through and the cut one is dropped.
    let registry = Registry::new(EndpointOptions { max_message_size: None, ..EndpointOptions::default() });
    let events = datagram(&registry, b"ok\x0ctoo long\x0cpartial", from);
    assert_eq!(events.len(), 1);
  }
}
