//! The fanout rule — every bound destination, whatever the routing key — and [`BindingSet`],
//! the bindings of an exchange by destination, which is the whole of a fanout table and the
//! bookkeeping half of the other three (which add an index for their rule).
//!
//! A binding is identified by (destination, key, arguments), with the arguments sorted by
//! name as RabbitMQ sorts them (`rabbit_binding` applies `rabbit_misc:sort_field_table`
//! before adding or removing): `{a: 1, b: 2}` and `{b: 2, a: 1}` are one binding.

use std::collections::HashMap;

use bytes::Bytes;
use spindle_protocols::amqp::{FieldTable, FieldValue, ShortStr};

use super::route::{Binding, Destination, Route};

/// The bindings of a fanout exchange: a message goes to each bound destination once.
#[derive(Debug, Default)]
pub(crate) struct Fanout {
    bindings: BindingSet,
}

impl Route for Fanout {
    fn bind(&mut self, destination: &Destination, key: &ShortStr, arguments: &FieldTable) -> bool {
        self.bindings.insert(destination, key, arguments) != Change::None
    }

    fn unbind(
        &mut self,
        destination: &Destination,
        key: &ShortStr,
        arguments: &FieldTable,
    ) -> bool {
        self.bindings.remove(destination, key, arguments) != Change::None
    }

    fn unbind_all(&mut self, destination: &Destination) -> usize {
        self.bindings.remove_destination(destination).count
    }

    fn route(
        &self,
        _routing_key: &[u8],
        _headers: Option<&FieldTable>,
        out: &mut Vec<Destination>,
    ) {
        out.extend(
            self.bindings
                .iter()
                .map(|(destination, _)| destination.clone()),
        );
    }

    fn len(&self) -> usize {
        self.bindings.len()
    }

    fn bindings(&self) -> Vec<Binding> {
        self.bindings.to_vec()
    }
}

/// What [`BindingSet::insert`] or [`BindingSet::remove`] changed, so a rule's index changes
/// only when the (destination, key) pair it indexes appears or disappears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Nothing: the binding was already there (insert) or was not there (remove).
    None,
    /// The first binding of the destination under this key was added, or its last removed.
    Key,
    /// Another arguments table under a (destination, key) pair that stays bound.
    Arguments,
}

/// What [`BindingSet::remove_destination`] removed.
#[derive(Debug, Default)]
pub(super) struct Removed {
    /// The keys the destination was bound under, each once.
    pub(super) keys: Vec<ShortStr>,
    /// How many bindings (keys × arguments tables).
    pub(super) count: usize,
}

/// One destination's bindings: key → the arguments tables it is bound with under that key
/// (sorted by name; nearly always one table, often empty).
pub(super) type KeyArguments = HashMap<ShortStr, Vec<FieldTable>>;

/// An exchange's bindings, by destination, in a deterministic order (first bound first, but
/// removing a destination moves the last one into its place: O(1) removal).
///
/// Keys, arguments and destination names are copied when stored: the caller's values are
/// usually slices of a whole frame buffer, which a long-lived binding must not keep alive.
#[derive(Debug, Default)]
pub(super) struct BindingSet {
    /// Each destination once, with its bindings.
    destinations: Vec<(Destination, KeyArguments)>,
    /// Where each destination is in `destinations`.
    slots: HashMap<Destination, usize>,
    /// How many bindings in all.
    len: usize,
}

impl BindingSet {
    /// Adds a binding; [`Change::None`] if it was already there.
    pub(super) fn insert(
        &mut self,
        destination: &Destination,
        key: &ShortStr,
        arguments: &FieldTable,
    ) -> Change {
        let arguments = sorted(arguments);
        let slot = match self.slots.get(destination) {
            Some(&slot) => slot,
            None => {
                let at = self.destinations.len();
                let destination = owned_destination(destination);
                self.slots.insert(destination.clone(), at);
                self.destinations.push((destination, HashMap::new()));
                at
            }
        };
        let Some((_, keys)) = self.destinations.get_mut(slot) else {
            return Change::None;
        };
        let change = match keys.get_mut(key.as_bytes()) {
            Some(tables) if tables.contains(&arguments) => return Change::None,
            Some(tables) => {
                tables.push(arguments);
                Change::Arguments
            }
            None => {
                keys.insert(owned(key), vec![arguments]);
                Change::Key
            }
        };
        self.len += 1;
        change
    }

