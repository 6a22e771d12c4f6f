//! [`Vhost`]: a virtual host's exchanges and queues, and routing a message through them to
//! the queues it lands in.

use std::collections::HashMap;

use spindle_protocols::amqp::{FieldTable, FieldValue, ShortStr};

use super::exchange::{Destination, ExchangeType, Route};
use super::queue::Queue;

/// An exchange: its declared properties and its routing table.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) name: ShortStr,
    pub(crate) kind: ExchangeType,
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
    /// Only reachable through exchange-to-exchange bindings, not by publishing.
    pub(crate) internal: bool,
    /// The declare's arguments (`alternate-exchange`).
    pub(crate) arguments: FieldTable,
    /// Its bindings and routing rule.
    pub(crate) route: Box<dyn Route>,
}

impl Exchange {
    /// An exchange with no bindings.
    pub(crate) fn new(
        name: ShortStr,
        kind: ExchangeType,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: FieldTable,
    ) -> Exchange {
        Exchange {
            route: kind.new_route(),
            name,
            kind,
            durable,
            auto_delete,
            internal,
            arguments,
        }
    }

    /// The `alternate-exchange` argument: where messages nothing matched go.
    fn alternate(&self) -> Option<&[u8]> {
        self.arguments
            .get("alternate-exchange")
            .and_then(FieldValue::as_bytes)
            .map(|b| b.as_ref())
    }
}

/// The exchanges every virtual host has, as RabbitMQ creates them (`amq.rabbitmq.trace` is
/// not among them: tracing is not offered).
const STANDARD_EXCHANGES: [(&str, ExchangeType); 6] = [
    ("", ExchangeType::Direct),
    ("amq.direct", ExchangeType::Direct),
    ("amq.fanout", ExchangeType::Fanout),
    ("amq.topic", ExchangeType::Topic),
    ("amq.headers", ExchangeType::Headers),
    ("amq.match", ExchangeType::Headers),
];

/// A virtual host.
#[derive(Debug)]
pub(crate) struct Vhost {
    pub(crate) name: String,
    pub(crate) exchanges: HashMap<ShortStr, Exchange>,
    pub(crate) queues: HashMap<ShortStr, Queue>,
}

impl Vhost {
    /// A virtual host with the standard exchanges.
    pub(crate) fn new(name: &str) -> Vhost {
        let exchanges = STANDARD_EXCHANGES
            .iter()
            .map(|(n, kind)| {
                let name = ShortStr::from_static(n);
                let x = Exchange::new(name.clone(), *kind, true, false, false, FieldTable::new());
                (name, x)
            })
            .collect();
        Vhost {
            name: name.to_string(),
            exchanges,
            queues: HashMap::new(),
        }
    }

    /// The queues a message published to `exchange` with `key` and `headers` lands in, each
    /// once: the default exchange sends it to the queue named `key`; bindings to exchanges
    /// are followed (each exchange visited once, so a cycle of bindings ends); an exchange
    /// whose bindings matched nothing passes the message to its `alternate-exchange`.
    pub(crate) fn route(
        &self,
        exchange: &[u8],
        key: &[u8],
        headers: Option<&FieldTable>,
    ) -> Vec<ShortStr> {
        let mut queues = Vec::new();
        if exchange.is_empty() {
            if let Some((name, _)) = self.queues.get_key_value(key) {
                queues.push(name.clone());
            }
            return queues;
        }
        let mut visited: Vec<&[u8]> = Vec::new();
        let mut pending: Vec<&[u8]> = vec![exchange];
        let mut hops = Vec::new();
        while let Some(name) = pending.pop() {
            if visited.contains(&name) {
                continue;
            }
            visited.push(name);
            let Some(x) = self.exchanges.get(name) else {
                continue;
            };
            hops.clear();
            x.route.route(key, headers, &mut hops);
            let before = queues.len();
            let mut forwarded = false;
            for d in &hops {
                match d {
                    Destination::Queue(q) => {
                        if !queues.contains(q) && self.queues.contains_key(q) {
                            queues.push(q.clone());
                        }
                    }
                    Destination::Exchange(e) => {
                        forwarded = true;
                        if let Some((k, _)) = self.exchanges.get_key_value(e.as_ref()) {
                            pending.push(k.as_ref());
                        }
                    }
                }
            }
            if queues.len() == before && !forwarded {
                if let Some(alt) = x.alternate() {
                    if let Some((k, _)) = self.exchanges.get_key_value(alt) {
                        pending.push(k.as_ref());
                    }
                }
            }
        }
        queues
    }

    /// Removes every binding to `destination` from every exchange (a queue or exchange was
    /// deleted), and the auto-delete exchanges left without bindings by it.
    pub(crate) fn unbind_everywhere(&mut self, destination: &Destination) {
        let mut emptied = Vec::new();
        for (name, x) in self.exchanges.iter_mut() {
            if x.route.unbind_all(destination) > 0 && x.auto_delete && x.route.len() == 0 {
                emptied.push(name.clone());
            }
        }
        for name in emptied {
            self.delete_exchange(&name);
        }
    }

    /// Deletes an exchange and the bindings to it.
    pub(crate) fn delete_exchange(&mut self, name: &ShortStr) {
        if self.exchanges.remove(name.as_ref() as &[u8]).is_some() {
            self.unbind_everywhere(&Destination::Exchange(name.clone()));
        }
    }
}
