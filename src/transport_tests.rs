//! Loopback tests of the transport logic (Unix and TCP), driven as JS would drive it but
//! without Node: events are collected from the mailbox.

use std::sync::Arc;

use bytes::Bytes;

use crate::endpoint::{Endpoint, EndpointOptions};
use crate::mailbox::testing::Collector;
use crate::mailbox::{ConnId, Event};
use crate::transport::{ConnectTarget, ListenTarget, TcpConnectOptions};

fn frames_of(events: &[Event], conn: Option<ConnId>) -> Vec<Vec<u8>> {
  let mut out = Vec::new();
  for ev in events {
    if let Event::Frames { conn: c, data } = ev {
      if conn.is_some_and(|want| want != *c) {
        continue;
      }
      let mut at = 0;
      while at < data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        out.push(data[at + 4..at + 4 + len].to_vec());
        at += 4 + len;
      }
    }
  }
  out
}

fn raw_of(events: &[Event]) -> Vec<u8> {
  events
    .iter()
    .filter_map(|ev| match ev {
      Event::Raw { data, .. } => Some(data.as_slice()),
      _ => None,
    })
    .flatten()
    .copied()
    .collect()
}

fn closed(events: &[Event], conn: ConnId) -> bool {
  events.iter().any(|e| matches!(e, Event::Closed { conn: c, .. } if *c == conn))
}

fn connected_id(events: &[Event]) -> Option<ConnId> {
  events.iter().find_map(|e| match e {
    Event::Connected { conn, .. } => Some(*conn),
    _ => None,
  })
}

fn connected_peer(events: &[Event]) -> Option<crate::mailbox::PeerInfo> {
  events.iter().find_map(|e| match e {
    Event::Connected { peer, .. } => Some(peer.clone()),
    _ => None,
  })
}

struct Pair {
  server: Arc<Endpoint>,
  server_events: Collector,
  client: Arc<Endpoint>,
  client_events: Collector,
  client_conn: ConnId,
  server_conn: ConnId,
  /// What each side's `Connected` event said about the other end.
  client_peer: crate::mailbox::PeerInfo,
  server_peer: crate::mailbox::PeerInfo,
  _dir: tempfile::TempDir,
}

/// A server listening on a Unix socket in a fresh temp dir (kept alive by the returned
/// guard); `verifying` holds accepted connections for JS to admit or refuse.
async fn unix_server(
  options: EndpointOptions,
  verifying: bool,
) -> (Arc<Endpoint>, Collector, String, tempfile::TempDir) {
  let dir = tempfile::tempdir().unwrap();
  let path = dir.path().join("s.sock").to_string_lossy().into_owned();
  let server = Endpoint::new(options);
  server.set_verifying(verifying);
  let (mut events, courier) = Collector::new(1 << 20);
  server.listen(
    ListenTarget::Unix { path: path.clone(), readable_all: false, writable_all: false, mode: None },
    courier,
  );
  events.until(|e| e.iter().any(|e| matches!(e, Event::Listening { .. }))).await;
  (server, events, path, dir)
}

async fn unix_pair(options: EndpointOptions) -> Pair {
  let (server, mut server_events, path, dir) = unix_server(options.clone(), false).await;
  let client = Endpoint::new(options);
  let (mut client_events, courier) = Collector::new(1 << 20);
  let client_conn = client.connect(ConnectTarget::Unix { path }, courier);
  let client_peer = connected_peer(client_events.until(|e| connected_peer(e).is_some()).await).unwrap();
  let got = server_events.until(|e| connected_id(e).is_some()).await;
  let (server_conn, server_peer) = (connected_id(got).unwrap(), connected_peer(got).unwrap());
  Pair {
    server,
    server_events,
    client,
    client_events,
    client_conn,
    server_conn,
    client_peer,
    server_peer,
    _dir: dir,
  }
}

#[tokio::test]
async fn unix_frames_cross_both_ways_in_order() {
  let mut p = unix_pair(EndpointOptions::default()).await;
  // Written before and after each other, in separate chunks and within one chunk.
  p.client.write(p.client_conn, Bytes::from_static(b"{\"type\":\"a\"}\x0c{\"type\":\"b\"}\x0c{\"ty"));
  p.client.write(p.client_conn, Bytes::from_static(b"pe\":\"c\"}\x0c"));
  let got = p.server_events.until(|e| frames_of(e, None).len() == 3).await;
  assert_eq!(
    frames_of(got, None),
    vec![b"{\"type\":\"a\"}".to_vec(), b"{\"type\":\"b\"}".to_vec(), b"{\"type\":\"c\"}".to_vec()]
  );
  p.server.write(p.server_conn, Bytes::from_static(b"reply\x0c"));
  let got = p.client_events.until(|e| !frames_of(e, None).is_empty()).await;
  assert_eq!(frames_of(got, None), vec![b"reply".to_vec()]);
}

