//! The engine's notion of time.
//!
//! The engine never reads a clock: every entry point takes the current
//! [`Instant`] from the caller. An `Instant` is a duration since an arbitrary
//! epoch chosen by the caller (the runtime uses a monotonic clock, the tests a
//! virtual one), so a whole link can be replayed deterministically.

use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time, as a duration since an epoch chosen by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `d` after the epoch.
    pub const fn from_duration(d: Duration) -> Self {
        Instant(d)
    }

    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(Duration::from_millis(ms))
    }

    /// The time elapsed since the epoch.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 = self.0.saturating_add(rhs);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an instant before `rhs` gives zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let a = Instant::from_millis(1500);
        assert_eq!(a + Duration::from_millis(500), Instant::from_millis(2000));
        assert_eq!(a - Instant::from_millis(500), Duration::from_secs(1));
        assert_eq!(Instant::from_millis(500) - a, Duration::ZERO);
        let mut b = Instant::ZERO;
        b += Duration::from_secs(3);
        assert_eq!(b.as_duration(), Duration::from_secs(3));
    }
}
