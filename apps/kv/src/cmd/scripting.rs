//! Scripting: EVAL and its relatives, SCRIPT, and FUNCTION/FCALL, on Lua 5.1 as Redis embeds
//! it.

use super::Command;

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[];
