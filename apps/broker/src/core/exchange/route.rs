//! What every routing rule shares: [`Destination`], [`Binding`] and the [`Route`] trait the
//! rules implement.

use spindle_protocols::amqp::{FieldTable, ShortStr};

/// Where a binding leads: a queue, or another exchange (exchange-to-exchange bindings).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Destination {
    /// A queue of the same virtual host, by name.
    Queue(ShortStr),
    /// An exchange of the same virtual host, by name.
    Exchange(ShortStr),
}

/// One binding as listed (management, definitions export): where it leads, its key, its
/// arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Binding {
    pub(crate) destination: Destination,
    pub(crate) key: ShortStr,
    pub(crate) arguments: FieldTable,
}

/// A routing table: an exchange's bindings, and the rule that picks the destinations of a
/// message. IO-free and independent of queues: it only names destinations.
pub(crate) trait Route: std::fmt::Debug {
    /// Adds a binding; false if the same (destination, key, arguments) was already bound
    /// (binding twice is not an error in AMQP: it changes nothing).
    fn bind(&mut self, destination: &Destination, key: &ShortStr, arguments: &FieldTable) -> bool;

    /// Removes a binding; false if there was none (RabbitMQ: unbinding a missing binding
    /// succeeds too).
    fn unbind(&mut self, destination: &Destination, key: &ShortStr, arguments: &FieldTable)
        -> bool;

    /// Removes every binding to `destination` (a queue or exchange was deleted); returns how
    /// many were removed.
    fn unbind_all(&mut self, destination: &Destination) -> usize;

    /// Appends the destinations of a message with `routing_key` and `headers` to `out`, each
    /// once (a destination bound twice, under two keys that both match, appears once).
    fn route(&self, routing_key: &[u8], headers: Option<&FieldTable>, out: &mut Vec<Destination>);

    /// How many bindings the table holds (`exchange.delete if_unused`, auto-delete).
    fn len(&self) -> usize;

    /// Every binding, in any order.
    fn bindings(&self) -> Vec<Binding>;
}
