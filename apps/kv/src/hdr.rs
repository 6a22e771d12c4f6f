//! [`Histogram`]: a command's latency distribution as Redis 7.0 keeps it — an HdrHistogram
//! over 1 ns..1 s with 2 significant digits (`LATENCY_HISTOGRAM_MIN_VALUE`, `…_MAX_VALUE`,
//! `…_PRECISION`), so that INFO latencystats' percentiles and LATENCY HISTOGRAM's buckets come
//! out as redis-server's do.
//!
//! The layout is HdrHistogram's for those parameters: values below 256 are counted one by one;
//! above, each power-of-two range `[2^k, 2^(k+1))` is cut into 128 equal sub-buckets, so a value
//! is known to within 1/128 (< 1 %) of itself. That is 24 ranges of 128 counts (3,072 counts,
//! 24 KB), allocated on a command's first call, as Redis does.

/// Sub-buckets of a range: the smallest power of two ≥ 2 × 10^2 (two significant digits).
const SUB_BUCKET_COUNT: i64 = 256;
const SUB_BUCKET_HALF_COUNT: i64 = SUB_BUCKET_COUNT / 2;
/// log2 of [`SUB_BUCKET_HALF_COUNT`].
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = 7;
const SUB_BUCKET_MASK: i64 = SUB_BUCKET_COUNT - 1;
/// Ranges needed to reach [`MAX_VALUE`]: 256 · 2^22 > 10^9.
const BUCKET_COUNT: i64 = 23;
const COUNTS_LEN: usize = ((BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT) as usize;

/// The smallest value recorded (Redis's `LATENCY_HISTOGRAM_MIN_VALUE`, ns).
pub(crate) const MIN_VALUE: i64 = 1;
/// The largest value recorded (Redis's `LATENCY_HISTOGRAM_MAX_VALUE`, ns: one second).
pub(crate) const MAX_VALUE: i64 = 1_000_000_000;

/// Counts of recorded values (nanoseconds) in HdrHistogram's buckets.
#[derive(Clone, PartialEq)]
pub(crate) struct Histogram {
    counts: Box<[u64]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; COUNTS_LEN].into_boxed_slice(),
            total: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

fn bucket_index(value: i64) -> i64 {
    // The smallest power of two containing the value, less the sub-bucket magnitude.
    let pow2ceiling = 64 - i64::from((value | SUB_BUCKET_MASK).leading_zeros());
    pow2ceiling - (i64::from(SUB_BUCKET_HALF_COUNT_MAGNITUDE) + 1)
}

fn sub_bucket_index(value: i64, bucket: i64) -> i64 {
    value >> bucket
}

fn counts_index(bucket: i64, sub_bucket: i64) -> i64 {
    ((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + (sub_bucket - SUB_BUCKET_HALF_COUNT)
}

/// The lowest value counted at counts index `index` (`hdr_value_at_index`).
fn value_at_index(index: i64) -> i64 {
    let mut bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1;
    let mut sub_bucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if bucket < 0 {
        sub_bucket -= SUB_BUCKET_HALF_COUNT;
        bucket = 0;
    }
    sub_bucket << bucket
}

/// The lowest value counted as equal to `value`.
pub(crate) fn lowest_equivalent(value: i64) -> i64 {
    let bucket = bucket_index(value);
    sub_bucket_index(value, bucket) << bucket
}

/// The highest value counted as equal to `value` (what HdrHistogram reports for a bucket).
pub(crate) fn highest_equivalent(value: i64) -> i64 {
    let bucket = bucket_index(value);
    let sub_bucket = sub_bucket_index(value, bucket);
    let adjusted = if sub_bucket >= SUB_BUCKET_COUNT {
        bucket + 1
    } else {
        bucket
    };
    lowest_equivalent(value) + (1i64 << adjusted) - 1
}

/// The counts index of `value`, within the array for values in MIN_VALUE..=MAX_VALUE.
fn index_of(value: i64) -> usize {
    let bucket = bucket_index(value);
    counts_index(bucket, sub_bucket_index(value, bucket)).clamp(0, COUNTS_LEN as i64 - 1) as usize
}

impl Histogram {
    /// Counts one value of `nanos`, clamped to [`MIN_VALUE`]..=[`MAX_VALUE`] as Redis's
    /// `updateCommandLatencyHistogram` does.
    pub(crate) fn record(&mut self, nanos: u64) {
        let v = (nanos.min(MAX_VALUE as u64) as i64).max(MIN_VALUE);
        if let Some(c) = self.counts.get_mut(index_of(v)) {
            *c += 1;
        }
        self.total += 1;
    }

    /// Values recorded.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The value at `percentile` (0–100), as `hdr_value_at_percentile`: the highest value
    /// equivalent to the first bucket whose cumulative count reaches the percentile's share.
    pub(crate) fn value_at_percentile(&self, percentile: f64) -> i64 {
        let requested = percentile.min(100.0);
        let wanted = (((requested / 100.0) * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut cumulative = 0u64;
        let mut value = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            cumulative += c;
            if cumulative >= wanted {
                value = value_at_index(i as i64);
                break;
            }
        }
        if percentile == 0.0 {
            lowest_equivalent(value)
        } else {
            highest_equivalent(value)
        }
    }

    /// How many recorded values are counted as at most `value` (all buckets up to `value`'s).
    pub(crate) fn count_up_to(&self, value: i64) -> u64 {
        let last = index_of(value.clamp(MIN_VALUE, MAX_VALUE));
        self.counts.iter().take(last + 1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_as_hdr_histogram() {
        // One by one below 256, then 128 sub-buckets per power of two.
        assert_eq!(highest_equivalent(1), 1);
        assert_eq!(highest_equivalent(255), 255);
        assert_eq!(highest_equivalent(256), 257);
        assert_eq!(lowest_equivalent(1000), 1000);
        assert_eq!(highest_equivalent(1000), 1003);
        assert_eq!(highest_equivalent(1024), 1031);
        assert_eq!(highest_equivalent(131_072), 132_095);
        // Every value's index is inside the array, up to MAX_VALUE.
        assert!(index_of(MAX_VALUE) < COUNTS_LEN);
        assert_eq!(value_at_index(index_of(1000) as i64), 1000);
    }

    #[test]
    fn percentiles_as_redis_reports_them() {
        let mut h = Histogram::default();
        // 1,000 calls of 1 µs, 10 of 100 µs, 1 of 10 ms (Redis records whole microseconds
        // times 1000).
        for _ in 0..1000 {
            h.record(1_000);
        }
        for _ in 0..10 {
            h.record(100_000);
        }
        h.record(10_000_000);
        assert_eq!(h.total(), 1011);
        assert_eq!(h.value_at_percentile(50.0), 1003);
        assert_eq!(h.value_at_percentile(99.0), 100_351);
        assert_eq!(h.value_at_percentile(99.9), 100_351);
        assert_eq!(h.value_at_percentile(100.0), 10_027_007);
        assert_eq!(h.count_up_to(1024), 1000);
        // Out of range values are clamped, as Redis records them.
        h.record(0);
        h.record(5_000_000_000);
        assert_eq!(h.value_at_percentile(0.0), 1);
        assert_eq!(h.count_up_to(1), 1);
        assert_eq!(h.value_at_percentile(100.0), highest_equivalent(MAX_VALUE));
    }
}
