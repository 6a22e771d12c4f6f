//! The topic rule: keys are words separated by `.`; in a binding key `*` matches exactly one
//! word and `#` zero or more. As RabbitMQ splits them (`split_topic_key` in
//! `rabbit_exchange_type_topic`), the empty key has no words, and every `.` separates two
//! words, empty ones included: `.` is two empty words, `a..b` three, `a.` two.
//!
//! The binding keys form a trie of words: each node has children by literal word, a `*`
//! child and a `#` child, and holds the destinations bound under the key that ends there.
//! A routing key is matched as `trie_match` does, visiting from the root
//! - at the end of the words: the node's destinations, then its `#` child (zero words);
//! - otherwise: the child of the next word, the `*` child (both one word further), and the
//!   `#` child at this word and every later one (it swallows zero or more words).
//!
//! Each `#` node is visited once for every position from the first it is reached at (later
//! reaches find that range done), and every other node has one parent edge consuming one
//! word, so every (node, position) pair is visited at most once: `#.#.#.#` against a long
//! key costs (nodes × words), never (words ^ `#`s). The destinations found are then deduplicated.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use spindle_protocols::amqp::{FieldTable, ShortStr};

use super::fanout::{owned_destination, BindingSet, Change};
use super::route::{Binding, Destination, Route};

/// The bindings of a topic exchange, with their keys in a trie of words.
#[derive(Debug, Default)]
pub(crate) struct Topic {
    bindings: BindingSet,
    root: Node,
}

/// A node of the trie: the key that leads to it is the words on the path from the root.
#[derive(Debug, Default)]
struct Node {
    /// Children by literal word (neither `*` nor `#`).
    words: HashMap<Bytes, Node>,
    /// The child for `*`.
    star: Option<Box<Node>>,
    /// The child for `#`.
    hash: Option<Box<Node>>,
    /// The destinations bound under the key that ends here, each once.
    destinations: Vec<Destination>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.destinations.is_empty()
            && self.words.is_empty()
            && self.star.is_none()
            && self.hash.is_none()
    }

    /// The node for `words` under this one, created with its path if missing.
    fn make_path<'w>(&mut self, words: impl Iterator<Item = &'w [u8]>) -> &mut Node {
        let mut node = self;
        for word in words {
            node = match word {
                b"*" => node.star.get_or_insert_with(Box::default),
                b"#" => node.hash.get_or_insert_with(Box::default),
                word => node.words.entry(Bytes::copy_from_slice(word)).or_default(),
            };
        }
        node
    }

    /// Removes `destination` from the node for `words` under this one, then prunes the nodes
    /// left empty on the way back up; false if it was not there.
    fn remove(&mut self, words: &[&[u8]], destination: &Destination) -> bool {
        let Some((&word, rest)) = words.split_first() else {
            let before = self.destinations.len();
            self.destinations.retain(|d| d != destination);
            return self.destinations.len() != before;
        };
        match word {
            b"*" | b"#" => {
                let child = if word == b"*" {
                    &mut self.star
                } else {
                    &mut self.hash
                };
                let Some(node) = child.as_deref_mut() else {
                    return false;
                };
                let removed = node.remove(rest, destination);
                if node.is_empty() {
                    *child = None;
                }
                removed
            }
            word => {
                let Some(node) = self.words.get_mut(word) else {
                    return false;
                };
                let removed = node.remove(rest, destination);
                if node.is_empty() {
                    self.words.remove(word);
                }
                removed
            }
        }
    }
}

/// The words of a topic key: none for the empty key, else the pieces between dots.
fn words(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    key.split(|&b| b == b'.')
        .take(if key.is_empty() { 0 } else { usize::MAX })
}

/// Up to this many `#` nodes reached by one routing key are tracked in a vector; past it, in
/// a hash map.
const FEW_HASH_NODES: usize = 16;

