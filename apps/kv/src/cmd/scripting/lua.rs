//! The Lua 5.1 interpreter as Redis 7.0 sets it up for scripts ([`Vm`]): the libraries it
//! loads (base, table, string, math, and Redis's `cjson`, `cmsgpack`, `bit`, `struct`), the
//! `redis` API, Redis's `math.random`, and the sandbox.
//!
//! # The sandbox
//!
//! Redis patches Lua with read-only tables and locks the globals and every table reachable
//! from them. Stock Lua has no such flag, so the same rules are kept with proxies: the
//! globals scripts see (`_G`) are an empty table whose metatable reads through to the real
//! ones and refuses every write ("Attempt to modify a readonly table"), and a read of a name
//! that is not there is an error ("Script attempted to access nonexistent global variable");
//! each library table is such a proxy too, and `rawset`/`setmetatable` refuse the proxies.
//! (What differs: `pairs(string)` and its kin see an empty table.) `io`, `os`, `package`,
//! `debug`, `print`, `dofile` and `loadfile` are not there, as in Redis 7.0.15, and the table
//! the base library's C functions keep as their environment is emptied, so nothing reaches
//! them that way.
//!
//! # Errors raised by native functions
//!
//! A Rust function raises an error by returning `Err`, which mlua raises as its own error
//! value; the natives put the position of the calling line before their message, as C's
//! `luaL_error` does ([`raise`]). Redis raises some errors as tables (`{err=…}`: a failed
//! `redis.call`); a native raising one keeps the table aside and raises a marker
//! ([`raise_table`]), which the error handler and the `pcall`/`xpcall` the scripts see turn
//! back into the table ([`error_value`]).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use mlua::ffi::{self, lua_State};
use mlua::{
    Function, HookTriggers, Lua, LuaOptions, MultiValue, RegistryKey, StdLib, Table, Value, VmState,
};
use spindle_protocols::resp::Frame;

use super::convert::{
    error_parts, error_table, lua_args, lua_number_text, push_bytes, push_error_table, push_frame,
    reply_error_parts, stack_args,
};
use super::libs;
use super::sha1::sha1_hex;
use crate::cmd::Command;
use crate::config::REDIS_VERSION;

/// Redis's `REDIS_VERSION_NUM` for [`REDIS_VERSION`] (0x00MMmmpp).
fn version_num() -> f64 {
    let mut parts = REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    f64::from((a << 16) | (b << 8) | c)
}

/// The name of the chunk holding the setup's Lua functions, skipped when an error's line is
/// looked for.
pub(crate) const INTERNAL_CHUNK: &str = "=redis";

/// The message of the error a native raises in place of an error table.
const TABLE_MARKER: &str = "\u{1}redis error table";

/// The error table a native raised, until the handler or `pcall` takes it.
#[derive(Debug, Default)]
struct PendingError(Option<Table>);

/// What `redis.call`, `redis.pcall` and the run's hook reach during a run: the runner of the
/// commands of the run in progress.
pub(crate) trait Dispatch {
    /// Runs one command line for the script (`resp3`: `redis.setresp(3)` is on; `repl`:
    /// `redis.set_repl`'s flags); its reply as a frame, or the text of the refusal of the
    /// call itself (unknown command, arity, ACL, a write in a read-only script).
    fn command(&mut self, argv: &[Bytes], resp3: bool, repl: u8) -> Result<Frame, String>;

    /// Whether the calling client's user may run `argv` (`redis.acl_check_cmd`).
    fn may_run(&mut self, argv: &[Bytes]) -> bool;

    /// Called by the hook while the run is past `busy-reply-threshold` (Redis's
    /// `scriptInterrupt`): lets the other connections be served meanwhile.
    fn interrupt(&mut self);

    /// `busy-reply-threshold` in milliseconds (0: the run is never timed out). Read by the
    /// hook when it fires rather than per run: no other command can change it during a run.
    fn threshold_ms(&self) -> u64;

    /// SCRIPT KILL / FUNCTION KILL was asked for while the run was past the threshold.
    fn kill_requested(&self) -> bool;

    /// The run's name in logs (the SHA-1 for EVAL, the function's name for FCALL).
    fn script_name(&self) -> &str;
}

/// What the natives and the hook share with the run in progress: set before a script runs,
/// read by `redis.setresp`, `math.random` and the others, which exist once per interpreter.
#[derive(Debug)]
pub(crate) struct Live {
    /// A script is running (the natives that need one refuse otherwise).
    pub(crate) running: Cell<bool>,
    /// `redis.setresp(3)` was called in this run.
    pub(crate) resp3: Cell<bool>,
    /// `redis.set_repl`'s flags (1 AOF, 2 replicas).
    pub(crate) repl: Cell<u8>,
    /// Redis's `redisLrand48` state (48 bits), shared by both interpreters and kept across
    /// runs as Redis keeps it for the life of the process.
    pub(crate) rand: Cell<u64>,
    /// SCRIPT KILL / FUNCTION KILL asked the running script to stop.
    pub(crate) killed: Cell<bool>,
    /// When the running script started.
    pub(crate) started: Cell<Option<Instant>>,
    /// The run went past `busy-reply-threshold`.
    pub(crate) timed_out: Cell<bool>,
    /// The functions `redis.register_function` collected while a library loads (`None`
    /// outside FUNCTION LOAD).
    pub(crate) loading: RefCell<Option<Vec<Registered>>>,
    /// The runner `redis.call` uses, set for the length of a run by [`Live::dispatching`]
    /// (`None` outside a run, and while a call is in progress). A pointer rather than a
    /// closure made per run: the natives exist once per interpreter, and a run's state
    /// borrows the caller's context, which a `'static` closure cannot hold.
    dispatch: Cell<Option<NonNull<dyn Dispatch>>>,
    /// `redis.call`'s command line, kept between calls for its allocation.
    argv: RefCell<Vec<Bytes>>,
    /// The buffer the script's commands write their replies into, kept between runs for its
    /// allocation.
    pub(crate) reply_buf: RefCell<BytesMut>,
    /// A panic of a command run by `redis.call`, raised as a Lua error through the script
    /// and resumed once the run is back in Rust.
    panic: RefCell<Option<Box<dyn Any + Send>>>,
}

