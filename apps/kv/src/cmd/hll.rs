//! HyperLogLog commands: cardinality estimates kept in string values in Redis's own sparse
//! and dense representations.

use super::Command;

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[];
