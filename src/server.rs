//! Listening and accepting: the server half of an [`Endpoint`].

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use crate::cancel::Cancel;
use crate::endpoint::Endpoint;
use crate::mailbox::{Courier, Event};
use crate::transport::{ListenTarget, Listener, PeerInfo, Stream};

enum SlotState {
  Binding,
  Bound(Listener),
  Closed,
}

/// The listening socket, reachable from `stop_listening` so that closing it is
/// synchronous: once `server.stop()` returns, new connections are refused and a Unix
/// socket file is gone, as with Node's `server.close()`.
pub(crate) struct ListenerSlot {
  state: Mutex<SlotState>,
  cancel: Cancel,
}

impl ListenerSlot {
  /// Closes the listener now (or as soon as its bind completes).
  fn close(&self) {
    let previous = std::mem::replace(&mut *self.state.lock().unwrap(), SlotState::Closed);
    if let SlotState::Bound(listener) = previous {
      listener.remove_socket_file();
    }
    self.cancel.fire();
  }

  /// Stores the bound listener, unless the slot was closed while binding.
  fn install(&self, listener: Listener) -> bool {
    let mut state = self.state.lock().unwrap();
    if matches!(*state, SlotState::Closed) {
      listener.remove_socket_file();
      return false;
    }
    *state = SlotState::Bound(listener);
    true
  }

  fn tls(&self) -> Option<Arc<crate::tls::ServerTls>> {
    match &*self.state.lock().unwrap() {
      SlotState::Bound(listener) => listener.tls(),
      _ => None,
    }
  }

  async fn accept(&self) -> Option<std::io::Result<(Stream, PeerInfo)>> {
    poll_fn(|cx| match &*self.state.lock().unwrap() {
      SlotState::Bound(listener) => listener.poll_accept(cx).map(Some),
      _ => Poll::Ready(None),
    })
    .await
  }
}

impl Endpoint {
  /// Binds and accepts in the background. Reports `Listening`, or `Error` then
  /// `ServerClosed` when the bind fails; `ServerClosed` again when `stop_listening` ends it.
  pub fn listen(self: &Arc<Self>, target: ListenTarget, courier: Courier) {
    let slot = Arc::new(ListenerSlot { state: Mutex::new(SlotState::Binding), cancel: Cancel::default() });
    if let Some(previous) = self.listener.lock().unwrap().replace(slot.clone()) {
      previous.close();
    }
    let endpoint = self.clone();
    tokio::spawn(async move {
      let bound = tokio::select! {
        _ = slot.cancel.fired() => return courier.send(Event::ServerClosed),
        bound = target.bind() => bound,
      };
      match bound {
        Ok(listener) => {
          if !slot.install(listener) {
            return courier.send(Event::ServerClosed);
          }
          courier.send(Event::Listening);
        }
        Err(failure) => {
          courier.send(Event::Error { conn: None, failure });
          return courier.send(Event::ServerClosed);
        }
      }
      loop {
        let accepted = tokio::select! {
          biased;
          _ = slot.cancel.fired() => break,
          accepted = slot.accept() => accepted,
        };
        match accepted {
          None => break,
          // Like Node with maxConnections: accept at the OS level, then close at once.
          Some(Ok(_)) if endpoint.at_capacity() => {}
          Some(Ok((stream, peer))) => match slot.tls() {
            None => stream.start(endpoint.register(&courier), peer),
            Some(tls) => {
              let (endpoint, courier) = (endpoint.clone(), courier.clone());
              tokio::spawn(async move {
                let accepted = tokio::select! {
                  _ = endpoint.shut_down_signal().fired() => return,
                  accepted = crate::transport::accept_tls(stream, peer, tls) => accepted,
                };
                match accepted {
                  Ok((stream, peer)) => stream.start(endpoint.register(&courier), peer),
                  // A failed handshake is the server's error; it keeps serving (v9 was silent).
                  Err(failure) => courier.send(Event::Error { conn: None, failure }),
                }
              });
            }
          },
          // Accept errors such as EMFILE are transient: back off briefly and go on.
          Some(Err(_)) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
      }
      courier.send(Event::ServerClosed);
    });
  }

  /// Stops accepting at once; existing connections stay open (v9 `server.stop()`,
  /// SPEC §6.5).
  pub fn stop_listening(&self) {
    if let Some(slot) = self.listener.lock().unwrap().take() {
      slot.close();
    }
  }

  /// Takes over a connection that Node's cluster module accepted (SPEC D6).
  pub fn adopt(self: &Arc<Self>, stream: Stream, courier: &Courier) {
    stream.start(self.register(courier), Default::default());
  }
}
