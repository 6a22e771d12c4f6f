//! The scripting state kept between commands: the interpreters and EVAL's cache
//! ([`Scripting`]), taken out of `Shared` for the length of a command and put back.

use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use hashbrown::HashMap;
use mlua::Function;

use crate::cmd::ctx::Command;
use crate::shared::Shared;

use super::lua::{Live, Vm};

/// A script in EVAL's cache.
#[derive(Debug)]
pub(crate) struct CachedScript {
    /// Its shebang flags (`eval::COMPAT` when it has none).
    pub(super) flags: u32,
    /// The compiled body.
    pub(super) func: Function,
    /// The body's length (INFO's `used_memory_scripts_eval`).
    pub(super) len: usize,
}

/// The scripting state of a server: EVAL's interpreter and cache, FUNCTION's interpreter and
/// libraries, and what both share with a run in progress.
#[derive(Debug, Default)]
pub(crate) struct Scripting {
    pub(super) live: Rc<Live>,
    /// EVAL's interpreter, made on first use and dropped by SCRIPT FLUSH.
    pub(super) eval_vm: Option<Vm>,
    /// SHA-1 (lower case) → script; foldhash with a random seed (hashbrown's default), as the
    /// keyspace, where SipHash of the 40 bytes was a visible part of each EVALSHA.
    pub(super) scripts: HashMap<String, CachedScript>,
    /// FUNCTION's interpreter and libraries.
    pub(super) functions: Functions,
}

impl Scripting {
    /// EVAL's interpreter, made if there is none.
    pub(super) fn eval_vm(&mut self, commands: &'static [Command]) -> Result<&Vm, String> {
        if self.eval_vm.is_none() {
            let vm = Vm::new(self.live.clone(), commands, false).map_err(|e| e.to_string())?;
            self.eval_vm = Some(vm);
        }
        self.eval_vm.as_ref().ok_or_else(String::new)
    }
}

/// Takes the scripting state out of `shared` (a fresh one the first time).
pub(crate) fn take(shared: &mut Shared) -> Box<Scripting> {
    shared
        .scripting
        .take()
        .and_then(|b| b.downcast::<Scripting>().ok())
        .unwrap_or_default()
}

/// Puts the scripting state back.
pub(crate) fn put(shared: &mut Shared, state: Box<Scripting>) {
    shared.scripting = Some(state);
}

/// What INFO memory reports of scripting.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct ScriptingMemory {
    /// Scripts in EVAL's cache, and the bytes of their bodies (`used_memory_scripts_eval`).
    pub(crate) scripts: usize,
    pub(crate) script_bytes: usize,
    /// Functions and libraries loaded.
    pub(crate) functions: usize,
    pub(crate) libraries: usize,
    /// The bytes of the libraries' code (`used_memory_functions`).
    pub(crate) library_bytes: usize,
    /// What EVAL's and FUNCTION's Lua interpreters hold (`used_memory_vm_eval`,
    /// `used_memory_vm_functions`); 0 for one not made yet.
    pub(crate) vm_eval: usize,
    pub(crate) vm_functions: usize,
}

/// INFO's figures of scripting.
pub(crate) fn info(shared: &Shared) -> ScriptingMemory {
    let Some(state) = shared
        .scripting
        .as_ref()
        .and_then(|b| b.downcast_ref::<Scripting>())
    else {
        return ScriptingMemory::default();
    };
    let (functions, libraries) = state.functions.counts();
    let vm = |vm: Option<&Vm>| vm.map_or(0, |v| v.lua.used_memory());
    ScriptingMemory {
        scripts: state.scripts.len(),
        script_bytes: state.scripts.values().map(|s| s.len).sum(),
        functions,
        libraries,
        library_bytes: state
            .functions
            .libraries
            .values()
            .map(|l| l.code.len())
            .sum(),
        vm_eval: vm(state.eval_vm.as_ref()),
        vm_functions: vm(state.functions.vm.as_ref()),
    }
}

/// The arguments after `numkeys` split into keys and arguments, with Redis's errors for a
/// bad count; `bad_count` is the error for a count that is not a number (EVAL's and FCALL's
/// differ).
pub(crate) fn split_keys(
    args: &[Bytes],
    bad_count: crate::error::CmdError,
) -> Result<(&[Bytes], &[Bytes]), crate::error::CmdError> {
    let n = crate::cmd::args::int_arg(crate::cmd::args::arg(args, 2)).map_err(|_| bad_count)?;
    let rest = args.get(3..).unwrap_or_default();
    if n > rest.len() as i64 {
        return Err(crate::error::CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(crate::error::CmdError::err(
            "Number of keys can't be negative",
        ));
    }
    Ok(rest.split_at(n as usize))
}

/// A registered function.
#[derive(Debug)]
pub(super) struct FunctionInfo {
    pub(super) description: Option<Vec<u8>>,
    pub(super) flags: u32,
    pub(super) callback: Function,
}

/// A loaded library.
#[derive(Debug)]
pub(super) struct Library {
    /// The whole code, shebang included (FUNCTION LIST WITHCODE, DUMP).
    pub(super) code: Bytes,
    pub(super) functions: BTreeMap<String, FunctionInfo>,
}

/// FUNCTION's interpreter and libraries.
#[derive(Debug, Default)]
pub(super) struct Functions {
    pub(super) vm: Option<Vm>,
    pub(super) libraries: BTreeMap<String, Library>,
}

impl Functions {
    /// (functions, libraries).
    pub(super) fn counts(&self) -> (usize, usize) {
        let functions = self.libraries.values().map(|l| l.functions.len()).sum();
        (functions, self.libraries.len())
    }

    /// The interpreter, made if there is none.
    pub(super) fn vm(
        &mut self,
        live: &Rc<Live>,
        commands: &'static [Command],
    ) -> Result<&Vm, String> {
        if self.vm.is_none() {
            self.vm = Some(Vm::new(live.clone(), commands, true).map_err(|e| e.to_string())?);
        }
        self.vm.as_ref().ok_or_else(String::new)
    }

    /// The function called `name` and its library's name.
    pub(super) fn find(&self, name: &str) -> Option<&FunctionInfo> {
        self.libraries
            .values()
            .find_map(|lib| lib.functions.get(name))
    }
}
