//! Accepted connections held until their owner admits or refuses them (a server with
//! `verifyClient` or `allowedUids`, README "Verifying clients").
//!
//! A held connection is not read at all: nothing of it reaches the consumer, and what the
//! peer sends before the decision waits in the kernel's socket buffer (bounded by the
//! socket's receive buffer; a peer that fills it is stopped by TCP or Unix-socket flow
//! control). Admitted, it starts as any other connection does, so those frames are read
//! and delivered in order after `connect`; refused, it is closed unread, so none of them
//! is ever seen. Holding nothing in memory is why the decision is taken before reading
//! starts rather than by buffering frames above the core.
//!
//! A held connection counts toward `maxConnections` (its [`SettingUp`] guard), is not in the
//! registry (a broadcast does not reach it, as it does not reach a client still in its TLS
//! handshake), and has its id reserved: the consumer names it by the id of its
//! `Event::Verify`, and it keeps that id once admitted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::connection::{self, Live};
use crate::locked::Locked;
use crate::mailbox::{ConnId, Courier, Event, PeerInfo};
use crate::registry::{Registry, SettingUp};
use crate::transport::Stream;

struct Held {
  stream: Stream,
  peer: PeerInfo,
  courier: Courier,
  _counted: SettingUp,
}

#[derive(Default)]
pub struct Admission {
  /// Off (the default): accepted connections start at once, as they always have.
  verifying: AtomicBool,
  held: Mutex<HashMap<ConnId, Held>>,
}

impl Admission {
  /// Whether connections accepted from now on wait for [`Admission::settle`].
  pub fn set_verifying(&self, on: bool) {
    self.verifying.store(on, Ordering::Relaxed);
  }

  /// Starts an accepted connection, or, while verifying, holds it and reports
  /// `Event::Verify` for the consumer to settle.
  pub fn start(&self, registry: &Arc<Registry>, stream: Stream, peer: PeerInfo, courier: &Courier) {
    if !self.verifying.load(Ordering::Relaxed) {
      return connection::start(stream, Live::register(registry, courier), peer);
    }
    let id = registry.reserve_id();
    {
      let mut held = self.held.locked();
      // Checked under the lock that `discard_all` takes after the shutdown has fired: a
      // connection is either never held or discarded there.
      if registry.is_shut_down() {
        return;
      }
      let counted = registry.setting_up();
      held.insert(id, Held { stream, peer: peer.clone(), courier: courier.clone(), _counted: counted });
    }
    courier.send(Event::Verify { conn: id, peer });
  }

  /// Admits (starts) or refuses (closes, unread) a held connection. False when `id` is not
  /// held (settled already, discarded, or never held).
  pub fn settle(&self, registry: &Arc<Registry>, id: ConnId, admit: bool) -> bool {
    let Some(held) = self.held.locked().remove(&id) else {
      return false;
    };
    if admit {
      let live = Live::register_as(registry, &held.courier, id);
      connection::start(held.stream, live, held.peer);
    }
    // Refused: dropping the stream closes the socket; the consumer was never told of a
    // connection, so no close is reported either.
    true
  }

  /// How many connections wait for a decision.
  pub fn held_count(&self) -> usize {
    self.held.locked().len()
  }

  /// Closes every held connection (the owner is going away).
  pub fn discard_all(&self) {
    let held = std::mem::take(&mut *self.held.locked());
    drop(held);
  }
}
