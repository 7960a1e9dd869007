//! node-ipc-rs: the native transport core of a drop-in replacement for node-ipc v9.
//!
//! The core knows nothing of Node: transport tasks report [`mailbox::Event`]s through a
//! [`mailbox::Courier`], and callers drive an [`endpoint::Endpoint`] by connection id.
//! The napi binding (`binding`) converts types and owns the JS thread's handles.
//!
//! The modules, each depending only on those above it (a test checks it):
//!
//! | layer | modules |
//! |---|---|
//! | bytes and signals | [`locked`] poison-free locks, [`codec`] framing, [`frame_runs`] frames as JS gets them, [`json_text`] large-string JSON, [`read_buffer`], [`outgoing`] write queue, [`cancel`] |
//! | errors and events | [`tls`] rustls settings, [`errors`] Node-style failures, [`lookup`] host names, [`mailbox`] events to the consumer |
//! | connections | [`registry`] connections by id, [`budget`] a reader's share of the limits, `ready_io` and `unix_stream` shared streams, `unix_bind` socket files with a mode, `named_pipe` (Windows), [`tcp_connect`], [`transport`] opening streams, [`connection`] tokio tasks, [`polled`] driven by readiness |
//! | endpoints | [`admission`] connections held until admitted, `server` (listen, accept), `client` (connect), [`udp`], [`endpoint`] what one JS object drives |
//! | Node | `binding` (napi, libuv handles on the JS thread) |
//!
//! ARCHITECTURE.md has the threads, the path of a message and the reasons.

#![warn(clippy::undocumented_unsafe_blocks)]

pub mod cancel;
pub mod codec;
pub mod frame_runs;
pub mod json_text;
pub mod locked;
pub mod outgoing;
pub mod read_buffer;

pub mod errors;
pub mod lookup;
pub mod mailbox;
pub mod tls;

pub mod budget;
pub mod connection;
#[cfg(windows)]
mod named_pipe;
// Readiness-driven streams (direct writes, the JS thread's poll handles) are Unix only;
// on Windows every stream runs on tokio tasks.
#[cfg(unix)]
pub mod polled;
#[cfg(unix)]
mod ready_io;
pub mod registry;
pub mod tcp_connect;
pub mod transport;
#[cfg(unix)]
mod unix_bind;
#[cfg(unix)]
mod unix_stream;

pub mod admission;
mod client;
pub mod endpoint;
mod server;
pub mod udp;

#[cfg(feature = "node")]
mod binding;

#[cfg(test)]
mod layering_tests;
// Unix sockets and descriptors throughout.
#[cfg(all(test, unix))]
mod transport_tests;
