//! `struct` (Roberto Ierusalimschy's lua_struct.c as Redis bundles it): `pack(fmt, ...)`,
//! `unpack(fmt, s [, pos])`, `size(fmt)` with the x86-64 sizes and alignments redis-server
//! has: `b/B` 1, `h/H` 2, `i/I` 4 (or `iN`), `l/L` and `T` 8, `f` 4, `d` 8, `cN`, `s`, `x`,
//! `<`, `>`, `!N`, native order little-endian.

use mlua::{Lua, MultiValue, Table, Value};

use super::super::convert::format_g;
use super::super::lua::raise;
use super::bit::check_number;

/// The largest integer size `iN` accepts.
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the alignment of a double.
const MAX_ALIGN: usize = 8;

/// Byte order and alignment, as the format's control options set them.
struct Header {
    little: bool,
    align: usize,
}

/// The format's text, read option by option.
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = self.fmt.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c.filter(|&c| c != 0)
    }

    /// A decimal number at the position, or `default`.
    fn num(&mut self, default: usize) -> Result<usize, String> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.fmt.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let d = usize::from(d - b'0');
            if a > (i32::MAX as usize) / 10 || a * 10 > (i32::MAX as usize) - d {
                return Err("integral size overflow".into());
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a)
    }

    /// The size of option `opt` (reading its number, if it takes one).
    fn size(&mut self, opt: u8) -> Result<usize, String> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    ));
                }
                sz
            }
            _ => 0,
        })
    }

    /// A control option (`<`, `>`, `!N`, space), or the error for an unknown one.
    fn control(&mut self, opt: u8, h: &mut Header, fname: &str) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if a == 0 || a & (a - 1) != 0 {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            other => {
                return Err(format!(
                    "bad argument #1 to '{fname}' (invalid format option '{}')",
                    char::from(other)
                ))
            }
        }
        Ok(())
    }
}

/// Padding before an option of `size` at `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// A string argument (`luaL_checklstring`: numbers become their text).
fn check_string(args: &MultiValue, i: usize, fname: &str) -> Result<Vec<u8>, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(format_g(*n as f64, 14).into_bytes()),
        Some(Value::Number(n)) => Ok(format_g(*n, 14).into_bytes()),
        other => Err(format!(
            "bad argument #{} to '{fname}' (string expected, got {})",
            i + 1,
            match other {
                None => "no value",
                Some(Value::Nil) => "nil",
                Some(v) => v.type_name(),
            }
        )),
    }
}

/// `struct.pack`.
fn pack(args: &MultiValue) -> Result<Vec<u8>, String> {
    // lua_struct pushes a nil after the arguments before reading them: one missing argument
    // is "got nil", not "got no value".
    let mut args = args.clone();
    args.push_back(Value::Nil);
    let args = &args;
    let fmt = check_string(args, 0, "pack")?;
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut arg = 1;
    let mut out = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(args, arg, "pack")?;
                arg += 1;
                let value: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let bytes = value.to_le_bytes();
                let mut buf: Vec<u8> = (0..size)
                    .map(|i| bytes.get(i).copied().unwrap_or(0))
                    .collect();
                if !h.little {
                    buf.reverse();
                }
                out.extend_from_slice(&buf);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = check_number(args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                });
            }
            b'd' => {
                let n = check_number(args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_string(args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(format!(
                        "bad argument #{} to 'pack' (string too short)",
                        arg + 1
                    ));
                }
                out.extend_from_slice(s.get(..size).unwrap_or_default());
                if opt == b's' {
                    out.push(0);
                }
            }
            other => f.control(other, &mut h, "pack")?,
        }
    }
    Ok(out)
}

