//! The Redis-compatible key-value store (`spindle kv`).
//!
//! # Layout
//!
//! Files from the top down: a file uses only the ones below it (and its own children), never
//! one above.
//!
//! | file | job |
//! |---|---|
//! | [`session`] | the reactor glue, and the only file that sees it: `Session` (one per connection, a `Protocol`), `KvFactory`, [`listen`] |
//! | [`engine`] | the domain, IO-free: `Engine` (data + shared state), `execute` (checks, MULTI/EXEC, WATCH bookkeeping, serving blocked clients), active expiry |
//! | [`cmd`] | `cmd/mod.rs`: the command table; one file per family (`string`, `list`, `hash`, `set`, `zset`, `bits`, `keys`, `blocking`, `pubsub`, `multi`, `connection`, `server`); below them `cmd/ctx.rs` (handler context, table row, flags) and `cmd/args.rs` (argument parsing) |
//! | [`shared`] | server-wide state other than the data: config, clients list, pub/sub subscriptions, CLIENT PAUSE |
//! | [`client`] | one connection's state as commands see it |
//! | [`blocked`] | the blocking registry: parking clients in BLPOP & co., serving them first come first served |
//! | [`watches`] | WATCH's registry: watched keys and the clients whose EXEC must fail |
//! | [`db`] | the dataset: 16 keyspaces, lazy and active expiry, typed lookups, statistics |
//! | [`keyspace`] | one database: a slab of entries indexed by a hash table; SCAN cursors |
//! | [`types`] | what a key holds: `types/value.rs` (the enum), `hash.rs` (packed while small, a table once large), `set.rs` (dense members, O(1) random pick), `zset.rs` (member → score map plus a skiplist with spans), `str.rs` (the compact byte string for keys and elements) |
//! | [`config`] | redis.conf-style directives, flags, CONFIG GET/SET |
//! | [`glob`] | Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET) |
//! | [`error`] | the crate's errors: `CmdError` (error replies), `ConfigError` |
//!
//! State files are named apart from the command families that use them (`blocked.rs` is the
//! registry, `cmd/blocking.rs` the BLPOP family; `types/hash.rs` the type, `cmd/hash.rs` the
//! HSET family), so a file name says one thing.
//!
//! The RESP codec itself is sans-IO, in `spindle_protocols::resp`.

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

pub mod blocked;
pub mod client;
pub mod cmd;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod glob;
pub mod keyspace;
pub mod session;
pub mod shared;
pub mod types;
pub mod watches;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use engine::Engine;
pub use session::listen;

/// The default port, as Redis.
pub const DEFAULT_PORT: u16 = 6379;

/// The paths the command line and the examples used before the engine and the session were
/// split: `server::listen` starts the store, `server::Server` is the engine.
pub mod server {
    pub use crate::engine::Engine as Server;
    pub use crate::session::listen;
}
