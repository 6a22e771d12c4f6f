//! `cmsgpack` (lua-cmsgpack 0.4 as Redis bundles it): `pack(...)`, `unpack(s)`,
//! `unpack_one(s [, offset])`, `unpack_limit(s, limit [, offset])`. Integral numbers are
//! packed as the smallest integer form, others as a float when it keeps the value, else a
//! double; a table whose keys are exactly 1..n is an array, any other a map; tables nested
//! 16 deep are packed as nil.

use mlua::{Lua, MultiValue, Table, Value};

use super::super::convert::{format_g, TWO_63};
use super::super::lua::raise;

/// Deepest table nesting packed (deeper tables become nil).
const MAX_NESTING: usize = 16;

/// The library's natives.
pub(crate) fn natives(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return raise(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                );
            }
            let mut out = Vec::new();
            for v in args.iter() {
                if let Err(e) = encode(v, 0, &mut out) {
                    return raise(lua, &e.to_string());
                }
            }
            Ok(MultiValue::from_vec(vec![Value::String(
                lua.create_string(&out)?,
            )]))
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| unpack_full(lua, &args, 0, 0, "unpack"))?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, args: MultiValue| {
            let offset = match opt_integer(&args, 1, 0, "unpack_one") {
                Ok(o) => o,
                Err(e) => return raise(lua, &e),
            };
            unpack_full(lua, &args, 1, offset, "unpack_one")
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(|lua, args: MultiValue| {
            let limit = match args.get(1) {
                None | Some(Value::Nil) => {
                    return raise(
                        lua,
                        "bad argument #2 to 'unpack_limit' (number expected, got no value)",
                    )
                }
                Some(_) => match opt_integer(&args, 1, 0, "unpack_limit") {
                    Ok(l) => l,
                    Err(e) => return raise(lua, &e),
                },
            };
            let offset = match opt_integer(&args, 2, 0, "unpack_limit") {
                Ok(o) => o,
                Err(e) => return raise(lua, &e),
            };
            unpack_full(lua, &args, limit, offset, "unpack_limit")
        })?,
    )?;
    t.set("_NAME", "lua-cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

/// An optional integer argument (`luaL_optinteger`).
fn opt_integer(args: &MultiValue, i: usize, default: i64, fname: &str) -> Result<i64, String> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => super::bit::check_number(args, i, fname).map(|n| n as i64),
    }
}

/// Whether `n` is an integer an int64 holds exactly.
fn int64_equivalent(n: f64) -> bool {
    (-TWO_63..TWO_63).contains(&n) && n.trunc() == n
}

