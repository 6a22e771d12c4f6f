//! Field tables and arrays: AMQP's typed maps, with RabbitMQ's value types.
//!
//! See [`FieldTable`] for the wire format.

use bytes::{Buf, Bytes, BytesMut};

use super::wire::{self, Reader, Writer};
use super::{EncodeError, Malformed, ShortStr};

/// How deeply field tables and arrays may nest, counting the outermost
/// table as 1. Deeper input is [`Malformed::TooDeep`] on decode and
/// [`EncodeError::TooDeep`] on encode, so neither recurses without bound.
/// Real traffic nests a few levels (RabbitMQ's `x-death` header is an array
/// of tables holding arrays: 4).
pub const MAX_TABLE_DEPTH: usize = 64;

/// An AMQP decimal: `value / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Decimal {
    /// Number of decimal digits after the point.
    pub scale: u8,
    /// The unscaled value (unsigned, as RabbitMQ reads it).
    pub value: u32,
}

/// A value in a [`FieldTable`] or a field array, with its type octet.
///
/// The types are those RabbitMQ reads and writes, which differ from the
/// 0-9-1 spec's own table (RabbitMQ's errata): `s` is a signed 16-bit
/// integer, `l` a signed 64-bit one, `x` a byte array, and there is no
/// unsigned 64-bit type. RabbitMQ also reads `L` as a signed 64-bit integer
/// (the spec's unsigned one; pika writes it for integers below -2^31):
/// [`I64L`](Self::I64L) keeps it apart from `l` so it encodes back as `L`.
///
/// ```text
/// t bool (one octet, nonzero = true)   b i8    B u8    s i16   u u16
/// I i32     i u32     l i64     L i64     f f32     d f64     D decimal (scale u8, value u32)
/// S longstr (u32 length + bytes)        x byte array (u32 length + bytes)
/// A array (u32 length + values)         F table (u32 length + entries)
/// T timestamp (u64 seconds)             V void (no bytes)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// `t`: a boolean.
    Bool(bool),
    /// `b`: a signed octet.
    I8(i8),
    /// `B`: an unsigned octet.
    U8(u8),
    /// `s`: a signed 16-bit integer.
    I16(i16),
    /// `u`: an unsigned 16-bit integer.
    U16(u16),
    /// `I`: a signed 32-bit integer.
    I32(i32),
    /// `i`: an unsigned 32-bit integer.
    U32(u32),
    /// `l`: a signed 64-bit integer.
    I64(i64),
    /// `L`: a signed 64-bit integer too, as RabbitMQ and pika read it (pika
    /// writes negative integers below -2^31 so; RabbitMQ relays them).
    I64L(i64),
    /// `f`: an IEEE 754 single.
    F32(f32),
    /// `d`: an IEEE 754 double.
    F64(f64),
    /// `D`: a decimal.
    Decimal(Decimal),
    /// `S`: a long string (bytes; usually UTF-8).
    LongStr(Bytes),
    /// `A`: an array of values.
    Array(Vec<FieldValue>),
    /// `T`: a timestamp, seconds since the epoch.
    Timestamp(u64),
    /// `F`: a nested table.
    Table(FieldTable),
    /// `V`: no value.
    Void,
    /// `x`: a byte array.
    ByteArray(Bytes),
}

impl FieldValue {
    /// The type octet that precedes this value on the wire.
    pub fn tag(&self) -> u8 {
        match self {
            FieldValue::Bool(_) => b't',
            FieldValue::I8(_) => b'b',
            FieldValue::U8(_) => b'B',
            FieldValue::I16(_) => b's',
            FieldValue::U16(_) => b'u',
            FieldValue::I32(_) => b'I',
            FieldValue::U32(_) => b'i',
            FieldValue::I64(_) => b'l',
            FieldValue::I64L(_) => b'L',
            FieldValue::F32(_) => b'f',
            FieldValue::F64(_) => b'd',
            FieldValue::Decimal(_) => b'D',
            FieldValue::LongStr(_) => b'S',
            FieldValue::Array(_) => b'A',
            FieldValue::Timestamp(_) => b'T',
            FieldValue::Table(_) => b'F',
            FieldValue::Void => b'V',
            FieldValue::ByteArray(_) => b'x',
        }
    }

