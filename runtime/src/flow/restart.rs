//! How a failed connector is brought back, and when the runtime gives up
//! on it: the `restart` table of a `[[connector]]` ([`RestartPolicy`]),
//! the waits between attempts ([`Backoff`]) and the failures counted
//! against the budget ([`Restarts`]).

use std::collections::VecDeque;
use std::num::{NonZeroU32, NonZeroU64};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// A connector's `restart` table: its failure budget (it is stopped once
/// it has failed `max_failures` times within `window_secs` seconds) and
/// its backoff (the first wait before it is connected again after a
/// failure, doubled after each failure that follows without the
/// connector working in between, up to the cap). See [`Restarts`] for
/// which failures count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RestartTable")]
pub struct RestartPolicy {
    /// How many failures within the window stop the connector.
    pub max_failures: NonZeroU32,
    /// The length of the window, in seconds.
    pub window_secs: NonZeroU64,
    /// The first wait, in milliseconds.
    pub backoff_ms: NonZeroU64,
    /// The longest wait, in milliseconds.
    pub max_backoff_ms: NonZeroU64,
}

/// The `restart` table as written, before its fields are checked together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartTable {
    #[serde(default = "defaults::max_failures")]
    max_failures: NonZeroU32,
    #[serde(default = "defaults::window_secs")]
    window_secs: NonZeroU64,
    #[serde(default = "defaults::backoff_ms")]
    backoff_ms: NonZeroU64,
    #[serde(default = "defaults::max_backoff_ms")]
    max_backoff_ms: NonZeroU64,
}

mod defaults {
    use std::num::{NonZeroU32, NonZeroU64};

    pub fn max_failures() -> NonZeroU32 {
        NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN)
    }
    pub fn window_secs() -> NonZeroU64 {
        NonZeroU64::new(60).unwrap_or(NonZeroU64::MIN)
    }
    pub fn backoff_ms() -> NonZeroU64 {
        NonZeroU64::new(50).unwrap_or(NonZeroU64::MIN)
    }
    pub fn max_backoff_ms() -> NonZeroU64 {
        NonZeroU64::new(5000).unwrap_or(NonZeroU64::MIN)
    }
}

/// A `[connector.restart]` table whose backoff cap is below its first
/// wait.
#[derive(Debug, thiserror::Error)]
#[error(
    "`max_backoff_ms` ({max_backoff_ms}) is less than `backoff_ms` ({backoff_ms}); make the cap \
     at least the first wait"
)]
pub struct CapBelowFirstWait {
    backoff_ms: NonZeroU64,
    max_backoff_ms: NonZeroU64,
}

impl TryFrom<RestartTable> for RestartPolicy {
    type Error = CapBelowFirstWait;

    fn try_from(table: RestartTable) -> Result<Self, CapBelowFirstWait> {
        if table.max_backoff_ms < table.backoff_ms {
            return Err(CapBelowFirstWait {
                backoff_ms: table.backoff_ms,
                max_backoff_ms: table.max_backoff_ms,
            });
        }
        Ok(Self {
            max_failures: table.max_failures,
            window_secs: table.window_secs,
            backoff_ms: table.backoff_ms,
            max_backoff_ms: table.max_backoff_ms,
        })
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_failures: defaults::max_failures(),
            window_secs: defaults::window_secs(),
            backoff_ms: defaults::backoff_ms(),
            max_backoff_ms: defaults::max_backoff_ms(),
        }
    }
}

impl RestartPolicy {
    fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs.get())
    }
}

/// The waits between attempts: from the policy's `backoff_ms`, doubled
/// after every wait up to `max_backoff_ms`, each shortened or lengthened
/// by up to a fifth at random (so that connectors failing together do
/// not retry in step), never beyond the cap.
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
    random: fastrand::Rng,
}

impl Backoff {
    /// The backoff of `policy`.
    #[must_use]
    pub fn new(policy: &RestartPolicy) -> Self {
        let first = Duration::from_millis(policy.backoff_ms.get());
        Self {
            first,
            cap: Duration::from_millis(policy.max_backoff_ms.get()),
            next: first,
            random: fastrand::Rng::new(),
        }
    }

