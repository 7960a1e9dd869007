//! node-ipc-rs: the native transport core of a drop-in replacement for node-ipc v9.
//!
//! The core knows nothing of Node: transport tasks report [`mailbox::Event`]s through a
//! [`mailbox::Courier`], and callers drive an [`endpoint::Endpoint`] by connection id.
//! The napi binding (`binding`) only converts types.

pub mod cancel;
pub mod codec;
pub mod connection;
pub mod endpoint;
pub mod errors;
pub mod json_text;
pub mod lookup;
pub mod mailbox;
pub mod outgoing;
pub mod polled;
pub mod read_buffer;
pub mod tcp_connect;
pub mod tls;
pub mod transport;
pub mod udp;
pub mod unix_stream;

mod client;
mod server;

#[cfg(feature = "node")]
mod binding;

#[cfg(test)]
mod transport_tests;
