//! FUNCTION, FCALL and FCALL_RO (Redis 7.0's functions.c and function_lua.c): libraries
//! loaded from `#!lua name=<lib>` code, whose top level may only call
//! `redis.register_function` (and `redis.log`), their functions called by name, and the
//! FUNCTION DUMP / RESTORE payload (RDB's function records, version and CRC64), byte for byte
//! what redis-server makes and reads.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Value, VmState};

use super::eval::{help, not_busy};
use super::lua::{error_value, valid_name, Live, Vm, SCRIPT_FLAGS};
use super::run::{run, RunSpec};
use super::state::{put, split_keys, take, FunctionInfo, Functions, Library, Scripting};
use crate::cmd::args::{arg, is};
use crate::cmd::ctx::{CmdResult, Command, Ctx};
use crate::cmd::introspect::monitor_script;
use crate::db::Db;
use crate::error::CmdError;
use crate::glob;
use crate::rdb::crc64::crc64;
use crate::rdb::encode::write_functions;
use crate::rdb::format::RDB_VERSION;
use crate::shared::Shared;

/// How long a library's top level may run (Redis's `LOAD_TIMEOUT_MS`).
const LOAD_TIMEOUT_MS: u128 = 500;

/// The `no-writes` flag.
const NO_WRITES: u32 = 1;

/// A library's `#!<engine> name=<name>` line: the engine, the name, and where the code
/// after the line starts (Redis's `functionExtractLibMetaData`, with its error texts).
fn metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(code.get(..end).unwrap_or_default()).into_owned();
    let mut parts = line.split_ascii_whitespace();
    let Some(engine) = parts.next() else {
        return Err("Invalid library metadata".into());
    };
    let engine = engine.get(2..).unwrap_or_default().to_string();
    let mut name = None;
    for part in parts {
        let value = part
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("name="))
            .and_then(|_| part.get(5..));
        match value {
            Some(v) if name.is_none() => name = Some(v.to_string()),
            Some(_) => {
                return Err("Invalid metadata value, name argument was given multiple times".into())
            }
            None => return Err(format!("Invalid metadata value given: {part}")),
        }
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((engine, name, end))
}

/// The text Redis's `luaExtractErrorInformation` takes from an error raised while a library
/// loads: an error table's `err`, or `ERR ` and the message.
fn load_error_text(vm: &Vm, e: &mlua::Error) -> String {
    match error_value(&vm.lua, e) {
        Ok(Value::Table(t)) => t.get::<String>("err").unwrap_or_default(),
        Ok(Value::String(s)) => format!("ERR {}", s.to_string_lossy()),
        _ => format!("ERR {e}"),
    }
}

/// Compiles and runs a library's code, collecting what it registers (Redis's
/// `luaEngineCreate`): the top level sees only the library API, and is stopped after 500 ms.
fn create(
    vm: &Vm,
    live: &Live,
    code: &[u8],
    timeout: bool,
) -> Result<BTreeMap<String, FunctionInfo>, String> {
    let func = vm
        .compile(code, "@user_function")
        .map_err(|e| format!("Error compiling function: {e}"))?;
    let lua_err = |e: mlua::Error| e.to_string();
    let api = vm.library_api.clone().ok_or("no library API")?;
    vm.globals_meta.raw_set("__index", api).map_err(lua_err)?;
    *live.loading.borrow_mut() = Some(Vec::new());
    if timeout {
        let started = Instant::now();
        let _ = vm.lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |lua, _| {
                if started.elapsed().as_millis() > LOAD_TIMEOUT_MS {
                    let _ = lua.set_hook(HookTriggers::EVERY_LINE, |lua, _| {
                        super::lua::raise_table(lua, "FUNCTION LOAD timeout")
                    });
                    return super::lua::raise_table(lua, "FUNCTION LOAD timeout");
                }
                Ok(VmState::Continue)
            },
        );
    }
    let result = func.call::<()>(());
    if timeout {
        // The runs' own hook back in place of the load's.
        vm.install_hook();
    }
    let registered = live.loading.borrow_mut().take().unwrap_or_default();
    vm.globals_meta
        .raw_set("__index", vm.backing.clone())
        .map_err(lua_err)?;
    if let Err(e) = result {
        return Err(format!(
            "Error registering functions: {}",
            load_error_text(vm, &e)
        ));
    }
    let mut functions = BTreeMap::new();
    for r in registered {
        let callback: Function = vm.lua.registry_value(&r.callback).map_err(lua_err)?;
        let _ = vm.lua.remove_registry_value(r.callback);
        functions.insert(
            r.name,
            FunctionInfo {
                description: r.description,
                flags: r.flags,
                callback,
            },
        );
    }
    Ok(functions)
}

