//! Argument parsing and reply helpers shared by the command families.

use std::borrow::Cow;

use bytes::Bytes;
use spindle_protocols::resp::{format_int, ReplyWriter};

use crate::error::CmdError;
use crate::types::value::Value;

use super::ctx::CmdResult;

/// Argument `i`, or empty when missing (the table's arity check makes that rare).
pub(crate) fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| b)
}

/// Parses a decimal i64 as Redis does (`ERR value is not an integer or out of range`).
pub(crate) fn int_arg(b: &[u8]) -> Result<i64, CmdError> {
    std::str::from_utf8(b)
        .ok()
        .filter(|s| !s.starts_with('+') && !s.is_empty() && !s.starts_with(' '))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(CmdError::NotInteger)
}

/// Parses a float as Redis does (`inf`, `-inf`, `+inf` accepted; NaN refused).
pub(crate) fn float_arg(b: &[u8]) -> Result<f64, CmdError> {
    let s = std::str::from_utf8(b).map_err(|_| CmdError::NotFloat)?;
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ if s.is_empty()
            || s.starts_with(char::is_whitespace)
            || s.ends_with(char::is_whitespace) =>
        {
            return Err(CmdError::NotFloat)
        }
        _ => s.parse::<f64>().map_err(|_| CmdError::NotFloat)?,
    };
    if v.is_nan() {
        return Err(CmdError::NotFloat);
    }
    Ok(v)
}

/// True if `arg` equals `word`, ignoring ASCII case.
pub(crate) fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Writes a string value's bytes as a bulk reply.
pub(crate) fn reply_string(out: &mut ReplyWriter<'_>, v: &Value) -> CmdResult {
    match v {
        Value::Str(s) => out.bulk(s),
        Value::Int(n) => out.bulk(format_int(*n).as_bytes()),
        _ => return Err(CmdError::WrongType),
    }
    Ok(())
}

/// The string value of `v` as bytes (integers formatted), or WRONGTYPE.
pub(crate) fn string_bytes(v: &Value) -> Result<Cow<'_, [u8]>, CmdError> {
    match v {
        Value::Str(s) => Ok(Cow::Borrowed(s.as_bytes())),
        Value::Int(n) => Ok(Cow::Owned(format_int(*n).as_bytes().to_vec())),
        _ => Err(CmdError::WrongType),
    }
}

/// Refuses a string that would grow past `limit` bytes (`proto-max-bulk-len`) when `append`
/// bytes are written at `size`, with Redis's text (`checkStringLength`).
pub(crate) fn check_string_length(size: u64, append: u64, limit: usize) -> CmdResult {
    match size.checked_add(append) {
        Some(total) if total <= limit as u64 => Ok(()),
        _ => Err(CmdError::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}
