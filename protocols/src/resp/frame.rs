//! [`Frame`]: one RESP2 or RESP3 value, and its encoding.

use bytes::{BufMut, Bytes, BytesMut};

use super::reply::{format_double, put_blob, put_int_line, put_len_line, put_simple};

/// One RESP value: every RESP2 and RESP3 type, as a client decodes replies
/// (with [`decode_frame`](super::decode_frame)) and tests build them.
///
/// A server writes its replies with [`ReplyWriter`](super::ReplyWriter)
/// instead, without building a tree.
///
/// ```text
/// type         wire                                  variant
/// simple       +OK\r\n                               Simple("OK")
/// error        -ERR bad\r\n                          Error("ERR bad")
/// blob error   !7\r\nERR bad\r\n                     Error("ERR bad")   (RESP3)
/// integer      :-42\r\n                              Integer(-42)
/// bulk         $3\r\nfoo\r\n                         Bulk("foo")
/// null         $-1\r\n  *-1\r\n  _\r\n               Null               (RESP2, RESP2, RESP3)
/// array        *2\r\n:1\r\n:2\r\n                    Array([..])
/// map          %1\r\n+k\r\n:1\r\n                    Map([(k, v)])      (RESP3)
/// set          ~1\r\n:1\r\n                          Set([..])          (RESP3)
/// double       ,1.5\r\n  ,inf\r\n  ,nan\r\n          Double(1.5)        (RESP3)
/// boolean      #t\r\n  #f\r\n                        Boolean(true)      (RESP3)
/// big number   (-12345678901234567890\r\n            BigNumber(..)      (RESP3)
/// verbatim     =8\r\ntxt:text\r\n                    Verbatim { format: *b"txt", text: "text" } (RESP3)
/// push         >2\r\n+message\r\n:1\r\n              Push([..])         (RESP3)
/// attribute    |1\r\n+ttl\r\n:5\r\n$1\r\nv\r\n        Attribute { attributes: [(ttl, 5)], value: Bulk("v") } (RESP3)
/// ```
///
/// # Attributes
///
/// A RESP3 attribute (`|`) is metadata about the frame that follows it. It is
/// decoded and attached: [`Frame::Attribute`] holds the attribute pairs and,
/// boxed, the frame they describe, so one `Attribute` is one whole reply (or
/// one element) and encoding it gives back the same bytes. A client that does
/// not care unwraps `value`.
///
/// # Equality
///
/// `PartialEq` is derived, so as with `f64` a [`Frame::Double`] holding NaN is
/// not equal to itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A simple string: one line of text, no CR or LF.
    Simple(Bytes),
    /// An error, simple (`-`) or blob (`!`); the text starts with the error
    /// code, e.g. `ERR` or `WRONGTYPE`.
    Error(Bytes),
    /// A signed 64-bit integer.
    Integer(i64),
    /// A binary-safe bulk string.
    Bulk(Bytes),
    /// Null: RESP2's null bulk string and null array, RESP3's `_`.
    Null,
    /// An array of frames.
    Array(Vec<Frame>),
    /// A map, as its key/value pairs in wire order.
    Map(Vec<(Frame, Frame)>),
    /// A set, as its elements in wire order.
    Set(Vec<Frame>),
    /// A double, including infinities and NaN.
    Double(f64),
    /// A boolean.
    Boolean(bool),
    /// A big number: its decimal digits, with a leading `-` if negative.
    BigNumber(Bytes),
    /// A verbatim string: a 3-byte format (`txt`, `mkd`) and the text.
    Verbatim {
        /// The format, e.g. `*b"txt"`.
        format: [u8; 3],
        /// The text, without the `fmt:` prefix.
        text: Bytes,
    },
    /// An out-of-band push (pub/sub messages, client-side caching
    /// invalidations).
    Push(Vec<Frame>),
    /// A RESP3 attribute and the frame it describes (see [Attributes](#attributes)).
    Attribute {
        /// The attribute's key/value pairs.
        attributes: Vec<(Frame, Frame)>,
        /// The frame that followed the attribute.
        value: Box<Frame>,
    },
}

