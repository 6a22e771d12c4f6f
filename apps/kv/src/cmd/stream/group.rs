//! Consumer groups: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP),
//! XACK, XPENDING, XCLAIM and XAUTOCLAIM, as Redis 7.0's `t_stream.c` has them.

use bytes::Bytes;

use super::common::{loose_id, nogroup, range_end, range_start, strict_id};
use crate::cmd::args::{arg, int_arg, is};
use crate::cmd::args::{reply_help, subcommand_syntax};
use crate::cmd::ctx::{CmdResult, Ctx};
use crate::error::CmdError;
use crate::types::str::Str;
use crate::types::stream::{
    idle_ms, setid_argv, write_entry, xclaim_argv, Group, Stream, StreamId, INVALID_ENTRIES_READ,
};

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// `NOGROUP No such key '<key>' or consumer group '<group>'`.
fn no_key_or_group(key: &[u8], group: &[u8]) -> CmdError {
    nogroup(format!(
        "No such key '{}' or consumer group '{}'",
        lossy(key),
        lossy(group)
    ))
}

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

/// `XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP …`
pub(crate) fn xgroup(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let opt = arg(args, 1);
    let (db, now) = (ctx.dbi(), ctx.now);
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let key = arg(args, 2);
    let group = arg(args, 3);
    let mut exists = false;
    if args.len() >= 4 {
        let (create, setid) = (is(opt, "create"), is(opt, "setid"));
        let mut i = 5;
        while i < args.len() {
            if create && is(arg(args, i), "mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid) && is(arg(args, i), "entriesread") && i + 1 < args.len() {
                entries_read = int_arg(arg(args, i + 1))?;
                if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                    return Err(CmdError::err(
                        "value for ENTRIESREAD must be positive or -1",
                    ));
                }
                i += 2;
            } else {
                return Err(subcommand_syntax(args));
            }
        }
        let s = ctx.db.get_as::<Stream>(db, key, now)?;
        exists = s.is_some();
        if !mkstream {
            let Some(s) = s else {
                return Err(CmdError::err(
                    "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
                ));
            };
            let needs_group =
                is(opt, "setid") || is(opt, "createconsumer") || is(opt, "delconsumer");
            if needs_group && !s.groups.contains_key(group) {
                return Err(nogroup(format!(
                    "No such consumer group '{}' for key name '{}'",
                    lossy(group),
                    lossy(key)
                )));
            }
        }
    }
    if args.len() == 2 && is(opt, "help") {
        reply_help(ctx, "XGROUP", XGROUP_HELP);
        return Ok(());
    }
    if is(opt, "create") && (5..=8).contains(&args.len()) {
        let id_arg = arg(args, 4);
        let id = if id_arg == b"$" {
            match ctx.db.get_as::<Stream>(db, key, now)? {
                Some(s) => s.last_id,
                None => StreamId::MIN,
            }
        } else {
            strict_id(id_arg, 0)?
        };
        let s = if exists {
            ctx.db.get_as::<Stream>(db, key, now)?
        } else {
            Some(ctx.db.get_or_create::<Stream>(db, key, now)?)
        };
        let Some(s) = s else {
            return Err(CmdError::err("no such key"));
        };
        if s.groups.contains_key(group) {
            return Err(CmdError::Msg(
                "BUSYGROUP Consumer Group name already exists".into(),
            ));
        }
        s.groups
            .insert(Str::new(group), Group::new(id, entries_read));
        ctx.db.dirty += 1;
        ctx.out.ok();
        return Ok(());
    }
    let Some(s) = ctx.db.get_as::<Stream>(db, key, now)? else {
        return Err(subcommand_syntax(args));
    };
    if is(opt, "setid") && (args.len() == 5 || args.len() == 7) {
        let id_arg = arg(args, 4);
        let id = if id_arg == b"$" {
            s.last_id
        } else {
            loose_id(id_arg, 0)?
        };
        if let Some(g) = s.groups.get_mut(group) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ctx.db.dirty += 1;
        ctx.out.ok();
    } else if is(opt, "destroy") && args.len() == 4 {
        if s.groups.remove(group).is_some() {
            ctx.db.dirty += 1;
            ctx.out.int(1);
        } else {
            ctx.out.int(0);
        }
    } else if is(opt, "createconsumer") && args.len() == 5 {
        let made = s
            .groups
            .get_mut(group)
            .is_some_and(|g| g.consumer(arg(args, 4), now));
        if made {
            ctx.db.dirty += 1;
        }
        ctx.out.int(i64::from(made));
    } else if is(opt, "delconsumer") && args.len() == 5 {
        let pending = s
            .groups
            .get_mut(group)
            .and_then(|g| g.delete_consumer(arg(args, 4)));
        if pending.is_some() {
            ctx.db.dirty += 1;
        }
        ctx.out.int(pending.unwrap_or(0) as i64);
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(())
}

