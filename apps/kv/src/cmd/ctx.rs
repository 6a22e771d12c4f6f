//! What every handler works with: [`Ctx`] (the data, the server-wide state, the calling
//! client, the reply writer, the time), [`CmdResult`], and [`Command`], one row of the command
//! table with its [`flags`]. The table itself is in `cmd/mod.rs`, above the families.

use bytes::Bytes;
use spindle_protocols::resp::ReplyWriter;

use crate::client::Client;
use crate::db::Db;
use crate::error::CmdError;
use crate::shared::Shared;

/// What a handler returns.
pub(crate) type CmdResult = Result<(), CmdError>;

/// Everything a command may use: the data, the calling client, the reply buffer, the time.
pub(crate) struct Ctx<'a, 'b> {
    /// The command table (COMMAND reads it; the table is above the handlers, so it is handed
    /// down rather than imported).
    pub(crate) commands: &'static [Command],
    pub(crate) db: &'a mut Db,
    /// Server-wide state other than the data (config, clients, pub/sub).
    pub(crate) shared: &'a mut Shared,
    /// The calling connection's state.
    pub(crate) client: &'a mut Client,
    /// Where the reply goes.
    pub(crate) out: &'a mut ReplyWriter<'b>,
    /// Unix time in milliseconds, from the reactor's clock.
    pub(crate) now: u64,
    /// Lets the event loop serve the other connections for a moment (a nested turn): a script
    /// past `busy-reply-threshold` calls it from its hook. `None` where nothing else may run
    /// meanwhile (the AOF being loaded, a master's stream, commands a script calls).
    pub(crate) events: Option<&'a mut dyn FnMut()>,
}

impl std::fmt::Debug for Ctx<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("now", &self.now).finish()
    }
}

impl Ctx<'_, '_> {
    /// The client's selected database.
    pub(crate) fn dbi(&self) -> usize {
        self.client.db
    }

    /// Whether the protected-action directive `directive` (`enable-debug-command`,
    /// `enable-module-command`, `enable-protected-configs`) lets this client act: `yes`, or
    /// `local`, which counts every client as local.
    pub(crate) fn protected_allowed(&self, directive: &str) -> bool {
        matches!(self.shared.config.get(directive), Some("yes" | "local"))
    }

    /// Refuses `command` (`DEBUG`, `MODULE`) unless `directive` allows it, in Redis's words.
    pub(crate) fn check_protected(&self, command: &str, directive: &str) -> CmdResult {
        if self.protected_allowed(directive) {
            return Ok(());
        }
        Err(CmdError::err(format!(
            "{command} command not allowed. If the {directive} option is set to \"local\", you \
             can run it from a local connection, otherwise you need to set this option in the \
             configuration file, and then restart the server."
        )))
    }

    /// The table's row for `name`, in any case (COMMAND INFO; dispatch uses `cmd::lookup`).
    pub(crate) fn command(&self, name: &[u8]) -> Option<&'static Command> {
        self.commands
            .iter()
            .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// A command handler.
pub(crate) type Handler = fn(&mut Ctx<'_, '_>, &[Bytes]) -> CmdResult;

/// Flags, as COMMAND reports them.
pub(crate) mod flags {
    /// Modifies data.
    pub(crate) const WRITE: u32 = 1;
    /// Only reads data.
    pub(crate) const READONLY: u32 = 2;
    /// May grow memory.
    pub(crate) const DENYOOM: u32 = 4;
    /// O(1) or O(log n).
    pub(crate) const FAST: u32 = 8;
    /// Allowed before AUTH.
    pub(crate) const NO_AUTH: u32 = 16;
    /// Allowed while the client is in RESP2 subscribe mode.
    pub(crate) const PUBSUB: u32 = 32;
    /// Admin command.
    pub(crate) const ADMIN: u32 = 64;
    /// Refused inside MULTI ("Command not allowed inside a transaction"), as Redis's
    /// `no-multi` commands (SAVE, SHUTDOWN, SYNC, PSYNC).
    pub(crate) const NO_MULTI: u32 = 128;
    /// Runs at once inside MULTI instead of being queued: EXEC, DISCARD, MULTI, WATCH, QUIT,
    /// RESET (Redis's `processCommand` names them; COMMAND does not show it).
    pub(crate) const RUNS_IN_MULTI: u32 = 256;
}

/// A row of the command table, for the families' `COMMANDS` (a `const fn`, so the tables are
/// statics).
pub(crate) const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    handler: Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys,
        handler,
    }
}

/// One row of the command table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Command {
    /// Lower-case name.
    pub(crate) name: &'static str,
    /// Redis arity: `n` exactly n arguments (name included), `-n` at least n.
    pub(crate) arity: i32,
    /// [`flags`] bits.
    pub(crate) flags: u32,
    /// Position of the first key argument (0: none), the last (-1: the last argument), step.
    pub(crate) keys: (i32, i32, i32),
    pub(crate) handler: Handler,
}

impl Command {
    /// The key arguments of a call, from the table's (first, last, step).
    pub(crate) fn key_args<'a>(&self, args: &'a [Bytes]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (first, last, step) = self.keys;
        let n = args.len() as i32;
        let last = if last < 0 { n + last } else { last };
        let step = step.max(1) as usize;
        let range = if first > 0 && last >= first {
            first as usize..(last as usize + 1).min(args.len())
        } else {
            0..0
        };
        range
            .step_by(step)
            .filter_map(move |i| args.get(i).map(|b| &b[..]))
    }

    /// True if `argc` arguments (name included) fit the arity.
    pub(crate) fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 {
            argc == a as usize
        } else {
            argc >= a.unsigned_abs() as usize
        }
    }
}
