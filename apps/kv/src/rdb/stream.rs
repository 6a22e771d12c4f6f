//! Streams in RDB (`RDB_TYPE_STREAM_LISTPACKS_2`, what Redis 7.0 writes): each node as the
//! listpack Redis keeps it in (master entry, then the delta-encoded entries), the stream's
//! counters, and the consumer groups with their PELs. [`write`] writes one; [`read_node`]
//! turns one node's listpack back into entries (the rest of the reading, lengths and groups,
//! is in `decode.rs` with its reader).

use super::format::{bad, RdbError};
use super::listpack;
use super::strings::{write_len, write_string};
use crate::types::stream::{Stream, StreamId, DELETED, SAME_FIELDS};

fn int(lp: &mut listpack::Builder, v: i64) {
    lp.push(v.to_string().as_bytes());
}

/// The node at `master` as Redis's listpack.
fn node_listpack(master: StreamId, node: &crate::types::stream::Node) -> Vec<u8> {
    let mut lp = listpack::Builder::new();
    int(&mut lp, i64::from(node.live));
    int(&mut lp, i64::from(node.deleted));
    let fields: Vec<&[u8]> = node.master_fields().collect();
    int(&mut lp, fields.len() as i64);
    for f in &fields {
        lp.push(f);
    }
    int(&mut lp, 0);
    for e in node.entries(master) {
        int(&mut lp, i64::from(e.flags));
        int(&mut lp, e.id.ms.wrapping_sub(master.ms) as i64);
        int(&mut lp, e.id.seq.wrapping_sub(master.seq) as i64);
        let same = e.flags & SAME_FIELDS != 0;
        if !same {
            int(&mut lp, e.pairs.len() as i64);
        }
        for (f, v) in &e.pairs {
            if !same {
                lp.push(f);
            }
            lp.push(v);
        }
        let mut lp_count = e.pairs.len() + 3;
        if !same {
            lp_count += e.pairs.len() + 1;
        }
        int(&mut lp, lp_count as i64);
    }
    lp.finish()
}

/// A unix time in ms as `rdbSaveMillisecondTime` writes it (8 bytes, little-endian).
fn write_ms(out: &mut Vec<u8>, ms: u64) {
    out.extend_from_slice(&ms.to_le_bytes());
}

/// Appends stream `s`'s object body (its type byte is [`TYPE_STREAM_LISTPACKS_2`](super::format::TYPE_STREAM_LISTPACKS_2)).
pub(crate) fn write(out: &mut Vec<u8>, s: &Stream) {
    let nodes: Vec<_> = s.nodes().collect();
    write_len(out, nodes.len() as u64);
    for (master, node) in nodes {
        write_string(out, &master.to_be_bytes());
        write_string(out, &node_listpack(*master, node));
    }
    write_len(out, s.length);
    for id in [s.last_id, s.first_id, s.max_deleted] {
        write_len(out, id.ms);
        write_len(out, id.seq);
    }
    write_len(out, s.entries_added);
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string(out, name);
        write_len(out, g.last_id.ms);
        write_len(out, g.last_id.seq);
        write_len(out, g.entries_read as u64);
        write_len(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            out.extend_from_slice(&id.to_be_bytes());
            write_ms(out, n.delivery_time);
            write_len(out, n.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname);
            write_ms(out, c.seen_time);
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

/// A listpack element that must be an integer.
fn num(items: &[Vec<u8>], i: &mut usize) -> Result<i64, RdbError> {
    let v = items
        .get(*i)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse::<i64>().ok());
    *i += 1;
    v.map_or_else(|| bad("stream listpack integer"), Ok)
}

fn elem<'a>(items: &'a [Vec<u8>], i: &mut usize) -> Result<&'a [u8], RdbError> {
    let v = items.get(*i);
    *i += 1;
    v.map_or_else(|| bad("stream listpack truncated"), |b| Ok(&b[..]))
}

/// Adds the node at `master` whose listpack decoded to `items` to `s`, checking it as
/// Redis's `streamValidateListpackIntegrity` does (counts, field counts, lp-counts, ids in
/// order).
pub(crate) fn read_node(
    s: &mut Stream,
    master: StreamId,
    items: &[Vec<u8>],
) -> Result<(), RdbError> {
    let mut i = 0;
    let live = num(items, &mut i)?;
    let deleted = num(items, &mut i)?;
    let nfields = usize::try_from(num(items, &mut i)?).or_else(|_| bad("stream field count"))?;
    let mut master_fields = Vec::with_capacity(nfields.min(items.len()));
    for _ in 0..nfields {
        master_fields.push(elem(items, &mut i)?);
    }
    if num(items, &mut i)? != 0 {
        return bad("stream master entry terminator");
    }
    let mut entries = Vec::new();
    while i < items.len() {
        let flags = num(items, &mut i)?;
        let ms = num(items, &mut i)?;
        let seq = num(items, &mut i)?;
        let flags = u8::try_from(flags).or_else(|_| bad("stream entry flags"))?;
        let same = flags & SAME_FIELDS != 0;
        let n = if same {
            nfields
        } else {
            usize::try_from(num(items, &mut i)?).or_else(|_| bad("stream field count"))?
        };
        let mut pairs = Vec::with_capacity(n.min(items.len()));
        for k in 0..n {
            if same {
                let f = master_fields.get(k).copied().unwrap_or_default();
                pairs.push((f, elem(items, &mut i)?));
            } else {
                let f = elem(items, &mut i)?;
                pairs.push((f, elem(items, &mut i)?));
            }
        }
        let lp_count = num(items, &mut i)?;
        let expect = if same { n + 3 } else { 2 * n + 4 };
        if lp_count != expect as i64 {
            return bad("stream entry lp-count");
        }
        let id = StreamId::new(
            master.ms.wrapping_add(ms as u64),
            master.seq.wrapping_add(seq as u64),
        );
        entries.push((flags & DELETED, id, pairs));
    }
    let dead = entries.iter().filter(|e| e.0 & DELETED != 0).count() as i64;
    if dead != deleted || entries.len() as i64 - dead != live || entries.is_empty() {
        return bad("stream node counts");
    }
    if !s.push_node(master, &master_fields, &entries) {
        return bad("stream node order");
    }
    Ok(())
}
