//! Opening streams: binding listeners, accepting, connecting. Unix domain sockets and TCP
//! differ only here; the connection code is shared.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream, UnixListener, UnixStream};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::connection::{self, Live};
use crate::errors::IoFailure;
use crate::mailbox::TlsPeer;
use crate::tls::{handshake_failure, ClientTls, ServerTls};
use crate::unix_stream::UnixConn;

/// Node's default `handshakeTimeout`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(120);
use crate::mailbox::Event;
pub use crate::mailbox::PeerInfo;

#[derive(Clone)]
pub enum ListenTarget {
  Unix { path: String, readable_all: bool, writable_all: bool },
  Tcp { host: String, port: u16, tls: Option<Arc<ServerTls>> },
}

#[derive(Clone, Default)]
pub struct TcpConnectOptions {
  pub local_address: Option<String>,
  pub local_port: Option<u16>,
  /// 4 or 6 restricts the address family, as Node's `family` option.
  pub family: Option<u8>,
  pub tls: Option<Arc<ClientTls>>,
}

#[derive(Clone)]
pub enum ConnectTarget {
  Unix { path: String },
  Tcp { host: String, port: u16, options: TcpConnectOptions },
}

pub enum Listener {
  Unix(UnixListener, String),
  Tcp(TcpListener, Option<Arc<ServerTls>>),
}

pub enum Stream {
  Unix(UnixConn),
  Tcp(TcpStream),
  TlsServer(Box<tokio_rustls::server::TlsStream<TcpStream>>),
  TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl ListenTarget {
  fn address(&self) -> (Option<String>, Option<u16>) {
    match self {
      ListenTarget::Unix { path, .. } => (Some(path.clone()), None),
      ListenTarget::Tcp { host, port, .. } => (Some(host.clone()), Some(*port)),
    }
  }

  pub async fn bind(&self) -> Result<Listener, IoFailure> {
    let fail = |err: std::io::Error| {
      let (address, port) = self.address();
      IoFailure::new(&err, "listen", address, port)
    };
    match self {
      ListenTarget::Unix { path, readable_all, writable_all } => {
        let listener = UnixListener::bind(path).map_err(|err| IoFailure::unix_bind(&err, path))?;
        if *readable_all || *writable_all {
          // The same bits libuv's uv_pipe_chmod adds for Node's readableAll/writableAll.
          let mut add = 0;
          if *readable_all {
            add |= 0o444;
          }
          if *writable_all {
            add |= 0o222;
          }
          let mode = std::fs::metadata(path).map_err(fail)?.permissions().mode() | add;
          std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
        }
        Ok(Listener::Unix(listener, path.clone()))
      }
      ListenTarget::Tcp { host, port, tls } => {
        // server.listen(port, host) listens on the first address dns.lookup(host) gives.
        let addr = lookup(host, *port, None, false).await?[0];
        TcpListener::bind(addr)
          .await
          .map(|listener| Listener::Tcp(listener, tls.clone()))
          .map_err(|err| IoFailure::new(&err, "listen", Some(addr.ip().to_string()), Some(*port)))
      }
    }
  }
}

impl Listener {
  pub fn poll_accept(
    &self,
    cx: &mut std::task::Context<'_>,
  ) -> std::task::Poll<std::io::Result<(Stream, PeerInfo)>> {
    match self {
      Listener::Unix(listener, _) => listener
        .poll_accept(cx)
        .map(|accepted| Ok((Stream::Unix(UnixConn::new(accepted?.0)?), PeerInfo::default()))),
      Listener::Tcp(listener, _) => listener.poll_accept(cx).map_ok(|(stream, _)| {
        let peer = tcp_peer(&stream);
        (Stream::Tcp(stream), peer)
      }),
    }
  }

  pub fn tls(&self) -> Option<Arc<ServerTls>> {
    match self {
      Listener::Tcp(_, tls) => tls.clone(),
      Listener::Unix(..) => None,
    }
  }

