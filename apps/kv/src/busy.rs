//! [`Busy`]: what a script running past `busy-reply-threshold` shares with the other
//! connections' sessions, outside the engine's `RefCell` (which the running script holds):
//! which kind of script runs, whether it wrote, and the requests SCRIPT KILL / FUNCTION KILL /
//! SHUTDOWN NOSAVE leave for it; plus the few settings a session needs while it cannot reach
//! the engine. Redis's `curr_run_ctx` flags (`script.c`), seen from the other clients.

use std::cell::{Cell, RefCell};

use spindle_reactor::ConnId;

/// `-BUSY` for commands refused while an EVAL runs past the threshold (Redis's `slowevalerr`).
pub(crate) const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// `-BUSY` while a function (FCALL) runs past the threshold (Redis's `slowscripterr`).
pub(crate) const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
/// SCRIPT KILL / FUNCTION KILL with no script running.
pub(crate) const NOT_BUSY: &str = "NOTBUSY No scripts in execution right now.";
/// SCRIPT KILL / FUNCTION KILL of a script that already wrote.
pub(crate) const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands \
     against the dataset. You can either wait the script termination or kill the server in a \
     hard way using the SHUTDOWN NOSAVE command.";

/// What kind of script runs: it decides the `-BUSY` text and which KILL ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScriptKind {
    /// EVAL, EVALSHA and their `_RO` forms: SCRIPT KILL.
    Eval,
    /// FCALL, FCALL_RO: FUNCTION KILL.
    Function,
}

impl ScriptKind {
    /// The `-BUSY` error text (without the dash) for this kind.
    pub(crate) fn busy_text(self) -> &'static str {
        match self {
            ScriptKind::Eval => BUSY_EVAL,
            ScriptKind::Function => BUSY_FUNCTION,
        }
    }
}

/// Settings a session reads from the engine, copied when the script went busy, for the
/// sessions that must decide without it (a connection accepted meanwhile, a query buffer
/// growing).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snapshot {
    /// The default user needs no password: a new connection starts authenticated.
    pub(crate) default_open: bool,
    /// `client-query-buffer-limit`.
    pub(crate) query_buffer_limit: u64,
    /// `proto-max-bulk-len`.
    pub(crate) proto_max_bulk_len: usize,
    /// How many more connections `maxclients` lets in.
    pub(crate) room: usize,
}

/// What the sessions counted for INFO while the script held the engine (and its statistics):
/// the script's hook adds it to them after each nested turn.
#[derive(Debug, Default)]
pub(crate) struct Counted {
    /// Bytes read (`total_net_input_bytes`) and reads (`total_reads_processed`).
    pub(crate) input_bytes: u64,
    pub(crate) reads: u64,
    /// Bytes of replies (`total_net_output_bytes`) and writes (`total_writes_processed`).
    pub(crate) output_bytes: u64,
    pub(crate) writes: u64,
    /// Connections refused past `maxclients` (`rejected_connections`).
    pub(crate) rejected_connections: u64,
    /// The error replies' texts, without the dash (INFO errorstats).
    pub(crate) errors: Vec<String>,
    /// The commandstats entries of refused calls (`rejected_calls`).
    pub(crate) rejected: Vec<(&'static str, Option<&'static str>)>,
    /// The commandstats entries of calls answered while the script ran (SCRIPT KILL, MULTI…),
    /// each with whether it answered an error (`calls`, `failed_calls`).
    pub(crate) calls: Vec<((&'static str, Option<&'static str>), bool)>,
}

/// The busy state shared by the sessions and the running script (one per engine).
#[derive(Debug, Default)]
pub(crate) struct Busy {
    /// The script running past the threshold, if one is.
    script: Cell<Option<ScriptKind>>,
    /// It ran a write command (Redis's `SCRIPT_WRITE_DIRTY`): it cannot be killed.
    wrote: Cell<bool>,
    /// SCRIPT KILL / FUNCTION KILL asked it to stop.
    kill: Cell<bool>,
    /// SHUTDOWN NOSAVE came from this connection: the script's hook shuts the server down.
    shutdown: Cell<Option<ConnId>>,
    /// The settings copied when the script went busy.
    snapshot: Cell<Snapshot>,
    /// What the sessions counted meanwhile.
    counted: RefCell<Counted>,
}

