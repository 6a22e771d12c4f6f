//! Scripting: EVAL and its relatives, SCRIPT, and FUNCTION/FCALL, on Lua 5.1 as Redis 7.0
//! embeds it.
//!
//! | file | job |
//! |---|---|
//! | `eval.rs` | EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT: the script cache, shebang flags |
//! | `function.rs` | FUNCTION, FCALL, FCALL_RO: libraries, their loading, DUMP/RESTORE payloads |
//! | `run.rs` | running a script: `redis.call`'s checks, propagation of its writes |
//! | `lua.rs` | the interpreter: libraries, the `redis` API, `math.random`, the sandbox, the run's hook |
//! | `convert.rs` | Lua ⇄ RESP |
//! | `libs/` | Redis's bundled Lua libraries in Rust: `cjson`, `cmsgpack`, `bit`, `struct` |
//! | `sha1.rs` | SHA-1 (script names, `redis.sha1hex`) |
//! | `state.rs` | the interpreters and caches (`Scripting`) kept between commands |
//!
//! The interpreters and caches live in [`Scripting`], kept in `Shared::scripting` (which is
//! below the command families and so holds it as `dyn Any`); a handler takes it out for the
//! length of the command and puts it back, so the commands a script runs borrow the rest of
//! the context freely.
//!
//! A script runs on the reactor's thread, inside the command that started it: nothing else is
//! served until it ends. The hook in `lua.rs` (installed once per interpreter) measures the
//! run against `busy-reply-threshold` and ends it once SCRIPT KILL / FUNCTION KILL sets the
//! flag in [`lua::Live`], but no other client's command can be read while a script runs (Redis
//! processes events from its hook to answer `-BUSY`), so those commands only ever find no
//! script running.

mod convert;
mod eval;
mod function;
mod libs;
mod lua;
mod run;
pub(crate) mod sha1;
mod state;

use super::ctx::flags::READONLY;
use super::{cmd, Command};

pub(crate) use function::{install_libraries, Restore};
pub(crate) use state::info;

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

#[cfg(test)]
mod tests;
