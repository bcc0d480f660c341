//! Reporting a recurring problem at a bounded rate: the first occurrence
//! at once, then at most one report per interval, saying how many were
//! left out meanwhile; what is left at the end is summed up once.

use std::time::{Duration, Instant};

/// How often a recurring problem of one connector is reported at most.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// What to do with one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Report it, saying that `left_out` occurrences were not reported
    /// since the last report.
    Now {
        /// Occurrences not reported since the last report.
        left_out: u64,
    },
    /// Count it, without a report.
    LeftOut,
}

/// The occurrences of one recurring problem.
#[derive(Debug, Default)]
pub struct Throttle {
    last_report: Option<Instant>,
    left_out: u64,
}

impl Throttle {
    /// One occurrence at `now`.
    pub fn occurred(&mut self, now: Instant) -> Report {
        let due = self
            .last_report
            .is_none_or(|last| now.duration_since(last) >= REPORT_INTERVAL);
        if due {
            self.last_report = Some(now);
            Report::Now {
                left_out: std::mem::take(&mut self.left_out),
            }
        } else {
            self.left_out += 1;
            Report::LeftOut
        }
    }

    /// The occurrences not reported yet, which the caller then reports;
    /// the count starts again.
    pub fn take_left_out(&mut self) -> u64 {
        std::mem::take(&mut self.left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_reported_then_one_per_interval_with_the_count_left_out() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        assert_eq!(throttle.occurred(start), Report::Now { left_out: 0 });
        for ms in 1..=749 {
            assert_eq!(
                throttle.occurred(start + Duration::from_millis(ms)),
                Report::LeftOut
            );
        }
        assert_eq!(
            throttle.occurred(start + REPORT_INTERVAL),
            Report::Now { left_out: 749 }
        );
        assert_eq!(
            throttle.occurred(start + REPORT_INTERVAL + Duration::from_secs(1)),
            Report::LeftOut
        );
        assert_eq!(throttle.take_left_out(), 1);
        assert_eq!(throttle.take_left_out(), 0);
    }
}
