//! Lua ⇄ RESP, as Redis 7.0 converts (script_lua.c): a command's reply to the Lua value
//! `redis.call` returns ([`push_frame`]), a script's return value to the reply
//! ([`write_reply`]), the arguments of `redis.call` ([`lua_args`]) and error tables
//! ([`error_table`]).

use std::ffi::c_int;

use bytes::Bytes;
use mlua::ffi::{self, lua_State};
use mlua::{Lua, MultiValue, Table, Value};
use spindle_protocols::resp::{Frame, ReplyWriter};

/// The field marking an error table whose error was counted in INFO's error statistics when
/// it arose (Redis's name).
pub(crate) const COUNTED: &str = "ignore_error_stats_update";

/// C's `%.<precision>g`: `precision` significant digits, trailing zeros dropped, exponent
/// form when the exponent is below -4 or at least `precision`; `inf`, `-inf`, `nan` as glibc.
pub(crate) fn format_g(v: f64, precision: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.unsigned_abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

/// A Lua number as Lua 5.1 prints it (`%.14g`), as `tostring` and string coercion do.
pub(crate) fn lua_number_text(v: f64) -> String {
    format_g(v, 14)
}

/// C's `(long long)` of a double as x86-64 does it: truncation, and the least value for NaN
/// and anything out of range (a script returning `1e30` gets what redis-server answers).
pub(crate) fn to_long_long(v: f64) -> i64 {
    if (-TWO_63..TWO_63).contains(&v) {
        v as i64
    } else {
        i64::MIN
    }
}

/// 2⁶³, the first double past `i64::MAX`.
pub(crate) const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// Redis's `luaPushErrorBuff`: the code and message of an error table's `err` from `text` —
/// `-CODE message` (a reply's form; no space: code `ERR`) or a plain message, to which `ERR `
/// is put before. Line ends around the message are trimmed.
pub(crate) fn error_parts(text: &[u8]) -> (&[u8], &[u8]) {
    match text.strip_prefix(b"-") {
        Some(rest) => reply_error_parts(rest),
        None => (b"ERR", trim_line_ends(text)),
    }
}

/// [`error_parts`] of an error reply's text (`CODE message`, without the `-`).
pub(crate) fn reply_error_parts(text: &[u8]) -> (&[u8], &[u8]) {
    let (code, msg) = match text.iter().position(|&c| c == b' ') {
        Some(i) => (
            text.get(..i).unwrap_or_default(),
            text.get(i + 1..).unwrap_or_default(),
        ),
        None => (&b"ERR"[..], text),
    };
    (code, trim_line_ends(msg))
}

/// `msg` without the CR and LF around it.
fn trim_line_ends(msg: &[u8]) -> &[u8] {
    let is_crlf = |c: &u8| *c == b'\r' || *c == b'\n';
    let start = msg.iter().position(|c| !is_crlf(c)).unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|c| !is_crlf(c))
        .map_or(start, |i| i + 1);
    msg.get(start..end.max(start)).unwrap_or_default()
}

/// An error table `{err="CODE message"}` made of [`error_parts`] of `text`.
pub(crate) fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let (code, msg) = error_parts(text);
    let mut full = Vec::with_capacity(code.len() + 1 + msg.len());
    full.extend_from_slice(code);
    full.push(b' ');
    full.extend_from_slice(msg);
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(&full)?)?;
    Ok(t)
}

/// Pushes the error table `{err="CODE message"}` onto `state`'s stack, with
/// `ignore_error_stats_update = true` when `counted` (the error was counted in INFO's error
/// statistics when it arose).
///
/// # Safety
/// `state` is a Lua state running a C function (a memory error raises through it), with room
/// for 4 values on its stack.
pub(crate) unsafe fn push_error_table(
    state: *mut lua_State,
    code: &[u8],
    msg: &[u8],
    counted: bool,
) {
    ffi::lua_createtable(state, 0, 2);
    push_bytes(state, code);
    push_bytes(state, b" ");
    push_bytes(state, msg);
    ffi::lua_concat(state, 3);
    ffi::lua_setfield(state, -2, c"err".as_ptr());
    if counted {
        ffi::lua_pushboolean(state, 1);
        ffi::lua_setfield(state, -2, c"ignore_error_stats_update".as_ptr());
    }
}

