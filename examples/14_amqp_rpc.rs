//! RabbitMQ tutorial 6, "RPC": `rpc_server` answers Fibonacci requests from the queue
//! `rpc_queue`; `rpc_client N` sends one request (default 30) and prints the answer.
//!
//! ```text
//! cargo run --example amqp_rpc -- rpc_server
//! cargo run --example amqp_rpc -- rpc_client 30
//! ```
//!
//! The broker is `$AMQP_URI`, else `amqp://guest:guest@localhost:5672/`.
//!
//! The request carries two properties: `reply_to`, the client's own exclusive queue (named by
//! the broker), and `correlation_id`, so the client can tell its answer from anything else
//! that lands there. The server publishes the answer to the default exchange with `reply_to`
//! as the routing key and the same `correlation_id`, then acks the request. Start several
//! servers and `qos(1)` spreads the requests over them.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use spindle::amqp::{
    run, AmqpUri, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, Publish, QueueOptions, Reply,
};
use spindle::protocols::amqp::BasicProperties;

const RPC_QUEUE: &str = "rpc_queue";

/// The tutorial's deliberately slow recursive Fibonacci.
fn fib(n: u64) -> u64 {
    match n {
        0 => 0,
        1 => 1,
        n => fib(n - 1) + fib(n - 2),
    }
}

/// rpc_server.py: consume requests one at a time, publish each answer to its `reply_to`.
struct RpcServer;

impl ConnectionHandler for RpcServer {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare(RPC_QUEUE, &QueueOptions::default())?;
        ch.qos(1)?;
        ch.consume(RPC_QUEUE, &ConsumeOptions::default())?;
        Ok(())
    }

    fn on_reply(&mut self, _ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::Consuming { .. } = reply {
            println!(" [x] Awaiting RPC requests");
        }
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        // A request that is not a number gets an error text back rather than killing the
        // server (the tutorial's int() would raise).
        let request = String::from_utf8_lossy(&d.body);
        let answer = match request.trim().parse::<u64>() {
            Ok(n) if n <= 40 => {
                println!(" [.] fib({n})");
                fib(n).to_string()
            }
            _ => format!("error: expected a number from 0 to 40, got {request:?}"),
        };
        if let Some(reply_to) = &d.properties.reply_to {
            let properties = BasicProperties {
                correlation_id: d.properties.correlation_id.clone(),
                ..BasicProperties::default()
            };
            let publish = Publish::to("", reply_to.to_string()).properties(properties);
            ch.publish(&publish, answer.as_bytes())?;
        }
        ch.ack(d.delivery_tag, false)
    }
}

/// rpc_client.py: a private callback queue, one request, wait for the answer, close.
struct RpcClient {
    n: u64,
    correlation_id: String,
    answer: Option<String>,
}

impl ConnectionHandler for RpcClient {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        let private = QueueOptions {
            exclusive: true,
            ..QueueOptions::default()
        };
        ch.queue_declare("", &private)
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::QueueDeclared { queue, .. } = reply {
            let no_ack = ConsumeOptions {
                no_ack: true,
                ..ConsumeOptions::default()
            };
            ch.consume(&queue, &no_ack)?;
            // Consuming first, so the answer cannot arrive before anyone listens.
            let request = Publish::to("", RPC_QUEUE)
                .reply_to(&queue)
                .correlation_id(&self.correlation_id);
            println!(" [x] Requesting fib({})", self.n);
            ch.publish(&request, self.n.to_string().as_bytes())?;
        }
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        let ours = d
            .properties
            .correlation_id
            .as_ref()
            .is_some_and(|id| *id == self.correlation_id.as_str());
        if ours {
            let answer = String::from_utf8_lossy(&d.body).into_owned();
            println!(" [.] Got {answer}");
            self.answer = Some(answer);
            ch.connection().close();
        }
        Ok(())
    }
}

/// Prints an error as `error: …`, with what to do when no broker answered, and exits 1.
fn main() -> ExitCode {
    match program() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", spindle::amqp::report(&*e));
            ExitCode::FAILURE
        }
    }
}

/// Runs the program the first argument names.
fn program() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::new(AmqpUri::from_env()?);
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("rpc_server") => {
            run(config, RpcServer)?;
        }
        Some("rpc_client") => {
            let n = match args.get(1) {
                Some(n) => n.parse()?,
                None => 30,
            };
            // Unique enough for one client: the process id and the clock.
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
            let correlation_id = format!("{}-{nanos}", std::process::id());
            let client = RpcClient {
                n,
                correlation_id,
                answer: None,
            };
            if run(config, client)?.answer.is_none() {
                return Err("the connection closed before the answer came".into());
            }
        }
        _ => return Err("usage: amqp_rpc rpc_server | rpc_client [N]".into()),
    }
    Ok(())
}
