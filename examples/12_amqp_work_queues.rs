//! RabbitMQ tutorial 2, "Work queues": `new_task` queues a task; each `worker` takes one task
//! at a time, "works" one second per dot in its text, then acks it. Run two workers and
//! several tasks to see them shared out; kill a worker mid-task and its task goes to the
//! other, because it was never acked.
//!
//! ```text
//! cargo run --example amqp_work_queues -- worker                      # twice
//! cargo run --example amqp_work_queues -- new_task First message.
//! cargo run --example amqp_work_queues -- new_task Second message..
//! ```
//!
//! The broker is `$AMQP_URI`, else `amqp://guest:guest@localhost:5672/`.
//!
//! What the tutorial adds to tutorial 1, and where it is here:
//! - manual acks: the worker consumes without `no_ack` and calls `ack` when done;
//! - durability: the queue is declared `durable` and messages are `persistent`, so tasks
//!   survive a broker restart;
//! - fair dispatch: `qos(1)`, so a busy worker is not sent a second task.
//!
//! pika's worker calls `time.sleep`. On a reactor that would stall everything (heartbeats,
//! other connections), so the work is a timer: `call_later`, then `on_timer` acks.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use spindle::amqp::{
    run, AmqpUri, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, Publish, QueueOptions, Reply, TimerId,
};

const QUEUE: &str = "task_queue";

fn durable() -> QueueOptions {
    QueueOptions {
        durable: true,
        ..QueueOptions::default()
    }
}

/// new_task.py: one persistent message on the durable queue.
struct NewTask {
    message: String,
}

impl ConnectionHandler for NewTask {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare(QUEUE, &durable())?;
        ch.publish(
            &Publish::to("", QUEUE).persistent(),
            self.message.as_bytes(),
        )?;
        println!(" [x] Sent '{}'", self.message);
        ch.connection().close();
        Ok(())
    }
}

/// worker.py: one task at a time, acked when its work is done.
#[derive(Default)]
struct Worker {
    /// The task each running timer stands for: its channel and delivery tag.
    working: HashMap<TimerId, (u16, u64)>,
}

impl ConnectionHandler for Worker {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare(QUEUE, &durable())?;
        ch.qos(1)?;
        ch.consume(QUEUE, &ConsumeOptions::default())?;
        Ok(())
    }

    fn on_reply(&mut self, _ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::Consuming { .. } = reply {
            println!(" [*] Waiting for messages. To exit press CTRL+C");
        }
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        println!(" [x] Received '{}'", String::from_utf8_lossy(&d.body));
        let dots = d.body.iter().filter(|&&b| b == b'.').count() as u64;
        let timer = ch.connection().call_later(Duration::from_secs(dots));
        self.working.insert(timer, (ch.id(), d.delivery_tag));
        Ok(())
    }

    fn on_timer(&mut self, conn: &mut Connection<'_>, timer: TimerId) -> Result<(), ClientError> {
        if let Some((channel, tag)) = self.working.remove(&timer) {
            println!(" [x] Done");
            conn.channel(channel).ack(tag, false)?;
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
        Some("new_task") => {
            let words = args[1..].join(" ");
            let message = if words.is_empty() {
                "Hello World!".to_string()
            } else {
                words
            };
            {
                run(config, NewTask { message })?;
            };
        }
        Some("worker") => {
            run(config, Worker::default())?;
        }
        _ => return Err("usage: amqp_work_queues new_task [MESSAGE...] | worker".into()),
    }
    Ok(())
}
