//! Client-side caching's server half (CLIENT TRACKING), as Redis 7.0's `tracking.c`: which
//! clients track, the keys each default-mode client has read (one table over all databases,
//! keyed by name, as Redis's), and the invalidation messages a write makes — a RESP3 push
//! `[invalidate, [key]]` to the tracking client, or, with REDIRECT, the same to the target:
//! a push when it speaks RESP3, a `message` on `__redis__:invalidate` when it is a RESP2
//! subscriber. BCAST clients get, after each command, every key written under one of their
//! prefixes. A flush invalidates everything with a null.
//!
//! IO-free: messages are returned as (connection, bytes) for the running client's outbox.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{ReplyWriter, Version};
use spindle_reactor::ConnId;

/// The channel RESP2 clients subscribe to for redirected invalidations.
pub(crate) const CHANNEL: &[u8] = b"__redis__:invalidate";

/// One tracking client's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tracker {
    /// Where its own messages go (a RESP3 client without REDIRECT).
    pub(crate) conn: Option<ConnId>,
    /// Its protocol.
    pub(crate) resp: Option<Version>,
    /// REDIRECT's client id, 0 for none.
    pub(crate) redirect: u64,
    /// BCAST mode: invalidations by prefix, nothing remembered.
    pub(crate) bcast: bool,
    /// OPTIN: only reads after CLIENT CACHING YES are remembered.
    pub(crate) optin: bool,
    /// OPTOUT: reads are remembered unless after CLIENT CACHING NO.
    pub(crate) optout: bool,
    /// NOLOOP: no invalidation for the client's own writes.
    pub(crate) noloop: bool,
    /// BCAST's prefixes (one empty prefix when none was given).
    pub(crate) prefixes: Vec<Bytes>,
    /// CLIENT CACHING was given for the next command.
    pub(crate) caching: bool,
    /// The REDIRECT target went away.
    pub(crate) broken: bool,
}

/// Where a client's messages can go: its connection, protocol, and whether it is subscribed
/// (a RESP2 redirect target receives only as a subscriber).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    /// The client's connection.
    pub(crate) conn: ConnId,
    /// Its protocol.
    pub(crate) resp: Version,
    /// Subscribed to some channel.
    pub(crate) subscribed: bool,
}

/// The tracking state of the server.
#[derive(Debug, Default)]
pub(crate) struct Tracking {
    /// Tracking clients by id.
    pub(crate) clients: HashMap<u64, Tracker>,
    /// Keys read by default-mode clients, and who read them.
    table: HashMap<Bytes, Vec<u64>>,
    /// Keys written since the last broadcast, with the writer's id (BCAST).
    pending: Vec<(Bytes, u64)>,
}

/// What an invalidation carries: one key, several (BCAST), or a flush's null.
enum Payload<'a> {
    Keys(&'a [&'a [u8]]),
    Null,
}

impl Tracking {
    /// True when no client tracks (the engine's fast path).
    pub(crate) fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// INFO's `tracking_total_keys`, `tracking_total_items` and `tracking_total_prefixes`:
    /// keys remembered for default-mode clients, (key, client) pairs among them, and the
    /// distinct prefixes BCAST clients registered.
    pub(crate) fn totals(&self) -> (usize, usize, usize) {
        let items = self.table.values().map(Vec::len).sum();
        let prefixes: std::collections::HashSet<&Bytes> = self
            .clients
            .values()
            .filter(|t| t.bcast)
            .flat_map(|t| t.prefixes.iter())
            .collect();
        (self.table.len(), items, prefixes.len())
    }

    /// Stops tracking for client `id` (CLIENT TRACKING OFF, RESET, a closed connection).
    pub(crate) fn forget(&mut self, id: u64) {
        self.clients.remove(&id);
        if self.clients.is_empty() {
            self.table.clear();
            self.pending.clear();
        }
    }

