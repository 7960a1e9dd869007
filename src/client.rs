//! Connecting: the client half of an [`Endpoint`].

use std::sync::Arc;

use crate::endpoint::Endpoint;
use crate::mailbox::{ConnId, Courier};
use crate::transport::ConnectTarget;

impl Endpoint {
  /// Creates the connection at once, so writes queue before it is established, and
  /// connects in the background: `Connected`, or `Error` then `Closed`.
  pub fn connect(self: &Arc<Self>, target: ConnectTarget, courier: Courier) -> ConnId {
    let live = self.register(&courier);
    let id = live.shared.id;
    tokio::spawn(async move {
      let connected = tokio::select! {
        _ = live.shared.cancel.fired() => return,
        connected = target.connect() => connected,
      };
      match connected {
        Ok((stream, peer)) => stream.start(live, peer),
        Err(failure) => live.report_error(failure),
      }
    });
    id
  }
}
