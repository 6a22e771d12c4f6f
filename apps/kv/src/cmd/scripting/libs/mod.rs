//! The Lua libraries Redis bundles with its interpreter, written in Rust on mlua: `cjson`
//! (lua_cjson.c), `cmsgpack` (lua_cmsgpack.c), `bit` (LuaBitOp's lua_bit.c) and `struct`
//! (lua_struct.c). Each `natives` returns the library's functions in the `ok, value…` form
//! the setup chunk wraps (see `lua.rs`).

pub(crate) mod bit;
pub(crate) mod cjson;
pub(crate) mod cmsgpack;
pub(crate) mod structs;
