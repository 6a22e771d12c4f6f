//! The echo app: the server and the client of Twisted's echo example.
//!
//! The server writes back every byte it receives. The client sends one message, prints what
//! the server said, and closes — printing exactly what Twisted's `echoclient.py` prints, so a
//! reader of the tutorial sees the same lines:
//!
//! ```text
//! Server said: hello boy!
//! connection lost
//! Connection lost - goodbye!
//! ```
//!
//! # Layout
//!
//! | file | job |
//! |---|---|
//! | `server.rs` | [`Echo`], the server protocol, and [`listen`] |
//! | `client.rs` | [`EchoClient`] and [`EchoClientFactory`]: connect, send, print, stop |
//! | `error.rs` | [`Error`]: how a client run can fail |
//!
//! The echo path is the reactor's model of a fast path: socket read → `data_received` →
//! `tx.write` → one flush per loop turn. One copy, one syscall.

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

mod client;
mod error;
mod server;

pub use client::{ClientOutcome, EchoClient, EchoClientFactory, Say};
pub use error::Error;
pub use server::{listen, Echo};

/// The default echo port, as in the tutorial.
pub const DEFAULT_PORT: u16 = 8888;
