//! I/O failures in the shape Node reports them (`errno`, `code`, `syscall`, `address`,
//! `port`). The core keeps them as data; the JS shim turns them into `Error` objects with
//! Node's exact message format, because only JS can name errno values the way libuv does.

use std::io;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoFailure {
  /// Negative, as in Node (`-ECONNREFUSED`, the platform's number); a libuv `UV_EAI_*`
  /// number for a failed lookup; 0 when `code` says it all.
  pub errno: i32,
  /// Set when the code is not an errno name (`ENOTFOUND` and `EAI_*` from a lookup, TLS
  /// codes).
  pub code: Option<String>,
  pub syscall: &'static str,
  /// A socket path, or a host for network endpoints.
  pub address: Option<String>,
  pub port: Option<u16>,
  /// Extra text for failures that have no errno of their own.
  pub detail: Option<String>,
  /// The whole message, for failures Node does not phrase as `syscall CODE address`.
  pub message: Option<String>,
  /// The local end a failed `connect` was bound to when a `localPort` was given (with
  /// `localAddress`, or the wildcard): Node then adds ` - Local (address:port)`.
  pub local: Option<(String, u16)>,
  /// Each address's failure, in the order tried, when a name resolved to several and
  /// all failed: Node 20's connect (autoSelectFamily) reports an `AggregateError` of
  /// them. Empty otherwise.
  pub errors: Vec<IoFailure>,
}

/// Bytes in `sockaddr_un.sun_path` (108 on Linux, 104 on macOS): std refuses a socket
/// path this long or longer before any syscall.
const SUN_PATH_LEN: usize =
  std::mem::size_of::<libc::sockaddr_un>() - std::mem::offset_of!(libc::sockaddr_un, sun_path);

impl IoFailure {
  fn blank(syscall: &'static str, address: Option<String>, port: Option<u16>) -> Self {
    Self {
      errno: 0,
      code: None,
      syscall,
      address,
      port,
      detail: None,
      message: None,
      local: None,
      errors: Vec::new(),
    }
  }

  pub fn new(err: &io::Error, syscall: &'static str, address: Option<String>, port: Option<u16>) -> Self {
    let (errno, detail) = match err.raw_os_error() {
      Some(errno) => (-errno, None),
      None => (-libc::EINVAL, Some(err.to_string())),
    };
    Self { errno, detail, ..Self::blank(syscall, address, port) }
  }

  /// A failure on a Unix socket path. std refuses a path too long for `sun_path` with an
  /// error of its own (no errno); it is said as the OS would say it, ENAMETOOLONG.
  pub fn unix(err: &io::Error, syscall: &'static str, path: &str) -> Self {
    let mut failure = Self::new(err, syscall, Some(path.to_string()), None);
    if err.raw_os_error().is_none() && err.kind() == io::ErrorKind::InvalidInput && path.len() >= SUN_PATH_LEN
    {
      failure.errno = -libc::ENAMETOOLONG;
      failure.detail = None;
    }
    failure
  }

  /// A failed Unix socket bind, as libuv reports it: a missing directory (ENOENT) is
  /// EACCES, "for compatibility with Windows" (`uv_pipe_bind2`), so Node says
  /// `listen EACCES: permission denied /no/such/dir/s.sock`.
  pub fn unix_bind(err: &io::Error, path: &str) -> Self {
    let mut failure = Self::unix(err, "listen", path);
    if failure.errno == -libc::ENOENT {
      failure.errno = -libc::EACCES;
    }
    failure
  }

  /// A host name that did not resolve, as Node's `getaddrinfo ENOTFOUND host`.
  pub fn not_found(host: &str, port: u16) -> Self {
    Self::lookup_failed(Some("ENOTFOUND"), UV_EAI_NONAME, host, port)
  }

  /// A failed getaddrinfo, from its return value (`EAI_*`) and, for `EAI_SYSTEM`, the
  /// errno it left: Node's `getaddrinfo CODE host` (`dnsException`).
  pub fn getaddrinfo(gai: i32, os_errno: Option<i32>, host: &str, port: u16) -> Self {
    let (code, errno) = getaddrinfo_error(gai, os_errno);
    Self::lookup_failed(code, errno, host, port)
  }

  /// A host name Node refuses before asking getaddrinfo (libuv's IDNA step, which has
  /// room for 255 bytes): `getaddrinfo EINVAL host`.
  pub fn lookup_invalid(host: &str, port: u16) -> Self {
    Self::lookup_failed(None, -libc::EINVAL, host, port)
  }

  /// `code`: `None` for an errno, which JS names as Node does (util.getSystemErrorName).
  fn lookup_failed(code: Option<&str>, errno: i32, host: &str, port: u16) -> Self {
    Self {
      errno,
      code: code.map(str::to_string),
      ..Self::blank("getaddrinfo", Some(host.to_string()), Some(port))
    }
  }