/// Keeps a runner in [`Live`]'s slot; taking it out again when dropped (on every way out of
/// the run, unwinding included) is what makes the pointer there valid while it is set.
#[derive(Debug)]
pub(crate) struct Dispatching<'d> {
    live: &'d Live,
    /// The runner stays mutably borrowed for as long as it is in the slot.
    _runner: std::marker::PhantomData<&'d mut ()>,
}

impl Drop for Dispatching<'_> {
    fn drop(&mut self) {
        self.live.dispatch.set(None);
    }
}

impl Default for Live {
    fn default() -> Self {
        Live {
            running: Cell::new(false),
            resp3: Cell::new(false),
            repl: Cell::new(3),
            rand: Cell::new(0x1234_ABCD_330E),
            killed: Cell::new(false),
            started: Cell::new(None),
            timed_out: Cell::new(false),
            loading: RefCell::new(None),
            dispatch: Cell::new(None),
            argv: RefCell::new(Vec::new()),
            reply_buf: RefCell::new(BytesMut::new()),
            panic: RefCell::new(None),
        }
    }
}

impl Live {
    /// Makes `runner` what `redis.call` and `redis.pcall` run commands with until the guard
    /// returned is dropped.
    pub(crate) fn dispatching<'d>(
        &'d self,
        runner: &'d mut (dyn Dispatch + 'd),
    ) -> Dispatching<'d> {
        let ptr: NonNull<dyn Dispatch + 'd> = NonNull::from(runner);
        // SAFETY: only the lifetime bound of the trait object is erased. The pointer is
        // dereferenced only by `with_dispatch`, which takes it out of the slot for the length
        // of the use (so no two `&mut` to the runner exist), and the slot is emptied when the
        // guard drops, which is before `'d` ends: the guard holds `runner`'s mutable borrow
        // for `'d`, so nothing else reaches the runner meanwhile.
        let ptr: NonNull<dyn Dispatch + 'static> = unsafe { std::mem::transmute(ptr) };
        self.dispatch.set(Some(ptr));
        Dispatching {
            live: self,
            _runner: std::marker::PhantomData,
        }
    }

    /// Runs `f` with the runner of the run in progress; `None` outside a run (or inside a
    /// call already running, which cannot be re-entered).
    pub(crate) fn with_dispatch<T>(&self, f: impl FnOnce(&mut dyn Dispatch) -> T) -> Option<T> {
        let mut ptr = self.dispatch.take()?;
        // SAFETY: the pointer is in the slot only while the `Dispatching` guard that put it
        // there lives, and so the runner with it (see `dispatching`); it is out of the slot
        // while `f` runs, so this is the only reference to the runner.
        let out = f(unsafe { ptr.as_mut() });
        self.dispatch.set(Some(ptr));
        Some(out)
    }

    /// Redis's `redisLrand48`: the next 31-bit value of the 48-bit generator.
    pub(crate) fn lrand48(&self) -> i32 {
        const A: u64 = 0x5_DEEC_E66D;
        const C: u64 = 0xB;
        let x = self.rand.get().wrapping_mul(A).wrapping_add(C) & ((1 << 48) - 1);
        self.rand.set(x);
        (x >> 17) as i32
    }

    /// Redis's `redisSrand48`.
    pub(crate) fn srand48(&self, seed: i32) {
        self.rand.set((u64::from(seed as u32) << 16) | 0x330E);
    }
}

/// A function a library registered while it loaded.
#[derive(Debug)]
pub(crate) struct Registered {
    pub(crate) name: String,
    pub(crate) description: Option<Vec<u8>>,
    pub(crate) flags: u32,
    pub(crate) callback: RegistryKey,
}

/// One interpreter with Redis's environment.
#[derive(Debug)]
pub(crate) struct Vm {
    pub(crate) lua: Lua,
    /// What the natives and the hook share with the run in progress.
    live: Rc<Live>,
    /// FUNCTION's interpreter (the hook's log names FUNCTION KILL), not EVAL's.
    functions_mode: bool,
    /// The globals scripts see: empty, reading through its metatable, refusing writes.
    pub(crate) globals: Table,
    /// Its metatable (FUNCTION LOAD points `__index` at the library API while it runs).
    pub(crate) globals_meta: Table,
    /// What the globals read through to: the builtins, libraries and `redis`; EVAL's `KEYS`
    /// and `ARGV` are set here (by `run_eval`).
    pub(crate) backing: Table,
    /// The error handler given to `xpcall`: the error as a table, with the script's line.
    pub(crate) handler: Function,
    /// `xpcall(f, handler)` with the keys and arguments (an [`Arrays`] pointer) made the
    /// globals `KEYS` and `ARGV` (set from Lua: cheaper than two table stores made from Rust).
    run_eval: Function,
    /// `xpcall(function() return f(keys, args) end, handler)`, given the same.
    run_function: Function,
    /// The globals of a library while it loads (functions only): `redis` with
    /// `register_function`, `log` and the version.
    pub(crate) library_api: Option<Table>,
}

