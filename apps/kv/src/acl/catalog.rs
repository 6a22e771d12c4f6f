//! The command catalog ACL works on: Redis 7.0.15's whole command table ([`TABLE`], generated),
//! a command's id (its index), lookups by name as ACL rules write them (`config|get`), and
//! which arguments of a call are keys (with how they are accessed) or channels, as Redis's key
//! specs and channel table say.

use hashbrown::HashMap;
use std::sync::OnceLock;

pub(crate) use super::spec::{key, Begin, Entry, Find};
use super::table::TABLE;

/// The catalog.
pub(crate) fn table() -> &'static [Entry] {
    TABLE
}

/// The id (index) of the command or subcommand named as rules write it (`get`, `CONFIG|GET`),
/// in any case.
pub(crate) fn lookup(name: &[u8]) -> Option<usize> {
    static BY_NAME: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let map = BY_NAME.get_or_init(|| TABLE.iter().enumerate().map(|(i, e)| (e.name, i)).collect());
    // Lower-cased on the stack: this runs for every command a restricted user sends (and
    // for LATENCY HISTOGRAM's names); no entry's name is longer than 64 bytes.
    let mut lower = [0u8; 64];
    let dst = lower.get_mut(..name.len())?;
    dst.copy_from_slice(name);
    dst.make_ascii_lowercase();
    map.get(std::str::from_utf8(dst).ok()?).copied()
}

/// The entry of a call: its command, or the subcommand when the command is a container and
/// the first argument names one of its subcommands.
pub(crate) fn resolve(args: &[&[u8]]) -> Option<usize> {
    let id = lookup(args.first()?)?;
    let entry = TABLE.get(id)?;
    if entry.subs == 0 {
        return Some(id);
    }
    let sub = args.get(1)?;
    let mut full = entry.name.as_bytes().to_vec();
    full.push(b'|');
    full.extend_from_slice(sub);
    lookup(&full)
}

/// The subcommand ids of container `id`.
pub(crate) fn subcommands(id: usize) -> std::ops::Range<usize> {
    let subs = TABLE.get(id).map_or(0, |e| e.subs);
    id + 1..id + 1 + subs
}

/// The key arguments of a call to entry `id`: positions and key-spec flags, as Redis's
/// `getKeysFromCommandWithSpecs` finds them (specs first; the command's key function when a
/// spec is incomplete or its flags depend on the arguments). A call the specs cannot read
/// (a bad key count) has no keys: the command itself refuses it.
pub(crate) fn keys(id: usize, args: &[&[u8]]) -> Vec<(usize, u16)> {
    let Some(entry) = TABLE.get(id) else {
        return Vec::new();
    };
    if !entry.has_keys() {
        return Vec::new();
    }
    let variable = entry
        .specs
        .iter()
        .any(|s| s.flags & key::VARIABLE_FLAGS != 0);
    if !variable {
        if let Some(keys) = keys_by_specs(entry, args) {
            return keys;
        }
    }
    match entry.getkeys {
        "setGetKeys" => vec![(1, set_key_flags(args))],
        "bitfieldGetKeys" => vec![(1, bitfield_key_flags(args))],
        "sortGetKeys" => sort_keys(args),
        "sortROGetKeys" => vec![(1, key::RO | key::ACCESS)],
        "migrateGetKeys" => migrate_keys(args),
        _ => Vec::new(),
    }
}

