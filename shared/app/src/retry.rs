//! How long a task's transient failures are retried (a time window, not a delivery count) and
//! how far apart its retries come, and the check that the queues' `maxReceiveCount` leaves
//! room for that window.

use std::time::Duration;

/// Deliveries of one message the retry window may not count on: the delivery cut by a crash
/// (or a batch deadline) and the one that waits out the lease it left.
pub const LEASE_RECEIVES: u32 = 2;

/// The retry settings of the worker (`CCAAS_RETRY_WINDOW_SECS`, `CCAAS_RETRY_DELAY_SECS`,
/// `CCAAS_RETRY_MAX_DELAY_SECS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long after its first transient failure a task is still retried; past it, the
    /// next transient failure is final. Zero makes the first one final.
    pub window: Duration,
    /// The delay before the first retry, doubled on each later delivery.
    pub delay: Duration,
    /// The longest delay between two deliveries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// The processor's defaults: a 15-minute window, retries 2 s apart at first and at most
    /// 5 minutes apart.
    fn default() -> Self {
        RetryPolicy {
            window: Duration::from_secs(900),
            delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// How long the message of its `receive_count`-th delivery waits before the next one:
    /// `delay × 2^(receive_count − 1)`, at most `max_delay` (and never under `delay`).
    pub fn backoff(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.saturating_sub(1).min(30);
        self.delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay.max(self.delay))
    }

    /// Whether a task whose first transient failure was at `since_ms` (Unix milliseconds)
    /// may still be retried at `now_ms`.
    pub fn within(&self, since_ms: u64, now_ms: u64) -> bool {
        let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        now_ms.saturating_sub(since_ms) < window_ms
    }

    /// The time the retries of deliveries `1..=receives` wait in all.
    pub fn spread(&self, receives: u32) -> Duration {
        (1..=receives).fold(Duration::ZERO, |sum, n| sum.saturating_add(self.backoff(n)))
    }

    /// Checks that a queue with this `max_receives` (its `maxReceiveCount`) keeps a message
    /// long enough for the window: the backoffs of all its deliveries but the last and
    /// [`LEASE_RECEIVES`] must add up to the window. Otherwise the queue would move a
    /// message to its dead-letter queue while its task is still to be retried. Errors: why
    /// not, with the numbers.
    pub fn fits(&self, max_receives: u32) -> Result<(), String> {
        let usable = max_receives.saturating_sub(1 + LEASE_RECEIVES);
        let spread = self.spread(usable);
        if spread >= self.window {
            return Ok(());
        }
        Err(format!(
            "{max_receives} receives leave {usable} retries for the window ({} s), and their \
             delays ({} s doubling to at most {} s) add up to only {} s: raise the receive \
             count or the delays, or shorten the window",
            self.window.as_secs(),
            self.delay.as_secs(),
            self.max_delay.as_secs(),
            spread.as_secs()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(window: u64, delay: u64, max_delay: u64) -> RetryPolicy {
        RetryPolicy {
            window: Duration::from_secs(window),
            delay: Duration::from_secs(delay),
            max_delay: Duration::from_secs(max_delay),
        }
    }

    #[test]
    fn the_delay_doubles_per_delivery_up_to_the_cap() {
        let p = policy(900, 30, 300);
        let got: Vec<u64> = (1..=7).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(got, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(
            p.backoff(0).as_secs(),
            30,
            "a missing count is the first delivery"
        );
        assert_eq!(p.backoff(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn a_cap_below_the_first_delay_never_shortens_it() {
        assert_eq!(policy(60, 10, 1).backoff(5).as_secs(), 10);
    }

    #[test]
    fn a_failure_is_retried_until_the_window_has_passed_and_not_at_its_end() {
        let p = policy(900, 30, 300);
        assert!(p.within(1_000, 1_000));
        assert!(p.within(1_000, 1_000 + 899_999));
        assert!(!p.within(1_000, 1_000 + 900_000));
        assert!(
            !policy(0, 30, 300).within(1_000, 1_000),
            "a zero window retries nothing"
        );
        assert!(
            p.within(5_000, 1_000),
            "a clock behind the record is inside"
        );
    }

    #[test]
    fn the_templates_sixteen_receives_fit_a_fifteen_minute_window_and_five_do_not() {
        let aws = policy(900, 30, 300);
        assert_eq!(aws.fits(16), Ok(()));
        let e = aws.fits(5).unwrap_err();
        assert!(e.contains("5 receives leave 2 retries"), "{e}");
        assert!(e.contains("add up to only 90 s"), "{e}");
        assert_eq!(RetryPolicy::default().fits(16), Ok(()));
        assert_eq!(
            policy(0, 1, 1).fits(1),
            Ok(()),
            "a zero window needs no retry"
        );
    }
}