/// The Lua side of the setup: builds the protected globals from what the libraries left,
/// wraps the natives, and empties the table the C functions keep as their environment.
const SETUP: &str = r#"
local N, functions_mode = ...
local _G0 = _G
local error, type, tostring, pairs, next = error, type, tostring, pairs, next
local orawset, osetmetatable, opcall, oxpcall = rawset, setmetatable, pcall, xpcall

local protected = osetmetatable({}, {__mode = 'k'})
local function readonly() error('Attempt to modify a readonly table', 2) end
local function missing(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local function protect(t)
  local p = osetmetatable({}, {__index = t, __newindex = readonly, __metatable = false})
  protected[p] = true
  return p
end
local function library(natives)
  local t = {}
  for k, v in pairs(natives) do t[k] = v end
  return t
end

local G = {}
for _, name in ipairs({'xpcall', 'tostring', 'getfenv', 'setmetatable', 'next', 'assert',
    'tonumber', 'rawequal', 'collectgarbage', 'getmetatable', 'rawset', 'pcall', 'type',
    'select', 'unpack', 'gcinfo', 'pairs', 'rawget', 'loadstring', 'ipairs', '_VERSION',
    'setfenv', 'load', 'error', 'newproxy'}) do
  G[name] = _G0[name]
end

G.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return orawset(t, k, v)
end
G.setmetatable = function(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return osetmetatable(t, mt)
end
local error_value = N.error_value
local function fixpcall(ok, ...)
  if not ok then
    local e = ...
    if type(e) == 'userdata' then e = error_value(e) end
    if type(e) == 'table' then
      local m = e.err
      if type(m) == 'string' or type(m) == 'number' then return false, m end
    end
    return false, e
  end
  return ok, ...
end
G.pcall = function(...) return fixpcall(opcall(...)) end
G.xpcall = function(f, h)
  return oxpcall(f, function(e)
    if type(e) == 'userdata' then e = error_value(e) end
    return h(e)
  end)
end

local math = {}
for k, v in pairs(_G0.math) do math[k] = v end
math.random = N.random
math.randomseed = N.randomseed
G.math = protect(math)
local string = protect(_G0.string)
G.string = string
getmetatable('').__index = string
G.table = protect(_G0.table)
G.coroutine = protect(_G0.coroutine)
G.cjson = protect(library(N.cjson))
G.cmsgpack = protect(library(N.cmsgpack))
G.bit = protect(library(N.bit))
G.struct = protect(library(N.struct))

local function logging(t)
  t.log = N.log
  t.LOG_DEBUG, t.LOG_VERBOSE, t.LOG_NOTICE, t.LOG_WARNING = 0, 1, 2, 3
  t.REDIS_VERSION = N.version
  t.REDIS_VERSION_NUM = N.version_num
  return t
end

local redis = logging({
  call = N.call,
  pcall = N.pcall,
  setresp = N.setresp,
  sha1hex = N.sha1hex,
  error_reply = N.error_reply,
  status_reply = N.status_reply,
  set_repl = N.set_repl,
  acl_check_cmd = N.acl_check_cmd,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
})
if not functions_mode then
  redis.breakpoint = function() return false end
  redis.debug = function() end
  redis.replicate_commands = function() return true end
end
G.redis = protect(redis)

local library_api = nil
if functions_mode then
  local lib_redis = logging({register_function = N.register_function})
  osetmetatable(lib_redis, {__index = missing})
  local api = {redis = protect(lib_redis)}
  osetmetatable(api, {__index = missing})
  library_api = protect(api)
end

osetmetatable(G, {__index = missing})
local P_meta = {__index = G, __newindex = readonly, __metatable = false}
local P = osetmetatable({}, P_meta)
protected[P] = true
G._G = P

local arrays = N.arrays
local run_eval = function(f, handler, p)
  G.KEYS, G.ARGV = arrays(p)
  return oxpcall(f, handler)
end
local run_function = function(f, handler, p)
  local keys, args = arrays(p)
  return oxpcall(function() return f(keys, args) end, handler)
end

local names = {}
for k in next, _G0 do names[#names + 1] = k end
for _, k in ipairs(names) do _G0[k] = nil end

return P, P_meta, G, run_eval, run_function, library_api
"#;

impl Vm {
    /// A new interpreter sharing `live` with its natives; `functions_mode` sets up FUNCTION's
    /// (the library API for FUNCTION LOAD; no `redis.breakpoint`/`debug`/
    /// `replicate_commands`, which only EVAL has).
    pub(crate) fn new(
        live: Rc<Live>,
        commands: &'static [Command],
        functions_mode: bool,
    ) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let natives = natives(&lua, live.clone(), commands)?;
        lua.set_app_data(PendingError::default());
        let (globals, globals_meta, backing, run_eval, run_function, library_api): (
            Table,
            Table,
            Table,
            Function,
            Function,
            Option<Table>,
        ) = lua
            .load(SETUP)
            .set_name(INTERNAL_CHUNK)
            .call((natives, functions_mode))?;
        lua.set_globals(globals.clone())?;
        let handler = lua.create_function(error_handler)?;
        let vm = Vm {
            lua,
            live,
            functions_mode,
            globals,
            globals_meta,
            backing,
            handler,
            run_eval,
            run_function,
            library_api,
        };
        vm.install_hook();
        Ok(vm)
    }

    /// Installs the hook that watches a run's clock, once per interpreter (installing it per
    /// run cost a boxed closure and a protected call each time); it does nothing outside a
    /// run or while `busy-reply-threshold` is 0. Past the threshold it logs the slow script
    /// once, then on each call has the run interrupt (the loop serves the other clients:
    /// [`Dispatch::interrupt`], reached through [`Live`]'s slot as `redis.call` reaches the
    /// run), and once SCRIPT KILL / FUNCTION KILL asked for it ends the script, swapping in
    /// [`killed_hook`] (the runner puts this one back after the run).
    pub(crate) fn install_hook(&self) {
        let l = self.live.clone();
        let functions_mode = self.functions_mode;
        let _ = self.lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |lua, _| {
                if !l.running.get() {
                    return Ok(VmState::Continue);
                }
                if !l.timed_out.get() {
                    // `None` while a command of the script runs: no Lua runs then, so no hook.
                    let threshold = l.with_dispatch(|d| d.threshold_ms()).unwrap_or(0);
                    if threshold == 0 {
                        return Ok(VmState::Continue);
                    }
                    let elapsed = l.started.get().map_or(0, |s| s.elapsed().as_millis() as u64);
                    if elapsed < threshold {
                        return Ok(VmState::Continue);
                    }
                    l.timed_out.set(true);
                    l.with_dispatch(|d| {
                        log::warn!(
                            "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
                            if functions_mode { "FUNCTION KILL" } else { "SCRIPT KILL" },
                            d.script_name()
                        );
                    });
                }
                let kill = l
                    .with_dispatch(|d| {
                        d.interrupt();
                        d.kill_requested()
                    })
                    .unwrap_or(false);
                if kill && !l.killed.get() {
                    log::warn!("Lua script killed by user with SCRIPT KILL.");
                    l.killed.set(true);
                }
                if l.killed.get() {
                    let _ = lua.set_hook(HookTriggers::EVERY_LINE, killed_hook);
                    return Err(mlua::Error::RuntimeError(KILLED.into()));
                }
                Ok(VmState::Continue)
            },
        );
    }

    /// Runs `func` (an EVAL body, or a function's callback given `keys` and `args`) under the
    /// error handler: xpcall's status and the script's first value (any further values are
    /// dropped, as Redis takes only the top one). The call is made on Lua's stack directly:
    /// the keys and arguments go to the wrapper as one pointer, from which [`push_arrays`]
    /// makes their tables, with no value handle per string and no protected call per value.
    pub(crate) fn call_script(
        &self,
        func: &Function,
        keys: &[Bytes],
        args: &[Bytes],
    ) -> mlua::Result<(bool, Value)> {
        let wrapper = if self.functions_mode {
            &self.run_function
        } else {
            &self.run_eval
        };
        let arrays = Arrays { keys, args };
        let result = self.lua.exec_raw_lua(|raw| {
            // SAFETY: the stack is checked for the 4 values pushed, and put back as it was on
            // every way out; the pointer to `arrays` is read only during the call.
            unsafe {
                let state = raw.state();
                let top = ffi::lua_gettop(state);
                if ffi::lua_checkstack(state, 4) == 0 {
                    return Err(mlua::Error::StackError);
                }
                let pushed = raw
                    .push(wrapper)
                    .and_then(|()| raw.push(func))
                    .and_then(|()| raw.push(&self.handler));
                if let Err(e) = pushed {
                    ffi::lua_settop(state, top);
                    return Err(e);
                }
                ffi::lua_pushlightuserdata(state, (&raw const arrays).cast_mut().cast());
                let out = if ffi::lua_pcall(state, 3, 2, 0) == 0 {
                    let value = raw.pop_value();
                    Ok((ffi::lua_toboolean(state, -1) != 0, value))
                } else {
                    Err(lua_error(raw.pop_value()))
                };
                ffi::lua_settop(state, top);
                out
            }
        });
        if let Some(payload) = self.live.panic.borrow_mut().take() {
            std::panic::resume_unwind(payload);
        }
        result
    }

    /// Compiles `source` as a chunk named `name` (`@user_script`, `@user_function`) in the
    /// sandbox's globals; the error is Lua's message.
    pub(crate) fn compile(&self, source: &[u8], name: &str) -> Result<Function, String> {
        self.lua
            .load(source)
            .set_name(name)
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_environment(self.globals.clone())
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }
}

/// How often (in Lua instructions) the running script's clock is looked at, as Redis's hook;
/// past the threshold, how often the loop gets a nested turn (Redis's `scriptInterrupt`).
const HOOK_EVERY: u32 = 100_000;

/// The error a killed script gets.
const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// The hook a killed script gets: every line of the script raises again, so `pcall` cannot
/// hold it. Lines of the sandbox's own Lua wrappers (`pcall`'s) are let through: Redis's
/// `pcall` is C, so its error is always raised from a line of the script, which the error
/// handler then names.
fn killed_hook(_: &Lua, debug: &mlua::debug::Debug<'_>) -> mlua::Result<VmState> {
    if debug.source().source.as_deref() == Some(INTERNAL_CHUNK) {
        return Ok(VmState::Continue);
    }
    Err(mlua::Error::RuntimeError(KILLED.into()))
}

/// The error handler (Redis's `__redis__err__handler`): turns the error into a table
/// `{err=…}` ("ERR " before a plain message) and adds the `source` and `line` of the
/// innermost Lua function of the script — skipping C functions and the API's wrappers.
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let err = match err {
        Value::Error(e) => error_value(lua, &e)?,
        other => other,
    };
    let table = match err {
        Value::Table(t) => t,
        other => {
            let text = match &other {
                Value::String(s) => s.to_string_lossy(),
                Value::Integer(n) => lua_number_text(*n as f64),
                Value::Number(n) => lua_number_text(*n),
                Value::Error(e) => match e.as_ref() {
                    mlua::Error::RuntimeError(m) => m.clone(),
                    mlua::Error::CallbackError { cause, .. } => cause.to_string(),
                    e => e.to_string(),
                },
                Value::Nil => "nil".to_string(),
                Value::Boolean(b) => b.to_string(),
                v => format!("{}: {:p}", v.type_name(), v.to_pointer()),
            };
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {text}"))?;
            t
        }
    };
    let mut level = 1;
    while let Some(found) = lua.inspect_stack(level, |d| {
        let source = d.source();
        let what = source.what;
        let name = source.source.map(|s| s.into_owned());
        if what == "C" || name.as_deref() == Some(INTERNAL_CHUNK) {
            None
        } else {
            Some((name, d.current_line()))
        }
    }) {
        if let Some((source, line)) = found {
            if let Some(source) = source {
                table.set("source", source)?;
            }
            if let Some(line) = line {
                table.set("line", line as f64)?;
            }
            break;
        }
        level += 1;
    }
    Ok(table)
}