#[tokio::test]
async fn writes_queued_before_the_connection_exists_are_delivered() {
  let dir = tempfile::tempdir().unwrap();
  let path = dir.path().join("late.sock").to_string_lossy().into_owned();
  let server = Endpoint::new(EndpointOptions::default());
  let (mut server_events, courier) = Collector::new(1 << 20);
  server.listen(
    ListenTarget::Unix { path: path.clone(), readable_all: false, writable_all: false, mode: None },
    courier,
  );
  server_events.until(|e| e.iter().any(|e| matches!(e, Event::Listening { .. }))).await;
  let client = Endpoint::new(EndpointOptions::default());
  let (_client_events, courier) = Collector::new(1 << 20);
  let conn = client.connect(ConnectTarget::Unix { path }, courier);
  assert_eq!(client.write(conn, Bytes::from_static(b"early\x0c")), Some(6));
  let got = server_events.until(|e| !frames_of(e, None).is_empty()).await;
  assert_eq!(frames_of(got, None), vec![b"early".to_vec()]);
}

#[tokio::test]
async fn end_flushes_everything_then_both_sides_close() {
  let mut p = unix_pair(EndpointOptions::default()).await;
  let big = Bytes::from(vec![b'x'; 3 << 20]);
  let mut frame = big.to_vec();
  frame.push(0x0c);
  p.client.write(p.client_conn, Bytes::from(frame));
  p.client.end(p.client_conn);
  let conn = p.server_conn;
  let got = p.server_events.until(|e| closed(e, conn)).await;
  assert_eq!(frames_of(got, None), vec![big.to_vec()]);
  let client_conn = p.client_conn;
  p.client_events.until(|e| closed(e, client_conn)).await;
  assert_eq!(p.client.connection_count(), 0);
  assert_eq!(p.server.connection_count(), 0);
  // Writes after the close are dropped, not queued.
  assert_eq!(p.client.write(p.client_conn, Bytes::from_static(b"late")), None);
}

#[tokio::test]
async fn oversized_frame_is_reported_and_closes_only_that_connection() {
  let options = EndpointOptions { max_message_size: Some(8), ..Default::default() };
  let mut p = unix_pair(options).await;
  p.client.write(p.client_conn, Bytes::from_static(b"12345678\x0c123456789\x0c"));
  let conn = p.server_conn;
  let got = p.server_events.until(|e| closed(e, conn)).await;
  assert_eq!(frames_of(got, None), vec![b"12345678".to_vec()]);
  assert!(got.contains(&Event::TooLarge { conn, size: 9, limit: 8 }));
  assert!(got.contains(&Event::Closed { conn, had_error: true }));
}

#[tokio::test]
async fn raw_mode_delivers_exact_bytes() {
  let options = EndpointOptions { raw: true, ..Default::default() };
  let mut p = unix_pair(options).await;
  let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
  p.client.write(p.client_conn, Bytes::from(bytes.clone()));
  let got = p.server_events.until(|e| raw_of(e).len() >= bytes.len()).await;
  assert_eq!(raw_of(got), bytes);
}

#[tokio::test]
async fn broadcast_reaches_every_connection() {
  let mut p = unix_pair(EndpointOptions::default()).await;
  p.server.write_all(Bytes::from_static(b"all\x0c"));
  let got = p.client_events.until(|e| !frames_of(e, None).is_empty()).await;
  assert_eq!(frames_of(got, None), vec![b"all".to_vec()]);
}