  /// Node removes a Unix socket file when its server closes; so do we.
  pub fn remove_socket_file(&self) {
    if let Listener::Unix(_, path) = self {
      let _ = std::fs::remove_file(path);
    }
  }
}

impl ConnectTarget {
  pub async fn connect(&self) -> Result<(Stream, PeerInfo), IoFailure> {
    match self {
      ConnectTarget::Unix { path } => UnixStream::connect(path)
        .await
        .and_then(UnixConn::new)
        .map(|s| (Stream::Unix(s), PeerInfo::default()))
        .map_err(|err| IoFailure::unix(&err, "connect", path)),
      ConnectTarget::Tcp { host, port, options } => {
        let (stream, addr) = connect_host(host, *port, options).await?;
        let peer = tcp_peer(&stream);
        match &options.tls {
          None => Ok((Stream::Tcp(stream), peer)),
          Some(tls) => connect_tls(stream, peer, tls.clone())
            .await
            .map_err(|f| IoFailure::tls(f, Some(addr.ip().to_string()), Some(*port))),
        }
      }
    }
  }
}

/// Node 20's `autoSelectFamilyAttemptTimeout` default: with several addresses to try, an
/// attempt still pending after this long is given up for the next (all but the last).
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

/// net.connect's way to a host (lib/net.js, lookupAndConnect): an IP literal is used as
/// given, whatever `family` says; with `family` or `localAddress`, only the first address
/// the lookup gives is tried; otherwise (autoSelectFamily, Node 20's default) every
/// address, the families alternating, and when all fail the error is an AggregateError
/// of each one's failure.
async fn connect_host(
  host: &str,
  port: u16,
  options: &TcpConnectOptions,
) -> Result<(TcpStream, SocketAddr), IoFailure> {
  if let Ok(ip) = host.parse::<std::net::IpAddr>() {
    let addr = SocketAddr::new(ip, port);
    return connect_tcp(addr, options).await.map(|stream| (stream, addr));
  }
  let family = options.family.filter(|f| matches!(f, 4 | 6));
  // net asks for AI_ADDRCONFIG unless a family is given.
  let addrs = lookup(host, port, family, family.is_none()).await?;
  if family.is_some() || options.local_address.is_some() {
    return connect_tcp(addrs[0], options).await.map(|stream| (stream, addrs[0]));
  }
  let addrs = alternate_families(addrs);
  if addrs.len() == 1 {
    return connect_tcp(addrs[0], options).await.map(|stream| (stream, addrs[0]));
  }
  connect_any(&addrs, options, ATTEMPT_TIMEOUT).await
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
        Err(_) => Err(connect_failure(&std::io::Error::from_raw_os_error(libc::ETIMEDOUT), addr, options)),
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
      address.parse().map_err(|_| bind_failure(&std::io::Error::from_raw_os_error(libc::EINVAL)))?;
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

/// Node's dns.lookup: an IP literal as it is; a name through getaddrinfo on a blocking
/// thread, with the hints Node gives it (SOCK_STREAM, the family, AI_ADDRCONFIG when
/// asked), its addresses in the order it gives them (`verbatim`, Node 20's default). A
/// failure is Node's: `getaddrinfo ENOTFOUND host`, `getaddrinfo EAI_AGAIN host`, ...
pub(crate) async fn lookup(
  host: &str,
  port: u16,
  family: Option<u8>,
  addrconfig: bool,
) -> Result<Vec<SocketAddr>, IoFailure> {
  if let Ok(ip) = host.parse::<std::net::IpAddr>() {
    return Ok(vec![SocketAddr::new(ip, port)]);
  }
  // libuv refuses a name past its 255-byte IDNA buffer before getaddrinfo sees it.
  if host.is_ascii() && host.len() >= 256 {
    return Err(IoFailure::lookup_invalid(host, port));
  }
  let hints = dns_lookup::AddrInfoHints {
    flags: if addrconfig { libc::AI_ADDRCONFIG } else { 0 },
    address: match family {
      Some(4) => libc::AF_INET,
      Some(6) => libc::AF_INET6,
      _ => libc::AF_UNSPEC,
    },
    socktype: libc::SOCK_STREAM,
    protocol: 0,
  };
  let name = host.to_string();
  let found =
    tokio::task::spawn_blocking(move || match dns_lookup::getaddrinfo(Some(&name), None, Some(hints)) {
      Ok(found) => Ok(found.filter_map(Result::ok).map(|info| info.sockaddr).collect::<Vec<_>>()),
      // The EAI_* value, and for EAI_SYSTEM the errno, read right after the call.
      Err(err) => Err((err.error_num(), std::io::Error::from(err).raw_os_error())),
    })
    .await;
  let addrs = match found {
    Ok(Ok(addrs)) => addrs,
    // 0: not getaddrinfo's own failure (a NUL in the name, say).
    Ok(Err((gai, os_errno))) if gai != 0 => return Err(IoFailure::getaddrinfo(gai, os_errno, host, port)),
    _ => return Err(IoFailure::not_found(host, port)),
  };
  let addrs: Vec<SocketAddr> = addrs
    .into_iter()
    .filter(|a| match family {
      Some(4) => a.is_ipv4(),
      Some(6) => a.is_ipv6(),
      _ => true,
    })
    .map(|a| SocketAddr::new(a.ip(), port))
    .collect();
  if addrs.is_empty() {
    return Err(IoFailure::not_found(host, port));
  }
  Ok(addrs)
}

async fn connect_tls(
  stream: TcpStream,
  mut peer: PeerInfo,
  tls: Arc<ClientTls>,
) -> Result<(Stream, PeerInfo), crate::tls::TlsFailure> {
  let connector = TlsConnector::from(tls.config.clone());
  let connecting = connector.connect(tls.server_name.clone(), stream);
  let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
    Ok(Ok(stream)) => stream,
    Ok(Err(err)) => return Err(tls.failure(&err)),
    Err(_) => return Err(timed_out()),
  };
  let (_, conn) = stream.get_ref();
  let certs = conn.peer_certificates();
  let authorization_error = tls.authorization(certs);
  peer.tls = Some(tls_peer(certs, authorization_error, conn.protocol_version()));
  Ok((Stream::TlsClient(Box::new(stream)), peer))
}

/// The server side of a handshake, run in its own task so a slow client never holds up
/// the accept loop.
pub async fn accept_tls(
  stream: Stream,
  mut peer: PeerInfo,
  tls: Arc<ServerTls>,
) -> Result<(Stream, PeerInfo), IoFailure> {
  let Stream::Tcp(stream) = stream else { unreachable!("TLS is only offered on TCP listeners") };
  let remote = (peer.remote_address.clone(), peer.remote_port);
  let fail = |f| IoFailure::tls(f, remote.0.clone(), remote.1);
  let accepting = TlsAcceptor::from(tls.config.clone()).accept(stream);
  let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, accepting).await {
    Ok(Ok(stream)) => stream,
    Ok(Err(err)) => return Err(fail(handshake_failure(&err, None))),
    Err(_) => return Err(fail(timed_out())),
  };
  let (_, conn) = stream.get_ref();
  let certs = conn.peer_certificates();
  let authorization_error = tls.authorization(certs);
  peer.tls = Some(tls_peer(certs, authorization_error, conn.protocol_version()));
  Ok((Stream::TlsServer(Box::new(stream)), peer))
}

