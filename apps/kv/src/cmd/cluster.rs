//! The cluster and module commands of a standalone redis-server 7.0, which spindle kv is:
//! ASKING, READONLY, READWRITE and every CLUSTER subcommand answer that cluster support is
//! disabled (Redis's words when `cluster-enabled` is `no`), MODULE lists no modules and
//! refuses to load any, RESTORE-ASKING is RESTORE. Scaling past one server goes through real
//! Redis replicas (REPLICAOF), not a cluster of our own.

use bytes::Bytes;

use super::args::{arg, is, reply_help, subcommand_syntax};
use super::ctx::flags::*;
use super::ctx::{cmd, CmdResult, Command, Ctx};
use crate::error::CmdError;

/// The rows of this family.
pub(crate) static COMMANDS: &[Command] = &[
    cmd("asking", 1, FAST, (0, 0, 0), cluster_disabled),
    cmd("readonly", 1, FAST, (0, 0, 0), cluster_disabled),
    cmd("readwrite", 1, FAST, (0, 0, 0), cluster_disabled),
    cmd("cluster", -2, 0, (0, 0, 0), cluster_disabled),
    cmd("module", -2, 0, (0, 0, 0), module),
    cmd(
        "restore-asking",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        super::keys::restore,
    ),
];

/// `ASKING`, `READONLY`, `READWRITE`, `CLUSTER …`: what redis-server answers with
/// `cluster-enabled no`.
fn cluster_disabled(_ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    Err(CmdError::err("This instance has cluster support disabled"))
}

const MODULE_HELP: &[&str] = &[
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
];

/// `MODULE LIST | LOAD path [arg…] | LOADEX path … | UNLOAD name | HELP`. No module is ever
/// loaded: spindle kv runs no native extensions, so LIST is empty, LOAD and LOADEX fail as a
/// library that cannot be loaded fails in Redis (after the `enable-module-command` check
/// Redis makes first), and UNLOAD finds no such module.
fn module(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = arg(args, 1);
    let n = args.len();
    if is(sub, "help") && n == 2 {
        reply_help(ctx, "MODULE", MODULE_HELP);
        return Ok(());
    }
    if is(sub, "list") && n == 2 {
        ctx.out.array_len(0);
        return Ok(());
    }
    let changes = (is(sub, "load") || is(sub, "loadex")) && n >= 3 || is(sub, "unload") && n == 3;
    if !changes {
        return Err(subcommand_syntax(args));
    }
    ctx.check_protected("MODULE", "enable-module-command")?;
    if is(sub, "unload") {
        return Err(CmdError::err(
            "Error unloading module: no such module with that name",
        ));
    }
    log::warn!(
        "Module {} failed to load: spindle kv does not load Redis modules",
        String::from_utf8_lossy(arg(args, 2))
    );
    Err(CmdError::err(
        "Error loading the extension. Please check the server logs.",
    ))
}
