//! Answering a command while a script runs past `busy-reply-threshold` and holds the engine
//! (Redis's processCommand while `isInsideYieldingLongCommand`): the checks that need only the
//! command table and the client come first, as in Redis; then the commands flagged
//! `allow-busy` in Redis 7.0's table are served, and every other command is refused with
//! `-BUSY`, consumed rather than kept for later.
//!
//! Of the `allow-busy` commands, SCRIPT KILL, FUNCTION KILL, SHUTDOWN, QUIT and MULTI are
//! answered here, from the [`Busy`] state and the client; those that need the engine's state
//! (AUTH, HELLO, WATCH, UNWATCH, DISCARD, RESET, REPLCONF, FUNCTION STATS) wait, with what
//! follows them on the connection, until the script ends ([`Answer::Later`]).

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::ReplyWriter;

use crate::busy::{Busy, ScriptKind};
use crate::client::Client;
use crate::cmd;
use crate::cmd::multi::begin;
use crate::cmd::persist::shutdown_options;
use crate::error::CmdError;

/// What the session does after [`answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Answered (possibly refused); go on with the next command.
    Done,
    /// The command needs the engine: keep it, and the input after it, until the script ends.
    Later,
    /// SHUTDOWN NOSAVE: the script's hook shuts the server down (no reply).
    Shutdown,
}

/// Answers `args` from `client` while the busy script described by `busy` holds the engine,
/// writing the reply (if any) to `out`.
pub(crate) fn answer(
    busy: &Busy,
    client: &mut Client,
    args: &[Bytes],
    out: &mut BytesMut,
) -> Answer {
    let mut w = ReplyWriter::new(client.resp, out);
    let kind = busy.script().unwrap_or(ScriptKind::Eval);
    let command = match cmd::check_call(client, args, busy.snapshot().default_open) {
        Ok(command) => command,
        Err(e) => return refuse(busy, client, args, &mut w, &e.text()),
    };
    if let Some(e) =
        cmd::multi_refusal(client, command).or_else(|| cmd::pubsub_refusal(client, command))
    {
        return refuse(busy, client, args, &mut w, &e.text());
    }
    let sub = |name: &str| {
        args.get(1)
            .is_some_and(|a| a.eq_ignore_ascii_case(name.as_bytes()))
    };
    // A call run here, counted in commandstats as Redis's call() counts it.
    let ran = |failed: bool| {
        let key = cmd::subcommands::stat_key(command, args);
        busy.count(|c| c.calls.push((key, failed)));
        Answer::Done
    };
    match command.name {
        "script" | "function" if sub("kill") => match busy.kill(command.name == "script") {
            None => {
                w.ok();
                ran(false)
            }
            Some(text) => {
                error(busy, &mut w, text);
                ran(true)
            }
        },
        "shutdown" => match shutdown_options(args) {
            Err(e) => {
                error(busy, &mut w, &e.text());
                ran(true)
            }
            Ok(o) if o.abort => {
                error(
                    busy,
                    &mut w,
                    &CmdError::err("No shutdown in progress.").text(),
                );
                ran(true)
            }
            Ok(o) if o.nosave => Answer::Shutdown,
            // As Redis's shutdownCommand: only SHUTDOWN NOSAVE ends a server that is busy.
            Ok(_) => {
                error(busy, &mut w, kind.busy_text());
                ran(true)
            }
        },
        "quit" => {
            w.ok();
            client.closing = true;
            Answer::Done
        }
        "multi" => match begin(client) {
            Ok(()) => {
                w.ok();
                ran(false)
            }
            Err(e) => {
                error(busy, &mut w, &e.text());
                ran(true)
            }
        },
        "function" if sub("stats") => Answer::Later,
        "auth" | "hello" | "watch" | "unwatch" | "discard" | "reset" | "replconf" => Answer::Later,
        "exec" => {
            // As Redis's rejectCommand for EXEC (execCommandAbort): the transaction goes.
            // Its WATCHes stay until UNWATCH, EXEC or DISCARD once the script has ended (they
            // live in the engine).
            client.multi = None;
            client.multi_error = false;
            count_rejected(busy, args);
            let text = format!(
                "EXECABORT Transaction discarded because of: {}",
                kind.busy_text()
            );
            error(busy, &mut w, &text);
            Answer::Done
        }
        _ => refuse(busy, client, args, &mut w, kind.busy_text()),
    }
}

/// A refusal, as Redis's rejectCommand: the error, counted against the command (as
/// `rejected_calls`) when it is a known one, and a transaction in progress marked so that EXEC
/// answers EXECABORT.
fn refuse(
    busy: &Busy,
    client: &mut Client,
    args: &[Bytes],
    w: &mut ReplyWriter<'_>,
    text: &str,
) -> Answer {
    if client.multi.is_some() {
        client.multi_error = true;
    }
    count_rejected(busy, args);
    error(busy, w, text);
    Answer::Done
}

/// Counts a refused call against its command (INFO commandstats' `rejected_calls`).
fn count_rejected(busy: &Busy, args: &[Bytes]) {
    if let Some(key) = cmd::rejected_key(args) {
        busy.count(|c| c.rejected.push(key));
    }
}