/// A native's single result.
fn ok(lua: &Lua, v: impl mlua::IntoLua) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![v.into_lua(lua)?]))
}

/// `luaL_where(L, 1)`: `source:line: ` of the Lua function calling the running native, or
/// nothing when a C function called it.
fn caller_position(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let line = d.current_line()?;
        let source = d.source().short_src?.into_owned();
        Some(format!("{source}:{line}: "))
    })
    .flatten()
    .unwrap_or_default()
}

/// Raises `msg` from a native, with the caller's position as `luaL_error` puts it.
pub(crate) fn raise<T>(lua: &Lua, msg: &str) -> mlua::Result<T> {
    Err(mlua::Error::RuntimeError(format!(
        "{}{msg}",
        caller_position(lua)
    )))
}

/// Raises Redis's error table `{err="ERR <msg>"}` from a native.
pub(crate) fn raise_table<T>(lua: &Lua, msg: &str) -> mlua::Result<T> {
    raise_error_table(lua, error_table(lua, msg.as_bytes())?)
}

/// Raises `table` as the error from a native.
pub(crate) fn raise_error_table<T>(lua: &Lua, table: Table) -> mlua::Result<T> {
    if let Some(mut pending) = lua.app_data_mut::<PendingError>() {
        pending.0 = Some(table);
    }
    Err(mlua::Error::RuntimeError(TABLE_MARKER.into()))
}

