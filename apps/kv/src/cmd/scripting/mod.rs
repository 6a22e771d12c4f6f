//! Scripting: EVAL and its relatives, SCRIPT, and FUNCTION/FCALL, on Lua 5.1 as Redis 7.0
//! embeds it.
//!
//! | file | job |
//! |---|---|
//! | `eval.rs` | EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT: the script cache, shebang flags |
//! | `function.rs` | FUNCTION, FCALL, FCALL_RO: libraries, their loading, DUMP/RESTORE payloads |
//! | `run.rs` | running a script: `redis.call` and its checks, propagation of its writes, the hook |
//! | `lua.rs` | the interpreter: libraries, the `redis` API, `math.random`, the sandbox |
//! | `convert.rs` | Lua ⇄ RESP |
//! | `libs/` | Redis's bundled Lua libraries in Rust: `cjson`, `cmsgpack`, `bit`, `struct` |
//! | `sha1.rs` | SHA-1 (script names, `redis.sha1hex`) |
//!
//! The interpreters and caches live in [`Scripting`], kept in `Shared::scripting` (which is
//! below the command families and so holds it as `dyn Any`); a handler takes it out for the
//! length of the command and puts it back, so the commands a script runs borrow the rest of
//! the context freely.
//!
//! A script runs on the reactor's thread, inside the command that started it: nothing else is
//! served until it ends. The hook in `run.rs` measures the run against
//! `busy-reply-threshold` and ends it once SCRIPT KILL / FUNCTION KILL sets the flag in
//! [`lua::Live`], but no other client's command can be read while a script runs (Redis
//! processes events from its hook to answer `-BUSY`), so those commands only ever find no
//! script running.

mod convert;
mod eval;
mod function;
mod libs;
mod lua;
mod run;
mod sha1;

use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use mlua::Function;

use super::ctx::flags::READONLY;
use super::{cmd, Command};
use crate::shared::Shared;

use lua::{Live, Vm};

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[
    cmd("eval", -3, 0, (0, 0, 0), eval::eval),
    cmd("evalsha", -3, 0, (0, 0, 0), eval::evalsha),
    cmd("eval_ro", -3, READONLY, (0, 0, 0), eval::eval_ro),
    cmd("evalsha_ro", -3, READONLY, (0, 0, 0), eval::evalsha_ro),
    cmd("script", -2, 0, (0, 0, 0), eval::script),
    cmd("fcall", -3, 0, (0, 0, 0), function::fcall),
    cmd("fcall_ro", -3, READONLY, (0, 0, 0), function::fcall_ro),
    cmd("function", -2, 0, (0, 0, 0), function::function),
];

/// A script in EVAL's cache.
#[derive(Debug)]
struct CachedScript {
    /// Its shebang flags ([`eval::COMPAT`] when it has none).
    flags: u32,
    /// The compiled body.
    func: Function,
    /// The body's length (INFO's `used_memory_scripts_eval`).
    len: usize,
}

/// The scripting state of a server: EVAL's interpreter and cache, FUNCTION's interpreter and
/// libraries, and what both share with a run in progress.
#[derive(Debug, Default)]
pub(crate) struct Scripting {
    live: Rc<Live>,
    /// EVAL's interpreter, made on first use and dropped by SCRIPT FLUSH.
    eval_vm: Option<Vm>,
    /// SHA-1 (lower case) → script.
    scripts: HashMap<String, CachedScript>,
    /// FUNCTION's interpreter and libraries.
    functions: function::Functions,
}

impl Scripting {
    /// EVAL's interpreter, made if there is none.
    fn eval_vm(&mut self, commands: &'static [Command]) -> Result<&Vm, String> {
        if self.eval_vm.is_none() {
            let vm = Vm::new(self.live.clone(), commands, false).map_err(|e| e.to_string())?;
            self.eval_vm = Some(vm);
        }
        self.eval_vm.as_ref().ok_or_else(String::new)
    }
}

/// Takes the scripting state out of `shared` (a fresh one the first time).
fn take(shared: &mut Shared) -> Box<Scripting> {
    shared
        .scripting
        .take()
        .and_then(|b| b.downcast::<Scripting>().ok())
        .unwrap_or_default()
}

/// Puts the scripting state back.
fn put(shared: &mut Shared, state: Box<Scripting>) {
    shared.scripting = Some(state);
}

/// INFO's figures: (cached scripts, bytes of their bodies, functions, libraries).
pub(crate) fn info(shared: &Shared) -> (usize, usize, usize, usize) {
    let Some(state) = shared
        .scripting
        .as_ref()
        .and_then(|b| b.downcast_ref::<Scripting>())
    else {
        return (0, 0, 0, 0);
    };
    let bytes = state.scripts.values().map(|s| s.len).sum();
    let (functions, libraries) = state.functions.counts();
    (state.scripts.len(), bytes, functions, libraries)
}

/// The arguments after `numkeys` split into keys and arguments, with Redis's errors for a
/// bad count; `bad_count` is the error for a count that is not a number (EVAL's and FCALL's
/// differ).
fn split_keys(
    args: &[Bytes],
    bad_count: crate::error::CmdError,
) -> Result<(&[Bytes], &[Bytes]), crate::error::CmdError> {
    let n = super::args::int_arg(super::args::arg(args, 2)).map_err(|_| bad_count)?;
    let rest = args.get(3..).unwrap_or_default();
    if n > rest.len() as i64 {
        return Err(crate::error::CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(crate::error::CmdError::err(
            "Number of keys can't be negative",
        ));
    }
    Ok(rest.split_at(n as usize))
}

#[cfg(test)]
mod tests;