fn timed_out() -> crate::tls::TlsFailure {
  crate::tls::TlsFailure { code: "ERR_TLS_HANDSHAKE_TIMEOUT".into(), message: "TLS handshake timeout".into() }
}

fn tls_peer(
  certs: Option<&[CertificateDer<'static>]>,
  authorization_error: Option<crate::tls::TlsFailure>,
  version: Option<tokio_rustls::rustls::ProtocolVersion>,
) -> TlsPeer {
  use tokio_rustls::rustls::ProtocolVersion;
  TlsPeer {
    authorized: authorization_error.is_none(),
    authorization_error,
    certificate: certs.and_then(|c| c.first()).map(|c| c.to_vec()),
    protocol: match version {
      Some(ProtocolVersion::TLSv1_3) => Some("TLSv1.3"),
      Some(ProtocolVersion::TLSv1_2) => Some("TLSv1.2"),
      _ => None,
    },
  }
}

fn tcp_peer(stream: &TcpStream) -> PeerInfo {
  let _ = stream.set_nodelay(true);
  let remote = stream.peer_addr().ok();
  let local = stream.local_addr().ok();
  PeerInfo {
    remote_address: remote.map(|a| a.ip().to_string()),
    remote_port: remote.map(|a| a.port()),
    remote_family: remote.map(|a| if a.is_ipv4() { "IPv4" } else { "IPv6" }),
    local_address: local.map(|a| a.ip().to_string()),
    local_port: local.map(|a| a.port()),
    tls: None,
  }
}

impl Stream {
  /// Adopts a connected Unix socket accepted elsewhere (Node's cluster accept path, D6).
  pub fn from_unix_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Stream> {
    Ok(Stream::Unix(UnixConn::from_std(std::os::unix::net::UnixStream::from(fd))?))
  }

  /// Announces the connection and starts its tasks.
  pub fn start(self, live: Arc<Live>, peer: PeerInfo) {
    live.courier.send(Event::Connected { conn: live.shared.id, peer });
    match self {
      Stream::Unix(s) => start_shared(live, Arc::new(s)),
      Stream::Tcp(s) => start_shared(live, Arc::new(s)),
      Stream::TlsServer(s) => {
        let (r, w) = tokio::io::split(*s);
        connection::spawn(live, r, w)
      }
      Stream::TlsClient(s) => {
        let (r, w) = tokio::io::split(*s);
        connection::spawn(live, r, w)
      }
    }
  }
}

/// Reads and writes through `&self`, so that a reader task, a writer task and direct
/// writes from the JS thread can share one stream.
pub trait ReadyIo: Send + Sync + std::os::fd::AsFd + 'static {
  fn poll_read(
    &self,
    cx: &mut std::task::Context<'_>,
    buf: &mut [u8],
  ) -> std::task::Poll<std::io::Result<usize>>;
  fn poll_write(
    &self,
    cx: &mut std::task::Context<'_>,
    buf: &[u8],
  ) -> std::task::Poll<std::io::Result<usize>>;
  fn try_write(&self, buf: &[u8]) -> std::io::Result<usize>;
}