/// Pushes `bytes` as a Lua string.
///
/// # Safety
/// As [`push_error_table`], with room for one value.
pub(crate) unsafe fn push_bytes(state: *mut lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
}

/// `redis.call`'s arguments as a command line: strings as they are, numbers as `%.17g`
/// (Lua's own `%.14g` would lose precision); anything else, or none, is refused in Redis's
/// words.
pub(crate) fn lua_args(args: &MultiValue) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err(NO_ARGS);
    }
    args.iter()
        .map(|v| match v {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => Ok(number_arg(*n as f64)),
            Value::Number(n) => Ok(number_arg(*n)),
            _ => Err(BAD_ARG),
        })
        .collect()
}

/// The refusal of a `redis.call` argument that is neither a string nor a number.
const BAD_ARG: &str = "Lua redis lib command arguments must be strings or integers";

/// The refusal of a `redis.call` without arguments.
const NO_ARGS: &str = "Please specify at least one argument for this redis lib call";

/// A number given to `redis.call`, as its argument: `%.17g`.
fn number_arg(n: f64) -> Bytes {
    Bytes::from(format_g(n, 17))
}

/// [`lua_args`] of the arguments of the running C function, read off its stack into `argv`
/// (emptied first): no value handles made for them.
///
/// # Safety
/// `state` is a Lua state running a C function. Nothing here raises a Lua error: strings are
/// read in place, numbers are not converted on the stack.
pub(crate) unsafe fn stack_args(
    state: *mut lua_State,
    argv: &mut Vec<Bytes>,
) -> Result<(), &'static str> {
    argv.clear();
    let n = ffi::lua_gettop(state);
    if n == 0 {
        return Err(NO_ARGS);
    }
    for i in 1..=n {
        match ffi::lua_type(state, i) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(state, i, &mut len);
                let bytes = if p.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(p.cast::<u8>(), len)
                };
                argv.push(Bytes::copy_from_slice(bytes));
            }
            ffi::LUA_TNUMBER => argv.push(number_arg(ffi::lua_tonumber(state, i))),
            _ => return Err(BAD_ARG),
        }
    }
    Ok(())
}

