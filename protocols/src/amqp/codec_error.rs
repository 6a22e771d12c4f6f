//! The errors of the value codecs (`wire`, `shortstr`, `table` and the
//! generated methods): [`Malformed`] for bytes that do not decode,
//! [`EncodeError`] for values that cannot be sent.
//!
//! This file imports nothing of the crate, so that every codec file can
//! import it; [`AmqpError`](super::AmqpError), which names methods in its
//! messages, sits above the generated code in `error`.

/// Why the bytes of a method's arguments, of a content header or of a field
/// table could not be decoded. Carried by
/// [`AmqpError::MalformedMethod`](super::AmqpError::MalformedMethod) and
/// [`AmqpError::MalformedHeader`](super::AmqpError::MalformedHeader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The bytes end in the middle of a value, or a length points past them.
    #[error("truncated")]
    Truncated,
    /// Bytes are left after the last value.
    #[error("{count} bytes after the last field")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A field table or array holds a value whose type octet is not one of
    /// RabbitMQ's (`t b B s u I i l f d D S A T F V x`).
    #[error("unknown field value type {tag:#04x}")]
    UnknownFieldType {
        /// The type octet.
        tag: u8,
    },
    /// Field tables and arrays are nested deeper than
    /// [`MAX_TABLE_DEPTH`](super::MAX_TABLE_DEPTH).
    #[error("field tables nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Property flags name properties the class does not have.
    #[error("property flags {flags:#06x} name unknown properties")]
    PropertyFlags {
        /// The offending 16-bit flag word.
        flags: u16,
    },
}

/// Why a value could not be encoded. These are the sender's mistakes, never
/// the peer's; on error nothing has been written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A short string longer than 255 bytes (refused when the
    /// [`ShortStr`](super::ShortStr) is built).
    #[error("short string of {len} bytes exceeds 255")]
    ShortStrTooLong {
        /// Its length.
        len: usize,
    },
    /// A long string, field table, array or frame payload longer than the
    /// 4 GiB its 32-bit length can announce.
    #[error("{len} bytes do not fit a 32-bit length")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Field tables and arrays nested deeper than
    /// [`MAX_TABLE_DEPTH`](super::MAX_TABLE_DEPTH): the peer would refuse them.
    #[error("field tables nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A method or content header frame larger than `frame-max` (these are
    /// never split; only bodies are).
    #[error("frame of {size} bytes exceeds frame-max {frame_max}")]
    FrameTooLarge {
        /// Size of the whole frame, 8 bytes of framing included.
        size: usize,
        /// The limit.
        frame_max: u32,
    },
    /// Content was given with a method that carries none.
    #[error("{name} does not carry content")]
    NoContent {
        /// The method's name.
        name: &'static str,
    },
}
