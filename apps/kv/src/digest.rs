//! DEBUG DIGEST and DIGEST-VALUE: a SHA-1 signature of the dataset or of single values,
//! computed exactly as Redis 7.0's `debug.c` does, so that a spindle kv and a redis-server
//! holding the same data give the same 40 hex digits (test harnesses compare a master and
//! its replicas this way).
//!
//! Unordered things (keys, set members, hash fields, sorted-set members) are combined by
//! XOR of their SHA-1s ([`xor`]); ordered ones (list elements, stream entries) by feeding the
//! digest back into SHA-1 ([`mix`]).

use crate::cmd::scripting::sha1::sha1;
use crate::db::Db;
use crate::keyspace::Entry;
use crate::rdb::encode::format_g17;
use crate::types::stream::StreamId;
use crate::types::value::Value;

/// A digest being built.
pub(crate) type Digest = [u8; 20];

/// `digest ^= SHA1(data)` (Redis's `xorDigest`).
fn xor(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `digest = SHA1(digest ^ SHA1(data))` (Redis's `mixDigest`).
fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    *digest = sha1(digest);
}

/// Redis's object type numbers, which the digest includes.
fn type_number(v: &Value) -> u32 {
    match v {
        Value::Str(_) | Value::Int(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// Mixes a key's value (and whether it expires) into `digest` (Redis's `xorObjectDigest`).
pub(crate) fn value_into(digest: &mut Digest, entry: &Entry) {
    mix(digest, &type_number(&entry.value).to_be_bytes());
    match &entry.value {
        Value::Str(s) => mix(digest, s.as_bytes()),
        Value::Int(n) => mix(digest, n.to_string().as_bytes()),
        Value::List(list) => {
            for e in list.iter() {
                mix(digest, e.as_bytes());
            }
        }
        Value::Set(set) => {
            for m in set.iter() {
                xor(digest, m.as_bytes());
            }
        }
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                let mut element = [0u8; 20];
                mix(&mut element, m.as_bytes());
                mix(&mut element, format_g17(score).as_bytes());
                xor(digest, &element);
            }
        }
        Value::Hash(h) => {
            for (f, v) in h.iter() {
                let mut element = [0u8; 20];
                mix(&mut element, f);
                mix(&mut element, v);
                xor(digest, &element);
            }
        }
        Value::Stream(s) => {
            for (id, pairs) in s.range(StreamId::MIN, StreamId::MAX, false, 0) {
                mix(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                for (f, v) in pairs {
                    mix(digest, f);
                    mix(digest, v);
                }
            }
        }
    }
    if entry.expire_at != 0 {
        xor(digest, b"!!expire!!");
    }
}

/// The digest of one key's value, all zeros for a missing key (DEBUG DIGEST-VALUE).
pub(crate) fn of_value(entry: Option<&Entry>) -> Digest {
    let mut digest = [0u8; 20];
    if let Some(e) = entry {
        value_into(&mut digest, e);
    }
    digest
}

/// The digest of every database (DEBUG DIGEST): all zeros when they are all empty. Keys
/// that are logically expired but not yet removed count, as in Redis.
pub(crate) fn of_dataset(db: &Db) -> Digest {
    let mut digest = [0u8; 20];
    for (i, space) in db.spaces.iter().enumerate() {
        if space.is_empty() {
            continue;
        }
        mix(&mut digest, &(i as u32).to_be_bytes());
        for e in space.iter() {
            let mut pair = [0u8; 20];
            mix(&mut pair, e.key.as_bytes());
            value_into(&mut pair, e);
            xor(&mut digest, &pair);
        }
    }
    digest
}

/// 40 lower-case hex digits.
pub(crate) fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
