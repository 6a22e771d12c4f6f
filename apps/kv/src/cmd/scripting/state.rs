//! The scripting state kept between commands: the interpreters and EVAL's cache
//! ([`Scripting`]), taken out of `Shared` for the length of a command and put back.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use bytes::Bytes;
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
    /// SHA-1 (lower case) → script.
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

/// INFO's figures: (cached scripts, bytes of their bodies, functions, libraries).
pub(crate) fn info(shared: &Shared) -> (usize, usize, usize, usize) {
    let Some(state) = shared
        .scripting
        .as_ref()
        .and_then(|b| b.downcast_ref::<Scripting>())
    else {
        return (0, 0, 0, 0);
    };
    let bytes = state.scripts.values().map(|s| s.len).sum();
    let (functions, libraries) = state.functions.counts();
    (state.scripts.len(), bytes, functions, libraries)
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
