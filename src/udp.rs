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
  std::io::Error::from_raw_os_error(libc::EINVAL)
}

/// Like dgram, a name resolves within the socket's own address family (dns.lookup with
/// family 4 or 6, no hints), to its first address.
async fn resolve(host: &str, port: u16, ipv6: bool) -> Result<SocketAddr, IoFailure> {
  let addrs = crate::lookup::lookup(host, port, Some(if ipv6 { 6 } else { 4 }), false).await?;
  Ok(addrs[0])
}

async fn receive_loop(socket: &UdpSocket, registry: &Registry, cancel: &Cancel, courier: &Courier) {
  let mut buf = vec![0u8; MAX_DATAGRAM];
  loop {
    let received = tokio::select! {
      biased;
      _ = cancel.fired() => return,
      received = socket.recv_from(&mut buf) => received,
    };
    match received {
      Ok((size, from)) => courier.send(datagram(registry, &buf[..size], from)),
      // ICMP errors (a port unreachable from an earlier send) surface on reads; the
      // socket stays usable, so report and go on.
      Err(err) => {
        courier.send(Event::Error { conn: None, failure: IoFailure::new(&err, "recvmsg", None, None) })
      }
    }
  }
}

fn datagram(registry: &Registry, bytes: &[u8], from: SocketAddr) -> Event {
  let raw = registry.is_raw();
  let data = if raw {
    bytes.to_vec()
  } else {
    let mut frames = Vec::with_capacity(bytes.len() + 16);
    let mut decoder = registry.decoder_without_limit();
    // A datagram is bounded by the OS, so no frame in it can exceed a limit worth enforcing.
    let _ = decoder.drain(bytes, |frame| put_frame(&mut frames, frame));
    frames
  };
  Event::Datagram { raw, data, from, size: bytes.len() }
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
