//! One connection's reads against its endpoint's limits on incomplete frames:
//! `maxBufferedBytes` (all connections together, counted in the [`Registry`]) and
//! `frameTimeout` (how long one frame may stay incomplete). Both kinds of connection
//! ([`crate::connection`]'s reader task, [`crate::polled`]) hold a [`ReadAccount`] and tell
//! it what their read buffer holds after each framed read.
//!
//! The read path is what request/reply latency is made of, so the accounting costs O(1)
//! per read and nothing at all while every frame completes in the read that brings its
//! end (the common case): the total is only touched when what a connection holds changes,
//! and the clock only read when `frameTimeout` is set and a frame spans reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::mailbox::Limit;
use crate::registry::{ConnShared, Registry};

pub struct ReadAccount {
  registry: Arc<Registry>,
  shared: Arc<ConnShared>,
  /// What this connection last counted in the registry's total.
  reported: usize,
  frame_timeout: Option<Duration>,
  /// When the incomplete frame at the end of the read buffer began (`frameTimeout` only).
  partial_since: Option<Instant>,
}

impl ReadAccount {
  pub fn new(registry: Arc<Registry>, shared: Arc<ConnShared>) -> Self {
    let frame_timeout = registry.frame_timeout();
    Self { registry, shared, reported: 0, frame_timeout, partial_since: None }
  }

  /// After a read was framed: `held` bytes of an incomplete frame are left in the buffer,
  /// and `completed` says whether a frame ended in this read (the bytes left, if any, then
  /// began a new frame). Returns the connections failed for `maxBufferedBytes`, this one
  /// possibly among them; each reports its limit at its close.
  #[inline]
  pub fn after_read(&mut self, held: usize, completed: bool) -> Vec<Arc<ConnShared>> {
    if self.frame_timeout.is_some() {
      self.track_partial(held, completed);
    }
    if held == self.reported {
      return Vec::new();
    }
    self.reported = held;
    self.registry.hold(&self.shared, held)
  }

  fn track_partial(&mut self, held: usize, completed: bool) {
    if held == 0 {
      self.partial_since = None;
    } else if completed || self.partial_since.is_none() {
      self.partial_since = Some(Instant::now());
    }
  }

  /// When the incomplete frame held now times out (`None`: none held, or no timeout).
  pub fn deadline(&self) -> Option<Instant> {
    Some(self.partial_since? + self.frame_timeout?)
  }

  /// Fails the connection with [`Limit::FrameTimeout`] if its incomplete frame's deadline
  /// has passed by `now`; true if it did.
  pub fn check_deadline(&mut self, now: Instant) -> bool {
    match (self.deadline(), self.frame_timeout) {
      (Some(at), Some(timeout)) if now >= at => {
        self.shared.fail_over(Limit::FrameTimeout, self.reported, timeout.as_millis() as usize);
        true
      }
      _ => false,
    }
  }
}

impl Drop for ReadAccount {
  /// The read buffer goes with the reader: its bytes leave the total.
  fn drop(&mut self) {
    if self.reported > 0 {
      self.registry.hold(&self.shared, 0);
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::mailbox::Event;
  use crate::registry::EndpointOptions;

  fn account(options: EndpointOptions) -> (Arc<Registry>, Arc<ConnShared>, ReadAccount) {
    let registry = Registry::new(options);
    let shared = registry.add();
    let account = ReadAccount::new(registry.clone(), shared.clone());
    (registry, shared, account)
  }

  #[test]
  fn counts_what_is_held_and_lets_go_when_dropped() {
    let (registry, _shared, mut a) = account(EndpointOptions::default());
    assert!(a.after_read(0, true).is_empty());
    assert_eq!(registry.buffered(), 0);
    a.after_read(300, false);
    a.after_read(500, false);
    assert_eq!(registry.buffered(), 500);
    a.after_read(20, true);
    assert_eq!(registry.buffered(), 20);
    drop(a);
    assert_eq!(registry.buffered(), 0);
  }

  #[test]
  fn the_reader_past_the_budget_is_failed_and_told() {
    let options = EndpointOptions { max_buffered_bytes: Some(1000), ..EndpointOptions::default() };
    let (registry, shared, mut a) = account(options);
    let other = registry.add();
    registry.hold(&other, 400);
    assert!(a.after_read(600, false).is_empty(), "exactly the budget");
    let failed = a.after_read(601, false);
    assert_eq!(failed.len(), 1);
    assert!(Arc::ptr_eq(&failed[0], &shared));
    assert_eq!(
      shared.take_over_limit(),
      Some(Event::OverLimit { conn: shared.id, limit: Limit::Buffered, size: 601, max: 1000 })
    );
    assert_eq!(registry.buffered(), 400, "the failed reader's bytes left the total at once");
    drop(a);
    assert_eq!(registry.buffered(), 400, "and are not taken out twice");
  }

  #[test]
  fn a_frame_times_out_from_when_it_began_not_from_when_the_buffer_filled() {
    let timeout = Duration::from_millis(50);
    let options = EndpointOptions { frame_timeout: Some(timeout), ..EndpointOptions::default() };
    let (_registry, shared, mut a) = account(options);
    assert_eq!(a.deadline(), None);
    a.after_read(10, false);
    let first = a.deadline().expect("a partial frame has a deadline");
    a.after_read(20, false);
    assert_eq!(a.deadline(), Some(first), "more of the same frame: same deadline");
    std::thread::sleep(Duration::from_millis(2));
    a.after_read(5, true);
    let second = a.deadline().unwrap();
    assert!(second > first, "a frame completed: the bytes left began a new one");
    assert!(!a.check_deadline(second - Duration::from_millis(1)));
    assert!(shared.take_over_limit().is_none());
    assert!(a.check_deadline(second));
    assert_eq!(
      shared.take_over_limit(),
      Some(Event::OverLimit { conn: shared.id, limit: Limit::FrameTimeout, size: 5, max: 50 })
    );
    a.after_read(0, true);
    assert_eq!(a.deadline(), None, "nothing held: no deadline");
  }

  #[test]
  fn without_a_timeout_there_is_no_deadline() {
    let (_registry, _shared, mut a) = account(EndpointOptions::default());
    a.after_read(10, false);
    assert_eq!(a.deadline(), None);
    assert!(!a.check_deadline(Instant::now() + Duration::from_secs(3600)));
  }
}
