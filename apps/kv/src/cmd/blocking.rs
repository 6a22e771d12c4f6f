//! Blocking commands: BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX, BZMPOP. When a key has data they
//! act at once, like their non-blocking twins (whose code they call); otherwise the client blocks until another client pushes or the timeout passes
//! (see [`blocked`](crate::blocked), the registry). Inside MULTI they never block.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::args::{arg, float_arg};
use super::ctx::{CmdResult, Ctx};
use crate::blocked::{Block, BlockOp};
use crate::error::CmdError;
use crate::types::str::Str;
use crate::types::value::{Value, ZSet};

/// Parses a blocking timeout in seconds (fractions allowed; 0 means for ever), with Redis's
/// errors (`getTimeoutFromObjectOrReply`): a deadline past a signed 64-bit count of unix
/// milliseconds after `now` is out of range.
pub(crate) fn timeout_arg(b: &[u8], now: u64) -> Result<Option<Duration>, CmdError> {
    let secs = float_arg(b).map_err(|_| CmdError::err("timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    if ms < 0.0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let room = i64::MAX.saturating_sub(i64::try_from(now).unwrap_or(i64::MAX));
    // 2^63 and beyond do not fit an i64 (`as` would saturate and hide it).
    if ms >= 9_223_372_036_854_775_808.0 || ms as i64 > room {
        return Err(CmdError::err("timeout is out of range"));
    }
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

fn bpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes], left: bool) -> CmdResult {
    let (keys, timeout) = match args.split_last() {
        Some((t, rest)) => (rest.get(1..).unwrap_or_default(), timeout_arg(t, ctx.now)?),
        None => return Err(CmdError::Syntax),
    };
    let db = ctx.dbi();
    let now = ctx.now;
    for key in keys {
        if let Some(list) = ctx.db.get_as::<VecDeque<Str>>(db, key, now)? {
            let v = if left {
                list.pop_front()
            } else {
                list.pop_back()
            };
            if let Some(v) = v {
                ctx.out.array_len(2);
                ctx.out.bulk(key);
                ctx.out.bulk(&v);
                ctx.db.removed_from(db, key);
                return Ok(());
            }
        }
    }
    if ctx.client.in_exec {
        ctx.out.null_array();
        return Ok(());
    }
    block(ctx, keys, keys.len(), BlockOp::Pop { left }, timeout);
    Ok(())
}

/// Marks the client blocked on the first `waited` of `keys` (copied: arguments share the read
/// buffer, which a long wait would pin).
fn block(
    ctx: &mut Ctx<'_, '_>,
    keys: &[Bytes],
    waited: usize,
    op: BlockOp,
    timeout: Option<Duration>,
) {
    ctx.client.blocked = Some(Block {
        db: ctx.dbi(),
        keys: keys.iter().map(|k| Bytes::copy_from_slice(k)).collect(),
        waited,
        op,
        timeout,
    });
}

/// True if `key` holds a non-empty list, or anything that is not a list (the non-blocking
/// command then answers, with WRONGTYPE).
fn ready(ctx: &mut Ctx<'_, '_>, key: &[u8]) -> bool {
    let db = ctx.dbi();
    match ctx.db.entry(db, key, ctx.now).map(|e| &e.value) {
        Some(Value::List(l)) => !l.is_empty(),
        Some(_) => true,
        None => false,
    }
}

fn side(b: &[u8]) -> Result<bool, CmdError> {
    if super::args::is(b, "left") {
        Ok(true)
    } else if super::args::is(b, "right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`
pub(crate) fn blmove(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (from_left, to_left) = (side(arg(args, 3))?, side(arg(args, 4))?);
    let timeout = timeout_arg(arg(args, 5), ctx.now)?;
    block_move(ctx, args, from_left, to_left, timeout)
}

/// `BRPOPLPUSH source destination timeout`
pub(crate) fn brpoplpush(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let timeout = timeout_arg(arg(args, 3), ctx.now)?;
    block_move(ctx, args, false, true, timeout)
}

fn block_move(
    ctx: &mut Ctx<'_, '_>,
    args: &[Bytes],
    from_left: bool,
    to_left: bool,
    timeout: Option<Duration>,
) -> CmdResult {
    let (src, dst) = (arg(args, 1), arg(args, 2));
    if ready(ctx, src) || ctx.client.in_exec {
        let side = |l: bool| Bytes::from_static(if l { b"LEFT" } else { b"RIGHT" });
        let lmove_args = [
            Bytes::from_static(b"LMOVE"),
            Bytes::copy_from_slice(src),
            Bytes::copy_from_slice(dst),
            side(from_left),
            side(to_left),
        ];
        return super::list::lmove(ctx, &lmove_args);
    }
    let keys = [Bytes::copy_from_slice(src), Bytes::copy_from_slice(dst)];
    block(
        ctx,
        &keys,
        1,
        BlockOp::Move {
            dest: 1,
            from_left,
            to_left,
        },
        timeout,
    );
    Ok(())
}

/// `BLMPOP timeout numkeys key… LEFT|RIGHT [COUNT count]`
pub(crate) fn blmpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (timeout, numkeys, keys) = mpop_head(args, ctx.now)?;
    let any_ready = keys.len() == numkeys && keys.iter().any(|k| ready(ctx, k));
    if any_ready || ctx.client.in_exec || keys.len() != numkeys {
        // LMPOP's own parsing (and errors) on the arguments after the timeout.
        let mut lmpop_args = vec![Bytes::from_static(b"LMPOP")];
        lmpop_args.extend(args.get(2..).unwrap_or_default().iter().cloned());
        return super::list::lmpop(ctx, &lmpop_args);
    }
    let left = side(arg(args, 3 + numkeys))?;
    let count = mpop_count(args, numkeys)?;
    block(
        ctx,
        &keys,
        keys.len(),
        BlockOp::MPop { left, count },
        timeout,
    );
    Ok(())
}

/// The head of BLMPOP and BZMPOP, `timeout numkeys key…`: the timeout, numkeys, and the keys
/// (fewer than numkeys when the arguments run out; the non-blocking twin then reports it).
fn mpop_head(args: &[Bytes], now: u64) -> Result<(Option<Duration>, usize, Vec<Bytes>), CmdError> {
    let timeout = timeout_arg(arg(args, 1), now)?;
    let numkeys = super::args::int_arg(arg(args, 2))
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?
        as usize;
    let keys = args.get(3..3 + numkeys).unwrap_or_default().to_vec();
    Ok((timeout, numkeys, keys))
}

/// The tail of BLMPOP and BZMPOP after the LEFT/RIGHT or MIN/MAX word: `[COUNT count]`.
fn mpop_count(args: &[Bytes], numkeys: usize) -> Result<usize, CmdError> {
    let count = match args.get(4 + numkeys) {
        Some(opt) if super::args::is(opt, "count") => super::args::int_arg(arg(args, 5 + numkeys))
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| CmdError::err("count should be greater than 0"))?
            as usize,
        Some(_) => return Err(CmdError::Syntax),
        None => 1,
    };
    if args.len() > 6 + numkeys || args.len() == 5 + numkeys {
        return Err(CmdError::Syntax);
    }
    Ok(count)
}

/// `BLPOP key… timeout`
pub(crate) fn blpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, true)
}

