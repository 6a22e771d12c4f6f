//! [`CountingAlloc`]: the system allocator with a count of the bytes it has handed out and not
//! yet taken back — what INFO reports as `used_memory` and what `maxmemory` is compared with,
//! as Redis compares `zmalloc_used_memory()`.
//!
//! A binary opts in with `#[global_allocator]` (the `spindle` binary does); where nothing
//! installs it (unit tests, a library user with an allocator of their own) [`used`] stays 0
//! and `maxmemory` never triggers.
//!
//! The count is one relaxed atomic add per allocation and per free: the bytes asked for, not
//! the allocator's rounded-up size classes, so it is the same whatever allocator sits below.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes allocated and not yet freed, process-wide.
static USED: AtomicUsize = AtomicUsize::new(0);
/// The highest [`used`] seen by [`sample_peak`].
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting what it hands out. Install it with
/// `#[global_allocator] static A: spindle_kv::alloc::CountingAlloc = spindle_kv::alloc::CountingAlloc;`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

// SAFETY: every call is forwarded to `System` with the caller's own arguments, so `System`'s
// guarantees hold unchanged; the counter is only bookkeeping beside them.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received (see the impl's comment).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            USED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            USED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) };
        USED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // On failure the old block stays allocated and counted.
            if new_size >= layout.size() {
                USED.fetch_add(new_size - layout.size(), Ordering::Relaxed);
            } else {
                USED.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Bytes the process has allocated and not freed (0 while [`CountingAlloc`] is not the
/// global allocator).
pub fn used() -> usize {
    USED.load(Ordering::Relaxed)
}

/// [`used`] now, also raising the peak [`peak`] reports; called where Redis samples its peak
/// (before commands, INFO).
pub fn sample_peak() -> usize {
    let now = used();
    PEAK.fetch_max(now, Ordering::Relaxed);
    now
}

/// The highest [`used`] seen by [`sample_peak`] (INFO's `used_memory_peak`).
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// The resident set size of this process, from /proc (0 where unavailable): INFO's
/// `used_memory_rss`, MEMORY STATS and DOCTOR.
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