  /// Every address of a name failed: Node 20's `AggregateError` (code: the first
  /// error's, `errors`: all of them).
  pub fn aggregate(errors: Vec<IoFailure>) -> Self {
    Self { errors, ..Self::blank("", None, None) }
  }

  /// A TLS handshake or verification failure, with Node's code and message.
  pub fn tls(failure: crate::tls::TlsFailure, address: Option<String>, port: Option<u16>) -> Self {
    Self { code: Some(failure.code), message: Some(failure.message), ..Self::blank("", address, port) }
  }
}

// libuv's numbers for getaddrinfo failures (uv/errno.h): the same on every platform,
// and what Node puts in `errno` (util.getSystemErrorName(-3001) is 'EAI_AGAIN').
const UV_EAI_ADDRFAMILY: i32 = -3000;
const UV_EAI_AGAIN: i32 = -3001;
const UV_EAI_BADFLAGS: i32 = -3002;
const UV_EAI_CANCELED: i32 = -3003;
const UV_EAI_FAIL: i32 = -3004;
const UV_EAI_FAMILY: i32 = -3005;
const UV_EAI_MEMORY: i32 = -3006;
const UV_EAI_NODATA: i32 = -3007;
const UV_EAI_NONAME: i32 = -3008;
const UV_EAI_OVERFLOW: i32 = -3009;
const UV_EAI_SERVICE: i32 = -3010;
const UV_EAI_SOCKTYPE: i32 = -3011;
const UV_EAI_BADHINTS: i32 = -3013;
const UV_EAI_PROTOCOL: i32 = -3014;

/// The EAI_* values the libc crate leaves out, which libuv maps all the same
/// (glibc's under _GNU_SOURCE; Apple's are in its netdb.h).
#[cfg(target_os = "linux")]
mod eai_extra {
  pub const ADDRFAMILY: Option<i32> = Some(-9);
  pub const CANCELED: Option<i32> = Some(-101);
  pub const BADHINTS: Option<i32> = None;
  pub const PROTOCOL: Option<i32> = None;
}
#[cfg(target_vendor = "apple")]
mod eai_extra {
  pub const ADDRFAMILY: Option<i32> = Some(1);
  pub const CANCELED: Option<i32> = None;
  pub const BADHINTS: Option<i32> = Some(12);
  pub const PROTOCOL: Option<i32> = Some(13);
}
#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
mod eai_extra {
  pub const ADDRFAMILY: Option<i32> = None;
  pub const CANCELED: Option<i32> = None;
  pub const BADHINTS: Option<i32> = None;
  pub const PROTOCOL: Option<i32> = None;
}

