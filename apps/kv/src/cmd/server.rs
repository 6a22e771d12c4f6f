//! Server commands: DBSIZE FLUSHDB FLUSHALL COMMAND TIME DEBUG (INFO is `info.rs`'s, SAVE and
//! the other persistence commands are `persist.rs`'s).

use bytes::Bytes;

use super::args::{check_string_length, float_arg, int_arg, is};
use super::ctx::{flags, CmdResult, Command, Ctx};
use crate::error::CmdError;

/// `DBSIZE`
pub(crate) fn dbsize(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    let n = ctx.db.space(ctx.client.db).len();
    ctx.out.int(n as i64);
    Ok(())
}

fn flush_mode(args: &[Bytes]) -> CmdResult {
    match args.get(1..).unwrap_or_default() {
        [] => Ok(()),
        [m] if is(m, "sync") || is(m, "async") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

/// `FLUSHDB [ASYNC|SYNC]`
pub(crate) fn flushdb(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let db = ctx.client.db;
    if let Some(space) = ctx.db.spaces.get(db) {
        ctx.shared.touch_db(db, space, None, ctx.now);
    }
    ctx.db.space(db).clear();
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}

/// `FLUSHALL [ASYNC|SYNC]`
pub(crate) fn flushall(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    for (db, space) in ctx.db.spaces.iter_mut().enumerate() {
        ctx.shared.touch_db(db, space, None, ctx.now);
        space.clear();
    }
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}

fn flag_names(f: u32) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (bit, name) in [
        (flags::WRITE, "write"),
        (flags::READONLY, "readonly"),
        (flags::DENYOOM, "denyoom"),
        (flags::ADMIN, "admin"),
        (flags::PUBSUB, "pubsub"),
        (flags::NO_AUTH, "no_auth"),
        (flags::FAST, "fast"),
        (flags::NO_MULTI, "no_multi"),
    ] {
        if f & bit != 0 {
            v.push(name);
        }
    }
    v
}

fn command_info(ctx: &mut Ctx<'_, '_>, c: &Command) {
    ctx.out.array_len(10);
    ctx.out.bulk(c.name.as_bytes());
    ctx.out.int(c.arity as i64);
    let names = flag_names(c.flags);
    ctx.out.set_len(names.len());
    for n in names {
        ctx.out.simple(n);
    }
    ctx.out.int(c.keys.0 as i64);
    ctx.out.int(c.keys.1 as i64);
    ctx.out.int(c.keys.2 as i64);
    ctx.out.set_len(0); // ACL categories
    ctx.out.array_len(0); // tips
    ctx.out.array_len(0); // key specs
    ctx.out.array_len(0); // subcommands
}

/// `COMMAND [COUNT | INFO name… | DOCS name… | LIST]`
pub(crate) fn command(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1);
    let rest = args.get(2..).unwrap_or_default();
    match sub {
        None => {
            ctx.out.array_len(ctx.commands.len());
            for c in ctx.commands {
                command_info(ctx, c);
            }
        }
        Some(s) if is(s, "count") => ctx.out.int(ctx.commands.len() as i64),
        Some(s) if is(s, "list") => super::introspect::command_list(ctx, rest)?,
        Some(s) if is(s, "getkeys") => super::introspect::command_getkeys(ctx, rest, false)?,
        Some(s) if is(s, "getkeysandflags") => super::introspect::command_getkeys(ctx, rest, true)?,
        Some(s) if is(s, "info") => {
            ctx.out.array_len(rest.len());
            for name in rest {
                match ctx.command(name) {
                    Some(c) => command_info(ctx, c),
                    None => ctx.out.null_array(),
                }
            }
        }
        Some(s) if is(s, "docs") => {
            let wanted: Vec<&Command> = if rest.is_empty() {
                ctx.commands.iter().collect()
            } else {
                rest.iter().filter_map(|n| ctx.command(n)).collect()
            };
            ctx.out.map_len(wanted.len());
            for c in wanted {
                ctx.out.bulk(c.name.as_bytes());
                ctx.out.map_len(2);
                ctx.out.bulk(b"summary");
                ctx.out.bulk(c.name.as_bytes());
                ctx.out.bulk(b"group");
                ctx.out.bulk(b"generic");
            }
        }
        Some(s) => {
            return Err(CmdError::err(format!(
                "unknown subcommand '{}'. Try COMMAND HELP.",
                String::from_utf8_lossy(s)
            )))
        }
    }
    Ok(())
}