/// Pushes a command's reply as `redis.call` returns it (Redis's `redisProtocolToLuaType`):
/// integers as numbers, bulk strings as strings, a RESP2 null as `false` (RESP3's as `nil`),
/// status and error replies as `{ok=…}`/`{err=…}`, arrays as tables; under
/// `redis.setresp(3)` also `{map=…}`, `{set=…}` (members as keys of `true`), `{double=…}`,
/// booleans, `{big_number=…}` and `{verbatim_string={format=…, string=…}}`. Attributes are
/// dropped. Made on Lua's stack directly: no value handles, no protected call per value.
///
/// # Safety
/// `state` is a Lua state running a C function: a memory error (or a reply nested past the
/// stack's room) raises through it, so the caller's frame must own nothing to drop.
pub(crate) unsafe fn push_frame(state: *mut lua_State, frame: &Frame, resp3: bool) {
    ffi::luaL_checkstack(state, 4, c"reply nested too deep".as_ptr());
    match frame {
        Frame::Integer(n) => ffi::lua_pushnumber(state, *n as f64),
        Frame::Bulk(b) => push_bytes(state, b),
        Frame::Null => {
            if resp3 {
                ffi::lua_pushnil(state);
            } else {
                ffi::lua_pushboolean(state, 0);
            }
        }
        Frame::Simple(s) => {
            ffi::lua_createtable(state, 0, 1);
            push_bytes(state, s);
            ffi::lua_setfield(state, -2, c"ok".as_ptr());
        }
        Frame::Error(e) => {
            let (code, msg) = reply_error_parts(e);
            push_error_table(state, code, msg, false);
        }
        Frame::Array(items) | Frame::Push(items) => {
            ffi::lua_createtable(state, items.len().try_into().unwrap_or(0), 0);
            for (i, item) in items.iter().enumerate() {
                push_frame(state, item, resp3);
                ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
            }
        }
        Frame::Map(pairs) => {
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_createtable(state, 0, pairs.len().try_into().unwrap_or(0));
            for (k, v) in pairs {
                push_frame(state, k, resp3);
                push_frame(state, v, resp3);
                set_unless_nil_key(state);
            }
            ffi::lua_setfield(state, -2, c"map".as_ptr());
        }
        Frame::Set(items) => {
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_createtable(state, 0, items.len().try_into().unwrap_or(0));
            for item in items {
                push_frame(state, item, resp3);
                ffi::lua_pushboolean(state, 1);
                set_unless_nil_key(state);
            }
            ffi::lua_setfield(state, -2, c"set".as_ptr());
        }
        Frame::Double(d) => {
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_pushnumber(state, *d);
            ffi::lua_setfield(state, -2, c"double".as_ptr());
        }
        Frame::Boolean(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
        Frame::BigNumber(n) => {
            ffi::lua_createtable(state, 0, 1);
            push_bytes(state, n);
            ffi::lua_setfield(state, -2, c"big_number".as_ptr());
        }
        Frame::Verbatim { format, text } => {
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_createtable(state, 0, 2);
            push_bytes(state, text);
            ffi::lua_setfield(state, -2, c"string".as_ptr());
            push_bytes(state, format);
            ffi::lua_setfield(state, -2, c"format".as_ptr());
            ffi::lua_setfield(state, -2, c"verbatim_string".as_ptr());
        }
        Frame::Attribute { value, .. } => push_frame(state, value, resp3),
    }
}

/// `t[k] = v` of the key and value on top of the stack into the table below them, both popped;
/// a `nil` key (a RESP3 null) is dropped.
///
/// # Safety
/// As [`push_frame`].
unsafe fn set_unless_nil_key(state: *mut lua_State) {
    if ffi::lua_type(state, -2) == ffi::LUA_TNIL {
        ffi::lua_pop(state, 2);
    } else {
        ffi::lua_rawset(state, -3);
    }
}

/// How deep a returned table may nest before its element is answered with Redis's "reached
/// lua stack limit" (a table that contains itself would otherwise never end).
const MAX_DEPTH: usize = 1000;

/// Text for a status, big number or error line: CR and LF as spaces.
fn line_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

/// A script's return value as the reply (Redis's `luaReplyToRedisReply`): strings as bulk
/// strings, numbers truncated to integers, `true` as 1 and `false` as a null under RESP2
/// scripts (booleans under `redis.setresp(3)`), and tables as `{err=…}` (an error reply),
/// `{ok=…}` (a status), `{double=…}`, `{big_number=…}`, `{verbatim_string=…}`, `{map=…}`,
/// `{set=…}`, else an array of the elements up to the first `nil`. Anything else is a null.
/// `on_error` is told of each error written inside the reply, and whether INFO's error
/// statistics counted it already (a command's error a script caught and returned).
pub(crate) fn write_reply(
    w: &mut ReplyWriter<'_>,
    v: &Value,
    script_resp3: bool,
    depth: usize,
    on_error: &mut dyn FnMut(&str, bool),
) -> mlua::Result<()> {
    if depth > MAX_DEPTH {
        const TEXT: &str = "reached lua stack limit";
        on_error(TEXT, false);
        w.error(TEXT);
        return Ok(());
    }
    match v {
        Value::String(s) => w.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp3 {
                w.boolean(*b);
            } else if *b {
                w.int(1);
            } else {
                w.null();
            }
        }
        Value::Integer(n) => w.int(*n),
        Value::Number(n) => w.int(to_long_long(*n)),
        Value::Table(t) => write_table(w, t, script_resp3, depth, on_error)?,
        _ => w.null(),
    }
    Ok(())
}

/// The error reply a `{err=…}` table stands for (its text, trailing line ends cut, other
/// line ends as spaces); `None` for any other table.
pub(crate) fn table_error(t: &Table) -> mlua::Result<Option<String>> {
    let Value::String(e) = t.raw_get::<Value>("err")? else {
        return Ok(None);
    };
    let text: Value = t.get("err")?;
    let msg = match text {
        Value::String(s) => s.as_bytes().to_vec(),
        _ => e.as_bytes().to_vec(),
    };
    let end = msg
        .iter()
        .rposition(|c| *c != b'\r' && *c != b'\n')
        .map_or(0, |i| i + 1);
    Ok(Some(line_text(msg.get(..end).unwrap_or_default())))
}

