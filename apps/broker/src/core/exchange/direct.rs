//! The direct rule: a message goes to the destinations bound under exactly its routing key
//! (RabbitMQ's `rabbit_exchange_type_direct`: byte-for-byte equality, the empty key included).

use std::collections::HashMap;

use spindle_protocols::amqp::{FieldTable, ShortStr};

use super::fanout::{owned, owned_destination, BindingSet, Change};
use super::route::{Binding, Destination, Route};

/// The bindings of a direct exchange, indexed by key.
#[derive(Debug, Default)]
pub(crate) struct Direct {
    bindings: BindingSet,
    /// Key → the destinations bound under it, each once, first bound first.
    by_key: HashMap<ShortStr, Vec<Destination>>,
}

impl Direct {
    /// Drops `destination` from the destinations of `key`.
    fn forget(&mut self, key: &[u8], destination: &Destination) {
        if let Some(destinations) = self.by_key.get_mut(key) {
            destinations.retain(|d| d != destination);
            if destinations.is_empty() {
                self.by_key.remove(key);
            }
        }
    }
}

impl Route for Direct {
    fn bind(&mut self, destination: &Destination, key: &ShortStr, arguments: &FieldTable) -> bool {
        match self.bindings.insert(destination, key, arguments) {
            Change::None => false,
            Change::Arguments => true,
            Change::Key => {
                match self.by_key.get_mut(key.as_bytes()) {
                    Some(destinations) => destinations.push(owned_destination(destination)),
                    None => {
                        self.by_key
                            .insert(owned(key), vec![owned_destination(destination)]);
                    }
                }
                true
            }
        }
    }

    fn unbind(
        &mut self,
        destination: &Destination,
        key: &ShortStr,
        arguments: &FieldTable,
    ) -> bool {
        match self.bindings.remove(destination, key, arguments) {
            Change::None => false,
            Change::Arguments => true,
            Change::Key => {
                self.forget(key.as_bytes(), destination);
                true
            }
        }
    }

    fn unbind_all(&mut self, destination: &Destination) -> usize {
        let removed = self.bindings.remove_destination(destination);
        for key in &removed.keys {
            self.forget(key.as_bytes(), destination);
        }
        removed.count
    }

    fn route(&self, routing_key: &[u8], _headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        if let Some(destinations) = self.by_key.get(routing_key) {
            out.extend(destinations.iter().cloned());
        }
    }

    fn len(&self) -> usize {
        self.bindings.len()
    }

    fn bindings(&self) -> Vec<Binding> {
        self.bindings.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use spindle_protocols::amqp::FieldValue;

    use super::super::fanout::tests::{q, s, table};
    use super::*;

    fn routed(route: &Direct, key: &str) -> Vec<Destination> {
        let mut out = Vec::new();
        route.route(key.as_bytes(), None, &mut out);
        out
    }

    #[test]
    fn routes_by_exact_key() {
        let mut d = Direct::default();
        let none = FieldTable::new();
        for (queue, key) in [
            ("q1", "info"),
            ("q2", "error"),
            ("q3", "info"),
            ("q4", ""),
            ("q1", "error"),
            ("q5", "info.x"),
        ] {
            assert!(d.bind(&q(queue), &s(key), &none));
        }
        let cases: &[(&str, &[&str])] = &[
            ("info", &["q1", "q3"]),
            ("error", &["q2", "q1"]),
            ("", &["q4"]),
            ("info.x", &["q5"]),
            ("Info", &[]),
            ("info.", &[]),
            ("inf", &[]),
            ("#", &[]),
            ("*", &[]),
        ];
        for (key, expected) in cases {
            let expected: Vec<Destination> = expected.iter().map(|n| q(n)).collect();
            assert_eq!(routed(&d, key), expected, "routing key {key:?}");
        }
    }

    #[test]
    fn a_destination_bound_twice_under_one_key_is_routed_once() {
        let mut d = Direct::default();
        let args = table(&[("x-any", FieldValue::I8(1))]);
        assert!(d.bind(&q("q"), &s("k"), &FieldTable::new()));
        assert!(d.bind(&q("q"), &s("k"), &args));
        assert!(!d.bind(&q("q"), &s("k"), &args));
        assert_eq!(d.len(), 2);
        assert_eq!(routed(&d, "k"), vec![q("q")]);
        assert!(d.unbind(&q("q"), &s("k"), &FieldTable::new()));
        assert_eq!(
            routed(&d, "k"),
            vec![q("q")],
            "still bound with the other arguments"
        );
        assert!(d.unbind(&q("q"), &s("k"), &args));
        assert!(!d.unbind(&q("q"), &s("k"), &args));
        assert_eq!(routed(&d, "k"), vec![]);
        assert_eq!(d.len(), 0);
        assert!(d.by_key.is_empty());
    }

    #[test]
    fn unbind_all_removes_every_key_of_a_destination() {
        let mut d = Direct::default();
        let none = FieldTable::new();
        d.bind(&q("a"), &s("1"), &none);
        d.bind(&q("a"), &s("2"), &none);
        d.bind(&q("b"), &s("2"), &none);
        d.bind(&Destination::Exchange(s("a")), &s("1"), &none);
        assert_eq!(d.unbind_all(&q("a")), 2);
        assert_eq!(routed(&d, "1"), vec![Destination::Exchange(s("a"))]);
        assert_eq!(routed(&d, "2"), vec![q("b")]);
        assert_eq!(d.len(), 2);
        assert_eq!(d.bindings().len(), 2);
        assert_eq!(d.unbind_all(&q("a")), 0);
    }
}
