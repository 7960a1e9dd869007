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
#[cfg(unix)]
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
      Some(code) => (node_errno(code), None),
      None => (errno::EINVAL, Some(err.to_string())),
    };
    Self { errno, detail, ..Self::blank(syscall, address, port) }
  }

  /// A failure on a Unix socket path. std refuses a path too long for `sun_path` with an
  /// error of its own (no errno); it is said as the OS would say it, ENAMETOOLONG.
  /// (Windows has named pipes instead: `new` for a connect, `pipe_bind` for a listen.)
  #[cfg(unix)]
  pub fn unix(err: &io::Error, syscall: &'static str, path: &str) -> Self {
    let mut failure = Self::new(err, syscall, Some(path.to_string()), None);
    if err.raw_os_error().is_none() && err.kind() == io::ErrorKind::InvalidInput && path.len() >= SUN_PATH_LEN
    {
      failure.errno = errno::ENAMETOOLONG;
      failure.detail = None;
    }
    failure
  }

  /// A failed Unix socket bind, as libuv reports it: a missing directory (ENOENT) is
  /// EACCES, "for compatibility with Windows" (`uv_pipe_bind2`), so Node says
  /// `listen EACCES: permission denied /no/such/dir/s.sock`.
  #[cfg(unix)]
  pub fn unix_bind(err: &io::Error, path: &str) -> Self {
    let mut failure = Self::unix(err, "listen", path);
    if failure.errno == errno::ENOENT {
      failure.errno = errno::EACCES;
    }
    failure
  }

  /// A failed named pipe bind (Windows' `listen` on a path), as libuv's `uv_pipe_bind2`
  /// (src/win/pipe.c) reports it: creating the first instance of a name another server
  /// holds fails with ERROR_ACCESS_DENIED, said as EADDRINUSE (as on Unix); a bad or
  /// missing path (ERROR_PATH_NOT_FOUND, ERROR_INVALID_NAME) is EACCES. Anything else is
  /// translated as usual (`node_errno`).
  #[cfg(windows)]
  pub fn pipe_bind(err: &io::Error, name: &str) -> Self {
    let mut failure = Self::new(err, "listen", Some(name.to_string()), None);
    match err.raw_os_error() {
      Some(win32::ERROR_ACCESS_DENIED) => failure.errno = errno::EADDRINUSE,
      Some(win32::ERROR_PATH_NOT_FOUND | win32::ERROR_INVALID_NAME) => failure.errno = errno::EACCES,
      _ => {}
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
    Self::lookup_failed(None, errno::EINVAL, host, port)
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

/// Node's `errno` numbers, as `util.getSystemErrorName` names them: the OS's `-E*` on
/// Unix; on Windows libuv's own numbers (`UV__E*` in libuv's include/uv/errno.h), which
/// are what Node reports there. For the failures the core makes itself, and for tests
/// that expect one on either platform.
// A table of facts shared by both platforms: each uses a different part of it.
#[allow(dead_code)]
pub(crate) mod errno {
  macro_rules! node_errnos {
    ($($name:ident = $windows:literal,)*) => {$(
      #[cfg(unix)]
      pub const $name: i32 = -libc::$name;
      #[cfg(windows)]
      pub const $name: i32 = $windows;
    )*};
  }

  node_errnos! {
    E2BIG = -4093,
    EACCES = -4092,
    EADDRINUSE = -4091,
    EADDRNOTAVAIL = -4090,
    EAFNOSUPPORT = -4089,
    EAGAIN = -4088,
    EALREADY = -4084,
    EBADF = -4083,
    EBUSY = -4082,
    ECANCELED = -4081,
    ECONNABORTED = -4079,
    ECONNREFUSED = -4078,
    ECONNRESET = -4077,
    EDESTADDRREQ = -4076,
    EEXIST = -4075,
    EFAULT = -4074,
    EHOSTUNREACH = -4073,
    EINTR = -4072,
    EINVAL = -4071,
    EIO = -4070,
    EISCONN = -4069,
    EISDIR = -4068,
    ELOOP = -4067,
    EMFILE = -4066,
    EMSGSIZE = -4065,
    ENAMETOOLONG = -4064,
    ENETDOWN = -4063,
    ENETUNREACH = -4062,
    ENFILE = -4061,
    ENOBUFS = -4060,
    ENODEV = -4059,
    ENOENT = -4058,
    ENOMEM = -4057,
    ENOSPC = -4055,
    ENOSYS = -4054,
    ENOTCONN = -4053,
    ENOTDIR = -4052,
    ENOTEMPTY = -4051,
    ENOTSOCK = -4050,
    ENOTSUP = -4049,
    EPERM = -4048,
    EPIPE = -4047,
    EPROTO = -4046,
    EPROTONOSUPPORT = -4045,
    EPROTOTYPE = -4044,
    EROFS = -4043,
    ESHUTDOWN = -4042,
    ESPIPE = -4041,
    ESRCH = -4040,
    ETIMEDOUT = -4039,
    EXDEV = -4037,
    ESOCKTNOSUPPORT = -4025,
  }

  // libuv's own, with no OS errno behind them: the same numbers on every platform.
  pub const ECHARSET: i32 = -4080;
  pub const UNKNOWN: i32 = -4094;
  pub const EOF: i32 = -4095;
}

/// An OS error code as Node reports it in `errno`: on Unix, the errno negated.
#[cfg(unix)]
pub(crate) fn node_errno(os_error: i32) -> i32 {
  -os_error
}

/// An OS error code as Node reports it in `errno`. On Windows, std's `raw_os_error` is a
/// Win32 (`GetLastError`) or Winsock (`WSAGetLastError`) code; Node reports what libuv's
/// `uv_translate_sys_error` (src/win/error.c) makes of it, `UV_UNKNOWN` for a code it
/// does not list. This is libuv 1.46's table, the one in Node 18 and 20. (libuv 1.49,
/// in later Node 22 and up, changed four: ERROR_NO_DATA is EAGAIN there (but EPIPE
/// still for a write), ERROR_NOACCESS EFAULT, ERROR_BUFFER_OVERFLOW ENAMETOOLONG,
/// ERROR_BAD_EXE_FORMAT EFTYPE; and a failed write's ERROR_BROKEN_PIPE is EPIPE.)
#[cfg(windows)]
pub(crate) fn node_errno(os_error: i32) -> i32 {
  use errno::*;
  use win32::*;
  // libuv: 0 is success and a negative number already one of its own.
  if os_error <= 0 {
    return os_error;
  }
  match os_error {
    ERROR_NOACCESS | WSAEACCES | ERROR_ELEVATION_REQUIRED | ERROR_CANT_ACCESS_FILE => EACCES,
    ERROR_ADDRESS_ALREADY_ASSOCIATED | WSAEADDRINUSE => EADDRINUSE,
    WSAEADDRNOTAVAIL => EADDRNOTAVAIL,
    WSAEAFNOSUPPORT => EAFNOSUPPORT,
    WSAEWOULDBLOCK => EAGAIN,
    WSAEALREADY => EALREADY,
    ERROR_INVALID_FLAGS | ERROR_INVALID_HANDLE => EBADF,
    ERROR_LOCK_VIOLATION | ERROR_PIPE_BUSY | ERROR_SHARING_VIOLATION => EBUSY,
    ERROR_OPERATION_ABORTED | WSAEINTR => ECANCELED,
    ERROR_NO_UNICODE_TRANSLATION => ECHARSET,
    ERROR_CONNECTION_ABORTED | WSAECONNABORTED => ECONNABORTED,
    ERROR_CONNECTION_REFUSED | WSAECONNREFUSED => ECONNREFUSED,
    ERROR_NETNAME_DELETED | WSAECONNRESET => ECONNRESET,
    ERROR_ALREADY_EXISTS | ERROR_FILE_EXISTS => EEXIST,
    ERROR_BUFFER_OVERFLOW | WSAEFAULT => EFAULT,
    ERROR_HOST_UNREACHABLE | WSAEHOSTUNREACH => EHOSTUNREACH,
    ERROR_INSUFFICIENT_BUFFER
    | ERROR_INVALID_DATA
    | ERROR_INVALID_PARAMETER
    | ERROR_SYMLINK_NOT_SUPPORTED
    | WSAEINVAL
    | WSAEPFNOSUPPORT => EINVAL,
    ERROR_BEGINNING_OF_MEDIA
    | ERROR_BUS_RESET
    | ERROR_CRC
    | ERROR_DEVICE_DOOR_OPEN
    | ERROR_DEVICE_REQUIRES_CLEANING
    | ERROR_DISK_CORRUPT
    | ERROR_EOM_OVERFLOW
    | ERROR_FILEMARK_DETECTED
    | ERROR_GEN_FAILURE
    | ERROR_INVALID_BLOCK_LENGTH
    | ERROR_IO_DEVICE
    | ERROR_NO_DATA_DETECTED
    | ERROR_NO_SIGNAL_SENT
    | ERROR_OPEN_FAILED
    | ERROR_SETMARK_DETECTED
    | ERROR_SIGNAL_REFUSED => EIO,
    WSAEISCONN => EISCONN,
    ERROR_CANT_RESOLVE_FILENAME => ELOOP,
    ERROR_TOO_MANY_OPEN_FILES | WSAEMFILE => EMFILE,
    WSAEMSGSIZE => EMSGSIZE,
    ERROR_FILENAME_EXCED_RANGE => ENAMETOOLONG,
    ERROR_NETWORK_UNREACHABLE | WSAENETUNREACH => ENETUNREACH,
    WSAENOBUFS => ENOBUFS,
    ERROR_BAD_PATHNAME
    | ERROR_DIRECTORY
    | ERROR_ENVVAR_NOT_FOUND
    | ERROR_FILE_NOT_FOUND
    | ERROR_INVALID_NAME
    | ERROR_INVALID_DRIVE
    | ERROR_INVALID_REPARSE_DATA
    | ERROR_MOD_NOT_FOUND
    | ERROR_PATH_NOT_FOUND
    | WSAHOST_NOT_FOUND
    | WSANO_DATA => ENOENT,
    // Also WSA_NOT_ENOUGH_MEMORY, the same number.
    ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY => ENOMEM,
    ERROR_CANNOT_MAKE
    | ERROR_DISK_FULL
    | ERROR_EA_TABLE_FULL
    | ERROR_END_OF_MEDIA
    | ERROR_HANDLE_DISK_FULL => ENOSPC,
    ERROR_NOT_CONNECTED | WSAENOTCONN => ENOTCONN,
    ERROR_DIR_NOT_EMPTY => ENOTEMPTY,
    WSAENOTSOCK => ENOTSOCK,
    ERROR_NOT_SUPPORTED => ENOTSUP,
    ERROR_BROKEN_PIPE => EOF,
    ERROR_ACCESS_DENIED | ERROR_PRIVILEGE_NOT_HELD => EPERM,
    ERROR_BAD_PIPE | ERROR_NO_DATA | ERROR_PIPE_NOT_CONNECTED | WSAESHUTDOWN => EPIPE,
    WSAEPROTONOSUPPORT => EPROTONOSUPPORT,
    ERROR_WRITE_PROTECT => EROFS,
    ERROR_SEM_TIMEOUT | WSAETIMEDOUT => ETIMEDOUT,
    ERROR_NOT_SAME_DEVICE => EXDEV,
    ERROR_INVALID_FUNCTION => EISDIR,
    ERROR_META_EXPANSION_TOO_LONG => E2BIG,
    WSAESOCKTNOSUPPORT => ESOCKTNOSUPPORT,
    _ => UNKNOWN,
  }
}

/// The Win32 (winerror.h) and Winsock (winsock2.h) error codes libuv translates, by their
/// SDK names; the libc crate has none of them.
#[cfg(windows)]
mod win32 {
  pub const ERROR_INVALID_FUNCTION: i32 = 1;
  pub const ERROR_FILE_NOT_FOUND: i32 = 2;
  pub const ERROR_PATH_NOT_FOUND: i32 = 3;
  pub const ERROR_TOO_MANY_OPEN_FILES: i32 = 4;
  pub const ERROR_ACCESS_DENIED: i32 = 5;
  pub const ERROR_INVALID_HANDLE: i32 = 6;
  pub const ERROR_NOT_ENOUGH_MEMORY: i32 = 8;
  pub const ERROR_INVALID_DATA: i32 = 13;
  pub const ERROR_OUTOFMEMORY: i32 = 14;
  pub const ERROR_INVALID_DRIVE: i32 = 15;
  pub const ERROR_NOT_SAME_DEVICE: i32 = 17;
  pub const ERROR_WRITE_PROTECT: i32 = 19;
  pub const ERROR_CRC: i32 = 23;
  pub const ERROR_GEN_FAILURE: i32 = 31;
  pub const ERROR_SHARING_VIOLATION: i32 = 32;
  pub const ERROR_LOCK_VIOLATION: i32 = 33;
  pub const ERROR_HANDLE_DISK_FULL: i32 = 39;
  pub const ERROR_NOT_SUPPORTED: i32 = 50;
  pub const ERROR_NETNAME_DELETED: i32 = 64;
  pub const ERROR_FILE_EXISTS: i32 = 80;
  pub const ERROR_CANNOT_MAKE: i32 = 82;
  pub const ERROR_INVALID_PARAMETER: i32 = 87;
  pub const ERROR_BROKEN_PIPE: i32 = 109;
  pub const ERROR_OPEN_FAILED: i32 = 110;
  pub const ERROR_BUFFER_OVERFLOW: i32 = 111;
  pub const ERROR_DISK_FULL: i32 = 112;
  pub const ERROR_SEM_TIMEOUT: i32 = 121;
  pub const ERROR_INSUFFICIENT_BUFFER: i32 = 122;
  pub const ERROR_INVALID_NAME: i32 = 123;
  pub const ERROR_MOD_NOT_FOUND: i32 = 126;
  pub const ERROR_DIR_NOT_EMPTY: i32 = 145;
  pub const ERROR_SIGNAL_REFUSED: i32 = 156;
  pub const ERROR_BAD_PATHNAME: i32 = 161;
  pub const ERROR_ALREADY_EXISTS: i32 = 183;
  pub const ERROR_ENVVAR_NOT_FOUND: i32 = 203;
  pub const ERROR_NO_SIGNAL_SENT: i32 = 205;
  pub const ERROR_FILENAME_EXCED_RANGE: i32 = 206;
  pub const ERROR_META_EXPANSION_TOO_LONG: i32 = 208;
  pub const ERROR_BAD_PIPE: i32 = 230;
  pub const ERROR_PIPE_BUSY: i32 = 231;
  pub const ERROR_NO_DATA: i32 = 232;
  pub const ERROR_PIPE_NOT_CONNECTED: i32 = 233;
  pub const ERROR_DIRECTORY: i32 = 267;
  pub const ERROR_EA_TABLE_FULL: i32 = 277;
  pub const ERROR_ELEVATION_REQUIRED: i32 = 740;
  pub const ERROR_OPERATION_ABORTED: i32 = 995;
  pub const ERROR_NOACCESS: i32 = 998;
  pub const ERROR_INVALID_FLAGS: i32 = 1004;
  pub const ERROR_END_OF_MEDIA: i32 = 1100;
  pub const ERROR_FILEMARK_DETECTED: i32 = 1101;
  pub const ERROR_BEGINNING_OF_MEDIA: i32 = 1102;
  pub const ERROR_SETMARK_DETECTED: i32 = 1103;
  pub const ERROR_NO_DATA_DETECTED: i32 = 1104;
  pub const ERROR_INVALID_BLOCK_LENGTH: i32 = 1106;
  pub const ERROR_BUS_RESET: i32 = 1111;
  pub const ERROR_NO_UNICODE_TRANSLATION: i32 = 1113;
  pub const ERROR_IO_DEVICE: i32 = 1117;
  pub const ERROR_EOM_OVERFLOW: i32 = 1129;
  pub const ERROR_DEVICE_REQUIRES_CLEANING: i32 = 1165;
  pub const ERROR_DEVICE_DOOR_OPEN: i32 = 1166;
  pub const ERROR_CONNECTION_REFUSED: i32 = 1225;
  pub const ERROR_ADDRESS_ALREADY_ASSOCIATED: i32 = 1227;
  pub const ERROR_NETWORK_UNREACHABLE: i32 = 1231;
  pub const ERROR_HOST_UNREACHABLE: i32 = 1232;
  pub const ERROR_CONNECTION_ABORTED: i32 = 1236;
  pub const ERROR_PRIVILEGE_NOT_HELD: i32 = 1314;
  pub const ERROR_DISK_CORRUPT: i32 = 1393;
  pub const ERROR_SYMLINK_NOT_SUPPORTED: i32 = 1464;
  pub const ERROR_CANT_ACCESS_FILE: i32 = 1920;
  pub const ERROR_CANT_RESOLVE_FILENAME: i32 = 1921;
  pub const ERROR_NOT_CONNECTED: i32 = 2250;
  pub const ERROR_INVALID_REPARSE_DATA: i32 = 4392;

  pub const WSA_NOT_ENOUGH_MEMORY: i32 = 8;
  pub const WSAEINTR: i32 = 10004;
  pub const WSAEACCES: i32 = 10013;
  pub const WSAEFAULT: i32 = 10014;
  pub const WSAEINVAL: i32 = 10022;
  pub const WSAEMFILE: i32 = 10024;
  pub const WSAEWOULDBLOCK: i32 = 10035;
  pub const WSAEALREADY: i32 = 10037;
  pub const WSAENOTSOCK: i32 = 10038;
  pub const WSAEMSGSIZE: i32 = 10040;
  pub const WSAEPROTONOSUPPORT: i32 = 10043;
  pub const WSAESOCKTNOSUPPORT: i32 = 10044;
  pub const WSAEPFNOSUPPORT: i32 = 10046;
  pub const WSAEAFNOSUPPORT: i32 = 10047;
  pub const WSAEADDRINUSE: i32 = 10048;
  pub const WSAEADDRNOTAVAIL: i32 = 10049;
  pub const WSAENETUNREACH: i32 = 10051;
  pub const WSAECONNABORTED: i32 = 10053;
  pub const WSAECONNRESET: i32 = 10054;
  pub const WSAENOBUFS: i32 = 10055;
  pub const WSAEISCONN: i32 = 10056;
  pub const WSAENOTCONN: i32 = 10057;
  pub const WSAESHUTDOWN: i32 = 10058;
  pub const WSAETIMEDOUT: i32 = 10060;
  pub const WSAECONNREFUSED: i32 = 10061;
  pub const WSAEHOSTUNREACH: i32 = 10065;
  pub const WSATYPE_NOT_FOUND: i32 = 10109;
  pub const WSAHOST_NOT_FOUND: i32 = 11001;
  pub const WSATRY_AGAIN: i32 = 11002;
  pub const WSANO_RECOVERY: i32 = 11003;
  pub const WSANO_DATA: i32 = 11004;
}

// libuv's numbers for getaddrinfo failures (uv/errno.h): the same on every platform,
// and what Node puts in `errno` (util.getSystemErrorName(-3001) is 'EAI_AGAIN').
// Windows' getaddrinfo has no counterpart of those marked cfg(unix).
#[cfg(unix)]
const UV_EAI_ADDRFAMILY: i32 = -3000;
const UV_EAI_AGAIN: i32 = -3001;
const UV_EAI_BADFLAGS: i32 = -3002;
#[cfg(unix)]
const UV_EAI_CANCELED: i32 = -3003;
const UV_EAI_FAIL: i32 = -3004;
const UV_EAI_FAMILY: i32 = -3005;
const UV_EAI_MEMORY: i32 = -3006;
#[cfg(unix)]
const UV_EAI_NODATA: i32 = -3007;
const UV_EAI_NONAME: i32 = -3008;
#[cfg(unix)]
const UV_EAI_OVERFLOW: i32 = -3009;
const UV_EAI_SERVICE: i32 = -3010;
const UV_EAI_SOCKTYPE: i32 = -3011;
#[cfg(unix)]
const UV_EAI_BADHINTS: i32 = -3013;
#[cfg(unix)]
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
#[cfg(all(unix, not(any(target_os = "linux", target_vendor = "apple"))))]
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
#[cfg(unix)]
pub fn getaddrinfo_error(gai: i32, os_errno: Option<i32>) -> (Option<&'static str>, i32) {
  if gai == libc::EAI_SYSTEM {
    return (None, os_errno.filter(|e| *e > 0).map_or(errno::EIO, node_errno));
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

/// A getaddrinfo return value as Node reports it on Windows: `(code, errno)`. Winsock's
/// getaddrinfo returns a WSA error code (dns-lookup's `error_num`), and has no
/// EAI_SYSTEM (`os_errno` is that same code again, unused). libuv's
/// `uv__getaddrinfo_translate_error` (src/win/getaddrinfo.c) turns the codes that stand
/// for EAI_* into its EAI numbers, named as on Unix (WSAHOST_NOT_FOUND, EAI_NONAME, is
/// 'ENOTFOUND'), and every other code, as an OS error (`node_errno`), which JS names:
/// WSANO_DATA, Windows' EAI_NODATA, is not among them, so Node says
/// `getaddrinfo ENOENT host` for it.
#[cfg(windows)]
pub fn getaddrinfo_error(gai: i32, _os_errno: Option<i32>) -> (Option<&'static str>, i32) {
  let (errno, code) = match gai {
    win32::WSATRY_AGAIN => (UV_EAI_AGAIN, "EAI_AGAIN"),
    win32::WSAEINVAL => (UV_EAI_BADFLAGS, "EAI_BADFLAGS"),
    win32::WSANO_RECOVERY => (UV_EAI_FAIL, "EAI_FAIL"),
    win32::WSAEAFNOSUPPORT => (UV_EAI_FAMILY, "EAI_FAMILY"),
    win32::WSA_NOT_ENOUGH_MEMORY => (UV_EAI_MEMORY, "EAI_MEMORY"),
    win32::WSAHOST_NOT_FOUND => (UV_EAI_NONAME, "ENOTFOUND"),
    win32::WSATYPE_NOT_FOUND => (UV_EAI_SERVICE, "EAI_SERVICE"),
    win32::WSAESOCKTNOSUPPORT => (UV_EAI_SOCKTYPE, "EAI_SOCKTYPE"),
    _ => return (None, node_errno(gai)),
  };
  (Some(code), errno)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[cfg(unix)]
  #[test]
  fn keeps_the_os_errno_negative_like_node() {
    let err = io::Error::from_raw_os_error(libc::ECONNREFUSED);
    let f = IoFailure::new(&err, "connect", Some("127.0.0.1".into()), Some(1));
    assert_eq!(f.errno, -libc::ECONNREFUSED);
    assert_eq!(f.syscall, "connect");
    assert_eq!(f.detail, None);
  }

  #[cfg(unix)]
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

  #[cfg(unix)]
  #[test]
  fn unix_bind_in_a_missing_directory_is_eacces_like_libuv() {
    let err = std::os::unix::net::UnixListener::bind("/nonexistent/dir/x.sock").unwrap_err();
    let f = IoFailure::unix_bind(&err, "/nonexistent/dir/x.sock");
    assert_eq!((f.errno, f.syscall), (-libc::EACCES, "listen"));
  }

  #[cfg(unix)]
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

  #[cfg(unix)]
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

  #[test]
  fn core_made_errnos_are_the_platforms() {
    #[cfg(unix)]
    assert_eq!(
      (errno::EINVAL, errno::ENAMETOOLONG, errno::EIO),
      (-libc::EINVAL, -libc::ENAMETOOLONG, -libc::EIO)
    );
    #[cfg(windows)]
    assert_eq!((errno::EINVAL, errno::ENAMETOOLONG, errno::EIO), (-4071, -4064, -4070));
    // An error with no OS code: EINVAL, with its text.
    let f = IoFailure::new(&io::Error::other("odd"), "write", None, None);
    assert_eq!((f.errno, f.detail.as_deref()), (errno::EINVAL, Some("odd")));
    assert_eq!(IoFailure::lookup_invalid("h", 1).errno, errno::EINVAL);
  }

  #[cfg(windows)]
  #[test]
  fn windows_codes_are_libuvs() {
    // uv_translate_sys_error (libuv's src/win/error.c), numbers from uv/errno.h.
    let cases = [
      (2, -4058),     // ERROR_FILE_NOT_FOUND: ENOENT
      (3, -4058),     // ERROR_PATH_NOT_FOUND: ENOENT
      (5, -4048),     // ERROR_ACCESS_DENIED: EPERM
      (87, -4071),    // ERROR_INVALID_PARAMETER: EINVAL
      (109, -4095),   // ERROR_BROKEN_PIPE: EOF
      (121, -4039),   // ERROR_SEM_TIMEOUT: ETIMEDOUT
      (206, -4064),   // ERROR_FILENAME_EXCED_RANGE: ENAMETOOLONG
      (231, -4082),   // ERROR_PIPE_BUSY: EBUSY
      (232, -4047),   // ERROR_NO_DATA: EPIPE
      (233, -4047),   // ERROR_PIPE_NOT_CONNECTED: EPIPE
      (10013, -4092), // WSAEACCES: EACCES
      (10035, -4088), // WSAEWOULDBLOCK: EAGAIN
      (10048, -4091), // WSAEADDRINUSE
      (10049, -4090), // WSAEADDRNOTAVAIL
      (10054, -4077), // WSAECONNRESET
      (10058, -4047), // WSAESHUTDOWN: EPIPE
      (10060, -4039), // WSAETIMEDOUT
      (10061, -4078), // WSAECONNREFUSED
      (11001, -4058), // WSAHOST_NOT_FOUND: ENOENT
      (12345, -4094), // not in the table: UNKNOWN
      (0, 0),
    ];
    for (code, errno) in cases {
      assert_eq!(node_errno(code), errno, "code {code}");
    }
    let err = io::Error::from_raw_os_error(10061);
    let f = IoFailure::new(&err, "connect", Some("127.0.0.1".into()), Some(1));
    assert_eq!((f.errno, f.detail), (errno::ECONNREFUSED, None));
  }

  #[cfg(windows)]
  #[test]
  fn pipe_bind_is_uv_pipe_binds() {
    let name = r"\\.\pipe\x";
    let bind = |code| IoFailure::pipe_bind(&io::Error::from_raw_os_error(code), name);
    // ERROR_ACCESS_DENIED: another server has the name.
    let f = bind(5);
    assert_eq!((f.errno, f.syscall, f.address.as_deref()), (-4091, "listen", Some(name)));
    assert_eq!(bind(3).errno, -4092, "ERROR_PATH_NOT_FOUND: EACCES");
    assert_eq!(bind(123).errno, -4092, "ERROR_INVALID_NAME: EACCES");
    assert_eq!(bind(231).errno, -4082, "others translated as usual");
  }

  #[cfg(windows)]
  #[test]
  fn windows_getaddrinfo_codes_are_nodes() {
    // uv__getaddrinfo_translate_error (src/win/getaddrinfo.c), then dnsException.
    let cases = [
      (11002, Some("EAI_AGAIN"), -3001),    // WSATRY_AGAIN
      (10022, Some("EAI_BADFLAGS"), -3002), // WSAEINVAL
      (11003, Some("EAI_FAIL"), -3004),     // WSANO_RECOVERY
      (10047, Some("EAI_FAMILY"), -3005),   // WSAEAFNOSUPPORT
      (8, Some("EAI_MEMORY"), -3006),       // WSA_NOT_ENOUGH_MEMORY
      (11001, Some("ENOTFOUND"), -3008),    // WSAHOST_NOT_FOUND
      (10109, Some("EAI_SERVICE"), -3010),  // WSATYPE_NOT_FOUND
      (10044, Some("EAI_SOCKTYPE"), -3011), // WSAESOCKTNOSUPPORT
      (11004, None, -4058),                 // WSANO_DATA: ENOENT, named by JS
      (12345, None, -4094),                 // UNKNOWN
    ];
    for (gai, code, errno) in cases {
      assert_eq!(getaddrinfo_error(gai, Some(gai)), (code, errno), "WSA {gai}");
    }
    assert_eq!(IoFailure::not_found("x.invalid", 1), IoFailure::getaddrinfo(11001, None, "x.invalid", 1));
  }
}
