//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (Redis 7.0's eval.c): the cache of scripts
//! by SHA-1, `#!lua flags=…` shebangs, and the SCRIPT subcommands.

use bytes::Bytes;

use super::lua::SCRIPT_FLAGS;
use super::run::{run, RunSpec};
use super::sha1::sha1_hex;
use super::state::{put, split_keys, take, CachedScript, Scripting};
use crate::cmd::args::{arg, is};
use crate::cmd::ctx::{CmdResult, Ctx};
use crate::cmd::introspect::monitor_script;
use crate::error::CmdError;

/// The flag of a script without a shebang (Redis's `SCRIPT_FLAG_EVAL_COMPAT_MODE`): the
/// checks of 6.x scripts, whatever it declares.
pub(super) const COMPAT: u32 = 1 << 8;
/// `no-writes`.
pub(super) const NO_WRITES: u32 = 1;

/// EVAL script numkeys [key …] [arg …]
pub(crate) fn eval(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, false, false)
}

/// EVALSHA sha1 numkeys [key …] [arg …]
pub(crate) fn evalsha(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, true, false)
}

/// EVAL_RO: EVAL that refuses writes.
pub(crate) fn eval_ro(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, false, true)
}

/// EVALSHA_RO: EVALSHA that refuses writes.
pub(crate) fn evalsha_ro(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, true, true)
}

/// `NOSCRIPT No matching script. Please use EVAL.`
fn noscript() -> CmdError {
    CmdError::Msg("NOSCRIPT No matching script. Please use EVAL.".into())
}

/// Redis's `evalExtractShebangFlags`: the flags of `body`'s `#!lua flags=…` line and the
/// line's length (kept out of the compiled code, its line feed kept for line numbers), or
/// [`COMPAT`] and 0 without one.
pub(super) fn shebang_flags(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((COMPAT, 0));
    }
    let Some(len) = body.iter().position(|&c| c == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(body.get(..len).unwrap_or_default()).into_owned();
    let mut parts = line.split_ascii_whitespace();
    let Some(engine) = parts.next() else {
        return Err("Invalid engine in script shebang".into());
    };
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            let Some((_, bit)) = SCRIPT_FLAGS.iter().find(|(name, _)| *name == flag) else {
                return Err(format!("Unexpected flag in script shebang: {flag}"));
            };
            flags |= bit;
        }
    }
    Ok((flags, len))
}

/// Redis's `luaCreateFunction`: the SHA-1 of `body`, compiling and caching it unless it is
/// cached already.
fn create(state: &mut Scripting, ctx: &Ctx<'_, '_>, body: &[u8]) -> Result<String, CmdError> {
    let sha = sha1_hex(body);
    if state.scripts.contains_key(&sha) {
        return Ok(sha);
    }
    let (flags, skip) = shebang_flags(body).map_err(CmdError::err)?;
    let vm = state.eval_vm(ctx.commands).map_err(CmdError::err)?;
    let func = vm
        .compile(body.get(skip..).unwrap_or_default(), "@user_script")
        .map_err(|e| CmdError::err(format!("Error compiling script (new function): {e}")))?;
    state.scripts.insert(
        sha.clone(),
        CachedScript {
            flags,
            func,
            len: body.len(),
        },
    );
    Ok(sha)
}

/// The four EVAL commands.
fn generic(ctx: &mut Ctx<'_, '_>, args: &[Bytes], by_sha: bool, ro: bool) -> CmdResult {
    monitor_script(ctx.shared, ctx.client, args);
    let script = arg(args, 1);
    if by_sha && script.len() != 40 {
        return Err(noscript());
    }
    let (keys, argv) = split_keys(args, CmdError::NotInteger)?;
    let mut state = take(ctx.shared);
    let result = eval_with(&mut state, ctx, script, by_sha, ro, keys, argv);
    put(ctx.shared, state);
    result
}

/// EVAL's body once the state is out of the context.
fn eval_with(
    state: &mut Scripting,
    ctx: &mut Ctx<'_, '_>,
    script: &[u8],
    by_sha: bool,
    ro: bool,
    keys: &[Bytes],
    argv: &[Bytes],
) -> CmdResult {
    // EVALSHA's SHA-1 is lower-cased on the stack: the lookup is on every call's path.
    let mut lower = [0u8; 40];
    let created;
    let sha: &str = if by_sha {
        let dst = lower.get_mut(..script.len()).ok_or_else(noscript)?;
        dst.copy_from_slice(script);
        dst.make_ascii_lowercase();
        std::str::from_utf8(dst).map_err(|_| noscript())?
    } else {
        created = create(state, ctx, script)?;
        &created
    };
    let Some(cached) = state.scripts.get(sha) else {
        return Err(noscript());
    };
    let flags = cached.flags;
    let func = cached.func.clone();
    if flags & COMPAT == 0 && flags & NO_WRITES == 0 && ro {
        return Err(CmdError::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    let read_only = ro || (flags & COMPAT == 0 && flags & NO_WRITES != 0);
    let live = state.live.clone();
    let vm = state.eval_vm(ctx.commands).map_err(CmdError::err)?;
    run(
        ctx,
        vm,
        &live,
        &func,
        keys,
        argv,
        RunSpec {
            name: sha,
            read_only,
            eval_mode: true,
        },
    )
}

/// SCRIPT's help lines, as Redis 7.0 prints them.
const HELP: &[&str] = &[
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
];

/// Writes a container command's HELP reply (Redis's `addReplyHelp`).
pub(super) fn help(ctx: &mut Ctx<'_, '_>, command: &str, lines: &[&str]) {
    ctx.out.array_len(lines.len() + 3);
    ctx.out.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for line in lines {
        ctx.out.simple(line);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// `NOTBUSY`: SCRIPT KILL and FUNCTION KILL that reach the engine find no script running (a
/// busy script holds the engine, and the sessions answer them meanwhile: `while_busy.rs`).
pub(super) fn not_busy() -> CmdError {
    CmdError::Msg(crate::busy::NOT_BUSY.into())
}

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | DEBUG | HELP
pub(crate) fn script(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = arg(args, 1);
    let n = args.len();
    if n == 2 && is(sub, "help") {
        help(ctx, "SCRIPT", HELP);
    } else if n >= 2 && is(sub, "flush") {
        if !(n == 2 || (n == 3 && (is(arg(args, 2), "sync") || is(arg(args, 2), "async")))) {
            return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
        }
        let mut state = take(ctx.shared);
        state.scripts.clear();
        state.eval_vm = None;
        put(ctx.shared, state);
        ctx.out.ok();
    } else if n >= 2 && is(sub, "exists") {
        let state = take(ctx.shared);
        ctx.out.array_len(n - 2);
        for sha in args.iter().skip(2) {
            let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
            ctx.out.int(i64::from(state.scripts.contains_key(&sha)));
        }
        put(ctx.shared, state);
    } else if n == 3 && is(sub, "load") {
        let mut state = take(ctx.shared);
        let result = create(&mut state, ctx, arg(args, 2));
        put(ctx.shared, state);
        ctx.out.bulk(result?.as_bytes());
    } else if n == 2 && is(sub, "kill") {
        return Err(not_busy());
    } else if n == 3 && is(sub, "debug") {
        let mode = arg(args, 2);
        if is(mode, "no") {
            ctx.out.ok();
        } else if is(mode, "yes") || is(mode, "sync") {
            return Err(CmdError::err(
                "SCRIPT DEBUG (the Lua debugger) is not supported by spindle kv",
            ));
        } else {
            return Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO"));
        }
    } else {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}
