//! Running a script or function ([`run`]) and the commands it calls ([`Call`]): the checks
//! Redis's `scriptCall` makes, a context for the script's own client, propagation of each
//! write as the script's effect, and WATCH touches and blocked clients for the keys written.

use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use hashbrown::HashMap;
use mlua::{Function, Value};
use spindle_protocols::resp::{decode_frame, Frame, Limits, ReplyWriter, Version};

use super::convert::{lua_number_text, table_error, write_reply, COUNTED};
use super::lua::{Dispatch, Live, Vm};
use crate::acl;
use crate::blocked;
use crate::busy::{ScriptKind, Snapshot};
use crate::client::Client;
use crate::cmd::connection::{acl_denial, acl_refusal};
use crate::cmd::ctx::{flags, CmdResult, Command, Ctx};
use crate::cmd::introspect::{observe, track_script_call};
use crate::error::CmdError;
use crate::persist::exit_process;

/// What a run is: its name in errors and logs (the SHA-1 for EVAL, the function's name for
/// FCALL), whether writes are refused, and whether it is an EVAL (KEYS and ARGV as globals).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) read_only: bool,
    pub(crate) eval_mode: bool,
}

/// Commands refused in scripts (Redis 7.0's `noscript` flag); for the container commands
/// below, every subcommand but HELP.
const NOSCRIPT: &[&str] = &[
    "acl",
    "auth",
    "bgrewriteaof",
    "bgsave",
    "blmove",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzpopmax",
    "bzpopmin",
    "client",
    "config",
    "debug",
    "discard",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "exec",
    "failover",
    "fcall",
    "fcall_ro",
    "function",
    "hello",
    "latency",
    "module",
    "monitor",
    "multi",
    "psubscribe",
    "psync",
    "punsubscribe",
    "quit",
    "replconf",
    "replicaof",
    "reset",
    "role",
    "save",
    "script",
    "shutdown",
    "slaveof",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "sync",
    "unsubscribe",
    "unwatch",
    "wait",
    "watch",
];

/// Containers whose HELP subcommand scripts may still call.
const HELP_ALLOWED: &[&str] = &[
    "client", "config", "function", "script", "latency", "module",
];

/// Commands Redis flags `may-replicate`: refused in read-only scripts like writes.
const MAY_REPLICATE: &[&str] = &["eval", "evalsha", "fcall", "pfcount", "publish", "spublish"];

/// What the lists above say of a command, found once when the index is built rather than by
/// scanning them on every call.
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// In [`NOSCRIPT`].
    noscript: bool,
    /// In [`HELP_ALLOWED`].
    help_allowed: bool,
    /// In [`MAY_REPLICATE`].
    may_replicate: bool,
}

/// The command table by lower-case name, with each command's [`Rules`], built once from the
/// table handed down in `Ctx`; hashed with foldhash (hashbrown's default), as the keyspace:
/// SipHash was a tenth of the call's own work.
fn index(
    commands: &'static [Command],
) -> &'static HashMap<&'static [u8], (&'static Command, Rules)> {
    static INDEX: OnceLock<HashMap<&'static [u8], (&'static Command, Rules)>> = OnceLock::new();
    INDEX.get_or_init(|| {
        commands
            .iter()
            .map(|c| {
                let rules = Rules {
                    noscript: NOSCRIPT.contains(&c.name),
                    help_allowed: HELP_ALLOWED.contains(&c.name),
                    may_replicate: MAY_REPLICATE.contains(&c.name),
                };
                (c.name.as_bytes(), (c, rules))
            })
            .collect()
    })
}

/// The command called `name` (any case) and its rules, looked up without allocating: no
/// command name is longer than 32 bytes.
fn find(commands: &'static [Command], name: &[u8]) -> Option<(&'static Command, Rules)> {
    let mut lower = [0u8; 32];
    let dst = lower.get_mut(..name.len())?;
    dst.copy_from_slice(name);
    dst.make_ascii_lowercase();
    index(commands).get(&*dst).copied()
}

