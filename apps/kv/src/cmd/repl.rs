//! Replication commands: REPLICAOF (SLAVEOF), ROLE, REPLCONF, PSYNC and SYNC (the replica's
//! side of the handshake, finished by the session, which owns the connection), and WAIT.

use bytes::Bytes;

use super::args::{arg, int_arg, is};
use super::cmd;
use super::ctx::{flags::*, CmdResult, Command, Ctx};
use crate::error::CmdError;
use crate::repl::{Failover, LinkState, Role, SyncRequest};

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[
    cmd("replicaof", 3, ADMIN, (0, 0, 0), replicaof),
    cmd("slaveof", 3, ADMIN, (0, 0, 0), replicaof),
    cmd("role", 1, FAST, (0, 0, 0), role),
    cmd("replconf", -1, ADMIN, (0, 0, 0), replconf),
    cmd("psync", -3, ADMIN | NO_MULTI, (0, 0, 0), psync),
    cmd("sync", 1, ADMIN | NO_MULTI, (0, 0, 0), sync),
    cmd("wait", 3, 0, (0, 0, 0), wait),
    cmd("failover", -1, ADMIN, (0, 0, 0), failover),
];

/// `REPLICAOF host port` / `REPLICAOF NO ONE`.
fn replicaof(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (host, port) = (arg(args, 1), arg(args, 2));
    if ctx.shared.repl.failing_over() {
        return Err(CmdError::err("REPLICAOF not allowed while failing over."));
    }
    let repl = &mut ctx.shared.repl;
    if is(host, "no") && is(port, "one") {
        if repl.is_replica() {
            log::info!(
                "MASTER MODE enabled (user request from 'id={}')",
                ctx.client.id
            );
            repl.promote(&mut ctx.db.propagation);
        }
        ctx.out.ok();
        return Ok(());
    }
    let port = int_arg(port)
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| CmdError::err("Invalid master port"))?;
    let host = String::from_utf8_lossy(host).into_owned();
    if let Role::Replica(link) = &repl.role {
        if link.host.eq_ignore_ascii_case(&host) && link.port == port {
            ctx.out.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    log::info!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={}')",
        ctx.client.id
    );
    repl.follow(host, port, &mut ctx.db.propagation);
    ctx.out.ok();
    Ok(())
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]`, with Redis's checks in Redis's
/// order: writes are held from now on, and the replication cron fails over once the target
/// (or any replica) has acknowledged the whole stream.
fn failover(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 && is(arg(args, 1), "abort") {
        if !ctx.shared.repl.failing_over() {
            return Err(CmdError::err("No failover in progress."));
        }
        ctx.shared
            .repl
            .abort_failover("Failover manually aborted", &mut ctx.db.propagation);
        ctx.out.ok();
        return Ok(());
    }
    let (mut timeout, mut force, mut target) = (0i64, false, None);
    let mut j = 1;
    while let Some(word) = args.get(j) {
        if is(word, "timeout") && j + 1 < args.len() && timeout == 0 {
            timeout = int_arg(arg(args, j + 1))?;
            if timeout <= 0 {
                return Err(CmdError::err("FAILOVER timeout must be greater than 0"));
            }
            j += 1;
        } else if is(word, "to") && j + 2 < args.len() && target.is_none() {
            let port = int_arg(arg(args, j + 2))?;
            target = Some((String::from_utf8_lossy(arg(args, j + 1)).into_owned(), port));
            j += 2;
        } else if is(word, "force") && !force {
            force = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let repl = &ctx.shared.repl;
    if repl.failing_over() {
        return Err(CmdError::err("FAILOVER already in progress."));
    }
    if repl.is_replica() {
        return Err(CmdError::err(
            "FAILOVER is not valid when server is a replica.",
        ));
    }
    if repl.replicas.is_empty() {
        return Err(CmdError::err("FAILOVER requires connected replicas."));
    }
    if force && (timeout == 0 || target.is_none()) {
        return Err(CmdError::err(
            "FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let target = match target {
        Some((host, port)) => {
            let found = repl
                .replicas
                .iter()
                .any(|r| r.ip.eq_ignore_ascii_case(&host) && i64::from(r.port) == port);
            let port = u16::try_from(port)
                .ok()
                .filter(|_| found)
                .ok_or_else(|| CmdError::err("FAILOVER target HOST and PORT is not a replica."))?;
            log::info!("FAILOVER requested to {host}:{port}.");
            Some((host, port))
        }
        None => {
            log::info!("FAILOVER requested to any replica.");
            None
        }
    };
    ctx.shared.repl.failover = Some(Failover {
        target,
        end_ms: (timeout > 0).then(|| ctx.now.saturating_add(timeout as u64)),
        force,
        in_progress: false,
    });
    ctx.out.ok();
    Ok(())
}

/// `ROLE`
fn role(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    let repl = &ctx.shared.repl;
    match &repl.role {
        Role::Master => {
            ctx.out.array_len(3);
            ctx.out.bulk(b"master");
            ctx.out.int(repl.offset_i64());
            ctx.out.array_len(repl.replicas.len());
            for r in &repl.replicas {
                ctx.out.array_len(3);
                ctx.out.bulk(r.ip.as_bytes());
                ctx.out.bulk(r.port.to_string().as_bytes());
                ctx.out.bulk(r.ack.to_string().as_bytes());
            }
        }
        Role::Replica(link) => {
            ctx.out.array_len(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(link.host.as_bytes());
            ctx.out.int(i64::from(link.port));
            ctx.out.bulk(link.state.word().as_bytes());
            let offset = if link.state == LinkState::Connected {
                repl.offset_i64()
            } else {
                -1
            };
            ctx.out.int(offset);
        }
    }
    Ok(())
}

/// `REPLCONF option value …`: what a replica says about itself during the handshake
/// (listening-port, ip-address, capa), its acknowledgements (ACK, unanswered), and GETACK
/// from a master (answered with an ACK by the replica's link, not here).
fn replconf(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut i = 1;
    while i + 1 < args.len() {
        let (opt, value) = (arg(args, i), arg(args, i + 1));
        if is(opt, "ack") {
            let offset = int_arg(value)?;
            let now = ctx.now;
            let conn = ctx.client.conn;
            let repl = &mut ctx.shared.repl;
            if let Some(r) = repl.replicas.iter_mut().find(|r| Some(r.conn) == conn) {
                r.ack = r.ack.max(offset.max(0) as u64);
                r.ack_ms = now;
            }
            wake_waiters(ctx);
            // Replicas' acknowledgements get no reply.
            ctx.client.reply_suppressed = true;
            return Ok(());
        } else if is(opt, "getack") {
            // Only a master asks this of us, and the link answers it.
            ctx.client.reply_suppressed = true;
            return Ok(());
        } else if is(opt, "listening-port") {
            let port = int_arg(value)?;
            ctx.client.repl_port = u16::try_from(port).unwrap_or(0);
        } else if is(opt, "ip-address")
            || is(opt, "capa")
            || is(opt, "rdb-only")
            || is(opt, "rdb-filter-only")
        {
            // Accepted: we always send an RDB with every key, and understand both capas.
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(())
}

/// `PSYNC replid offset`: left to the session, which answers +FULLRESYNC (and the snapshot)
/// or +CONTINUE, then streams.
fn psync(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    // `PSYNC replid offset FAILOVER`: our master hands over to us, if we follow its stream.
    if args.len() > 3 && is(arg(args, 3), "failover") {
        let replid = String::from_utf8_lossy(arg(args, 1)).into_owned();
        log::warn!("Failover request received for replid {replid}.");
        if !ctx.shared.repl.is_replica() {
            return Err(CmdError::err("PSYNC FAILOVER can't be sent to a master."));
        }
        if !replid.eq_ignore_ascii_case(&ctx.shared.repl.replid) {
            return Err(CmdError::err("PSYNC FAILOVER replid must match my replid."));
        }
        ctx.shared.repl.promote(&mut ctx.db.propagation);
        log::info!(
            "MASTER MODE enabled (failover request from 'id={}')",
            ctx.client.id
        );
    }
    if ctx.shared.repl.failing_over() {
        return Err(CmdError::Msg(
            "NOMASTERLINK Can't SYNC while failing over".into(),
        ));
    }
    if let Role::Replica(link) = &ctx.shared.repl.role {
        if link.state != LinkState::Connected {
            return Err(CmdError::Msg(
                "NOMASTERLINK Can't SYNC while not connected with my master".into(),
            ));
        }
    }
    let offset = std::str::from_utf8(arg(args, 2))
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(-1);
    ctx.client.sync = Some(SyncRequest::Psync {
        replid: String::from_utf8_lossy(arg(args, 1)).into_owned(),
        offset,
    });
    Ok(())
}

/// `SYNC`: the old full synchronisation, without the +FULLRESYNC line.
fn sync(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    ctx.client.sync = Some(SyncRequest::Sync);
    Ok(())
}

/// `WAIT numreplicas timeout`: how many replicas acknowledged this client's writes; waits
/// (parked by the session, up to `timeout` ms, 0: forever) until `numreplicas` have.
fn wait(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    if ctx.shared.repl.is_replica() {
        return Err(CmdError::err(
            "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 \
             if a replica is configured to be writable (which is not the default) writes to \
             replicas are just local and are not propagated.",
        ));
    }
    let wanted = int_arg(arg(args, 1))?;
    let timeout = int_arg(arg(args, 2))
        .map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    // Every write so far, this client's included, is at or before this offset.
    let target = ctx.shared.repl.offset() + ctx.db.propagation.repl_pending() as u64;
    let acked = ctx.shared.repl.acked(target);
    if wanted <= 0 || acked >= wanted as usize || ctx.client.multi.is_some() || ctx.client.in_exec {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    ctx.client.wait = Some((target, wanted as usize, timeout as u64));
    Ok(())
}

/// Moves the WAIT clients whose replicas now suffice to the session's list of replies.
pub(crate) fn wake_waiters(ctx: &mut Ctx<'_, '_>) {
    let repl = &mut ctx.shared.repl;
    let mut i = 0;
    while i < repl.waiters.len() {
        let (offset, wanted) = match repl.waiters.get(i) {
            Some(w) => (w.offset, w.wanted),
            None => break,
        };
        let acked = repl.acked(offset);
        if acked >= wanted {
            let w = repl.waiters.remove(i);
            repl.woken.push((w.conn, acked as i64, w.timer));
        } else {
            i += 1;
        }
    }
}
