//! `cjson` (lua-cjson 2.1 as Redis 7.0 bundles it, default configuration): `encode`,
//! `decode` and `null`. Numbers are written `%.14g`, `/` is escaped, a table is an array when
//! every key is a positive integer (and not excessively sparse), JSON `null` decodes to
//! `cjson.null`, and the errors are lua-cjson's.

use std::ffi::c_void;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::super::convert::format_g;
use super::super::lua::raise;

/// Deepest nesting either way, as lua-cjson's defaults.
const MAX_DEPTH: usize = 1000;

/// `cjson.null`: a NULL light userdata.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut::<c_void>()))
}

/// The library's natives.
pub(crate) fn natives(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return raise(lua, "bad argument #1 to 'encode' (expected 1 argument)");
            }
            let mut out = Vec::new();
            match encode(args.front().unwrap_or(&Value::Nil), 0, &mut out) {
                Ok(()) => Ok(MultiValue::from_vec(vec![Value::String(
                    lua.create_string(&out)?,
                )])),
                Err(e) => raise(lua, &e),
            }
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return raise(lua, "bad argument #1 to 'decode' (expected 1 argument)");
            }
            let text: Vec<u8> = match args.front() {
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                Some(Value::Integer(n)) => format_g(*n as f64, 14).into_bytes(),
                Some(Value::Number(n)) => format_g(*n, 14).into_bytes(),
                other => {
                    let got = match other {
                        None => "no value",
                        Some(Value::Nil) => "nil",
                        Some(v) => v.type_name(),
                    };
                    return raise(
                        lua,
                        &format!("bad argument #1 to 'decode' (string expected, got {got})"),
                    );
                }
            };
            match decode(lua, &text) {
                Ok(v) => Ok(MultiValue::from_vec(vec![v])),
                Err(e) => raise(lua, &e),
            }
        })?,
    )?;
    t.set("null", null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

/// `Cannot serialise <type>: <reason>`.
fn cannot(v: &Value, reason: &str) -> String {
    format!("Cannot serialise {}: {reason}", v.type_name())
}

/// Appends a string with lua-cjson's escapes.
fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=31 | 127 => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// Appends a number, refusing NaN and infinities.
fn encode_number(v: &Value, n: f64, out: &mut Vec<u8>) -> Result<(), String> {
    if !n.is_finite() {
        return Err(cannot(v, "must not be NaN or Inf"));
    }
    out.extend_from_slice(format_g(n, 14).as_bytes());
    Ok(())
}

/// The array length of `t` (lua-cjson's `lua_array_length`): the largest key when every
/// key is an integer ≥ 1, `None` for an object; an error for an excessively sparse array.
fn array_length(t: &Table) -> Result<Option<usize>, String> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n >= 1.0 && n.floor() == n {
            max = max.max(n as usize);
            items += 1;
        } else {
            return Ok(None);
        }
    }
    if max > items * 2 && max > 10 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(Some(max))
}

/// Appends `v` as JSON.
fn encode(v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Integer(n) => encode_number(v, *n as f64, out)?,
        Value::Number(n) => encode_number(v, *n, out)?,
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                        encode(&item, depth, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, item) = pair.map_err(|e| e.to_string())?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::Integer(n) => {
                                out.push(b'"');
                                encode_number(&k, *n as f64, out)?;
                                out.extend_from_slice(b"\":");
                            }
                            Value::Number(n) => {
                                out.push(b'"');
                                encode_number(&k, *n, out)?;
                                out.extend_from_slice(b"\":");
                            }
                            Value::String(s) => {
                                encode_string(&s.as_bytes(), out);
                                out.push(b':');
                            }
                            other => {
                                return Err(cannot(other, "table key must be a number or string"))
                            }
                        }
                        encode(&item, depth, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(cannot(other, "type not supported")),
    }
    Ok(())
}

/// A token of lua-cjson's scanner.
#[derive(Debug)]
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    /// An error, with lua-cjson's words for it.
    Error(&'static str),
}

impl Token {
    /// lua-cjson's name of a token in "Expected … but found …".
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(e) => e,
        }
    }
}

/// lua-cjson's `json_is_invalid_number` for text not starting with `-` or a digit: `+…`,
/// `inf…` and `nan…` (any case), which only `strtod` reads.
fn invalid_number(rest: &[u8]) -> bool {
    let lower: Vec<u8> = rest.iter().take(3).map(u8::to_ascii_lowercase).collect();
    rest.first() == Some(&b'+') || lower == b"inf" || lower == b"nan"
}

