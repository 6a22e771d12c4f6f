//! XREAD and XREADGROUP (`xreadCommand`): reading several streams after given ids, for a
//! consumer group or not, blocking when nothing is there yet (the wait is served by
//! [`blocked`](crate::blocked) when an XADD comes).

use std::time::Duration;

use bytes::Bytes;
use spindle_protocols::resp::Version;

use super::common::{nogroup, strict_id};
use crate::blocked::{Block, BlockOp, StreamWait};
use crate::cmd::args::{arg, int_arg, is};
use crate::cmd::ctx::{CmdResult, Ctx};
use crate::error::CmdError;
use crate::types::stream::{createconsumer_argv, GroupRead, Stream, StreamId};

/// `count` when a blocked read gave none (`XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key … id …`
pub(crate) fn xread(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    read(ctx, args, false)
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key … id …`
pub(crate) fn xreadgroup(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let result = read(ctx, args, true);
    // What a group read changed goes out as the XCLAIM / XGROUP commands it pushed, never as
    // itself.
    ctx.db.propagation.suppress();
    result
}

/// A BLOCK argument in milliseconds (`getTimeoutFromObjectOrReply` with `UNIT_MILLISECONDS`):
/// `None` for 0, for ever.
fn block_timeout(b: &[u8], now: u64) -> Result<Option<Duration>, CmdError> {
    let ms = int_arg(b).map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    if ms > i64::MAX - i64::try_from(now).unwrap_or(i64::MAX) {
        return Err(CmdError::err("timeout is out of range"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// Where to read one stream from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    /// After this id.
    After(StreamId),
    /// `>`: what the group has not delivered.
    New,
}

fn read(ctx: &mut Ctx<'_, '_>, args: &[Bytes], group_read: bool) -> CmdResult {
    let mut timeout: Option<Option<Duration>> = None;
    let mut count: usize = 0;
    let mut streams_at = 0;
    let mut noack = false;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = arg(args, i);
        if is(o, "block") && more > 0 {
            i += 1;
            timeout = Some(block_timeout(arg(args, i), ctx.now)?);
        } else if is(o, "count") && more > 0 {
            i += 1;
            count = int_arg(arg(args, i))?.max(0) as usize;
        } else if is(o, "streams") && more > 0 {
            streams_at = i + 1;
            if !(args.len() - streams_at).is_multiple_of(2) {
                return Err(CmdError::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            break;
        } else if is(o, "group") && more >= 2 {
            if !group_read {
                return Err(CmdError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((arg(args, i + 1), arg(args, i + 2)));
            i += 2;
        } else if is(o, "noack") {
            if !group_read {
                return Err(CmdError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(CmdError::Syntax);
    }
    if group_read && group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    let n = (args.len() - streams_at) / 2;
    let keys = args.get(streams_at..streams_at + n).unwrap_or_default();
    let id_args = args.get(streams_at + n..).unwrap_or_default();
    let (db, now) = (ctx.dbi(), ctx.now);

    let mut from = Vec::with_capacity(n);
    for (key, id) in keys.iter().zip(id_args) {
        let s = ctx.db.read_as::<Stream>(db, key, now)?;
        if let Some((g, _)) = group {
            if !s.as_ref().is_some_and(|s| s.groups.contains_key(g)) {
                return Err(nogroup(format!(
                    "No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(g)
                )));
            }
        }
        if &id[..] == b"$" {
            if group_read {
                return Err(CmdError::err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            from.push(From::After(s.map_or(StreamId::MIN, |s| s.last_id)));
        } else if &id[..] == b">" {
            if !group_read {
                return Err(CmdError::err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            from.push(From::New);
        } else {
            from.push(From::After(strict_id(id, 0)?));
        }
    }

    // Which streams answer now (decided before any is served, so the reply's length is known).
    let mut serve = Vec::new();
    for (idx, (key, f)) in keys.iter().zip(&from).enumerate() {
        let Some(s) = ctx.db.peek(db, key, now).and_then(|e| match &e.value {
            crate::types::value::Value::Stream(s) => Some(s),
            _ => None,
        }) else {
            continue;
        };
        let ready = match (group, f) {
            (Some(_), From::After(_)) => true,
            (Some((g, _)), From::New) => {
                s.length > 0
                    && s.groups
                        .get(g)
                        .is_some_and(|g| s.last_valid_id() > g.last_id)
            }
            (None, From::After(gt)) => s.length > 0 && s.last_valid_id() > *gt,
            (None, From::New) => false,
        };
        if ready {
            serve.push(idx);
        }
    }

    if serve.is_empty() {
        match timeout {
            Some(t) if !ctx.client.in_exec => {
                let ids = from
                    .iter()
                    .map(|f| match f {
                        From::After(id) => *id,
                        From::New => StreamId::MAX,
                    })
                    .collect();
                ctx.client.blocked = Some(Block {
                    db,
                    keys: keys.iter().map(|k| Bytes::copy_from_slice(k)).collect(),
                    waited: keys.len(),
                    op: BlockOp::Stream(Box::new(StreamWait {
                        ids,
                        group: group.map(|(g, c)| {
                            (Bytes::copy_from_slice(g), Bytes::copy_from_slice(c), noack)
                        }),
                        count: if count == 0 {
                            BLOCKED_DEFAULT_COUNT
                        } else {
                            count
                        },
                    })),
                    timeout: t,
                });
            }
            _ => ctx.out.null_array(),
        }
        return Ok(());
    }

    if ctx.out.version == Version::Resp2 {
        ctx.out.array_len(serve.len());
    } else {
        ctx.out.map_len(serve.len());
    }
    let mut prop = Vec::new();
    for idx in serve {
        let (Some(key), Some(f)) = (keys.get(idx), from.get(idx)) else {
            continue;
        };
        if ctx.out.version == Version::Resp2 {
            ctx.out.array_len(2);
        }
        ctx.out.bulk(key);
        let Some(s) = ctx.db.get_as::<Stream>(db, key, now)? else {
            ctx.out.array_len(0);
            continue;
        };
        match group {
            None => {
                let start = match f {
                    From::After(id) => id.incr().unwrap_or(StreamId::MAX),
                    From::New => StreamId::MAX,
                };
                let entries = s.range(start, StreamId::MAX, false, count);
                ctx.out.array_len(entries.len());
                for (id, pairs) in &entries {
                    crate::types::stream::write_entry(ctx.out, *id, pairs);
                }
            }
            Some((g, c)) => {
                let made = s.groups.get_mut(g).is_some_and(|grp| grp.consumer(c, now));
                if made && noack {
                    prop.push(createconsumer_argv(key, g, c));
                }
                let r = GroupRead {
                    key,
                    group: g,
                    consumer: c,
                    noack,
                    count,
                    now,
                };
                match f {
                    From::New => {
                        s.read_new(ctx.out, &r, &mut prop);
                    }
                    From::After(id) => {
                        s.read_history(ctx.out, &r, id.incr().unwrap_or(StreamId::MAX));
                    }
                }
                ctx.db.dirty += 1;
            }
        }
    }
    for argv in prop {
        ctx.db.propagation.replace(argv);
    }
    Ok(())
}