    /// Remembers the keys a default-mode client `id` just read, unless OPTIN/OPTOUT and
    /// CLIENT CACHING say otherwise; and ends CLIENT CACHING's effect unless `keep_caching`
    /// (the command was CLIENT CACHING itself, or is queued in MULTI).
    pub(crate) fn after_command<'a>(
        &mut self,
        id: u64,
        read_keys: Option<impl Iterator<Item = &'a [u8]>>,
        keep_caching: bool,
    ) {
        let Some(t) = self.clients.get_mut(&id) else {
            return;
        };
        let caching = t.caching;
        if !keep_caching {
            t.caching = false;
        }
        if t.bcast || (t.optin && !caching) || (t.optout && caching) {
            return;
        }
        let Some(keys) = read_keys else { return };
        for key in keys {
            let ids = self.table.entry(Bytes::copy_from_slice(key)).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    /// A key was modified by client `writer`: default-mode clients that read it are told (and
    /// forget it), BCAST clients will be at the next [`broadcast`](Self::broadcast).
    pub(crate) fn invalidate(
        &mut self,
        key: &[u8],
        writer: u64,
        lookup: &dyn Fn(u64) -> Option<Target>,
        out: &mut Vec<(ConnId, Bytes)>,
    ) {
        if self.clients.values().any(|t| t.bcast) {
            self.pending.push((Bytes::copy_from_slice(key), writer));
        }
        let Some(ids) = self.table.remove(key) else {
            return;
        };
        for id in ids {
            let Some(t) = self.clients.get_mut(&id) else {
                continue;
            };
            if t.bcast || (t.noloop && id == writer) {
                continue;
            }
            send(t, id, Payload::Keys(&[key]), lookup, out);
        }
    }

    /// A flush: every tracking client is told with a null, and the table forgotten.
    pub(crate) fn flush(
        &mut self,
        lookup: &dyn Fn(u64) -> Option<Target>,
        out: &mut Vec<(ConnId, Bytes)>,
    ) {
        let mut ids: Vec<u64> = self.clients.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(t) = self.clients.get_mut(&id) {
                send(t, id, Payload::Null, lookup, out);
            }
        }
        self.table.clear();
    }

    /// Sends BCAST clients the keys written under their prefixes since the last call, one
    /// message per prefix (a NOLOOP client's own writes left out).
    pub(crate) fn broadcast(
        &mut self,
        lookup: &dyn Fn(u64) -> Option<Target>,
        out: &mut Vec<(ConnId, Bytes)>,
    ) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut ids: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, t)| t.bcast)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let Some(t) = self.clients.get_mut(&id) else {
                continue;
            };
            for prefix in t.prefixes.clone() {
                let keys: Vec<&[u8]> = pending
                    .iter()
                    .filter(|(k, w)| k.starts_with(&prefix) && !(t.noloop && *w == id))
                    .map(|(k, _)| &k[..])
                    .collect();
                if !keys.is_empty() {
                    send(t, id, Payload::Keys(&keys), lookup, out);
                }
            }
        }
    }
}

/// Frames and queues one invalidation for tracking client `id` (Redis's
/// `sendTrackingMessage`).
fn send(
    t: &mut Tracker,
    id: u64,
    payload: Payload<'_>,
    lookup: &dyn Fn(u64) -> Option<Target>,
    out: &mut Vec<(ConnId, Bytes)>,
) {
    let own_resp = t.resp.unwrap_or(Version::Resp2);
    let mut buf = BytesMut::new();
    let (target, redirected) = if t.redirect != 0 {
        match lookup(t.redirect) {
            Some(target) => (target, true),
            None => {
                t.broken = true;
                if own_resp == Version::Resp3 {
                    if let Some(conn) = t.conn {
                        let mut w = ReplyWriter::new(Version::Resp3, &mut buf);
                        w.push_len(2);
                        w.bulk(b"tracking-redir-broken");
                        w.int(t.redirect as i64);
                        out.push((conn, buf.freeze()));
                    }
                }
                return;
            }
        }
    } else {
        match (t.conn, lookup(id)) {
            (_, Some(target)) => (target, false),
            (Some(conn), None) => (
                Target {
                    conn,
                    resp: own_resp,
                    subscribed: false,
                },
                false,
            ),
            (None, None) => return,
        }
    };
    let mut w = ReplyWriter::new(target.resp, &mut buf);
    if target.resp == Version::Resp3 {
        w.push_len(2);
        w.bulk(b"invalidate");
    } else if redirected && target.subscribed {
        w.array_len(3);
        w.bulk(b"message");
        w.bulk(CHANNEL);
    } else {
        // RESP2 has no pushes on the client's own connection: nothing can be sent.
        return;
    }
    match payload {
        Payload::Keys(keys) => {
            w.array_len(keys.len());
            for k in keys {
                w.bulk(k);
            }
        }
        // The null of the tracking client's protocol, as Redis's `shared.null[c->resp]`.
        Payload::Null => {
            let null: &[u8] = if own_resp == Version::Resp3 {
                b"_\r\n"
            } else {
                b"$-1\r\n"
            };
            buf.extend_from_slice(null);
        }
    }
    out.push((target.conn, buf.freeze()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(n: u32) -> ConnId {
        ConnId::from_parts(n, 1)
    }

    #[test]
    fn reads_are_invalidated_once_and_noloop_skips_the_writer() {
        let mut t = Tracking::default();
        t.clients.insert(
            1,
            Tracker {
                conn: Some(conn(1)),
                resp: Some(Version::Resp3),
                ..Tracker::default()
            },
        );
        let lookup = |id: u64| {
            (id == 1).then_some(Target {
                conn: conn(1),
                resp: Version::Resp3,
                subscribed: false,
            })
        };
        t.after_command(1, Some([&b"k"[..]].into_iter()), false);
        let mut out = Vec::new();
        t.invalidate(b"k", 2, &lookup, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            &out[0].1[..],
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        out.clear();
        t.invalidate(b"k", 2, &lookup, &mut out);
        assert!(out.is_empty(), "told once, then forgotten");
        t.clients.get_mut(&1).unwrap().noloop = true;
        t.after_command(1, Some([&b"k"[..]].into_iter()), false);
        t.invalidate(b"k", 1, &lookup, &mut out);
        assert!(out.is_empty());
    }
}
