//! Host names to addresses as Node's dns.lookup gives them (getaddrinfo, Node's hints and
//! order), with its errors. Shared by TCP connects and listens and by UDP.

use std::net::SocketAddr;

use crate::errors::IoFailure;

/// The values of the getaddrinfo hints Node gives, libc's on Unix.
#[cfg(unix)]
mod hint {
  pub use libc::{AF_INET, AF_INET6, AF_UNSPEC, AI_ADDRCONFIG, SOCK_STREAM};
}

/// The getaddrinfo hints Node gives, Winsock's values (ws2def.h, winsock2.h): the libc
/// crate has none of them for Windows, and AF_INET6 and AI_ADDRCONFIG differ from Unix.
#[cfg(windows)]
mod hint {
  pub const AF_UNSPEC: i32 = 0;
  pub const AF_INET: i32 = 2;
  pub const AF_INET6: i32 = 23;
  pub const SOCK_STREAM: i32 = 1;
  pub const AI_ADDRCONFIG: i32 = 0x400;
}

/// Node's dns.lookup: an IP literal as it is; a name through getaddrinfo on a blocking
/// thread, with the hints Node gives it (SOCK_STREAM, the family, AI_ADDRCONFIG when
/// asked), its addresses in the order it gives them (`verbatim`, Node 20's default). A
/// failure is Node's: `getaddrinfo ENOTFOUND host`, `getaddrinfo EAI_AGAIN host`, ...
pub async fn lookup(
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
    flags: if addrconfig { hint::AI_ADDRCONFIG } else { 0 },
    address: match family {
      Some(4) => hint::AF_INET,
      Some(6) => hint::AF_INET6,
      _ => hint::AF_UNSPEC,
    },
    socktype: hint::SOCK_STREAM,
    protocol: 0,
  };
  let name = host.to_string();
  let found =
    tokio::task::spawn_blocking(move || match dns_lookup::getaddrinfo(Some(&name), None, Some(hints)) {
      Ok(found) => Ok(found.filter_map(Result::ok).map(|info| info.sockaddr).collect::<Vec<_>>()),
      // The EAI_* value, and for EAI_SYSTEM the errno, read right after the call. (On
      // Windows both are the WSA code getaddrinfo returned: see getaddrinfo_error.)
      Err(err) => Err((err.error_num(), std::io::Error::from(err).raw_os_error())),
    })
    .await;
  let addrs = match found {
    Ok(Ok(addrs)) => addrs,
    // 0: not getaddrinfo's own failure (a NUL in the name, say).
    Ok(Err((gai, os_errno))) if gai != 0 => return Err(IoFailure::getaddrinfo(gai, os_errno, host, port)),
    _ => return Err(IoFailure::not_found(host, port)),
  };
  // getaddrinfo was given no service: put the port in.
  let addrs: Vec<SocketAddr> = addrs.into_iter().map(|a| SocketAddr::new(a.ip(), port)).collect();
  if addrs.is_empty() {
    return Err(IoFailure::not_found(host, port));
  }
  Ok(addrs)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
  }

  #[tokio::test]
  async fn lookups_fail_as_node_says() {
    // Past libuv's 255-byte buffer: refused before any query.
    let long =
      "x".repeat(63) + "." + &"x".repeat(63) + "." + &"x".repeat(63) + "." + &"x".repeat(63) + ".invalid";
    let failure = lookup(&long, 1, None, true).await.unwrap_err();
    assert_eq!(
      (failure.errno, failure.code, failure.syscall),
      (crate::errors::errno::EINVAL, None, "getaddrinfo")
    );
    // IP literals skip the lookup, whatever the family.
    assert_eq!(lookup("::1", 5, Some(4), false).await.unwrap(), vec![addr("[::1]:5")]);
    assert_eq!(lookup("localhost", 7, Some(4), false).await.unwrap()[0], addr("127.0.0.1:7"));
  }
}
