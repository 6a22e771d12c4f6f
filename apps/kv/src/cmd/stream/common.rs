//! What the stream commands share: id arguments parsed with Redis's errors, range bounds,
//! the NOGROUP error.

use crate::error::CmdError;
use crate::types::stream::{parse_id, StreamId};

/// An id argument Redis refuses.
pub(crate) fn invalid_id() -> CmdError {
    CmdError::err("Invalid stream ID specified as stream command argument")
}

/// A strict id (`-` and `+` refused), a missing sequence read as `missing_seq`.
pub(crate) fn strict_id(b: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id(b, missing_seq, true, false)
        .map(|p| p.id)
        .ok_or_else(invalid_id)
}

/// An id where `-` and `+` stand for the smallest and largest.
pub(crate) fn loose_id(b: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id(b, missing_seq, false, false)
        .map(|p| p.id)
        .ok_or_else(invalid_id)
}

/// A range bound: `(` makes it exclusive (then `-`/`+` are refused). Returns the id and
/// whether it is exclusive (`streamParseIntervalIDOrReply`).
fn interval_id(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    match b.split_first() {
        Some((b'(', rest)) if b.len() > 1 => Ok((strict_id(rest, missing_seq)?, true)),
        _ => Ok((loose_id(b, missing_seq)?, false)),
    }
}

/// The inclusive start of a range from its argument (an exclusive one moved up).
pub(crate) fn range_start(b: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = interval_id(b, 0)?;
    if ex {
        id.incr()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval"))
    } else {
        Ok(id)
    }
}

/// The inclusive end of a range from its argument (an exclusive one moved down).
pub(crate) fn range_end(b: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = interval_id(b, u64::MAX)?;
    if ex {
        id.decr()
            .ok_or_else(|| CmdError::err("invalid end ID for the interval"))
    } else {
        Ok(id)
    }
}

/// Redis's `NOGROUP` error with its text.
pub(crate) fn nogroup(text: String) -> CmdError {
    CmdError::Msg(format!("NOGROUP {text}"))
}
