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

use spindle_amqp::{
    run, AmqpUri, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, Publish, QueueOptions, Reply, Returned,
};
use spindle_protocols::amqp::FieldTable;

/// The usage text of `spindle amqp`.
pub const USAGE: &str = "\
  spindle amqp publish --uri URI [--exchange E] --routing-key K [--persistent]
                     [--content-type T] [--mandatory] [BODY | stdin]
  spindle amqp consume --uri URI --queue Q [--count N] [--no-ack] [--prefetch N]
  spindle amqp get --uri URI --queue Q
  spindle amqp declare-queue --uri URI --queue Q [--durable] [--passive] [--exclusive]
                     [--auto-delete]
  (--uri defaults to $AMQP_URI, else amqp://guest:guest@localhost:5672/)
";

/// Options and flags of one subcommand.
#[derive(Debug)]
struct Args(Vec<String>);

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        match self.0.iter().position(|a| a == name) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }

    fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let Some(i) = self.0.iter().position(|a| a == name) else {
            let prefix = format!("{name}=");
            return Ok(self
                .0
                .iter()
                .position(|a| a.starts_with(&prefix))
                .map(|i| self.0.remove(i).split_off(prefix.len())));
        };
        if i + 1 >= self.0.len() {
            return Err(format!("{name} needs a value"));
        }
        let v = self.0.remove(i + 1);
        self.0.remove(i);
        Ok(Some(v))
    }

    fn required(&mut self, name: &str) -> Result<String, String> {
        self.value(name)?
            .ok_or_else(|| format!("{name} is required"))
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        match self.value(name)? {
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}: cannot parse {v:?}")),
            None => Ok(None),
        }
    }

    fn config(&mut self) -> Result<Config, String> {
        let uri = match self.value("--uri")? {
            Some(u) => AmqpUri::parse(&u).map_err(|e| format!("--uri: {e}"))?,
            None => AmqpUri::from_env().map_err(|e| format!("$AMQP_URI: {e}"))?,
        };
        Ok(Config::new(uri))
    }

    fn finish(self) -> Result<(), String> {
        match self.0.first() {
            Some(extra) => Err(format!("unexpected argument {extra:?}")),
            None => Ok(()),
        }
    }
}

/// Runs `spindle amqp ARGS…`: `Ok(exit status)`, or `Err(usage message)` for bad arguments.
///
/// # Errors
///
/// A usage error: unknown subcommand, missing or bad option.
pub fn main(args: Vec<String>) -> Result<i32, String> {
    let mut args = Args(args);
    if args.0.is_empty() {
        return Err("amqp: expected publish, consume, get or declare-queue".into());
    }
    let command = args.0.remove(0);
    let mut config = args.config()?;
    config.connection_name = Some(format!("spindle amqp {command}"));
    let outcome = match command.as_str() {
        "publish" => {
            let exchange = args.value("--exchange")?.unwrap_or_default();
            let routing_key = args.required("--routing-key")?;
            let mut publish =
                Publish::to(exchange, routing_key).mandatory(args.flag("--mandatory"));
            if args.flag("--persistent") {
                publish = publish.persistent();
            }
            if let Some(t) = args.value("--content-type")? {
                publish = publish.content_type(&t);
            }
            let body = match args.0.len() {
                0 => {
                    let mut body = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut body)
                        .map_err(|e| format!("reading stdin: {e}"))?;
                    body
                }
                _ => args.0.remove(0).into_bytes(),
            };
            args.finish()?;
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
        "consume" => {
            let queue = args.required("--queue")?;
            let count: Option<u64> = args.number("--count")?;
            let no_ack = args.flag("--no-ack");
            let prefetch: Option<u16> = args.number("--prefetch")?;
            args.finish()?;
            let prefetch = prefetch
                .unwrap_or_else(|| count.map_or(0, |c| u16::try_from(c).unwrap_or(u16::MAX)));
            let cmd = ConsumeCmd {
                queue,
                count,
                no_ack,
                prefetch,
                received: 0,
            };
            run(config, cmd).map(|_| ())
        }
        "get" => {
            let queue = args.required("--queue")?;
            args.finish()?;
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
        "declare-queue" => {
            let queue = args.required("--queue")?;
            let options = QueueOptions {
                passive: args.flag("--passive"),
                durable: args.flag("--durable"),
                exclusive: args.flag("--exclusive"),
                auto_delete: args.flag("--auto-delete"),
                arguments: FieldTable::new(),
            };
            args.finish()?;
            run(config, DeclareCmd { queue, options }).map(|_| ())
        }
        other => return Err(format!("amqp: unknown subcommand {other:?}")),
    };
    Ok(match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("spindle: {e}");
            1
        }
    })
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
    use super::*;

    #[test]
    fn usage_errors_are_named() {
        let run = |args: &[&str]| main(args.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            run(&[]),
            Err("amqp: expected publish, consume, get or declare-queue".into())
        );
        assert_eq!(
            run(&["frob"]),
            Err("amqp: unknown subcommand \"frob\"".into())
        );
        assert_eq!(run(&["consume"]), Err("--queue is required".into()));
        assert_eq!(
            run(&["consume", "--queue", "q", "--count", "x"]),
            Err("--count: cannot parse \"x\"".into())
        );
        assert_eq!(
            run(&["get", "--uri", "http://x", "--queue", "q"]),
            Err("--uri: unsupported scheme in \"http://x\": expected amqp://".into())
        );
        assert_eq!(
            run(&["get", "--queue", "q", "--bogus"]),
            Err("unexpected argument \"--bogus\"".into())
        );
    }
}
