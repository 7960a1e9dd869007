//! Binding a Unix socket whose file has a given mode from its first moment
//! (`ipc.config.socketMode`, README "Securing a server").
//!
//! `bind(2)` creates the file with the mode the umask leaves, and a `chmod` after it leaves
//! a window in which any local user may connect (and keep the connection: permissions are
//! checked at connect only). `fchmod` on the socket does not reach the file, and changing
//! the umask is process-wide, racing every other thread. So the socket is bound inside a
//! fresh directory only its owner can enter, given its mode there, and then linked under
//! its real name: the file appears at that name with its final mode already set. `link(2)`
//! never replaces an existing file (one there by then fails as a bind on a used address
//! would, `EADDRINUSE`); the private name and directory are removed either way.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A listening socket at `path` whose file has exactly `mode` (permission bits) when the
/// name appears. The private directory is made next to `path`, on the same file system,
/// so the link is possible; its name is short so that the path it gives the socket is
/// within `sun_path` wherever `path` is (else `ENAMETOOLONG`, as for the path itself).
pub fn bind_with_mode(path: &str, mode: u32) -> io::Result<std::os::unix::net::UnixListener> {
  let target = Path::new(path);
  let parent = match target.parent() {
    Some(dir) if !dir.as_os_str().is_empty() => dir,
    _ => Path::new("."),
  };
  let private = tempfile::Builder::new()
    .prefix(".nipc")
    .rand_bytes(6)
    .permissions(std::fs::Permissions::from_mode(0o700))
    .tempdir_in(parent)?;
  let staged = private.path().join("s");
  let listener = std::os::unix::net::UnixListener::bind(&staged)?;
  std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode & 0o777))?;
  let linked = std::fs::hard_link(&staged, target);
  // The staged name goes in every case; the directory with it when `private` drops.
  let _ = std::fs::remove_file(&staged);
  match linked {
    Ok(()) => Ok(listener),
    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
      Err(io::Error::from_raw_os_error(libc::EADDRINUSE))
    }
    Err(err) => Err(err),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::os::unix::fs::FileTypeExt;

  #[test]
  fn the_file_appears_with_the_mode_and_nothing_is_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    let listener = bind_with_mode(path.to_str().unwrap(), 0o600).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    // Only the socket is left in the folder: the private directory is gone.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("app.sock")]);
    // The linked name reaches the listening socket.
    let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
  }

  #[test]
  fn an_existing_file_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken");
    std::fs::write(&path, b"keep").unwrap();
    let err = bind_with_mode(path.to_str().unwrap(), 0o600).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
    assert_eq!(std::fs::read(&path).unwrap(), b"keep");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no private directory left");
  }

  #[test]
  fn a_missing_directory_fails_as_bind_does() {
    let err = bind_with_mode("/nonexistent-node-ipc-rs-dir/s.sock", 0o600).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
  }
}
