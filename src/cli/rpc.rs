//! `spindle rpc`: the document's XML-RPC server object (`getObj`, `sendObj`, `fib`) served
//! over HTTP, as Python's `SimpleXMLRPCServer(('localhost', 4242), allow_none=True)` serves it.
//!
//! ```text
//! spindle rpc [--port 4242] [--bind 127.0.0.1]
//! spindle rpc call URL METHOD [ARG…] [--timeout SECONDS]
//! ```
//!
//! `call` prints the result as one line of JSON (struct members in order; binary as
//! `{"base64": …}`), or the fault as `fault CODE: STRING` on standard error with exit
//! status 1. Each ARG is JSON (`30`, `2.5`, `true`, `null`, `"30"`, `[1, 2]`, `{"a": 1}`), or
//! `@base64:…`, or `@datetime:YYYYMMDDTHH:MM:SS`, and otherwise the string as typed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{Args, Subcommand};
use spindle_reactor::{ListeningPort, Reactor};
use spindle_rpc::{
    listen_xmlrpc, parse_arg, to_json, BlockingXmlRpcClient, DemoObject, Registry, RpcError,
};

use super::common::fail;

/// `spindle rpc`'s arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct RpcArgs {
    #[command(subcommand)]
    command: Option<RpcCommand>,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0: any free port, printed at start)
    #[arg(long, default_value_t = spindle_rpc::DEFAULT_PORT)]
    port: u16,
}

impl RpcArgs {
    /// Whether this runs a client (`call`), whose output is its stdout.
    pub(crate) fn is_client(&self) -> bool {
        self.command.is_some()
    }
}

/// `spindle rpc …`'s subcommands.
#[derive(Debug, Subcommand)]
enum RpcCommand {
    /// Call a method on an XML-RPC server and print the result as JSON
    Call(CallArgs),
}

#[derive(Debug, Args)]
struct CallArgs {
    /// The server, e.g. http://127.0.0.1:4242 (the path defaults to /RPC2)
    url: String,
    /// The method, e.g. getObj or system.listMethods
    method: String,
    /// The parameters: JSON (30, "30", [1,2], {"a":1}, null), @base64:…, @datetime:…, or
    /// plain text (a string)
    #[arg(allow_hyphen_values = true)]
    args: Vec<String>,
    /// Seconds to wait for the answer
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

/// `spindle rpc call`: one call, its result printed.
fn call(args: CallArgs) -> i32 {
    let mut client = match BlockingXmlRpcClient::connect(&args.url) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    client.timeout = Duration::from_secs_f64(args.timeout.max(0.001));
    let params = args.args.iter().map(|a| parse_arg(a)).collect();
    match client.call(&args.method, params) {
        Ok(value) => {
            println!("{}", to_json(&value));
            0
        }
        Err(RpcError::Fault(f)) => {
            eprintln!("fault {}: {}", f.fault_code, f.fault_string);
            1
        }
        Err(e) => fail(format!("{}: {e}", args.url)),
    }
}

/// The demo service: the document's object, with introspection and multicall.
pub(crate) fn demo_service() -> Registry {
    let mut service = Registry::new();
    service.register_instance(DemoObject::new());
    service
}

/// Starts the demo XML-RPC server on `addr`.
pub(crate) fn listen_demo(
    reactor: &mut Reactor,
    addr: SocketAddr,
) -> Result<ListeningPort, spindle_reactor::Error> {
    listen_xmlrpc(reactor, addr, demo_service())
}

/// Runs `spindle rpc`; returns the exit status.
pub(crate) fn main(args: RpcArgs) -> i32 {
    if let Some(RpcCommand::Call(call_args)) = args.command {
        return call(call_args);
    }
    let mut reactor = match Reactor::new() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let addr = SocketAddr::new(args.bind, args.port);
    match listen_demo(&mut reactor, addr) {
        Ok(port) => println!(
            "rpc listening on {} (XML-RPC: POST / or /RPC2)",
            port.address()
        ),
        Err(e) => return fail(e),
    }
    serve(reactor)
}

/// Runs the reactor until SIGINT or SIGTERM.
fn serve(mut reactor: Reactor) -> i32 {
    if let Err(e) = reactor.install_signal_handlers() {
        return fail(e);
    }
    match reactor.run() {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}
