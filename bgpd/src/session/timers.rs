//! The session's timers as deadlines (RFC 4271 section 8 and section 10), and the jitter
//! that spreads them.
//!
//! Nothing here sleeps: a timer is an `Option<Instant>`, the driver sleeps until
//! [`Timers::next`] and the FSM fires whatever is due at the `now` it is given.

use std::time::{Duration, Instant};

/// The timers of RFC 4271 section 8 (DelayOpenTimer is not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// ConnectRetryTimer (events 9, ConnectRetryTimer_Expires).
    ConnectRetry,
    /// HoldTimer (event 10, HoldTimer_Expires).
    Hold,
    /// KeepaliveTimer (event 11, KeepaliveTimer_Expires).
    Keepalive,
    /// IdleHoldTimer (event 13, IdleHoldTimer_Expires): automatic restart after an error.
    IdleHold,
}

/// Deadlines of the running timers; `None` is a stopped timer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timers {
    /// ConnectRetryTimer.
    pub connect_retry: Option<Instant>,
    /// HoldTimer.
    pub hold: Option<Instant>,
    /// KeepaliveTimer.
    pub keepalive: Option<Instant>,
    /// IdleHoldTimer.
    pub idle_hold: Option<Instant>,
}

impl Timers {
    /// The earliest deadline, if any timer runs.
    pub fn next(&self) -> Option<Instant> {
        [
            self.connect_retry,
            self.hold,
            self.keepalive,
            self.idle_hold,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The timer due at `now` that fires first (earliest deadline; hold before keepalive on
    /// a tie, so a dead peer is noticed before we send into it), and stops it.
    pub fn take_due(&mut self, now: Instant) -> Option<Timer> {
        let candidates = [
            (self.hold, Timer::Hold),
            (self.keepalive, Timer::Keepalive),
            (self.connect_retry, Timer::ConnectRetry),
            (self.idle_hold, Timer::IdleHold),
        ];
        let mut best: Option<(Instant, Timer)> = None;
        for (deadline, timer) in candidates {
            if let Some(at) = deadline.filter(|at| *at <= now) {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, timer));
                }
            }
        }
        let (_, timer) = best?;
        *self.slot(timer) = None;
        Some(timer)
    }

    /// The deadline slot of one timer.
    pub fn slot(&mut self, timer: Timer) -> &mut Option<Instant> {
        match timer {
            Timer::ConnectRetry => &mut self.connect_retry,
            Timer::Hold => &mut self.hold,
            Timer::Keepalive => &mut self.keepalive,
            Timer::IdleHold => &mut self.idle_hold,
        }
    }

    /// Stops the connection's timers (hold and keepalive).
    pub fn stop_connection_timers(&mut self) {
        self.hold = None;
        self.keepalive = None;
    }

    /// Stops every timer.
    pub fn stop_all(&mut self) {
        *self = Self::default();
    }
}

/// A small deterministic generator for jitter (Knuth's MMIX LCG): no `rand` needed, and
/// tests are reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// `d` multiplied by a factor between 0.75 and 1 (RFC 4271 section 10).
    pub fn apply(&mut self, d: Duration) -> Duration {
        let permille = 750 + u32::try_from(self.next_u64() % 251).unwrap_or(0);
        d.saturating_mul(permille) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let mut j = Jitter::new(42);
        let base = Duration::from_secs(100);
        let values: Vec<Duration> = (0..200).map(|_| j.apply(base)).collect();
        assert!(values
            .iter()
            .all(|d| *d >= Duration::from_secs(75) && *d <= base));
        assert!(values.iter().any(|d| *d != values[0]));
    }

    #[test]
    fn earliest_due_timer_fires_first() {
        let t0 = Instant::now();
        let mut t = Timers {
            keepalive: Some(t0 + Duration::from_secs(1)),
            hold: Some(t0 + Duration::from_secs(2)),
            ..Timers::default()
        };
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.take_due(t0), None);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(t.take_due(later), Some(Timer::Keepalive));
        assert_eq!(t.take_due(later), Some(Timer::Hold));
        assert_eq!(t.take_due(later), None);
    }
}
