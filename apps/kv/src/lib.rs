//! The Redis-compatible key-value store (`spindle kv`).
//!
//! # Layout
//!
//! Files from the top down: a file uses only files below it in this table, never one above
//! (checked by listing every `crate::`/`super::` path per file). The public API is
//! [`listen`], [`check_aof`], [`engine::Engine`], [`client::Client`], [`config::Config`] and
//! [`error::ConfigError`], and [`alloc::CountingAlloc`] for the binary to install; the rest is
//! `pub(crate)`.
//!
//! | file | job |
//! |---|---|
//! | `session.rs` | the reactor glue, and the only file that sees the reactor: `Session` (one per connection, a `Protocol`), `KvFactory`, `listen` |
//! | `replicas.rs` | reactor glue too: a master's side of replication (PSYNC on a connection, the stream to replicas, the cron's pings and a replica's ACKs) |
//! | `replica_link.rs` | reactor glue too: the connection a replica keeps to its master (handshake, snapshot, stream, ACKs) |
//! | `while_busy.rs` | answering a command while a busy script holds the engine: the table's checks, SCRIPT KILL / FUNCTION KILL / SHUTDOWN NOSAVE, `-BUSY` for the rest |
//! | `engine.rs` | the domain, IO-free: `Engine` (data + shared state), `execute` (checks, MULTI/EXEC by the table's flags, WATCH bookkeeping, serving blocked clients), active expiry |
//! | `cmd/mod.rs` | the command table (`commands()`) and `lookup` |
//! | `cmd/<family>.rs` | one file (or folder) per family: `geo`, `blocking`, `hash`, `zset`, `list`, `set`, `keys`, `string`, `bits`, `connection`, `server`, `info`, `multi`, `pubsub`, and `acl`, `config`, `hll`, `introspect`, `persist`, `repl`, `scripting`, `sharded`, `stream` (a family uses only families after it in this list, and the newer ones none) |
//! | `cmd/args.rs` | argument parsing and reply helpers shared by the families |
//! | `cmd/subcommands.rs` | the container commands' subcommands: their arity check, the names INFO commandstats counts calls under |
//! | `cmd/ctx.rs` | what a handler works with: `Ctx`, a table row (`Command`), its `flags` |
//! | `repl/` | replication's state: role, replication id and offset, the backlog, attached replicas, WAIT |
//! | `shared.rs` | server-wide state other than the data: config, clients list, pub/sub subscriptions, CLIENT PAUSE |
//! | `client.rs` | one connection's state as commands see it |
//! | `busy.rs` | what a script past `busy-reply-threshold` shares with the sessions outside the engine's `RefCell`: its kind, its write flag, KILL and SHUTDOWN requests |
//! | `tracking.rs` | CLIENT TRACKING's state: tracking clients, the keys they read, invalidation messages |
//! | `blocked.rs` | the blocking registry: parking clients in BLPOP & co., serving them first come first served |
//! | `watches.rs` | WATCH's registry: watched keys and the clients whose EXEC must fail |
//! | `acl/` | access control as Redis 7.0's: users, selectors, rules and their descriptions, permission checks against Redis's own command table, the ACL log; its own `//! Layout` in `acl/mod.rs` |
//! | `persist.rs` | background persistence: the forked child of BGSAVE and of AOF rewrites, reaped by the cron; save points, automatic rewrites, the AOF switched at run time, SHUTDOWN's saving, INFO persistence |
//! | `aof/` | the append-only file in Redis 7.0's multi-part layout: manifest, reading commands back (truncation offsets), the writer and its fsync policies, loading a whole AOF; its own `//! Layout` in `aof/mod.rs` |
//! | `rdb/` | Redis 7.0's RDB format: whole datasets (SAVE, loading) and single values (DUMP, RESTORE); its own `//! Layout` in `rdb/mod.rs` |
//! | `db.rs` | the dataset: 16 keyspaces, lazy and active expiry, typed lookups (one hash per key), statistics |
//! | `metrics.rs` | INFO's `instantaneous_*` rates: counters sampled every 100 ms, averaged over 16 samples |
//! | `hdr.rs` | the per-command latency histogram (HdrHistogram's buckets, as Redis's): INFO latencystats, LATENCY HISTOGRAM |
//! | `evict.rs` | `maxmemory`'s eviction: entries' LRU/LFU stamps, the candidate pool, the policies, a round of eviction |
//! | `propagate.rs` | writes as the AOF and replicas receive them: units of commands (MULTI/EXEC around several), replacements of non-deterministic ones, expiries as DEL, the RESP feeds |
//! | `keyspace.rs` | one database: a slab of entries indexed by a hash table; SCAN cursors |
//! | `types/value.rs` | what a key holds: the `Value` enum, and `Collection` for the typed lookups |
//! | `types/hash.rs`, `types/set.rs`, `types/zset.rs` | the hash (packed while small), set (dense members, O(1) random pick) and sorted-set (a skiplist with spans, and a hash index of member to node) types |
//! | `types/str.rs` | the compact byte string used for keys and elements |
//! | `config.rs` | redis.conf-style directives, flags, CONFIG GET/SET, the startup report of a bad one |
//! | `glob.rs` | Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET) |
//! | `error.rs` | the crate's errors: `CmdError` (error replies), `ConfigError` |
//! | `alloc.rs` | the counting global allocator: `used_memory`; the process's RSS |
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

pub(crate) mod acl;
pub mod alloc;
pub(crate) mod aof;
pub(crate) mod blocked;
pub(crate) mod busy;
pub mod client;
pub(crate) mod cmd;
pub mod config;
pub(crate) mod db;
pub(crate) mod digest;
pub mod engine;
pub mod error;
pub(crate) mod evict;
pub(crate) mod glob;
pub(crate) mod hdr;
pub(crate) mod keyspace;
pub(crate) mod metrics;
pub(crate) mod persist;
pub(crate) mod propagate;
pub(crate) mod rdb;
pub(crate) mod repl;
pub(crate) mod replica_link;
pub(crate) mod replicas;
pub mod session;
pub(crate) mod shared;
pub(crate) mod tracking;
pub(crate) mod types;
pub(crate) mod watches;
pub(crate) mod while_busy;

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use aof::check::check_aof;
pub use engine::Engine;
pub use session::listen;

/// The default port, as Redis.
pub const DEFAULT_PORT: u16 = 6379;
