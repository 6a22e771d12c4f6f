//! Stream commands as Redis 7.0 has them (`t_stream.c`): XADD, XRANGE, XREVRANGE, XLEN, XDEL,
//! XTRIM, XSETID here; XREAD and XREADGROUP in [`read`]; the consumer groups (XGROUP, XACK,
//! XPENDING, XCLAIM, XAUTOCLAIM) in [`group`]; XINFO in [`info`]. The value itself, its nodes
//! and groups, is [`Stream`] (`types/stream.rs`).
//!
//! Propagation follows Redis: XADD goes out with the id it made and an approximate trim as
//! the exact one it did; the group reads and claims go out as the XCLAIM and XGROUP SETID
//! commands that redo their effect, never as themselves.

mod common;
mod group;
mod info;
mod read;

use bytes::Bytes;

use super::args::{arg, int_arg, is};
use super::ctx::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::ctx::{CmdResult, Ctx};
use super::{cmd, Command};
use crate::error::CmdError;
use crate::types::stream::{
    parse_id, write_entry, ParsedId, Stream, StreamId, Trim, ENTRY_MAX_BYTES, NODE_MAX_BYTES,
    NODE_MAX_ENTRIES,
};
use common::{invalid_id, range_end, range_start, strict_id};

/// This family's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND reports them; XGROUP and XINFO name their key second).
pub(crate) static COMMANDS: &[Command] = &[
    cmd("xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), xadd),
    cmd("xrange", -4, READONLY, (1, 1, 1), xrange),
    cmd("xrevrange", -4, READONLY, (1, 1, 1), xrevrange),
    cmd("xlen", 2, READONLY | FAST, (1, 1, 1), xlen),
    cmd("xdel", -3, WRITE | FAST, (1, 1, 1), xdel),
    cmd("xtrim", -4, WRITE, (1, 1, 1), xtrim),
    cmd("xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), xsetid),
    cmd("xread", -4, READONLY, (0, 0, 0), read::xread),
    cmd("xreadgroup", -7, WRITE, (0, 0, 0), read::xreadgroup),
    cmd("xgroup", -2, 0, (2, 2, 1), group::xgroup),
    cmd("xack", -4, WRITE | FAST, (1, 1, 1), group::xack),
    cmd("xpending", -3, READONLY, (1, 1, 1), group::xpending),
    cmd("xclaim", -6, WRITE | FAST, (1, 1, 1), group::xclaim),
    cmd("xautoclaim", -6, WRITE | FAST, (1, 1, 1), group::xautoclaim),
    cmd("xinfo", -2, 0, (2, 2, 1), info::xinfo),
];

/// The node limits in force (`stream-node-max-bytes`, `stream-node-max-entries`).
pub(crate) fn node_limits(ctx: &Ctx<'_, '_>) -> (usize, usize) {
    let get = |name: &str, default: usize| {
        ctx.shared
            .config
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        get("stream-node-max-bytes", NODE_MAX_BYTES),
        get("stream-node-max-entries", NODE_MAX_ENTRIES),
    )
}

/// The options XADD and XTRIM share (`streamAddTrimArgs`).
#[derive(Debug, Default)]
struct AddTrimArgs {
    /// The trim asked for.
    trim: Option<Trim>,
    /// `~`: whole nodes only.
    approx: bool,
    /// Entries removed at most (0: no limit).
    limit: u64,
    /// Where the trim's number or id is (rewritten for propagation).
    trim_arg: usize,
    /// NOMKSTREAM.
    no_mkstream: bool,
    /// The id given to XADD (`None`: `*`).
    id: Option<ParsedId>,
    /// Where XADD's id is.
    id_pos: usize,
}

/// Parses XADD's (`xadd`) or XTRIM's options as `streamParseAddOrTrimArgsOrReply`. From a
/// client that must be obeyed (a master's stream, the AOF being loaded) there is no LIMIT:
/// the trim was rewritten exact when it was propagated.
fn parse_add_trim(
    args: &[Bytes],
    xadd: bool,
    max_entries: usize,
    obey: bool,
) -> Result<AddTrimArgs, CmdError> {
    let mut a = AddTrimArgs::default();
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = arg(args, i);
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if a.trim.is_some() {
                return Err(CmdError::err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            a.approx = false;
            let next = arg(args, i + 1);
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let value = arg(args, i + 1);
            a.trim = Some(if is(opt, "maxlen") {
                let n = int_arg(value)?;
                if n < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(strict_id(value, 0)?)
            });
            i += 1;
            a.trim_arg = i;
        } else if is(opt, "limit") && more > 0 {
            let n = int_arg(arg(args, i + 1))?;
            if n < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            a.no_mkstream = true;
        } else if xadd {
            a.id = Some(parse_id(opt, 0, true, true).ok_or_else(invalid_id)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    a.id_pos = i;
    if a.limit > 0 && a.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if obey {
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(CmdError::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if a.approx {
        a.limit = (100 * max_entries as u64).clamp(1, 1_000_000);
        if max_entries == 0 {
            a.limit = 10_000;
        }
    } else {
        a.limit = 0;
    }
    Ok(a)
}

/// What an approximate trim propagates instead of `~ <n>`: `= <what it reached>`
/// (`streamRewriteApproxSpecifier`, `streamRewriteTrimArgument`).
fn rewrite_trim(argv: &mut [Bytes], a: &AddTrimArgs, s: &Stream) {
    let value = match a.trim {
        Some(Trim::MaxLen(_)) => s.length.to_string(),
        _ => s.edge_id(true, false).text(),
    };
    if let Some(tilde) = a.trim_arg.checked_sub(1).and_then(|i| argv.get_mut(i)) {
        *tilde = Bytes::from_static(b"=");
    }
    if let Some(v) = argv.get_mut(a.trim_arg) {
        *v = Bytes::from(value);
    }
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value …`
pub(crate) fn xadd(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (max_bytes, max_entries) = node_limits(ctx);
    let a = parse_add_trim(args, true, max_entries, ctx.client.obey)?;
    let fields = args.get(a.id_pos + 1..).unwrap_or_default();
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(CmdError::err(
            "wrong number of arguments for 'xadd' command",
        ));
    }
    if let Some(p) = a.id {
        if p.seq_given && p.id.is_zero() {
            return Err(CmdError::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let key = arg(args, 1);
    let (db, now) = (ctx.dbi(), ctx.now);
    let propagating = ctx.db.propagation.is_on();
    let s = if a.no_mkstream {
        match ctx.db.get_as::<Stream>(db, key, now)? {
            Some(s) => s,
            None => {
                ctx.out.null();
                return Ok(());
            }
        }
    } else {
        ctx.db.get_or_create::<Stream>(db, key, now)?
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let too_small = || {
        CmdError::err(
            "The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    let id = match a.id {
        Some(ParsedId {
            id,
            seq_given: true,
        }) => id,
        Some(ParsedId {
            id,
            seq_given: false,
        }) => {
            if s.last_id.ms == id.ms {
                // Redis fails here without setting errno, and reports what its last
                // failure left there: "too large" on a fresh server.
                s.last_id
                    .incr()
                    .filter(|n| n.ms == id.ms)
                    .ok_or_else(|| CmdError::err("Elements are too large to be stored"))?
            } else {
                id
            }
        }
        None => s.next_id(now).ok_or_else(too_small)?,
    };
    if id <= s.last_id {
        return Err(too_small());
    }
    let total: usize = fields.iter().map(|f| f.len()).sum();
    if total > ENTRY_MAX_BYTES {
        return Err(CmdError::err("Elements are too large to be stored"));
    }
    let pairs: Vec<(&[u8], &[u8])> = fields
        .chunks_exact(2)
        .filter_map(|c| Some((&c.first()?[..], &c.get(1)?[..])))
        .collect();
    s.append(id, &pairs, max_bytes, max_entries);
    let text = id.text();
    ctx.out.bulk(text.as_bytes());
    let mut deleted = 0;
    if let Some(how) = a.trim {
        deleted = s.trim(how, a.approx, a.limit);
    }
    let rewrite = a.approx || !a.id.is_some_and(|p| p.seq_given);
    if rewrite && propagating {
        let mut argv = args.to_vec();
        if a.approx {
            rewrite_trim(&mut argv, &a, s);
        }
        if !a.id.is_some_and(|p| p.seq_given) {
            if let Some(slot) = argv.get_mut(a.id_pos) {
                *slot = Bytes::from(text);
            }
        }
        ctx.db.propagation.replace(argv);
    }
    ctx.db.dirty += 1 + deleted;
    Ok(())
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
pub(crate) fn xtrim(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (_, max_entries) = node_limits(ctx);
    let a = parse_add_trim(args, false, max_entries, ctx.client.obey)?;
    let (db, now) = (ctx.dbi(), ctx.now);
    let propagating = ctx.db.propagation.is_on();
    let Some(s) = ctx.db.get_as::<Stream>(db, arg(args, 1), now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = match a.trim {
        Some(how) => s.trim(how, a.approx, a.limit),
        None => 0,
    };
    if deleted > 0 && a.approx && propagating {
        let mut argv = args.to_vec();
        rewrite_trim(&mut argv, &a, s);
        ctx.db.propagation.replace(argv);
    }
    ctx.db.dirty += deleted;
    ctx.out.int(deleted as i64);
    Ok(())
}

/// `XRANGE key start end [COUNT count]`
pub(crate) fn xrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, false)
}

/// `XREVRANGE key end start [COUNT count]`
pub(crate) fn xrevrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, true)
}

fn range(ctx: &mut Ctx<'_, '_>, args: &[Bytes], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (arg(args, 3), arg(args, 2))
    } else {
        (arg(args, 2), arg(args, 3))
    };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if is(arg(args, j), "count") && j + 1 < args.len() {
            count = int_arg(arg(args, j + 1))?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (db, now) = (ctx.dbi(), ctx.now);
    let Some(s) = ctx.db.read_as::<Stream>(db, arg(args, 1), now)? else {
        ctx.out.array_len(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    let entries = s.range(start, end, rev, count.max(0) as usize);
    ctx.out.array_len(entries.len());
    for (id, pairs) in &entries {
        write_entry(ctx.out, *id, pairs);
    }
    Ok(())
}

/// `XLEN key`
pub(crate) fn xlen(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (db, now) = (ctx.dbi(), ctx.now);
    let n = ctx
        .db
        .read_as::<Stream>(db, arg(args, 1), now)?
        .map_or(0, |s| s.length);
    ctx.out.int(n as i64);
    Ok(())
}

/// `XDEL key id …`
pub(crate) fn xdel(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (db, now) = (ctx.dbi(), ctx.now);
    let Some(s) = ctx.db.get_as::<Stream>(db, arg(args, 1), now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = args
        .get(2..)
        .unwrap_or_default()
        .iter()
        .map(|a| strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut deleted = 0u64;
    let mut first = false;
    for id in ids {
        if s.delete(id) {
            first |= id == s.first_id;
            if id > s.max_deleted {
                s.max_deleted = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.length == 0 {
            s.first_id = StreamId::MIN;
        } else if first {
            s.first_id = s.edge_id(true, true);
        }
    }
    ctx.db.dirty += deleted;
    ctx.out.int(deleted as i64);
    Ok(())
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
pub(crate) fn xsetid(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let id = strict_id(arg(args, 2), 0)?;
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = arg(args, i);
        if is(opt, "entriesadded") && more > 0 {
            entries_added = int_arg(arg(args, i + 1))?;
            if entries_added < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
        } else if is(opt, "maxdeletedid") && more > 0 {
            max_deleted = strict_id(arg(args, i + 1), 0)?;
            if id < max_deleted {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let (db, now) = (ctx.dbi(), ctx.now);
    let Some(s) = ctx.db.get_as::<Stream>(db, arg(args, 1), now)? else {
        return Err(CmdError::err("no such key"));
    };
    if s.length > 0 {
        if id < s.last_valid_id() {
            return Err(CmdError::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return Err(CmdError::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_deleted.is_zero() {
        s.max_deleted = max_deleted;
    }
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests;