impl Frame {
    /// A simple string (`+s`).
    pub fn simple(s: &str) -> Frame {
        Frame::Simple(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// An error (`-s`); `s` includes the code, e.g. `"ERR syntax error"`.
    pub fn error(s: &str) -> Frame {
        Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// A bulk string holding a copy of `b`.
    pub fn bulk(b: impl AsRef<[u8]>) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(b.as_ref()))
    }

    /// An array of bulk strings, a copy of each of `items`: the shape of a
    /// command.
    ///
    /// ```
    /// use spindle_protocols::resp::Frame;
    ///
    /// let set = Frame::bulks(["SET", "k", "v"]);
    /// assert_eq!(set.to_bytes(), &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"[..]);
    /// ```
    pub fn bulks<T: AsRef<[u8]>>(items: impl IntoIterator<Item = T>) -> Frame {
        Frame::Array(items.into_iter().map(Frame::bulk).collect())
    }

    /// The bytes of a string-like frame: simple string, error, bulk string,
    /// big number, or the text of a verbatim string. `None` for the others.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Simple(b) | Frame::Error(b) | Frame::Bulk(b) | Frame::BigNumber(b) => Some(b),
            Frame::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The value of an [`Integer`](Frame::Integer) frame.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Frame::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// Appends the frame's RESP bytes to `out`. Recursive and synchronous, so
    /// any nesting works.
    ///
    /// RESP3 forms are used where RESP2 has none: [`Null`](Frame::Null) is
    /// `_\r\n`, and the RESP3-only variants use their RESP3 types. An
    /// [`Error`](Frame::Error) holding CR or LF is written as a RESP3 blob
    /// error (`!<len>\r\n...`), so it decodes back unchanged; CR and LF in a
    /// [`Simple`](Frame::Simple) or [`BigNumber`](Frame::BigNumber), which
    /// have no such form, are written as spaces, so a bad value cannot break
    /// the framing. Doubles use [`format_double`], which reads back as the
    /// same `f64`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Simple(s) => put_simple(out, b'+', s),
            Frame::Error(s) if s.iter().any(|&b| b == b'\r' || b == b'\n') => {
                put_blob(out, b'!', s)
            }
            Frame::Error(s) => put_simple(out, b'-', s),
            Frame::Integer(n) => put_int_line(out, b':', *n),
            Frame::Bulk(b) => put_blob(out, b'$', b),
            Frame::Null => out.extend_from_slice(b"_\r\n"),
            Frame::Array(items) => encode_items(out, b'*', items),
            Frame::Set(items) => encode_items(out, b'~', items),
            Frame::Push(items) => encode_items(out, b'>', items),
            Frame::Map(pairs) => encode_pairs(out, b'%', pairs),
            Frame::Double(f) => {
                let text = format_double(*f);
                out.reserve(text.len() + 3);
                out.put_u8(b',');
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::BigNumber(digits) => put_simple(out, b'(', digits),
            Frame::Verbatim { format, text } => {
                put_len_line(out, b'=', text.len().saturating_add(4));
                out.reserve(text.len() + 6);
                out.extend_from_slice(format);
                out.put_u8(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Attribute { attributes, value } => {
                encode_pairs(out, b'|', attributes);
                value.encode(out);
            }
        }
    }

    /// The frame's RESP bytes, as [`encode`](Self::encode) writes them.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

fn encode_items(out: &mut BytesMut, prefix: u8, items: &[Frame]) {
    put_len_line(out, prefix, items.len());
    for item in items {
        item.encode(out);
    }
}

fn encode_pairs(out: &mut BytesMut, prefix: u8, pairs: &[(Frame, Frame)]) {
    put_len_line(out, prefix, pairs.len());
    for (key, value) in pairs {
        key.encode(out);
        value.encode(out);
    }
}
