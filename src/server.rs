//! Listening and accepting: the server half of an [`Endpoint`].

use std::sync::Arc;

use crate::connection::Cancel;
use crate::endpoint::Endpoint;
use crate::mailbox::{Courier, Event};
use crate::transport::{ListenTarget, Stream};

impl Endpoint {
  /// Binds and accepts in the background. Reports `Listening`, or `Error` then
  /// `ServerClosed` when the bind fails; `ServerClosed` again when `stop_listening` ends it.
  pub fn listen(self: &Arc<Self>, target: ListenTarget, courier: Courier) {
    let cancel = Arc::new(Cancel::default());
    if let Some(previous) = self.listener.lock().unwrap().replace(cancel.clone()) {
      previous.fire();
    }
    let endpoint = self.clone();
    tokio::spawn(async move {
      let listener = tokio::select! {
        _ = cancel.fired() => return courier.send(Event::ServerClosed),
        bound = target.bind() => bound,
      };
      let listener = match listener {
        Ok(listener) => listener,
        Err(failure) => {
          courier.send(Event::Error { conn: None, failure });
          return courier.send(Event::ServerClosed);
        }
      };
      courier.send(Event::Listening);
      loop {
        let accepted = tokio::select! {
          _ = cancel.fired() => break,
          accepted = listener.accept() => accepted,
        };
        match accepted {
          // Like Node with maxConnections: accept at the OS level, then close at once.
          Ok(_) if endpoint.at_capacity() => {}
          Ok((stream, peer)) => stream.start(endpoint.register(&courier), peer),
          // Accept errors such as EMFILE are transient: back off briefly and go on.
          Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
      }
      listener.remove_socket_file();
      drop(listener);
      courier.send(Event::ServerClosed);
    });
  }

  /// Stops accepting; existing connections stay open (v9 `server.stop()`, SPEC §6.5).
  pub fn stop_listening(&self) {
    if let Some(cancel) = self.listener.lock().unwrap().take() {
      cancel.fire();
    }
  }

  /// Takes over a connection that Node's cluster module accepted (SPEC D6).
  pub fn adopt(self: &Arc<Self>, stream: Stream, courier: &Courier) {
    stream.start(self.register(courier), Default::default());
  }
}
