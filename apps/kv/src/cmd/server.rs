//! Server commands: DBSIZE FLUSHDB FLUSHALL INFO COMMAND TIME DEBUG (SAVE and the other
//! persistence commands are `persist.rs`'s).

use bytes::Bytes;

use super::args::{check_string_length, float_arg, int_arg, is};
use super::ctx::{flags, CmdResult, Command, Ctx};
use crate::config::REDIS_VERSION;
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

/// The resident set size of this process, from /proc (0 where unavailable).
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Clock ticks per second of the CPU times in /proc (Linux's `USER_HZ`, 100 on every
/// architecture it exports them for).
const CLOCK_TICKS: u64 = 100;

/// CPU time used, in clock ticks, as getrusage reports it: the process's system and user
/// time, its waited-for children's, and the main thread's alone.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct CpuTimes {
    pub(crate) sys: u64,
    pub(crate) user: u64,
    pub(crate) sys_children: u64,
    pub(crate) user_children: u64,
    pub(crate) sys_main_thread: u64,
    pub(crate) user_main_thread: u64,
}

/// (utime, stime, cutime, cstime) from the text of a /proc `stat` file: fields 14 to 17,
/// counted after the command name, which is in parentheses and may hold spaces.
pub(crate) fn stat_times(stat: &str) -> Option<(u64, u64, u64, u64)> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest
        .split_whitespace()
        .skip(11)
        .map(|f| f.parse::<u64>().ok());
    Some((
        fields.next()??,
        fields.next()??,
        fields.next()??,
        fields.next()??,
    ))
}

/// The CPU times of this process from /proc (the crate has no libc binding for getrusage):
/// /proc/self/stat for the process and its children, the main thread's own stat file (its
/// thread id is the process id) for the main thread. Zeros where /proc is unavailable.
pub(crate) fn cpu_times() -> CpuTimes {
    let read = |path: String| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| stat_times(&s))
    };
    let (user, sys, user_children, sys_children) =
        read("/proc/self/stat".into()).unwrap_or_default();
    let (user_main_thread, sys_main_thread, _, _) =
        read(format!("/proc/self/task/{}/stat", std::process::id())).unwrap_or_default();
    CpuTimes {
        sys,
        user,
        sys_children,
        user_children,
        sys_main_thread,
        user_main_thread,
    }
}