/// One routing key's walk down the trie.
struct Walk<'t, 'k> {
    words: &'k [&'k [u8]],
    /// The destinations found, duplicates included, in the order found.
    found: Vec<&'t Destination>,
    /// For each `#` node reached: the first position it was reached at (it has been visited
    /// at that position and every later one).
    hash_from: Vec<(*const Node, usize)>,
    /// `hash_from` once it holds more than [`FEW_HASH_NODES`] nodes.
    hash_from_many: HashMap<*const Node, usize>,
}

impl<'t> Walk<'t, '_> {
    fn visit(&mut self, node: &'t Node, at: usize) {
        match self.words.get(at) {
            None => self.found.extend(node.destinations.iter()),
            Some(word) => {
                if let Some(child) = node.words.get(*word) {
                    self.visit(child, at + 1);
                }
                if let Some(child) = node.star.as_deref() {
                    self.visit(child, at + 1);
                }
            }
        }
        if let Some(child) = node.hash.as_deref() {
            self.visit_hash(child, at);
        }
    }

    /// Visits `#` node `node` at `from` and every later position, except those already
    /// visited.
    fn visit_hash(&mut self, node: &'t Node, from: usize) {
        let until = match self.reached_hash(node, from) {
            Some(until) => until,
            None => return,
        };
        for at in from..until {
            self.visit(node, at);
        }
    }

    /// Records that `#` node `node` is reached at `from`; returns the end of the positions
    /// left to visit (those from `from` up to where it was first reached before), or `None`
    /// if it was already reached at `from` or before.
    fn reached_hash(&mut self, node: &Node, from: usize) -> Option<usize> {
        let all = self.words.len() + 1;
        let key = node as *const Node;
        let first = if self.hash_from_many.is_empty() {
            let few = self.hash_from.len() < FEW_HASH_NODES;
            match self.hash_from.iter_mut().find(|(n, _)| *n == key) {
                Some((_, first)) => first,
                None if few => {
                    self.hash_from.push((key, from));
                    return Some(all);
                }
                None => {
                    self.hash_from_many.extend(self.hash_from.drain(..));
                    self.hash_from_many.insert(key, from);
                    return Some(all);
                }
            }
        } else {
            match self.hash_from_many.get_mut(&key) {
                Some(first) => first,
                None => {
                    self.hash_from_many.insert(key, from);
                    return Some(all);
                }
            }
        };
        if *first <= from {
            return None;
        }
        let until = *first;
        *first = from;
        Some(until)
    }
}

/// Up to this many destinations found are deduplicated by comparing each with those before;
/// past it, with a hash set.
const FEW_FOUND: usize = 16;

impl Route for Topic {
    fn bind(&mut self, destination: &Destination, key: &ShortStr, arguments: &FieldTable) -> bool {
        match self.bindings.insert(destination, key, arguments) {
            Change::None => false,
            Change::Arguments => true,
            Change::Key => {
                let node = self.root.make_path(words(key.as_bytes()));
                node.destinations.push(owned_destination(destination));
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
                let path: Vec<&[u8]> = words(key.as_bytes()).collect();
                self.root.remove(&path, destination);
                true
            }
        }
    }

    fn unbind_all(&mut self, destination: &Destination) -> usize {
        let removed = self.bindings.remove_destination(destination);
        for key in &removed.keys {
            let path: Vec<&[u8]> = words(key.as_bytes()).collect();
            self.root.remove(&path, destination);
        }
        removed.count
    }

