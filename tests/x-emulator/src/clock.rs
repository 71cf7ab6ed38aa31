//! The emulator's notion of now, which tests can move forward to expire
//! tokens and rate-limit windows without waiting.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// Wall-clock time plus an offset that only grows.
#[derive(Clone, Debug)]
pub struct Clock {
    offset: Arc<Mutex<Duration>>,
}

impl Clock {
    /// The system clock, not yet moved.
    pub fn system() -> Clock {
        Clock {
            offset: Arc::new(Mutex::new(Duration::zero())),
        }
    }

    /// The current time as the emulator sees it.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock().unwrap()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let by = Duration::from_std(by).expect("a test moves the clock by a sane amount");
        *self.offset.lock().unwrap() += by;
    }
}