/// `XACK key group id …`
pub(crate) fn xack(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (db, now) = (ctx.dbi(), ctx.now);
    let Some(s) = ctx.db.read_as::<Stream>(db, arg(args, 1), now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(g) = s.groups.get_mut(arg(args, 2)) else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = args
        .get(3..)
        .unwrap_or_default()
        .iter()
        .map(|a| strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
    ctx.db.dirty += acked as u64;
    ctx.out.int(acked as i64);
    Ok(())
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
pub(crate) fn xpending(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0i64;
        if is(arg(args, 3), "idle") {
            min_idle = int_arg(arg(args, 4))?;
            if argc < 8 {
                return Err(CmdError::Syntax);
            }
            at += 2;
        }
        let count = int_arg(arg(args, at + 2))?.max(0) as usize;
        let start = range_start(arg(args, at))?;
        let end = range_end(arg(args, at + 1))?;
        let consumer = args.get(at + 3).map(|c| &c[..]);
        range = Some((start, end, count, min_idle, consumer));
    }
    let (key, group) = (arg(args, 1), arg(args, 2));
    let (db, now) = (ctx.dbi(), ctx.now);
    let s = ctx.db.read_as::<Stream>(db, key, now)?;
    let Some(g) = s.and_then(|s| s.groups.get(group)) else {
        return Err(no_key_or_group(key, group));
    };
    let Some((start, end, count, min_idle, consumer)) = range else {
        ctx.out.array_len(4);
        ctx.out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                ctx.out.bulk(first.text().as_bytes());
                ctx.out.bulk(last.text().as_bytes());
                let with: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                ctx.out.array_len(with.len());
                for (name, c) in with {
                    ctx.out.array_len(2);
                    ctx.out.bulk(name);
                    ctx.out.bulk(c.pel.len().to_string().as_bytes());
                }
            }
            _ => {
                ctx.out.null();
                ctx.out.null();
                ctx.out.null_array();
            }
        }
        return Ok(());
    };
    let ids: Vec<StreamId> = match consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) => c.pel.range(start..).copied().collect(),
            None => {
                ctx.out.array_len(0);
                return Ok(());
            }
        },
        None => g.pel.range(start..).map(|(id, _)| *id).collect(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() >= count || id > end {
            break;
        }
        let Some(n) = g.pel.get(&id) else { continue };
        if min_idle != 0 && idle_ms(now, n.delivery_time) < min_idle {
            continue;
        }
        rows.push((id, n));
    }
    ctx.out.array_len(rows.len());
    for (id, n) in rows {
        ctx.out.array_len(4);
        ctx.out.bulk(id.text().as_bytes());
        ctx.out.bulk(&n.consumer);
        ctx.out.int(idle_ms(now, n.delivery_time));
        ctx.out.int(n.delivery_count as i64);
    }
    Ok(())
}

