//! An endpoint is what one JS server or client object drives: its connections (a
//! [`Registry`]), its listener and its UDP socket. Calls from JS address connections by id.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use crate::admission::Admission;
use crate::locked::Locked;
use crate::mailbox::{ConnId, Courier};
pub use crate::registry::EndpointOptions;
use crate::registry::Registry;
use crate::server::{self, ListenerSlot};
use crate::transport::{ConnectTarget, ListenTarget, Stream};
use crate::udp::{self, UdpSlot, UdpTarget};

pub struct Endpoint {
  registry: Arc<Registry>,
  /// Accepted connections waiting to be admitted or refused (`verifyClient`).
  admission: Arc<Admission>,
  listener: Mutex<Option<Arc<ListenerSlot>>>,
  udp: Mutex<Option<UdpSlot>>,
}

/// The endpoint's connections and settings: writes, ends and destroys by id.
impl Deref for Endpoint {
  type Target = Arc<Registry>;

  fn deref(&self) -> &Arc<Registry> {
    &self.registry
  }
}

impl Endpoint {
  pub fn registry(&self) -> &Arc<Registry> {
    &self.registry
  }

  pub fn new(options: EndpointOptions) -> Arc<Self> {
    Arc::new(Self {
      registry: Registry::new(options),
      admission: Arc::default(),
      listener: Mutex::new(None),
      udp: Mutex::new(None),
    })
  }

  /// Binds and accepts in the background (see `server::listen`); a previous listener is
  /// closed.
  pub fn listen(&self, target: ListenTarget, courier: Courier) {
    let slot = server::listen(&self.registry, &self.admission, target, courier);
    if let Some(previous) = self.listener.locked().replace(slot) {
      previous.close();
    }
  }

  /// Stops accepting at once; existing connections stay open (v9's `server.stop()`).
  pub fn stop_listening(&self) {
    if let Some(slot) = self.listener.locked().take() {
      slot.close();
    }
  }

  /// Takes over a connection that Node's cluster module accepted.
  pub fn adopt(&self, stream: Stream, courier: &Courier) -> std::io::Result<()> {
    server::adopt(&self.registry, &self.admission, stream, courier)
  }

  /// Whether connections accepted from now on wait to be admitted (`Event::Verify`).
  pub fn set_verifying(&self, on: bool) {
    self.admission.set_verifying(on);
  }

  /// Admits or refuses a connection reported by `Event::Verify`; false if it is not waiting.
  pub fn settle(&self, conn: ConnId, admit: bool) -> bool {
    self.admission.settle(&self.registry, conn, admit)
  }

  /// A client connection (see `client::connect`).
  pub fn connect(&self, target: ConnectTarget, courier: Courier) -> ConnId {
    crate::client::connect(&self.registry, target, courier)
  }

  /// Binds a UDP socket in the background (see [`udp::bind_udp`]); a previous one is closed.
  pub fn bind_udp(&self, target: UdpTarget, courier: Courier) {
    let slot = udp::bind_udp(&self.registry, target, courier);
    if let Some(previous) = self.udp.locked().replace(slot) {
      previous.close();
    }
  }

  /// Queues a datagram; false once the UDP socket is closed.
  pub fn send_udp(&self, host: String, port: u16, data: bytes::Bytes) -> bool {
    self.udp.locked().as_ref().is_some_and(|slot| slot.send(host, port, data))
  }

  pub fn close_udp(&self) {
    if let Some(slot) = self.udp.locked().take() {
      slot.close();
    }
  }

  /// Stops everything at once: the listener, the UDP socket and every connection,
  /// without flushing (the owner is going away, as when a Worker's environment ends).
  pub fn shutdown(&self) {
    self.registry.shut_down();
    self.admission.discard_all();
    self.stop_listening();
    self.close_udp();
  }
}
