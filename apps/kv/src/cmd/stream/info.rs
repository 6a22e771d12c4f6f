//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP, with Redis
//! 7.0.15's fields (no `inactive` or `active-time`: those came with 7.2).

use bytes::Bytes;

use super::common::nogroup;
use crate::cmd::args::{arg, int_arg, is};
use crate::cmd::args::{reply_help, subcommand_syntax};
use crate::cmd::ctx::{CmdResult, Ctx};
use crate::error::CmdError;
use crate::types::stream::{idle_ms, write_entry, Stream, StreamId, INVALID_ENTRIES_READ};

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

/// `XINFO STREAM|GROUPS|CONSUMERS|HELP …`
pub(crate) fn xinfo(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let opt = arg(args, 1);
    if is(opt, "help") {
        if args.len() != 2 {
            return Err(subcommand_syntax(args));
        }
        reply_help(ctx, "XINFO", XINFO_HELP);
        return Ok(());
    }
    if args.len() < 3 {
        return Err(subcommand_syntax(args));
    }
    let key = arg(args, 2);
    let (db, now) = (ctx.dbi(), ctx.now);
    let Some(s) = ctx.db.read_as::<Stream>(db, key, now)? else {
        return Err(CmdError::err("no such key"));
    };
    let s: &Stream = s;
    let out = &mut *ctx.out;
    if is(opt, "consumers") && args.len() == 4 {
        let group = arg(args, 3);
        let Some(g) = s.groups.get(group) else {
            return Err(nogroup(format!(
                "No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(group),
                String::from_utf8_lossy(key)
            )));
        };
        out.array_len(g.consumers.len());
        for (name, c) in &g.consumers {
            out.map_len(3);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"pending");
            out.int(c.pel.len() as i64);
            out.bulk(b"idle");
            out.int(idle_ms(now, c.seen_time));
        }
    } else if is(opt, "groups") && args.len() == 3 {
        out.array_len(s.groups.len());
        for (name, g) in &s.groups {
            out.map_len(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            out.bulk(g.last_id.text().as_bytes());
            out.bulk(b"entries-read");
            opt_int(
                out,
                (g.entries_read != INVALID_ENTRIES_READ).then_some(g.entries_read),
            );
            out.bulk(b"lag");
            opt_int(out, s.lag(g));
        }
    } else if is(opt, "stream") {
        let rest = args.get(3..).unwrap_or_default();
        let mut count: i64 = 10;
        let full = match rest {
            [] => false,
            [f] if is(f, "full") => true,
            [f, c, n] if is(f, "full") && is(c, "count") => {
                count = int_arg(n)?;
                if count < 0 {
                    count = 10;
                }
                true
            }
            _ => return Err(subcommand_syntax(args)),
        };
        let (keys, nodes) = s.rax_counts();
        out.map_len(if full { 9 } else { 10 });
        out.bulk(b"length");
        out.int(s.length as i64);
        out.bulk(b"radix-tree-keys");
        out.int(keys as i64);
        out.bulk(b"radix-tree-nodes");
        out.int(nodes as i64);
        out.bulk(b"last-generated-id");
        out.bulk(s.last_id.text().as_bytes());
        out.bulk(b"max-deleted-entry-id");
        out.bulk(s.max_deleted.text().as_bytes());
        out.bulk(b"entries-added");
        out.int(s.entries_added as i64);
        out.bulk(b"recorded-first-entry-id");
        out.bulk(s.first_id.text().as_bytes());
        if !full {
            out.bulk(b"groups");
            out.int(s.groups.len() as i64);
            for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
                out.bulk(name);
                match s.range(StreamId::MIN, StreamId::MAX, rev, 1).first() {
                    Some((id, pairs)) => write_entry(out, *id, pairs),
                    None => out.null(),
                }
            }
            return Ok(());
        }
        let limit = count as usize;
        let take = |n: usize| if limit == 0 { n } else { n.min(limit) };
        out.bulk(b"entries");
        let entries = s.range(StreamId::MIN, StreamId::MAX, false, limit);
        out.array_len(entries.len());
        for (id, pairs) in &entries {
            write_entry(out, *id, pairs);
        }
        out.bulk(b"groups");
        out.array_len(s.groups.len());
        for (name, g) in &s.groups {
            out.map_len(7);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"last-delivered-id");
            out.bulk(g.last_id.text().as_bytes());
            out.bulk(b"entries-read");
            opt_int(
                out,
                (g.entries_read != INVALID_ENTRIES_READ).then_some(g.entries_read),
            );
            out.bulk(b"lag");
            opt_int(out, s.lag(g));
            out.bulk(b"pel-count");
            out.int(g.pel.len() as i64);
            out.bulk(b"pending");
            out.array_len(take(g.pel.len()));
            for (id, n) in g.pel.iter().take(take(g.pel.len())) {
                out.array_len(4);
                out.bulk(id.text().as_bytes());
                out.bulk(&n.consumer);
                out.int(n.delivery_time as i64);
                out.int(n.delivery_count as i64);
            }
            out.bulk(b"consumers");
            out.array_len(g.consumers.len());
            for (cname, c) in &g.consumers {
                out.map_len(4);
                out.bulk(b"name");
                out.bulk(cname);
                out.bulk(b"seen-time");
                out.int(c.seen_time as i64);
                out.bulk(b"pel-count");
                out.int(c.pel.len() as i64);
                out.bulk(b"pending");
                out.array_len(take(c.pel.len()));
                for id in c.pel.iter().take(take(c.pel.len())) {
                    let n = g.pel.get(id);
                    out.array_len(3);
                    out.bulk(id.text().as_bytes());
                    out.int(n.map_or(0, |n| n.delivery_time as i64));
                    out.int(n.map_or(0, |n| n.delivery_count as i64));
                }
            }
        }
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(())
}

/// An integer, or a null where Redis has none.
fn opt_int(out: &mut spindle_protocols::resp::ReplyWriter<'_>, v: Option<i64>) {
    match v {
        Some(n) => out.int(n),
        None => out.null(),
    }
}
