//! What both directions share: the RDB version, the type and opcode bytes of `rdb.h`, and
//! [`RdbError`].

/// The RDB version Redis 7.0 writes (and the highest it reads).
pub(crate) const RDB_VERSION: u16 = 10;

// Object types (`RDB_TYPE_*`).
pub(crate) const TYPE_STRING: u8 = 0;
pub(crate) const TYPE_LIST: u8 = 1;
pub(crate) const TYPE_SET: u8 = 2;
pub(crate) const TYPE_ZSET: u8 = 3;
pub(crate) const TYPE_HASH: u8 = 4;
pub(crate) const TYPE_ZSET_2: u8 = 5;
pub(crate) const TYPE_HASH_ZIPMAP: u8 = 9;
pub(crate) const TYPE_LIST_ZIPLIST: u8 = 10;
pub(crate) const TYPE_SET_INTSET: u8 = 11;
pub(crate) const TYPE_ZSET_ZIPLIST: u8 = 12;
pub(crate) const TYPE_HASH_ZIPLIST: u8 = 13;
pub(crate) const TYPE_LIST_QUICKLIST: u8 = 14;
pub(crate) const TYPE_HASH_LISTPACK: u8 = 16;
pub(crate) const TYPE_ZSET_LISTPACK: u8 = 17;
pub(crate) const TYPE_LIST_QUICKLIST_2: u8 = 18;
/// Redis 7.2's listpack sets (read only: 7.0 never writes them).
pub(crate) const TYPE_SET_LISTPACK: u8 = 20;
/// Streams of Redis 5 and 6 (no first id, tombstone or counters).
pub(crate) const TYPE_STREAM_LISTPACKS: u8 = 15;
/// Streams as Redis 7.0 writes them.
pub(crate) const TYPE_STREAM_LISTPACKS_2: u8 = 19;
/// Streams of Redis 7.2 (a consumer's active time too; read only).
pub(crate) const TYPE_STREAM_LISTPACKS_3: u8 = 21;

// Opcodes (`RDB_OPCODE_*`).
pub(crate) const OP_FUNCTION2: u8 = 245;
pub(crate) const OP_FUNCTION: u8 = 246;
pub(crate) const OP_MODULE_AUX: u8 = 247;
pub(crate) const OP_IDLE: u8 = 248;
pub(crate) const OP_FREQ: u8 = 249;
pub(crate) const OP_AUX: u8 = 250;
pub(crate) const OP_RESIZEDB: u8 = 251;
pub(crate) const OP_EXPIRETIME_MS: u8 = 252;
pub(crate) const OP_EXPIRETIME: u8 = 253;
pub(crate) const OP_SELECTDB: u8 = 254;
pub(crate) const OP_EOF: u8 = 255;

// Length encodings (`RDB_6BITLEN` … `RDB_ENCVAL`) and special string encodings.
pub(crate) const LEN_32: u8 = 0x80;
pub(crate) const LEN_64: u8 = 0x81;
pub(crate) const ENC_INT8: u8 = 0;
pub(crate) const ENC_INT16: u8 = 1;
pub(crate) const ENC_INT32: u8 = 2;
pub(crate) const ENC_LZF: u8 = 3;

/// Quicklist node containers (`QUICKLIST_NODE_CONTAINER_*`).
pub(crate) const CONTAINER_PLAIN: u64 = 1;
pub(crate) const CONTAINER_PACKED: u64 = 2;

/// Why a file or payload could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RdbError {
    /// Writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a valid RDB file or object: truncated, malformed, or a type this
    /// store does not hold (modules).
    #[error("bad RDB data: {0}")]
    Format(&'static str),
    /// The trailing CRC64 does not match.
    #[error("RDB checksum mismatch")]
    Checksum,
}

/// Shorthand for a format error.
pub(crate) fn bad<T>(why: &'static str) -> Result<T, RdbError> {
    Err(RdbError::Format(why))
}

/// The decimal form of `v`.
pub(crate) fn format_i64(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}
