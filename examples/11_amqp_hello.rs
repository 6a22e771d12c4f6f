//! RabbitMQ tutorial 1, "Hello World!", with Spindle's AMQP client: `send` puts one message
//! on the queue `hello`; `receive` prints every message that arrives there, until Ctrl-C.
//!
//! ```text
//! cargo run --example amqp_hello -- receive     # in one terminal
//! cargo run --example amqp_hello -- send        # in another
//! ```
//!
//! The broker is `$AMQP_URI`, else `amqp://guest:guest@localhost:5672/`.
//!
//! Each program is a [`ConnectionHandler`]: what pika's tutorial does line after line
//! (`queue_declare`, `basic_publish`, `basic_consume`) happens here in callbacks, and commands
//! never wait for their answers, so `on_open` can declare, publish and close in one go; the
//! broker handles a channel's commands in order.

use std::process::ExitCode;

use spindle::amqp::{
    run, AmqpUri, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, Publish, QueueOptions, Reply,
};

/// send.py: declare the queue, publish one message to it, close.
struct Send;

impl ConnectionHandler for Send {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare("hello", &QueueOptions::default())?;
        // The default exchange "" routes by queue name.
        ch.publish(&Publish::to("", "hello"), b"Hello World!")?;
        println!(" [x] Sent 'Hello World!'");
        ch.connection().close(); // sent after the publish, so the message is not lost
        Ok(())
    }
}

/// receive.py: declare the queue (whichever program runs first creates it) and consume it
/// with `no_ack`: the broker forgets a message once it is sent.
struct Receive;

impl ConnectionHandler for Receive {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare("hello", &QueueOptions::default())?;
        let no_ack = ConsumeOptions {
            no_ack: true,
            ..ConsumeOptions::default()
        };
        ch.consume("hello", &no_ack)?;
        Ok(())
    }

    fn on_reply(&mut self, _ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::Consuming { .. } = reply {
            println!(" [*] Waiting for messages. To exit press CTRL+C");
        }
        Ok(())
    }

    fn on_delivery(&mut self, _ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        println!(" [x] Received '{}'", String::from_utf8_lossy(&d.body));
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
    match std::env::args().nth(1).as_deref() {
        Some("send") => {
            run(config, Send)?;
        }
        Some("receive") => {
            run(config, Receive)?;
        }
        _ => return Err("usage: amqp_hello send|receive".into()),
    }
    Ok(())
}