/// `struct.unpack`: the values, then the position after them.
fn unpack(args: &MultiValue) -> Result<Vec<Field>, String> {
    let fmt = check_string(args, 0, "unpack")?;
    let data = check_string(args, 1, "unpack")?;
    let pos = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => check_number(args, 2, "unpack")?,
    } as i64;
    if pos <= 0 {
        return Err("bad argument #3 to 'unpack' (offset must be 1 or greater)".into());
    }
    let mut pos = (pos - 1) as usize;
    let ld = data.len();
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut out: Vec<Field> = Vec::new();
    let short = || "bad argument #2 to 'unpack' (data string too short)".to_string();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if size > ld || pos > ld - size {
            return Err(short());
        }
        let field = |size: usize| data.get(pos..pos + size).unwrap_or_default();
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut bytes = field(size).to_vec();
                if !h.little {
                    bytes.reverse();
                }
                let mut l: u64 = 0;
                for b in bytes.iter().rev() {
                    l = (l << 8) | u64::from(*b);
                }
                let v = if opt.is_ascii_lowercase() && size > 0 {
                    let shift = (size * 8 - 1).min(63);
                    let mask = u64::MAX << shift;
                    if l & mask != 0 {
                        l |= mask;
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push(Field::Num(v));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = field(4).try_into().unwrap_or_default();
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Field::Num(f64::from(v)));
            }
            b'd' => {
                let b: [u8; 8] = field(8).try_into().unwrap_or_default();
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Field::Num(v));
            }
            b'c' => {
                if size == 0 {
                    let prev = match out.last() {
                        Some(Field::Num(n)) => Some(*n),
                        Some(Field::Bytes(b)) => std::str::from_utf8(b)
                            .ok()
                            .and_then(|t| t.trim().parse::<f64>().ok()),
                        None => None,
                    };
                    let Some(n) = prev else {
                        return Err("format 'c0' needs a previous size".into());
                    };
                    out.pop();
                    size = n as usize;
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                let bytes = data.get(pos..pos + size).unwrap_or_default().to_vec();
                out.push(Field::Bytes(bytes));
            }
            b's' => {
                let rest = data.get(pos..).unwrap_or_default();
                let Some(end) = rest.iter().position(|&c| c == 0) else {
                    return Err("unfinished string in data".into());
                };
                size = end + 1;
                out.push(Field::Bytes(rest.get(..end).unwrap_or_default().to_vec()));
            }
            other => f.control(other, &mut h, "unpack")?,
        }
        pos += size;
    }
    out.push(Field::Num((pos + 1) as f64));
    Ok(out)
}

/// One result of [`unpack`]: a number or a string's bytes (made Lua strings by the caller,
/// as `unpack` works without the interpreter).
enum Field {
    Num(f64),
    Bytes(Vec<u8>),
}

/// `struct.size`.
fn size(args: &MultiValue) -> Result<usize, String> {
    let fmt = check_string(args, 0, "size")?;
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut pos = 0;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err("bad argument #1 to 'size' (option 's' has no fixed size)".into());
        }
        if opt == b'c' && size == 0 {
            return Err("bad argument #1 to 'size' (option 'c0' has no fixed size)".into());
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos)
}

/// The library's natives.
pub(crate) fn natives(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| match pack(&args) {
            Ok(b) => Ok(MultiValue::from_vec(vec![Value::String(
                lua.create_string(&b)?,
            )])),
            Err(e) => raise(lua, &e),
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| match unpack(&args) {
            Ok(values) => {
                let mut out = vec![];
                for v in values {
                    out.push(match v {
                        Field::Num(n) => Value::Number(n),
                        Field::Bytes(b) => Value::String(lua.create_string(&b)?),
                    });
                }
                Ok(MultiValue::from_vec(out))
            }
            Err(e) => raise(lua, &e),
        })?,
    )?;
    t.set(
        "size",
        lua.create_function(|lua, args: MultiValue| match size(&args) {
            Ok(n) => Ok(MultiValue::from_vec(vec![Value::Number(n as f64)])),
            Err(e) => raise(lua, &e),
        })?,
    )?;
    Ok(t)
}