/// `XCLAIM key group consumer min-idle-time id … [IDLE ms] [TIME unix-ms] [RETRYCOUNT count]
/// [FORCE] [JUSTID] [LASTID id]`
pub(crate) fn xclaim(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (key, group, consumer) = (arg(args, 1), arg(args, 2), arg(args, 3));
    let (db, now) = (ctx.dbi(), ctx.now);
    let exists = ctx
        .db
        .read_as::<Stream>(db, key, now)?
        .is_some_and(|s| s.groups.contains_key(group));
    if !exists {
        return Err(no_key_or_group(key, group));
    }
    let min_idle = int_arg(arg(args, 4))
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while let Some(a) = args.get(j) {
        match crate::types::stream::parse_id(a, 0, true, false) {
            Some(p) => ids.push((p.id, a.clone())),
            None => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut delivery: Option<i64> = None;
    let mut retry: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = arg(args, j);
        let num = |i: usize, what: &str| {
            int_arg(arg(args, i))
                .map_err(|_| CmdError::err(format!("Invalid {what} option argument for XCLAIM")))
        };
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            delivery = Some((now as i64).wrapping_sub(num(j, "IDLE")?));
        } else if is(opt, "time") && more > 0 {
            j += 1;
            delivery = Some(num(j, "TIME")?);
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            retry = num(j, "RETRYCOUNT")?;
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(arg(args, j), 0)?;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                lossy(opt)
            )));
        }
        j += 1;
    }
    let delivery = match delivery {
        Some(t) if t >= 0 && t <= now as i64 => t as u64,
        _ => now,
    };
    let Some(s) = ctx.db.get_as::<Stream>(db, key, now)? else {
        return Err(no_key_or_group(key, group));
    };
    let mut prop = Vec::new();
    let mut propagate_last = false;
    let mut dirty = 0u64;
    if let Some(g) = s.groups.get_mut(group) {
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last = true;
        }
    }
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut consumer_ready = false;
    for (id, id_arg) in &ids {
        let exists = s.exists(*id);
        let Some(g) = s.groups.get_mut(group) else {
            break;
        };
        if !exists {
            if let Some(n) = g.pel.get(id) {
                prop.push(xclaim_argv(key, group, id_arg, n, g.last_id));
                propagate_last = false;
                dirty += 1;
                g.ack(*id);
            }
            continue;
        }
        let fresh = force && !g.pel.contains_key(id);
        if !fresh {
            let Some(n) = g.pel.get(id) else { continue };
            if min_idle > 0 && idle_ms(now, n.delivery_time) < min_idle {
                continue;
            }
        }
        if !consumer_ready {
            g.consumer(consumer, now);
            consumer_ready = true;
        }
        let last = g.last_id;
        let n = g.assign(*id, consumer, now);
        if fresh {
            n.delivery_count = 1;
        }
        n.delivery_time = delivery;
        if retry >= 0 {
            n.delivery_count = retry as u64;
        } else if !justid {
            n.count_delivery();
        }
        prop.push(xclaim_argv(key, group, id_arg, n, last));
        claimed.push(*id);
        propagate_last = false;
        dirty += 1;
    }
    if propagate_last {
        if let Some(g) = s.groups.get(group) {
            prop.push(setid_argv(key, group, g));
        }
        dirty += 1;
    }
    ctx.out.array_len(claimed.len());
    for id in &claimed {
        if justid {
            ctx.out.bulk(id.text().as_bytes());
        } else if let Some(pairs) = s.get(*id) {
            write_entry(ctx.out, *id, &pairs);
        }
    }
    ctx.db.dirty += dirty;
    ctx.db.propagation.suppress();
    for argv in prop {
        ctx.db.propagation.replace(argv);
    }
    Ok(())
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
pub(crate) fn xautoclaim(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (key, group, consumer) = (arg(args, 1), arg(args, 2), arg(args, 3));
    let (db, now) = (ctx.dbi(), ctx.now);
    let min_idle = int_arg(arg(args, 4))
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = range_start(arg(args, 5))?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = arg(args, j);
        if is(opt, "count") && more > 0 {
            let max = i64::MAX / 16;
            count = int_arg(arg(args, j + 1))
                .ok()
                .filter(|c| (1..=max).contains(c))
                .ok_or_else(|| CmdError::err("COUNT must be > 0"))?;
            j += 1;
        } else if is(opt, "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let Some(s) = ctx.db.read_as::<Stream>(db, key, now)? else {
        return Err(no_key_or_group(key, group));
    };
    if !s.groups.contains_key(group) {
        return Err(no_key_or_group(key, group));
    }
    let mut attempts = count.saturating_mul(10);
    let pending: Vec<StreamId> = s
        .groups
        .get(group)
        .map(|g| g.pel.range(start..).map(|(id, _)| *id).collect())
        .unwrap_or_default();
    let mut it = pending.into_iter().peekable();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut prop = Vec::new();
    let mut dirty = 0u64;
    let mut consumer_ready = false;
    while attempts > 0 && count > 0 {
        let Some(id) = it.next() else { break };
        attempts -= 1;
        let exists = s.exists(id);
        let Some(g) = s.groups.get_mut(group) else {
            break;
        };
        let Some(n) = g.pel.get(&id) else { continue };
        if !exists {
            prop.push(xclaim_argv(key, group, id.text().as_bytes(), n, g.last_id));
            dirty += 1;
            g.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if min_idle > 0 && (now as i64) - (n.delivery_time as i64) < min_idle {
            continue;
        }
        if !consumer_ready {
            g.consumer(consumer, now);
            consumer_ready = true;
        }
        let last = g.last_id;
        let n = g.assign(id, consumer, now);
        n.delivery_time = now;
        if !justid {
            n.count_delivery();
        }
        prop.push(xclaim_argv(key, group, id.text().as_bytes(), n, last));
        claimed.push(id);
        count -= 1;
        dirty += 1;
    }
    let next = it.next().unwrap_or(StreamId::MIN);
    ctx.out.array_len(3);
    ctx.out.bulk(next.text().as_bytes());
    ctx.out.array_len(claimed.len());
    for id in &claimed {
        if justid {
            ctx.out.bulk(id.text().as_bytes());
        } else if let Some(pairs) = s.get(*id) {
            write_entry(ctx.out, *id, &pairs);
        }
    }
    ctx.out.array_len(deleted.len());
    for id in &deleted {
        ctx.out.bulk(id.text().as_bytes());
    }
    ctx.db.dirty += dirty;
    ctx.db.propagation.suppress();
    for argv in prop {
        ctx.db.propagation.replace(argv);
    }
    Ok(())
}
