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
}

const ENAMETOOLONG: i32 = 36;
const EINVAL: i32 = 22;

impl IoFailure {
  pub fn new(err: &io::Error, syscall: &'static str, address: Option<String>, port: Option<u16>) -> Self {
    let (errno, detail) = match err.raw_os_error() {
      Some(errno) => (-errno, None),
      // std refuses over-long Unix socket paths before any syscall; say it as the OS would.
      None if err.kind() == io::ErrorKind::InvalidInput && err.to_string().contains("path must be") => {
        (-ENAMETOOLONG, Some(err.to_string()))
      }
      None => (-EINVAL, Some(err.to_string())),
    };
    Self { errno, code: None, syscall, address, port, detail, message: None }
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
  }
}