    fn route(&self, routing_key: &[u8], _headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        let words: Vec<&[u8]> = words(routing_key).collect();
        let mut walk = Walk {
            words: &words,
            found: Vec::new(),
            hash_from: Vec::new(),
            hash_from_many: HashMap::new(),
        };
        walk.visit(&self.root, 0);
        let found = walk.found;
        if found.len() <= FEW_FOUND {
            for (i, destination) in found.iter().enumerate() {
                if !found.iter().take(i).any(|d| d == destination) {
                    out.push((*destination).clone());
                }
            }
        } else {
            let mut seen = HashSet::with_capacity(found.len());
            for destination in found {
                if seen.insert(destination) {
                    out.push(destination.clone());
                }
            }
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

    fn routed(route: &Topic, key: &str) -> Vec<Destination> {
        let mut out = Vec::new();
        route.route(key.as_bytes(), None, &mut out);
        out
    }

    /// Whether a topic exchange with the one binding `pattern` routes `key`.
    fn matches(pattern: &str, key: &str) -> bool {
        let mut t = Topic::default();
        t.bind(&q("q"), &s(pattern), &FieldTable::new());
        let out = routed(&t, key);
        assert!(out.len() <= 1);
        !out.is_empty()
    }

    #[test]
    fn words_split_as_rabbitmq_does() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            (".", &["", ""]),
            ("a", &["a"]),
            ("a.", &["a", ""]),
            (".a", &["", "a"]),
            ("a..b", &["a", "", "b"]),
            ("a.b.c", &["a", "b", "c"]),
        ];
        for (key, expected) in cases {
            let got: Vec<&[u8]> = words(key.as_bytes()).collect();
            let expected: Vec<&[u8]> = expected.iter().map(|w| w.as_bytes()).collect();
            assert_eq!(got, expected, "key {key:?}");
        }
    }

    /// Binding key, routing key, whether it matches: RabbitMQ's `trie_match` on the words
    /// of `split_topic_key`, worked through by hand.
    const MATCHES: &[(&str, &str, bool)] = &[
        // `#` matches any key, the empty one (no words) included.
        ("#", "", true),
        ("#", "a", true),
        ("#", "a.b.c", true),
        ("#", ".", true),
        ("#.#", "", true),
        ("#.#", "a", true),
        ("#.#", "a.b.c", true),
        ("#.#.#.#", "a.b", true),
        // `a.#`: `a` then zero or more words.
        ("a.#", "a", true),
        ("a.#", "a.b", true),
        ("a.#", "a.b.c", true),
        ("a.#", "a.", true),
        ("a.#", "b", false),
        ("a.#", "", false),
        ("a.#", "b.a", false),
        // `#.a`: zero or more words, then `a`.
        ("#.a", "a", true),
        ("#.a", "b.a", true),
        ("#.a", "b.c.a", true),
        ("#.a", "a.b", false),
        ("#.a", "", false),
        ("#.a", ".a", true),
        // `*.#`: at least one word.
        ("*.#", "a", true),
        ("*.#", "a.b.c", true),
        ("*.#", "", false),
        ("*.#", ".", true),
        // `a.*.#`: `a`, one word, then any.
        ("a.*.#", "a", false),
        ("a.*.#", "a.b", true),
        ("a.*.#", "a.b.c.d", true),
        ("a.*.#", "a.", true),
        ("a.*.#", "b.c", false),
        // `*`: exactly one word, possibly empty.
        ("*", "a", true),
        ("*", "", false),
        ("*", ".", false),
        ("*", "a.b", false),
        ("*.*", ".", true),
        ("*.*", "a.b", true),
        ("*.*", "a", false),
        // The empty key is no words: it matches only the empty routing key.
        ("", "", true),
        ("", "a", false),
        ("", ".", false),
        // `.` is two empty words.
        (".", ".", true),
        (".", "", false),
        (".", "a.", false),
        ("a..b", "a..b", true),
        ("a.*.b", "a..b", true),
        ("a..b", "a.x.b", false),
        ("a.", "a.", true),
        ("a.", "a", false),
        // Literal words: exact bytes; `*`/`#` inside a word are literal.
        ("a.b", "a.b", true),
        ("a.b", "a.B", false),
        ("a.b", "a.b.c", false),
        ("a*.b", "a*.b", true),
        ("a*.b", "ax.b", false),
        // A routing key's own `*` and `#` words are only words.
        ("a.b", "a.*", false),
        ("a.*", "a.*", true),
        ("a.#", "a.#", true),
        ("#", "#", true),
        ("a.b", "#", false),
        // `#` between and around words.
        ("a.#.b", "a.b", true),
        ("a.#.b", "a.x.b", true),
        ("a.#.b", "a.x.y.b", true),
        ("a.#.b", "a.b.x", false),
        ("a.#.b", "a.b.b", true),
        ("#.a.#", "a", true),
        ("#.a.#", "x.a.y", true),
        ("#.a.#", "x.y", false),
        ("#.*", "", false),
        ("#.*", "a", true),
        ("#.*", "a.b.c", true),
        ("*.#.*", "a", false),
        ("*.#.*", "a.b", true),
        ("*.#.*", "a.b.c.d", true),
        ("#.*.#", "", false),
        ("#.*.#", "a", true),
        ("#.*.*.#", "a", false),
        ("#.*.*.#", "a.b", true),
        // Tutorial keys.
        ("kern.*", "kern.critical", true),
        ("kern.*", "kern", false),
        ("*.critical", "kern.critical", true),
        ("*.critical", "a.kern.critical", false),
        ("*.orange.*", "quick.orange.rabbit", true),
        ("*.*.rabbit", "lazy.orange.elephant", false),
        ("lazy.#", "lazy.orange.male.rabbit", true),
        ("tenant7.#.event", "tenant7.event", true),
        ("tenant7.#.event", "tenant7.eu.db.event", true),
        ("tenant7.#.event", "tenant70.event", false),
    ];