/// Loads a library into `state` (Redis's `functionsCreateWithLibraryCtx`): its name.
fn load(
    functions: &mut Functions,
    live: &Rc<Live>,
    commands: &'static [Command],
    code: &[u8],
    replace: bool,
) -> Result<String, String> {
    let (engine, name, start) = metadata(code)?;
    if !valid_name(name.as_bytes()) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    if functions.libraries.contains_key(&name) && !replace {
        return Err(format!("Library '{name}' already exists"));
    }
    let vm = functions.vm(live, commands)?;
    let registered = create(vm, live, code.get(start..).unwrap_or_default(), true)?;
    if registered.is_empty() {
        return Err("No functions registered".into());
    }
    for f in registered.keys() {
        let taken = functions
            .libraries
            .iter()
            .any(|(lib, l)| *lib != name && l.functions.contains_key(f));
        if taken {
            return Err(format!("Function {f} already exists"));
        }
    }
    functions.libraries.insert(
        name.clone(),
        Library {
            code: Bytes::copy_from_slice(code),
            functions: registered,
        },
    );
    Ok(name)
}

/// FCALL function numkeys [key …] [arg …]
pub(crate) fn fcall(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, false)
}

/// FCALL_RO: FCALL that refuses writes.
pub(crate) fn fcall_ro(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, true)
}