#[tokio::test]
async fn tcp_exchange_and_max_connections() {
  let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
  let port = probe.local_addr().unwrap().port();
  drop(probe);
  let server = Endpoint::new(EndpointOptions::default());
  server.set_max_connections(1);
  let (mut server_events, courier) = Collector::new(1 << 20);
  server.listen(ListenTarget::Tcp { host: "127.0.0.1".into(), port, tls: None }, courier);
  server_events.until(|e| e.iter().any(|e| matches!(e, Event::Listening { .. }))).await;

  let target = ConnectTarget::Tcp {
    host: "localhost".into(),
    port,
    options: TcpConnectOptions { family: Some(4), ..Default::default() },
  };
  let first = Endpoint::new(EndpointOptions::default());
  let (mut first_events, courier) = Collector::new(1 << 20);
  let first_conn = first.connect(target.clone(), courier);
  let got = first_events.until(|e| connected_id(e).is_some()).await;
  let Some(Event::Connected { peer, .. }) = got.first() else { panic!("{got:?}") };
  assert_eq!(peer.remote_port, Some(port));
  assert_eq!(peer.remote_family, Some("IPv4"));
  server_events.until(|e| connected_id(e).is_some()).await;

  // Over the limit: accepted by the OS, then closed at once without a server event.
  let second = Endpoint::new(EndpointOptions::default());
  let (mut second_events, courier) = Collector::new(1 << 20);
  let second_conn = second.connect(target, courier);
  second_events.until(|e| closed(e, second_conn)).await;
  assert_eq!(server.connection_count(), 1);

  first.write(first_conn, Bytes::from_static(b"tcp\x0c"));
  let got = server_events.until(|e| !frames_of(e, None).is_empty()).await;
  assert_eq!(frames_of(got, None), vec![b"tcp".to_vec()]);
  assert_eq!(got.iter().filter(|e| matches!(e, Event::Connected { .. })).count(), 1);
}

#[tokio::test]
async fn connect_failures_carry_node_style_details() {
  let client = Endpoint::new(EndpointOptions::default());
  let (mut events, courier) = Collector::new(1 << 20);
  let conn = client.connect(ConnectTarget::Unix { path: "/nonexistent/dir/x.sock".into() }, courier);
  let got = events.until(|e| closed(e, conn)).await;
  let Some(Event::Error { conn: Some(c), failure }) = got.first() else { panic!("{got:?}") };
  assert_eq!(*c, conn);
  assert_eq!((failure.errno, failure.syscall), (-libc::ENOENT, "connect"));
  assert_eq!(failure.address.as_deref(), Some("/nonexistent/dir/x.sock"));
  assert_eq!(got.last(), Some(&Event::Closed { conn, had_error: true }));
}

#[tokio::test]
async fn listen_errors_are_reported_and_stop_removes_the_socket_file() {
  let dir = tempfile::tempdir().unwrap();
  let file = dir.path().join("regular");
  std::fs::write(&file, b"keep me").unwrap();
  let server = Endpoint::new(EndpointOptions::default());
  let (mut events, courier) = Collector::new(1 << 20);
  server.listen(
    ListenTarget::Unix {
      path: file.to_string_lossy().into_owned(),
      readable_all: false,
      writable_all: false,
      mode: None,
    },
    courier.clone(),
  );
  let got = events.until(|e| e.contains(&Event::ServerClosed)).await;
  assert!(
    matches!(&got[0], Event::Error { conn: None, failure } if failure.errno == -libc::EADDRINUSE && failure.syscall == "listen")
  );
  assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

  let sock = dir.path().join("ok.sock");
  events.events.clear();
  server.listen(
    ListenTarget::Unix {
      path: sock.to_string_lossy().into_owned(),
      readable_all: true,
      writable_all: true,
      mode: None,
    },
    courier,
  );
  events.until(|e| e.iter().any(|e| matches!(e, Event::Listening { .. }))).await;
  use std::os::unix::fs::PermissionsExt;
  assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o777);
  server.stop_listening();
  events.until(|e| e.contains(&Event::ServerClosed)).await;
  assert!(!sock.exists());
}

fn free_port() -> u16 {
  let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
  probe.local_addr().unwrap().port()
}

