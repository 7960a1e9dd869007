//! I/O failures in the shape Node reports them (`errno`, `code`, `syscall`, `address`,
//! `port`). The core keeps them as data; the JS shim turns them into `Error` objects with
//! Node's exact message format, because only JS can name errno values the way libuv does.

use std::io;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoFailure {
  /// Negative, as in Node (`-111` for ECONNREFUSED on Linux); 0 when `code` says it all.
  pub errno: i32,
  /// Set when the code is not an errno name (`ENOTFOUND` from a DNS lookup, TLS codes).
  pub code: Option<String>,
  pub syscall: &'static str,
  /// A socket path, or a host for network endpoints.
  pub address: Option<String>,
  pub port: Option<u16>,
  /// Extra text for failures that have no errno of their own.
  pub detail: Option<String>,
  /// The whole message, for failures Node does not phrase as `syscall CODE address`.
  pub message: Option<String>,
  /// The local end a failed `connect` was bound to, when both `localAddress` and
  /// `localPort` were given: Node then adds ` - Local (address:port)` to the message.
  pub local: Option<(String, u16)>,
}

const ENAMETOOLONG: i32 = 36;
const EINVAL: i32 = 22;
const ENOENT: i32 = 2;
const EACCES: i32 = 13;

impl IoFailure {
  pub fn new(err: &io::Error, syscall: &'static str, address: Option<String>, port: Option<u16>) -> Self {
    let (errno, detail) = match err.raw_os_error() {
      Some(errno) => (-errno, None),
      // std refuses over-long Unix socket paths before any syscall; say it as the OS would.
      None if err.kind() == io::ErrorKind::InvalidInput && err.to_string().contains("path must be") => {
        (-ENAMETOOLONG, None)
      }
      None => (-EINVAL, Some(err.to_string())),
    };
    Self { errno, code: None, syscall, address, port, detail, message: None, local: None }
  }

  /// A failed Unix socket bind, as libuv reports it: a missing directory (ENOENT) is
  /// EACCES, "for compatibility with Windows" (`uv_pipe_bind2`), so Node says
  /// `listen EACCES: permission denied /no/such/dir/s.sock`.
  pub fn unix_bind(err: &io::Error, path: &str) -> Self {
    let mut failure = Self::new(err, "listen", Some(path.to_string()), None);
    if failure.errno == -ENOENT {
      failure.errno = -EACCES;
    }
    failure
  }

  /// A host name that did not resolve, as Node's `getaddrinfo ENOTFOUND host`.
  pub fn not_found(host: &str, port: u16) -> Self {
    Self {
      errno: -3008,
      code: Some("ENOTFOUND".into()),
      syscall: "getaddrinfo",
      address: Some(host.to_string()),
      port: Some(port),
      detail: None,
      message: None,
      local: None,
    }
  }

  /// A TLS handshake or verification failure, with Node's code and message.
  pub fn tls(failure: crate::tls::TlsFailure, address: Option<String>, port: Option<u16>) -> Self {
    Self {
      errno: 0,
      code: Some(failure.code),
      syscall: "",
      address,
      port,
      detail: None,
      message: Some(failure.message),
      local: None,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn keeps_the_os_errno_negative_like_node() {
    let err = io::Error::from_raw_os_error(111);
    let f = IoFailure::new(&err, "connect", Some("127.0.0.1".into()), Some(1));
    assert_eq!(f.errno, -111);
    assert_eq!(f.syscall, "connect");
    assert_eq!(f.detail, None);
  }

  #[test]
  fn over_long_unix_path_becomes_enametoolong() {
    let path = "/tmp/".to_string() + &"x".repeat(200);
    let err = std::os::unix::net::UnixListener::bind(&path).unwrap_err();
    let f = IoFailure::new(&err, "listen", Some(path), None);
    assert_eq!(f.errno, -ENAMETOOLONG);
    assert_eq!(f.detail, None, "the errno says it all, as in Node's messages");
  }

  #[test]
  fn unix_bind_in_a_missing_directory_is_eacces_like_libuv() {
    let err = std::os::unix::net::UnixListener::bind("/nonexistent/dir/x.sock").unwrap_err();
    let f = IoFailure::unix_bind(&err, "/nonexistent/dir/x.sock");
    assert_eq!((f.errno, f.syscall), (-EACCES, "listen"));
  }
}
