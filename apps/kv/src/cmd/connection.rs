//! Connection commands: PING ECHO SELECT QUIT AUTH HELLO CLIENT RESET.

use bytes::Bytes;
use spindle_protocols::resp::Version;
use spindle_reactor::ConnId;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::acl::{Context, Denied, LogEntry};
use crate::client::{Client, ReplyMode};
use crate::shared::Shared;

use super::args::{arg, int_arg, is};
use super::ctx::{CmdResult, Ctx};
use crate::error::CmdError;
use crate::shared::ClientInfo;

/// `PING [message]`. A RESP2 client in subscribe mode can only read arrays (a plain reply would
/// look like a malformed message to it), so it gets `["pong", message]`, the message empty
/// when none was given; a RESP3 client's replies and pushes are told apart, so it gets the
/// plain reply, as in Redis.
pub(crate) fn ping(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let msg = match args.get(1..).unwrap_or_default() {
        [] => None,
        [msg] => Some(msg),
        _ => {
            return Err(CmdError::err(
                "wrong number of arguments for 'ping' command",
            ))
        }
    };
    if ctx.client.resp == Version::Resp2 && ctx.client.subscription_count() > 0 {
        ctx.out.array_len(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(msg.map_or(&[][..], |m| m));
        return Ok(());
    }
    match msg {
        None => ctx.out.simple("PONG"),
        Some(msg) => ctx.out.bulk(msg),
    }
    Ok(())
}

/// `ECHO message`
pub(crate) fn echo(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ctx.out.bulk(args.get(1).map_or(&[][..], |b| b));
    Ok(())
}

/// `SELECT index`
pub(crate) fn select(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = int_arg(args.get(1).map_or(&[][..], |b| b))?;
    if n < 0 || n as usize >= ctx.db.spaces.len() {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.client.db = n as usize;
    if let Some(info) = ctx.shared.clients.get_mut(&ctx.client.id) {
        info.db = n as usize;
    }
    ctx.out.ok();
    Ok(())
}

/// `QUIT`: replies OK, then the connection closes once the reply is written.
pub(crate) fn quit(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    ctx.client.closing = true;
    Ok(())
}

/// Logs `user` in with `pass` (Redis's `ACLAuthenticateUser`); without a user name, the
/// default user, refused outright while it needs no password, as Redis's AUTH does. A failure
/// is an ACL LOG entry (reason `auth`, the command's name as the object).
fn check_password(
    ctx: &mut Ctx<'_, '_>,
    command: &[u8],
    user: Option<&[u8]>,
    pass: &[u8],
) -> CmdResult {
    let name = match user {
        Some(u) => u,
        None => {
            if ctx.shared.acl.user(b"default").is_some_and(|u| u.nopass()) {
                return Err(CmdError::err(
                    "AUTH <password> called without any password configured for the default \
                     user. Are you sure your configuration is correct?",
                ));
            }
            b"default"
        }
    };
    if ctx.shared.acl.authenticate(name, pass) {
        ctx.client.authenticated = true;
        ctx.client.user = name.to_vec();
        if let Some(info) = ctx.shared.clients.get_mut(&ctx.client.id) {
            info.user = name.to_vec();
        }
        return Ok(());
    }
    let context = if ctx.client.multi.is_some() || ctx.client.in_exec {
        Context::Multi
    } else {
        Context::Toplevel
    };
    log_denial(
        ctx.shared,
        ctx.client,
        Denied::Auth,
        context,
        command.to_vec(),
        Some(name.to_vec()),
    );
    Err(CmdError::Msg(
        "WRONGPASS invalid username-password pair or user is disabled.".into(),
    ))
}

/// Why `user` may not run the command line `args` (Redis's `ACLCheckAllUserCommandPerm`):
/// the refusal and the position of the argument refused (0 for the command itself), or
/// `None` when it may run it. A command Redis's ACL table does not know needs a user allowed
/// every command.
pub(crate) fn acl_denial(shared: &Shared, user: &[u8], args: &[Bytes]) -> Option<(Denied, usize)> {
    let user = shared.acl.user(user);
    if user.is_some_and(crate::acl::User::unrestricted) {
        return None;
    }
    let argv: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    match (user, crate::acl::catalog::resolve(&argv)) {
        (Some(u), Some(id)) => u.check(id, &argv).err(),
        (Some(u), None) if u.all_commands() => None,
        _ => Some((Denied::Command, 0)),
    }
}

/// The ACL check of a call by `client` (Redis's `ACLCheckAllPerm`): `None` when its user may
/// run `args`; else the refusal, logged to ACL LOG as made in `context`, with the name of the
/// command refused (a subcommand as `container|sub`).
pub(crate) fn acl_refusal(
    shared: &mut Shared,
    client: &Client,
    args: &[Bytes],
    context: Context,
) -> Option<(Denied, String)> {
    let (denied, pos) = acl_denial(shared, &client.user, args)?;
    let argv: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    let id = crate::acl::catalog::resolve(&argv);
    let name = match id.and_then(|id| crate::acl::catalog::table().get(id)) {
        Some(e) => e.name.to_string(),
        None => {
            String::from_utf8_lossy(argv.first().copied().unwrap_or_default()).to_ascii_lowercase()
        }
    };
    let object = match denied {
        Denied::Command => name.as_bytes().to_vec(),
        _ => argv.get(pos).map_or_else(Vec::new, |a| a.to_vec()),
    };
    log_denial(shared, client, denied, context, object, None);
    Some((denied, name))
}

/// Adds an ACL LOG entry for `client` (as `username`, or as its own user), with its CLIENT
/// LIST line as it is now.
pub(crate) fn log_denial(
    shared: &mut Shared,
    client: &Client,
    reason: Denied,
    context: Context,
    object: Vec<u8>,
    username: Option<Vec<u8>>,
) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut client_info = String::new();
    if let Some(info) = shared.clients.get(&client.id) {
        client_line(&mut client_info, client.id, info, now_ms);
    }
    let client_info = client_info.trim_end_matches('\n').to_string();
    let max_len = shared
        .config
        .get("acllog-max-len")
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let entry = LogEntry {
        count: 1,
        reason,
        context,
        object,
        username: username.unwrap_or_else(|| client.user.clone()),
        ctime: now_ms,
        client_info,
    };
    shared.acl.log_denial(entry, max_len);
}

/// `AUTH [username] password`
pub(crate) fn auth(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    match args.get(1..).unwrap_or_default() {
        [pass] => check_password(ctx, arg(args, 0), None, pass)?,
        [user, pass] => check_password(ctx, arg(args, 0), Some(user), pass)?,
        _ => return Err(CmdError::Syntax),
    }
    ctx.out.ok();
    Ok(())
}

/// A name for CLIENT SETNAME or HELLO SETNAME: `None` (no name) when empty; refused, with
/// Redis's text, when it holds a byte outside `!`..=`~` (CLIENT LIST splits on spaces).
fn client_name(raw: &[u8]) -> Result<Option<String>, CmdError> {
    if raw.iter().any(|c| !(b'!'..=b'~').contains(c)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok((!raw.is_empty()).then(|| String::from_utf8_lossy(raw).into_owned()))
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
pub(crate) fn hello(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let mut version = ctx.client.resp;
    let mut i = 1;
    if let Some(v) = args.get(1) {
        let n = int_arg(v)
            .map_err(|_| CmdError::err("Protocol version is not an integer or out of range"))?;
        version = match n {
            2 => Version::Resp2,
            3 => Version::Resp3,
            _ => return Err(CmdError::Msg("NOPROTO unsupported protocol version".into())),
        };
        i = 2;
    }
    let mut name = None;
    while let Some(opt) = args.get(i) {
        if is(opt, "auth") && args.get(i + 2).is_some() {
            let (user, pass) = (args.get(i + 1).cloned(), args.get(i + 2).cloned());
            if let (Some(u), Some(p)) = (user, pass) {
                let command = args.first().cloned().unwrap_or_default();
                check_password(ctx, &command, Some(&u), &p)?;
            }
            i += 3;
        } else if is(opt, "setname") && args.get(i + 1).is_some() {
            name = Some(client_name(arg(args, i + 1))?);
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::Msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time"
                .into(),
        ));
    }
    if let Some(n) = name {
        ctx.client.name = n.clone();
        if let Some(info) = ctx.shared.clients.get_mut(&ctx.client.id) {
            info.name = n;
        }
    }
    ctx.client.resp = version;
    ctx.out.version = version;
    ctx.out.map_len(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(crate::config::REDIS_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(if version == Version::Resp3 { 3 } else { 2 });
    ctx.out.bulk(b"id");
    ctx.out.int(ctx.client.id as i64);
    ctx.out.bulk(b"mode");
    ctx.out.bulk(b"standalone");
    ctx.out.bulk(b"role");
    ctx.out.bulk(b"master");
    ctx.out.bulk(b"modules");
    ctx.out.array_len(0);
    Ok(())
}

/// One line of CLIENT LIST, in Redis 7.0's fields and order. What a session keeps (input,
/// output, last command) is as of its last batch of commands, the output also as of the last
/// clients cron (at most 1/hz s old).
pub(crate) fn client_line(text: &mut String, id: u64, info: &ClientInfo, now_ms: u64) {
    let mut flags = String::new();
    if info.monitor {
        flags.push('O');
    }
    if info.pubsub {
        flags.push('P');
    }
    if info.multi.is_some() {
        flags.push('x');
    }
    if info.blocked {
        flags.push('b');
    }
    if info.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let age = now_ms.saturating_sub(info.created_ms) / 1000;
    // Whole seconds of the clock, as Redis subtracts its seconds-resolution times.
    let idle = (now_ms / 1000).saturating_sub(info.last_ms / 1000);
    let multi = info.multi.map_or(-1, |n| n as i64);
    let fd = info.fd.unwrap_or(-1);
    text.push_str(&format!(
        "id={id} addr={} laddr= fd={fd} name={} age={age} idle={idle} flags={flags} db={} \
         sub={} psub={} ssub=0 multi={multi} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 \
         rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir=-1 \
         resp={}\n",
        info.addr,
        info.name.as_deref().unwrap_or(""),
        info.db,
        info.sub,
        info.psub,
        info.qbuf,
        info.qbuf_free,
        info.qbuf + info.qbuf_free,
        info.omem,
        info.memory(),
        info.last_cmd,
        String::from_utf8_lossy(&info.user),
        if info.resp == Version::Resp3 { 3 } else { 2 },
    ));
}

/// `CLIENT ID | SETNAME name | GETNAME | LIST | INFO | SETINFO … | NO-EVICT …`
pub(crate) fn client(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1).map_or(&[][..], |b| b);
    let rest = args.get(2..).unwrap_or_default();
    if is(sub, "id") && rest.is_empty() {
        ctx.out.int(ctx.client.id as i64);
    } else if is(sub, "setname") && rest.len() == 1 {
        let name = client_name(arg(rest, 0))?;
        ctx.client.name = name.clone();
        if let Some(info) = ctx.shared.clients.get_mut(&ctx.client.id) {
            info.name = name;
        }
        ctx.out.ok();
    } else if is(sub, "getname") && rest.is_empty() {
        match &ctx.client.name {
            Some(n) => ctx.out.bulk(n.as_bytes()),
            None => ctx.out.null(),
        }
    } else if (is(sub, "list") || is(sub, "info")) && (rest.is_empty() || is(sub, "list")) {
        let mut text = String::new();
        for (id, info) in &ctx.shared.clients {
            if is(sub, "info") && *id != ctx.client.id {
                continue;
            }
            if *id == ctx.client.id {
                // The caller's own line describes this very command, as in Redis.
                let mut me = info.clone();
                me.last_cmd = if is(sub, "list") {
                    "client|list"
                } else {
                    "client|info"
                };
                me.resp = ctx.client.resp;
                me.db = ctx.client.db;
                me.last_ms = ctx.now;
                client_line(&mut text, *id, &me, ctx.now);
            } else {
                client_line(&mut text, *id, info, ctx.now);
            }
        }
        ctx.out.verbatim(b"txt", text.as_bytes());
    } else if is(sub, "kill") && !rest.is_empty() {
        client_kill(ctx, rest)?;
    } else if is(sub, "pause") && (rest.len() == 1 || rest.len() == 2) {
        let ms = int_arg(rest.first().map_or(&[][..], |b| b))
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
        let all = match rest.get(1) {
            None => true,
            Some(m) if is(m, "all") => true,
            Some(m) if is(m, "write") => false,
            Some(_) => return Err(CmdError::Syntax),
        };
        ctx.shared.pause = Some((ctx.now + ms as u64, all));
        ctx.out.ok();
    } else if is(sub, "unpause") && rest.is_empty() {
        ctx.shared.pause = None;
        let timers = std::mem::take(&mut ctx.shared.paused_timers);
        ctx.shared.waiting.wake(timers);
        ctx.out.ok();
    } else if is(sub, "unblock") && (rest.len() == 1 || rest.len() == 2) {
        let id = int_arg(rest.first().map_or(&[][..], |b| b))?;
        let error = match rest.get(1) {
            None => false,
            Some(m) if is(m, "timeout") => false,
            Some(m) if is(m, "error") => true,
            Some(_) => {
                return Err(CmdError::err(
                    "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                ))
            }
        };
        match ctx.shared.waiting.cancel(id as u64, error) {
            Some((conn, reply)) => {
                if let Some(reply) = reply {
                    ctx.db.stats.error_reply(crate::blocked::UNBLOCKED_ERROR);
                    ctx.client.outbox.push((conn, reply));
                }
                ctx.out.int(1);
            }
            None => ctx.out.int(0),
        }
    } else if is(sub, "reply") && rest.len() == 1 {
        let mode = arg(rest, 0);
        if is(mode, "on") {
            ctx.client.reply = ReplyMode::On;
            ctx.out.ok();
        } else if is(mode, "off") {
            ctx.client.reply = ReplyMode::Off;
        } else if is(mode, "skip") {
            ctx.client.reply = ReplyMode::Skip;
        } else {
            return Err(CmdError::Syntax);
        }
    } else if is(sub, "setinfo") && rest.len() == 2 {
        // Accepted and remembered by nobody: library names do not apply here.
        ctx.out.ok();
    } else if is(sub, "no-evict") && rest.len() == 1 {
        // ON exempts the client from maxmemory-clients' eviction.
        let mode = arg(rest, 0);
        let on = if is(mode, "on") {
            true
        } else if is(mode, "off") {
            false
        } else {
            return Err(CmdError::Syntax);
        };
        if let Some(info) = ctx.shared.clients.get_mut(&ctx.client.id) {
            info.no_evict = on;
        }
        ctx.out.ok();
    } else if is(sub, "tracking")
        || is(sub, "caching")
        || is(sub, "getredir")
        || is(sub, "trackinginfo")
    {
        return super::introspect::client_tracking(ctx, args);
    } else {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// `CLIENT KILL addr` (old form: OK or an error) or `CLIENT KILL [ID id] [ADDR addr]
/// [TYPE normal|pubsub] [SKIPME yes|no]…` (the number of clients killed).
fn client_kill(ctx: &mut Ctx<'_, '_>, rest: &[Bytes]) -> CmdResult {
    if let [addr] = rest {
        let target = String::from_utf8_lossy(addr);
        let found = ctx
            .shared
            .clients
            .iter()
            .find(|(_, c)| c.addr == target)
            .map(|(id, c)| (*id, c.conn));
        return match found {
            Some((id, conn)) => {
                kill_one(ctx, id, conn);
                ctx.out.ok();
                Ok(())
            }
            None => Err(CmdError::err("No such client")),
        };
    }
    let (mut id, mut addr, mut kind, mut skipme) = (None, None, None, true);
    for pair in rest.chunks(2) {
        let [name, value] = pair else {
            return Err(CmdError::Syntax);
        };
        if is(name, "id") {
            id = Some(
                int_arg(value)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?
                    as u64,
            );
        } else if is(name, "addr") {
            addr = Some(String::from_utf8_lossy(value).into_owned());
        } else if is(name, "type") {
            let t = String::from_utf8_lossy(value).to_ascii_lowercase();
            if !["normal", "pubsub", "master", "replica", "slave"].contains(&t.as_str()) {
                return Err(CmdError::err(format!("Unknown client type '{t}'")));
            }
            kind = Some(t);
        } else if is(name, "skipme") {
            skipme = if is(value, "yes") {
                true
            } else if is(value, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let me = ctx.client.id;
    let targets: Vec<(u64, Option<ConnId>)> = ctx
        .shared
        .clients
        .iter()
        .filter(|(cid, c)| {
            id.is_none_or(|i| i == **cid)
                && addr.as_deref().is_none_or(|a| a == c.addr)
                && kind.as_deref().is_none_or(|t| {
                    let replica = c.conn.is_some_and(|conn| {
                        ctx.shared.repl.replicas.iter().any(|r| r.conn == conn)
                    });
                    match t {
                        "pubsub" => c.pubsub,
                        "normal" => !c.pubsub && !replica,
                        "replica" | "slave" => replica,
                        // The link to our master is not a client connection: below.
                        _ => false,
                    }
                })
                && !(skipme && **cid == me)
        })
        .map(|(cid, c)| (*cid, c.conn))
        .collect();
    for (cid, conn) in &targets {
        kill_one(ctx, *cid, *conn);
    }
    let mut killed = targets.len();
    if kind.as_deref() == Some("master") && id.is_none() && addr.is_none() {
        // A replica's link to its master: closed, and made again a second later (with a
        // partial resynchronization when the master's backlog still has our offset).
        if let Some(conn) = ctx.shared.repl.link_conn {
            ctx.client.kill.push(conn);
            killed += 1;
        }
    }
    ctx.out.int(killed as i64);
    Ok(())
}

fn kill_one(ctx: &mut Ctx<'_, '_>, id: u64, conn: Option<ConnId>) {
    if id == ctx.client.id {
        ctx.client.closing = true;
    } else if let Some(conn) = conn {
        ctx.client.kill.push(conn);
    }
}

/// `RESET`: back to a fresh connection's state.
pub(crate) fn reset(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    ctx.client.multi = None;
    ctx.client.multi_error = false;
    ctx.shared.unwatch(ctx.client);
    ctx.shared.unsubscribe_all(ctx.client);
    ctx.client.db = 0;
    ctx.client.resp = Version::Resp2;
    ctx.out.version = Version::Resp2;
    ctx.client.name = None;
    ctx.client.reply = ReplyMode::On;
    ctx.client.user = b"default".to_vec();
    ctx.client.authenticated = ctx.shared.acl.default_open();
    if let Some(info) = ctx.shared.clients.get_mut(&ctx.client.id) {
        info.user = b"default".to_vec();
    }
    ctx.out.simple("RESET");
    Ok(())
}
