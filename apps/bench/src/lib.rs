//! Load generators (`spindle bench …`): each measures a server, optionally alternating with a
//! reference server in the same run, and prints figures and ratios.
//!
//! # Layout
//!
//! | file | job |
//! |---|---|
//! | `echo.rs` | [`echo`]: round trips per second and latency against echo servers, alternating rounds |
//! | `amqp.rs` | [`amqp`]: a PerfTest-style AMQP load (producers, consumers, confirms, prefetch, rate) |
//! | `rpc.rs` | [`rpc`]: XML-RPC calls per second from concurrent clients, AMQP RPC round trips through a broker |
//! | `error.rs` | [`Error`]: why a run produced no figures |
//!
//! The tools are clients on the reactor like any other; the echo load is one reactor with every
//! connection, the AMQP load one thread and reactor per producer or consumer connection, the RPC
//! loads one reactor per round.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod amqp;
pub mod echo;
mod error;
pub mod rpc;

pub use error::Error;

/// Latency percentiles from a list of samples in microseconds (sorted in place).
pub fn percentile(samples: &mut [u32], p: f64) -> u32 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples
        .get(rank.min(samples.len() - 1))
        .copied()
        .unwrap_or(0)
}
