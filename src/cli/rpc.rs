//! `spindle rpc`: the document's XML-RPC server object (`getObj`, `sendObj`, `fib`) served
//! over HTTP, as Python's `SimpleXMLRPCServer(('localhost', 4242), allow_none=True)` serves it.
//!
//! ```text
//! spindle rpc [--port 4242] [--bind 127.0.0.1]
//! ```

use std::net::{IpAddr, SocketAddr};

use clap::Args;
use spindle_reactor::{ListeningPort, Reactor};
use spindle_rpc::{listen_xmlrpc, DemoObject, Registry};

use super::common::fail;

/// `spindle rpc`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct RpcArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0: any free port, printed at start)
    #[arg(long, default_value_t = spindle_rpc::DEFAULT_PORT)]
    port: u16,
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
