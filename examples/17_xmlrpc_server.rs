//! The document's XML-RPC server, in Rust: an object with `getObj` and `sendObj` served as
//! Python's `SimpleXMLRPCServer(('localhost', 4242), allow_none=True)` with
//! `register_introspection_functions()` and `register_instance(RPCServer())` serves it, plus a
//! plain function with typed arguments (`add`).
//!
//! ```text
//! cargo run --example xmlrpc_server            # port 4242, or $RPC_PORT (0: any free port)
//! python3 -c "import xmlrpc.client as x; print(x.ServerProxy('http://localhost:4242').getObj())"
//! ```
//!
//! Calls that do not fit get Python's faults: `add(1)` is
//! `<Fault 1: "<class 'TypeError'>:add() takes 2 positional arguments but 1 was given">`.

use std::net::SocketAddr;

use spindle_protocols::value::Value;
use spindle_reactor::Reactor;
use spindle_rpc::{listen_xmlrpc, Args, Fault, Instance, MethodInfo, Registry};

/// The document's `RPCServer`: what it sends, and what it was last sent.
struct RpcServer {
    send_data: Value,
    recv_data: Value,
}

impl RpcServer {
    fn new() -> RpcServer {
        RpcServer {
            send_data: Value::from_members((0..100).map(|i| (format!("server:{i}"), i))),
            recv_data: Value::Nil,
        }
    }
}

/// Methods found by name, as `register_instance` finds them.
impl Instance for RpcServer {
    fn call(&mut self, method: &str, mut args: Args) -> Option<Result<Value, Fault>> {
        let result = match method {
            "getObj" => args.expect(0).map(|_| {
                println!("get data");
                self.send_data.clone()
            }),
            "sendObj" => args
                .expect(1)
                .and_then(|_| args.take::<Value>())
                .map(|data| {
                    println!("send data");
                    self.recv_data = data;
                    Value::Nil // Python's None: the client needs the server's allow_none.
                }),
            _ => return None,
        };
        Some(result)
    }

    fn methods(&self) -> Vec<MethodInfo> {
        vec![
            MethodInfo::new("getObj").help("the server's 100 numbers"),
            MethodInfo::new("sendObj").help("keeps what it is sent"),
        ]
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("RPC_PORT").map_or(Ok(4242), |p| p.parse())?;
    let mut service = Registry::new();
    service.register_instance(RpcServer::new());
    service
        .register("add", |a: i64, b: i64| -> Result<i64, Fault> { Ok(a + b) })
        .help("add", "add(a, b) => a + b");
    let mut reactor = Reactor::new()?;
    let listening = listen_xmlrpc(
        &mut reactor,
        SocketAddr::from(([127, 0, 0, 1], port)),
        service,
    )?;
    println!("xmlrpc listening on {}", listening.address());
    reactor.install_signal_handlers()?;
    reactor.run()?;
    Ok(())
}