/// The state of a run that `redis.call` works with: the caller's context, the script's own
/// client, and the keys written so far.
struct Call<'r, 'a, 'b> {
    ctx: &'r mut Ctx<'a, 'b>,
    /// The keys the caller's command named (client-side caching remembers these when the
    /// script reads).
    keys: &'r [Bytes],
    /// The reply of the command in progress, encoded, then decoded for Lua (as Redis parses
    /// its client's output buffer); kept in [`Live`] between runs to spare an allocation
    /// per call and per run.
    buf: BytesMut,
    /// The script's client: the caller's database at the start, its own afterwards (a SELECT
    /// in a script does not change the caller's).
    client: Client,
    read_only: bool,
    /// A write command ran (Redis's `SCRIPT_WRITE_DIRTY`: SCRIPT KILL is refused after it).
    write_dirty: bool,
    /// Keys written, with their databases: blocked clients are served once the script ends.
    written: Vec<(usize, Bytes)>,
    /// EVAL or FCALL: which KILL ends it, which `-BUSY` others get.
    kind: ScriptKind,
    /// The run's name in logs.
    name: &'r str,
}

impl Dispatch for Call<'_, '_, '_> {
    /// Runs one command for the script (Redis's `scriptCall`): the checks, then the handler
    /// in the script client's context; the reply as a frame, or the refusal's text. A refusal
    /// and an error reply are counted in INFO's error statistics here, as Redis counts them
    /// at the call.
    fn command(&mut self, argv: &[Bytes], resp3: bool, repl: u8) -> Result<Frame, String> {
        let result = self.checked_command(argv, resp3, repl);
        if let Err(refusal) = &result {
            let stats = &mut self.ctx.db.stats;
            stats.error_reply(&format!("ERR {refusal}"));
            // As a call that ended: the refusal is not the script's own error.
            stats.call_failed();
        }
        result
    }

    fn may_run(&mut self, argv: &[Bytes]) -> bool {
        acl_denial(self.ctx.shared, &self.ctx.client.user, argv).is_none()
    }

    /// `busy-reply-threshold` (`lua-time-limit` is its alias: one value).
    fn threshold_ms(&self) -> u64 {
        self.ctx
            .shared
            .config
            .get("busy-reply-threshold")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(5000)
    }

    fn kill_requested(&self) -> bool {
        self.ctx.shared.busy.kill_requested()
    }

    fn script_name(&self) -> &str {
        self.name
    }

    /// What the hook does on each of its calls once the run is past `busy-reply-threshold`
    /// (Redis's `scriptInterrupt`): tells the sessions what runs and copies the settings they
    /// need, lets the loop serve the other connections (a nested turn, where SCRIPT KILL and
    /// FUNCTION KILL may ask the script to stop), adds what the sessions counted meanwhile to
    /// INFO's statistics (they cannot reach them while the run holds the engine), then shuts
    /// the server down if one of them sent SHUTDOWN NOSAVE, as Redis's `prepareForShutdown`
    /// from inside the script: the child killed, the AOF written and fsynced, no dump file;
    /// the script's own writes, not yet propagated, are not in it.
    fn interrupt(&mut self) {
        let ctx = &mut *self.ctx;
        let busy = ctx.shared.busy.clone();
        let shared = &*ctx.shared;
        busy.enter(
            self.kind,
            self.write_dirty,
            Snapshot {
                default_open: shared.acl.default_open(),
                query_buffer_limit: shared.config.client_query_buffer_limit,
                proto_max_bulk_len: shared.config.proto_max_bulk_len,
                room: shared
                    .config
                    .maxclients
                    .saturating_sub(shared.clients.len()),
            },
        );
        if let Some(events) = ctx.events.as_deref_mut() {
            events();
        }
        let counted = busy.take_counted();
        let stats = &mut ctx.db.stats;
        stats.net_input_bytes += counted.input_bytes;
        stats.reads_processed += counted.reads;
        stats.net_output_bytes += counted.output_bytes;
        stats.writes_processed += counted.writes;
        stats.rejected_connections += counted.rejected_connections;
        for text in &counted.errors {
            stats.error_reply(text);
        }
        for (key, failed) in counted.calls {
            stats.commands += 1;
            stats.count_call(key, 0, u64::from(failed));
        }
        for key in counted.rejected {
            stats.per_command.entry(key).or_default().rejected += 1;
        }
        if let Some(conn) = busy.take_shutdown() {
            let shared = &mut *ctx.shared;
            let done =
                shared
                    .persist
                    .prepare_shutdown(ctx.db, &shared.config, false, false, ctx.now);
            if done.is_ok() {
                exit_process();
            } else {
                ctx.client.outbox.push((
                    conn,
                    Bytes::from_static(b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"),
                ));
            }
        }
    }
}

