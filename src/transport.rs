//! Opening streams: binding listeners, accepting, connecting. Unix domain sockets and TCP
//! differ only here; the connection code is shared.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::connection::{self, Live};
use crate::errors::IoFailure;
use crate::lookup::lookup;
pub use crate::mailbox::PeerInfo;
use crate::mailbox::TlsPeer;
use crate::mailbox::{Event, HandedOffSocket};
use crate::tcp_connect::connect_host;
use crate::tls::{handshake_failure, ClientTls, ServerTls};
use crate::unix_stream::UnixConn;

/// Node's default `handshakeTimeout`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(120);

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
  /// Non-blocking and not registered with tokio yet: it is either handed off or wrapped
  /// in a [`UnixConn`] when it starts.
  Unix(std::os::unix::net::UnixStream),
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
        .map(|accepted| Ok((Stream::Unix(accepted?.0.into_std()?), PeerInfo::default()))),
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
        .and_then(UnixStream::into_std)
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
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true)?;
    Ok(Stream::Unix(stream))
  }

  /// Announces the connection and starts its tasks, or hands a plain stream to the
  /// endpoint's consumer when it drives those itself.
  pub fn start(self, live: Arc<Live>, peer: PeerInfo) {
    if live.endpoint.shut_down_signal().is_fired() {
      // Its owner is gone (a Worker that ended): close it unannounced.
      return live.shared.destroy();
    }
    let conn = live.shared.id;
    let hand_off = live.endpoint.hands_off_plain_streams();
    let socket = match self {
      Stream::Unix(s) if hand_off => Ok(socket2::Socket::from(std::os::fd::OwnedFd::from(s))),
      Stream::Tcp(s) if hand_off => {
        s.into_std().map(|s| socket2::Socket::from(std::os::fd::OwnedFd::from(s)))
      }
      stream => return stream.spawn(live, peer),
    };
    match socket {
      Ok(socket) => {
        live.hand_off();
        live.courier.send(Event::HandedOff { conn, peer, socket: HandedOffSocket(socket) });
      }
      Err(err) => live.report_error(IoFailure::new(&err, "read", None, None)),
    }
  }

  fn spawn(self, live: Arc<Live>, peer: PeerInfo) {
    live.courier.send(Event::Connected { conn: live.shared.id, peer });
    match self {
      Stream::Unix(s) => match UnixConn::from_std(s) {
        Ok(s) => start_shared(live, Arc::new(s)),
        Err(err) => live.report_error(IoFailure::new(&err, "read", None, None)),
      },
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
