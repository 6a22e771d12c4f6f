//! Spindle: an event-driven networking framework in the mould of Twisted, with real servers
//! built on it.
//!
//! This facade re-exports the layers and owns the `spindle` command line:
//!
//! | crate / module | re-exported as | job |
//! |---|---|---|
//! | `spindle-reactor` | [`reactor`] | the event loop, Protocol/Transport/Factory, timers, test doubles |
//! | `spindle-protocols` | [`protocols`] | sans-IO codecs: line and length-prefixed receivers, RESP, AMQP 0-9-1, HTTP/1.1, XML-RPC |
//! | `spindle-echo` (`apps/echo`) | [`echo`] | the echo server and client of Twisted's echo example |
//! | `spindle-kv` (`apps/kv`) | [`kv`] | the Redis-compatible key-value store (`spindle kv`) |
//! | `spindle-amqp` (`apps/amqp`) | [`amqp`] | the AMQP 0-9-1 client (`spindle amqp …`) |
//! | `spindle-bench` (`apps/bench`) | [`bench`](mod@bench) | the load generators (`spindle bench …`) |
//! | `spindle-broker` (`apps/broker`) | [`broker`] | the AMQP 0-9-1 broker (`spindle broker`) |
//! | `spindle-http` (`http/`) | [`http`] | the HTTP/1.1 server (router, handlers) and client on the reactor |
//! | `spindle-rpc` (`apps/rpc`) | [`rpc`] | RPC services over XML-RPC and AMQP (`spindle rpc`) |
//! | `src/cli/` | [`cli`] | the `spindle` command line: one parser for every subcommand (`amqp.rs`: `spindle amqp …`) |
//! | `src/logger.rs` | [`logger`] | the stderr logger the binary installs (`--trace`, `SPINDLE_LOG`) |
//!
//! Start with [`reactor::guide`], then the numbered programs in `examples/`.

#![deny(missing_docs)]

pub mod cli;
pub mod logger;

pub use spindle_amqp as amqp;
pub use spindle_bench as bench;
pub use spindle_broker as broker;
pub use spindle_echo as echo;
pub use spindle_http as http;
pub use spindle_kv as kv;
pub use spindle_protocols as protocols;
pub use spindle_reactor as reactor;
pub use spindle_rpc as rpc;