    #[test]
    fn matches_as_rabbitmq_does() {
        for &(pattern, key, expected) in MATCHES {
            assert_eq!(
                matches(pattern, key),
                expected,
                "binding {pattern:?}, routing key {key:?}"
            );
        }
    }

    #[test]
    fn all_the_patterns_in_one_exchange_route_as_each_alone() {
        let mut t = Topic::default();
        for (i, &(pattern, _, _)) in MATCHES.iter().enumerate() {
            t.bind(&q(&format!("q{i}")), &s(pattern), &FieldTable::new());
        }
        let keys: HashSet<&str> = MATCHES.iter().map(|&(_, key, _)| key).collect();
        for key in keys {
            let mut expected: Vec<Destination> = MATCHES
                .iter()
                .enumerate()
                .filter(|&(_, &(pattern, _, _))| matches(pattern, key))
                .map(|(i, _)| q(&format!("q{i}")))
                .collect();
            let mut got = routed(&t, key);
            assert_eq!(
                got.len(),
                got.iter().collect::<HashSet<_>>().len(),
                "{key:?}"
            );
            got.sort();
            expected.sort();
            assert_eq!(got, expected, "routing key {key:?}");
        }
    }

    #[test]
    fn a_destination_matched_by_several_keys_is_routed_once() {
        let mut t = Topic::default();
        let none = FieldTable::new();
        for key in ["#", "a.#", "#.b", "a.b", "*.*", "#.#", "a.*"] {
            assert!(t.bind(&q("one"), &s(key), &none));
        }
        t.bind(&q("two"), &s("a.b"), &none);
        assert_eq!(routed(&t, "a.b"), vec![q("one"), q("two")]);
        // Many destinations, each found several times: the hash-set deduplication.
        for i in 0..40 {
            t.bind(&q(&format!("n{i}")), &s("a.*"), &none);
            t.bind(&q(&format!("n{i}")), &s("#.b"), &none);
        }
        let out = routed(&t, "a.b");
        assert_eq!(out.len(), 42);
        assert_eq!(out.iter().collect::<HashSet<_>>().len(), 42);
    }

    #[test]
    fn bind_and_unbind_are_idempotent_and_prune_the_trie() {
        let mut t = Topic::default();
        let none = FieldTable::new();
        let args = table(&[("k", FieldValue::I64(1))]);
        assert!(t.bind(&q("a"), &s("x.*.#.y"), &none));
        assert!(!t.bind(&q("a"), &s("x.*.#.y"), &none));
        assert!(t.bind(&q("a"), &s("x.*.#.y"), &args));
        assert!(t.bind(&q("b"), &s("x.*.#.y"), &none));
        assert_eq!(t.len(), 3);
        assert_eq!(routed(&t, "x.1.2.y"), vec![q("a"), q("b")]);
        assert!(t.unbind(&q("a"), &s("x.*.#.y"), &none));
        assert!(!t.unbind(&q("a"), &s("x.*.#.y"), &none));
        assert_eq!(routed(&t, "x.1.y"), vec![q("a"), q("b")]);
        assert!(t.unbind(&q("a"), &s("x.*.#.y"), &args));
        assert!(!t.unbind(&q("a"), &s("x.*.#"), &none));
        assert!(!t.unbind(&q("c"), &s("x.*.#.y"), &none));
        assert_eq!(routed(&t, "x.1.y"), vec![q("b")]);
        assert!(t.unbind(&q("b"), &s("x.*.#.y"), &none));
        assert_eq!(t.len(), 0);
        assert!(t.root.is_empty(), "{:?}", t.root);
    }