impl Call<'_, '_, '_> {
    /// [`command`](Dispatch::command) before counting a refusal.
    fn checked_command(&mut self, argv: &[Bytes], resp3: bool, repl: u8) -> Result<Frame, String> {
        let name = argv.first().map_or(&[][..], |n| &n[..]);
        let Some((command, rules)) = find(self.ctx.commands, name) else {
            return Err("Unknown Redis command called from script".into());
        };
        if !command.arity_ok(argv.len()) {
            return Err("Wrong number of args calling Redis command from script".into());
        }
        if rules.noscript {
            let help =
                rules.help_allowed && argv.get(1).is_some_and(|s| s.eq_ignore_ascii_case(b"help"));
            if !help {
                return Err("This Redis command is not allowed from script".into());
            }
        }
        let ctx = &mut *self.ctx;
        if let Some((denied, _)) = acl_refusal(ctx.shared, ctx.client, argv, acl::Context::Lua) {
            return Err(format!(
                "The user executing the script {}",
                match denied {
                    acl::Denied::Command => "can't run this command or subcommand",
                    acl::Denied::Key =>
                        "can't access at least one of the keys mentioned in the command arguments",
                    acl::Denied::Channel => "can't publish to the channel mentioned in the command",
                    acl::Denied::Auth => "lacking the permissions for the command",
                }
            ));
        }
        let writes = command.flags & flags::WRITE != 0;
        if self.read_only && (writes || rules.may_replicate) {
            return Err("Write commands are not allowed from read-only scripts.".into());
        }
        if writes {
            self.write_dirty = true;
        }
        self.client.resp = if resp3 {
            Version::Resp3
        } else {
            Version::Resp2
        };
        let buf = &mut self.buf;
        buf.clear();
        let dirty_before = ctx.db.dirty;
        ctx.db.propagation.command_start();
        ctx.db.stats.commands += 1;
        ctx.db.stats.call_started();
        let started = Instant::now();
        let result = {
            let mut w = ReplyWriter::new(self.client.resp, buf);
            let mut nested = Ctx {
                commands: ctx.commands,
                db: &mut *ctx.db,
                shared: &mut *ctx.shared,
                client: &mut self.client,
                out: &mut w,
                now: ctx.now,
                events: None,
            };
            let r: CmdResult = (command.handler)(&mut nested, argv);
            if let Err(e) = &r {
                w.error(&e.text());
            }
            r
        };
        let nanos = started.elapsed().as_nanos() as u64;
        if let Err(e) = &result {
            ctx.db.stats.error_reply(&e.text());
        }
        let failed = ctx.db.stats.call_failed();
        let key = crate::cmd::subcommands::stat_key(command, argv);
        ctx.db.stats.count_call(key, nanos, failed);
        observe(ctx.shared, &mut self.client, command, argv, nanos);
        let db = self.client.db;
        let wrote = ctx.db.dirty != dirty_before;
        if !ctx.shared.intro.tracking.is_empty() {
            track_script_call(ctx.shared, ctx.client, self.keys, command, argv, wrote);
        }
        if repl == 0 {
            // redis.set_repl(redis.REPL_NONE): the write stays out of the AOF and replicas.
            ctx.db.propagation.command_start();
            ctx.db.propagation.command_done(db, argv, false);
        } else {
            ctx.db.propagation.command_done(db, argv, wrote);
        }
        if wrote {
            for key in command.key_args(argv) {
                if !ctx.shared.watches.is_empty() {
                    ctx.shared.touch(db, key);
                }
                self.written.push((db, Bytes::copy_from_slice(key)));
            }
        }
        ctx.client.outbox.append(&mut self.client.outbox);
        let limits = Limits {
            max_depth: 1000,
            ..Limits::default()
        };
        Ok(decode_frame(buf, &limits)
            .ok()
            .flatten()
            .unwrap_or(Frame::Null))
    }
}

