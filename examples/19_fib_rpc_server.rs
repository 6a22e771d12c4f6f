//! RabbitMQ tutorial 6's RPC server on `spindle-rpc`: the `fib` function served on the queue
//! `rpc_queue`. The tutorial's pika `rpc_client.py` gets its answers from it unchanged (text
//! bodies), and so do XML-RPC-mode clients (`text/xml` bodies: any method, any values).
//!
//! ```text
//! cargo run --example fib_rpc_server        # the broker: $AMQP_URI, else localhost
//! python3 rpc_client.py                     # or: cargo run --example fib_rpc_client 30
//! ```
//!
//! Compare `examples/14_amqp_rpc.rs`, the same server written on the AMQP client's handler:
//! here queue, prefetch, reply_to, correlation_id and acks are the RPC server's business,
//! and the program only says what `fib` is.

use spindle_amqp::{AmqpUri, Config};
use spindle_reactor::Reactor;
use spindle_rpc::{AmqpRpcServer, AmqpServerConfig, Fault, Registry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut service = Registry::new();
    service.register("fib", |n: i64| -> Result<i64, Fault> {
        println!(" [.] fib({n})");
        spindle_rpc::fib(n)
    });
    let config = AmqpServerConfig {
        prefetch: 1, // as the tutorial: one request at a time per server
        ..AmqpServerConfig::default()
    };
    let mut reactor = Reactor::new()?;
    AmqpRpcServer::new(service, config)
        .on_ready(|| println!(" [x] Awaiting RPC requests"))
        .on_closed(|result| {
            if let Err(e) = result {
                eprintln!("error: {e}");
            }
        })
        .connect(&mut reactor, Config::new(AmqpUri::from_env()?))?;
    reactor.install_signal_handlers()?;
    reactor.run()?;
    Ok(())
}
