//! A record's bytes: the segment file header, a record's encoding, its checks and its
//! decoding. No IO: `segment.rs` and `log.rs` move these bytes to and from the files.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use spindle_protocols::amqp::{BasicProperties, ShortStr};

/// The first bytes of every segment file: magic and format version 1 (u16 LE).
pub(crate) const FILE_HEADER: [u8; 8] = *b"SPNDLQ\x01\x00";

/// [`FILE_HEADER`]'s length, where a segment's first record starts.
pub(crate) const FILE_HEADER_LEN: u64 = FILE_HEADER.len() as u64;

/// The byte every record starts with; recovery scans for it to resynchronise after damage.
pub(crate) const MARKER: u8 = 0xA7;

/// The only record kind so far: a message.
const KIND_MESSAGE: u8 = 1;

/// Marker, kind, payload length (u32 LE), CRC32 (u32 LE).
pub(crate) const RECORD_HEADER_LEN: usize = 10;

/// The `flags` bit of a persistent message (delivery mode 2); clear for a transient one.
const FLAG_PERSISTENT: u8 = 0x01;

/// The smallest payload: id, flags, two empty names, empty property flags, body length.
const MIN_PAYLOAD: usize = 8 + 1 + 1 + 1 + 2 + 4;

/// The largest payload a record holds (1 GiB, twice RabbitMQ's largest `max_message_size`):
/// lengths read from a file are checked against it before anything else.
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;

/// Where a record is: its segment, its byte offset there and its length (header included), so
/// that reading it back is one `pread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Place {
    /// The segment's number (`msgs.0000000042` is 42).
    pub(crate) segment: u32,
    /// The record's first byte in the segment file.
    pub(crate) offset: u32,
    /// The record's length in bytes, header included.
    pub(crate) len: u32,
}

/// A message as stored and as recovered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredMessage {
    /// The caller's message id.
    pub(crate) id: u64,
    /// Persistent (recovered after a restart) or transient (paged out only).
    pub(crate) persistent: bool,
    /// The exchange it was published to.
    pub(crate) exchange: ShortStr,
    /// The routing key it was published with.
    pub(crate) routing_key: ShortStr,
    /// Its content header's properties.
    pub(crate) properties: BasicProperties,
    /// Its body.
    pub(crate) body: Bytes,
}

/// Appends a message record to `out` and returns its length. Nothing is appended on an error.
///
/// # Errors
///
/// `InvalidInput` if the properties do not encode (a `headers` table nested too deeply) or the
/// record would be longer than [`MAX_PAYLOAD`].
pub(crate) fn encode(
    out: &mut BytesMut,
    id: u64,
    persistent: bool,
    exchange: &ShortStr,
    routing_key: &ShortStr,
    properties: &BasicProperties,
    body: &[u8],
) -> io::Result<u32> {
    let props_len = properties.encoded_len().map_err(invalid_input)?;
    let payload_len = 8 + 1 + 1 + exchange.len() + 1 + routing_key.len() + props_len + 4;
    let payload_len = payload_len.saturating_add(body.len());
    if payload_len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a message of {payload_len} bytes is longer than a record holds"),
        ));
    }
    let start = out.len();
    out.reserve(RECORD_HEADER_LEN + payload_len);
    out.put_u8(MARKER);
    out.put_u8(KIND_MESSAGE);
    out.put_u32_le(payload_len as u32);
    out.put_u32_le(0); // the CRC, filled in below
    out.put_u64_le(id);
    out.put_u8(if persistent { FLAG_PERSISTENT } else { 0 });
    out.put_u8(exchange.len() as u8);
    out.put_slice(exchange);
    out.put_u8(routing_key.len() as u8);
    out.put_slice(routing_key);
    if let Err(e) = properties.encode(out) {
        out.truncate(start);
        return Err(invalid_input(e));
    }
    out.put_u32_le(body.len() as u32);
    out.put_slice(body);
    let record = out.get_mut(start..).unwrap_or_default();
    let crc = checksum(record);
    if let Some(slot) = record.get_mut(6..RECORD_HEADER_LEN) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    Ok((RECORD_HEADER_LEN + payload_len) as u32)
}

fn invalid_input(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

/// The CRC32 of a record's kind, length and payload (everything but the marker and the CRC).
fn checksum(record: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(record.get(1..6).unwrap_or_default());
    hasher.update(record.get(RECORD_HEADER_LEN..).unwrap_or_default());
    hasher.finalize()
}

/// The length of the record at `buf[pos..]` if one is there whole: marker, known kind, a
/// payload length in bounds and within `buf`, and a matching CRC. `None` for anything else.
pub(crate) fn check_at(buf: &[u8], pos: usize) -> Option<usize> {
    let header = buf.get(pos..pos.checked_add(RECORD_HEADER_LEN)?)?;
    let len = claimed_len(header)?;
    let crc = u32::from_le_bytes(header.get(6..10)?.try_into().ok()?);
    let record = buf.get(pos..pos + len)?;
    (checksum(record) == crc).then_some(len)
}

/// The length (header included) a record header claims, if it starts like a record: marker,
/// known kind, a payload length in bounds. Its CRC is not checked: [`check_at`] does that.
pub(crate) fn claimed_len(header: &[u8]) -> Option<usize> {
    let (&marker, &kind) = (header.first()?, header.get(1)?);
    if marker != MARKER || kind != KIND_MESSAGE {
        return None;
    }
    let len = u32::from_le_bytes(header.get(2..6)?.try_into().ok()?) as usize;
    (MIN_PAYLOAD..=MAX_PAYLOAD)
        .contains(&len)
        .then_some(RECORD_HEADER_LEN + len)
}

/// Decodes a record [`check_at`] accepted (`record` is the whole record, header included).
/// `None` if the payload does not parse — which a CRC that checks makes a writer's bug or a
/// forged file, and recovery treats as damage.
pub(crate) fn decode(mut record: Bytes) -> Option<StoredMessage> {
    take(&mut record, RECORD_HEADER_LEN)?;
    let id = u64::from_le_bytes(take(&mut record, 8)?.as_ref().try_into().ok()?);
    let flags = *take(&mut record, 1)?.first()?;
    if flags & !FLAG_PERSISTENT != 0 {
        return None;
    }
    let exchange = shortstr(&mut record)?;
    let routing_key = shortstr(&mut record)?;
    let properties = BasicProperties::decode(&mut record).ok()?;
    let body_len = u32::from_le_bytes(take(&mut record, 4)?.as_ref().try_into().ok()?);
    if record.len() != body_len as usize {
        return None;
    }
    Some(StoredMessage {
        id,
        persistent: flags & FLAG_PERSISTENT != 0,
        exchange,
        routing_key,
        properties,
        body: record,
    })
}

/// Whether a record [`check_at`] accepted is of a persistent message, read from its flags
/// without decoding it.
pub(crate) fn is_persistent(record: &[u8]) -> bool {
    record
        .get(RECORD_HEADER_LEN + 8)
        .is_some_and(|flags| flags & FLAG_PERSISTENT != 0)
}

/// The next `n` bytes of `buf`, if it has them.
fn take(buf: &mut Bytes, n: usize) -> Option<Bytes> {
    (buf.len() >= n).then(|| buf.split_to(n))
}

fn shortstr(buf: &mut Bytes) -> Option<ShortStr> {
    let len = *take(buf, 1)?.first()?;
    ShortStr::from_bytes(take(buf, len as usize)?).ok()
}