/// The decoder's position over the text (a NUL byte ends it, as in C).
struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    /// The next token and the index it starts at.
    fn next(&mut self) -> (Token, usize) {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let c = self.at(self.pos);
        let single = match c {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            0 => return (Token::End, start),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            return (t, start);
        }
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let token = match c {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b'+' | b'i' | b'I' | b'n' | b'N' if invalid_number(rest) => self.number(),
            _ if rest.starts_with(b"true") => {
                self.pos += 4;
                Token::Bool(true)
            }
            _ if rest.starts_with(b"false") => {
                self.pos += 5;
                Token::Bool(false)
            }
            _ if rest.starts_with(b"null") => {
                self.pos += 4;
                Token::Null
            }
            _ => Token::Error("invalid token"),
        };
        let at = if matches!(token, Token::Error(_)) {
            self.pos
        } else {
            start
        };
        (token, at)
    }

    /// A number as `strtod` reads it (lua-cjson accepts its extra forms: `+1`, hex, `inf`,
    /// `nan`, leading zeros).
    fn number(&mut self) -> Token {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let mut i = 0;
        let at = |i: usize| rest.get(i).copied().unwrap_or(0);
        if matches!(at(i), b'+' | b'-') {
            i += 1;
        }
        let body = rest.get(i..).unwrap_or_default();
        let lower: Vec<u8> = body.iter().take(8).map(u8::to_ascii_lowercase).collect();
        let negative = at(0) == b'-';
        let special = if lower.starts_with(b"infinity") {
            Some((8, f64::INFINITY))
        } else if lower.starts_with(b"inf") {
            Some((3, f64::INFINITY))
        } else if lower.starts_with(b"nan") {
            Some((3, f64::NAN))
        } else {
            None
        };
        if let Some((len, v)) = special {
            self.pos += i + len;
            return Token::Num(if negative { -v } else { v });
        }
        if at(i) == b'0' && matches!(at(i + 1), b'x' | b'X') && at(i + 2).is_ascii_hexdigit() {
            let mut j = i + 2;
            let mut v = 0f64;
            while at(j).is_ascii_hexdigit() {
                v = v * 16.0 + f64::from(char::from(at(j)).to_digit(16).unwrap_or(0));
                j += 1;
            }
            self.pos += j;
            return Token::Num(if negative { -v } else { v });
        }
        let digits_start = i;
        while at(i).is_ascii_digit() {
            i += 1;
        }
        let mut mantissa_digits = i - digits_start;
        if at(i) == b'.' {
            let mut j = i + 1;
            while at(j).is_ascii_digit() {
                j += 1;
            }
            mantissa_digits += j - i - 1;
            if mantissa_digits > 0 {
                i = j;
            }
        }
        if mantissa_digits == 0 {
            return Token::Error("invalid number");
        }
        if matches!(at(i), b'e' | b'E') {
            let mut j = i + 1;
            if matches!(at(j), b'+' | b'-') {
                j += 1;
            }
            if at(j).is_ascii_digit() {
                while at(j).is_ascii_digit() {
                    j += 1;
                }
                i = j;
            }
        }
        let text = String::from_utf8_lossy(rest.get(..i).unwrap_or_default()).into_owned();
        let text = text.strip_prefix('+').unwrap_or(&text);
        match text.parse::<f64>() {
            Ok(v) => {
                self.pos += i;
                Token::Num(v)
            }
            Err(_) => Token::Error("invalid number"),
        }
    }

    /// A string token, escapes decoded (`\uXXXX` and surrogate pairs to UTF-8).
    fn string(&mut self) -> Token {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return Token::Error("unexpected end of string"),
                b'\\' => {
                    let e = self.at(self.pos + 1);
                    let plain = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b't' => 9,
                        b'n' => 10,
                        b'f' => 12,
                        b'r' => 13,
                        b'u' => {
                            if self.unicode(&mut out).is_none() {
                                return Token::Error("invalid unicode escape code");
                            }
                            continue;
                        }
                        _ => return Token::Error("invalid escape code"),
                    };
                    out.push(plain);
                    self.pos += 2;
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token::Str(out)
    }

    /// Four hex digits at `i`.
    fn hex4(&self, i: usize) -> Option<u32> {
        let mut v = 0;
        for k in 0..4 {
            v = v * 16 + char::from(self.at(i + k)).to_digit(16)?;
        }
        Some(v)
    }

    /// A `\u` escape at the position (a surrogate pair takes two), appended as UTF-8.
    fn unicode(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut cp = self.hex4(self.pos + 2)?;
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return None;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut buf = [0u8; 4];
        let n = match cp {
            0..=0x7F => {
                buf[0] = cp as u8;
                1
            }
            0x80..=0x7FF => {
                buf[0] = ((cp >> 6) | 0xC0) as u8;
                buf[1] = ((cp & 0x3F) | 0x80) as u8;
                2
            }
            0x800..=0xFFFF => {
                buf[0] = ((cp >> 12) | 0xE0) as u8;
                buf[1] = (((cp >> 6) & 0x3F) | 0x80) as u8;
                buf[2] = ((cp & 0x3F) | 0x80) as u8;
                3
            }
            _ => {
                buf[0] = ((cp >> 18) | 0xF0) as u8;
                buf[1] = (((cp >> 12) & 0x3F) | 0x80) as u8;
                buf[2] = (((cp >> 6) & 0x3F) | 0x80) as u8;
                buf[3] = ((cp & 0x3F) | 0x80) as u8;
                4
            }
        };
        out.extend_from_slice(buf.get(..n)?);
        self.pos += len;
        Some(())
    }

    /// "Expected <what> but found <token> at character <n>".
    fn expected(what: &str, token: &Token, at: usize) -> String {
        format!(
            "Expected {what} but found {} at character {}",
            token.name(),
            at + 1
        )
    }

    /// Enters an object or array.
    fn descend(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.pos
            ));
        }
        Ok(())
    }

    /// The value starting with `token`.
    fn value(&mut self, lua: &Lua, token: Token, at: usize) -> Result<Value, String> {
        let lua_err = |e: mlua::Error| e.to_string();
        Ok(match token {
            Token::Str(s) => Value::String(lua.create_string(&s).map_err(lua_err)?),
            Token::Num(n) => Value::Number(n),
            Token::Bool(b) => Value::Boolean(b),
            Token::Null => null(),
            Token::ObjBegin => {
                self.descend()?;
                let t = lua.create_table().map_err(lua_err)?;
                let (mut token, mut at) = self.next();
                if matches!(token, Token::ObjEnd) {
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    let Token::Str(key) = token else {
                        return Err(Self::expected("object key string", &token, at));
                    };
                    let (colon, cat) = self.next();
                    if !matches!(colon, Token::Colon) {
                        return Err(Self::expected("colon", &colon, cat));
                    }
                    let (vt, vat) = self.next();
                    let v = self.value(lua, vt, vat)?;
                    t.raw_set(lua.create_string(&key).map_err(lua_err)?, v)
                        .map_err(lua_err)?;
                    let (sep, sat) = self.next();
                    match sep {
                        Token::ObjEnd => break,
                        Token::Comma => {}
                        other => return Err(Self::expected("comma or object end", &other, sat)),
                    }
                    (token, at) = self.next();
                }
                self.depth -= 1;
                Value::Table(t)
            }
            Token::ArrBegin => {
                self.descend()?;
                let t = lua.create_table().map_err(lua_err)?;
                let (mut token, mut at) = self.next();
                if matches!(token, Token::ArrEnd) {
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                let mut i = 1;
                loop {
                    let v = self.value(lua, token, at)?;
                    t.raw_set(i, v).map_err(lua_err)?;
                    i += 1;
                    let (sep, sat) = self.next();
                    match sep {
                        Token::ArrEnd => break,
                        Token::Comma => {}
                        other => return Err(Self::expected("comma or array end", &other, sat)),
                    }
                    (token, at) = self.next();
                }
                self.depth -= 1;
                Value::Table(t)
            }
            other => return Err(Self::expected("value", &other, at)),
        })
    }
}

/// `cjson.decode`.
fn decode(lua: &Lua, text: &[u8]) -> Result<Value, String> {
    if text.len() >= 2 && (text.first() == Some(&0) || text.get(1) == Some(&0)) {
        return Err("JSON parser does not support UTF-16 or UTF-32".into());
    }
    let mut p = Parser {
        data: text,
        pos: 0,
        depth: 0,
    };
    let (token, at) = p.next();
    let v = p.value(lua, token, at)?;
    let (end, at) = p.next();
    if !matches!(end, Token::End) {
        return Err(Parser::expected("the end", &end, at));
    }
    Ok(v)
}