    /// The value of a `t` field.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            FieldValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value of any integer field (`b B s u I i l L`, and `T`) that fits an
    /// `i64`: arguments such as `x-max-length` arrive as whichever integer
    /// type the client library picked.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            FieldValue::I8(v) => Some(v.into()),
            FieldValue::U8(v) => Some(v.into()),
            FieldValue::I16(v) => Some(v.into()),
            FieldValue::U16(v) => Some(v.into()),
            FieldValue::I32(v) => Some(v.into()),
            FieldValue::U32(v) => Some(v.into()),
            FieldValue::I64(v) | FieldValue::I64L(v) => Some(v),
            FieldValue::Timestamp(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The bytes of an `S` or `x` field.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            FieldValue::LongStr(b) | FieldValue::ByteArray(b) => Some(b),
            _ => None,
        }
    }

    /// The table of an `F` field.
    pub fn as_table(&self) -> Option<&FieldTable> {
        match self {
            FieldValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The values of an `A` field.
    pub fn as_array(&self) -> Option<&[FieldValue]> {
        match self {
            FieldValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Bytes this value takes on the wire after its type octet.
    fn body_len(&self, depth: usize) -> Result<usize, EncodeError> {
        Ok(match self {
            FieldValue::Bool(_) | FieldValue::I8(_) | FieldValue::U8(_) => 1,
            FieldValue::I16(_) | FieldValue::U16(_) => 2,
            FieldValue::I32(_) | FieldValue::U32(_) | FieldValue::F32(_) => 4,
            FieldValue::I64(_)
            | FieldValue::I64L(_)
            | FieldValue::F64(_)
            | FieldValue::Timestamp(_) => 8,
            FieldValue::Decimal(_) => 5,
            FieldValue::LongStr(b) | FieldValue::ByteArray(b) => 4 + b.len(),
            FieldValue::Array(a) => 4 + array_len(a, depth + 1)?,
            FieldValue::Table(t) => 4 + t.entries_len(depth + 1)?,
            FieldValue::Void => 0,
        })
    }

    fn write(&self, out: &mut Writer<'_>) {
        wire::put_u8(out, self.tag());
        match self {
            FieldValue::Bool(b) => wire::put_u8(out, u8::from(*b)),
            FieldValue::I8(v) => wire::put_u8(out, *v as u8),
            FieldValue::U8(v) => wire::put_u8(out, *v),
            FieldValue::I16(v) => wire::put_u16(out, *v as u16),
            FieldValue::U16(v) => wire::put_u16(out, *v),
            FieldValue::I32(v) => wire::put_u32(out, *v as u32),
            FieldValue::U32(v) => wire::put_u32(out, *v),
            FieldValue::I64(v) | FieldValue::I64L(v) => wire::put_u64(out, *v as u64),
            FieldValue::F32(v) => wire::put_u32(out, v.to_bits()),
            FieldValue::F64(v) => wire::put_u64(out, v.to_bits()),
            FieldValue::Decimal(d) => {
                wire::put_u8(out, d.scale);
                wire::put_u32(out, d.value);
            }
            FieldValue::LongStr(b) | FieldValue::ByteArray(b) => wire::put_longstr(out, b),
            FieldValue::Array(a) => {
                let at = wire::start_length(out);
                for v in a {
                    v.write(out);
                }
                wire::end_length(out, at);
            }
            FieldValue::Table(t) => t.write(out),
            FieldValue::Timestamp(v) => wire::put_u64(out, *v),
            FieldValue::Void => {}
        }
    }

    // Inlined into the loops that push its result: returned through memory, the value was
    // copied in pieces that stalled on store forwarding.
    #[inline(always)]
    fn read(buf: &mut Reader<'_>, depth: usize) -> Result<FieldValue, Malformed> {
        let tag = buf.u8()?;
        Ok(match tag {
            b't' => FieldValue::Bool(buf.u8()? != 0),
            b'b' => FieldValue::I8(buf.u8()? as i8),
            b'B' => FieldValue::U8(buf.u8()?),
            b's' => FieldValue::I16(buf.u16()? as i16),
            b'u' => FieldValue::U16(buf.u16()?),
            b'I' => FieldValue::I32(buf.u32()? as i32),
            b'i' => FieldValue::U32(buf.u32()?),
            b'l' => FieldValue::I64(buf.u64()? as i64),
            b'L' => FieldValue::I64L(buf.u64()? as i64),
            b'f' => FieldValue::F32(f32::from_bits(buf.u32()?)),
            b'd' => FieldValue::F64(f64::from_bits(buf.u64()?)),
            b'D' => FieldValue::Decimal(Decimal {
                scale: buf.u8()?,
                value: buf.u32()?,
            }),
            b'S' => FieldValue::LongStr(buf.longstr()?),
            b'x' => FieldValue::ByteArray(buf.longstr()?),
            b'A' => FieldValue::Array(read_array(buf, depth + 1)?),
            b'T' => FieldValue::Timestamp(buf.u64()?),
            b'F' => FieldValue::Table(FieldTable::read_at(buf, depth + 1)?),
            b'V' => FieldValue::Void,
            tag => return Err(Malformed::UnknownFieldType { tag }),
        })
    }
}

macro_rules! from_impls {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for FieldValue {
            fn from(v: $t) -> Self {
                FieldValue::$variant(v)
            }
        }
    )*};
}

from_impls!(
    bool => Bool, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, f32 => F32, f64 => F64, Decimal => Decimal, Bytes => LongStr,
    Vec<FieldValue> => Array, FieldTable => Table,
);

impl From<&str> for FieldValue {
    /// A long string (`S`) holding a copy of `s`.
    fn from(s: &str) -> Self {
        FieldValue::LongStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for FieldValue {
    /// A long string (`S`).
    fn from(s: String) -> Self {
        FieldValue::LongStr(Bytes::from(s))
    }
}

fn check_depth(depth: usize) -> Result<(), EncodeError> {
    if depth > MAX_TABLE_DEPTH {
        Err(EncodeError::TooDeep {
            limit: MAX_TABLE_DEPTH,
        })
    } else {
        Ok(())
    }
}

/// Bytes of an array's values, without its length.
fn array_len(values: &[FieldValue], depth: usize) -> Result<usize, EncodeError> {
    check_depth(depth)?;
    let mut len = 0usize;
    for v in values {
        len = len.saturating_add(1 + v.body_len(depth)?);
    }
    Ok(len)
}

fn read_array(buf: &mut Reader<'_>, depth: usize) -> Result<Vec<FieldValue>, Malformed> {
    if depth > MAX_TABLE_DEPTH {
        return Err(Malformed::TooDeep {
            limit: MAX_TABLE_DEPTH,
        });
    }
    let len = buf.u32()? as usize;
    let mut body = buf.sub(len)?;
    let mut values = Vec::new();
    while body.remaining() > 0 {
        values.push(FieldValue::read(&mut body, depth)?);
    }
    Ok(values)
}

/// A field table: named, typed values, in wire order.
///
/// ```text
/// +------------+--------------------------------------------------+
/// | length u32 | entries: name (shortstr), type octet, value ...  |
/// +------------+--------------------------------------------------+
/// ```
///
/// The length counts the entry bytes that follow it. Value types are listed
/// at [`FieldValue`]; arrays (`A`) are a `u32` length followed by type octets
/// and values without names.
///
/// Entries keep their wire order, duplicates included, so a decoded table
/// encodes back to the same bytes. [`get`](Self::get) finds the first entry
/// of a name, as RabbitMQ's `table_lookup` does; [`insert`](Self::insert)
/// replaces it. Tables are small (the arguments of a declare, the headers of
/// a message), so lookups scan.
///
/// # Examples
///
/// ```
/// use spindle_protocols::amqp::{FieldTable, FieldValue, ShortStr};
///
/// let mut args = FieldTable::new();
/// args.insert(ShortStr::from_static("x-max-length"), FieldValue::I32(1000));
/// args.insert(ShortStr::from_static("x-queue-type"), "quorum".into());
/// assert_eq!(args.get("x-max-length").and_then(FieldValue::as_i64), Some(1000));
///
/// let mut wire = bytes::BytesMut::new();
/// args.encode(&mut wire).unwrap();
/// let decoded = FieldTable::decode(&mut wire.freeze()).unwrap();
/// assert_eq!(decoded, args);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldTable {
    entries: Vec<(ShortStr, FieldValue)>,
}

impl FieldTable {
    /// An empty table.
    pub const fn new() -> Self {
        FieldTable {
            entries: Vec::new(),
        }
    }

    /// Number of entries (duplicates counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of the first entry named `name`.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&FieldValue> {
        let name = name.as_ref();
        self.entries
            .iter()
            .find(|(k, _)| k.as_bytes() == name)
            .map(|(_, v)| v)
    }

    /// Sets `name` to `value`: replaces the first entry of that name and
    /// returns its old value, or appends a new entry.
    pub fn insert(&mut self, name: ShortStr, value: FieldValue) -> Option<FieldValue> {
        match self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.entries.push((name, value));
                None
            }
        }
    }

    /// Appends an entry, even if the name is already there.
    pub fn push(&mut self, name: ShortStr, value: FieldValue) {
        self.entries.push((name, value));
    }

    /// Removes every entry named `name`; returns the first one's value.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> Option<FieldValue> {
        let name = name.as_ref();
        let at = self
            .entries
            .iter()
            .position(|(k, _)| k.as_bytes() == name)?;
        let (_, first) = self.entries.remove(at);
        self.entries.retain(|(k, _)| k.as_bytes() != name);
        Some(first)
    }

    /// The entries in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, (ShortStr, FieldValue)> {
        self.entries.iter()
    }

    /// Bytes of the entries, without the length.
    fn entries_len(&self, depth: usize) -> Result<usize, EncodeError> {
        check_depth(depth)?;
        let mut len = 0usize;
        for (k, v) in &self.entries {
            len = len.saturating_add(2 + k.len() + v.body_len(depth)?);
        }
        Ok(len)
    }

    /// The bytes [`encode`](Self::encode) writes, length included.
    ///
    /// # Errors
    ///
    /// [`EncodeError::TooDeep`] for tables nested deeper than
    /// [`MAX_TABLE_DEPTH`], [`EncodeError::TooLong`] past 4 GiB.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let len = self.entries_len(1)?;
        if len > u32::MAX as usize {
            return Err(EncodeError::TooLong { len });
        }
        Ok(4 + len)
    }

    /// Appends the table, length first, to `out`.
    ///
    /// # Errors
    ///
    /// As [`encoded_len`](Self::encoded_len); nothing is written then.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        wire::append(out, self.encoded_len()?, |w| self.write(w));
        Ok(())
    }

    /// Writes a table [`encoded_len`](Self::encoded_len) accepted (directly
    /// or as part of a larger value).
    pub(crate) fn write(&self, out: &mut Writer<'_>) {
        let at = wire::start_length(out);
        for (k, v) in &self.entries {
            wire::put_shortstr(out, k);
            v.write(out);
        }
        wire::end_length(out, at);
    }

    /// Reads a table, length first, from the front of `buf`. Strings in the
    /// result share `buf`'s memory.
    ///
    /// # Errors
    ///
    /// [`Malformed::Truncated`] if the length or an entry runs past the
    /// bytes, [`Malformed::UnknownFieldType`], [`Malformed::TooDeep`].
    pub fn decode(buf: &mut Bytes) -> Result<FieldTable, Malformed> {
        let mut reader = Reader::new(buf);
        let table = FieldTable::read(&mut reader);
        let read = reader.position();
        buf.advance(read);
        table
    }

    /// [`decode`](Self::decode) through a [`Reader`].
    pub(crate) fn read(buf: &mut Reader<'_>) -> Result<FieldTable, Malformed> {
        FieldTable::read_at(buf, 1)
    }

    fn read_at(buf: &mut Reader<'_>, depth: usize) -> Result<FieldTable, Malformed> {
        if depth > MAX_TABLE_DEPTH {
            return Err(Malformed::TooDeep {
                limit: MAX_TABLE_DEPTH,
            });
        }
        let len = buf.u32()? as usize;
        let mut body = buf.sub(len)?;
        // An entry takes 2 bytes at least (an empty name and `V`), so `len`, which has been
        // received, bounds the count; 4 is what the first push would reserve anyway.
        let mut entries = Vec::with_capacity((len / 2).min(4));
        while body.remaining() > 0 {
            let name = body.shortstr()?;
            let value = FieldValue::read(&mut body, depth)?;
            entries.push((name, value));
        }
        Ok(FieldTable { entries })
    }
}

