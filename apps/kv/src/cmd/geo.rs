//! Geo commands: positions kept in sorted sets under 52-bit geohash scores, as Redis keeps
//! them.

use super::Command;

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[];