impl Busy {
    /// A script of `kind` is past the threshold (again: each time its hook lets the loop
    /// turn), with `wrote` as its write flag and the engine's settings as they are now.
    pub(crate) fn enter(&self, kind: ScriptKind, wrote: bool, snapshot: Snapshot) {
        if self.script.get().is_none() {
            self.kill.set(false);
            self.shutdown.set(None);
        }
        self.script.set(Some(kind));
        self.wrote.set(wrote);
        self.snapshot.set(snapshot);
    }

    /// The script ended: nothing is busy, a kill request goes with it.
    pub(crate) fn leave(&self) {
        self.script.set(None);
        self.kill.set(false);
        self.wrote.set(false);
        self.shutdown.set(None);
    }

    /// The busy script's kind, if one runs past the threshold.
    pub(crate) fn script(&self) -> Option<ScriptKind> {
        self.script.get()
    }

    /// The settings copied when the script went busy.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.snapshot.get()
    }

    /// Takes one connection's place under `maxclients` while busy; false when none is left.
    pub(crate) fn take_room(&self) -> bool {
        let mut snapshot = self.snapshot.get();
        if snapshot.room == 0 {
            return false;
        }
        snapshot.room -= 1;
        self.snapshot.set(snapshot);
        true
    }

    /// SCRIPT KILL (`eval`) or FUNCTION KILL (`!eval`), as Redis's `scriptKill`: the error
    /// text when the script cannot be killed so, or `None` once the kill is asked.
    pub(crate) fn kill(&self, eval: bool) -> Option<&'static str> {
        let kind = match self.script.get() {
            None => return Some(NOT_BUSY),
            Some(kind) => kind,
        };
        if self.wrote.get() {
            return Some(UNKILLABLE);
        }
        match (eval, kind) {
            (true, ScriptKind::Function) => Some(BUSY_FUNCTION),
            (false, ScriptKind::Eval) => Some(BUSY_EVAL),
            _ => {
                self.kill.set(true);
                None
            }
        }
    }

    /// Whether a KILL asked the script to stop.
    pub(crate) fn kill_requested(&self) -> bool {
        self.kill.get()
    }

    /// Counts for INFO what a session handled while the engine is held.
    pub(crate) fn count(&self, f: impl FnOnce(&mut Counted)) {
        // Never borrowed elsewhere meanwhile: `f` only adds to the counts.
        if let Ok(mut counted) = self.counted.try_borrow_mut() {
            f(&mut counted);
        }
    }

    /// What the sessions counted since the last call, taken.
    pub(crate) fn take_counted(&self) -> Counted {
        self.counted
            .try_borrow_mut()
            .map(|mut counted| std::mem::take(&mut *counted))
            .unwrap_or_default()
    }

    /// SHUTDOWN NOSAVE from connection `conn`: the script's hook shuts down.
    pub(crate) fn request_shutdown(&self, conn: ConnId) {
        self.shutdown.set(Some(conn));
    }

    /// The connection that asked for SHUTDOWN NOSAVE, taken.
    pub(crate) fn take_shutdown(&self) -> Option<ConnId> {
        self.shutdown.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_follows_redis_script_kill() {
        let busy = Busy::default();
        assert_eq!(busy.kill(true), Some(NOT_BUSY));
        busy.enter(ScriptKind::Eval, false, Snapshot::default());
        assert_eq!(busy.kill(false), Some(BUSY_EVAL));
        assert!(!busy.kill_requested());
        assert_eq!(busy.kill(true), None);
        assert!(busy.kill_requested());
        busy.leave();
        assert!(!busy.kill_requested());

        busy.enter(ScriptKind::Function, true, Snapshot::default());
        assert_eq!(busy.kill(false), Some(UNKILLABLE));
        busy.enter(ScriptKind::Function, false, Snapshot::default());
        assert_eq!(busy.kill(true), Some(BUSY_FUNCTION));
        assert_eq!(busy.kill(false), None);
        // Entering again (the next hook call) keeps the request.
        busy.enter(ScriptKind::Function, false, Snapshot::default());
        assert!(busy.kill_requested());
    }

    #[test]
    fn room_runs_out() {
        let busy = Busy::default();
        busy.enter(
            ScriptKind::Eval,
            false,
            Snapshot {
                room: 1,
                ..Snapshot::default()
            },
        );
        assert!(busy.take_room());
        assert!(!busy.take_room());
    }
}
