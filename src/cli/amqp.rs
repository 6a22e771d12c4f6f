//! `spindle amqp`: publish, consume, get and declare from the shell, in the spirit of
//! amqp-tools (`amqp-publish`, `amqp-consume`, `amqp-get`, `amqp-declare-queue`).
//!
//! ```text
//! spindle amqp publish --uri URI [--exchange E] --routing-key K [--persistent]
//!                      [--content-type T] [--mandatory] [BODY | stdin]
//! spindle amqp consume --uri URI --queue Q [--count N] [--no-ack] [--prefetch N]
//! spindle amqp get --uri URI --queue Q
//! spindle amqp declare-queue --uri URI --queue Q [--durable] [--passive] [--exclusive]
//!                            [--auto-delete]
//! ```
//!
//! `--uri` defaults to `$AMQP_URI`, else `amqp://guest:guest@localhost:5672/`. `publish` waits for the broker's
//! confirm before it exits. `consume` prints each body on its own line and acks it. A broker
//! error prints its reply code and text (`404 NOT_FOUND - no queue 'x' in vhost '/'`) and
//! exits 1; `get` on an empty queue exits 1 too.

use std::io::{Read, Write};

use clap::{Args, Subcommand};
use spindle_amqp::{
    run, AmqpUri, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, Publish, QueueOptions, Reply, Returned,
};
use spindle_protocols::amqp::FieldTable;

use super::common::{fail, parse_uri, uri_or_env};

/// `spindle amqp …`'s subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AmqpCommand {
    /// Publish one message (the body argument, else standard input) and wait for its confirm
    Publish(PublishArgs),
    /// Consume from a queue, printing each body on its own line and acking it
    Consume(ConsumeArgs),
    /// Fetch one message with basic.get, print and ack it (exit status 1 if the queue is empty)
    Get(GetArgs),
    /// Declare a queue and print its message and consumer counts
    DeclareQueue(DeclareArgs),
}

/// The broker to talk to.
#[derive(Debug, Args)]
pub(crate) struct Broker {
    /// The broker [default: $AMQP_URI, else amqp://guest:guest@localhost:5672/]
    #[arg(long, value_parser = parse_uri)]
    uri: Option<AmqpUri>,
}

impl Broker {
    fn config(self, command: &str) -> Result<Config, String> {
        let mut config = Config::new(uri_or_env(self.uri)?);
        config.connection_name = Some(format!("spindle amqp {command}"));
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    broker: Broker,
    /// The exchange ("" is the default exchange, routing by queue name)
    #[arg(long, default_value = "")]
    exchange: String,
    /// The routing key
    #[arg(long)]
    routing_key: String,
    /// Delivery mode 2: the broker writes the message to disk on a durable queue
    #[arg(long)]
    persistent: bool,
    /// The content-type property
    #[arg(long)]
    content_type: Option<String>,
    /// Ask the broker to return the message if no queue takes it
    #[arg(long)]
    mandatory: bool,
    /// The body (read from standard input when absent)
    body: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    #[command(flatten)]
    broker: Broker,
    /// The queue
    #[arg(long)]
    queue: String,
    /// Stop after N messages
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Consume without acknowledgements
    #[arg(long)]
    no_ack: bool,
    /// basic.qos prefetch (default: --count, else unlimited)
    #[arg(long, value_name = "N")]
    prefetch: Option<u16>,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    broker: Broker,
    /// The queue
    #[arg(long)]
    queue: String,
}

#[derive(Debug, Args)]
pub(crate) struct DeclareArgs {
    #[command(flatten)]
    broker: Broker,
    /// The queue
    #[arg(long)]
    queue: String,
    /// Survive a broker restart
    #[arg(long)]
    durable: bool,
    /// Only check that the queue exists (404 if not)
    #[arg(long)]
    passive: bool,
    /// Owned by this connection, deleted with it
    #[arg(long)]
    exclusive: bool,
    /// Deleted when its last consumer goes
    #[arg(long)]
    auto_delete: bool,
}

/// Runs one `spindle amqp` subcommand; returns the exit status (1 on any failure, with the
/// broker's reply code and text when it refused).
pub(crate) fn run_command(command: AmqpCommand) -> Result<(), String> {
    let outcome = match command {
        AmqpCommand::Publish(a) => {
            let config = a.broker.config("publish")?;
            let mut publish = Publish::to(a.exchange, a.routing_key).mandatory(a.mandatory);
            if a.persistent {
                publish = publish.persistent();
            }
            if let Some(t) = &a.content_type {
                publish = publish.content_type(t);
            }
            let body = match a.body {
                Some(body) => body.into_bytes(),
                None => {
                    let mut body = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut body)
                        .map_err(|e| format!("reading stdin: {e}"))?;
                    body
                }
            };
            run(
                config,
                PublishCmd {
                    publish,
                    body,
                    returned: None,
                },
            )
            .and_then(|h| match h.returned {
                Some(r) => Err(ClientError::Handler(format!(
                    "message returned: {} {}",
                    r.reply_code, r.reply_text
                ))),
                None => Ok(()),
            })
        }
        AmqpCommand::Consume(a) => {
            let config = a.broker.config("consume")?;
            let prefetch = a
                .prefetch
                .unwrap_or_else(|| a.count.map_or(0, |c| u16::try_from(c).unwrap_or(u16::MAX)));
            let cmd = ConsumeCmd {
                queue: a.queue,
                count: a.count,
                no_ack: a.no_ack,
                prefetch,
                received: 0,
            };
            run(config, cmd).map(|_| ())
        }
        AmqpCommand::Get(a) => {
            let config = a.broker.config("get")?;
            let queue = a.queue;
            match run(
                config,
                GetCmd {
                    queue: queue.clone(),
                    found: false,
                },
            ) {
                Ok(h) if h.found => Ok(()),
                Ok(_) => Err(ClientError::Handler(format!("queue '{queue}' is empty"))),
                Err(e) => Err(e),
            }
        }
        AmqpCommand::DeclareQueue(a) => {
            let config = a.broker.config("declare-queue")?;
            let options = QueueOptions {
                passive: a.passive,
                durable: a.durable,
                exclusive: a.exclusive,
                auto_delete: a.auto_delete,
                arguments: FieldTable::new(),
            };
            run(
                config,
                DeclareCmd {
                    queue: a.queue,
                    options,
                },
            )
            .map(|_| ())
        }
    };
    outcome.map_err(|e| spindle_amqp::report(&e))
}

