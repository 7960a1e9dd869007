//! The stop signal every task of a connection, listener or UDP socket listens to.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A one-way "stop now" signal that late listeners still see.
#[derive(Default)]
pub struct Cancel {
  fired: AtomicBool,
  notify: Notify,
}

impl Cancel {
  pub fn fire(&self) {
    self.fired.store(true, Ordering::SeqCst);
    self.notify.notify_waiters();
  }

  pub fn is_fired(&self) -> bool {
    self.fired.load(Ordering::SeqCst)
  }

  pub async fn fired(&self) {
    loop {
      let notified = self.notify.notified();
      tokio::pin!(notified);
      notified.as_mut().enable();
      if self.is_fired() {
        return;
      }
      notified.await;
    }
  }
}
