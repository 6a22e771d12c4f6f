//! The ACL command and its subcommands (Redis 7.0's `aclCommand`): SETUSER, GETUSER, DELUSER,
//! LIST, USERS, WHOAMI, CAT, GENPASS, LOG, DRYRUN, LOAD, SAVE, HELP. The users themselves, the
//! rules and the checks are in [`crate::acl`]; this file replies and disconnects the clients a
//! change leaves without their user or channels.

use std::io::Read;

use bytes::Bytes;
use spindle_reactor::ConnId;

use super::args::reply_help;
use super::args::{arg, int_arg, is};
use super::ctx::{CmdResult, Command, Ctx};
use crate::acl::{self, catalog, Changed, Denied, CATEGORIES};
use crate::error::CmdError;

/// The family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[super::cmd("acl", -2, 0, (0, 0, 0), acl)];

/// ACL's subcommands and their arities (Redis 7.0's `acl-*.json`), for the table's checks.
pub(crate) static SUBCOMMANDS: &[(&str, i32)] = &[
    ("cat", -2),
    ("deluser", -3),
    ("dryrun", -4),
    ("genpass", -2),
    ("getuser", 3),
    ("help", 2),
    ("list", 2),
    ("load", 2),
    ("log", -2),
    ("save", 2),
    ("setuser", -3),
    ("users", 2),
    ("whoami", 2),
];

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

/// `ACL <subcommand> ...`
pub(crate) fn acl(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = arg(args, 1);
    let n = args.len();
    let aclfile = ctx
        .shared
        .config
        .get("aclfile")
        .unwrap_or_default()
        .to_string();
    if is(sub, "setuser") && n >= 3 {
        setuser(ctx, args)
    } else if is(sub, "deluser") && n >= 3 {
        deluser(ctx, args)
    } else if is(sub, "getuser") && n == 3 {
        getuser(ctx, arg(args, 2));
        Ok(())
    } else if (is(sub, "list") || is(sub, "users")) && n == 2 {
        if is(sub, "users") {
            let names: Vec<Vec<u8>> = ctx.shared.acl.users.keys().cloned().collect();
            ctx.out.array_len(names.len());
            names.iter().for_each(|u| ctx.out.bulk(u));
        } else {
            let lines = ctx.shared.acl.list();
            ctx.out.array_len(lines.len());
            lines.iter().for_each(|l| ctx.out.bulk(l.as_bytes()));
        }
        Ok(())
    } else if is(sub, "whoami") && n == 2 {
        let user = ctx.client.user.clone();
        ctx.out.bulk(&user);
        Ok(())
    } else if aclfile.is_empty() && (is(sub, "load") || is(sub, "save")) {
        Err(CmdError::err(
            "This Redis instance is not configured to use an ACL file. You may want to specify \
             users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have \
             a Redis configuration file set) in order to store users in the Redis configuration.",
        ))
    } else if is(sub, "load") && n == 2 {
        load(ctx, &aclfile)
    } else if is(sub, "save") && n == 2 {
        save(ctx, &aclfile)
    } else if is(sub, "cat") && n == 2 {
        ctx.out.array_len(CATEGORIES.len());
        CATEGORIES.iter().for_each(|c| ctx.out.bulk(c.as_bytes()));
        Ok(())
    } else if is(sub, "cat") && n == 3 {
        let name = arg(args, 2);
        let Some(bit) = CATEGORIES
            .iter()
            .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        else {
            return Err(CmdError::err(format!(
                "Unknown category '{}'",
                String::from_utf8_lossy(name.get(..name.len().min(128)).unwrap_or_default())
            )));
        };
        let names: Vec<&str> = catalog::table()
            .iter()
            .filter(|e| e.categories & (1 << bit) != 0)
            .map(|e| e.name)
            .collect();
        ctx.out.array_len(names.len());
        names.iter().for_each(|c| ctx.out.bulk(c.as_bytes()));
        Ok(())
    } else if is(sub, "genpass") && (n == 2 || n == 3) {
        genpass(ctx, args)
    } else if is(sub, "log") && (n == 2 || n == 3) {
        log(ctx, args)
    } else if is(sub, "dryrun") && n >= 4 {
        dryrun(ctx, args)
    } else if is(sub, "help") && n == 2 {
        reply_help(ctx, "ACL", HELP);
        Ok(())
    } else {
        Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            String::from_utf8_lossy(sub.get(..sub.len().min(128)).unwrap_or_default())
        )))
    }
}

fn setuser(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let name = arg(args, 2);
    if acl::has_spaces(name) {
        return Err(CmdError::err(
            "Usernames can't contain spaces or null characters",
        ));
    }
    let ops: Vec<&[u8]> = args.iter().skip(3).map(|a| &a[..]).collect();
    let changed = ctx.shared.acl.set_user(name, &ops).map_err(CmdError::err)?;
    if changed == Changed::Channels {
        kill_lost_subscribers(ctx, name);
    }
    ctx.out.ok();
    Ok(())
}

