//! When a failed request is worth sending again, and how long to wait.
//!
//! Reads are retried within a budget the caller sets per action
//! (`retry_budget_secs`): a server error or a lost connection after a
//! backoff with jitter, a spent rate limit only when its window resets
//! within what is left of the budget. Writes are not retried here: a create
//! whose answer was lost is looked for before it is sent again (see
//! `post.create`), and media segments have their own bounded retries.

use crate::error::ConnectorError;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The budget when the caller sets none.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);

/// The largest budget a caller may set.
pub const MAX_BUDGET_SECS: u64 = 600;

/// Whether `error` may go away if the same request is sent again.
pub fn transient(error: &ConnectorError) -> bool {
    match error {
        ConnectorError::Timeout(_) => true,
        ConnectorError::Upstream(u) => u.status >= 500 || u.status == 408,
        _ => false,
    }
}

/// The wait before attempt `attempt + 1` (`attempt` starts at 1): doubling
/// from 250 ms up to 8 s, of which a random half is jitter, so that many
/// actions failing together do not retry in step.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = 250u64 << (attempt.saturating_sub(1)).min(5);
    Duration::from_millis(ceiling / 2 + random_below(ceiling / 2 + 1))
}

/// A random number below `n`, from the hasher keys std draws from the
/// system's random source (`wasi:random` in the component).
fn random_below(n: u64) -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(n);
    hasher.finish() % n.max(1)
}

/// A time limit for retrying one action's reads.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    until: Instant,
}

impl Budget {
    pub fn new(length: Duration) -> Budget {
        Budget {
            until: Instant::now() + length,
        }
    }

    /// How long to wait before sending again after `error` on attempt
    /// `attempt`, or `None` when the error is final or the wait would not
    /// fit in what is left.
    pub fn wait_after(&self, error: &ConnectorError, attempt: u32) -> Option<Duration> {
        let wait = match error {
            ConnectorError::RateLimited(r) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
                // X's reset is in whole seconds; wait past it, plus jitter.
                Duration::from_secs(r.reset_at?.saturating_sub(now) + 1)
                    + Duration::from_millis(random_below(500))
            }
            e if transient(e) => backoff(attempt),
            _ => return None,
        };
        let left = self.until.saturating_duration_since(Instant::now());
        (wait <= left).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{RateLimited, UpstreamError};

    fn upstream(status: u16) -> ConnectorError {
        ConnectorError::Upstream(UpstreamError {
            status,
            title: String::new(),
            detail: String::new(),
            problem_type: None,
        })
    }

    #[test]
    fn backoff_doubles_within_its_jitter() {
        for attempt in 1..=10 {
            let ceiling = 250u64 << (attempt - 1).min(5);
            let ms = backoff(attempt).as_millis() as u64;
            assert!((ceiling / 2..=ceiling).contains(&ms), "{attempt}: {ms}");
        }
    }

    #[test]
    fn only_transient_errors_and_resets_in_budget_are_waited_for() {
        let budget = Budget::new(Duration::from_secs(5));
        assert!(budget.wait_after(&upstream(503), 1).is_some());
        assert!(budget.wait_after(&upstream(400), 1).is_none());
        assert!(
            budget
                .wait_after(&ConnectorError::NotFound(String::new()), 1)
                .is_none()
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let limited = |reset_in: u64| {
            ConnectorError::RateLimited(RateLimited {
                reset_at: Some(now + reset_in),
                limit: None,
                remaining: Some(0),
                detail: String::new(),
            })
        };
        assert!(budget.wait_after(&limited(2), 1).is_some());
        assert!(budget.wait_after(&limited(900), 1).is_none());
        let spent = Budget::new(Duration::ZERO);
        assert!(spent.wait_after(&upstream(503), 1).is_none());
    }
}
