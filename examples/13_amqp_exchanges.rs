//! RabbitMQ tutorials 3, 4 and 5 — "Publish/Subscribe", "Routing" and "Topics" — with
//! Spindle's AMQP client. The three differ only in the exchange's type and the binding keys,
//! so here they share one emitter and one receiver:
//!
//! | tutorial | programs | exchange | a receiver binds |
//! |---|---|---|---|
//! | 3 | `emit_log`, `receive_logs` | `logs`, fanout | "" (fanout ignores keys) |
//! | 4 | `emit_log_direct`, `receive_logs_direct` | `direct_logs`, direct | each severity given |
//! | 5 | `emit_log_topic`, `receive_logs_topic` | `topic_logs`, topic | patterns: `*.critical`, `kern.#` |
//!
//! ```text
//! cargo run --example amqp_exchanges -- receive_logs_topic "kern.*" "*.critical"
//! cargo run --example amqp_exchanges -- emit_log_topic kern.critical "A critical kernel error"
//! ```
//!
//! The broker is `$AMQP_URI`, else `amqp://guest:guest@localhost:5672/`.
//!
//! Each receiver has a queue of its own, named by the broker and `exclusive` (deleted when the
//! receiver disconnects): the answer to `queue_declare("")` brings the name, and the binds
//! and the consume follow in that callback.

use std::process::ExitCode;

use spindle::amqp::{
    run, AmqpUri, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, ExchangeOptions, Publish, QueueOptions, Reply,
};
use spindle::protocols::amqp::FieldTable;

/// Which exchange a tutorial uses.
#[derive(Clone, Copy)]
struct Exchange {
    name: &'static str,
    kind: &'static str,
}

const LOGS: Exchange = Exchange {
    name: "logs",
    kind: "fanout",
};
const DIRECT_LOGS: Exchange = Exchange {
    name: "direct_logs",
    kind: "direct",
};
const TOPIC_LOGS: Exchange = Exchange {
    name: "topic_logs",
    kind: "topic",
};

/// emit_log*.py: declare the exchange, publish one message to it with a routing key, close.
struct Emit {
    exchange: Exchange,
    routing_key: String,
    message: String,
}

impl ConnectionHandler for Emit {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        let Exchange { name, kind } = self.exchange;
        ch.exchange_declare(name, kind, &ExchangeOptions::default())?;
        ch.publish(
            &Publish::to(name, self.routing_key.as_str()),
            self.message.as_bytes(),
        )?;
        if self.routing_key.is_empty() {
            println!(" [x] Sent {}", self.message);
        } else {
            println!(" [x] Sent {}:{}", self.routing_key, self.message);
        }
        ch.connection().close();
        Ok(())
    }
}

/// receive_logs*.py: a private queue bound to the exchange with each key, consumed.
struct Receive {
    exchange: Exchange,
    binding_keys: Vec<String>,
}

impl ConnectionHandler for Receive {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        let Exchange { name, kind } = self.exchange;
        ch.exchange_declare(name, kind, &ExchangeOptions::default())?;
        let private = QueueOptions {
            exclusive: true,
            ..QueueOptions::default()
        };
        ch.queue_declare("", &private) // the broker names it: see on_reply
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        match reply {
            Reply::QueueDeclared { queue, .. } => {
                for key in &self.binding_keys {
                    ch.queue_bind(&queue, self.exchange.name, key, FieldTable::new())?;
                }
                let no_ack = ConsumeOptions {
                    no_ack: true,
                    ..ConsumeOptions::default()
                };
                ch.consume(&queue, &no_ack)?;
            }
            Reply::Consuming { .. } => println!(" [*] Waiting for logs. To exit press CTRL+C"),
            _ => {}
        }
        Ok(())
    }

    fn on_delivery(&mut self, _ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        let body = String::from_utf8_lossy(&d.body);
        if self.exchange.kind == "fanout" {
            println!(" [x] {body}");
        } else {
            println!(" [x] {}:{body}", String::from_utf8_lossy(&d.routing_key));
        }
        Ok(())
    }
}

/// `args` joined by spaces, or `default` if there are none.
fn text_or(args: &[String], default: &str) -> String {
    if args.is_empty() {
        default.to_string()
    } else {
        args.join(" ")
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
    let Some((program, rest)) = args.split_first() else {
        return Err("usage: amqp_exchanges emit_log[_direct|_topic] ... | \
                    receive_logs[_direct|_topic] ..."
            .into());
    };
    // The emitters' routing key and message, as the tutorials take them from argv.
    let emit = |exchange: Exchange, default_key: &str, default_message: &str| {
        let (routing_key, words) = match rest.split_first() {
            Some((key, words)) if !default_key.is_empty() => (key.clone(), words),
            _ => (default_key.to_string(), rest),
        };
        Emit {
            exchange,
            routing_key,
            message: text_or(words, default_message),
        }
    };
    let receive = |exchange: Exchange, keys: Vec<String>| Receive {
        exchange,
        binding_keys: keys,
    };
    match program.as_str() {
        "emit_log" => {
            run(config, emit(LOGS, "", "info: Hello World!"))?;
        }
        "emit_log_direct" => {
            run(config, emit(DIRECT_LOGS, "info", "Hello World!"))?;
        }
        "emit_log_topic" => {
            run(config, emit(TOPIC_LOGS, "anonymous.info", "Hello World!"))?;
        }
        "receive_logs" => {
            run(config, receive(LOGS, vec![String::new()]))?;
        }
        "receive_logs_direct" | "receive_logs_topic" if rest.is_empty() => {
            return Err(format!("Usage: {program} [binding_key]...").into());
        }
        "receive_logs_direct" => {
            run(config, receive(DIRECT_LOGS, rest.to_vec()))?;
        }
        "receive_logs_topic" => {
            run(config, receive(TOPIC_LOGS, rest.to_vec()))?;
        }
        other => return Err(format!("unknown program {other:?}").into()),
    }
    Ok(())
}