/// `BRPOP key… timeout`
pub(crate) fn brpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, false)
}

/// True if `key` holds a non-empty sorted set, or anything that is not one.
fn zready(ctx: &mut Ctx<'_, '_>, key: &[u8]) -> bool {
    let db = ctx.dbi();
    match ctx.db.entry(db, key, ctx.now).map(|e| &e.value) {
        Some(Value::ZSet(z)) => !z.is_empty(),
        Some(_) => true,
        None => false,
    }
}

fn bzpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes], max: bool) -> CmdResult {
    let (keys, timeout) = match args.split_last() {
        Some((t, rest)) => (rest.get(1..).unwrap_or_default(), timeout_arg(t, ctx.now)?),
        None => return Err(CmdError::Syntax),
    };
    let db = ctx.dbi();
    let now = ctx.now;
    for key in keys {
        if let Some(z) = ctx.db.get_as::<ZSet>(db, key, now)? {
            if let Some((member, score)) = z.pop(max) {
                ctx.out.array_len(3);
                ctx.out.bulk(key);
                ctx.out.bulk(&member);
                ctx.out.double(score);
                ctx.db.removed_from(db, key);
                return Ok(());
            }
        }
    }
    if ctx.client.in_exec {
        ctx.out.null_array();
        return Ok(());
    }
    block(ctx, keys, keys.len(), BlockOp::ZPop { max }, timeout);
    Ok(())
}

/// `BZPOPMIN key… timeout`
pub(crate) fn bzpopmin(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, false)
}

/// `BZPOPMAX key… timeout`
pub(crate) fn bzpopmax(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, true)
}

/// `BZMPOP timeout numkeys key… MIN|MAX [COUNT count]`
pub(crate) fn bzmpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (timeout, numkeys, keys) = mpop_head(args, ctx.now)?;
    let any_ready = keys.len() == numkeys && keys.iter().any(|k| zready(ctx, k));
    if any_ready || ctx.client.in_exec || keys.len() != numkeys {
        let mut zmpop_args = vec![Bytes::from_static(b"ZMPOP")];
        zmpop_args.extend(args.get(2..).unwrap_or_default().iter().cloned());
        return super::zset::zmpop(ctx, &zmpop_args);
    }
    let which = arg(args, 3 + numkeys);
    let max = if super::args::is(which, "max") {
        true
    } else if super::args::is(which, "min") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let count = mpop_count(args, numkeys)?;
    block(
        ctx,
        &keys,
        keys.len(),
        BlockOp::ZMPop { max, count },
        timeout,
    );
    Ok(())
}