/// FCALL and FCALL_RO.
fn generic(ctx: &mut Ctx<'_, '_>, args: &[Bytes], ro: bool) -> CmdResult {
    monitor_script(ctx.shared, ctx.client, args);
    let mut state = take(ctx.shared);
    let result = (|| {
        let name = String::from_utf8_lossy(arg(args, 1)).into_owned();
        let Some(f) = state.functions.find(&name) else {
            return Err(CmdError::err("Function not found"));
        };
        let (flags, callback) = (f.flags, f.callback.clone());
        let (keys, argv) = split_keys(args, CmdError::err("Bad number of keys provided"))?;
        if flags & NO_WRITES == 0 && ro {
            return Err(CmdError::err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
        let live = state.live.clone();
        let vm = state
            .functions
            .vm(&live, ctx.commands)
            .map_err(CmdError::err)?;
        run(
            ctx,
            vm,
            &live,
            &callback,
            keys,
            argv,
            RunSpec {
                name: &name,
                read_only: ro || flags & NO_WRITES != 0,
                eval_mode: false,
            },
        )
    })();
    put(ctx.shared, state);
    result
}

/// FUNCTION's help lines, as Redis 7.0 prints them.
const HELP: &[&str] = &[
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
];

/// FUNCTION LOAD | LIST | DELETE | FLUSH | DUMP | RESTORE | STATS | KILL | HELP
pub(crate) fn function(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let mut state = take(ctx.shared);
    let result = subcommand(ctx, &mut state, args);
    // The dataset's copy of the code follows every change, for SAVE and replicas' snapshots.
    ctx.db.libraries = library_codes(&state.functions);
    put(ctx.shared, state);
    result
}

/// FUNCTION's subcommands, with the state out of the context.
fn subcommand(ctx: &mut Ctx<'_, '_>, state: &mut Scripting, args: &[Bytes]) -> CmdResult {
    let sub = arg(args, 1);
    let n = args.len();
    let live = state.live.clone();
    let functions = &mut state.functions;
    if is(sub, "load") && n >= 3 {
        let mut replace = false;
        let mut i = 2;
        while i < n - 1 {
            let a = arg(args, i);
            i += 1;
            if is(a, "replace") {
                replace = true;
                continue;
            }
            return Err(CmdError::err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(a)
            )));
        }
        if i >= n {
            return Err(CmdError::err("Function code is missing"));
        }
        let name =
            load(functions, &live, ctx.commands, arg(args, i), replace).map_err(CmdError::err)?;
        ctx.db.dirty += 1;
        ctx.out.bulk(name.as_bytes());
    } else if is(sub, "list") {
        list(ctx, functions, args)?;
    } else if is(sub, "delete") && n == 3 {
        let name = String::from_utf8_lossy(arg(args, 2)).into_owned();
        if functions.libraries.remove(&name).is_none() {
            return Err(CmdError::err("Library not found"));
        }
        ctx.db.dirty += 1;
        ctx.out.ok();
    } else if is(sub, "flush") && n <= 3 {
        if !(n == 2 || is(arg(args, 2), "sync") || is(arg(args, 2), "async")) {
            return Err(CmdError::err(
                "FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
        functions.libraries.clear();
        functions.vm = None;
        ctx.db.dirty += 1;
        ctx.out.ok();
    } else if is(sub, "dump") && n == 2 {
        ctx.out.bulk(&dump(functions));
    } else if is(sub, "restore") && (n == 3 || n == 4) {
        restore(ctx, functions, &live, args)?;
        ctx.db.dirty += 1;
        ctx.out.ok();
    } else if is(sub, "stats") && n == 2 {
        let (count, libs) = functions.counts();
        ctx.out.map_len(2);
        ctx.out.bulk(b"running_script");
        ctx.out.null();
        ctx.out.bulk(b"engines");
        ctx.out.map_len(1);
        ctx.out.bulk(b"LUA");
        ctx.out.map_len(2);
        ctx.out.bulk(b"libraries_count");
        ctx.out.int(libs as i64);
        ctx.out.bulk(b"functions_count");
        ctx.out.int(count as i64);
    } else if is(sub, "kill") && n == 2 {
        return Err(not_busy());
    } else if is(sub, "help") && n == 2 {
        help(ctx, "FUNCTION", HELP);
    } else {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]
fn list(ctx: &mut Ctx<'_, '_>, functions: &Functions, args: &[Bytes]) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let a = arg(args, i);
        if !with_code && is(a, "withcode") {
            with_code = true;
        } else if pattern.is_none() && is(a, "libraryname") {
            if i >= args.len() - 1 {
                return Err(CmdError::err("library name argument was not given"));
            }
            i += 1;
            pattern = Some(arg(args, i));
        } else {
            return Err(CmdError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let libs: Vec<(&String, &Library)> = functions
        .libraries
        .iter()
        .filter(|(name, _)| pattern.is_none_or(|p| glob::matches(p, name.as_bytes(), true)))
        .collect();
    ctx.out.array_len(libs.len());
    for (name, lib) in libs {
        ctx.out.map_len(if with_code { 4 } else { 3 });
        ctx.out.bulk(b"library_name");
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(b"engine");
        ctx.out.bulk(b"LUA");
        ctx.out.bulk(b"functions");
        ctx.out.array_len(lib.functions.len());
        for (fname, f) in &lib.functions {
            ctx.out.map_len(3);
            ctx.out.bulk(b"name");
            ctx.out.bulk(fname.as_bytes());
            ctx.out.bulk(b"description");
            match &f.description {
                Some(d) => ctx.out.bulk(d),
                None => ctx.out.null(),
            }
            ctx.out.bulk(b"flags");
            let set: Vec<&str> = SCRIPT_FLAGS
                .iter()
                .filter(|(_, bit)| f.flags & bit != 0)
                .map(|(n, _)| *n)
                .collect();
            ctx.out.set_len(set.len());
            for flag in set {
                ctx.out.simple(flag);
            }
        }
        if with_code {
            ctx.out.bulk(b"library_code");
            ctx.out.bulk(&lib.code);
        }
    }
    Ok(())
}

/// FUNCTION DUMP's payload: each library as an RDB function record, then the RDB version
/// and the CRC64 of it all.
fn dump(functions: &Functions) -> Vec<u8> {
    let mut out = Vec::new();
    write_functions(&mut out, functions.libraries.values().map(|l| &l.code[..]));
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// How restored libraries meet the ones loaded (FUNCTION RESTORE's policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restore {
    /// A library already loaded under the same name is an error.
    Append,
    /// A library already loaded under the same name is replaced.
    Replace,
    /// The loaded libraries are dropped first.
    Flush,
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
fn restore(
    ctx: &mut Ctx<'_, '_>,
    functions: &mut Functions,
    live: &Rc<Live>,
    args: &[Bytes],
) -> CmdResult {
    let policy = match args.get(3) {
        None => Restore::Append,
        Some(p) if is(p, "append") => Restore::Append,
        Some(p) if is(p, "replace") => Restore::Replace,
        Some(p) if is(p, "flush") => Restore::Flush,
        Some(_) => {
            return Err(CmdError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let data = arg(args, 2);
    if !crate::rdb::verify_payload(data) {
        return Err(CmdError::err("DUMP payload version or checksum are wrong"));
    }
    let codes = crate::rdb::decode_functions_payload(data).map_err(CmdError::err)?;
    join(functions, live, ctx.commands, &codes, policy).map_err(CmdError::err)
}

/// Adds the libraries of `codes` to `functions` as Redis's FUNCTION RESTORE and RDB loading
/// do: all are loaded into a fresh set first, so that bad code changes nothing, then replace
/// the whole set (`Flush`), or join it, a library of the same name being an error (`Append`)
/// or replaced (`Replace`); a function name taken by another library is an error.
fn join(
    functions: &mut Functions,
    live: &Rc<Live>,
    commands: &'static [Command],
    codes: &[impl AsRef<[u8]>],
    policy: Restore,
) -> Result<(), String> {
    let mut fresh = Functions::default();
    for code in codes {
        load(&mut fresh, live, commands, code.as_ref(), false)?;
    }
    if policy == Restore::Flush {
        *functions = fresh;
        return Ok(());
    }
    for name in fresh.libraries.keys() {
        if functions.libraries.contains_key(name) && policy == Restore::Append {
            return Err(format!("Library {name} already exists"));
        }
    }
    for (name, lib) in &fresh.libraries {
        for f in lib.functions.keys() {
            let taken = functions
                .libraries
                .iter()
                .any(|(other, l)| other != name && l.functions.contains_key(f));
            if taken {
                return Err(format!("Function {f} already exists"));
            }
        }
    }
    // The libraries were compiled in the fresh interpreter; load them again in the current
    // one so that every function shares its globals.
    for code in codes {
        load(functions, live, commands, code.as_ref(), true)?;
    }
    Ok(())
}

/// Compiles the libraries a loaded dump file brought (`db.libraries`) into the server's
/// function set, as Redis's RDB loading does: `Flush` for a load that replaced the data
/// (start, a replica's full resync, DEBUG RELOAD), `Append` or `Replace` for DEBUG RELOAD
/// NOFLUSH without or with MERGE. Afterwards `db.libraries` lists the libraries now loaded.
pub(crate) fn install_libraries(
    shared: &mut Shared,
    db: &mut Db,
    commands: &'static [Command],
    policy: Restore,
) -> Result<(), String> {
    let mut state = take(shared);
    let live = state.live.clone();
    let joined = join(&mut state.functions, &live, commands, &db.libraries, policy);
    db.libraries = library_codes(&state.functions);
    put(shared, state);
    joined
}

/// Every library's code, in name order (what `Db::libraries` mirrors).
fn library_codes(functions: &Functions) -> Vec<Bytes> {
    functions
        .libraries
        .values()
        .map(|l| l.code.clone())
        .collect()
}