/// Disconnects `user`'s pub/sub clients subscribed to a channel or pattern its new rules no
/// longer allow (Redis's `ACLKillPubsubClientsIfNeeded`).
fn kill_lost_subscribers(ctx: &mut Ctx<'_, '_>, user: &[u8]) {
    let Some(rules) = ctx.shared.acl.user(user).cloned() else {
        return;
    };
    let ids: Vec<(u64, Option<ConnId>)> = ctx
        .shared
        .clients
        .iter()
        .filter(|(_, info)| info.user == user)
        .map(|(id, info)| (*id, info.conn))
        .collect();
    for (id, conn) in ids {
        let channels: Vec<&[u8]> = ctx
            .shared
            .channels
            .iter()
            .filter(|(_, subs)| subs.iter().any(|s| s.client == id))
            .map(|(c, _)| &c[..])
            .collect();
        let patterns: Vec<&[u8]> = ctx
            .shared
            .patterns
            .iter()
            .filter(|(_, s)| s.client == id)
            .map(|(p, _)| &p[..])
            .collect();
        if channels.is_empty() && patterns.is_empty() {
            continue;
        }
        if !rules.subscriber_allowed(&channels, &patterns) {
            kill(ctx, id, conn);
        }
    }
}

fn kill(ctx: &mut Ctx<'_, '_>, id: u64, conn: Option<ConnId>) {
    if id == ctx.client.id {
        ctx.client.closing = true;
    } else if let Some(conn) = conn {
        ctx.client.kill.push(conn);
    }
}

/// Disconnects the clients logged in as one of `users` (a deleted or reloaded user), the
/// calling one after its reply, as Redis's `ACLFreeUserAndKillClients`.
fn kill_users_clients(ctx: &mut Ctx<'_, '_>, users: &[Vec<u8>]) {
    let doomed: Vec<(u64, Option<ConnId>)> = ctx
        .shared
        .clients
        .iter()
        .filter(|(_, info)| users.contains(&info.user))
        .map(|(id, info)| (*id, info.conn))
        .collect();
    for (id, conn) in doomed {
        if id == ctx.client.id {
            ctx.client.user = b"default".to_vec();
            ctx.client.authenticated = false;
        }
        if let Some(info) = ctx.shared.clients.get_mut(&id) {
            info.user = b"default".to_vec();
        }
        kill(ctx, id, conn);
    }
}

fn deluser(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let names = args.get(2..).unwrap_or_default();
    if names.iter().any(|n| &n[..] == b"default") {
        return Err(CmdError::err("The 'default' user cannot be removed"));
    }
    let mut deleted = Vec::new();
    for name in names {
        if ctx.shared.acl.users.remove(&name[..]).is_some() {
            deleted.push(name.to_vec());
        }
    }
    kill_users_clients(ctx, &deleted);
    ctx.out.int(deleted.len() as i64);
    Ok(())
}

fn reply_selector(ctx: &mut Ctx<'_, '_>, s: &acl::Selector) {
    for (name, value) in s.fields() {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
}

/// GETUSER: flags, passwords, the root selector's commands, keys and channels, then the
/// other selectors, as Redis 7.0 answers.
fn getuser(ctx: &mut Ctx<'_, '_>, name: &[u8]) {
    let Some(user) = ctx.shared.acl.user(name).cloned() else {
        ctx.out.null();
        return;
    };
    ctx.out.map_len(6);
    ctx.out.bulk(b"flags");
    let flags = user.flag_names();
    ctx.out.set_len(flags.len());
    flags.iter().for_each(|f| ctx.out.bulk(f.as_bytes()));
    ctx.out.bulk(b"passwords");
    ctx.out.array_len(user.passwords.len());
    user.passwords
        .iter()
        .for_each(|p| ctx.out.bulk(p.as_bytes()));
    if let Some(root) = user.root() {
        reply_selector(ctx, root);
    }
    ctx.out.bulk(b"selectors");
    let extra = user.extra_selectors();
    ctx.out.array_len(extra.len());
    for s in extra {
        ctx.out.map_len(3);
        reply_selector(ctx, s);
    }
}

/// The OS's text of an IO error, as C's strerror gives it (without Rust's "(os error N)").
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text.get(..at).unwrap_or_default().to_string(),
        None => text,
    }
}

