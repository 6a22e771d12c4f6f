//! Stream commands: XADD, XRANGE, XREAD, consumer groups and the rest, as Redis 7.0 has them.

use super::Command;

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[];
