//! `Load`: how busy the loop has been lately, which decides busy polling
//! ([`ReactorConfig::busy_poll`](crate::ReactorConfig::busy_poll)).

use std::time::{Duration, Instant};

use crate::Clock;

/// The loop's recent utilization, for busy polling: time between polls is work, time inside
/// a poll (blocking or spinning) is idle, summed over windows of about a millisecond.
#[derive(Debug, Default)]
pub(super) struct Load {
    /// When the last poll returned, and when the last poll that brought events returned.
    returned: Option<Instant>,
    last_event: Option<Instant>,
    /// When the current poll started.
    started: Option<Instant>,
    /// Work and total time in the current window.
    busy: Duration,
    total: Duration,
    /// The last full window's verdict: busy at least half the time.
    spinning: bool,
}

impl Load {
    const WINDOW: Duration = Duration::from_millis(1);

    /// Called before polling: accounts the work since the last poll, and says whether to poll
    /// without sleeping.
    pub(super) fn should_spin(&mut self, clock: &dyn Clock, busy_poll: Duration) -> bool {
        let now = clock.now();
        if let Some(returned) = self.returned {
            let work = now.saturating_duration_since(returned);
            self.busy += work;
            self.total += work;
        }
        self.started = Some(now);
        self.spinning
            && self
                .last_event
                .is_some_and(|t| now.saturating_duration_since(t) < busy_poll)
    }

    /// Called after polling: accounts the time spent in the poll, closes the window when due.
    pub(super) fn polled(&mut self, now: Instant, events: bool) {
        if let Some(started) = self.started.take() {
            self.total += now.saturating_duration_since(started);
        }
        self.returned = Some(now);
        if events {
            self.last_event = Some(now);
        }
        if self.total >= Self::WINDOW {
            self.spinning = self.busy * 2 >= self.total;
            self.busy = Duration::ZERO;
            self.total = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Load;
    use crate::testing::Clock;
    use std::time::Duration;

    const WINDOW: Duration = Duration::from_micros(200);

    /// One loop turn: `work` between polls, then a poll lasting `wait` that brings events or not.
    fn turn(load: &mut Load, clock: &Clock, work: u64, wait: u64, events: bool) -> bool {
        clock.advance(Duration::from_micros(work));
        let spin = load.should_spin(clock, WINDOW);
        clock.advance(Duration::from_micros(wait));
        load.polled(clock.now(), events);
        spin
    }

    #[test]
    fn a_loop_busy_most_of_the_time_polls_without_sleeping_until_events_stop() {
        let (clock, mut load) = (Clock::new(), Load::default());
        // A millisecond at 80 % busy: no spinning before the window has a verdict.
        for _ in 0..11 {
            assert!(!turn(&mut load, &clock, 80, 20, true));
        }
        assert!(turn(&mut load, &clock, 80, 20, true), "busy: spin");
        // Events stop: spinning goes on only up to the busy-poll window after the last one.
        assert!(turn(&mut load, &clock, 1, 250, false));
        assert!(
            !turn(&mut load, &clock, 1, 0, false),
            "200 µs without events: sleep"
        );
    }

    #[test]
    fn a_lightly_loaded_loop_always_sleeps() {
        let (clock, mut load) = (Clock::new(), Load::default());
        for _ in 0..50 {
            assert!(
                !turn(&mut load, &clock, 10, 90, true),
                "10 % busy: never spin"
            );
        }
        // Load that drops is noticed at the next window.
        let (clock, mut load) = (Clock::new(), Load::default());
        for _ in 0..11 {
            turn(&mut load, &clock, 90, 10, true);
        }
        assert!(turn(&mut load, &clock, 90, 10, true));
        for _ in 0..12 {
            turn(&mut load, &clock, 10, 90, true);
        }
        assert!(
            !turn(&mut load, &clock, 10, 90, true),
            "load dropped: sleep again"
        );
    }
}
