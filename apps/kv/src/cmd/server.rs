//! Server commands: DBSIZE FLUSHDB FLUSHALL COMMAND TIME DEBUG (INFO is `info.rs`'s, SAVE and
//! the other persistence commands are `persist.rs`'s).

use bytes::Bytes;

use super::args::{check_string_length, float_arg, int_arg, is};
use super::ctx::{CmdResult, Ctx};
use super::docs::{self, Node};
use crate::error::CmdError;
use spindle_protocols::resp::Version;

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

/// The generated COMMAND INFO and COMMAND DOCS of a command or subcommand this server runs
/// (`get`, `config|get`).
fn described(ctx: &Ctx<'_, '_>, name: &[u8]) -> Option<(&'static Node, &'static Node)> {
    let top = name.split(|&b| b == b'|').next().unwrap_or_default();
    ctx.command(top)?;
    docs::entry(name)
}

/// `COMMAND [COUNT | INFO name… | DOCS name… | LIST]`
pub(crate) fn command(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1);
    let rest = args.get(2..).unwrap_or_default();
    match sub {
        None => {
            ctx.out.array_len(ctx.commands.len());
            for c in ctx.commands {
                match docs::entry(c.name.as_bytes()) {
                    Some((info, _)) => docs::write(ctx.out, info),
                    None => ctx.out.null_array(),
                }
            }
        }
        Some(s) if is(s, "count") => ctx.out.int(ctx.commands.len() as i64),
        Some(s) if is(s, "list") => super::introspect::command_list(ctx, rest)?,
        Some(s) if is(s, "getkeys") => super::introspect::command_getkeys(ctx, rest, false)?,
        Some(s) if is(s, "getkeysandflags") => super::introspect::command_getkeys(ctx, rest, true)?,
        Some(s) if is(s, "info") => {
            ctx.out.array_len(rest.len());
            for name in rest {
                match described(ctx, name) {
                    Some((info, _)) => docs::write(ctx.out, info),
                    None => ctx.out.null_array(),
                }
            }
        }
        Some(s) if is(s, "docs") => {
            let wanted: Vec<(&[u8], &Node)> = if rest.is_empty() {
                ctx.commands
                    .iter()
                    .filter_map(|c| Some((c.name.as_bytes(), docs::entry(c.name.as_bytes())?.1)))
                    .collect()
            } else {
                rest.iter()
                    .filter_map(|n| Some((&n[..], described(ctx, n)?.1)))
                    .collect()
            };
            ctx.out.map_len(wanted.len());
            for (name, node) in wanted {
                ctx.out.bulk(&name.to_ascii_lowercase());
                docs::write(ctx.out, node);
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
/// RELOAD [MERGE] [NOFLUSH] [NOSAVE] | DIGEST | DIGEST-VALUE key… | PROTOCOL type |
/// CHANGE-REPL-ID | QUICKLIST-PACKED-THRESHOLD size | LISTPACK key | QUICKLIST key [0|1] |
/// STRINGMATCH-TEST | LOG message | ERROR message | HELP`,
/// when `enable-debug-command` allows it (as in Redis 7).
pub(crate) fn debug(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ctx.check_protected("DEBUG", "enable-debug-command")?;
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
    } else if is(sub, "help") && rest.is_empty() {
        ctx.out.array_len(DEBUG_HELP.len());
        for line in DEBUG_HELP {
            ctx.out.simple(line);
        }
    } else if is(sub, "digest") && rest.is_empty() {
        let digest = crate::digest::of_dataset(ctx.db);
        ctx.out.simple(&crate::digest::hex(&digest));
    } else if is(sub, "digest-value") {
        let db = ctx.dbi();
        ctx.out.array_len(rest.len());
        for key in rest {
            // Logically expired keys count, as in Redis (no lookup that would expire them).
            let digest = crate::digest::of_value(ctx.db.spaces.get(db).and_then(|s| s.get(key)));
            ctx.out.simple(&crate::digest::hex(&digest));
        }
    } else if is(sub, "protocol") && rest.len() == 1 {
        debug_protocol(ctx, rest.first().map_or(&[][..], |b| b))?;
    } else if is(sub, "change-repl-id") && rest.is_empty() {
        log::warn!("Changing replication IDs after receiving DEBUG change-repl-id");
        let repl = &mut ctx.shared.repl;
        repl.replid = crate::repl::new_replid();
        repl.replid2 = "0".repeat(40);
        repl.second_offset = -1;
        ctx.out.ok();
    } else if is(sub, "quicklist-packed-threshold") && rest.len() == 1 {
        // Lists here have no plain/packed node distinction to switch: the threshold is
        // checked and kept as Redis checks it, for harnesses that set it.
        let text = String::from_utf8_lossy(rest.first().map_or(&[][..], |b| b)).into_owned();
        let size = crate::config::parse_memory(&text).filter(|&n| n < 1 << 32);
        match size {
            Some(n) => {
                ctx.shared.quicklist_packed_threshold = if n == 0 { 1 << 30 } else { n };
                ctx.out.ok();
            }
            None => {
                return Err(CmdError::err(
                    "argument must be a memory value bigger than 1 and smaller than 4gb",
                ))
            }
        }
    } else if (is(sub, "listpack") && rest.len() == 1)
        || (is(sub, "quicklist") && (rest.len() == 1 || rest.len() == 2))
    {
        let db = ctx.dbi();
        let key = rest.first().map_or(&[][..], |b| b);
        let Some(e) = ctx.db.peek(db, key, ctx.now) else {
            return Err(CmdError::err("no such key"));
        };
        let encoding = crate::types::value::encoding_name(&e.value, &ctx.shared.config);
        let want = if is(sub, "listpack") {
            "listpack"
        } else {
            "quicklist"
        };
        if encoding != want {
            return Err(CmdError::err(format!("Not a {want} encoded object.")));
        }
        log::info!(
            "{{{want} {}: type {}, {} elements}}",
            String::from_utf8_lossy(key),
            e.value.type_name(),
            element_count(&e.value)
        );
        ctx.out.simple(&format!(
            "{} structure printed on stdout",
            if want == "listpack" {
                "Listpack"
            } else {
                "Quicklist"
            }
        ));
    } else if is(sub, "stringmatch-test") && rest.is_empty() {
        stringmatch_fuzz();
        ctx.out
            .simple("Apparently Redis did not crash: test passed");
    } else if is(sub, "log") && rest.len() == 1 {
        log::warn!(
            "DEBUG LOG: {}",
            String::from_utf8_lossy(rest.first().map_or(&[][..], |b| b))
        );
        ctx.out.ok();
    } else if is(sub, "error") && rest.len() == 1 {
        let text =
            String::from_utf8_lossy(rest.first().map_or(&[][..], |b| b)).replace(['\r', '\n'], " ");
        return Err(CmdError::Msg(text));
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
        // `lru` is Redis's 24-bit clock (seconds); serializedlength is the value's size in an
        // RDB file without its type byte (Redis's `rdbSavedObjectLen`).
        let mut body = Vec::new();
        crate::rdb::encode::write_value(&mut body, &e.value);
        let text = format!(
            "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
            crate::types::value::encoding_name(&e.value, &ctx.shared.config),
            body.len(),
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

/// DEBUG HELP's lines: the subcommands this server has, in Redis's words.
const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "HELP",
    "    Print this help.",
];

/// DEBUG PROTOCOL: one test value of each reply type, as Redis's `debugCommand` writes them.
fn debug_protocol(ctx: &mut Ctx<'_, '_>, name: &[u8]) -> CmdResult {
    let resp3 = ctx.out.version == Version::Resp3;
    let out = &mut ctx.out;
    if is(name, "string") {
        out.bulk(b"Hello World");
    } else if is(name, "integer") {
        out.int(12345);
    } else if is(name, "double") {
        // Redis's test value, not π: it checks how a client reads doubles.
        #[allow(clippy::approx_constant)]
        out.double(3.141);
    } else if is(name, "bignum") {
        out.big_number("1234567999999999999999999999999999999");
    } else if is(name, "null") {
        out.null();
    } else if is(name, "array") || is(name, "set") {
        if is(name, "array") {
            out.array_len(3);
        } else {
            out.set_len(3);
        }
        for j in 0..3 {
            out.int(j);
        }
    } else if is(name, "map") {
        out.map_len(3);
        for j in 0..3 {
            out.int(j);
            out.boolean(j == 1);
        }
    } else if is(name, "attrib") {
        if resp3 {
            out.attribute_len(1);
            out.bulk(b"key-popularity");
            out.array_len(2);
            out.bulk(b"key:123");
            out.int(90);
        }
        out.bulk(b"Some real reply following the attribute");
    } else if is(name, "push") {
        if !resp3 {
            return Err(CmdError::err("RESP2 is not supported by this command"));
        }
        out.push_len(2);
        out.bulk(b"server-cpu-usage");
        out.int(42);
        out.bulk(b"Some real reply following the push reply");
    } else if is(name, "true") {
        out.boolean(true);
    } else if is(name, "false") {
        out.boolean(false);
    } else if is(name, "verbatim") {
        out.verbatim(b"txt", b"This is a verbatim\nstring");
    } else {
        return Err(CmdError::err(
            "Wrong protocol type name. Please use one of the following: \
             string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ));
    }
    Ok(())
}

/// DEBUG STRINGMATCH-TEST: random patterns against random strings through the glob matcher,
/// as Redis's `stringmatchlen_fuzz_test` (it proves the matcher neither crashes nor runs
/// away on hostile patterns).
fn stringmatch_fuzz() {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut pattern = Vec::with_capacity(32);
    let mut text = Vec::with_capacity(32);
    for _ in 0..1_000_000 {
        pattern.clear();
        text.clear();
        for _ in 0..next() % 32 {
            pattern.push((next() % 128) as u8);
        }
        for _ in 0..next() % 32 {
            text.push((next() % 128) as u8);
        }
        let nocase = next() % 2 == 0;
        std::hint::black_box(crate::glob::matches(&pattern, &text, nocase));
    }
}

/// How many elements an aggregate value holds (1 for a string).
fn element_count(v: &crate::types::value::Value) -> usize {
    use crate::types::value::Value;
    match v {
        Value::Str(_) | Value::Int(_) => 1,
        Value::List(l) => l.len(),
        Value::Hash(h) => h.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
        Value::Stream(s) => s.length as usize,
    }
}
