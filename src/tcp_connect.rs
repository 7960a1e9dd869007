//! How net.connect reaches a host (Node 20's lib/net.js): which of a name's addresses are
//! tried and in what order, each attempt's local bind, and the errors Node would report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::errors::IoFailure;
use crate::lookup::lookup;
use crate::tls::ClientTls;

#[derive(Clone, Default)]
pub struct TcpConnectOptions {
  pub local_address: Option<String>,
  pub local_port: Option<u16>,
  /// 4 or 6 restricts the address family, as Node's `family` option.
  pub family: Option<u8>,
  pub tls: Option<Arc<ClientTls>>,
}

/// Node 20's `autoSelectFamilyAttemptTimeout` default: with several addresses to try, an
/// attempt still pending after this long is given up for the next (all but the last).
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

/// net.connect's way to a host (lib/net.js, lookupAndConnect): an IP literal is used as
/// given, whatever `family` says; with `family` or `localAddress`, only the first address
/// the lookup gives is tried; otherwise (autoSelectFamily, Node 20's default) every
/// address, the families alternating, and when all fail the error is an AggregateError
/// of each one's failure.
pub(crate) async fn connect_host(
  host: &str,
  port: u16,
  options: &TcpConnectOptions,
) -> Result<(TcpStream, SocketAddr), IoFailure> {
  let family = options.family.filter(|f| matches!(f, 4 | 6));
  // net asks for AI_ADDRCONFIG unless a family is given; a literal comes back as it is.
  let addrs = lookup(host, port, family, family.is_none()).await?;
  let addrs = if family.is_some() || options.local_address.is_some() {
    vec![addrs[0]]
  } else {
    alternate_families(addrs)
  };
  match addrs[..] {
    [addr] => connect_tcp(addr, options).await.map(|stream| (stream, addr)),
    _ => connect_any(&addrs, options, ATTEMPT_TIMEOUT).await,
  }
}

/// Node's internalConnectMultiple: one address after the other, each but the last given
/// `attempt_timeout` (a timed-out one counts as `connect ETIMEDOUT`).
async fn connect_any(
  addrs: &[SocketAddr],
  options: &TcpConnectOptions,
  attempt_timeout: Duration,
) -> Result<(TcpStream, SocketAddr), IoFailure> {
  let mut errors = Vec::with_capacity(addrs.len());
  for (n, &addr) in addrs.iter().enumerate() {
    let attempt = connect_tcp(addr, options);
    let result = if n + 1 < addrs.len() {
      match tokio::time::timeout(attempt_timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(connect_failure(&std::io::Error::from_raw_os_error(OS_ETIMEDOUT), addr, options)),
      }
    } else {
      attempt.await
    };
    match result {
      Ok(stream) => return Ok((stream, addr)),
      Err(failure) => errors.push(failure),
    }
  }
  Err(IoFailure::aggregate(errors))
}

/// The addresses Node tries, in its order: each once, the families alternating, starting
/// with the first address's.
fn alternate_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
  let first_v6 = addrs.first().is_some_and(|a| a.is_ipv6());
  let (mut first, mut other): (Vec<SocketAddr>, Vec<SocketAddr>) = (Vec::new(), Vec::new());
  for addr in addrs {
    let group = if addr.is_ipv6() == first_v6 { &mut first } else { &mut other };
    if !group.iter().any(|a| a.ip() == addr.ip()) {
      group.push(addr);
    }
  }
  let mut out = Vec::with_capacity(first.len() + other.len());
  let (mut first, mut other) = (first.into_iter(), other.into_iter());
  loop {
    match (first.next(), other.next()) {
      (None, None) => return out,
      (a, b) => out.extend(a.into_iter().chain(b)),
    }
  }
}

/// The OS's own numbers for the failures made here, which [`IoFailure`] then reports as
/// it reports the OS's (Windows sockets have numbers of their own: WSAETIMEDOUT, WSAEINVAL).
#[cfg(unix)]
const OS_ETIMEDOUT: i32 = libc::ETIMEDOUT;
#[cfg(unix)]
const OS_EINVAL: i32 = libc::EINVAL;
#[cfg(windows)]
const OS_ETIMEDOUT: i32 = 10060;
#[cfg(windows)]
const OS_EINVAL: i32 = 10022;

/// One attempt, as Node's internalConnect: bound first when `localAddress` or a
/// `localPort` was given (a failure there is `bind CODE localAddress:localPort`), then
/// connected.
async fn connect_tcp(addr: SocketAddr, options: &TcpConnectOptions) -> Result<TcpStream, IoFailure> {
  let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
    .map_err(|err| connect_failure(&err, addr, options))?;
  let local_port = options.local_port.filter(|p| *p != 0);
  if options.local_address.is_some() || local_port.is_some() {
    let address = local_address(addr, options);
    let bind_failure = |err: &std::io::Error| IoFailure::new(err, "bind", Some(address.clone()), local_port);
    let ip: std::net::IpAddr =
      address.parse().map_err(|_| bind_failure(&std::io::Error::from_raw_os_error(OS_EINVAL)))?;
    socket.bind(SocketAddr::new(ip, local_port.unwrap_or(0))).map_err(|err| bind_failure(&err))?;
  }
  socket.connect(addr).await.map_err(|err| connect_failure(&err, addr, options))
}