/// The error value Lua code should see for an error a native raised: its error table, or
/// its message.
pub(crate) fn error_value(lua: &Lua, e: &mlua::Error) -> mlua::Result<Value> {
    let mut e = e;
    while let mlua::Error::CallbackError { cause, .. } = e {
        e = cause.as_ref();
    }
    Ok(match e {
        mlua::Error::RuntimeError(m) if m == TABLE_MARKER => {
            let table = lua
                .app_data_mut::<PendingError>()
                .and_then(|mut p| p.0.take());
            match table {
                Some(t) => Value::Table(t),
                None => Value::String(lua.create_string("ERR unknown error")?),
            }
        }
        mlua::Error::RuntimeError(m) => {
            // A call made from Rust has mlua's traceback after the message.
            let m = m.split("\nstack traceback:").next().unwrap_or_default();
            Value::String(lua.create_string(m)?)
        }
        other => Value::String(lua.create_string(other.to_string())?),
    })
}

/// The number Lua's `tonumber` would see in `v` (strings included), as `lua_isnumber`.
fn as_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => {
            let text = s.to_str().ok()?;
            let t = text.trim();
            if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
            }
            t.parse::<f64>().ok()
        }
        _ => None,
    }
}

/// Lua's `luaL_checkint` for the natives that take one: the number truncated, or Lua's
/// "bad argument" message.
fn check_int(v: Option<&Value>, index: usize, fname: &str) -> Result<i32, String> {
    match as_number(v) {
        Some(n) => Ok(n as i64 as i32),
        None => Err(format!(
            "bad argument #{index} to '{fname}' (number expected, got {})",
            v.map_or("no value", |v| match v {
                Value::Nil => "nil",
                other => other.type_name(),
            })
        )),
    }
}

