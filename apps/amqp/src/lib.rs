//! An AMQP 0-9-1 client for RabbitMQ, as a [`Protocol`](spindle_reactor::Protocol) on the
//! reactor, and the `spindle amqp` command line.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`uri`] | `amqp://user:pass@host:port/vhost` |
//! | [`connection`] | [`Client`] (the protocol: handshake, heartbeats, closes, dispatch), [`ConnectionHandler`], [`Connection`], [`run`] |
//! | [`channel`] | [`Channel`] (the commands), their options, [`Reply`], [`Delivery`], [`Returned`] |
//! | [`error`] | [`ClientError`], [`ServerError`] |
//! | [`cli`] | `spindle amqp publish|consume|get|declare-queue` |
//!
//! The codec (frames, methods, tables, content assembly) is `spindle_protocols::amqp`; this
//! module is the client's state machine and its API.
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

pub mod channel;
pub mod connection;
pub mod error;
pub mod uri;

#[cfg(test)]
mod tests;

pub use channel::{
    Channel, ConsumeOptions, Delivery, ExchangeOptions, Publish, QueueOptions, Reply, Returned,
};
pub use connection::{run, Client, Config, Connection, ConnectionHandler};
pub use error::{ClientError, ServerError};
pub use spindle_reactor::TimerId;
pub use uri::{AmqpUri, UriError};
