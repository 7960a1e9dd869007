//! Listening and accepting into a registry.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use crate::admission::Admission;
use crate::cancel::Cancel;
use crate::locked::Locked;
use crate::mailbox::{Courier, Event, PeerInfo};
use crate::registry::Registry;
use crate::transport::{ListenTarget, Listener, Stream};

enum SlotState {
  Binding,
  Bound(Listener),
  Closed,
}

/// The listening socket, reachable from its owner so that closing it is synchronous: once
/// `server.stop()` returns, new connections are refused and a Unix socket file is gone, as
/// with Node's `server.close()`.
pub struct ListenerSlot {
  state: Mutex<SlotState>,
  cancel: Cancel,
}

impl ListenerSlot {
  /// Closes the listener now (or as soon as its bind completes).
  pub fn close(&self) {
    let previous = std::mem::replace(&mut *self.state(), SlotState::Closed);
    if let SlotState::Bound(listener) = previous {
      listener.remove_socket_file();
    }
    self.cancel.fire();
  }

  /// Stores the bound listener, unless the slot was closed while binding.
  fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
    self.state.locked()
  }

  fn install(&self, listener: Listener) -> bool {
    let mut state = self.state();
    if matches!(*state, SlotState::Closed) {
      listener.remove_socket_file();
      return false;
    }
    *state = SlotState::Bound(listener);
    true
  }

  fn tls(&self) -> Option<Arc<crate::tls::ServerTls>> {
    match &*self.state() {
      SlotState::Bound(listener) => listener.tls(),
      _ => None,
    }
  }

  async fn accept(&self) -> Option<std::io::Result<(Stream, PeerInfo)>> {
    poll_fn(|cx| match &*self.state() {
      SlotState::Bound(listener) => listener.poll_accept(cx).map(Some),
      _ => Poll::Ready(None),
    })
    .await
  }
}

/// Binds and accepts in the background. Reports `Listening`, or `Error` then
/// `ServerClosed` when the bind fails; `ServerClosed` again when the slot is closed.
/// Accepted connections start through `admission` (held there while the server verifies
/// its clients).
pub fn listen(
  registry: &Arc<Registry>,
  admission: &Arc<Admission>,
  target: ListenTarget,
  courier: Courier,
) -> Arc<ListenerSlot> {
  let slot = Arc::new(ListenerSlot { state: Mutex::new(SlotState::Binding), cancel: Cancel::default() });
  let (registry, admission) = (registry.clone(), admission.clone());
  let task_slot = slot.clone();
  tokio::spawn(async move {
    let slot = task_slot;
    let bound = tokio::select! {
      _ = slot.cancel.fired() => return courier.send(Event::ServerClosed),
      bound = target.bind() => bound,
    };
    match bound {
      Ok(listener) => {
        let local = listener.local_addr();
        if !slot.install(listener) {
          return courier.send(Event::ServerClosed);
        }
        courier.send(Event::Listening { local });
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
        Some(Ok(_)) if registry.at_capacity() => {}
        Some(Ok((stream, peer))) => match slot.tls() {
          None => admission.start(&registry, stream, peer, &courier),
          Some(tls) => {
            let (registry, admission, courier) = (registry.clone(), admission.clone(), courier.clone());
            // It counts toward maxConnections from accept, through its handshake.
            let handshaking = registry.setting_up();
            tokio::spawn(async move {
              let _handshaking = handshaking;
              let accepted = tokio::select! {
                _ = registry.shut_down_signal().fired() => return,
                accepted = crate::transport::accept_tls(stream, peer, tls) => accepted,
              };
              match accepted {
                Ok((stream, peer)) => admission.start(&registry, stream, peer, &courier),
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
  slot
}

/// Takes over a connection that Node's cluster module accepted; it is verified as one
/// accepted here would be.
pub fn adopt(
  registry: &Arc<Registry>,
  admission: &Admission,
  stream: Stream,
  courier: &Courier,
) -> std::io::Result<()> {
  let (stream, peer) = crate::transport::adopted_peer(stream)?;
  admission.start(registry, stream, peer, courier);
  Ok(())
}