    /// Removes a binding; [`Change::None`] if there was none.
    pub(super) fn remove(
        &mut self,
        destination: &Destination,
        key: &ShortStr,
        arguments: &FieldTable,
    ) -> Change {
        let Some(&slot) = self.slots.get(destination) else {
            return Change::None;
        };
        let Some((_, keys)) = self.destinations.get_mut(slot) else {
            return Change::None;
        };
        let Some(tables) = keys.get_mut(key.as_bytes()) else {
            return Change::None;
        };
        let arguments = sorted(arguments);
        let Some(at) = tables.iter().position(|t| *t == arguments) else {
            return Change::None;
        };
        tables.swap_remove(at);
        self.len -= 1;
        if !tables.is_empty() {
            return Change::Arguments;
        }
        keys.remove(key.as_bytes());
        if keys.is_empty() {
            self.forget(destination, slot);
        }
        Change::Key
    }

    /// Removes every binding of `destination`.
    pub(super) fn remove_destination(&mut self, destination: &Destination) -> Removed {
        let Some(&slot) = self.slots.get(destination) else {
            return Removed::default();
        };
        let keys = self.forget(destination, slot);
        let count = keys.values().map(Vec::len).sum();
        self.len -= count;
        Removed {
            keys: keys.into_keys().collect(),
            count,
        }
    }

    /// Drops `destination` (at `slot`) from the order and the index, moving the last
    /// destination into its slot; returns its bindings.
    fn forget(&mut self, destination: &Destination, slot: usize) -> KeyArguments {
        self.slots.remove(destination);
        if slot >= self.destinations.len() {
            return KeyArguments::new();
        }
        let (_, keys) = self.destinations.swap_remove(slot);
        if let Some((moved, _)) = self.destinations.get(slot) {
            if let Some(moved_slot) = self.slots.get_mut(moved) {
                *moved_slot = slot;
            }
        }
        keys
    }

    /// Each bound destination once, with its bindings, in the set's order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Destination, &KeyArguments)> {
        self.destinations.iter().map(|(d, keys)| (d, keys))
    }

    /// How many bindings.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Every binding, as listed (arguments sorted by name).
    pub(super) fn to_vec(&self) -> Vec<Binding> {
        let mut all = Vec::with_capacity(self.len);
        for (destination, keys) in &self.destinations {
            for (key, tables) in keys {
                all.extend(tables.iter().map(|arguments| Binding {
                    destination: destination.clone(),
                    key: key.clone(),
                    arguments: arguments.clone(),
                }));
            }
        }
        all
    }
}

/// A copy of `s` that shares no buffer with the caller's (see [`BindingSet`]).
pub(super) fn owned(s: &ShortStr) -> ShortStr {
    ShortStr::try_from(s.as_bytes()).unwrap_or_else(|_| s.clone())
}

/// A copy of `destination` that shares no buffer with the caller's (see [`BindingSet`]).
pub(super) fn owned_destination(destination: &Destination) -> Destination {
    match destination {
        Destination::Queue(name) => Destination::Queue(owned(name)),
        Destination::Exchange(name) => Destination::Exchange(owned(name)),
    }
}