    /// How long to wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(self.cap);
        nominal.mul_f64(0.8 + 0.4 * self.random.f64()).min(self.cap)
    }

    /// Whether the waits have reached the cap.
    #[must_use]
    pub fn at_cap(&self) -> bool {
        self.next >= self.cap
    }

    /// Starts again from the first wait.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// What failed, for how the failure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `connect` did not connect (it returned `false` or an error): what
    /// the connector connects to may be down.
    Connect,
    /// A method failed after the connector connected, or it reported a
    /// lost connection.
    Running,
    /// A method panicked: a defect of the connector.
    Panic,
}

/// A connector's restarts: its backoff and the failures counted against
/// its budget.
///
/// The failures of one outage (from a failure until the connector works
/// again: it produces an event, acknowledges one, or an `ack` or `fail`
/// call into it succeeds) count once, so that a short outage
/// costs one failure however many attempts it takes: a server that is
/// down for minutes never stops a connector that cannot connect to it.
/// A connector that connects but keeps failing counts again for each
/// failure once its backoff has reached the cap, so that one that never
/// works is stopped; a panic always counts.
#[derive(Debug)]
pub struct Restarts {
    policy: RestartPolicy,
    failures: VecDeque<Instant>,
    backoff: Backoff,
    /// A failure happened and the connector has not worked since.
    in_outage: bool,
}

impl Restarts {
    /// No failure yet, under `policy`.
    #[must_use]
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            backoff: Backoff::new(&policy),
            policy,
            failures: VecDeque::new(),
            in_outage: false,
        }
    }

    /// Records a failure at `now`; `Ok` with how long to wait before the
    /// next attempt, or `Err` with the budget once it is spent.
    ///
    /// # Errors
    /// When this failure spends the budget.
    pub fn failed(&mut self, failure: Failure, now: Instant) -> Result<Duration, BudgetSpent> {
        let counts = match failure {
            Failure::Panic => true,
            Failure::Connect => !self.in_outage,
            Failure::Running => !self.in_outage || self.backoff.at_cap(),
        };
        if !self.in_outage {
            self.in_outage = true;
            self.backoff.reset();
        }
        if counts {
            self.count(now)?;
        }
        Ok(self.backoff.next_wait())
    }

    /// Records that the connector worked: the outage, if any, is over.
    pub fn worked(&mut self) {
        self.in_outage = false;
    }

    /// Counts one failure at `now`.
    fn count(&mut self, now: Instant) -> Result<(), BudgetSpent> {
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
            Err(BudgetSpent {
                failures: self.failures.len(),
                max_failures: self.policy.max_failures,
                window_secs: self.policy.window_secs,
            })
        } else {
            Ok(())
        }
    }
}

/// A connector's failure budget, spent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "failed {failures} times within {window_secs} s (restart.max_failures = {max_failures}, \
     restart.window_secs = {window_secs})"
)]
pub struct BudgetSpent {
    failures: usize,
    max_failures: NonZeroU32,
    window_secs: NonZeroU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(table: &str) -> RestartPolicy {
        toml::from_str(table).unwrap()
    }

    fn millis(wait: Duration) -> u64 {
        u64::try_from(wait.as_millis()).unwrap()
    }

    #[test]
    fn a_connector_without_a_restart_table_gets_5_failures_a_minute_and_50_ms_to_5_s() {
        let policy = policy("");
        assert_eq!(policy, RestartPolicy::default());
        assert_eq!(
            (
                policy.max_failures.get(),
                policy.window_secs.get(),
                policy.backoff_ms.get(),
                policy.max_backoff_ms.get()
            ),
            (5, 60, 50, 5000)
        );
    }

