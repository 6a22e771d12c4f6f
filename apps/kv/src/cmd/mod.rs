//! The commands: one table (name, arity, flags, handler; [`commands`]) drives dispatch, arity
//! errors, the transaction rules and the COMMAND command alike. It is the rows below followed
//! by the rows each newer family file declares as its own `COMMANDS`. Each family lives in its
//! own file; every handler parses its arguments, acts on the [`Db`](crate::db::Db) and writes its
//! reply into the connection's reply buffer — never to a socket, so each is testable with
//! bytes alone.
//!
//! Handlers return `Err(CmdError)` for the errors of Redis's own wording; the engine turns
//! them into `-ERR …`/`-WRONGTYPE …` replies and the connection goes on.
//!
//! Inside the folder: this file (the table) is above the families; the families use
//! [`ctx`] and [`args`], which use nothing of the folder above them.

pub(crate) mod acl;
pub(crate) mod args;
pub(crate) mod bits;
pub(crate) mod blocking;
pub(crate) mod cluster;
pub(crate) mod config;
pub(crate) mod connection;
pub(crate) mod ctx;
pub(crate) mod docs;
#[rustfmt::skip]
mod docs_table;
pub(crate) mod geo;
pub(crate) mod hash;
pub(crate) mod hll;
pub(crate) mod info;
pub(crate) mod introspect;
pub(crate) mod keys;
pub(crate) mod list;
pub(crate) mod migrate;
pub(crate) mod multi;
pub(crate) mod persist;
pub(crate) mod pubsub;
pub(crate) mod repl;
pub(crate) mod scripting;
pub(crate) mod server;
pub(crate) mod set;
pub(crate) mod sharded;
pub(crate) mod stream;
pub(crate) mod string;
pub(crate) mod subcommands;
pub(crate) mod zset;

use bytes::Bytes;
use hashbrown::HashMap;
use std::sync::OnceLock;

pub(crate) use ctx::{cmd, flags, Command, Ctx};

use crate::client::Client;
use crate::error::CmdError;
use spindle_protocols::resp::Version;

use flags::*;

