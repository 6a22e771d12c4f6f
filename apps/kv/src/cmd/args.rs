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

/// Parses a decimal i64 as Redis's `string2ll` does (`ERR value is not an integer or out of
/// range`): its canonical form only, so `-0`, `01`, `+1` and ` 1` are refused.
pub(crate) fn int_arg(b: &[u8]) -> Result<i64, CmdError> {
    crate::types::value::canonical_int(b).ok_or(CmdError::NotInteger)
}

/// Parses a SCAN cursor as Redis's `parseScanCursorOrReply` (C's `strtoul`, the whole text):
/// an optional sign then decimal digits, a negative one wrapping around (`-1` is the largest
/// cursor), the empty text reading 0; a leading space, anything after the digits or a value
/// past 2^64 - 1 is `ERR invalid cursor`.
pub(crate) fn cursor_arg(b: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    if b.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let magnitude: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(invalid)?;
    Ok(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
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

/// When an expiry of `n` units (`unit_ms` milliseconds each) falls, in unix milliseconds:
/// after `now` when `relative` (EX, PX, SETEX…), else absolute (EXAT, PXAT). `None` where Redis
/// answers "invalid expire time": `n <= 0`, or a time beyond a signed 64-bit millisecond count
/// (`getExpireMillisecondsOrReply`).
pub(crate) fn expire_at(n: i64, unit_ms: i64, relative: bool, now: u64) -> Option<u64> {
    if n <= 0 {
        return None;
    }
    let ms = n.checked_mul(unit_ms)?;
    let at = if relative {
        ms.checked_add(i64::try_from(now).ok()?)?
    } else {
        ms
    };
    u64::try_from(at).ok()
}

/// The least a reply spends on one bulk string (`$0\r\n\r\n`).
pub(crate) const MIN_BULK_REPLY: u64 = 6;

/// Refuses a reply of `picks` random draws of at least `least_per_pick` bytes each (the
/// negative counts of SRANDMEMBER, HRANDFIELD, ZRANDMEMBER) whose smallest possible size is
/// over `limit` bytes (`proto-max-bulk-len`). Redis streams such a reply as it draws; here it
/// is built whole in the output buffer first, so the count is bounded by what the reply would
/// cost at the least.
pub(crate) fn check_repeat_reply(picks: u64, least_per_pick: u64, limit: usize) -> CmdResult {
    let least = picks.saturating_mul(least_per_pick);
    if least > limit as u64 {
        return Err(CmdError::err(
            "value is out of range, the reply would exceed proto-max-bulk-len",
        ));
    }
    Ok(())
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

/// A subcommand's syntax error (`addReplySubcommandSyntaxError`).
pub(crate) fn subcommand_syntax(args: &[Bytes]) -> CmdError {
    let sub = arg(args, 1);
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub.get(..sub.len().min(128)).unwrap_or_default()),
        String::from_utf8_lossy(arg(args, 0)).to_ascii_uppercase()
    ))
}

/// The help reply of a container command (`addReplyHelp`).
pub(crate) fn reply_help(ctx: &mut crate::cmd::ctx::Ctx<'_, '_>, name: &str, lines: &[&str]) {
    ctx.out.array_len(lines.len() + 3);
    ctx.out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}