/// Redis's `getKeysUsingKeySpecs`; `None` for a spec that cannot be read.
fn keys_by_specs(entry: &Entry, args: &[&[u8]]) -> Option<Vec<(usize, u16)>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for spec in entry.specs {
        if spec.flags & key::NOT_KEY != 0 {
            continue;
        }
        let mut first: i64 = match spec.begin {
            Begin::Index(pos) => i64::from(pos),
            Begin::Keyword(word, from) => {
                let from = i64::from(from);
                let start = if from > 0 { from } else { argc + from };
                let end = if from > 0 { argc - 1 } else { 1 };
                let mut found = 0;
                let mut i = start;
                loop {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if args
                        .get(i as usize)
                        .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
                    {
                        found = i + 1;
                        break;
                    }
                    if i == end {
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (last, step) = match spec.find {
            Find::Range(lastkey, step, limit) => {
                let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, i64::from(step))
            }
            Find::Keynum(idx, firstkey, step) => {
                let at = first + i64::from(idx);
                if at >= argc {
                    return None;
                }
                let n: i64 = std::str::from_utf8(args.get(at as usize)?)
                    .ok()?
                    .parse()
                    .ok()?;
                if n < 0 {
                    return None;
                }
                first += i64::from(firstkey);
                (first + n - 1, i64::from(step))
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let step = step.max(1);
        let mut i = first;
        while i <= last {
            keys.push((i as usize, spec.flags));
            i += step;
        }
        if spec.flags & key::INCOMPLETE != 0 {
            return None;
        }
    }
    Some(keys)
}

/// SET's key: read and updated with GET, overwritten otherwise (Redis's `setGetKeys`).
fn set_key_flags(args: &[&[u8]]) -> u16 {
    if args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) {
        key::RW | key::ACCESS | key::UPDATE
    } else {
        key::OW | key::UPDATE
    }
}

/// BITFIELD's key: read-only while only GET and OVERFLOW appear (Redis's `bitfieldGetKeys`).
fn bitfield_key_flags(args: &[&[u8]]) -> u16 {
    let mut readonly = true;
    let mut i = 2;
    while i < args.len() {
        let rem = args.len() - i - 1;
        let a = args.get(i).copied().unwrap_or_default();
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if (a.eq_ignore_ascii_case(b"set") || a.eq_ignore_ascii_case(b"incrby")) && rem >= 3
        {
            readonly = false;
            break;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            readonly = false;
            break;
        }
    }
    if readonly {
        key::RO | key::ACCESS
    } else {
        key::RW | key::ACCESS | key::UPDATE
    }
}

/// SORT's keys: the sorted key and the STORE destination (Redis's `sortGetKeys`, which skips
/// LIMIT's two arguments and GET's and BY's one; the last STORE wins).
fn sort_keys(args: &[&[u8]]) -> Vec<(usize, u16)> {
    let mut keys = vec![(1, key::RO | key::ACCESS)];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i).copied().unwrap_or_default();
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(pos) = store {
        keys.push((pos, key::OW | key::UPDATE));
    }
    keys
}

/// MIGRATE's keys: the key argument, or those after KEYS when it is empty (Redis's
/// `migrateGetKeys`).
fn migrate_keys(args: &[&[u8]]) -> Vec<(usize, u16)> {
    let flags = key::RW | key::ACCESS | key::DELETE;
    if args.get(3).is_some_and(|k| k.is_empty()) && args.len() > 6 {
        for i in 6..args.len() {
            if args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(b"keys")) {
                return (i + 1..args.len()).map(|p| (p, flags)).collect();
            }
        }
    }
    if args.len() > 3 {
        vec![(3, flags)]
    } else {
        Vec::new()
    }
}

/// How a command names channels (Redis's `commands_with_channels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channels {
    /// Publishes to its first argument.
    Publish,
    /// Subscribes to every argument.
    Subscribe,
    /// Subscribes to every argument, as patterns (matched literally against the rules).
    SubscribePattern,
}

/// The channel arguments of a call to entry `id`, if it publishes or subscribes.
pub(crate) fn channels(id: usize, argc: usize) -> Option<(Channels, std::ops::Range<usize>)> {
    let kind = match TABLE.get(id)?.name {
        "publish" | "spublish" => Channels::Publish,
        "subscribe" | "ssubscribe" => Channels::Subscribe,
        "psubscribe" => Channels::SubscribePattern,
        _ => return None,
    };
    let end = if kind == Channels::Publish {
        2.min(argc)
    } else {
        argc
    };
    Some((kind, 1..end.max(1)))
}