/// The natives the setup chunk wraps: the `redis` API that needs no running command, Redis's
/// `math.random`, and the libraries.
fn natives(lua: &Lua, live: Rc<Live>, commands: &'static [Command]) -> mlua::Result<Table> {
    let n = lua.create_table()?;
    n.set("version", REDIS_VERSION)?;
    n.set(
        "error_value",
        lua.create_function(|lua, e: Value| match e {
            Value::Error(e) => error_value(lua, &e),
            other => Ok(other),
        })?,
    )?;
    n.set("version_num", version_num())?;
    n.set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return raise_table(lua, "wrong number of arguments");
            }
            let text: Vec<u8> = match args.front() {
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                Some(Value::Integer(i)) => lua_number_text(*i as f64).into_bytes(),
                Some(Value::Number(f)) => lua_number_text(*f).into_bytes(),
                _ => Vec::new(),
            };
            ok(lua, sha1_hex(&text))
        })?,
    )?;
    n.set(
        "error_reply",
        lua.create_function(|lua, args: MultiValue| {
            let t = match (args.len(), args.front()) {
                (1, Some(Value::String(s))) => {
                    let s = s.as_bytes();
                    let mut text = Vec::with_capacity(s.len() + 1);
                    if s.first() != Some(&b'-') {
                        text.push(b'-');
                    }
                    text.extend_from_slice(&s);
                    error_table(lua, &text)?
                }
                _ => error_table(lua, b"wrong number or type of arguments")?,
            };
            ok(lua, t)
        })?,
    )?;
    n.set(
        "status_reply",
        lua.create_function(|lua, args: MultiValue| {
            let t = match (args.len(), args.front()) {
                (1, Some(Value::String(s))) => {
                    let t = lua.create_table()?;
                    t.raw_set("ok", s.clone())?;
                    t
                }
                _ => error_table(lua, b"wrong number or type of arguments")?,
            };
            ok(lua, t)
        })?,
    )?;
    n.set(
        "log",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() < 2 {
                return raise_table(lua, "redis.log() requires two arguments or more.");
            }
            let Some(level) = as_number(args.front()) else {
                return raise_table(lua, "First argument must be a number (log level).");
            };
            let level = level as i64;
            if !(0..=3).contains(&level) {
                return raise_table(lua, "Invalid debug level.");
            }
            let mut text = String::new();
            for (i, v) in args.iter().enumerate().skip(1) {
                let part = match v {
                    Value::String(s) => s.to_string_lossy(),
                    Value::Integer(n) => lua_number_text(*n as f64),
                    Value::Number(n) => lua_number_text(*n),
                    _ => continue,
                };
                if i != 1 {
                    text.push(' ');
                }
                text.push_str(&part);
            }
            match level {
                0 => log::debug!("{text}"),
                1 => log::debug!("{text}"),
                2 => log::info!("{text}"),
                _ => log::warn!("{text}"),
            }
            ok(lua, Value::Nil)
        })?,
    )?;
    let l = live.clone();
    n.set(
        "setresp",
        lua.create_function(move |lua, args: MultiValue| {
            if !l.running.get() {
                return raise_table(
                    lua,
                    "redis.setresp can only be called inside a script invocation",
                );
            }
            if args.len() != 1 {
                return raise_table(lua, "redis.setresp() requires one argument.");
            }
            match as_number(args.front()).map(|n| n as i64) {
                Some(2) => l.resp3.set(false),
                Some(3) => l.resp3.set(true),
                _ => return raise_table(lua, "RESP version must be 2 or 3."),
            }
            ok(lua, Value::Nil)
        })?,
    )?;
    let l = live.clone();
    n.set(
        "set_repl",
        lua.create_function(move |lua, args: MultiValue| {
            if !l.running.get() {
                return raise_table(
                    lua,
                    "redis.set_repl can only be called inside a script invocation",
                );
            }
            if args.len() != 1 {
                return raise_table(lua, "redis.set_repl() requires two arguments.");
            }
            let flags = as_number(args.front()).map_or(0, |n| n as i64);
            if flags & !3 != 0 {
                return raise_table(
                    lua,
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            l.repl.set(flags as u8);
            ok(lua, Value::Nil)
        })?,
    )?;
    let l = live.clone();
    n.set(
        "acl_check_cmd",
        lua.create_function(move |lua, args: MultiValue| {
            if !l.running.get() {
                return raise_table(
                    lua,
                    "redis.acl_check_cmd can only be called inside a script invocation",
                );
            }
            let argv = match lua_args(&args) {
                Ok(argv) => argv,
                Err(e) => return raise_table(lua, e),
            };
            let name = argv
                .first()
                .map(|b| b.to_ascii_lowercase())
                .unwrap_or_default();
            if !commands.iter().any(|c| c.name.as_bytes() == name) {
                return raise_table(lua, "Invalid command passed to redis.acl_check_cmd()");
            }
            match l.with_dispatch(|d| d.may_run(&argv)) {
                Some(allowed) => ok(lua, allowed),
                None => raise_table(
                    lua,
                    "redis.acl_check_cmd can only be called inside a script invocation",
                ),
            }
        })?,
    )?;
    let l = live.clone();
    n.set(
        "random",
        lua.create_function(move |lua, args: MultiValue| {
            if !l.running.get() {
                return raise(
                    lua,
                    "math.random can only be called inside a script invocation",
                );
            }
            const MAX: i32 = i32::MAX;
            let r = f64::from(l.lrand48() % MAX) / f64::from(MAX);
            let v = match args.len() {
                0 => r,
                1 => {
                    let u = match check_int(args.front(), 1, "random") {
                        Ok(u) => u,
                        Err(e) => return raise(lua, &e),
                    };
                    if u < 1 {
                        return raise(lua, "bad argument #1 to 'random' (interval is empty)");
                    }
                    (r * f64::from(u)).floor() + 1.0
                }
                2 => {
                    let lo = match check_int(args.front(), 1, "random") {
                        Ok(v) => v,
                        Err(e) => return raise(lua, &e),
                    };
                    let hi = match check_int(args.get(1), 2, "random") {
                        Ok(v) => v,
                        Err(e) => return raise(lua, &e),
                    };
                    if lo > hi {
                        return raise(lua, "bad argument #2 to 'random' (interval is empty)");
                    }
                    (r * (f64::from(hi) - f64::from(lo) + 1.0)).floor() + f64::from(lo)
                }
                _ => return raise(lua, "wrong number of arguments"),
            };
            ok(lua, v)
        })?,
    )?;
    let l = live.clone();
    n.set(
        "randomseed",
        lua.create_function(move |lua, args: MultiValue| {
            if !l.running.get() {
                return raise(
                    lua,
                    "math.randomseed can only be called inside a script invocation",
                );
            }
            match check_int(args.front(), 1, "randomseed") {
                Ok(seed) => l.srand48(seed),
                Err(e) => return raise(lua, &e),
            }
            ok(lua, Value::Nil)
        })?,
    )?;
    let live_ptr = Rc::as_ptr(&live).cast_mut().cast::<c_void>();
    for (name, native) in [
        ("call", redis_call as ffi::lua_CFunction),
        ("pcall", redis_pcall),
    ] {
        // SAFETY: the closure's upvalue points at `live`, which the interpreter's `Vm` holds
        // (and drops after the interpreter).
        let f: Function = unsafe {
            lua.exec_raw((), |state| {
                ffi::lua_pushlightuserdata(state, live_ptr);
                ffi::lua_pushcclosure(state, native, 1);
            })?
        };
        n.set(name, f)?;
    }
    // SAFETY: `push_arrays` checks its argument and raises only memory errors.
    n.set("arrays", unsafe { lua.create_c_function(push_arrays)? })?;
    let l = live;
    n.set(
        "register_function",
        lua.create_function(move |lua, args: MultiValue| {
            if l.loading.borrow().is_none() {
                return raise_table(
                    lua,
                    "redis.register_function can only be called on FUNCTION LOAD command",
                );
            }
            let registered = match read_registration(lua, &args) {
                Ok(r) => r,
                Err(e) => return raise_table(lua, &e),
            };
            let mut loading = l.loading.borrow_mut();
            let Some(list) = loading.as_mut() else {
                return ok(lua, Value::Nil);
            };
            if !valid_name(registered.name.as_bytes()) {
                return raise_table(
                    lua,
                    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
                );
            }
            if list.iter().any(|f| f.name == registered.name) {
                return raise_table(lua, "Function already exists in the library");
            }
            list.push(registered);
            ok(lua, Value::Nil)
        })?,
    )?;
    n.set("cjson", libs::cjson::natives(lua)?)?;
    n.set("cmsgpack", libs::cmsgpack::natives(lua)?)?;
    n.set("bit", libs::bit::natives(lua)?)?;
    n.set("struct", libs::structs::natives(lua)?)?;
    Ok(n)
}

/// The keys and arguments of a run, handed to the Lua wrapper as a light userdata for
/// [`push_arrays`].
struct Arrays<'a> {
    keys: &'a [Bytes],
    args: &'a [Bytes],
}

