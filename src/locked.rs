//! Locks that a panic elsewhere cannot turn into more panics. Every critical section in the
//! core is short and leaves its data consistent at each step, so a lock poisoned by a panic
//! in another thread is taken as it is: the panic is reported where it happened (at the
//! FFI boundary, as an error), not again by every later caller.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub trait Locked<T> {
  fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
  fn locked(&self) -> MutexGuard<'_, T> {
    self.lock().unwrap_or_else(PoisonError::into_inner)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_poisoned_lock_is_still_taken() {
    let shared = std::sync::Arc::new(Mutex::new(1));
    let poisoner = shared.clone();
    let _ = std::thread::spawn(move || {
      let _guard = poisoner.lock().unwrap();
      panic!("poison it");
    })
    .join();
    assert!(shared.is_poisoned());
    *shared.locked() += 1;
    assert_eq!(*shared.locked(), 2);
  }
}