    #[test]
    fn zero_a_cap_below_the_first_wait_and_unknown_fields_are_rejected() {
        let error = toml::from_str::<RestartPolicy>("max_failures = 0").unwrap_err();
        assert!(error.message().contains("nonzero"), "{error}");
        let error =
            toml::from_str::<RestartPolicy>("backoff_ms = 100\nmax_backoff_ms = 10").unwrap_err();
        assert!(
            error
                .message()
                .contains("`max_backoff_ms` (10) is less than `backoff_ms` (100)"),
            "{error}"
        );
        let error = toml::from_str::<RestartPolicy>("backof_ms = 1").unwrap_err();
        assert!(
            error.message().contains("unknown field `backof_ms`"),
            "{error}"
        );
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_within_a_fifth_either_way() {
        let mut backoff = Backoff::new(&policy("backoff_ms = 100\nmax_backoff_ms = 1000"));
        let nominal = [100, 200, 400, 800, 1000, 1000];
        for expected in nominal {
            let wait = millis(backoff.next_wait());
            assert!(
                wait >= expected * 4 / 5 && wait <= (expected * 6 / 5).min(1000),
                "{wait} ms for a nominal {expected} ms"
            );
        }
        assert!(backoff.at_cap());
        backoff.reset();
        assert!(millis(backoff.next_wait()) <= 120);
    }

    #[test]
    fn the_waits_are_jittered() {
        let mut waits: Vec<u64> = (0..20)
            .map(|_| millis(Backoff::new(&RestartPolicy::default()).next_wait()))
            .collect();
        waits.dedup();
        assert!(waits.len() > 1, "twenty first waits, all {waits:?}");
    }

    #[test]
    fn an_outage_counts_once_however_many_attempts_it_takes() {
        let mut restarts = Restarts::new(policy("max_failures = 2"));
        let start = Instant::now();
        assert!(restarts.failed(Failure::Running, start).is_ok());
        for i in 1..50 {
            let at = start + Duration::from_secs(i);
            assert!(restarts.failed(Failure::Connect, at).is_ok(), "attempt {i}");
        }
        restarts.worked();
        let spent = restarts
            .failed(Failure::Running, start + Duration::from_secs(50))
            .unwrap_err();
        assert!(
            spent.to_string().starts_with("failed 2 times within 60 s"),
            "{spent}"
        );
    }

    #[test]
    fn a_short_burst_of_failures_costs_one_failure() {
        let mut restarts = Restarts::new(RestartPolicy::default());
        let mut at = Instant::now();
        // Half a second of failing calls, each after its backoff.
        let mut elapsed = Duration::ZERO;
        while elapsed < Duration::from_millis(500) {
            let wait = restarts.failed(Failure::Running, at).unwrap();
            at += wait;
            elapsed += wait;
        }
        restarts.worked();
        for _ in 0..3 {
            restarts.failed(Failure::Running, at).unwrap();
            restarts.worked();
        }
    }

    #[test]
    fn a_connector_that_connects_but_never_works_is_stopped_once_its_backoff_is_at_the_cap() {
        let mut restarts = Restarts::new(policy("backoff_ms = 10\nmax_backoff_ms = 40"));
        let mut at = Instant::now();
        let mut failures = 0;
        let spent = loop {
            failures += 1;
            match restarts.failed(Failure::Running, at) {
                Ok(wait) => at += wait,
                Err(spent) => break spent,
            }
            assert!(failures < 20, "never stopped");
        };
        // The first failure counts; the second waits 20 ms without
        // counting; the next four, at the 40 ms cap, spend the budget.
        assert_eq!(failures, 6, "{spent}");
    }

    #[test]
    fn a_server_that_stays_down_never_spends_the_budget_but_each_panic_counts() {
        let mut restarts = Restarts::new(policy("max_failures = 3"));
        let start = Instant::now();
        for i in 0..50 {
            let at = start + Duration::from_millis(500 * i);
            assert!(restarts.failed(Failure::Connect, at).is_ok());
        }
        // The first failed connect still counts within the window.
        let at = start + Duration::from_secs(25);
        assert!(restarts.failed(Failure::Panic, at).is_ok());
        assert!(restarts.failed(Failure::Panic, at).is_err());
    }

    #[test]
    fn failures_older_than_the_window_no_longer_count() {
        let mut restarts = Restarts::new(policy("max_failures = 2\nwindow_secs = 10"));
        let start = Instant::now();
        for i in 0..5 {
            let at = start + Duration::from_secs(10 * i);
            assert!(restarts.failed(Failure::Running, at).is_ok());
            restarts.worked();
        }
        let at = start + Duration::from_secs(45);
        assert!(restarts.failed(Failure::Running, at).is_err());
    }
}
