//! Lua ⇄ RESP, as Redis 7.0 converts (script_lua.c): a command's reply to the Lua value
//! `redis.call` returns ([`frame_to_lua`]), a script's return value to the reply
//! ([`write_reply`]), the arguments of `redis.call` ([`lua_args`]) and error tables
//! ([`error_table`]).

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value};
use spindle_protocols::resp::{Frame, ReplyWriter};

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

/// Redis's `luaPushErrorBuff`: an error table `{err="CODE message"}` from `text` — `-CODE
/// message` (a reply's form; no space: code `ERR`) or a plain message, to which `ERR ` is
/// put before. Line ends around the message are trimmed.
pub(crate) fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let (code, msg): (&[u8], &[u8]) = match text.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&c| c == b' ') {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => (b"ERR", rest),
        },
        None => (b"ERR", text),
    };
    let is_crlf = |c: &u8| *c == b'\r' || *c == b'\n';
    let start = msg.iter().position(|c| !is_crlf(c)).unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|c| !is_crlf(c))
        .map_or(start, |i| i + 1);
    let msg = msg.get(start..end.max(start)).unwrap_or_default();
    let mut full = Vec::with_capacity(code.len() + 1 + msg.len());
    full.extend_from_slice(code);
    full.push(b' ');
    full.extend_from_slice(msg);
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(&full)?)?;
    Ok(t)
}

/// `redis.call`'s arguments as a command line: strings as they are, numbers as `%.17g`
/// (Lua's own `%.14g` would lose precision); anything else, or none, is refused in Redis's
/// words.
pub(crate) fn lua_args(args: &MultiValue) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    args.iter()
        .map(|v| match v {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => Ok(Bytes::from(format_g(*n as f64, 17))),
            Value::Number(n) => Ok(Bytes::from(format_g(*n, 17))),
            _ => Err("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// A one-field table `{name = value}`.
fn single(lua: &Lua, name: &str, value: impl mlua::IntoLua) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(name, value)?;
    Ok(Value::Table(t))
}

/// A command's reply as `redis.call` returns it (Redis's `redisProtocolToLuaType`): integers
/// as numbers, bulk strings as strings, a RESP2 null as `false` (RESP3's as `nil`), status
/// and error replies as `{ok=…}`/`{err=…}`, arrays as tables; under `redis.setresp(3)` also
/// `{map=…}`, `{set=…}` (members as keys of `true`), `{double=…}`, booleans,
/// `{big_number=…}` and `{verbatim_string={format=…, string=…}}`. Attributes are dropped.
pub(crate) fn frame_to_lua(lua: &Lua, frame: Frame, resp3: bool) -> mlua::Result<Value> {
    Ok(match frame {
        Frame::Integer(n) => Value::Number(n as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(&b)?),
        Frame::Null => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Frame::Simple(s) => single(lua, "ok", lua.create_string(&s)?)?,
        Frame::Error(e) => {
            let mut text = Vec::with_capacity(e.len() + 1);
            text.push(b'-');
            text.extend_from_slice(&e);
            Value::Table(error_table(lua, &text)?)
        }
        Frame::Array(items) | Frame::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, item, resp3)?)?;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            let inner = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                let k = frame_to_lua(lua, k, resp3)?;
                let v = frame_to_lua(lua, v, resp3)?;
                if !matches!(k, Value::Nil) {
                    inner.raw_set(k, v)?;
                }
            }
            single(lua, "map", inner)?
        }
        Frame::Set(items) => {
            let inner = lua.create_table_with_capacity(0, items.len())?;
            for item in items {
                let k = frame_to_lua(lua, item, resp3)?;
                if !matches!(k, Value::Nil) {
                    inner.raw_set(k, true)?;
                }
            }
            single(lua, "set", inner)?
        }
        Frame::Double(d) => single(lua, "double", d)?,
        Frame::Boolean(b) => Value::Boolean(b),
        Frame::BigNumber(n) => single(lua, "big_number", lua.create_string(&n)?)?,
        Frame::Verbatim { format, text } => {
            let inner = lua.create_table_with_capacity(0, 2)?;
            inner.raw_set("string", lua.create_string(&text)?)?;
            inner.raw_set("format", lua.create_string(format)?)?;
            single(lua, "verbatim_string", inner)?
        }
        Frame::Attribute { value, .. } => frame_to_lua(lua, *value, resp3)?,
    })
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
pub(crate) fn write_reply(
    w: &mut ReplyWriter<'_>,
    v: &Value,
    script_resp3: bool,
    depth: usize,
) -> mlua::Result<()> {
    if depth > MAX_DEPTH {
        w.error("reached lua stack limit");
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
        Value::Table(t) => write_table(w, t, script_resp3, depth)?,
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
) -> mlua::Result<()> {
    if let Some(text) = table_error(t)? {
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
            write_reply(w, k, script_resp3, depth + 1)?;
            write_reply(w, v, script_resp3, depth + 1)?;
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
            write_reply(w, k, script_resp3, depth + 1)?;
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
        write_reply(w, v, script_resp3, depth + 1)?;
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