fn dev_cert(name: &str) -> Vec<u8> {
  std::fs::read(format!("{}/local-node-ipc-certs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn tls_client(port: u16, options: crate::tls::TlsOptions) -> ConnectTarget {
  let tls = Some(Arc::new(crate::tls::ClientTls::new(&options, "localhost").unwrap()));
  ConnectTarget::Tcp {
    host: "localhost".into(),
    port,
    options: TcpConnectOptions { family: Some(4), tls, ..Default::default() },
  }
}

#[tokio::test]
async fn tls_mutual_authentication_and_failed_handshakes() {
  use crate::tls::{ServerTls, TlsOptions};
  let port = free_port();
  let server_options = TlsOptions {
    cert: Some(dev_cert("server.pub")),
    key: Some(dev_cert("private/server.key")),
    ca: vec![dev_cert("client.pub")],
    request_cert: true,
    reject_unauthorized: true,
    ..Default::default()
  };
  let server = Endpoint::new(EndpointOptions::default());
  let (mut server_events, courier) = Collector::new(1 << 20);
  let tls = Some(Arc::new(ServerTls::new(&server_options).unwrap()));
  server.listen(ListenTarget::Tcp { host: "127.0.0.1".into(), port, tls }, courier);
  server_events.until(|e| e.iter().any(|e| matches!(e, Event::Listening { .. }))).await;

  // A client that does not trust the server's self-signed certificate.
  let stranger = Endpoint::new(EndpointOptions::default());
  let (mut stranger_events, courier) = Collector::new(1 << 20);
  let conn = stranger
    .connect(tls_client(port, TlsOptions { reject_unauthorized: true, ..Default::default() }), courier);
  let got = stranger_events.until(|e| closed(e, conn)).await;
  assert!(
    matches!(&got[0], Event::Error { failure, .. } if failure.code.as_deref() == Some("DEPTH_ZERO_SELF_SIGNED_CERT")),
    "{got:?}"
  );
  assert!(!got.iter().any(|e| matches!(e, Event::Connected { .. })));
  server_events.until(|e| e.iter().any(|e| matches!(e, Event::Error { conn: None, .. }))).await;

  // The trusted client with its own certificate: verified both ways.
  let client = Endpoint::new(EndpointOptions::default());
  let (mut client_events, courier) = Collector::new(1 << 20);
  let client_options = TlsOptions {
    cert: Some(dev_cert("client.pub")),
    key: Some(dev_cert("private/client.key")),
    ca: vec![dev_cert("server.pub")],
    reject_unauthorized: true,
    ..Default::default()
  };
  let conn = client.connect(tls_client(port, client_options), courier);
  client.write(conn, Bytes::from_static(b"secret\x0c"));
  let got = client_events.until(|e| connected_id(e).is_some()).await;
  let Some(Event::Connected { peer, .. }) = got.iter().find(|e| matches!(e, Event::Connected { .. })) else {
    panic!("{got:?}")
  };
  assert_eq!(peer.tls.as_ref().map(|t| t.authorized), Some(true));
  let got = server_events.until(|e| !frames_of(e, None).is_empty()).await;
  assert_eq!(frames_of(got, None), vec![b"secret".to_vec()]);
  let Some(Event::Connected { peer, .. }) = got.iter().find(|e| matches!(e, Event::Connected { .. })) else {
    panic!("{got:?}")
  };
  let tls = peer.tls.as_ref().unwrap();
  assert!(tls.authorized, "{tls:?}");
  assert!(tls.certificate.is_some());
}

#[tokio::test]
async fn udp_datagrams_carry_whole_frames_and_send_errors_are_events() {
  use crate::udp::UdpTarget;
  let port = {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
  };
  let server = Endpoint::new(EndpointOptions::default());
  let (mut events, courier) = Collector::new(1 << 20);
  server.bind_udp(UdpTarget { host: "127.0.0.1".into(), port, ipv6: false }, courier);
  // Queued before the bind completes, as v9's start callback does.
  assert!(server.send_udp("no-such-host.invalid".into(), 9, Bytes::from_static(b"x")));
  events.until(|e| e.iter().any(|e| matches!(e, Event::Listening { .. }))).await;

  let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
  peer.send_to(b"one\x0ctwo\x0cthree-cut", ("127.0.0.1", port)).unwrap();
  let got = events
    .until(|e| {
      e.iter().any(|e| matches!(e, Event::Datagram { .. }))
        && e.iter().any(|e| matches!(e, Event::Error { .. }))
    })
    .await;
  let Some(Event::Datagram { raw: false, data, from, size }) =
    got.iter().find(|e| matches!(e, Event::Datagram { .. }))
  else {
    panic!("{got:?}")
  };
  assert_eq!(*size, 17);
  assert_eq!(from.port(), peer.local_addr().unwrap().port());
  let frames = frames_of(&[Event::Frames { conn: 0, data: data.clone() }], None);
  assert_eq!(frames, vec![b"one".to_vec(), b"two".to_vec()]);
  // ENOTFOUND from a resolver that answers; EAI_AGAIN where DNS is unreachable (as Node).
  assert!(got.iter().any(|e| matches!(e, Event::Error { failure, .. }
    if matches!(failure.code.as_deref(), Some("ENOTFOUND") | Some("EAI_AGAIN")))));

  server.close_udp();
  events.until(|e| e.contains(&Event::ServerClosed)).await;
  assert!(!server.send_udp("127.0.0.1".into(), port, Bytes::from_static(b"late")));
}

/// With `hand_off_plain_streams`, accepted and connected Unix and TCP streams reach the
/// consumer as sockets no task reads; a `Polled` connection then carries frames both ways,
/// including what was written before the connection existed.
#[tokio::test]
async fn plain_streams_are_handed_off_and_drive_as_polled_connections() {
  use crate::polled::Polled;
  fn handed_off(events: &mut Vec<Event>) -> Option<(ConnId, socket2::Socket)> {
    let at = events.iter().position(|e| matches!(e, Event::HandedOff { .. }))?;
    match events.remove(at) {
      Event::HandedOff { conn, socket, .. } => Some((conn, socket.0)),
      _ => unreachable!(),
    }
  }
  let options = EndpointOptions { hand_off_plain_streams: true, ..EndpointOptions::default() };
  let dir = tempfile::tempdir().unwrap();
  let port = free_port();
  let targets = [
    (
      ListenTarget::Unix {
        path: dir.path().join("h.sock").to_string_lossy().into_owned(),
        readable_all: false,
        writable_all: false,
        mode: None,
      },
      ConnectTarget::Unix { path: dir.path().join("h.sock").to_string_lossy().into_owned() },
    ),
    (
      ListenTarget::Tcp { host: "127.0.0.1".into(), port, tls: None },
      ConnectTarget::Tcp { host: "127.0.0.1".into(), port, options: TcpConnectOptions::default() },
    ),
  ];
  for (listen, connect) in targets {
    let server = Endpoint::new(options.clone());
    let (mut server_events, courier) = Collector::new(1 << 20);
    server.listen(listen, courier);
    server_events.until(|e| e.iter().any(|e| matches!(e, Event::Listening { .. }))).await;
    let client = Endpoint::new(options.clone());
    let (mut client_events, courier) = Collector::new(1 << 20);
    let client_conn = client.connect(connect, courier);
    assert_eq!(client.write(client_conn, Bytes::from_static(b"early\x0c")), Some(6), "queued");

    client_events.until(|e| e.iter().any(|e| matches!(e, Event::HandedOff { .. }))).await;
    server_events.until(|e| e.iter().any(|e| matches!(e, Event::HandedOff { .. }))).await;
    assert!(connected_id(&client_events.events).is_none(), "a handed-off connection is not announced twice");
    let (conn, socket) = handed_off(&mut client_events.events).unwrap();
    assert_eq!(conn, client_conn);
    let mut ours = Polled::new(socket, client.conn(conn).unwrap(), client.registry().clone());
    let (server_conn, socket) = handed_off(&mut server_events.events).unwrap();
    let mut theirs = Polled::new(socket, server.conn(server_conn).unwrap(), server.registry().clone());

    // The queued write goes out once the new owner finds the socket writable.
    let mut events = Vec::new();
    assert!(ours.interest().writable);
    ours.writable(&mut events);
    server.write(server_conn, Bytes::from_static(b"reply\x0c"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (mut at_server, mut at_client) = (Vec::new(), Vec::new());
    while (at_server.is_empty() || at_client.is_empty()) && std::time::Instant::now() < deadline {
      theirs.readable(&mut at_server);
      ours.readable(&mut at_client);
      tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(frames_of(&at_server, None), vec![b"early".to_vec()]);
    assert_eq!(frames_of(&at_client, None), vec![b"reply".to_vec()]);
    drop(ours);
    assert_eq!(client.connection_count(), 0, "the owner's drop forgets the connection");
    assert!(!closed(&client_events.events, client_conn), "the core reports no close of its own");
    server.stop_listening();
  }
}

#[test]
fn adopting_a_descriptor_by_number_accepts_only_a_connected_unix_stream() {
  use crate::transport::Stream;
  use std::os::fd::AsRawFd;
  let (ours, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
  assert!(matches!(Stream::from_unix_fd_number(ours.as_raw_fd()), Ok(Stream::Unix(_))));
  assert!(Stream::from_unix_fd_number(-1).is_err());
  assert!(Stream::from_unix_fd_number(i32::MAX).is_err(), "not an open descriptor");
  let file = tempfile::tempfile().unwrap();
  assert!(Stream::from_unix_fd_number(file.as_raw_fd()).is_err(), "a file");
  let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
  assert!(Stream::from_unix_fd_number(tcp.as_raw_fd()).is_err(), "a TCP socket");
  let listener =
    std::os::unix::net::UnixListener::bind(tempfile::tempdir().unwrap().path().join("l")).unwrap();
  assert!(Stream::from_unix_fd_number(listener.as_raw_fd()).is_err(), "a listening socket");
}

#[tokio::test]
async fn unix_connections_know_the_peer_process_on_both_sides() {
  let Pair { client_peer, server_peer, .. } = unix_pair(EndpointOptions::default()).await;
  // SAFETY: getuid and getgid cannot fail and touch no memory.
  let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
  let me = crate::mailbox::PeerCred {
    pid: Some(std::process::id() as i32),
    uid: Some(uid),
    gid: Some(gid),
    sid: None,
  };
  assert_eq!(server_peer.cred, Some(me.clone()), "the server's view of its client");
  assert_eq!(client_peer.cred, Some(me), "the client's view of its server");
  assert_eq!(server_peer.remote_address, None);
}

fn verify_id(events: &[Event]) -> Vec<ConnId> {
  events
    .iter()
    .filter_map(|e| match e {
      Event::Verify { conn, .. } => Some(*conn),
      _ => None,
    })
    .collect()
}

/// While verifying, an accepted connection is reported as `Verify` and read by nobody:
/// frames its client sends at once wait in the socket. Admitted, it starts under the same
/// id and those frames arrive in order; refused, it is closed unread and nothing of it
/// is ever reported. Held connections count toward maxConnections.
#[tokio::test]
async fn verified_connections_are_held_unread_until_admitted_or_refused() {
  use tokio::io::{AsyncReadExt, AsyncWriteExt};
  let (server, mut events, path, _dir) = unix_server(EndpointOptions::default(), true).await;

  let mut refused = tokio::net::UnixStream::connect(&path).await.unwrap();
  refused.write_all(b"one\x0ctwo\x0c").await.unwrap();
  let refused_id = verify_id(events.until(|e| verify_id(e).len() == 1).await)[0];
  let peer = events.events.iter().find_map(|e| match e {
    Event::Verify { peer, .. } => Some(peer.clone()),
    _ => None,
  });
  // SAFETY: getuid cannot fail and touches no memory.
  let uid = unsafe { libc::getuid() };
  assert_eq!(peer.unwrap().cred.unwrap().uid, Some(uid), "the peer's credentials come with it");

  server.set_max_connections(2);
  let mut admitted = tokio::net::UnixStream::connect(&path).await.unwrap();
  admitted.write_all(b"a\x0cb\x0c").await.unwrap();
  let admitted_id = verify_id(events.until(|e| verify_id(e).len() == 2).await)[1];
  assert!(server.at_capacity(), "two held connections fill maxConnections 2");
  assert_eq!(server.connection_count(), 0, "held connections are not in the registry");

  assert!(server.settle(refused_id, false));
  assert!(!server.settle(refused_id, true), "settled once");
  let mut rest = Vec::new();
  let read = tokio::time::timeout(std::time::Duration::from_secs(5), refused.read_to_end(&mut rest)).await;
  assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the refused client is closed: {read:?}");

  assert!(server.settle(admitted_id, true));
  let got = events.until(|e| frames_of(e, Some(admitted_id)).len() == 2).await;
  assert_eq!(frames_of(got, None), vec![b"a".to_vec(), b"b".to_vec()], "nothing of the refused one");
  assert_eq!(connected_id(got), Some(admitted_id), "it keeps the id it was held under");
  assert!(!got.iter().any(|e| matches!(e, Event::Closed { conn, .. } if *conn == refused_id)));
  admitted.write_all(b"c\x0c").await.unwrap();
  events.until(|e| frames_of(e, None).len() == 3).await;
  assert!(!server.at_capacity(), "one connection of 2");
}

/// A held connection goes with its endpoint: shutting down (a Worker that ends) closes it
/// unread, unannounced, and a late decision about it finds nothing.
#[tokio::test]
async fn shutting_down_closes_held_connections() {
  use tokio::io::AsyncReadExt;
  let (server, mut events, path, _dir) = unix_server(EndpointOptions::default(), true).await;
  let mut client = tokio::net::UnixStream::connect(&path).await.unwrap();
  let held = verify_id(events.until(|e| verify_id(e).len() == 1).await)[0];
  server.set_max_connections(1);
  assert!(server.at_capacity());
  server.shutdown();
  let mut rest = Vec::new();
  let read = tokio::time::timeout(std::time::Duration::from_secs(5), client.read_to_end(&mut rest)).await;
  assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the held client is closed: {read:?}");
  assert!(!server.at_capacity(), "it no longer counts");
  assert!(!server.settle(held, true), "nothing left to admit");
}
