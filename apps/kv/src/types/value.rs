//! The values a key can hold, one variant per Redis type.

use std::collections::VecDeque;

use super::set::Set;
use super::str::Str;
pub(crate) use super::zset::ZSet;

/// What a key holds.
// The collections are boxed on purpose: a Value stays as small as a `Str`, so every entry of the
// keyspace stays small whatever its type.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Str(Str),
    /// A string that is the decimal form of an integer, kept as the integer (INCR's fast path,
    /// OBJECT ENCODING `int`).
    Int(i64),
    List(Box<VecDeque<Str>>),
    Hash(Box<super::hash::Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<super::stream::Stream>),
}

impl Value {
    /// A string value, stored as an integer when it is one in canonical form.
    pub(crate) fn string(bytes: &[u8]) -> Value {
        match canonical_int(bytes) {
            Some(n) => Value::Int(n),
            None => Value::Str(Str::new(bytes)),
        }
    }

    /// The name TYPE reports.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Int(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// True for a collection with no elements left (such keys are deleted).
    pub(crate) fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) | Value::Int(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            // A stream key stays when its last entry goes (XDEL, XTRIM), as in Redis.
            Value::Stream(_) => false,
        }
    }
}

/// A collection type a key can hold, for the typed lookups of `Db`: how to find it in a
/// [`Value`] and how to make an empty one.
pub(crate) trait Collection {
    /// The collection if `v` holds one of this type, mutably.
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    /// An empty value of this type (filled by the caller at once: empty collections are not
    /// kept).
    fn empty() -> Value;
}

macro_rules! collection {
    ($t:ty, $variant:ident) => {
        impl Collection for $t {
            fn of_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn empty() -> Value {
                Value::$variant(Box::default())
            }
        }
    };
}

collection!(VecDeque<Str>, List);
collection!(super::hash::Hash, Hash);
collection!(Set, Set);
collection!(ZSet, ZSet);
collection!(super::stream::Stream, Stream);

/// The encoding OBJECT ENCODING reports: the name Redis 7.0 gives a value of this size under
/// the `*-max-listpack-*` / `set-max-intset-entries` settings of `config` (which CONFIG SET
/// changes). As in Redis, a hash that has grown into a table stays one.
pub(crate) fn encoding_name(v: &Value, config: &crate::config::Config) -> &'static str {
    let limit = |name: &str, default: usize| {
        config
            .get(name)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let small = |len: usize, entries: &str, value: &str, longest: usize| {
        len <= limit(entries, 128) && longest <= limit(value, 64)
    };
    match v {
        Value::Int(_) => "int",
        Value::Str(s) if s.len() <= 44 => "embstr",
        Value::Str(_) => "raw",
        // Redis 7.0 reports every list as a quicklist (of listpacks); 7.2 added small listpacks.
        Value::List(_) => "quicklist",
        Value::Hash(h) => {
            let longest = h
                .iter()
                .map(|(k, v)| k.len().max(v.len()))
                .max()
                .unwrap_or(0);
            // Redis's rule on the configured limits (512 fields by default), whichever way the
            // hash is kept here (packed only up to 128 fields, where scanning stays fast).
            // Redis never packs a hash again once converted; this reports what its size says.
            if small(
                h.len(),
                "hash-max-listpack-entries",
                "hash-max-listpack-value",
                longest,
            ) {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Value::Set(s)
            if s.len() <= limit("set-max-intset-entries", 512)
                && s.iter().all(|m| canonical_int(m).is_some()) =>
        {
            "intset"
        }
        Value::Set(_) => "hashtable",
        Value::Stream(_) => "stream",
        Value::ZSet(z) => {
            let longest = z.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
            if small(
                z.len(),
                "zset-max-listpack-entries",
                "zset-max-listpack-value",
                longest,
            ) {
                "listpack"
            } else {
                "skiplist"
            }
        }
    }
}

/// Parses an integer only if `bytes` is exactly its canonical decimal form (no `+`, no leading
/// zeros, no spaces), so that storing it as a number and printing it back gives the same bytes.
pub(crate) fn canonical_int(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let (neg, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let v = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if neg {
            n.checked_sub(v)?
        } else {
            n.checked_add(v)?
        };
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers_only() {
        for (s, v) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("42", Some(42)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("007", None),
            ("-0", None),
            ("+1", None),
            (" 1", None),
            ("", None),
            ("-", None),
            ("1a", None),
        ] {
            assert_eq!(canonical_int(s.as_bytes()), v, "{s:?}");
        }
    }
}
