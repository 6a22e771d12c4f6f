//! CONFIG GET | SET | RESETSTAT | REWRITE | HELP, as Redis 7.0's `config.c`, over the
//! directives of [`Config`](crate::config::Config).

use bytes::Bytes;

use super::args::is;
use super::ctx::flags::ADMIN;
use super::ctx::{CmdResult, Ctx};
use super::{cmd, Command};
use crate::error::{CmdError, ConfigError};

/// This family's row of the command table (arity and flags as Redis 7.0's COMMAND reports
/// them; the subcommands' arities are in `cmd/mod.rs`'s subcommand table).
pub(crate) static COMMANDS: &[Command] = &[cmd("config", -2, ADMIN, (0, 0, 0), config)];

/// CONFIG HELP's lines, Redis's words.
const HELP: &[&str] = &[
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
];

/// `CONFIG GET pattern… | SET name value… | RESETSTAT | REWRITE | HELP`
pub(crate) fn config(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1).map_or(&[][..], |b| b);
    let rest = args.get(2..).unwrap_or_default();
    if is(sub, "get") {
        let patterns: Vec<&[u8]> = rest.iter().map(|b| &b[..]).collect();
        let pairs = ctx.shared.config.get_matching(&patterns);
        ctx.out.map_len(pairs.len());
        for (k, v) in pairs {
            ctx.out.bulk(k.as_bytes());
            ctx.out.bulk(v.as_bytes());
        }
    } else if is(sub, "set") {
        set(ctx, rest)?;
        ctx.out.ok();
    } else if is(sub, "resetstat") {
        // What Redis's resetServerStats and resetCommandTableStats clear.
        ctx.db.stats = Default::default();
        ctx.shared.intro.histograms.clear();
        let persist = &mut ctx.shared.persist;
        persist.fork_usec = 0;
        persist.forks = 0;
        persist.rdb_saves = 0;
        persist.rewrites = 0;
        persist.rewrite_failures = 0;
        ctx.out.ok();
    } else if is(sub, "rewrite") {
        if ctx.shared.config.file().is_none() {
            return Err(CmdError::err("The server is running without a config file"));
        }
        ctx.shared.config.rewrite().map_err(|e| {
            // As strerror(3) words it, without Rust's "(os error N)".
            let text = e.to_string();
            let text = text
                .split(" (os error")
                .next()
                .unwrap_or_default()
                .to_string();
            CmdError::err(format!("Rewriting config file: {text}"))
        })?;
        ctx.out.ok();
    } else if is(sub, "help") {
        ctx.out.array_len(HELP.len() + 3);
        ctx.out
            .simple("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        for line in HELP {
            ctx.out.simple(line);
        }
        ctx.out.simple("HELP");
        ctx.out.simple("    Prints this help.");
    } else {
        return Err(CmdError::err(format!(
            "unknown subcommand '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// CONFIG SET: the pairs all applied or none (Redis 7.0), then what the server does about
/// the changed ones at once (the AOF switched on or off; more clients than descriptors
/// refused, as `updateMaxclients`).
fn set(ctx: &mut Ctx<'_, '_>, rest: &[Bytes]) -> CmdResult {
    if !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let texts: Vec<String> = rest
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let pairs: Vec<(&str, &str)> = texts
        .chunks(2)
        .filter_map(|pair| match pair {
            [name, value] => Some((name.as_str(), value.as_str())),
            _ => None,
        })
        .collect();
    let protected_ok = ctx.protected_allowed("enable-protected-configs");
    let mut next = ctx.shared.config.clone();
    next.set_many(&pairs, protected_ok).map_err(CmdError::err)?;
    for (name, value) in &pairs {
        // Redis changes directory at once (`chdir`); spindle keeps the path, so it checks
        // that it is a directory it could change to.
        if name.eq_ignore_ascii_case("dir") {
            check_dir(value).map_err(CmdError::err)?;
        }
    }
    let most = ctx.shared.clients_the_fds_allow();
    if next.maxclients > ctx.shared.config.maxclients && next.maxclients > most {
        return Err(CmdError::err(format!(
            "CONFIG SET failed (possibly related to argument 'maxclients') - The operating \
             system is not able to handle the specified number of clients, try with {most}"
        )));
    }
    let aof_was_on = ctx.shared.config.get("appendonly") == Some("yes");
    ctx.shared.config = next;
    super::persist::config_changed(ctx, aof_was_on)
}

/// `dir`'s value checked as `chdir(2)` would: the error in strerror's words.
fn check_dir(dir: &str) -> Result<(), ConfigError> {
    let reason = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "Not a directory".to_string(),
        Err(e) => {
            let text = e.to_string();
            text.split(" (os error")
                .next()
                .unwrap_or_default()
                .to_string()
        }
    };
    Err(ConfigError::Invalid {
        name: "dir".into(),
        value: dir.into(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use crate::testkit::{a, e, ok, T};

    fn failed(name: &str, reason: &str) -> crate::testkit::Frame {
        e(&format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
        ))
    }

    #[test]
    fn get_answers_names_aliases_and_patterns_as_redis() {
        let mut h = T::new();
        h.check(&[
            ("CONFIG GET PORT", a(&["PORT", "6379"])),
            ("CONFIG GET slave-read-only", a(&["slave-read-only", "yes"])),
            ("CONFIG GET port PORT", a(&["port", "6379"])),
            (
                "CONFIG GET hash-max-*-entries",
                a(&[
                    "hash-max-listpack-entries",
                    "512",
                    "hash-max-ziplist-entries",
                    "512",
                ]),
            ),
            // Hidden directives answer their exact name only.
            (
                "CONFIG GET use-exit-on-panic",
                a(&["use-exit-on-panic", "no"]),
            ),
            ("CONFIG GET *exit-on*", a(&[])),
            ("CONFIG GET nosuch", a(&[])),
        ]);
    }

    #[test]
    fn set_checks_every_name_first_and_applies_all_or_nothing() {
        let mut h = T::new();
        h.check(&[
            ("CONFIG SET hz 1 hz 2", failed("hz", "duplicate parameter")),
            ("CONFIG SET hz 1 busy-reply-threshold 2 lua-time-limit 3", failed("lua-time-limit", "duplicate parameter")),
            ("CONFIG SET hz 1 nope 2", e("ERR Unknown option or number of arguments for CONFIG SET - 'nope'")),
            ("CONFIG SET hz 1 daemonize yes", failed("daemonize", "can't set immutable config")),
            ("CONFIG SET dir /tmp", failed("dir", "can't set protected config")),
            ("CONFIG SET hz 1 maxmemory x", failed("maxmemory", "argument must be a memory value")),
            ("CONFIG GET hz", a(&["hz", "10"])),
            ("CONFIG SET hz 1 b", e("ERR syntax error")),
            ("CONFIG SET lua-time-limit 100 hz 20", ok()),
            ("CONFIG GET busy-reply-threshold", a(&["busy-reply-threshold", "100"])),
            ("CONFIG GET hz", a(&["hz", "20"])),
            ("CONFIG SET slave-read-only x", failed("slave-read-only", "argument must be 'yes' or 'no'")),
            ("CONFIG SET activedefrag yes", failed("activedefrag", "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution")),
            ("CONFIG SET oom-score-adj relative", ok()),
            ("CONFIG GET oom-score-adj", a(&["oom-score-adj", "yes"])),
            ("CONFIG SET notify-keyspace-events KEA", ok()),
            ("CONFIG GET notify-keyspace-events", a(&["notify-keyspace-events", "AKE"])),
            ("CONFIG SET notify-keyspace-events X", failed("notify-keyspace-events", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")),
            ("CONFIG SET maxmemory-clients 10%", ok()),
            ("CONFIG GET maxmemory-clients", a(&["maxmemory-clients", "10%"])),
            ("CONFIG SET maxclients -1", failed("maxclients", "argument must be between 1 and 4294967295 inclusive")),
            ("CONFIG SET unixsocketperm 700", failed("unixsocketperm", "can't set immutable config")),
        ]);
        let cases = [
            (["shutdown-on-sigint", "now save"], ok()),
            (
                ["shutdown-on-sigint", "save nosave"],
                failed(
                    "shutdown-on-sigint",
                    "shutdown options SAVE and NOSAVE can't be used simultaneously",
                ),
            ),
            (
                ["shutdown-on-sigint", ""],
                failed(
                    "shutdown-on-sigint",
                    "argument(s) must be one of the following: default, save, nosave, now, force",
                ),
            ),
            (
                ["save", "100 10 20 x"],
                failed("save", "Invalid save parameters"),
            ),
            (["save", "100 10 20 1"], ok()),
            (["client-output-buffer-limit", "pubsub 1mb 2k 5"], ok()),
        ];
        for ([name, value], reply) in cases {
            assert_eq!(
                h.args(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]),
                reply,
                "{name} {value}"
            );
        }
        h.check(&[
            (
                "CONFIG GET shutdown-on-sigint",
                a(&["shutdown-on-sigint", "save now"]),
            ),
            ("CONFIG GET save", a(&["save", "100 10 20 1"])),
            (
                "CONFIG GET client-output-buffer-limit",
                a(&[
                    "client-output-buffer-limit",
                    "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2000 5",
                ]),
            ),
        ]);
        assert_eq!(
            h.server
                .shared
                .config
                .client_output_buffer_limit
                .pubsub
                .soft,
            2000
        );
    }

    #[test]
    fn rewrite_needs_a_file_and_help_lists_the_subcommands() {
        let mut h = T::new();
        h.check(&[(
            "CONFIG REWRITE",
            e("ERR The server is running without a config file"),
        )]);
        let crate::testkit::Frame::Array(lines) = h.run("CONFIG HELP") else {
            panic!("CONFIG HELP is an array");
        };
        assert_eq!(lines.len(), 11);
    }
}
