//! The value types a key can hold, free of commands and of the keyspace: [`value::Value`]
//! (the enum) over the collections [`hash`], [`set`], [`zset`], [`stream`], and [`str::Str`], the compact
//! byte string used for keys and elements. Within the folder, `value` is above the others and
//! `str` below them.

pub(crate) mod hash;
pub(crate) mod set;
pub(crate) mod str;
pub(crate) mod stream;
pub(crate) mod value;
pub(crate) mod zset;