/// `spindle amqp …`: runs the subcommand; exit status 0, or 1 with the error on standard error.
pub(crate) fn main(command: AmqpCommand) -> i32 {
    match run_command(command) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn print_line(body: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(body);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Publishes one message in confirm mode, closes once it is confirmed.
#[derive(Debug)]
struct PublishCmd {
    publish: Publish,
    body: Vec<u8>,
    returned: Option<Returned>,
}

impl ConnectionHandler for PublishCmd {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.confirm_select()?;
        ch.publish(&self.publish, &self.body)?;
        Ok(())
    }

    fn on_return(&mut self, _ch: &mut Channel<'_>, message: Returned) -> Result<(), ClientError> {
        self.returned = Some(message);
        Ok(())
    }

    fn on_confirm(
        &mut self,
        ch: &mut Channel<'_>,
        _seq: u64,
        acked: bool,
    ) -> Result<(), ClientError> {
        if !acked {
            return Err(ClientError::Handler(
                "the broker refused the message (basic.nack)".into(),
            ));
        }
        ch.connection().close();
        Ok(())
    }
}

/// Consumes, prints each body, acks; closes after `count`.
#[derive(Debug)]
struct ConsumeCmd {
    queue: String,
    count: Option<u64>,
    no_ack: bool,
    prefetch: u16,
    received: u64,
}

impl ConnectionHandler for ConsumeCmd {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        if self.prefetch > 0 {
            ch.qos(self.prefetch)?;
        }
        let options = ConsumeOptions {
            no_ack: self.no_ack,
            ..ConsumeOptions::default()
        };
        ch.consume(&self.queue, &options)?;
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, delivery: Delivery) -> Result<(), ClientError> {
        print_line(&delivery.body);
        if !self.no_ack {
            ch.ack(delivery.delivery_tag, false)?;
        }
        self.received += 1;
        if self.count.is_some_and(|c| self.received >= c) {
            ch.connection().close();
        }
        Ok(())
    }
}

/// Fetches one message, prints and acks it.
#[derive(Debug)]
struct GetCmd {
    queue: String,
    found: bool,
}

impl ConnectionHandler for GetCmd {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        conn.channel(id).get(&self.queue, false)
    }

    fn on_get(
        &mut self,
        ch: &mut Channel<'_>,
        delivery: Option<Delivery>,
    ) -> Result<(), ClientError> {
        if let Some(d) = delivery {
            print_line(&d.body);
            ch.ack(d.delivery_tag, false)?;
            self.found = true;
        }
        ch.connection().close();
        Ok(())
    }
}

/// Declares a queue and prints its name and counts.
#[derive(Debug)]
struct DeclareCmd {
    queue: String,
    options: QueueOptions,
}

impl ConnectionHandler for DeclareCmd {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        conn.channel(id).queue_declare(&self.queue, &self.options)
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::QueueDeclared {
            queue,
            message_count,
            consumer_count,
        } = reply
        {
            print_line(
                format!("{queue} ({message_count} messages, {consumer_count} consumers)")
                    .as_bytes(),
            );
            ch.connection().close();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    fn error(args: &[&str]) -> String {
        match Cli::try_parse_from(["spindle", "amqp"].into_iter().chain(args.iter().copied())) {
            Ok(cli) => panic!("parsed: {cli:?}"),
            Err(e) => e.render().to_string(),
        }
    }

    #[test]
    fn usage_errors_are_named() {
        let e = error(&[]);
        for sub in ["publish", "consume", "get", "declare-queue"] {
            assert!(e.contains(sub), "{sub} listed: {e}");
        }
        assert!(error(&["frob"]).contains("unrecognized subcommand 'frob'"));
        let e = error(&["consume"]);
        assert!(
            e.contains("the following required arguments were not provided"),
            "{e}"
        );
        assert!(e.contains("--queue <QUEUE>"), "{e}");
        let e = error(&["consume", "--queue", "q", "--count", "x"]);
        assert!(e.contains("invalid value 'x' for '--count <N>'"), "{e}");
        let e = error(&["get", "--uri", "http://x", "--queue", "q"]);
        assert!(
            e.contains("unsupported scheme in \"http://x\": expected amqp://"),
            "{e}"
        );
        let e = error(&["get", "--queue", "q", "--bogus"]);
        assert!(e.contains("unexpected argument '--bogus'"), "{e}");
    }
}
