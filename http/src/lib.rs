//! HTTP/1.1 on Spindle's reactor: [`HttpServer`] (a router, handlers that answer at once or
//! later, keep-alive, pipelining, limits, idle timeouts) and [`HttpClient`] (one keep-alive
//! connection, requests answered in order through callbacks or [`Deferred`](spindle_reactor::Deferred)s).
//!
//! The bytes are the codec's, [`spindle_protocols::http`]; this crate is the glue to the
//! reactor and the API a program uses.
//!
//! # Layout
//!
//! From the bottom up; a file imports only files above it in this table.
//!
//! | file | job |
//! |---|---|
//! | `outlet.rs` | [`Outlet`]: writing to a connection from outside its callbacks (a transport or the reactor) |
//! | `error.rs` | [`ClientError`] |
//! | `config.rs` | [`ServerConfig`]: limits, idle timeout, in-flight requests |
//! | `request.rs` | [`Request`]: the codec's request with its route parameters |
//! | `response.rs` | [`json`], [`error_response`] (the codec's [`Response`] is the response type) |
//! | `pipeline.rs` | a connection's requests waiting for responses, in order; [`Responder`] |
//! | `handler.rs` | [`Handler`], [`Reply`], [`Context`], [`later`] |
//! | `router.rs` | [`Router`]: method + path pattern (`:param`, `*rest`) → handler; 404, 405 + `Allow` |
//! | `server.rs` | [`HttpServer`] (the factory), [`HttpConnection`] (the protocol) |
//! | `client.rs` | [`HttpClient`], [`HttpClientProtocol`], [`HttpClientFactory`] |
//!
//! # Serving
//!
//! ```no_run
//! use spindle_http::{json, later, HttpServer, Request, Response, Router};
//! use spindle_reactor::Reactor;
//!
//! let mut router = Router::new();
//! router
//!     .get("/api/queues/:vhost/:name", |req: &Request| {
//!         json(200, &serde_json::json!({ "vhost": req.param("vhost"), "name": req.param("name") }))
//!     })
//!     .post("/slow", later(|req, responder, tx| {
//!         // Keep `responder` until the answer is known (a broker reply, a timer), then:
//!         responder.send(tx, Response::text(202, format!("{} bytes\n", req.body.len())));
//!     }));
//! let mut reactor = Reactor::new()?;
//! reactor.listen_tcp("127.0.0.1:15672", HttpServer::new(router))?;
//! reactor.run()?;
//! # Ok::<(), spindle_reactor::Error>(())
//! ```
//!
//! # The server's rules
//!
//! - Pipelined requests are answered in the order they came, whichever handler finishes
//!   first; at most [`ServerConfig::max_in_flight`] wait per connection, past which the
//!   connection is not read until responses have gone out.
//! - A connection stays open per HTTP/1.x (`Connection: close`, HTTP/1.0 without
//!   `keep-alive`, or a response that says `Connection: close` end it after that response).
//! - `Expect: 100-continue` gets `100 Continue` before the body is read (when no earlier
//!   response is owed), unless the head already fails a limit.
//! - Refused requests get their status (400, 413, 414, 417, 431, 501, 505) and the connection
//!   closes; see [`spindle_protocols::http::HttpError`].
//! - A connection with no request in progress for [`ServerConfig::idle_timeout`] is closed
//!   without a response.

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
mod config;
mod error;
mod handler;
mod outlet;
mod pipeline;
mod request;
mod response;
mod router;
mod server;

pub use client::{HttpClient, HttpClientFactory, HttpClientProtocol};
pub use config::ServerConfig;
pub use error::ClientError;
pub use handler::{later, Context, Handler, Later, Reply};
pub use outlet::{Detached, Outlet};
pub use pipeline::Responder;
pub use request::Request;
pub use response::{error_response, json};
pub use router::Router;
pub use server::{HttpConnection, HttpServer};
pub use spindle_protocols::http::{Headers, HttpError, Limits, Method, Response, Version};