/// Runs `func` (an EVAL body, or a function's callback given `keys` and `args`) for the
/// calling client and writes its reply: the return value converted, or the error with the
/// script's name and line. Writes made by the script are propagated one by one (the EVAL
/// itself is not), the keys they touched served to blocked clients after the script.
pub(crate) fn run(
    ctx: &mut Ctx<'_, '_>,
    vm: &Vm,
    live: &Rc<Live>,
    func: &Function,
    keys: &[Bytes],
    args: &[Bytes],
    spec: RunSpec<'_>,
) -> CmdResult {
    live.running.set(true);
    live.resp3.set(false);
    live.repl.set(3);
    live.killed.set(false);
    live.timed_out.set(false);
    live.started.set(Some(Instant::now()));
    let kind = if spec.eval_mode {
        ScriptKind::Eval
    } else {
        ScriptKind::Function
    };

    let client_db = ctx.client.db;
    let mut client = Client::new(0, true);
    client.db = client_db;
    client.in_exec = true;
    client.script = true;
    let mut call = Call {
        ctx,
        keys,
        buf: std::mem::take(&mut *live.reply_buf.borrow_mut()),
        client,
        read_only: spec.read_only,
        write_dirty: false,
        written: Vec::new(),
        kind,
        name: spec.name,
    };
    let outcome = {
        let _dispatching = live.dispatching(&mut call);
        vm.call_script(func, keys, args)
    };
    if live.killed.get() {
        vm.install_hook();
    }
    let Call {
        ctx, written, buf, ..
    } = call;
    *live.reply_buf.borrow_mut() = buf;
    ctx.shared.busy.leave();
    live.running.set(false);
    live.started.set(None);
    let script_resp3 = live.resp3.get();

    let result = match outcome {
        Err(e) => Err(CmdError::err(format!(
            "Error running script {}, {:.100}",
            spec.name,
            e.to_string()
        ))),
        Ok((ok, value)) => {
            let already_counted = match &value {
                Value::Table(t) => t.raw_get::<bool>(COUNTED).unwrap_or(false),
                _ => false,
            };
            let returned_error = match &value {
                Value::Table(t) if ok => table_error(t).ok().flatten(),
                _ => None,
            };
            if let Some(text) = returned_error {
                // The script returned an error reply: the call failed. One it made itself
                // (`return {err=…}`) is counted now; one of a command (`redis.pcall`'s) was.
                if already_counted {
                    ctx.db.stats.error_rewritten();
                } else {
                    ctx.db.stats.error_reply(&text);
                }
                Err(CmdError::Counted(text))
            } else if ok {
                let stats = &mut ctx.db.stats;
                write_reply(ctx.out, &value, script_resp3, 0, &mut |text, counted| {
                    if counted {
                        stats.error_rewritten();
                    } else {
                        stats.error_reply(text);
                    }
                })
                .map_err(|e| CmdError::err(e.to_string()))
            } else if already_counted {
                ctx.db.stats.error_rewritten();
                Err(CmdError::Counted(error_reply_text(&value, spec.name)))
            } else {
                Err(CmdError::Msg(error_reply_text(&value, spec.name)))
            }
        }
    };
    for (db, key) in written {
        if ctx.shared.waiting.is_empty() {
            break;
        }
        blocked::serve(
            ctx.db,
            &mut ctx.shared.waiting,
            &mut ctx.shared.watches,
            db,
            &key,
            &mut ctx.client.outbox,
            ctx.now,
        );
    }
    ctx.db.propagation.suppress();
    result
}

/// The error reply of a script that raised `err` (Redis's `luaCallFunction`): the error's
/// text, then ` script: <name>, on <source>:<line>.` when the handler found the line.
fn error_reply_text(err: &Value, name: &str) -> String {
    let Value::Table(t) = err else {
        let msg = match err {
            Value::String(s) => s.to_string_lossy(),
            _ => "execution failure".to_string(),
        };
        return format!("ERR Error running script {name}, {msg:.100}");
    };
    let text = |key: &str| -> Option<String> {
        match t.get::<Value>(key).ok()? {
            Value::String(s) => Some(s.to_string_lossy()),
            Value::Integer(n) => Some(lua_number_text(n as f64)),
            Value::Number(n) => Some(lua_number_text(n)),
            _ => None,
        }
    };
    let mut msg = text("err").unwrap_or_else(|| "(null)".to_string());
    if let (Some(source), Some(line)) = (text("source"), text("line")) {
        msg.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    let end = msg.trim_end_matches(['\r', '\n']).len();
    msg.truncate(end);
    msg
}
