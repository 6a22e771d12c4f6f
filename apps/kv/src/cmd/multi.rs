//! Transactions: MULTI, EXEC (run by the server, which owns the command runner), DISCARD,
//! WATCH, UNWATCH.
//!
//! Queued commands are checked as they are queued (unknown command, arity): a refused one makes
//! EXEC answer `EXECABORT`; errors while running (WRONGTYPE…) are replies in EXEC's array and
//! the other commands still run, as in Redis. WATCH is invalidated by any write to the key
//! (through the command table's key positions), its expiry, FLUSHDB/FLUSHALL and SWAPDB.

use bytes::Bytes;

use super::ctx::{CmdResult, Ctx};
use crate::client::Client;
use crate::error::CmdError;

/// `MULTI`
pub(crate) fn multi(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    begin(ctx.client)?;
    ctx.out.ok();
    Ok(())
}

/// Starts `client`'s transaction, as MULTI (also while a busy script holds the engine: MULTI
/// needs only the client).
pub(crate) fn begin(client: &mut Client) -> CmdResult {
    if client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    client.multi = Some(Vec::new());
    client.multi_error = false;
    Ok(())
}

/// `EXEC` outside a transaction (inside one, the server runs the queue).
pub(crate) fn exec_without_multi(_ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    Err(CmdError::err("EXEC without MULTI"))
}

/// `DISCARD`
pub(crate) fn discard(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.client.multi_error = false;
    ctx.shared.unwatch(ctx.client);
    ctx.out.ok();
    Ok(())
}

/// `WATCH key…`
pub(crate) fn watch(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    for key in args.get(1..).unwrap_or_default() {
        if ctx
            .client
            .watched
            .iter()
            .any(|(d, k, _)| *d == db && k == key)
        {
            continue;
        }
        let existed = ctx.db.exists(db, key, ctx.now);
        ctx.client.watched.push((db, key.clone(), existed));
        ctx.shared.watches.add(db, key.clone(), ctx.client.id);
    }
    ctx.out.ok();
    Ok(())
}

/// `UNWATCH`
pub(crate) fn unwatch(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    ctx.shared.unwatch(ctx.client);
    ctx.out.ok();
    Ok(())
}