/// The wrappers' `arrays(p)`: the tables of the keys and of the arguments an [`Arrays`]
/// pointer holds (Redis's `luaCreateArray`, twice); nothing for anything else.
unsafe extern "C-unwind" fn push_arrays(state: *mut lua_State) -> c_int {
    if ffi::lua_type(state, 1) != ffi::LUA_TLIGHTUSERDATA {
        return 0;
    }
    // SAFETY: only the wrappers reach this function (the scripts cannot: it is an upvalue of
    // theirs), and they pass the pointer `Vm::call_script` made, valid during the call.
    let Some(arrays) = ffi::lua_touserdata(state, 1).cast::<Arrays<'_>>().as_ref() else {
        return 0;
    };
    push_array(state, arrays.keys);
    push_array(state, arrays.args);
    2
}

/// Pushes a table of `items`, in order.
///
/// # Safety
/// `state` is running a C function, with room for 2 values.
unsafe fn push_array(state: *mut lua_State, items: &[Bytes]) {
    ffi::lua_createtable(state, items.len().try_into().unwrap_or(0), 0);
    for (i, item) in items.iter().enumerate() {
        push_bytes(state, item);
        ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
    }
}

/// The error of a failed protected call, as mlua's error.
fn lua_error(value: Value) -> mlua::Error {
    match value {
        Value::Error(e) => *e,
        Value::String(s) => mlua::Error::RuntimeError(s.to_string_lossy()),
        other => mlua::Error::RuntimeError(format!("{other:?}")),
    }
}

