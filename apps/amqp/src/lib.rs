//! An AMQP 0-9-1 client for RabbitMQ, as a [`Protocol`](spindle_reactor::Protocol) on the
//! reactor.
//!
//! # Layout
//!
//! From the bottom up; a file imports only files above it in this table, never below.
//!
//! | file | job |
//! |---|---|
//! | `error.rs` | [`ClientError`], [`ServerError`], [`BROKER_HINT`] |
//! | `uri.rs` | [`AmqpUri`] (`amqp://user:pass@host:port/vhost`), [`UriError`] |
//! | `config.rs` | [`Config`]: the URI and what to ask the broker for |
//! | `event.rs` | what a handler is told: [`Reply`], [`Delivery`], [`Returned`] |
//! | `option.rs` | the commands' arguments: [`QueueOptions`], [`ExchangeOptions`], [`ConsumeOptions`], [`Publish`] |
//! | `state.rs` | the connection's and each channel's state, which the handles borrow |
//! | `connection.rs` | the [`Connection`] handle: open channels, close, timers; frames out |
//! | `channel.rs` | the [`Channel`] handle: the channel's commands |
//! | `handler.rs` | [`ConnectionHandler`]: the callbacks a program implements |
//! | `driver.rs` | the state machine: handshake, channel frames to events, heartbeats, closes |
//! | `client.rs` | [`Client`] (the reactor's [`Protocol`](spindle_reactor::Protocol)) and [`run`] |
//!
//! The codec (frames, methods, tables, content assembly) is `spindle_protocols::amqp`; this
//! crate is the client's state machine and its API. The command line (`spindle amqp …`) is in
//! the `spindle` package.
//!
//! # The API, and why this shape
//!
//! The user implements [`ConnectionHandler`]: `on_open`, then events (`on_channel_open`,
//! `on_reply`, `on_delivery`, `on_get`, `on_confirm`, `on_return`, `on_channel_error`,
//! `on_writable`, `on_closed`). Each callback is handed a [`Connection`] or [`Channel`] handle
//! that borrows the client's state and the transport for that call only, and commands are
//! methods on it (`ch.queue_declare(..)`, `ch.publish(..)`, `ch.ack(..)`).
//!
//! - It is the reactor's own rule (context passed in, never stored): the handler owns only
//!   its state, so there is no `Rc<RefCell<…>>` cycle between it and the connection, and the
//!   borrow checker forbids using a handle outside its callback.
//! - It reads like pika's callback style, which the RabbitMQ tutorials are written in, while
//!   a Rust user matches on typed events ([`Reply`]) instead of registering closures.
//! - Commands never wait: the broker answers a channel's methods in order, so a handler may
//!   pipeline (open a channel, declare, consume, in one callback) and each answer arrives as
//!   an event. [`run`] drives one connection to its end and returns the handler, so a
//!   command-line program is `let h = run(config, MyHandler::default())?;`.
//! - Errors have one path: every command returns `Result<_, ClientError>`, so a callback uses
//!   `?`, and an `Err` from a callback closes the connection and reaches `on_closed`. The
//!   broker's channel errors (404, 406, ...) reach `on_channel_error` with the connection
//!   still open; its connection errors (403, 320, 5xx) reach `on_closed`.
//!
//! # Back-pressure
//!
//! [`Channel::publish`] refuses with [`ClientError::Paused`], queueing nothing, while the
//! output buffer holds [`Config::max_buffered`] bytes (64 KiB) or more, while the reactor has
//! paused the client (`pause_producing`: its buffer passed the high-water mark), and while the
//! broker blocks the connection (`connection.blocked`). `on_writable` then says when to go on.
//! So what a publisher queues is bounded by the limit plus one message. Reading is not paused
//! (acks, confirms and heartbeats keep flowing); a consumer's deliveries are bounded by its
//! prefetch ([`Channel::qos`]).
//!
//! # Example
//!
//! ```no_run
//! use spindle_amqp::{run, Channel, ClientError, Config, Connection, ConnectionHandler, Publish, QueueOptions};
//!
//! struct Hello;
//! impl ConnectionHandler for Hello {
//!     fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
//!         let id = conn.open_channel()?;
//!         let mut ch = conn.channel(id);
//!         ch.queue_declare("hello", &QueueOptions::default())?;
//!         ch.publish(&Publish::to("", "hello"), b"Hello World!")?;
//!         ch.connection().close();
//!         Ok(())
//!     }
//! }
//! run(Config::default(), Hello).unwrap();
//! ```

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

mod channel;
mod client;
mod config;
mod connection;
mod driver;
mod error;
mod event;
mod handler;
mod option;
mod state;
mod uri;

#[cfg(test)]
mod tests;

pub use channel::Channel;
pub use client::{run, Client, CONNECT_TIMEOUT};
pub use config::Config;
pub use connection::Connection;
pub use error::{report, ClientError, ServerError, BROKER_HINT};
pub use event::{Delivery, Reply, Returned};
pub use handler::ConnectionHandler;
pub use option::{ConsumeOptions, ExchangeOptions, Publish, QueueOptions};
pub use spindle_reactor::TimerId;
pub use uri::{AmqpUri, UriError, DEFAULT_PORT};