impl ReadyIo for TcpStream {
  fn poll_read(
    &self,
    cx: &mut std::task::Context<'_>,
    buf: &mut [u8],
  ) -> std::task::Poll<std::io::Result<usize>> {
    loop {
      std::task::ready!(self.poll_read_ready(cx))?;
      match self.try_read(buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
        result => return std::task::Poll::Ready(result),
      }
    }
  }

  fn poll_write(
    &self,
    cx: &mut std::task::Context<'_>,
    buf: &[u8],
  ) -> std::task::Poll<std::io::Result<usize>> {
    loop {
      std::task::ready!(self.poll_write_ready(cx))?;
      match TcpStream::try_write(self, buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
        result => return std::task::Poll::Ready(result),
      }
    }
  }

  fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
    TcpStream::try_write(self, buf)
  }
}

/// One stream shared by its reader task, its writer task and direct writes from the JS
/// thread (see `Outgoing::push`).
struct Shared<S>(Arc<S>);

impl<S: ReadyIo> tokio::io::AsyncRead for Shared<S> {
  fn poll_read(
    self: std::pin::Pin<&mut Self>,
    cx: &mut std::task::Context<'_>,
    buf: &mut tokio::io::ReadBuf<'_>,
  ) -> std::task::Poll<std::io::Result<()>> {
    // Read into the uninitialised tail, as tokio's own streams do: zeroing it first
    // would touch every connection's whole buffer (10,000 idle clients: 640 MB).
    // Safety: read(2) only writes the bytes it reports, and only those are marked filled.
    let unfilled = unsafe { &mut *(buf.unfilled_mut() as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) };
    let n = std::task::ready!(self.0.poll_read(cx, unfilled))?;
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    std::task::Poll::Ready(Ok(()))
  }
}

impl<S: ReadyIo> tokio::io::AsyncWrite for Shared<S> {
  fn poll_write(
    self: std::pin::Pin<&mut Self>,
    cx: &mut std::task::Context<'_>,
    buf: &[u8],
  ) -> std::task::Poll<std::io::Result<usize>> {
    self.0.poll_write(cx, buf)
  }

  fn poll_flush(
    self: std::pin::Pin<&mut Self>,
    _: &mut std::task::Context<'_>,
  ) -> std::task::Poll<std::io::Result<()>> {
    std::task::Poll::Ready(Ok(()))
  }

  fn poll_shutdown(
    self: std::pin::Pin<&mut Self>,
    _: &mut std::task::Context<'_>,
  ) -> std::task::Poll<std::io::Result<()>> {
    let result = socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write);
    std::task::Poll::Ready(result.or_else(|e| {
      if e.kind() == std::io::ErrorKind::NotConnected {
        Ok(())
      } else {
        Err(e)
      }
    }))
  }
}

fn start_shared<S: ReadyIo>(live: Arc<Live>, stream: Arc<S>) {
  let direct = stream.clone();
  live.shared.out.set_direct(Box::new(move |bytes| direct.try_write(bytes)));
  connection::spawn(live, Shared(stream.clone()), Shared(stream));
}

#[cfg(test)]
mod tests {
  use super::*;

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
      vec![(-libc::ECONNREFUSED, "connect", Some(a)), (-libc::ECONNREFUSED, "connect", Some(b))]
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
      vec![(-libc::ETIMEDOUT, Some(addrs[0].port())), (-libc::ECONNREFUSED, Some(addrs[1].port()))]
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

  #[tokio::test]
  async fn lookups_fail_as_node_says() {
    // Past libuv's 255-byte buffer: refused before any query.
    let long =
      "x".repeat(63) + "." + &"x".repeat(63) + "." + &"x".repeat(63) + "." + &"x".repeat(63) + ".invalid";
    let failure = lookup(&long, 1, None, true).await.unwrap_err();
    assert_eq!((failure.errno, failure.code, failure.syscall), (-libc::EINVAL, None, "getaddrinfo"));
    // IP literals skip the lookup, whatever the family.
    assert_eq!(lookup("::1", 5, Some(4), false).await.unwrap(), vec![addr("[::1]:5")]);
    assert_eq!(lookup("localhost", 7, Some(4), false).await.unwrap()[0], addr("127.0.0.1:7"));
  }
}
