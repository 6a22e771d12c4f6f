//! RabbitMQ tutorial 6's RPC client on `spindle-rpc`: `fib(N)` through the broker, answered
//! through a `Deferred` — the tutorial's text request (`"30"`), then the same call in XML-RPC
//! mode, then ten calls in flight at once.
//!
//! ```text
//! python3 rpc_server.py &                  # or: cargo run --example fib_rpc_server &
//! cargo run --example fib_rpc_client [N]   # the broker: $AMQP_URI, else localhost
//! ```
//!
//! The request goes to `rpc_queue` with `reply_to` (an exclusive queue of the client's) and a
//! fresh `correlation_id`; the answer is matched by it. The tutorial's Python server speaks
//! only the text mode, so the XML-RPC-mode call is made only against ours (`--xml`).

use std::time::Duration;

use spindle_amqp::{AmqpUri, Config};
use spindle_protocols::value::Value;
use spindle_reactor::{gather, Reactor};
use spindle_rpc::{block_on, AmqpClientConfig, AmqpRpcClient};

const WAIT: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let xml = args.iter().any(|a| a == "--xml");
    let n: i64 = match args.iter().find(|a| !a.starts_with("--")) {
        Some(n) => n.parse()?,
        None => 30,
    };
    let mut reactor = Reactor::new()?;
    let client = AmqpRpcClient::connect(
        &mut reactor,
        Config::new(AmqpUri::from_env()?),
        AmqpClientConfig::default(),
    )?;

    println!(" [x] Requesting fib({n})");
    let answer = client.call_text(&mut reactor, &n.to_string());
    println!(" [.] Got {}", block_on(&mut reactor, answer, WAIT)?);

    if xml {
        let answer = client.call(&mut reactor, "fib", vec![Value::Int(n)]);
        println!(
            " [.] Got {:?} (XML-RPC mode)",
            block_on(&mut reactor, answer, WAIT)?
        );
    }

    let calls: Vec<_> = (0..10)
        .map(|i| client.call_text(&mut reactor, &i.to_string()))
        .collect();
    let answers = block_on(&mut reactor, gather(calls, true), WAIT)?;
    let answers: Vec<String> = answers.into_iter().map(|a| a.unwrap_or_default()).collect();
    println!(" [.] fib(0..10) = {}", answers.join(", "));
    Ok(())
}