/// The local address Node names: the one given, or the wildcard of the peer's family.
fn local_address(addr: SocketAddr, options: &TcpConnectOptions) -> String {
  match &options.local_address {
    Some(a) => a.clone(),
    None if addr.is_ipv4() => "0.0.0.0".into(),
    None => "::".into(),
  }
}

/// `connect CODE address:port`, with ` - Local (address:port)` when a local port was
/// bound (net.js createConnectionError: `req.localAddress && req.localPort`).
fn connect_failure(err: &std::io::Error, addr: SocketAddr, options: &TcpConnectOptions) -> IoFailure {
  let mut failure = IoFailure::new(err, "connect", Some(addr.ip().to_string()), Some(addr.port()));
  if let Some(port) = options.local_port.filter(|p| *p != 0) {
    failure.local = Some((local_address(addr, options), port));
  }
  failure
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::errors::errno;
  use tokio::net::TcpListener;

  fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
  }

  #[test]
  fn addresses_are_tried_as_node_orders_them() {
    // Families alternate from the first address's; each IP once (net.js
    // lookupAndConnectMultiple).
    let got = alternate_families(vec![
      addr("[::1]:1"),
      addr("[fe80::1]:1"),
      addr("127.0.0.1:1"),
      addr("[::1]:1"),
      addr("127.0.0.2:1"),
      addr("127.0.0.3:1"),
    ]);
    let want = ["[::1]:1", "127.0.0.1:1", "[fe80::1]:1", "127.0.0.2:1", "127.0.0.3:1"];
    assert_eq!(got, want.map(addr).to_vec());
    assert_eq!(
      alternate_families(vec![addr("127.0.0.1:1"), addr("[::1]:1")]),
      vec![addr("127.0.0.1:1"), addr("[::1]:1")]
    );
  }

  async fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
  }

  #[tokio::test]
  async fn every_address_refused_is_an_aggregate_of_each_failure() {
    let (a, b) = (closed_port().await, closed_port().await);
    let addrs = [SocketAddr::new([127, 0, 0, 1].into(), a), SocketAddr::new([127, 0, 0, 1].into(), b)];
    let Err(failure) = connect_any(&addrs, &TcpConnectOptions::default(), ATTEMPT_TIMEOUT).await else {
      panic!("connected to a closed port")
    };
    let errors: Vec<_> = failure.errors.iter().map(|f| (f.errno, f.syscall, f.port)).collect();
    assert_eq!(
      errors,
      vec![(errno::ECONNREFUSED, "connect", Some(a)), (errno::ECONNREFUSED, "connect", Some(b))]
    );
    assert_eq!(
      (failure.errno, failure.code.as_deref()),
      (0, None),
      "the JS side takes the first error's code"
    );
  }

  #[tokio::test]
  async fn a_pending_attempt_gives_way_after_the_attempt_timeout_but_the_last_does_not() {
    // A listener whose accept queue is full leaves further connects pending (Linux and
    // macOS drop the SYN).
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.bind(&addr("127.0.0.1:0").into()).unwrap();
    listener.listen(0).unwrap();
    let full = listener.local_addr().unwrap().as_socket().unwrap();
    let mut queued = Vec::new();
    for _ in 0..4 {
      match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(full)).await {
        Ok(stream) => queued.push(stream.unwrap()),
        Err(_) => break,
      }
    }
    assert!(queued.len() < 4, "the accept queue never filled");
    let addrs = [full, SocketAddr::new([127, 0, 0, 1].into(), closed_port().await)];
    let Err(failure) = connect_any(&addrs, &TcpConnectOptions::default(), Duration::from_millis(50)).await
    else {
      panic!("connected")
    };
    let errors: Vec<_> = failure.errors.iter().map(|f| (f.errno, f.port)).collect();
    assert_eq!(
      errors,
      vec![(errno::ETIMEDOUT, Some(addrs[0].port())), (errno::ECONNREFUSED, Some(addrs[1].port()))]
    );
  }

  #[tokio::test]
  async fn a_local_port_alone_is_named_with_the_wildcard_address() {
    let port = closed_port().await;
    let local_port = closed_port().await;
    let options = TcpConnectOptions { local_port: Some(local_port), ..Default::default() };
    let Err(failure) = connect_tcp(SocketAddr::new([127, 0, 0, 1].into(), port), &options).await else {
      panic!("connected")
    };
    assert_eq!(failure.local, Some(("0.0.0.0".to_string(), local_port)));
  }
}
