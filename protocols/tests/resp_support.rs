//! Helpers shared by the `resp_*` integration tests, which include this file
//! with `#[path = "resp_support.rs"] mod support;` (Cargo also builds it as a
//! test target of its own, with no tests).
//!
//! - a counting global allocator, per thread, so a test can assert that a
//!   decoder allocated nothing (or little) without being disturbed by tests
//!   running in parallel on other threads;
//! - [`chunkings`], the cuttings every table case runs under;
//! - [`Rng`], SplitMix64, so failures reproduce.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static ALLOCATED_BYTES: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = ALLOCATED_BYTES.try_with(|n| n.set(n.get() + size));
}

/// The system allocator, counting this thread's allocations and their bytes.
#[derive(Debug)]
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; counting touches
// only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What `f` allocated on this thread: its result, the number of allocations
/// (reallocations included) and their total size in bytes.
pub fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let count = ALLOCATIONS.with(Cell::get);
    let bytes = ALLOCATED_BYTES.with(Cell::get);
    let result = f();
    (
        result,
        ALLOCATIONS.with(Cell::get) - count,
        ALLOCATED_BYTES.with(Cell::get) - bytes,
    )
}

/// The cuttings every table case runs under: whole, one byte at a time, and
/// split in two at every offset.
pub fn chunkings(input: &[u8]) -> Vec<(String, Vec<&[u8]>)> {
    let mut out = vec![
        ("whole".to_owned(), vec![input]),
        ("one byte at a time".to_owned(), input.chunks(1).collect()),
    ];
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        out.push((format!("split at {at}"), vec![a, b]));
    }
    out
}

/// Deterministic pseudo-random generator (SplitMix64).
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `len` bytes drawn from `alphabet`.
    pub fn bytes_from(&mut self, alphabet: &[u8], len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }

    /// Cuts `data` into chunks of 1 to `max` bytes.
    pub fn split<'a>(&mut self, mut data: &'a [u8], max: usize) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let n = (1 + self.below(max)).min(data.len());
            let (a, b) = data.split_at(n);
            out.push(a);
            data = b;
        }
        out
    }
}