/// Clock ticks as INFO writes CPU seconds (`%ld.%06ld`).
fn ticks_as_seconds(ticks: u64) -> String {
    let micros = ticks * (1_000_000 / CLOCK_TICKS);
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// INFO's `# CPU` section, with Redis 7.0's fields in its order.
pub(crate) fn cpu_section(t: CpuTimes) -> String {
    format!(
        "# CPU\r\nused_cpu_sys:{}\r\nused_cpu_user:{}\r\nused_cpu_sys_children:{}\r\n\
         used_cpu_user_children:{}\r\nused_cpu_sys_main_thread:{}\r\n\
         used_cpu_user_main_thread:{}\r\n\r\n",
        ticks_as_seconds(t.sys),
        ticks_as_seconds(t.user),
        ticks_as_seconds(t.sys_children),
        ticks_as_seconds(t.user_children),
        ticks_as_seconds(t.sys_main_thread),
        ticks_as_seconds(t.user_main_thread),
    )
}

/// A byte count as Redis's INFO writes its `_human` fields (`bytesToHuman`): `512B`, `1.50K`,
/// `893.10K`, `2.00M`…
pub(crate) fn bytes_to_human(n: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (1 << 10, "K"),
        (1 << 20, "M"),
        (1 << 30, "G"),
        (1 << 40, "T"),
        (1 << 50, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (size, unit) in UNITS {
        if n < size * 1024 {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

/// INFO's `# Memory` section: Redis 7.0's fields that apply here, in its order. `used_memory`
/// is the counting allocator's figure (what is allocated and not freed); the AOF's buffer is
/// what `maxmemory` leaves out of it.
fn memory_section(ctx: &Ctx<'_, '_>) -> String {
    let used = crate::alloc::sample_peak() as u64;
    let peak = (crate::alloc::peak() as u64).max(used);
    let rss = rss_bytes();
    let (scripts, script_bytes, functions, _) = super::scripting::info(ctx.shared);
    let feed = |f: Option<&crate::propagate::Feed>| f.map_or(0, |f| f.buf.capacity() as u64);
    let aof = feed(ctx.db.propagation.aof.as_ref());
    let not_counted = aof + feed(ctx.db.propagation.repl.as_ref());
    let maxmemory = ctx.shared.config.maxmemory;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    format!(
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
         used_memory_peak_perc:{:.2}%\r\n\
         used_memory_scripts_eval:{script_bytes}\r\nnumber_of_cached_scripts:{scripts}\r\n\
         number_of_functions:{functions}\r\n\
         maxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\n\
         maxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\n\
         mem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{not_counted}\r\n\
         mem_aof_buffer:{aof}\r\nmem_allocator:libc\r\n\r\n",
        bytes_to_human(used),
        bytes_to_human(rss),
        bytes_to_human(peak),
        ratio(used, peak) * 100.0,
        bytes_to_human(maxmemory),
        ctx.shared.config.maxmemory_policy.name(),
        ratio(rss, used),
        rss as i64 - used as i64,
    )
}

/// `INFO [section …]`
pub(crate) fn info(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let wanted: Vec<String> = args
        .get(1..)
        .unwrap_or_default()
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let show = |s: &str| {
        wanted.is_empty()
            || wanted
                .iter()
                .any(|w| w == s || w == "all" || w == "everything" || w == "default")
    };
    let mut text = String::new();
    let uptime = ctx.shared.started.elapsed().as_secs();
    if show("server") {
        text.push_str(&format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\n\
             os:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\n\
             tcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\n\
             executable:spindle\r\nserver_name:spindle\r\nspindle_version:{}\r\n\r\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            ctx.shared.config.port,
            uptime / 86400,
            ctx.shared.config.hz,
            env!("CARGO_PKG_VERSION"),
        ));
    }
    if show("clients") {
        text.push_str(&format!(
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n\
             client_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\n\
             blocked_clients:{}\r\n\r\n",
            ctx.shared.clients.len(),
            ctx.shared.config.maxclients,
            ctx.shared
                .clients
                .values()
                .map(|c| c.qbuf)
                .max()
                .unwrap_or(0),
            ctx.shared
                .clients
                .values()
                .map(|c| c.omem)
                .max()
                .unwrap_or(0),
            ctx.shared.waiting.len(),
        ));
    }
    if show("memory") {
        text.push_str(&memory_section(ctx));
    }
    if show("persistence") {
        text.push_str(&ctx.shared.persist.info(ctx.db, ctx.now));
    }
    if show("stats") {
        let s = &ctx.db.stats;
        text.push_str(&format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             rejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\n\
             evicted_clients:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\n\r\n",
            s.connections,
            s.commands,
            s.rejected_connections,
            s.expired_keys,
            s.evicted_keys,
            s.evicted_clients,
            s.keyspace_hits,
            s.keyspace_misses
        ));
    }
    if show("replication") {
        text.push_str(&crate::repl::info_section(&ctx.shared.repl, ctx.now));
    }
    if show("cpu") {
        text.push_str(&cpu_section(cpu_times()));
    }
    if wanted
        .iter()
        .any(|w| w == "commandstats" || w == "all" || w == "everything")
    {
        text.push_str("# Commandstats\r\n");
        let mut names: Vec<_> = ctx.db.stats.per_command.iter().collect();
        names.sort_by_key(|(n, _)| **n);
        for (name, s) in names {
            text.push_str(&format!(
                "cmdstat_{name}:calls={},usec={},usec_per_call={:.2},rejected_calls=0,failed_calls={}\r\n",
                s.calls,
                s.nsec / 1000,
                s.nsec as f64 / 1000.0 / s.calls.max(1) as f64,
                s.failed
            ));
        }
        text.push_str("\r\n");
    }
    if show("keyspace") {
        text.push_str("# Keyspace\r\n");
        for (i, space) in ctx.db.spaces.iter().enumerate() {
            if !space.is_empty() {
                text.push_str(&format!(
                    "db{i}:keys={},expires={},avg_ttl=0\r\n",
                    space.len(),
                    space.volatile_len()
                ));
            }
        }
    }
    // Sections are separated by a blank line; the text ends with the last field's CRLF.
    let text = text.trim_end_matches("\r\n").to_string() + "\r\n";
    ctx.out.verbatim(b"txt", text.as_bytes());
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
/// RELOAD [MERGE] [NOFLUSH] [NOSAVE] | DIGEST | DIGEST-VALUE key… | PROTOCOL type |
/// CHANGE-REPL-ID | QUICKLIST-PACKED-THRESHOLD size | LISTPACK key | QUICKLIST key [0|1] |
/// STRINGMATCH-TEST | LOG message | ERROR message | HELP`,
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
