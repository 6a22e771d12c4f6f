//! RPC services on Spindle: one [`Service`] object served over XML-RPC (HTTP) and over AMQP
//! (the RabbitMQ tutorial's RPC), with clients for both whose calls return
//! [`Deferred`](spindle_reactor::Deferred)s — so Python users keep their `ServerProxy`,
//! `SimpleXMLRPCServer` and pika programs and swap either side for Spindle.
//!
//! # Layout
//!
//! From the bottom up; a file imports only files above it in this table.
//!
//! | file | job |
//! |---|---|
//! | `typed.rs` | [`Arg`], [`Ret`], [`Args`], [`IntoMethod`]: typed parameters and results, Python's `TypeError` faults |
//! | `service.rs` | [`Service`] (the transport-neutral trait), [`Instance`], [`MethodInfo`] |
//! | `registry.rs` | [`Registry`]: functions and instances registered by name |
//! | `system.rs` | [`dispatch`]: `system.listMethods` / `methodHelp` / `methodSignature` / `multicall`, panics as faults |
//! | `demo.rs` | [`DemoObject`] (the document's `getObj` / `sendObj`, and `fib`) |
//! | `xmlrpc_server.rs` | [`XmlRpcHandler`], [`xmlrpc_server`], [`listen_xmlrpc`] on spindle-http |
//! | `json.rs` | [`parse_arg`], [`to_json`]: values as JSON for the command line |
//! | `error.rs` | [`RpcError`]: a client call's fault, transport error, timeout |
//! | `url.rs` | [`HttpUrl`]: `http://host:port/path` |
//! | `xmlrpc_client.rs` | [`XmlRpcClient`] (calls → `Deferred`s, pipelined), [`BlockingXmlRpcClient`] |
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