/// An error reply, counted for INFO errorstats as Redis's `afterErrorReply` counts every one.
fn error(busy: &Busy, w: &mut ReplyWriter<'_>, text: &str) {
    w.error(text);
    busy.count(|c| c.errors.push(text.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::busy::{Snapshot, BUSY_EVAL, BUSY_FUNCTION, NOT_BUSY, UNKILLABLE};

    fn call(busy: &Busy, client: &mut Client, line: &str) -> (Answer, String) {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let mut out = BytesMut::new();
        let answer = answer(busy, client, &args, &mut out);
        (answer, String::from_utf8_lossy(&out).to_string())
    }

    fn busy(kind: ScriptKind, wrote: bool, open: bool) -> Busy {
        let busy = Busy::default();
        busy.enter(
            kind,
            wrote,
            Snapshot {
                default_open: open,
                ..Snapshot::default()
            },
        );
        busy
    }

    #[test]
    fn other_commands_are_refused_busy_and_mark_a_transaction() {
        let b = busy(ScriptKind::Eval, false, true);
        let mut c = Client::new(1, true);
        assert_eq!(
            call(&b, &mut c, "PING"),
            (Answer::Done, format!("-{BUSY_EVAL}\r\n"))
        );
        assert_eq!(call(&b, &mut c, "MULTI"), (Answer::Done, "+OK\r\n".into()));
        assert_eq!(
            call(&b, &mut c, "SET k v"),
            (Answer::Done, format!("-{BUSY_EVAL}\r\n"))
        );
        assert!(c.multi_error);
        assert_eq!(
            call(&b, &mut c, "EXEC").1,
            format!("-EXECABORT Transaction discarded because of: {BUSY_EVAL}\r\n")
        );
        assert!(c.multi.is_none());
        let f = busy(ScriptKind::Function, false, true);
        assert_eq!(call(&f, &mut c, "GET k").1, format!("-{BUSY_FUNCTION}\r\n"));
    }

    #[test]
    fn table_checks_and_auth_come_before_busy() {
        let b = busy(ScriptKind::Eval, false, false);
        let mut c = Client::new(1, false);
        assert_eq!(
            call(&b, &mut c, "NOPE x").1,
            "-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n"
        );
        assert_eq!(
            call(&b, &mut c, "PING").1,
            "-NOAUTH Authentication required.\r\n"
        );
        // AUTH needs the engine's users: it waits for the script.
        assert_eq!(call(&b, &mut c, "AUTH pw").0, Answer::Later);
        c.authenticated = true;
        assert_eq!(
            call(&b, &mut c, "GET").1,
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            call(&b, &mut c, "SCRIPT KILL now").1,
            "-ERR wrong number of arguments for 'script|kill' command\r\n"
        );
    }

    #[test]
    fn kills_and_shutdown() {
        let b = busy(ScriptKind::Eval, false, true);
        let mut c = Client::new(1, true);
        assert_eq!(
            call(&b, &mut c, "FUNCTION KILL").1,
            format!("-{BUSY_EVAL}\r\n")
        );
        assert_eq!(call(&b, &mut c, "SCRIPT KILL").1, "+OK\r\n");
        assert!(b.kill_requested());
        assert_eq!(call(&b, &mut c, "SHUTDOWN").1, format!("-{BUSY_EVAL}\r\n"));
        assert_eq!(
            call(&b, &mut c, "SHUTDOWN ABORT").1,
            "-ERR No shutdown in progress.\r\n"
        );
        assert_eq!(
            call(&b, &mut c, "SHUTDOWN NOSAVE"),
            (Answer::Shutdown, String::new())
        );
        let w = busy(ScriptKind::Function, true, true);
        assert_eq!(
            call(&w, &mut c, "FUNCTION KILL").1,
            format!("-{UNKILLABLE}\r\n")
        );
        w.leave();
        assert_eq!(
            call(&w, &mut c, "SCRIPT KILL").1,
            format!("-{NOT_BUSY}\r\n")
        );
        assert_eq!(call(&w, &mut c, "QUIT").1, "+OK\r\n");
        assert!(c.closing);
    }

    #[test]
    fn errors_and_refused_calls_are_counted_for_info() {
        let b = busy(ScriptKind::Eval, false, true);
        let mut c = Client::new(1, true);
        call(&b, &mut c, "GET k");
        call(&b, &mut c, "NOPE x");
        call(&b, &mut c, "CONFIG NOPE");
        call(&b, &mut c, "CONFIG GET");
        call(&b, &mut c, "MULTI");
        call(&b, &mut c, "EXEC");
        call(&b, &mut c, "QUIT");
        let counted = b.take_counted();
        assert_eq!(
            counted.errors.iter().map(|e| &e[..4]).collect::<Vec<_>>(),
            ["BUSY", "ERR ", "ERR ", "ERR ", "EXEC"]
        );
        // Not the unknown command, nor the unknown subcommand: Redis counts them nowhere.
        assert_eq!(
            counted.rejected,
            [("get", None), ("config", Some("get")), ("exec", None)]
        );
        assert!(b.take_counted().errors.is_empty());
    }
}
