//! Failures a test can make the emulator answer with, once each: a server
//! error, a malformed answer, a slow answer.

use crate::rate_limit::Endpoint;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// A failure for the next request to an endpoint.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An error status with X's problem body for it (`503 Service Unavailable`).
    Status(u16),
    /// An answer with this status, `application/json` content type, and body.
    Raw { status: u16, body: String },
    /// The answer comes after this delay.
    Delay(Duration),
    /// The request is carried out, then its answer is replaced by this
    /// error status: a post that was published although its answer was
    /// lost on the way.
    LoseAnswer(u16),
}

/// Faults waiting for their endpoint, in order.
#[derive(Default)]
pub struct Faults {
    queued: Mutex<HashMap<Endpoint, VecDeque<Fault>>>,
}

impl Faults {
    pub fn push(&self, endpoint: Endpoint, fault: Fault) {
        self.queued
            .lock()
            .unwrap()
            .entry(endpoint)
            .or_default()
            .push_back(fault);
    }

    pub fn take(&self, endpoint: Endpoint) -> Option<Fault> {
        self.queued.lock().unwrap().get_mut(&endpoint)?.pop_front()
    }
}
