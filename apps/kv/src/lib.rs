//! The Redis-compatible key-value store (`spindle kv`).
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`server`] | the reactor glue: `Session` (one per connection), `Server` (shared), `listen` |
//! | [`cmd`] | the command table and one file per family of commands |
//! | [`blocking`] | parking clients in BLPOP & co., serving them first come first served |
//! | [`db`] | the dataset: 16 keyspaces, lazy and active expiry, statistics |
//! | [`keyspace`] | one database: a slab of entries indexed by a hash table; SCAN cursors |
//! | [`value`] | what a key holds: strings, integers, lists, hashes, sets, sorted sets |
//! | [`set`](mod@set) | the set type: dense members, O(1) random pick |
//! | [`hash`](mod@hash) | the hash type: packed while small, a table once large |
//! | [`zset`] | the sorted-set type: member → score map plus a skiplist with spans (ranks in O(log n)) |
//! | [`str`](mod@str) | the compact byte string used for keys and elements |
//! | [`config`] | redis.conf-style directives, flags, CONFIG GET/SET |
//! | [`glob`] | Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET) |
//!
//! The RESP codec itself is sans-IO, in `spindle_protocols::resp`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod blocking;
pub mod cmd;
pub mod config;
pub mod db;
pub mod glob;
pub mod hash;
pub mod keyspace;
pub mod server;
pub mod set;
pub mod str;
pub mod value;
pub mod zset;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

/// The default port, as Redis.
pub const DEFAULT_PORT: u16 = 6379;