/// What a `redis.call` came to, before its Lua value is made.
enum Outcome {
    /// The command's reply.
    Reply(Frame),
    /// The call was refused (already counted in INFO's error statistics).
    Refused(String),
    /// The arguments were no command line.
    BadArgs(&'static str),
    /// No script is running.
    NoRun,
    /// The command panicked (the payload is in [`Live`], resumed after the run).
    Panicked,
}

/// `redis.call`.
unsafe extern "C-unwind" fn redis_call(state: *mut lua_State) -> c_int {
    call_native(state, true)
}

/// `redis.pcall`.
unsafe extern "C-unwind" fn redis_pcall(state: *mut lua_State) -> c_int {
    call_native(state, false)
}

/// `redis.call` (`raise`) or `redis.pcall` (Redis's `luaRedisGenericCommand`): the reply as
/// a Lua value. An error reply is raised as its error table under `redis.call` and returned
/// under `redis.pcall`, and so is a refusal of the call itself; bad arguments are the same.
/// Outside a run both raise. A C function reading its arguments off the stack and pushing
/// the reply there (mlua's callbacks gather the arguments into value handles and push each
/// value through a protected call).
///
/// # Safety
/// Called by Lua as a C closure whose upvalue is its interpreter's [`Live`].
unsafe fn call_native(state: *mut lua_State, raise: bool) -> c_int {
    // SAFETY: see `natives`, where the closure is made.
    let Some(live) = ffi::lua_touserdata(state, ffi::lua_upvalueindex(1))
        .cast::<Live>()
        .as_ref()
    else {
        return 0;
    };
    let resp3 = live.resp3.get();
    let outcome =
        match std::panic::catch_unwind(AssertUnwindSafe(|| dispatch_native(state, live, resp3))) {
            Ok(outcome) => outcome,
            Err(payload) => {
                *live.panic.borrow_mut() = Some(payload);
                Outcome::Panicked
            }
        };
    // Lua may raise from here on (a memory error, or the error of `redis.call` on purpose),
    // which jumps over this frame: it owns nothing that needs dropping meanwhile.
    let mut outcome = ManuallyDrop::new(outcome);
    let raises = push_outcome(state, &outcome, resp3, raise);
    // SAFETY: dropped once, and not used after.
    ManuallyDrop::drop(&mut outcome);
    if raises {
        ffi::lua_error(state)
    } else {
        1
    }
}

/// Reads the command line off the stack and runs it through the run's [`Dispatch`].
///
/// # Safety
/// As [`call_native`]; nothing here raises a Lua error.
unsafe fn dispatch_native(state: *mut lua_State, live: &Live, resp3: bool) -> Outcome {
    let mut argv = std::mem::take(&mut *live.argv.borrow_mut());
    let outcome = match stack_args(state, &mut argv) {
        Err(e) => Outcome::BadArgs(e),
        Ok(()) => {
            let repl = live.repl.get();
            match live.with_dispatch(|d| d.command(&argv, resp3, repl)) {
                None => Outcome::NoRun,
                Some(Ok(frame)) => Outcome::Reply(frame),
                Some(Err(refusal)) => Outcome::Refused(refusal),
            }
        }
    };
    argv.clear();
    *live.argv.borrow_mut() = argv;
    outcome
}

/// Pushes what `outcome` gives the script: the reply's value, or an error table; whether it
/// is to be raised. Errors of the call were counted when they arose: their tables say so, so
/// that the script's reply does not count them again (Redis's `ignore_error_stats_update`).
///
/// # Safety
/// As [`call_native`]; may raise a memory error.
unsafe fn push_outcome(state: *mut lua_State, outcome: &Outcome, resp3: bool, raise: bool) -> bool {
    ffi::luaL_checkstack(state, 4, ptr::null());
    let (code, msg, counted, raises) = match outcome {
        Outcome::Reply(Frame::Error(e)) => {
            let (code, msg) = reply_error_parts(e);
            (code, msg, true, raise)
        }
        Outcome::Reply(frame) => {
            push_frame(state, frame, resp3);
            return false;
        }
        Outcome::Refused(text) => {
            let (code, msg) = error_parts(text.as_bytes());
            (code, msg, true, raise)
        }
        Outcome::BadArgs(text) => {
            let (code, msg) = error_parts(text.as_bytes());
            (code, msg, false, raise)
        }
        Outcome::NoRun => {
            let (code, msg) =
                error_parts(b"redis.call/pcall can only be called inside a script invocation");
            (code, msg, false, true)
        }
        Outcome::Panicked => {
            let (code, msg) = error_parts(b"the command failed unexpectedly");
            (code, msg, false, true)
        }
    };
    push_error_table(state, code, msg, counted);
    raises
}

/// Redis's function and library names: letters, digits and `_`, at least one.
pub(crate) fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The flags a function may declare, with their bits, in Redis's order (FUNCTION LIST shows
/// them so).
pub(crate) const SCRIPT_FLAGS: &[(&str, u32)] = &[
    ("no-writes", 1),
    ("allow-oom", 2),
    ("allow-stale", 4),
    ("no-cluster", 8),
    ("allow-cross-slot-keys", 16),
];

/// `redis.register_function`'s arguments, positional (`name, callback`) or named (a table
/// of `function_name`, `callback`, `flags`, `description`), checked as Redis checks them.
fn read_registration(lua: &Lua, args: &MultiValue) -> Result<Registered, String> {
    let callback_key = |f: &Function| {
        lua.create_registry_value(f.clone())
            .map_err(|e| e.to_string())
    };
    match args.len() {
        2 => {
            let name = match args.front() {
                Some(Value::String(s)) => s.to_string_lossy(),
                Some(Value::Integer(n)) => lua_number_text(*n as f64),
                Some(Value::Number(n)) => lua_number_text(*n),
                _ => {
                    return Err("first argument to redis.register_function must be a string".into())
                }
            };
            let Some(Value::Function(f)) = args.get(1) else {
                return Err("second argument to redis.register_function must be a function".into());
            };
            Ok(Registered {
                name,
                description: None,
                flags: 0,
                callback: callback_key(f)?,
            })
        }
        1 => {
            let Some(Value::Table(t)) = args.front() else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into());
            };
            let (mut name, mut description, mut flags, mut callback) = (None, None, 0, None);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                let key =
                    match &k {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Integer(n) => lua_number_text(*n as f64),
                        Value::Number(n) => lua_number_text(*n),
                        _ => return Err(
                            "named argument key given to redis.register_function is not a string"
                                .into(),
                        ),
                    };
                let text = |v: &Value| match v {
                    Value::String(s) => Some(s.as_bytes().to_vec()),
                    Value::Integer(n) => Some(lua_number_text(*n as f64).into_bytes()),
                    Value::Number(n) => Some(lua_number_text(*n).into_bytes()),
                    _ => None,
                };
                match key.to_ascii_lowercase().as_str() {
                    "function_name" => {
                        name = Some(text(&v).ok_or("function_name argument given to redis.register_function must be a string")?);
                    }
                    "description" => {
                        description = Some(text(&v).ok_or("description argument given to redis.register_function must be a string")?);
                    }
                    "callback" => {
                        let Value::Function(f) = &v else {
                            return Err("callback argument given to redis.register_function must be a function".into());
                        };
                        callback = Some(callback_key(f)?);
                    }
                    "flags" => {
                        let Value::Table(list) = &v else {
                            return Err("flags argument to redis.register_function must be a table representing function flags".into());
                        };
                        flags = 0;
                        for flag in list.sequence_values::<Value>() {
                            let flag = flag.map_err(|e| e.to_string())?;
                            let bit = text(&flag).and_then(|f| {
                                SCRIPT_FLAGS
                                    .iter()
                                    .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(&f))
                                    .map(|(_, b)| *b)
                            });
                            flags |= bit.ok_or("unknown flag given")?;
                        }
                    }
                    _ => return Err("unknown argument given to redis.register_function".into()),
                }
            }
            let name = name.ok_or("redis.register_function must get a function name argument")?;
            let callback =
                callback.ok_or("redis.register_function must get a callback argument")?;
            Ok(Registered {
                name: String::from_utf8_lossy(&name).into_owned(),
                description,
                flags,
                callback,
            })
        }
        _ => Err("wrong number of arguments to redis.register_function".into()),
    }
}
