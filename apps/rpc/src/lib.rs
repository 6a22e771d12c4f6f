//! RPC services on Spindle: one [`Service`] object served over XML-RPC (HTTP) and over AMQP
//! (the RabbitMQ tutorial's RPC), with clients for both whose calls return
//! [`Deferred`](spindle_reactor::Deferred)s — so Python users keep their `ServerProxy`,
//! `SimpleXMLRPCServer` and pika programs and swap either side for Spindle. The service side
//! knows nothing of either transport, so the same objects can be served over ZeroRPC later.
//! See `docs/rpc.md`.
//!
//! # Layout
//!
//! From the bottom up; a file imports only files above it in this table.
//!
//! | file | job |
//! |---|---|
//! | `typed.rs` | [`Arg`], [`Ret`], [`Args`], [`IntoMethod`]: typed parameters and results, Python's `TypeError` faults |
//! | `json.rs` | [`parse_arg`], [`to_json`]: values as JSON for the command line |
//! | `error.rs` | [`RpcError`]: a client call's fault, transport error, timeout |
//! | `block.rs` | [`block_on`]: run a reactor until a call's deferred fires |
//! | `url.rs` | [`HttpUrl`]: `http://host:port/path` |
//! | `service.rs` | [`Service`] (the transport-neutral trait), [`Instance`], [`MethodInfo`] |
//! | `registry.rs` | [`Registry`]: functions and instances registered by name |
//! | `system.rs` | [`dispatch`]: `system.listMethods` / `methodHelp` / `methodSignature` / `multicall`, panics as faults |
//! | `demo.rs` | [`DemoObject`] (the document's `getObj` / `sendObj`, and `fib`) |
//! | `xmlrpc_server.rs` | [`XmlRpcHandler`], [`xmlrpc_server`], [`listen_xmlrpc`] on spindle-http |
//! | `xmlrpc_client.rs` | [`XmlRpcClient`] (calls → `Deferred`s, pipelined), [`BlockingXmlRpcClient`] |
//! | `amqp_wire.rs` | the two AMQP body formats (XML-RPC and the tutorial's text), fault replies, the connecting factory |
//! | `amqp_server.rs` | [`AmqpRpcServer`]: a service on a queue, replies to `reply_to` with the `correlation_id` |
//! | `amqp_client.rs` | [`AmqpRpcClient`]: calls through the broker, exclusive reply queue or direct reply-to, timeouts |
//!
//! The value model ([`Value`](spindle_protocols::value::Value)) and the XML-RPC codec are
//! `spindle_protocols`'; faults are its [`Fault`] (a code and a string, nothing of XML in it).
//!
//! # Serving
//!
//! ```no_run
//! use spindle_protocols::xmlrpc::Fault;
//! use spindle_reactor::Reactor;
//! use spindle_rpc::{listen_xmlrpc, DemoObject, Registry};
//!
//! let mut service = Registry::new();
//! service.register("fib", |n: i64| -> Result<i64, Fault> { spindle_rpc::fib(n) });
//! service.register_instance(DemoObject::new());
//! let mut reactor = Reactor::new()?;
//! listen_xmlrpc(&mut reactor, "127.0.0.1:4242".parse().unwrap(), service)?;
//! reactor.run()?;
//! # Ok::<(), spindle_reactor::Error>(())
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

mod amqp_client;
mod amqp_server;
mod amqp_wire;
mod block;
mod demo;
mod error;
mod json;
mod registry;
mod service;
mod system;
mod typed;
mod url;
mod xmlrpc_client;
mod xmlrpc_server;

pub use amqp_client::{AmqpClientConfig, AmqpRpcClient, ReplyQueue, DIRECT_REPLY_TO};
pub use amqp_server::{AmqpRpcServer, AmqpServerConfig};
pub use amqp_wire::{text_to_value, value_to_text, FAULT_KIND, TUTORIAL_QUEUE, XML_CONTENT_TYPE};
pub use block::block_on;
pub use demo::{fib, DemoObject, FIB_MAX};
pub use error::RpcError;
pub use json::{from_json, parse_arg, to_json};
pub use registry::Registry;
pub use service::{Instance, MethodInfo, Service};
pub use spindle_protocols::xmlrpc::Fault;
pub use system::dispatch;
pub use typed::{
    no_such_method, python_fault, python_type_name, Arg, Args, IntoMethod, Ret, PYTHON_FAULT_CODE,
};
pub use url::HttpUrl;
pub use xmlrpc_client::{BlockingXmlRpcClient, XmlRpcClient, CONNECT_TIMEOUT, MAX_CONNECTIONS};
pub use xmlrpc_server::{
    listen_xmlrpc, xmlrpc_server, xmlrpc_server_with, XmlRpcHandler, DEFAULT_PORT, RPC_PATHS,
};
