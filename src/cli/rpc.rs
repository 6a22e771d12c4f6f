//! `spindle rpc`: the document's XML-RPC server object (`getObj`, `sendObj`, `fib`) served
//! over HTTP, as Python's `SimpleXMLRPCServer(('localhost', 4242), allow_none=True)` serves it.
//!
//! ```text
//! spindle rpc [--port 4242] [--bind 127.0.0.1] [--amqp [URI] [--queue rpc_queue]]
//! spindle rpc call URL METHOD [ARG…] [--timeout SECONDS]
//! ```
//!
//! With `--amqp`, the same object is also served through the broker (`$AMQP_URI` when no URI
//! is given) on the queue `rpc_queue`: the RabbitMQ tutorial's fib client (text bodies) and
//! XML-RPC-mode clients (`text/xml` bodies) both get answers.
//!
//! `call` prints the result as one line of JSON (struct members in order; binary as
//! `{"base64": …}`), or the fault as `fault CODE: STRING` on standard error with exit
//! status 1. Each ARG is JSON (`30`, `2.5`, `true`, `null`, `"30"`, `[1, 2]`, `{"a": 1}`), or
//! `@base64:…`, or `@datetime:YYYYMMDDTHH:MM:SS`, and otherwise the string as typed.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use clap::{Args, Subcommand};
use spindle_amqp::Config;
use spindle_reactor::{ListeningPort, Reactor};
use spindle_rpc::{
    listen_xmlrpc, parse_arg, to_json, AmqpRpcServer, AmqpServerConfig, BlockingXmlRpcClient,
    DemoObject, Registry, RpcError,
};

use super::common::{fail, parse_uri, serve, uri_or_env};

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
    /// Also serve through an AMQP broker [default URI: $AMQP_URI, else
    /// amqp://guest:guest@localhost:5672/]
    #[arg(long, value_name = "URI", num_args = 0..=1, default_missing_value = "")]
    amqp: Option<String>,
    /// The queue the AMQP server consumes
    #[arg(long, default_value = spindle_rpc::TUTORIAL_QUEUE, requires = "amqp")]
    queue: String,
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
    // One object behind both transports.
    let service = Rc::new(RefCell::new(demo_service()));
    match listen_xmlrpc(&mut reactor, addr, service.clone()) {
        Ok(port) => println!(
            "rpc listening on {} (XML-RPC: POST / or /RPC2)",
            port.address()
        ),
        Err(e) => return fail(e),
    }
    if let Some(uri) = args.amqp {
        let uri = if uri.is_empty() {
            uri_or_env(None)
        } else {
            parse_uri(&uri).map_err(|e| e.to_string())
        };
        let uri = match uri {
            Ok(u) => u,
            Err(e) => return fail(e),
        };
        let config = AmqpServerConfig {
            queue: args.queue,
            ..AmqpServerConfig::default()
        };
        let queue = config.queue.clone();
        let server = AmqpRpcServer::new(service, config)
            .on_ready(move || println!("rpc consuming {queue} [x] Awaiting RPC requests"))
            .on_closed(|result| {
                if let Err(e) = result {
                    eprintln!("spindle: rpc over amqp: {e}");
                }
            });
        if let Err(e) = server.connect(&mut reactor, Config::new(uri)) {
            return fail(e);
        }
    }
    serve(reactor)
}
