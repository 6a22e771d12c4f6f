//! Spindle's bundled apps — protocol plugins on the reactor — and the `spindle` command line.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`amqp`] | an AMQP 0-9-1 client for RabbitMQ and `spindle amqp publish\|consume\|get\|declare-queue` |
//! | [`echo`] | the echo server and client of Twisted's echo example |
//! | [`kv`] | the Redis-compatible key-value store (`spindle kv`) |
//! | [`bench`] | load generators: `spindle bench echo` |
//! | [`cli`] | argument parsing and the subcommands of `spindle` |
//! | [`logger`] | the stderr logger the binary installs (`--trace`, `SPINDLE_LOG`) |
//!
//! Each app keeps its domain logic free of IO and glues it to the reactor with a thin
//! [`Protocol`](spindle_reactor::Protocol) implementation.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod amqp;
pub mod bench;
pub mod cli;
pub mod echo;
pub mod kv;
pub mod logger;