/// Appends an integer in its smallest form.
fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a number: an integer form when integral, else float or double.
fn encode_number(n: f64, out: &mut Vec<u8>) {
    if int64_equivalent(n) {
        encode_int(n as i64, out);
    } else if f64::from(n as f32) == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a length-prefixed header: the fix form under `fix_max`, else 16 or 32 bits.
fn header(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, b16: u8, b32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Appends `v`, tables at nesting `level`.
fn encode(v: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => {
            let s = s.as_bytes();
            let len = s.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&s);
        }
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => encode_number(*n as f64, out),
        Value::Number(n) => encode_number(*n, out),
        Value::Table(t) if level < MAX_NESTING => {
            let mut count = 0usize;
            let mut max = 0f64;
            let mut array = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair?;
                let n = match k {
                    Value::Integer(i) => i as f64,
                    Value::Number(n) => n,
                    _ => {
                        array = false;
                        break;
                    }
                };
                if n <= 0.0 || n.trunc() != n || n > f64::from(i32::MAX) {
                    array = false;
                    break;
                }
                max = max.max(n);
                count += 1;
            }
            if array && max as usize == count {
                let len = t.raw_len();
                header(out, len, 0x90, 15, 0xdc, 0xdd);
                for i in 1..=len {
                    let item: Value = t.get(i)?;
                    encode(&item, level + 1, out)?;
                }
            } else {
                let pairs: Vec<(Value, Value)> =
                    t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                header(out, pairs.len(), 0x80, 15, 0xde, 0xdf);
                for (k, item) in &pairs {
                    encode(k, level + 1, out)?;
                    encode(item, level + 1, out)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// Why decoding stopped.
enum Bad {
    /// "Missing bytes in input."
    Eof,
    /// "Bad data format in input."
    Format,
    /// `luaL_checkstack` failing: "stack overflow (<where>)".
    Overflow(&'static str),
}

/// Lua 5.1's `LUAI_MAXCSTACK`: the most stack slots a C function may use. lua-cmsgpack builds
/// nested tables on the Lua stack (a table and its pending key or index per level) and
/// checks for room with `luaL_checkstack`, so input nested about 4,000 deep fails with
/// "stack overflow (…)" — as it must here too, where decoding recurses on the native stack.
const MAX_C_STACK: usize = 8000;

/// Stack slots in use when the first top-level object is decoded (found against
/// redis-server 7.0.15: 3,999 nested arrays decode, 4,000 overflow).
const FIRST_SLOTS: usize = 1;

/// A cursor over the packed bytes.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    /// The Lua stack slots lua-cmsgpack would have in use before pushing the next object.
    slots: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Bad> {
        let s = self.data.get(self.pos..self.pos + n).ok_or(Bad::Eof)?;
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Bad> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// `luaL_checkstack(L, 1, place)` with `slots` in use.
    fn room(slots: usize, place: &'static str) -> Result<(), Bad> {
        if slots + 1 > MAX_C_STACK {
            return Err(Bad::Overflow(place));
        }
        Ok(())
    }

    /// One object, its nested tables built with an explicit stack rather than by recursion
    /// (input may nest thousands deep: the bound is lua-cmsgpack's, see [`MAX_C_STACK`]).
    /// `slots` counts what lua-cmsgpack would hold on the Lua stack: a table per level and
    /// the index or key pending in it.
    fn decode(&mut self, lua: &Lua) -> Result<Value, DecodeError> {
        let base = self.slots;
        let mut open: Vec<Open> = Vec::new();
        loop {
            // What is held on the Lua stack before the next object is pushed.
            let slots = base + open.iter().map(Open::slots).sum::<usize>();
            if self.left() == 0 {
                return Err(Bad::Eof.into());
            }
            Self::room(
                slots,
                "too many return values at once; use unpack_one or unpack_limit instead.",
            )?;
            let mut value = match self.one(lua)? {
                Item::Value(v) => v,
                Item::Table { len, map } => {
                    let table = lua.create_table()?;
                    if !map {
                        Self::room(slots + 1, "in function mp_decode_to_lua_array")?;
                    }
                    if len == 0 {
                        Value::Table(table)
                    } else {
                        open.push(Open {
                            table,
                            left: len,
                            next: 1,
                            key: None,
                            map,
                        });
                        continue;
                    }
                }
            };
            // Into the table being filled; a table complete goes into its parent in turn.
            loop {
                let Some(top) = open.last_mut() else {
                    return Ok(value);
                };
                if top.map {
                    match top.key.take() {
                        None => {
                            top.key = Some(value);
                            break;
                        }
                        Some(k) => {
                            if matches!(k, Value::Nil) {
                                return Err(DecodeError::Lua("table index is nil".into()));
                            }
                            top.table.set(k, value)?;
                        }
                    }
                } else {
                    top.table.set(top.next, value)?;
                    top.next += 1;
                }
                top.left -= 1;
                if top.left > 0 {
                    break;
                }
                let Some(done) = open.pop() else {
                    return Err(Bad::Format.into());
                };
                value = Value::Table(done.table);
            }
        }
    }

    /// The next object's header: a scalar read whole, or the start of a table.
    fn one(&mut self, lua: &Lua) -> Result<Item, DecodeError> {
        let first = *self.take(1)?.first().ok_or(Bad::Eof)?;
        let num = |n: f64| Ok(Item::Value(Value::Number(n)));
        match first {
            0xcc => num(self.be(1)? as f64),
            0xd0 => num(f64::from(self.be(1)? as u8 as i8)),
            0xcd => num(self.be(2)? as f64),
            0xd1 => num(f64::from(self.be(2)? as u16 as i16)),
            0xce => num(self.be(4)? as f64),
            0xd2 => num(f64::from(self.be(4)? as u32 as i32)),
            0xcf => num(self.be(8)? as f64),
            0xd3 => num(self.be(8)? as i64 as f64),
            0xc0 => Ok(Item::Value(Value::Nil)),
            0xc3 => Ok(Item::Value(Value::Boolean(true))),
            0xc2 => Ok(Item::Value(Value::Boolean(false))),
            0xca => num(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => num(f64::from_bits(self.be(8)?)),
            0xd9 => {
                let l = self.be(1)? as usize;
                Ok(Item::Value(self.string(lua, l)?))
            }
            0xda => {
                let l = self.be(2)? as usize;
                Ok(Item::Value(self.string(lua, l)?))
            }
            0xdb => {
                let l = self.be(4)? as usize;
                Ok(Item::Value(self.string(lua, l)?))
            }
            0xdc => {
                let l = self.be(2)? as usize;
                Ok(Item::Table { len: l, map: false })
            }
            0xdd => {
                let l = self.be(4)? as usize;
                Ok(Item::Table { len: l, map: false })
            }
            0xde => {
                let l = self.be(2)? as usize;
                Ok(Item::Table { len: l, map: true })
            }
            0xdf => {
                let l = self.be(4)? as usize;
                Ok(Item::Table { len: l, map: true })
            }
            b if b & 0x80 == 0 => num(f64::from(b)),
            b if b & 0xe0 == 0xe0 => num(f64::from(b as i8)),
            b if b & 0xe0 == 0xa0 => Ok(Item::Value(self.string(lua, usize::from(b & 0x1f))?)),
            b if b & 0xf0 == 0x90 => Ok(Item::Table {
                len: usize::from(b & 0xf),
                map: false,
            }),
            b if b & 0xf0 == 0x80 => Ok(Item::Table {
                len: usize::from(b & 0xf),
                map: true,
            }),
            _ => Err(Bad::Format.into()),
        }
    }

    fn string(&mut self, lua: &Lua, len: usize) -> Result<Value, DecodeError> {
        let s = self.take(len)?;
        Ok(Value::String(lua.create_string(s)?))
    }
}

/// What one header starts.
enum Item {
    /// A whole value.
    Value(Value),
    /// A table: an array of `len` elements, or a map of `len` pairs.
    Table { len: usize, map: bool },
}

/// A table being filled while decoding.
struct Open {
    table: mlua::Table,
    /// Elements (or pairs) still to come.
    left: usize,
    /// An array's next index.
    next: usize,
    /// A map's key waiting for its value.
    key: Option<Value>,
    map: bool,
}

impl Open {
    /// The Lua stack slots lua-cmsgpack holds for it while its next object is decoded: the
    /// table, and an array's index or a map's pending key.
    fn slots(&self) -> usize {
        if self.map && self.key.is_none() {
            1
        } else {
            2
        }
    }
}

/// A decoding failure: the data's, or the interpreter's.
enum DecodeError {
    Bad(Bad),
    Lua(String),
}

impl From<Bad> for DecodeError {
    fn from(b: Bad) -> Self {
        DecodeError::Bad(b)
    }
}

impl From<mlua::Error> for DecodeError {
    fn from(e: mlua::Error) -> Self {
        DecodeError::Lua(e.to_string())
    }
}

/// lua-cmsgpack's `mp_unpack_full`: up to `limit` objects from `offset` (all of them when
/// both are 0); with a limit or offset, the next offset (-1 at the end) goes first.
fn unpack_full(
    lua: &Lua,
    args: &MultiValue,
    limit: i64,
    offset: i64,
    fname: &str,
) -> mlua::Result<MultiValue> {
    let data: Vec<u8> = match args.front() {
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
                &format!("bad argument #1 to '{fname}' (string expected, got {got})"),
            );
        }
    };
    let len = data.len();
    if offset < 0 || limit < 0 {
        return raise(
            lua,
            &format!("Invalid request to unpack with offset of {offset} and limit of {len}."),
        );
    }
    if offset as usize > len {
        return raise(
            lua,
            &format!("Start offset {offset} greater than input length {len}."),
        );
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::MAX } else { limit };
    let mut cur = Cursor {
        data: &data,
        pos: offset as usize,
        slots: FIRST_SLOTS,
    };
    let mut out = vec![];
    let mut count = 0;
    while cur.left() > 0 && count < limit {
        match cur.decode(lua) {
            Ok(v) => {
                out.push(v);
                // Each object decoded stays on the stack as a result.
                cur.slots += 1;
            }
            Err(DecodeError::Bad(Bad::Overflow(place))) => {
                return raise(lua, &format!("stack overflow ({place})"))
            }
            Err(DecodeError::Bad(Bad::Eof)) => return raise(lua, "Missing bytes in input."),
            Err(DecodeError::Bad(Bad::Format)) => return raise(lua, "Bad data format in input."),
            // Raised by Lua itself inside the C function (`table index is nil`, memory):
            // no script position, as Lua's own errors there have none.
            Err(DecodeError::Lua(e)) => return Err(mlua::Error::RuntimeError(e)),
        }
        count += 1;
    }
    if !decode_all {
        let next = if cur.left() == 0 {
            -1.0
        } else {
            cur.pos as f64
        };
        out.insert(0, Value::Number(next));
    }
    Ok(MultiValue::from_vec(out))
}
