//! Connecting: a client connection in a registry.

use std::sync::Arc;

use crate::connection::{self, Live};
use crate::mailbox::{ConnId, Courier};
use crate::registry::Registry;
use crate::transport::ConnectTarget;

/// Creates the connection at once, so writes queue before it is established, and connects
/// in the background: `Connected` (or `HandedOff`), or `Error` then `Closed`.
pub fn connect(registry: &Arc<Registry>, target: ConnectTarget, courier: Courier) -> ConnId {
  let live = Live::register(registry, &courier);
  let id = live.shared.id;
  tokio::spawn(async move {
    let connected = tokio::select! {
      _ = live.shared.cancel.fired() => return,
      connected = target.connect() => connected,
    };
    match connected {
      Ok((stream, peer)) => connection::start(stream, live, peer),
      Err(failure) => live.report_error(failure),
    }
  });
  id
}
