//! A broker and its clients in one process, on one reactor: the framework's point that the
//! broker is only a protocol plugin. The reactor listens with `spindle_broker`, then connects
//! to itself twice with the AMQP client: a worker consuming `tasks` with prefetch 1 and acks,
//! and a producer publishing three tasks with confirms. When the worker has done all three,
//! it stops the reactor.
//!
//! ```text
//! cargo run --example broker_and_worker
//! ```
//!
//! Every connection, the broker's side and the clients' side alike, is a `Protocol` on the
//! same loop; nothing here uses a thread.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use spindle::amqp::{
    AmqpUri, Channel, Client, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, Publish, QueueOptions, Reply,
};
use spindle::broker::BrokerConfig;
use spindle::reactor::{Address, ClientFactory, Connector, DisconnectReason, Protocol, Reactor};

const TASKS: [&str; 3] = ["wash", "dry", "fold"];

/// The worker: declares the queue, takes one task at a time, acks each.
struct Worker {
    done: Rc<Cell<usize>>,
}

impl ConnectionHandler for Worker {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare("tasks", &QueueOptions::default())?;
        ch.qos(1)?;
        ch.consume("tasks", &ConsumeOptions::default())?;
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        println!("worker: {}", String::from_utf8_lossy(&d.body));
        ch.ack(d.delivery_tag, false)?;
        self.done.set(self.done.get() + 1);
        if self.done.get() == TASKS.len() {
            ch.connection().close();
        }
        Ok(())
    }
}

/// The producer: declares the queue too (whoever comes first creates it), publishes the
/// tasks in confirm mode, closes once the broker confirmed them all.
struct Producer {
    confirmed: usize,
}

impl ConnectionHandler for Producer {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare("tasks", &QueueOptions::default())?;
        ch.confirm_select()?;
        for task in TASKS {
            ch.publish(&Publish::to("", "tasks"), task.as_bytes())?;
        }
        Ok(())
    }

    fn on_reply(&mut self, _ch: &mut Channel<'_>, _reply: Reply) -> Result<(), ClientError> {
        Ok(())
    }

    fn on_confirm(
        &mut self,
        ch: &mut Channel<'_>,
        _seq: u64,
        acked: bool,
    ) -> Result<(), ClientError> {
        assert!(acked, "the broker confirms what it took");
        self.confirmed += 1;
        if self.confirmed == TASKS.len() {
            println!("producer: {} tasks confirmed", self.confirmed);
            ch.connection().close();
        }
        Ok(())
    }
}

/// Connects one AMQP client to the broker on the same reactor; when the worker's connection
/// ends, the reactor stops.
struct Connect<H> {
    handler: Option<H>,
    config: Config,
    stops_reactor: bool,
}

impl<H: ConnectionHandler + 'static> ClientFactory for Connect<H> {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        match self.handler.take() {
            Some(h) => Box::new(Client::new(self.config.clone(), h)),
            None => unreachable!("each factory connects once"),
        }
    }

    fn client_connection_failed(&mut self, reason: &std::io::Error, connector: &mut Connector) {
        eprintln!("cannot connect: {reason}");
        connector.stop_reactor();
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        if self.stops_reactor {
            connector.stop_reactor();
        }
    }
}

/// Runs the broker, the worker and the producer until the worker has done every task;
/// returns how many it did.
fn run() -> Result<usize, Box<dyn std::error::Error>> {
    let mut reactor = Reactor::new()?;
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let port = spindle::broker::start(&mut reactor, addr, BrokerConfig::default())?;
    let at = port.socket_addr().ok_or("no TCP address")?;
    println!("broker listening on {at}");
    let config = Config::new(AmqpUri::parse(&format!("amqp://guest:guest@{at}/"))?);
    let done = Rc::new(Cell::new(0));
    let timeout = Some(Duration::from_secs(10));
    reactor.connect_tcp(
        at,
        Connect {
            handler: Some(Worker { done: done.clone() }),
            config: config.clone(),
            stops_reactor: true,
        },
        timeout,
    )?;
    reactor.connect_tcp(
        at,
        Connect {
            handler: Some(Producer { confirmed: 0 }),
            config,
            stops_reactor: false,
        },
        timeout,
    )?;
    reactor.run()?;
    Ok(done.get())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let done = run()?;
    println!("all {done} tasks done");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_worker_does_every_task_the_producer_published() {
        assert_eq!(super::run().unwrap(), super::TASKS.len());
    }
}