/// `TIME`
pub(crate) fn time(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    let secs = ctx.now / 1000;
    let micros = (ctx.now % 1000) * 1000;
    ctx.out.array_len(2);
    ctx.out.bulk(secs.to_string().as_bytes());
    ctx.out.bulk(micros.to_string().as_bytes());
    Ok(())
}

/// `DEBUG POPULATE count [prefix] [size] | SLEEP seconds | SET-ACTIVE-EXPIRE 0|1 | OBJECT key |
/// RELOAD [MERGE] [NOFLUSH] [NOSAVE]`,
/// when `enable-debug-command` allows it (as in Redis 7).
pub(crate) fn debug(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let allowed = matches!(
        ctx.shared.config.get("enable-debug-command"),
        Some("yes") | Some("local")
    );
    if !allowed {
        return Err(CmdError::err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
             you can run it from a local connection, otherwise you need to set this option in the \
             configuration file, and then restart the server.",
        ));
    }
    let sub = args.get(1).map_or(&[][..], |b| b);
    let rest = args.get(2..).unwrap_or_default();
    if is(sub, "populate") && !rest.is_empty() && rest.len() <= 3 {
        let count = int_arg(rest.first().map_or(&[][..], |b| b))?;
        if count < 0 {
            return Err(CmdError::err("count must be positive"));
        }
        let prefix = rest.get(1).map_or(&b"key"[..], |b| b).to_vec();
        let size = match rest.get(2) {
            Some(s) => {
                let size = int_arg(s)?.max(0) as u64;
                check_string_length(0, size, ctx.shared.config.proto_max_bulk_len)?;
                Some(size as usize)
            }
            None => None,
        };
        let db = ctx.dbi();
        let now = ctx.now;
        let mut key = prefix.clone();
        for i in 0..count {
            key.truncate(prefix.len());
            key.push(b':');
            key.extend_from_slice(i.to_string().as_bytes());
            if ctx.db.exists(db, &key, now) {
                continue;
            }
            let mut value = format!("value:{i}").into_bytes();
            if let Some(size) = size {
                value.resize(size, 0);
            }
            ctx.db.set(
                db,
                &key,
                crate::types::value::Value::string(&value),
                false,
                now,
            );
        }
        ctx.out.ok();
    } else if is(sub, "sleep") && rest.len() == 1 {
        let secs = float_arg(rest.first().map_or(&[][..], |b| b))?;
        // Blocks the whole server, as in Redis: that is what DEBUG SLEEP is for.
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
        ctx.out.ok();
    } else if is(sub, "reload") {
        return super::persist::debug_reload(ctx, rest);
    } else if is(sub, "set-active-expire") && rest.len() == 1 {
        let on = int_arg(rest.first().map_or(&[][..], |b| b))? != 0;
        ctx.shared.active_expire_enabled = on;
        ctx.out.ok();
    } else if is(sub, "object") && rest.len() == 1 {
        let db = ctx.dbi();
        let Some(e) = ctx
            .db
            .peek(db, rest.first().map_or(&[][..], |b| b), ctx.now)
        else {
            return Err(CmdError::err("no such key"));
        };
        // `lru` is Redis's 24-bit clock (seconds); serializedlength needs the RDB encoder,
        // which persistence brings.
        let text = format!(
            "Value at:0x0 refcount:1 encoding:{} serializedlength:0 lru:{} lru_seconds_idle:{}",
            crate::types::value::encoding_name(&e.value, &ctx.shared.config),
            e.accessed & 0xFF_FFFF,
            e.idle_seconds(ctx.now)
        );
        ctx.out.simple(&text);
    } else {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}
