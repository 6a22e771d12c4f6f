//! Redis 7.0's RDB format (version 10): whole datasets for SAVE and startup loading, single
//! values for DUMP and RESTORE, FUNCTION libraries for both and for FUNCTION DUMP and
//! RESTORE. Reads every encoding Redis 7.0 reads (and 7.2's listpack sets) except modules;
//! writes what Redis 7.0 writes.
//!
//! Entry points:
//! - [`encode_dataset`]`(&Db, now_ms, &mut impl Write)`: a whole RDB file;
//! - [`decode_into`]`(&mut Db, bytes, now_ms)`: load a file into an empty dataset;
//! - [`dump`]`(&Value)`, [`verify_payload`], [`decode_payload`]: DUMP/RESTORE payloads.
//!
//! # Layout
//!
//! | file | job |
//! |---|---|
//! | `file.rs` | the dump file: SAVE's atomic write (temporary file, fsync, rename), the load at start |
//! | `encode.rs` | writing: lengths, strings (int, LZF, raw), each type's encoding, files and DUMP payloads |
//! | `decode.rs` | reading untrusted bytes back into values and datasets, every length bounded |
//! | `listpack.rs` | listpacks, both ways |
//! | `ziplist.rs` | ziplists and zipmaps (older files), reading only |
//! | `stream.rs` | streams: their nodes as Redis's listpacks, groups and PELs, both ways |
//! | `intset.rs` | intsets, both ways |
//! | `lzf.rs` | LZF compression and decompression |
//! | `crc64.rs` | Redis's CRC64 |
//! | `strings.rs` | the length and string encodings every value is written with |
//! | `format.rs` | the version, type and opcode bytes, `RdbError` |
//!
//! A file uses only files below it in this table (`encode` and `decode` do not use each other).

pub(crate) mod crc64;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod file;
pub(crate) mod format;
pub(crate) mod intset;
pub(crate) mod listpack;
pub(crate) mod lzf;
pub(crate) mod stream;
pub(crate) mod strings;
pub(crate) mod ziplist;

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use decode::decode_into;
pub(crate) use decode::{decode_functions_payload, decode_payload, verify_payload};
pub(crate) use encode::dump;
#[cfg(test)]
pub(crate) use encode::encode_dataset;
