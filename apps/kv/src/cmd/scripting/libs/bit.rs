//! `bit` (LuaBitOp 1.0.2, as Redis bundles it): 32-bit operations on Lua numbers. Arguments
//! are taken modulo 2³² after rounding to the nearest integer (LuaBitOp's add-a-magic-number
//! conversion), results are signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::super::convert::lua_number_text;
use super::super::lua::raise;

/// A number argument as `luaL_checknumber` takes it (numeric strings too), or Lua's message.
pub(crate) fn check_number(args: &MultiValue, i: usize, fname: &str) -> Result<f64, String> {
    let v = args.get(i);
    let n = match v {
        Some(Value::Integer(n)) => Some(*n as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => s.to_str().ok().and_then(|t| {
            let t = t.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16).ok().map(|n| n as f64),
                None => t.parse::<f64>().ok(),
            }
        }),
        _ => None,
    };
    n.ok_or_else(|| {
        let got = match v {
            None => "no value",
            Some(Value::Nil) => "nil",
            Some(other) => other.type_name(),
        };
        format!(
            "bad argument #{} to '{fname}' (number expected, got {got})",
            i + 1
        )
    })
}

/// LuaBitOp's conversion of a number to 32 bits.
fn tobit(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// `true, result` for the wrapper.
fn done(lua: &Lua, b: u32) -> mlua::Result<MultiValue> {
    let v = Value::Number(f64::from(b as i32));
    let _ = lua;
    Ok(MultiValue::from_vec(vec![v]))
}

/// A function of one argument.
fn unary(lua: &Lua, name: &'static str, f: fn(u32) -> u32) -> mlua::Result<mlua::Function> {
    lua.create_function(
        move |lua, args: MultiValue| match check_number(&args, 0, name) {
            Ok(n) => done(lua, f(tobit(n))),
            Err(e) => raise(lua, &e),
        },
    )
}

/// A function folding all its arguments.
fn fold(lua: &Lua, name: &'static str, f: fn(u32, u32) -> u32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let mut acc = match check_number(&args, 0, name) {
            Ok(n) => tobit(n),
            Err(e) => return raise(lua, &e),
        };
        for i in 1..args.len() {
            match check_number(&args, i, name) {
                Ok(n) => acc = f(acc, tobit(n)),
                Err(e) => return raise(lua, &e),
            }
        }
        done(lua, acc)
    })
}

/// A shift or rotation by the second argument (taken modulo 32).
fn shift(lua: &Lua, name: &'static str, f: fn(u32, u32) -> u32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let x = match check_number(&args, 0, name) {
            Ok(n) => tobit(n),
            Err(e) => return raise(lua, &e),
        };
        let n = match check_number(&args, 1, name) {
            Ok(n) => tobit(n) & 31,
            Err(e) => return raise(lua, &e),
        };
        done(lua, f(x, n))
    })
}

/// The library's natives.
pub(crate) fn natives(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", unary(lua, "tobit", |x| x)?)?;
    t.set("bnot", unary(lua, "bnot", |x| !x)?)?;
    t.set("bswap", unary(lua, "bswap", u32::swap_bytes)?)?;
    t.set("band", fold(lua, "band", |a, b| a & b)?)?;
    t.set("bor", fold(lua, "bor", |a, b| a | b)?)?;
    t.set("bxor", fold(lua, "bxor", |a, b| a ^ b)?)?;
    t.set("lshift", shift(lua, "lshift", |x, n| x << n)?)?;
    t.set("rshift", shift(lua, "rshift", |x, n| x >> n)?)?;
    t.set(
        "arshift",
        shift(lua, "arshift", |x, n| ((x as i32) >> n) as u32)?,
    )?;
    t.set("rol", shift(lua, "rol", u32::rotate_left)?)?;
    t.set("ror", shift(lua, "ror", u32::rotate_right)?)?;
    t.set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let x = match check_number(&args, 0, "tohex") {
                Ok(n) => tobit(n),
                Err(e) => return raise(lua, &e),
            };
            let mut n: i32 = match args.get(1) {
                None | Some(Value::Nil) => 8,
                Some(_) => match check_number(&args, 1, "tohex") {
                    Ok(v) => tobit(v) as i32,
                    Err(e) => return raise(lua, &e),
                },
            };
            let upper = n < 0;
            if upper {
                n = n.wrapping_neg();
            }
            let n = n.clamp(0, 8) as u32;
            let digits = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            let text = digits
                .get((8 - n) as usize..)
                .unwrap_or_default()
                .to_string();
            Ok(MultiValue::from_vec(vec![Value::String(
                lua.create_string(text)?,
            )]))
        })?,
    )?;
    let _ = lua_number_text;
    Ok(t)
}