    #[test]
    fn unbind_all_removes_every_key_of_a_destination() {
        let mut t = Topic::default();
        let none = FieldTable::new();
        for key in ["a.#", "#", "", "a.b", "*.b"] {
            t.bind(&q("gone"), &s(key), &none);
        }
        t.bind(&q("kept"), &s("a.*"), &none);
        assert_eq!(t.unbind_all(&q("gone")), 5);
        assert_eq!(t.unbind_all(&q("gone")), 0);
        assert_eq!(t.len(), 1);
        assert_eq!(routed(&t, "a.b"), vec![q("kept")]);
        assert_eq!(routed(&t, ""), vec![]);
        t.unbind_all(&q("kept"));
        assert!(t.root.is_empty());
    }

    /// The definition: `*` is one word, `#` any number, other words themselves.
    fn defined_match(pattern: &[&[u8]], key: &[&[u8]]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&b"#", rest)) => (0..=key.len()).any(|i| defined_match(rest, &key[i..])),
            Some((&b"*", rest)) => !key.is_empty() && defined_match(rest, &key[1..]),
            Some((word, rest)) => key.first() == Some(word) && defined_match(rest, &key[1..]),
        }
    }

    #[test]
    fn random_patterns_route_as_defined() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut random_key = |alphabet: &[&str]| {
            let words: Vec<&str> = (0..next(6))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            words.join(".")
        };
        let patterns: Vec<String> = (0..300)
            .map(|_| random_key(&["a", "b", "", "*", "#", "#"]))
            .collect();
        let keys: Vec<String> = (0..300).map(|_| random_key(&["a", "b", ""])).collect();
        let mut t = Topic::default();
        for (i, pattern) in patterns.iter().enumerate() {
            t.bind(&q(&format!("q{i}")), &s(pattern), &FieldTable::new());
        }
        let check = |t: &Topic, bound: &dyn Fn(usize) -> bool| {
            for key in &keys {
                let key_words: Vec<&[u8]> = words(key.as_bytes()).collect();
                let mut expected: Vec<Destination> = patterns
                    .iter()
                    .enumerate()
                    .filter(|&(i, pattern)| {
                        let pattern_words: Vec<&[u8]> = words(pattern.as_bytes()).collect();
                        bound(i) && defined_match(&pattern_words, &key_words)
                    })
                    .map(|(i, _)| q(&format!("q{i}")))
                    .collect();
                let mut got = routed(t, key);
                got.sort();
                expected.sort();
                assert_eq!(got, expected, "routing key {key:?}");
            }
        };
        check(&t, &|_| true);
        for (i, pattern) in patterns.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
            assert!(t.unbind(&q(&format!("q{i}")), &s(pattern), &FieldTable::new()));
        }
        check(&t, &|i| i % 2 == 0);
    }

    #[test]
    fn many_hashes_against_a_long_key_stay_fast() {
        let mut t = Topic::default();
        let none = FieldTable::new();
        let hashes = vec!["#"; 100].join(".");
        t.bind(&q("hashes"), &s(&hashes), &none);
        t.bind(&q("ends"), &s(&format!("{hashes}.z")), &none);
        for i in 1..=50 {
            let pattern = vec!["#.*"; i].join(".");
            t.bind(&q(&format!("p{i}")), &s(&format!("#.{pattern}.#")), &none);
        }
        let key = vec!["w"; 120].join(".");
        let started = std::time::Instant::now();
        let out = routed(&t, &key);
        assert!(out.contains(&q("hashes")));
        assert!(!out.contains(&q("ends")));
        assert_eq!(out.len(), 51);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
