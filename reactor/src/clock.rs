//! Where the reactor's idea of "now" comes from.
//!
//! Protocols never call `Instant::now()`: they ask their transport, which asks the reactor's
//! clock. The real clock reads the monotonic system clock; [`testing::Clock`](crate::testing::Clock)
//! is a fake that only moves when a test advances it, so timeout and heartbeat tests need no sleep.

use std::fmt;
use std::time::Instant;

/// A source of monotonic time for a reactor.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Clock")
    }
}
