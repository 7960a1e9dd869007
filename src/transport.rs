//! Opening streams: binding listeners, accepting, connecting. Local endpoints (Unix domain
//! sockets, Windows named pipes) and TCP differ only here; the connection code is shared.

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::errors::IoFailure;
use crate::lookup::lookup;
pub use crate::mailbox::PeerInfo;
use crate::mailbox::TlsPeer;
#[cfg(windows)]
use crate::named_pipe::PipeListener;
use crate::tcp_connect::connect_host;
pub use crate::tcp_connect::TcpConnectOptions;
use crate::tls::{handshake_failure, ClientTls, ServerTls, HANDSHAKE_TIMEOUT};
#[cfg(unix)]
use crate::unix_bind::bind_with_mode;

#[derive(Clone)]
pub enum ListenTarget {
  /// A Unix socket path, or on Windows a pipe name (`\\.\pipe\...`; the modes do not
  /// apply there).
  Unix {
    path: String,
    readable_all: bool,
    writable_all: bool,
    /// `socketMode`: the file's permission bits from the moment its name exists
    /// (`unix_bind`); readable_all/writable_all then add nothing.
    mode: Option<u32>,
  },
  Tcp {
    host: String,
    port: u16,
    tls: Option<Arc<ServerTls>>,
  },
}

#[derive(Clone)]
pub enum ConnectTarget {
  Unix { path: String },
  Tcp { host: String, port: u16, options: TcpConnectOptions },
}

pub enum Listener {
  #[cfg(unix)]
  Unix(UnixListener, String),
  #[cfg(windows)]
  Pipe(PipeListener),
  Tcp(TcpListener, Option<Arc<ServerTls>>),
}

pub enum Stream {
  /// Non-blocking and not registered with tokio yet: it is either handed off or wrapped
  /// in a `UnixConn` when it starts.
  #[cfg(unix)]
  Unix(std::os::unix::net::UnixStream),
  #[cfg(windows)]
  PipeServer(tokio::net::windows::named_pipe::NamedPipeServer),
  #[cfg(windows)]
  PipeClient(tokio::net::windows::named_pipe::NamedPipeClient),
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
    #[cfg_attr(windows, allow(unused_variables))] // the socket file's mode is Unix only
    let fail = |err: std::io::Error| {
      let (address, port) = self.address();
      IoFailure::new(&err, "listen", address, port)
    };
    match self {
      #[cfg(windows)]
      ListenTarget::Unix { path, .. } => {
        PipeListener::bind(path).map(Listener::Pipe).map_err(|err| IoFailure::pipe_bind(&err, path))
      }
      #[cfg(unix)]
      ListenTarget::Unix { path, readable_all, writable_all, mode } => {
        let listener = match mode {
          Some(mode) => bind_with_mode(path, *mode).and_then(|std| {
            std.set_nonblocking(true)?;
            UnixListener::from_std(std)
          }),
          None => UnixListener::bind(path),
        }
        .map_err(|err| IoFailure::unix_bind(&err, path))?;
        if mode.is_none() && (*readable_all || *writable_all) {
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
      #[cfg(unix)]
      Listener::Unix(listener, _) => listener.poll_accept(cx).map(|accepted| {
        let stream = accepted?.0;
        let peer = unix_peer(&stream);
        Ok((Stream::Unix(stream.into_std()?), peer))
      }),
      #[cfg(windows)]
      Listener::Pipe(listener) => listener.poll_accept(cx).map_ok(|server| {
        let peer = crate::named_pipe::client_of(&server);
        (Stream::PipeServer(server), peer)
      }),
      Listener::Tcp(listener, _) => listener.poll_accept(cx).map_ok(|(stream, _)| {
        let peer = tcp_peer(&stream);
        (Stream::Tcp(stream), peer)
      }),
    }
  }

  /// The address a TCP listener is bound to (the port the OS chose for port 0).
  pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
    match self {
      Listener::Tcp(listener, _) => listener.local_addr().ok(),
      #[cfg(unix)]
      Listener::Unix(..) => None,
      #[cfg(windows)]
      Listener::Pipe(..) => None,
    }
  }

  pub fn tls(&self) -> Option<Arc<ServerTls>> {
    match self {
      Listener::Tcp(_, tls) => tls.clone(),
      #[cfg(unix)]
      Listener::Unix(..) => None,
      #[cfg(windows)]
      Listener::Pipe(..) => None,
    }
  }

  /// Node removes a Unix socket file when its server closes; so do we. (A pipe has no
  /// file: its name goes with its last instance.)
  pub fn remove_socket_file(&self) {
    #[cfg(unix)]
    if let Listener::Unix(_, path) = self {
      let _ = std::fs::remove_file(path);
    }
  }
}

impl ConnectTarget {
  pub async fn connect(&self) -> Result<(Stream, PeerInfo), IoFailure> {
    match self {
      #[cfg(windows)]
      ConnectTarget::Unix { path } => crate::named_pipe::connect(path)
        .await
        .map(|s| {
          let peer = crate::named_pipe::server_of(&s);
          (Stream::PipeClient(s), peer)
        })
        .map_err(|err| IoFailure::new(&err, "connect", Some(path.clone()), None)),
      #[cfg(unix)]
      ConnectTarget::Unix { path } => UnixStream::connect(path)
        .await
        .and_then(|s| {
          let peer = unix_peer(&s);
          Ok((Stream::Unix(s.into_std()?), peer))
        })
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
  let stream = match tokio::time::timeout(tls.handshake_timeout, accepting).await {
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

/// The kernel's record of the process at the other end, read once at accept or connect.
#[cfg(unix)]
fn unix_peer(stream: &UnixStream) -> PeerInfo {
  let cred = stream.peer_cred().ok().map(|c| crate::mailbox::PeerCred {
    pid: c.pid(),
    uid: Some(c.uid()),
    gid: Some(c.gid()),
    sid: None,
  });
  PeerInfo { cred, ..PeerInfo::default() }
}

/// A stream Node's cluster module accepted, with its peer's credentials read as at accept
/// (tokio's `peer_cred`; registering the stream with tokio for that needs the runtime's
/// context, which starting the connection needs too). Without one, no credentials.
pub fn adopted_peer(stream: Stream) -> std::io::Result<(Stream, PeerInfo)> {
  match stream {
    #[cfg(unix)]
    Stream::Unix(s) if tokio::runtime::Handle::try_current().is_ok() => {
      let s = UnixStream::from_std(s)?;
      let peer = unix_peer(&s);
      Ok((Stream::Unix(s.into_std()?), peer))
    }
    stream => Ok((stream, PeerInfo::default())),
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
    cred: None,
  }
}

#[cfg(unix)]
impl Stream {
  /// A duplicate of the connected Unix stream socket numbered `fd` (one Node's cluster
  /// module accepted). Any integer is safe to pass: one that is not an open descriptor, or
  /// not a connected Unix stream socket, is an error.
  pub fn from_unix_fd_number(fd: i32) -> std::io::Result<Stream> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) accepts any integer; one that is not an open
    // descriptor gives EBADF, and nothing is closed or borrowed.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
      return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `dup` is a new descriptor that nothing else owns.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(dup) };
    let socket = socket2::SockRef::from(&owned);
    let is_unix_stream = socket.r#type()? == socket2::Type::STREAM && socket.local_addr()?.is_unix();
    if !is_unix_stream {
      return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a Unix stream socket"));
    }
    let stream = std::os::unix::net::UnixStream::from(owned);
    stream.peer_addr()?;
    stream.set_nonblocking(true)?;
    Ok(Stream::Unix(stream))
  }
}