impl FromIterator<(ShortStr, FieldValue)> for FieldTable {
    /// A table of these entries in this order, duplicates kept.
    fn from_iter<I: IntoIterator<Item = (ShortStr, FieldValue)>>(iter: I) -> Self {
        FieldTable {
            entries: iter.into_iter().collect(),
        }
    }
}

impl IntoIterator for FieldTable {
    type Item = (ShortStr, FieldValue);
    type IntoIter = std::vec::IntoIter<(ShortStr, FieldValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a FieldTable {
    type Item = &'a (ShortStr, FieldValue);
    type IntoIter = std::slice::Iter<'a, (ShortStr, FieldValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn key(s: &str) -> ShortStr {
        ShortStr::try_from(s).unwrap()
    }

    /// One value of every type, nested: an array of every type and a table
    /// holding both again.
    pub(crate) fn every_type() -> FieldTable {
        let scalars: Vec<FieldValue> = vec![
            FieldValue::Bool(true),
            FieldValue::I8(-5),
            FieldValue::U8(250),
            FieldValue::I16(-300),
            FieldValue::U16(65000),
            FieldValue::I32(-70000),
            FieldValue::U32(4_000_000_000),
            FieldValue::I64(-5_000_000_000),
            FieldValue::F32(1.5),
            FieldValue::F64(-2.25),
            FieldValue::Decimal(Decimal {
                scale: 2,
                value: 12345,
            }),
            FieldValue::LongStr(Bytes::from_static(b"long string")),
            FieldValue::Timestamp(1_700_000_000),
            FieldValue::Void,
            FieldValue::ByteArray(Bytes::from_static(b"\x00\xff")),
        ];
        let mut inner: FieldTable = scalars
            .iter()
            .map(|v| (key(&format!("k{}", v.tag() as char)), v.clone()))
            .collect();
        inner.push(key("array"), FieldValue::Array(scalars.clone()));
        let mut outer = inner.clone();
        outer.push(key("table"), FieldValue::Table(inner.clone()));
        outer.push(
            key("array of tables"),
            FieldValue::Array(vec![
                FieldValue::Table(inner),
                FieldValue::Array(vec![]),
                FieldValue::Table(FieldTable::new()),
            ]),
        );
        outer
    }

    fn round_trip(t: &FieldTable) -> Bytes {
        let mut out = BytesMut::new();
        t.encode(&mut out).unwrap();
        assert_eq!(out.len(), t.encoded_len().unwrap());
        let wire = out.freeze();
        let mut input = wire.clone();
        assert_eq!(&FieldTable::decode(&mut input).unwrap(), t);
        assert!(input.is_empty());
        wire
    }

    #[test]
    fn every_type_nested_round_trips() {
        let t = every_type();
        round_trip(&t);
        let tags: Vec<u8> = t.iter().map(|(_, v)| v.tag()).collect();
        assert_eq!(tags, b"tbBsuIilfdDSTVxAFA");
    }

    #[test]
    fn known_bytes_of_each_type() {
        let cases: Vec<(FieldValue, &[u8])> = vec![
            (FieldValue::Bool(false), b"t\x00"),
            (FieldValue::I8(-1), b"b\xff"),
            (FieldValue::U8(1), b"B\x01"),
            (FieldValue::I16(-2), b"s\xff\xfe"),
            (FieldValue::U16(0x1234), b"u\x12\x34"),
            (FieldValue::I32(-1), b"I\xff\xff\xff\xff"),
            (FieldValue::U32(0x01020304), b"i\x01\x02\x03\x04"),
            (FieldValue::I64(1), b"l\x00\x00\x00\x00\x00\x00\x00\x01"),
            (FieldValue::I64L(-2), b"L\xff\xff\xff\xff\xff\xff\xff\xfe"),
            (FieldValue::F32(1.0), b"f\x3f\x80\x00\x00"),
            (FieldValue::F64(1.0), b"d\x3f\xf0\x00\x00\x00\x00\x00\x00"),
            (
                FieldValue::Decimal(Decimal { scale: 3, value: 7 }),
                b"D\x03\x00\x00\x00\x07",
            ),
            (FieldValue::from("hi"), b"S\x00\x00\x00\x02hi"),
            (
                FieldValue::Array(vec![1u8.into(), true.into()]),
                b"A\x00\x00\x00\x04B\x01t\x01",
            ),
            (
                FieldValue::Timestamp(2),
                b"T\x00\x00\x00\x00\x00\x00\x00\x02",
            ),
            (FieldValue::Table(FieldTable::new()), b"F\x00\x00\x00\x00"),
            (FieldValue::Void, b"V"),
            (
                FieldValue::ByteArray(Bytes::from_static(b"\x01")),
                b"x\x00\x00\x00\x01\x01",
            ),
        ];
        for (value, bytes) in cases {
            let t: FieldTable = [(key("k"), value.clone())].into_iter().collect();
            let mut expected = vec![0, 0, 0, (2 + bytes.len()) as u8, 1, b'k'];
            expected.extend_from_slice(bytes);
            assert_eq!(&round_trip(&t)[..], &expected[..], "{value:?}");
        }
    }

    #[test]
    fn decode_errors() {
        let cases: Vec<(&[u8], Malformed)> = vec![
            (b"\x00\x00\x00", Malformed::Truncated),
            (b"\x00\x00\x00\x05\x01k", Malformed::Truncated),
            (b"\x00\x00\x00\x03\x01kt", Malformed::Truncated),
            (
                b"\x00\x00\x00\x03\x01kZ",
                Malformed::UnknownFieldType { tag: b'Z' },
            ),
            (
                b"\x00\x00\x00\x03\x01kQ",
                Malformed::UnknownFieldType { tag: b'Q' },
            ),
            // The array claims more bytes than its table holds.
            (
                b"\x00\x00\x00\x08\x01kA\x00\x00\x00\x09",
                Malformed::Truncated,
            ),
            // A shortstr name running past the table's end.
            (b"\x00\x00\x00\x02\x05k", Malformed::Truncated),
        ];
        for (input, expected) in cases {
            let mut b = Bytes::copy_from_slice(input);
            assert_eq!(FieldTable::decode(&mut b), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn bool_octet_other_than_one_is_true() {
        let mut b = Bytes::from_static(b"\x00\x00\x00\x04\x01kt\x07");
        let t = FieldTable::decode(&mut b).unwrap();
        assert_eq!(t.get("k"), Some(&FieldValue::Bool(true)));
    }

    /// A table nested exactly `depth` deep, tables and arrays alternating.
    fn nested(depth: usize) -> FieldTable {
        let mut v = FieldValue::Void;
        for i in 1..depth {
            v = if i % 2 == 0 {
                FieldValue::Table([(key("n"), v)].into_iter().collect())
            } else {
                FieldValue::Array(vec![v])
            };
        }
        [(key("n"), v)].into_iter().collect()
    }

    fn depth_of(t: &FieldTable) -> usize {
        fn value_depth(v: &FieldValue) -> usize {
            match v {
                FieldValue::Table(t) => depth_of(t),
                FieldValue::Array(a) => 1 + a.iter().map(value_depth).max().unwrap_or(0),
                _ => 0,
            }
        }
        1 + t.iter().map(|(_, v)| value_depth(v)).max().unwrap_or(0)
    }

    #[test]
    fn depth_limit_holds_both_ways() {
        let ok = nested(MAX_TABLE_DEPTH);
        assert_eq!(depth_of(&ok), MAX_TABLE_DEPTH);
        let wire = round_trip(&ok);

        let deep = nested(MAX_TABLE_DEPTH + 1);
        assert_eq!(depth_of(&deep), MAX_TABLE_DEPTH + 1);
        let err = EncodeError::TooDeep {
            limit: MAX_TABLE_DEPTH,
        };
        assert_eq!(deep.encode(&mut BytesMut::new()), Err(err));

        // The same bytes, built by hand: wrap the accepted table once more.
        let mut deeper = BytesMut::new();
        deeper.put_u32(wire.len() as u32 + 3);
        deeper.put_slice(b"\x01nF");
        deeper.put_slice(&wire);
        assert_eq!(
            FieldTable::decode(&mut deeper.freeze()),
            Err(Malformed::TooDeep {
                limit: MAX_TABLE_DEPTH
            })
        );
    }

    #[test]
    fn hostile_nesting_does_not_overflow_the_stack() {
        // 100k nested arrays in 500 kB: refused at the limit.
        let levels = 100_000;
        let mut wire = Vec::new();
        for i in 0..levels {
            let remaining = (levels - i - 1) * 5;
            if i == 0 {
                wire.extend_from_slice(&(remaining as u32 + 7).to_be_bytes());
                wire.extend_from_slice(b"\x01a");
            }
            wire.push(b'A');
            wire.extend_from_slice(&(remaining as u32).to_be_bytes());
        }
        assert_eq!(
            FieldTable::decode(&mut Bytes::from(wire)),
            Err(Malformed::TooDeep {
                limit: MAX_TABLE_DEPTH
            })
        );
    }

    #[test]
    fn lookups_follow_rabbitmq() {
        let mut t = FieldTable::new();
        t.push(key("a"), 1i32.into());
        t.push(key("b"), 2i32.into());
        t.push(key("a"), 3i32.into());
        assert_eq!(t.get("a"), Some(&FieldValue::I32(1)));
        assert_eq!(t.insert(key("a"), 4i32.into()), Some(FieldValue::I32(1)));
        assert_eq!(t.insert(key("c"), 5i32.into()), None);
        assert_eq!(t.len(), 4);
        assert_eq!(t.remove("a"), Some(FieldValue::I32(4)));
        assert_eq!(t.get("a"), None);
        assert_eq!(t.remove(b"zz"), None);
        let names: Vec<&[u8]> = t.iter().map(|(k, _)| k.as_bytes()).collect();
        assert_eq!(names, [&b"b"[..], b"c"]);
        assert!(!t.is_empty());
        assert_eq!((&t).into_iter().count(), 2);
        assert_eq!(t.into_iter().count(), 2);
    }

    #[test]
    fn accessors() {
        assert_eq!(FieldValue::U32(7).as_i64(), Some(7));
        assert_eq!(FieldValue::I8(-7).as_i64(), Some(-7));
        assert_eq!(FieldValue::Timestamp(u64::MAX).as_i64(), None);
        assert_eq!(FieldValue::F32(1.0).as_i64(), None);
        assert_eq!(FieldValue::Bool(true).as_bool(), Some(true));
        assert_eq!(FieldValue::Void.as_bool(), None);
        assert_eq!(FieldValue::from(String::from("s")).as_bytes().unwrap(), "s");
        assert!(FieldValue::Table(FieldTable::new()).as_table().is_some());
        assert_eq!(FieldValue::Array(vec![]).as_array(), Some(&[][..]));
        assert_eq!(FieldValue::Void.as_array(), None);
    }

    #[test]
    fn strings_share_the_input() {
        let wire = round_trip(&every_type());
        let t = FieldTable::decode(&mut wire.clone()).unwrap();
        let FieldValue::LongStr(s) = t.get("kS").unwrap() else {
            unreachable!()
        };
        let start = wire.as_ptr() as usize;
        let at = s.as_ptr() as usize;
        assert!(at >= start && at < start + wire.len());
    }
}