/// [`write_reply`] of a table, in Redis's order of checks.
fn write_table(
    w: &mut ReplyWriter<'_>,
    t: &Table,
    script_resp3: bool,
    depth: usize,
    on_error: &mut dyn FnMut(&str, bool),
) -> mlua::Result<()> {
    if let Some(text) = table_error(t)? {
        on_error(&text, t.raw_get::<bool>(COUNTED).unwrap_or(false));
        w.error(&text);
        return Ok(());
    }
    if let Value::String(s) = t.raw_get::<Value>("ok")? {
        w.simple(&line_text(&s.as_bytes()));
        return Ok(());
    }
    match t.raw_get::<Value>("double")? {
        Value::Number(d) => {
            w.double(d);
            return Ok(());
        }
        Value::Integer(d) => {
            w.double(d as f64);
            return Ok(());
        }
        _ => {}
    }
    if let Value::String(s) = t.raw_get::<Value>("big_number")? {
        w.big_number(&line_text(&s.as_bytes()));
        return Ok(());
    }
    if let Value::Table(v) = t.raw_get::<Value>("verbatim_string")? {
        if let (Value::String(format), Value::String(text)) =
            (v.raw_get::<Value>("format")?, v.raw_get::<Value>("string")?)
        {
            let f = format.as_bytes();
            let mut fmt = [b' '; 3];
            for (slot, c) in fmt.iter_mut().zip(f.iter()) {
                *slot = *c;
            }
            w.verbatim(&fmt, &text.as_bytes());
            return Ok(());
        }
    }
    if let Value::Table(m) = t.raw_get::<Value>("map")? {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
        w.map_len(pairs.len());
        for (k, v) in &pairs {
            write_reply(w, k, script_resp3, depth + 1, on_error)?;
            write_reply(w, v, script_resp3, depth + 1, on_error)?;
        }
        return Ok(());
    }
    if let Value::Table(s) = t.raw_get::<Value>("set")? {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .map(|p| p.map(|(k, _)| k))
            .collect::<mlua::Result<_>>()?;
        w.set_len(keys.len());
        for k in &keys {
            write_reply(w, k, script_resp3, depth + 1, on_error)?;
        }
        return Ok(());
    }
    let mut items = Vec::new();
    loop {
        let v: Value = t.raw_get(items.len() + 1)?;
        if matches!(v, Value::Nil) {
            break;
        }
        items.push(v);
    }
    w.array_len(items.len());
    for v in &items {
        write_reply(w, v, script_resp3, depth + 1, on_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_g_is_printf() {
        for (v, p, want) in [
            (1.0, 17, "1"),
            (0.1, 17, "0.10000000000000001"),
            (3.5, 17, "3.5"),
            (1e18, 17, "1e+18"),
            (123456789012345678.0, 17, "1.2345678901234568e+17"),
            (1e16, 17, "10000000000000000"),
            (0.0001, 14, "0.0001"),
            (0.00001, 14, "1e-05"),
            (-2.5, 14, "-2.5"),
            (1.0 / 3.0, 14, "0.33333333333333"),
            (100.0, 14, "100"),
            (1e100, 14, "1e+100"),
            (f64::INFINITY, 14, "inf"),
        ] {
            assert_eq!(format_g(v, p), want, "{v} %.{p}g");
        }
    }

    #[test]
    fn error_tables_take_the_code_from_the_reply() {
        let lua = Lua::new();
        let text = |t: Table| t.raw_get::<String>("err").unwrap();
        assert_eq!(
            text(error_table(&lua, b"-WRONGTYPE Operation").unwrap()),
            "WRONGTYPE Operation"
        );
        assert_eq!(text(error_table(&lua, b"-bad").unwrap()), "ERR bad");
        assert_eq!(
            text(error_table(&lua, b"plain words\r\n").unwrap()),
            "ERR plain words"
        );
    }

    #[test]
    fn numbers_truncate_as_c_does() {
        assert_eq!(to_long_long(3.99), 3);
        assert_eq!(to_long_long(-3.99), -3);
        assert_eq!(to_long_long(1e30), i64::MIN);
        assert_eq!(to_long_long(f64::NAN), i64::MIN);
    }
}
