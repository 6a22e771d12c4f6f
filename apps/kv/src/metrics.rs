//! [`Instantaneous`]: the `instantaneous_*` fields of INFO stats — rates sampled by the cron
//! every 100 ms into rings of 16, reported as the mean of the ring, as Redis's
//! `trackInstantaneousMetric` and `getInstantaneousMetric` do. A rate thus reflects about the
//! last 1.6 seconds and reads 0 until the cron has sampled.

/// Samples kept per metric (Redis's `STATS_METRIC_SAMPLES`).
const SAMPLES: usize = 16;

/// The cron samples the counters this often (Redis's `run_with_period(100)`).
pub(crate) const PERIOD_MS: u64 = 100;

/// One counter's rate samples.
#[derive(Debug, Default, Clone)]
pub(crate) struct Metric {
    samples: [u64; SAMPLES],
    idx: usize,
    last_ms: u64,
    last_count: u64,
}

impl Metric {
    /// Takes a sample: the rate per second of `count` since the previous sample at `now_ms`.
    pub(crate) fn track(&mut self, count: u64, now_ms: u64) {
        let t = now_ms.saturating_sub(self.last_ms);
        let delta = count.saturating_sub(self.last_count);
        let per_sec = (delta * 1000).checked_div(t).unwrap_or(0);
        if let Some(slot) = self.samples.get_mut(self.idx) {
            *slot = per_sec;
        }
        self.idx = (self.idx + 1) % SAMPLES;
        self.last_ms = now_ms;
        self.last_count = count;
    }

    /// The mean of the samples, per second.
    pub(crate) fn rate(&self) -> u64 {
        self.samples.iter().sum::<u64>() / SAMPLES as u64
    }
}

/// The sampled rates INFO stats reports: commands, and network bytes in and out (all of
/// them, and the replication stream's alone).
#[derive(Debug, Default, Clone)]
pub(crate) struct Instantaneous {
    /// Commands per second.
    pub(crate) ops: Metric,
    /// Bytes per second read and written, the replication stream included.
    pub(crate) net_input: Metric,
    pub(crate) net_output: Metric,
    /// Bytes per second of the replication stream read from a master and sent to replicas.
    pub(crate) repl_input: Metric,
    pub(crate) repl_output: Metric,
    /// When the last sample was taken (Unix ms), so the cron samples every [`PERIOD_MS`]
    /// whatever its own frequency (`hz`).
    pub(crate) sampled_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_mean_of_sixteen_samples() {
        let mut m = Metric::default();
        m.track(0, 1_000);
        assert_eq!(m.rate(), 0);
        // 50 more every 100 ms: 500 per second once the ring is full.
        for i in 1..=16u64 {
            m.track(50 * i, 1_000 + 100 * i);
        }
        assert_eq!(m.rate(), 500);
        // A quiet period brings it down sample by sample.
        m.track(800, 2_700);
        assert_eq!(m.rate(), 500 * 15 / 16);
        // No time elapsed: a zero sample rather than a division by zero.
        m.track(900, 2_700);
        assert_eq!(m.rate(), 500 * 14 / 16);
    }
}