/// Reads the ACL file at `path` into the users: all or nothing, the clients of the users
/// replaced disconnected. `Err` is Redis's text for the reply.
pub(crate) fn load_file(
    shared: &mut crate::shared::Shared,
    path: &str,
) -> Result<Vec<Vec<u8>>, String> {
    let mut text = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut text))
        .map_err(|e| {
            format!(
                "Error loading ACLs, opening file '{path}': {}",
                strerror(&e)
            )
        })?;
    let old = shared.acl.load_text(path, &text)?;
    Ok(old.into_keys().collect())
}

fn load(ctx: &mut Ctx<'_, '_>, path: &str) -> CmdResult {
    match load_file(ctx.shared, path) {
        Ok(replaced) => {
            kill_users_clients(ctx, &replaced);
            ctx.out.ok();
            Ok(())
        }
        Err(e) => Err(CmdError::err(e)),
    }
}

fn save(ctx: &mut Ctx<'_, '_>, path: &str) -> CmdResult {
    let text = ctx.shared.acl.file_text();
    let tmp = format!("{path}.tmp-{}-{}", std::process::id(), ctx.now);
    let written = std::fs::write(&tmp, text.as_bytes()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        log::warn!("Writing ACL file for ACL SAVE: {e}");
        let _ = std::fs::remove_file(&tmp);
        return Err(CmdError::err(
            "There was an error trying to save the ACLs. Please check the server logs for more \
             information",
        ));
    }
    ctx.out.ok();
    Ok(())
}

fn genpass(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let bits = match args.get(2) {
        Some(b) => int_arg(b)?,
        None => 256,
    };
    if bits <= 0 || bits > 4096 {
        return Err(CmdError::err(
            "ACL GENPASS argument must be the number of bits for the output password, a \
             positive number up to 4096",
        ));
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut random = vec![0u8; chars.div_ceil(2)];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut random));
    if read.is_err() {
        // No /dev/urandom: the clock and the process, mixed by SHA-256, still differ per call.
        let seed = format!(
            "{}{}{:?}",
            ctx.now,
            std::process::id(),
            std::time::Instant::now()
        );
        let mut block = acl::hash_password(seed.as_bytes()).into_bytes();
        while block.len() < random.len() {
            let more = acl::hash_password(&block).into_bytes();
            block.extend(more);
        }
        random.iter_mut().zip(block).for_each(|(r, b)| *r = b);
    }
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    ctx.out
        .bulk(hex.get(..chars).unwrap_or_default().as_bytes());
    Ok(())
}

fn log(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let mut count: i64 = 10;
    if let Some(a) = args.get(2) {
        if is(a, "reset") {
            ctx.shared.acl.log.clear();
            ctx.out.ok();
            return Ok(());
        }
        count = int_arg(a)?.max(0);
    }
    let entries: Vec<acl::LogEntry> = ctx
        .shared
        .acl
        .log
        .iter()
        .take(count as usize)
        .cloned()
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ctx.out.array_len(entries.len());
    for e in entries {
        ctx.out.map_len(7);
        ctx.out.bulk(b"count");
        ctx.out.int(e.count as i64);
        ctx.out.bulk(b"reason");
        ctx.out.bulk(e.reason.reason().as_bytes());
        ctx.out.bulk(b"context");
        ctx.out.bulk(e.context_name().as_bytes());
        ctx.out.bulk(b"object");
        ctx.out.bulk(&e.object);
        ctx.out.bulk(b"username");
        ctx.out.bulk(&e.username);
        ctx.out.bulk(b"age-seconds");
        ctx.out.double(now.saturating_sub(e.ctime) as f64 / 1000.0);
        ctx.out.bulk(b"client-info");
        ctx.out.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

fn dryrun(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let name = arg(args, 2);
    let Some(user) = ctx.shared.acl.user(name) else {
        return Err(CmdError::err(format!(
            "User '{}' not found",
            String::from_utf8_lossy(name)
        )));
    };
    let argv: Vec<&[u8]> = args.iter().skip(3).map(|a| &a[..]).collect();
    let Some(id) = catalog::resolve(&argv) else {
        return Err(CmdError::err(format!(
            "Command '{}' not found",
            String::from_utf8_lossy(arg(args, 3))
        )));
    };
    let entry = catalog::table().get(id);
    let (arity, fullname) = entry.map_or((0, ""), |e| (e.arity, e.name));
    let argc = argv.len() as i32;
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{fullname}' command"
        )));
    }
    match user.check(id, &argv) {
        Ok(()) => ctx.out.ok(),
        Err((denied, pos)) => {
            let object = String::from_utf8_lossy(argv.get(pos).copied().unwrap_or_default());
            let text = match denied {
                Denied::Command => {
                    format!("This user has no permissions to run the '{fullname}' command")
                }
                Denied::Key => format!("This user has no permissions to access the '{object}' key"),
                _ => format!("This user has no permissions to access the '{object}' channel"),
            };
            ctx.out.bulk(text.as_bytes());
        }
    }
    Ok(())
}