/// A getaddrinfo return value as Node reports it: `(code, errno)`. libuv turns the
/// platform's EAI_* into its own number (`uv__getaddrinfo_translate_error`), and Node's
/// `dnsException` names it: EAI_NONAME and EAI_NODATA are 'ENOTFOUND', the others keep
/// libuv's name ('EAI_AGAIN', ...). EAI_SYSTEM is the errno getaddrinfo left, named as
/// errnos are (so `None` here: JS names it).
pub fn getaddrinfo_error(gai: i32, os_errno: Option<i32>) -> (Option<&'static str>, i32) {
  if gai == libc::EAI_SYSTEM {
    return (None, -os_errno.filter(|e| *e > 0).unwrap_or(libc::EIO));
  }
  let table: [(Option<i32>, i32, &'static str); 14] = [
    (eai_extra::ADDRFAMILY, UV_EAI_ADDRFAMILY, "EAI_ADDRFAMILY"),
    (Some(libc::EAI_AGAIN), UV_EAI_AGAIN, "EAI_AGAIN"),
    (Some(libc::EAI_BADFLAGS), UV_EAI_BADFLAGS, "EAI_BADFLAGS"),
    (eai_extra::BADHINTS, UV_EAI_BADHINTS, "EAI_BADHINTS"),
    (eai_extra::CANCELED, UV_EAI_CANCELED, "EAI_CANCELED"),
    (Some(libc::EAI_FAIL), UV_EAI_FAIL, "EAI_FAIL"),
    (Some(libc::EAI_FAMILY), UV_EAI_FAMILY, "EAI_FAMILY"),
    (Some(libc::EAI_MEMORY), UV_EAI_MEMORY, "EAI_MEMORY"),
    (Some(libc::EAI_NODATA), UV_EAI_NODATA, "ENOTFOUND"),
    (Some(libc::EAI_NONAME), UV_EAI_NONAME, "ENOTFOUND"),
    (Some(libc::EAI_OVERFLOW), UV_EAI_OVERFLOW, "EAI_OVERFLOW"),
    (eai_extra::PROTOCOL, UV_EAI_PROTOCOL, "EAI_PROTOCOL"),
    (Some(libc::EAI_SERVICE), UV_EAI_SERVICE, "EAI_SERVICE"),
    (Some(libc::EAI_SOCKTYPE), UV_EAI_SOCKTYPE, "EAI_SOCKTYPE"),
  ];
  table
    .iter()
    .find(|(eai, _, _)| *eai == Some(gai))
    .map(|&(_, errno, code)| (Some(code), errno))
    // libuv aborts on a code it does not know; a name that did not resolve is the
    // nearest thing to say.
    .unwrap_or((Some("ENOTFOUND"), UV_EAI_NONAME))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn keeps_the_os_errno_negative_like_node() {
    let err = io::Error::from_raw_os_error(libc::ECONNREFUSED);
    let f = IoFailure::new(&err, "connect", Some("127.0.0.1".into()), Some(1));
    assert_eq!(f.errno, -libc::ECONNREFUSED);
    assert_eq!(f.syscall, "connect");
    assert_eq!(f.detail, None);
  }

  #[test]
  fn over_long_unix_path_becomes_enametoolong() {
    assert_eq!(SUN_PATH_LEN, if cfg!(target_os = "linux") { 108 } else { 104 });
    let path = "/tmp/".to_string() + &"x".repeat(200);
    let err = std::os::unix::net::UnixListener::bind(&path).unwrap_err();
    let f = IoFailure::unix(&err, "listen", &path);
    assert_eq!(f.errno, -libc::ENAMETOOLONG);
    assert_eq!(f.detail, None, "the errno says it all, as in Node's messages");
    // A path that fits is left to the OS.
    let err = std::os::unix::net::UnixStream::connect("/nonexistent/dir/x.sock").unwrap_err();
    assert_eq!(IoFailure::unix(&err, "connect", "/nonexistent/dir/x.sock").errno, -libc::ENOENT);
  }

  #[test]
  fn unix_bind_in_a_missing_directory_is_eacces_like_libuv() {
    let err = std::os::unix::net::UnixListener::bind("/nonexistent/dir/x.sock").unwrap_err();
    let f = IoFailure::unix_bind(&err, "/nonexistent/dir/x.sock");
    assert_eq!((f.errno, f.syscall), (-libc::EACCES, "listen"));
  }

  #[test]
  fn getaddrinfo_codes_are_nodes() {
    // Node's names and numbers: util.getSystemErrorName(n) for n in -3000..-3014, with
    // EAI_NONAME and EAI_NODATA said as ENOTFOUND (dnsException), their errno kept.
    let cases = [
      (libc::EAI_AGAIN, Some("EAI_AGAIN"), -3001),
      (libc::EAI_BADFLAGS, Some("EAI_BADFLAGS"), -3002),
      (libc::EAI_FAIL, Some("EAI_FAIL"), -3004),
      (libc::EAI_FAMILY, Some("EAI_FAMILY"), -3005),
      (libc::EAI_MEMORY, Some("EAI_MEMORY"), -3006),
      (libc::EAI_NODATA, Some("ENOTFOUND"), -3007),
      (libc::EAI_NONAME, Some("ENOTFOUND"), -3008),
      (libc::EAI_OVERFLOW, Some("EAI_OVERFLOW"), -3009),
      (libc::EAI_SERVICE, Some("EAI_SERVICE"), -3010),
      (libc::EAI_SOCKTYPE, Some("EAI_SOCKTYPE"), -3011),
    ];
    for (gai, code, errno) in cases {
      assert_eq!(getaddrinfo_error(gai, None), (code, errno), "EAI {gai}");
    }
    if let Some(gai) = eai_extra::ADDRFAMILY {
      assert_eq!(getaddrinfo_error(gai, None), (Some("EAI_ADDRFAMILY"), -3000));
    }
    if let Some(gai) = eai_extra::CANCELED {
      assert_eq!(getaddrinfo_error(gai, None), (Some("EAI_CANCELED"), -3003));
    }
    if let Some(gai) = eai_extra::BADHINTS {
      assert_eq!(getaddrinfo_error(gai, None), (Some("EAI_BADHINTS"), -3013));
    }
    if let Some(gai) = eai_extra::PROTOCOL {
      assert_eq!(getaddrinfo_error(gai, None), (Some("EAI_PROTOCOL"), -3014));
    }
    // EAI_SYSTEM: the errno itself, named by JS.
    assert_eq!(getaddrinfo_error(libc::EAI_SYSTEM, Some(libc::EMFILE)), (None, -libc::EMFILE));
  }

  #[test]
  fn getaddrinfo_failure_record() {
    let f = IoFailure::getaddrinfo(libc::EAI_AGAIN, None, "example.test", 80);
    assert_eq!(
      (f.errno, f.code.as_deref(), f.syscall, f.address.as_deref()),
      (-3001, Some("EAI_AGAIN"), "getaddrinfo", Some("example.test"))
    );
    assert_eq!(
      IoFailure::not_found("x.invalid", 1),
      IoFailure::getaddrinfo(libc::EAI_NONAME, None, "x.invalid", 1)
    );
    let f = IoFailure::lookup_invalid("h", 1);
    assert_eq!((f.errno, f.code, f.syscall), (-libc::EINVAL, None, "getaddrinfo"));
  }
}
