//! [`Progress`]: a start-up step's progress line on a terminal.

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// A step says how far it has got once it has run this long...
pub const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// ...and then at most this often.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Progress of a long start-up step (a queue's recovery, loading a store's files), on a
/// terminal only: once it has run for [`PROGRESS_AFTER`], a line on stderr rewritten in place
/// (`\r`) at most every [`PROGRESS_EVERY`], ended with a newline when the step is over.
#[derive(Debug)]
pub struct Progress {
    label: String,
    shown: bool,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    /// Progress of the step `label` names; shown only when `terminal` (stderr is one).
    pub fn new(label: impl Into<String>, terminal: bool) -> Progress {
        Progress {
            label: label.into(),
            shown: terminal,
            start: Instant::now(),
            last: None,
        }
    }

    /// Shows `done` of `total` bytes, if it is time to.
    pub fn report(&mut self, done: u64, total: u64) {
        if let Some(line) = self.line(Instant::now(), done, total) {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r{line}");
            let _ = err.flush();
        }
    }

    /// The line to show at `now`, if one is due: not before [`PROGRESS_AFTER`], then at most
    /// every [`PROGRESS_EVERY`] (the end is always shown once a line was).
    fn line(&mut self, now: Instant, done: u64, total: u64) -> Option<String> {
        if !self.shown || now.saturating_duration_since(self.start) < PROGRESS_AFTER {
            return None;
        }
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= PROGRESS_EVERY);
        if !due && done < total {
            return None;
        }
        self.last = Some(now);
        let percent = (done.saturating_mul(100))
            .checked_div(total)
            .unwrap_or(100)
            .min(100);
        Some(format!(
            "{}: {} of {} MB ({percent}%)",
            self.label,
            done >> 20,
            total >> 20
        ))
    }

    /// Ends the line, if one was shown.
    pub fn finish(&mut self) {
        if self.last.take().is_some() {
            let _ = writeln!(io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_shows_after_a_second_then_every_quarter_second_and_the_end() {
        let label = "recovering queue 'q' in vhost '/'";
        let mut p = Progress::new(label, true);
        let t0 = p.start;
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(
            p.line(at(500), 10 << 20, 100 << 20),
            None,
            "not in the first second"
        );
        assert_eq!(
            p.line(at(1000), 10 << 20, 100 << 20).as_deref(),
            Some("recovering queue 'q' in vhost '/': 10 of 100 MB (10%)")
        );
        assert_eq!(p.line(at(1100), 20 << 20, 100 << 20), None, "too soon");
        assert!(p.line(at(1250), 30 << 20, 100 << 20).is_some());
        assert_eq!(
            p.line(at(1300), 100 << 20, 100 << 20).as_deref(),
            Some("recovering queue 'q' in vhost '/': 100 of 100 MB (100%)"),
            "the end is shown whenever it comes"
        );
        // Not on a terminal: nothing, ever.
        let mut quiet = Progress::new(label, false);
        let t0 = quiet.start;
        assert_eq!(quiet.line(t0 + Duration::from_secs(5), 1, 2), None);
        // A recovery over within the second shows nothing.
        let mut quick = Progress::new(label, true);
        let t0 = quick.start;
        assert_eq!(quick.line(t0 + Duration::from_millis(20), 2, 2), None);
    }
}
