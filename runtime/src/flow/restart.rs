//! How often a connector may fail before the runtime stops it: the
//! `restart` table of a `[[connector]]` and the window that counts.

use std::collections::VecDeque;
use std::num::{NonZeroU32, NonZeroU64};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// A connector's failure budget, as written in its `restart` table: it is
/// stopped once it has failed `max_failures` times within `window_secs`
/// seconds. A failure is a method that errored or panicked, a failed
/// connect, or a lost connection; each is followed by a reconnect, and all
/// the attempts of one reconnect count as that one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    /// How many failures within the window stop the connector.
    pub max_failures: NonZeroU32,
    /// The length of the window, in seconds.
    pub window_secs: NonZeroU64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_failures: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            window_secs: NonZeroU64::new(60).unwrap_or(NonZeroU64::MIN),
        }
    }
}

impl RestartPolicy {
    fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs.get())
    }
}

/// The failures of one connector within its policy's window.
#[derive(Debug)]
pub struct FailureWindow {
    policy: RestartPolicy,
    failures: VecDeque<Instant>,
}

impl FailureWindow {
    /// An empty window for `policy`.
    #[must_use]
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            failures: VecDeque::new(),
        }
    }

    /// Counts a failure at `now`; `Err` with a description of the budget
    /// once it is spent.
    ///
    /// # Errors
    /// When this failure is the `max_failures`-th within the window.
    pub fn record(&mut self, now: Instant) -> Result<(), String> {
        let window = self.policy.window();
        while self
            .failures
            .front()
            .is_some_and(|&first| now.duration_since(first) >= window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() >= self.policy.max_failures.get() as usize {
            Err(format!(
                "failed {} times within {} s (restart.max_failures = {}, restart.window_secs = {})",
                self.failures.len(),
                self.policy.window_secs,
                self.policy.max_failures,
                self.policy.window_secs
            ))
        } else {
            Ok(())
        }
    }
}

/// The waits between connect attempts: from [`Backoff::FIRST`], doubled
/// after every failed attempt, up to [`Backoff::MAX`].
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The first wait.
    pub const FIRST: Duration = Duration::from_millis(50);
    /// The longest wait.
    pub const MAX: Duration = Duration::from_secs(5);

    /// How long to wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_failures: u32, window_secs: u64) -> RestartPolicy {
        RestartPolicy {
            max_failures: NonZeroU32::new(max_failures).unwrap(),
            window_secs: NonZeroU64::new(window_secs).unwrap(),
        }
    }

    #[test]
    fn the_budget_is_spent_by_the_max_failures_th_failure_within_the_window() {
        let mut window = FailureWindow::new(policy(3, 10));
        let start = Instant::now();
        assert!(window.record(start).is_ok());
        assert!(window.record(start + Duration::from_secs(1)).is_ok());
        let spent = window.record(start + Duration::from_secs(2)).unwrap_err();
        assert!(spent.starts_with("failed 3 times within 10 s"), "{spent}");
    }

    #[test]
    fn failures_older_than_the_window_no_longer_count() {
        let mut window = FailureWindow::new(policy(2, 10));
        let start = Instant::now();
        for i in 0..5 {
            assert!(window.record(start + Duration::from_secs(10 * i)).is_ok());
        }
        assert!(window.record(start + Duration::from_secs(45)).is_err());
    }

    #[test]
    fn a_connector_without_a_restart_table_gets_5_failures_a_minute() {
        let policy: RestartPolicy = toml::from_str("").unwrap();
        assert_eq!(policy, RestartPolicy::default());
        assert_eq!(
            (policy.max_failures.get(), policy.window_secs.get()),
            (5, 60)
        );
    }

    #[test]
    fn zero_is_rejected() {
        let error = toml::from_str::<RestartPolicy>("max_failures = 0").unwrap_err();
        assert!(error.message().contains("nonzero"), "{error}");
    }

    #[test]
    fn the_backoff_doubles_from_50_ms_up_to_its_5_s_cap() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..10)
            .map(|_| u64::try_from(backoff.next_wait().as_millis()).unwrap())
            .collect();
        assert_eq!(
            waits,
            [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]
        );
    }
}