/// The rows of the families declared in this file.
static CORE: &[Command] = &[
    // connection
    cmd("ping", -1, FAST | PUBSUB, (0, 0, 0), connection::ping),
    cmd("echo", 2, FAST, (0, 0, 0), connection::echo),
    cmd("select", 2, FAST, (0, 0, 0), connection::select),
    cmd(
        "quit",
        -1,
        FAST | NO_AUTH | PUBSUB | RUNS_IN_MULTI,
        (0, 0, 0),
        connection::quit,
    ),
    cmd("auth", -2, FAST | NO_AUTH, (0, 0, 0), connection::auth),
    cmd("hello", -1, FAST | NO_AUTH, (0, 0, 0), connection::hello),
    cmd("client", -2, ADMIN, (0, 0, 0), connection::client),
    cmd(
        "reset",
        1,
        FAST | NO_AUTH | PUBSUB | RUNS_IN_MULTI,
        (0, 0, 0),
        connection::reset,
    ),
    // transactions
    cmd("multi", 1, FAST | RUNS_IN_MULTI, (0, 0, 0), multi::multi),
    cmd(
        "exec",
        1,
        RUNS_IN_MULTI,
        (0, 0, 0),
        multi::exec_without_multi,
    ),
    cmd(
        "discard",
        1,
        FAST | RUNS_IN_MULTI,
        (0, 0, 0),
        multi::discard,
    ),
    cmd("watch", -2, FAST | RUNS_IN_MULTI, (1, -1, 1), multi::watch),
    cmd("unwatch", 1, FAST, (0, 0, 0), multi::unwatch),
    // blocking
    cmd("blpop", -3, WRITE, (1, -2, 1), blocking::blpop),
    cmd("brpop", -3, WRITE, (1, -2, 1), blocking::brpop),
    cmd("blmove", 6, WRITE | DENYOOM, (1, 2, 1), blocking::blmove),
    cmd(
        "brpoplpush",
        4,
        WRITE | DENYOOM,
        (1, 2, 1),
        blocking::brpoplpush,
    ),
    cmd("blmpop", -5, WRITE, (3, -3, 1), blocking::blmpop),
    cmd("bzpopmin", -3, WRITE | FAST, (1, -2, 1), blocking::bzpopmin),
    cmd("bzpopmax", -3, WRITE | FAST, (1, -2, 1), blocking::bzpopmax),
    cmd("bzmpop", -5, WRITE, (3, -3, 1), blocking::bzmpop),
    // pub/sub
    cmd("subscribe", -2, PUBSUB, (0, 0, 0), pubsub::subscribe),
    cmd("unsubscribe", -1, PUBSUB, (0, 0, 0), pubsub::unsubscribe),
    cmd("psubscribe", -2, PUBSUB, (0, 0, 0), pubsub::psubscribe),
    cmd("punsubscribe", -1, PUBSUB, (0, 0, 0), pubsub::punsubscribe),
    cmd("publish", 3, FAST, (0, 0, 0), pubsub::publish),
    cmd("pubsub", -2, 0, (0, 0, 0), pubsub::pubsub),
    // server
    cmd("dbsize", 1, READONLY | FAST, (0, 0, 0), server::dbsize),
    cmd("flushdb", -1, WRITE, (0, 0, 0), server::flushdb),
    cmd("flushall", -1, WRITE, (0, 0, 0), server::flushall),
    cmd("info", -1, 0, (0, 0, 0), info::info),
    cmd("command", -1, 0, (0, 0, 0), server::command),
    cmd("time", 1, FAST, (0, 0, 0), server::time),
    cmd("debug", -2, ADMIN, (0, 0, 0), server::debug),
    // strings
    cmd("get", 2, READONLY | FAST, (1, 1, 1), string::get),
    cmd("set", -3, WRITE | DENYOOM, (1, 1, 1), string::set),
    cmd("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), string::setnx),
    cmd("setex", 4, WRITE | DENYOOM, (1, 1, 1), string::setex),
    cmd("psetex", 4, WRITE | DENYOOM, (1, 1, 1), string::psetex),
    cmd(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        string::getset,
    ),
    cmd("getdel", 2, WRITE | FAST, (1, 1, 1), string::getdel),
    cmd("mget", -2, READONLY | FAST, (1, -1, 1), string::mget),
    cmd("mset", -3, WRITE | DENYOOM, (1, -1, 2), string::mset),
    cmd("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), string::msetnx),
    cmd("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), string::incr),
    cmd("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), string::decr),
    cmd(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        string::incrby,
    ),
    cmd(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        string::decrby,
    ),
    cmd(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        string::incrbyfloat,
    ),
    cmd(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        string::append,
    ),
    cmd("strlen", 2, READONLY | FAST, (1, 1, 1), string::strlen),
    cmd("getrange", 4, READONLY, (1, 1, 1), string::getrange),
    cmd("substr", 4, READONLY, (1, 1, 1), string::getrange),
    cmd("setrange", 4, WRITE | DENYOOM, (1, 1, 1), string::setrange),
    cmd("getex", -2, WRITE | FAST, (1, 1, 1), string::getex),
    cmd("lcs", -3, READONLY, (1, 2, 1), string::lcs),
    cmd("setbit", 4, WRITE | DENYOOM, (1, 1, 1), bits::setbit),
    cmd("getbit", 3, READONLY | FAST, (1, 1, 1), bits::getbit),
    cmd("bitcount", -2, READONLY, (1, 1, 1), bits::bitcount),
    cmd("bitpos", -3, READONLY, (1, 1, 1), bits::bitpos),
    cmd("bitop", -4, WRITE | DENYOOM, (2, -1, 1), bits::bitop),
    cmd("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), bits::bitfield),
    cmd(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        (1, 1, 1),
        bits::bitfield_ro,
    ),
    // keys
    cmd("del", -2, WRITE, (1, -1, 1), keys::del),
    cmd("unlink", -2, WRITE | FAST, (1, -1, 1), keys::del),
    cmd("exists", -2, READONLY | FAST, (1, -1, 1), keys::exists),
    cmd("type", 2, READONLY | FAST, (1, 1, 1), keys::type_),
    cmd("touch", -2, READONLY | FAST, (1, -1, 1), keys::touch),
    cmd("keys", 2, READONLY, (0, 0, 0), keys::keys),
    cmd("scan", -2, READONLY, (0, 0, 0), keys::scan),
    cmd("randomkey", 1, READONLY, (0, 0, 0), keys::randomkey),
    cmd("rename", 3, WRITE, (1, 2, 1), keys::rename),
    cmd("renamenx", 3, WRITE | FAST, (1, 2, 1), keys::renamenx),
    cmd("expire", -3, WRITE | FAST, (1, 1, 1), keys::expire),
    cmd("pexpire", -3, WRITE | FAST, (1, 1, 1), keys::pexpire),
    cmd("expireat", -3, WRITE | FAST, (1, 1, 1), keys::expireat),
    cmd("pexpireat", -3, WRITE | FAST, (1, 1, 1), keys::pexpireat),
    cmd("ttl", 2, READONLY | FAST, (1, 1, 1), keys::ttl),
    cmd("pttl", 2, READONLY | FAST, (1, 1, 1), keys::pttl),
    cmd(
        "expiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        keys::expiretime,
    ),
    cmd(
        "pexpiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        keys::pexpiretime,
    ),
    cmd("persist", 2, WRITE | FAST, (1, 1, 1), keys::persist),
    cmd("copy", -3, WRITE | DENYOOM, (1, 2, 1), keys::copy),
    cmd("move", 3, WRITE | FAST, (1, 1, 1), keys::move_),
    cmd("swapdb", 3, WRITE | FAST, (0, 0, 0), keys::swapdb),
    cmd("object", -2, READONLY, (2, 2, 1), keys::object),
    cmd("dump", 2, READONLY, (1, 1, 1), keys::dump),
    cmd("restore", -4, WRITE | DENYOOM, (1, 1, 1), keys::restore),
    cmd("memory", -2, READONLY, (2, 2, 1), keys::memory),
    cmd("sort", -2, WRITE | DENYOOM, (1, 1, 1), keys::sort),
    cmd("sort_ro", -2, READONLY, (1, 1, 1), keys::sort_ro),
    // lists
    cmd("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), list::lpush),
    cmd("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), list::rpush),
    cmd(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        list::lpushx,
    ),
    cmd(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        list::rpushx,
    ),
    cmd("lpop", -2, WRITE | FAST, (1, 1, 1), list::lpop),
    cmd("rpop", -2, WRITE | FAST, (1, 1, 1), list::rpop),
    cmd("llen", 2, READONLY | FAST, (1, 1, 1), list::llen),
    cmd("lrange", 4, READONLY, (1, 1, 1), list::lrange),
    cmd("lindex", 3, READONLY, (1, 1, 1), list::lindex),
    cmd("lset", 4, WRITE | DENYOOM, (1, 1, 1), list::lset),
    cmd("ltrim", 4, WRITE, (1, 1, 1), list::ltrim),
    cmd("linsert", 5, WRITE | DENYOOM, (1, 1, 1), list::linsert),
    cmd("lrem", 4, WRITE, (1, 1, 1), list::lrem),
    cmd("lpos", -3, READONLY, (1, 1, 1), list::lpos),
    cmd("lmpop", -4, WRITE, (2, -2, 1), list::lmpop),
    cmd("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), list::rpoplpush),
    cmd("lmove", 5, WRITE | DENYOOM, (1, 2, 1), list::lmove),
    // hashes
    cmd("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hash::hset),
    cmd("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hash::hmset),
    cmd("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hash::hsetnx),
    cmd("hget", 3, READONLY | FAST, (1, 1, 1), hash::hget),
    cmd("hmget", -3, READONLY | FAST, (1, 1, 1), hash::hmget),
    cmd("hgetall", 2, READONLY, (1, 1, 1), hash::hgetall),
    cmd("hkeys", 2, READONLY, (1, 1, 1), hash::hkeys),
    cmd("hvals", 2, READONLY, (1, 1, 1), hash::hvals),
    cmd("hlen", 2, READONLY | FAST, (1, 1, 1), hash::hlen),
    cmd("hexists", 3, READONLY | FAST, (1, 1, 1), hash::hexists),
    cmd("hdel", -3, WRITE | FAST, (1, 1, 1), hash::hdel),
    cmd(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        hash::hincrby,
    ),
    cmd("hstrlen", 3, READONLY | FAST, (1, 1, 1), hash::hstrlen),
    cmd(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        hash::hincrbyfloat,
    ),
    cmd("hrandfield", -2, READONLY, (1, 1, 1), hash::hrandfield),
    cmd("hscan", -3, READONLY, (1, 1, 1), hash::hscan),
    // sets
    cmd("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), set::sadd),
    cmd("srem", -3, WRITE | FAST, (1, 1, 1), set::srem),
    cmd("scard", 2, READONLY | FAST, (1, 1, 1), set::scard),
    cmd("sismember", 3, READONLY | FAST, (1, 1, 1), set::sismember),
    cmd("smembers", 2, READONLY, (1, 1, 1), set::smembers),
    cmd("spop", -2, WRITE | FAST, (1, 1, 1), set::spop),
    cmd(
        "smismember",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        set::smismember,
    ),
    cmd("smove", 4, WRITE | FAST, (1, 2, 1), set::smove),
    cmd("srandmember", -2, READONLY, (1, 1, 1), set::srandmember),
    cmd("sinter", -2, READONLY, (1, -1, 1), set::sinter),
    cmd("sunion", -2, READONLY, (1, -1, 1), set::sunion),
    cmd("sdiff", -2, READONLY, (1, -1, 1), set::sdiff),
    cmd(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        set::sinterstore,
    ),
    cmd(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        set::sunionstore,
    ),
    cmd(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        set::sdiffstore,
    ),
    cmd("sintercard", -3, READONLY, (0, 0, 0), set::sintercard),
    cmd("sscan", -3, READONLY, (1, 1, 1), set::sscan),
    // sorted sets
    cmd("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), zset::zadd),
    cmd(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        zset::zincrby,
    ),
    cmd("zscore", 3, READONLY | FAST, (1, 1, 1), zset::zscore),
    cmd("zmscore", -3, READONLY | FAST, (1, 1, 1), zset::zmscore),
    cmd("zcard", 2, READONLY | FAST, (1, 1, 1), zset::zcard),
    cmd("zcount", 4, READONLY | FAST, (1, 1, 1), zset::zcount),
    cmd("zlexcount", 4, READONLY | FAST, (1, 1, 1), zset::zlexcount),
    cmd("zrank", 3, READONLY | FAST, (1, 1, 1), zset::zrank),
    cmd("zrevrank", 3, READONLY | FAST, (1, 1, 1), zset::zrevrank),
    cmd("zrem", -3, WRITE | FAST, (1, 1, 1), zset::zrem),
    cmd("zrange", -4, READONLY, (1, 1, 1), zset::zrange),
    cmd(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        zset::zrangestore,
    ),
    cmd("zrevrange", -4, READONLY, (1, 1, 1), zset::zrevrange),
    cmd(
        "zrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        zset::zrangebyscore,
    ),
    cmd(
        "zrevrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        zset::zrevrangebyscore,
    ),
    cmd("zrangebylex", -4, READONLY, (1, 1, 1), zset::zrangebylex),
    cmd(
        "zrevrangebylex",
        -4,
        READONLY,
        (1, 1, 1),
        zset::zrevrangebylex,
    ),
    cmd(
        "zremrangebyrank",
        4,
        WRITE,
        (1, 1, 1),
        zset::zremrangebyrank,
    ),
    cmd(
        "zremrangebyscore",
        4,
        WRITE,
        (1, 1, 1),
        zset::zremrangebyscore,
    ),
    cmd("zremrangebylex", 4, WRITE, (1, 1, 1), zset::zremrangebylex),
    cmd("zpopmin", -2, WRITE | FAST, (1, 1, 1), zset::zpopmin),
    cmd("zpopmax", -2, WRITE | FAST, (1, 1, 1), zset::zpopmax),
    cmd("zmpop", -4, WRITE, (0, 0, 0), zset::zmpop),
    cmd("zunion", -3, READONLY, (0, 0, 0), zset::zunion),
    cmd("zinter", -3, READONLY, (0, 0, 0), zset::zinter),
    cmd("zdiff", -3, READONLY, (0, 0, 0), zset::zdiff),
    cmd(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        zset::zunionstore,
    ),
    cmd(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        zset::zinterstore,
    ),
    cmd(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        zset::zdiffstore,
    ),
    cmd("zintercard", -3, READONLY, (0, 0, 0), zset::zintercard),
    cmd("zrandmember", -2, READONLY, (1, 1, 1), zset::zrandmember),
    cmd("zscan", -3, READONLY, (1, 1, 1), zset::zscan),
];

/// The first checks of a call, which need only the table and the client (Redis's
/// processCommand before its ACL check): a known command, a known subcommand with its arity,
/// authentication (`open`: the default user needs no password), the command's arity. The
/// command's row, or the refusal in Redis's words. The engine makes them before every
/// command, and a session makes them itself while a busy script holds the engine.
pub(crate) fn check_call(
    client: &Client,
    args: &[Bytes],
    open: bool,
) -> Result<&'static Command, CmdError> {
    let name = args.first().map_or(&[][..], |n| &n[..]);
    let Some(command) = lookup(name) else {
        return Err(unknown_command(name, args));
    };
    if let Some(e) = subcommands::subcommand_error(command, args) {
        return Err(e);
    }
    if !client.authenticated && !open && command.flags & NO_AUTH == 0 {
        return Err(CmdError::Msg("NOAUTH Authentication required.".into()));
    }
    if !command.arity_ok(args.len()) {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{}' command",
            command.name
        )));
    }
    Ok(command)
}

/// `unknown command`, with the first arguments as Redis quotes them; out of line, so the
/// checks every command goes through stay small.
#[cold]
#[inline(never)]
fn unknown_command(name: &[u8], args: &[Bytes]) -> CmdError {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(name.get(..name.len().min(128)).unwrap_or_default())
    );
    for a in args.iter().skip(1) {
        if msg.len() >= 128 + 60 {
            break;
        }
        msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
    }
    CmdError::Msg(msg)
}

/// The INFO commandstats entry a refused call counts in (`rejected_calls`, as Redis's
/// `rejectCommand`): none for an unknown command, nor for an unknown subcommand, which Redis
/// counts nowhere.
pub(crate) fn rejected_key(args: &[Bytes]) -> Option<(&'static str, Option<&'static str>)> {
    let command = lookup(args.first()?)?;
    let key = subcommands::stat_key(command, args);
    (key.1.is_some() || args.len() <= 1 || !subcommands::is_container(command)).then_some(key)
}

/// A command Redis refuses inside MULTI (flagged `no-multi`) while the client is in one.
pub(crate) fn multi_refusal(client: &Client, command: &Command) -> Option<CmdError> {
    (client.multi.is_some() && command.flags & NO_MULTI != 0)
        .then(|| CmdError::err("Command not allowed inside a transaction"))
}

/// A command other than (P|S)SUBSCRIBE & co. from a RESP2 client in subscribed mode.
pub(crate) fn pubsub_refusal(client: &Client, command: &Command) -> Option<CmdError> {
    (client.resp == Version::Resp2
        && client.subscription_count() + client.shard_channels.len() > 0
        && command.flags & PUBSUB == 0)
        .then(|| {
            CmdError::err(format!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                command.name
            ))
        })
}

/// Every command the store knows: [`CORE`] and each family file's own rows, in one slice
/// built once.
pub(crate) fn commands() -> &'static [Command] {
    static ALL: OnceLock<Vec<Command>> = OnceLock::new();
    ALL.get_or_init(|| {
        [
            CORE,
            acl::COMMANDS,
            cluster::COMMANDS,
            config::COMMANDS,
            geo::COMMANDS,
            hll::COMMANDS,
            introspect::COMMANDS,
            migrate::COMMANDS,
            persist::COMMANDS,
            repl::COMMANDS,
            scripting::COMMANDS,
            sharded::COMMANDS,
            stream::COMMANDS,
        ]
        .iter()
        .flat_map(|family| family.iter().copied())
        .collect()
    })
}

/// Finds a command by name, in any case.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static Command> {
    static BY_NAME: OnceLock<HashMap<&'static [u8], &'static Command>> = OnceLock::new();
    let table = BY_NAME.get_or_init(|| commands().iter().map(|c| (c.name.as_bytes(), c)).collect());
    let mut lower = [0u8; 32];
    let dst = lower.get_mut(..name.len())?;
    dst.copy_from_slice(name);
    dst.make_ascii_lowercase();
    table.get(&*dst).copied()
}