/// `arguments` sorted by name (stable: entries of one name keep their order), copied so that
/// they share no buffer with the caller's, as bindings store and compare them.
fn sorted(arguments: &FieldTable) -> FieldTable {
    if arguments.is_empty() {
        return FieldTable::new();
    }
    let mut entries: Vec<(ShortStr, FieldValue)> = arguments
        .iter()
        .map(|(name, value)| (owned(name), owned_value(value)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

/// A copy of `value` that shares no buffer with the caller's.
fn owned_value(value: &FieldValue) -> FieldValue {
    match value {
        FieldValue::LongStr(b) => FieldValue::LongStr(Bytes::copy_from_slice(b)),
        FieldValue::ByteArray(b) => FieldValue::ByteArray(Bytes::copy_from_slice(b)),
        FieldValue::Array(values) => FieldValue::Array(values.iter().map(owned_value).collect()),
        FieldValue::Table(table) => FieldValue::Table(
            table
                .iter()
                .map(|(name, value)| (owned(name), owned_value(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A queue destination named `name`.
    pub(in super::super) fn q(name: &str) -> Destination {
        Destination::Queue(ShortStr::try_from(name).unwrap())
    }

    /// A short string.
    pub(in super::super) fn s(text: &str) -> ShortStr {
        ShortStr::try_from(text).unwrap()
    }

    /// A table of `(name, value)` entries, in that order.
    pub(in super::super) fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
        entries
            .iter()
            .map(|(name, value)| (s(name), value.clone()))
            .collect()
    }

    fn routed(route: &dyn Route, key: &str) -> Vec<Destination> {
        let mut out = Vec::new();
        route.route(key.as_bytes(), None, &mut out);
        out
    }

    #[test]
    fn every_destination_once_whatever_the_key() {
        let mut f = Fanout::default();
        let none = FieldTable::new();
        assert!(f.bind(&q("a"), &s(""), &none));
        assert!(f.bind(&q("b"), &s("x"), &none));
        assert!(f.bind(&q("a"), &s("y"), &none));
        assert!(f.bind(&Destination::Exchange(s("e")), &s(""), &none));
        let all = vec![q("a"), q("b"), Destination::Exchange(s("e"))];
        assert_eq!(routed(&f, ""), all);
        assert_eq!(routed(&f, "anything.at.all"), all);
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn bind_and_unbind_are_idempotent() {
        let mut f = Fanout::default();
        let args = table(&[("b", FieldValue::I32(2)), ("a", FieldValue::I32(1))]);
        let same_args = table(&[("a", FieldValue::I32(1)), ("b", FieldValue::I32(2))]);
        assert!(f.bind(&q("a"), &s("k"), &args));
        assert!(!f.bind(&q("a"), &s("k"), &args));
        assert!(
            !f.bind(&q("a"), &s("k"), &same_args),
            "arguments compare sorted"
        );
        assert!(f.bind(&q("a"), &s("k"), &FieldTable::new()));
        assert_eq!(f.len(), 2);
        assert!(f.unbind(&q("a"), &s("k"), &same_args));
        assert!(!f.unbind(&q("a"), &s("k"), &args));
        assert!(!f.unbind(&q("b"), &s("k"), &args));
        assert_eq!(routed(&f, ""), vec![q("a")]);
        assert!(f.unbind(&q("a"), &s("k"), &FieldTable::new()));
        assert_eq!(f.len(), 0);
        assert!(routed(&f, "").is_empty());
    }

    #[test]
    fn unbind_all_removes_one_destination_and_keeps_the_order_deterministic() {
        let mut f = Fanout::default();
        let none = FieldTable::new();
        for name in ["a", "b", "c", "d"] {
            f.bind(&q(name), &s("1"), &none);
            f.bind(&q(name), &s("2"), &none);
        }
        assert_eq!(f.unbind_all(&q("b")), 2);
        assert_eq!(f.unbind_all(&q("b")), 0);
        assert_eq!(f.len(), 6);
        assert_eq!(routed(&f, ""), vec![q("a"), q("d"), q("c")]);
        // The moved destination's slot follows it: it can be removed afterwards.
        assert!(f.unbind(&q("d"), &s("1"), &none));
        assert!(f.unbind(&q("d"), &s("2"), &none));
        assert_eq!(routed(&f, ""), vec![q("a"), q("c")]);
        assert_eq!(f.unbind_all(&q("c")), 2);
        assert_eq!(routed(&f, ""), vec![q("a")]);
    }

    #[test]
    fn bindings_lists_each_binding_with_sorted_arguments() {
        let mut f = Fanout::default();
        let args = table(&[("z", FieldValue::Bool(true)), ("a", "x".into())]);
        f.bind(&q("a"), &s("k"), &args);
        f.bind(&q("a"), &s("k"), &FieldTable::new());
        f.bind(&q("b"), &s(""), &FieldTable::new());
        let mut listed = f.bindings();
        listed.sort_by(|x, y| {
            (&x.destination, &x.key, x.arguments.len()).cmp(&(
                &y.destination,
                &y.key,
                y.arguments.len(),
            ))
        });
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].arguments, FieldTable::new());
        assert_eq!(
            listed[1].arguments,
            table(&[("a", "x".into()), ("z", FieldValue::Bool(true))])
        );
        assert_eq!(listed[2].destination, q("b"));
    }

    #[test]
    fn stored_values_do_not_share_the_callers_buffer() {
        let frame = Bytes::from_static(b"queue-name\x00routing-key");
        let name = ShortStr::from_bytes(frame.slice(0..10)).unwrap();
        let key = ShortStr::from_bytes(frame.slice(11..)).unwrap();
        let mut set = BindingSet::default();
        set.insert(&Destination::Queue(name), &key, &FieldTable::new());
        let (destination, keys) = set.iter().next().unwrap();
        let Destination::Queue(stored) = destination else {
            panic!("a queue")
        };
        let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        assert!(!frame_range.contains(&(stored.as_bytes().as_ptr() as usize)));
        let stored_key = keys.keys().next().unwrap();
        assert!(!frame_range.contains(&(stored_key.as_bytes().as_ptr() as usize)));
    }
}
