//! The document's XML-RPC client, in Rust: `getObj` 50 times, `sendObj` 50 times, the total
//! time — first one call after another (`BlockingXmlRpcClient`, like `ServerProxy`), then all
//! 100 at once on the reactor (`XmlRpcClient`: calls pipelined on one keep-alive connection,
//! each answered through a `Deferred`).
//!
//! ```text
//! cargo run --example xmlrpc_server &
//! cargo run --example xmlrpc_client [http://127.0.0.1:4242]
//! ```
//!
//! It works against the document's Python server as well (which answers HTTP/1.0 and closes
//! after each response: the client then opens a connection per call).

use std::time::{Duration, Instant};

use spindle_protocols::value::Value;
use spindle_reactor::{gather, Reactor, Step};
use spindle_rpc::{block_on, BlockingXmlRpcClient, RpcError, XmlRpcClient};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:4242".to_string());
    let data = Value::from_members((0..100).map(|i| (format!("client:{i}"), i)));

    println!("xmlrpc client");
    let mut c = BlockingXmlRpcClient::connect(&url)?;
    let start = Instant::now();
    let mut a = Value::Nil;
    for _ in 0..50 {
        a = c.call("getObj", vec![])?;
    }
    for _ in 0..50 {
        c.call("sendObj", vec![data.clone()])?;
    }
    println!(
        "one at a time: {:?} (getObj gave {} members)",
        start.elapsed(),
        members(&a)
    );

    // The same 100 calls, all in flight at once.
    let mut reactor = Reactor::new()?;
    let client = XmlRpcClient::connect(&mut reactor, &url)?;
    let start = Instant::now();
    let mut calls = Vec::new();
    for _ in 0..50 {
        calls.push(client.call(&mut reactor, "getObj", vec![]));
    }
    for _ in 0..50 {
        calls.push(client.call(&mut reactor, "sendObj", vec![data.clone()]));
    }
    // A callback on the chain, as in Twisted: count what came back.
    let all = gather(calls, true).add_callback(|results| {
        let ok = results.iter().filter(|r| r.is_ok()).count();
        println!("{ok} of {} calls answered", results.len());
        Step::Ok(results)
    });
    let results = block_on(&mut reactor, all, Duration::from_secs(30))?;
    println!("all at once: {:?}", start.elapsed());
    results.into_iter().collect::<Result<Vec<_>, RpcError>>()?;

    // A fault is an error like any other, with its code and string.
    match c.call("getObj", vec![Value::from("unexpected")]) {
        Err(RpcError::Fault(f)) => println!("fault {}: {}", f.fault_code, f.fault_string),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}

fn members(v: &Value) -> usize {
    match v {
        Value::Struct(m) => m.len(),
        _ => 0,
    }
}
