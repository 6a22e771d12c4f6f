//! Frames: the protocol header, [`Frame`], [`decode`] and [`encode`], and
//! [`FrameReceiver`], the pull API over them. [`Method::decode`] is here too:
//! it wraps the generated dispatch's answers in [`AmqpError`]s, which the
//! generated file cannot name (`error` sits above it).
//!
//! ```text
//! protocol header (client -> server, once):  'A' 'M' 'Q' 'P' 0 0 9 1
//!
//! frame:  +---------+-------------+----------+-----------------+------+
//!         | type u8 | channel u16 | size u32 | payload: size   | 0xCE |
//!         +---------+-------------+----------+-----------------+------+
//!         type 1 method, 2 content header, 3 content body, 8 heartbeat
//! ```
//!
//! A frame's size counts its 8 bytes of framing too when compared with
//! `frame-max`, as the spec counts it; see [`decode`] for RabbitMQ's leeway.

use bytes::{Buf, Bytes, BytesMut};

use super::generated;
use super::wire::{self, Reader, Writer};
use super::{
    AmqpError, BasicProperties, EncodeError, FrameKind, Malformed, Method, FRAME_BODY, FRAME_END,
    FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_MIN_SIZE,
};

/// What a client sends first: `AMQP`, protocol id 0, version 0-9-1.
///
/// A server that receives anything else answers with these 8 bytes (the
/// version it speaks) and closes the socket; see
/// [`decode_protocol_header`].
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";

/// Bytes of framing around a frame's payload: type, channel and size
/// before it (7), the end octet after it (1).
pub const FRAME_OVERHEAD: usize = 8;

/// One frame: the channel it travels on and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The channel; 0 is the connection's own.
    pub channel: u16,
    /// What the frame carries.
    pub payload: FramePayload,
}

/// What a [`Frame`] carries.
#[derive(Debug, Clone, PartialEq)]
pub enum FramePayload {
    /// Type 1: a method.
    Method(Method),
    /// Type 2: the header of a method's content (boxed: its 14 optional
    /// properties would make every frame as large as a header).
    Header(Box<ContentHeader>),
    /// Type 3: a piece of a content body.
    Body(Bytes),
    /// Type 8: a heartbeat (channel 0, no payload).
    Heartbeat,
}

impl FramePayload {
    /// Which kind of frame this is.
    pub fn kind(&self) -> FrameKind {
        match self {
            FramePayload::Method(_) => FrameKind::Method,
            FramePayload::Header(_) => FrameKind::Header,
            FramePayload::Body(_) => FrameKind::Body,
            FramePayload::Heartbeat => FrameKind::Heartbeat,
        }
    }

    /// The frame type octet.
    pub fn frame_type(&self) -> u8 {
        match self {
            FramePayload::Method(_) => FRAME_METHOD,
            FramePayload::Header(_) => FRAME_HEADER,
            FramePayload::Body(_) => FRAME_BODY,
            FramePayload::Heartbeat => FRAME_HEARTBEAT,
        }
    }
}

/// A content header: what follows a content-carrying method.
///
/// ```text
/// +--------------+------------+---------------+--------------------------------+
/// | class-id u16 | weight u16 | body-size u64 | property flags and properties  |
/// +--------------+------------+---------------+--------------------------------+
/// ```
///
/// Only class basic (60) has content in 0-9-1, so the properties are
/// [`BasicProperties`]; a header of another class is refused on decode.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentHeader {
    /// The class of the method the content belongs to: 60.
    pub class_id: u16,
    /// Unused; must be 0.
    pub weight: u16,
    /// Total bytes of the body frames that follow.
    pub body_size: u64,
    /// The message's properties.
    pub properties: BasicProperties,
}

impl Default for ContentHeader {
    /// A basic content header (class 60) for an empty body, without properties.
    fn default() -> Self {
        ContentHeader::new(0, BasicProperties::default())
    }
}

impl ContentHeader {
    /// A basic content header for a body of `body_size` bytes.
    pub fn new(body_size: u64, properties: BasicProperties) -> Self {
        ContentHeader {
            class_id: BasicProperties::CLASS_ID,
            weight: 0,
            body_size,
            properties,
        }
    }

    /// Bytes of the header frame's payload.
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(12 + self.properties.encoded_len()?)
    }

    fn write(&self, out: &mut Writer<'_>) {
        wire::put_u16(out, self.class_id);
        wire::put_u16(out, self.weight);
        wire::put_u64(out, self.body_size);
        self.properties.write(out);
    }

    /// Decodes a header frame's payload into the box it will travel in: the
    /// properties are decoded in place, not built on the stack and moved.
    fn decode_boxed(payload: &Bytes) -> Result<Box<ContentHeader>, AmqpError> {
        let mut buf = Reader::new(payload);
        let class_id = buf.u16().map_err(|_| AmqpError::MalformedHeader {
            class_id: 0,
            reason: Malformed::Truncated,
        })?;
        if class_id != BasicProperties::CLASS_ID {
            return Err(AmqpError::UnknownContentClass { class_id });
        }
        // `Box::default` allocates first and builds the value in place; `Box::new(value)`
        // built its 384 bytes on the stack and copied them.
        let mut header = Box::<ContentHeader>::default();
        let mut rest = || -> Result<(), Malformed> {
            header.weight = buf.u16()?;
            header.body_size = buf.u64()?;
            header.properties.read_into(&mut buf)?;
            buf.finish()
        };
        match rest() {
            Ok(()) => Ok(header),
            Err(reason) => Err(AmqpError::MalformedHeader { class_id, reason }),
        }
    }
}

/// Reads a client's protocol header from the front of `buf` (server side).
///
/// `Ok(true)`: the 8 bytes were [`PROTOCOL_HEADER`] and have been consumed;
/// answer with `connection.start`. `Ok(false)`: fewer than 8 bytes so far.
///
/// # Errors
///
/// [`AmqpError::ProtocolHeaderMismatch`] if the first 8 bytes are anything
/// else (another AMQP version, HTTP, TLS, ...): write [`PROTOCOL_HEADER`] and
/// close the socket, as RabbitMQ does. `buf` is left as it was. Like
/// RabbitMQ, the decision waits for all 8 bytes, so what is reported does not
/// depend on how they arrived.
pub fn decode_protocol_header(buf: &mut BytesMut) -> Result<bool, AmqpError> {
    let Some(received) = buf.get(..PROTOCOL_HEADER.len()) else {
        return Ok(false);
    };
    if received != PROTOCOL_HEADER {
        return Err(AmqpError::ProtocolHeaderMismatch {
            received: Bytes::copy_from_slice(received),
        });
    }
    buf.advance(PROTOCOL_HEADER.len());
    Ok(true)
}

/// Appends [`PROTOCOL_HEADER`] to `out`: what a client sends first, and what
/// a server sends before closing on a bad header.
pub fn encode_protocol_header(out: &mut BytesMut) {
    out.extend_from_slice(&PROTOCOL_HEADER);
}

/// Reads one frame from the front of `buf`.
///
/// `Ok(Some(frame))` consumes the frame's bytes; `Ok(None)` means the frame
/// is not complete yet (nothing is consumed, and nothing is allocated for
/// the bytes still to come: `buf` grows only with what is received).
///
/// `frame_max` is the negotiated limit on a whole frame, 8 bytes of framing
/// included, as the spec counts; 0 means no limit. Before `connection.tune`
/// it is [`FRAME_MIN_SIZE`]. RabbitMQ lets frames exceed its own limit by up
/// to 8 bytes, since clients often get the count wrong; a server that wants
/// the same leeway passes its `frame-max + 8`.
///
/// Method arguments, content headers and field tables are decoded here; their
/// strings, and body payloads, are slices of `buf`'s memory, not copies.
///
/// # Errors
///
/// With the framing lost ([`AmqpError::is_framing_lost`]), nothing consumed:
/// [`AmqpError::UnknownFrameType`], [`AmqpError::FrameTooLarge`] (detected
/// from the 7 header bytes, before the payload arrives),
/// [`AmqpError::BadFrameEnd`], and [`AmqpError::ProtocolHeaderReceived`]
/// when a server answers a client's header with its own.
///
/// With the frame consumed and the framing intact:
/// [`AmqpError::HeartbeatOnChannel`], [`AmqpError::HeartbeatPayload`],
/// [`AmqpError::ContentOnChannelZero`], [`AmqpError::UnknownMethod`],
/// [`AmqpError::MalformedMethod`] (including bytes after the last argument),
/// [`AmqpError::UnknownContentClass`], [`AmqpError::MalformedHeader`].
pub fn decode(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, AmqpError> {
    decode_inline(buf, frame_max)
}

/// [`decode`], inlined into its two callers so that the frame (144 bytes) is
/// written where the caller wants it instead of being moved out of a
/// `Result<Option<_>>` into an `Option<Result<_>>`.
#[inline(always)]
fn decode_inline(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, AmqpError> {
    let Some(&[frame_type, c0, c1, s0, s1, s2, s3]) = buf.get(..7) else {
        return Ok(None);
    };
    match frame_type {
        FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT => {}
        b'A' => {
            // "AMQP" and a version: the server refused our protocol header.
            let Some(header) = buf.get(..8) else {
                return Ok(None);
            };
            if let Ok(header @ [b'A', b'M', b'Q', b'P', ..]) = <[u8; 8]>::try_from(header) {
                return Err(AmqpError::ProtocolHeaderReceived { header });
            }
            return Err(AmqpError::UnknownFrameType { frame_type });
        }
        _ => return Err(AmqpError::UnknownFrameType { frame_type }),
    }
    let channel = u16::from_be_bytes([c0, c1]);
    let size = u32::from_be_bytes([s0, s1, s2, s3]);
    let total = u64::from(size) + FRAME_OVERHEAD as u64;
    if frame_max != 0 && total > u64::from(frame_max) {
        return Err(AmqpError::FrameTooLarge {
            size: total,
            frame_max,
        });
    }
    let Ok(total) = usize::try_from(total) else {
        return Err(AmqpError::FrameTooLarge {
            size: total,
            frame_max,
        });
    };
    let Some(&found) = buf.get(total - 1) else {
        return Ok(None);
    };
    if found != FRAME_END {
        return Err(AmqpError::BadFrameEnd { found });
    }

    let mut payload = buf.split_to(total).freeze();
    payload.advance(7);
    payload.truncate(size as usize);
    let payload = match frame_type {
        FRAME_METHOD => FramePayload::Method(decode_method(&payload)?),
        FRAME_HEADER if channel == 0 => {
            return Err(AmqpError::ContentOnChannelZero {
                kind: FrameKind::Header,
            })
        }
        FRAME_HEADER => FramePayload::Header(ContentHeader::decode_boxed(&payload)?),
        FRAME_BODY if channel == 0 => {
            return Err(AmqpError::ContentOnChannelZero {
                kind: FrameKind::Body,
            })
        }
        FRAME_BODY => FramePayload::Body(payload),
        _ if channel != 0 => return Err(AmqpError::HeartbeatOnChannel { channel }),
        _ if size != 0 => return Err(AmqpError::HeartbeatPayload { size }),
        _ => FramePayload::Heartbeat,
    };
    Ok(Some(Frame { channel, payload }))
}

impl Method {
    /// Reads the arguments of method `class_id`.`method_id` from the front of `payload` (a method
    /// frame's payload after the two ids). Strings and tables share `payload`'s memory.
    ///
    /// It stops after the last argument: bytes left in `payload` are for the caller to refuse (the
    /// frame decoder does, as [`Malformed::TrailingBytes`]).
    ///
    /// # Errors
    ///
    /// [`AmqpError::UnknownMethod`] for ids the spec does not list; [`AmqpError::MalformedMethod`]
    /// if the arguments do not decode.
    pub fn decode(class_id: u16, method_id: u16, payload: &mut Bytes) -> Result<Method, AmqpError> {
        let mut reader = Reader::new(payload);
        let method = Method::read(class_id, method_id, &mut reader);
        let read = reader.position();
        payload.advance(read);
        method
    }

    /// [`decode`](Self::decode) through a [`Reader`]: what the frame decoder calls.
    fn read(class_id: u16, method_id: u16, buf: &mut Reader<'_>) -> Result<Method, AmqpError> {
        match generated::decode_method(class_id, method_id, buf) {
            Ok(Some(method)) => Ok(method),
            Ok(None) => Err(AmqpError::UnknownMethod {
                class_id,
                method_id,
            }),
            Err(reason) => Err(AmqpError::MalformedMethod {
                class_id,
                method_id,
                reason,
            }),
        }
    }
}

fn decode_method(payload: &Bytes) -> Result<Method, AmqpError> {
    let mut buf = Reader::new(payload);
    let (Ok(class_id), Ok(method_id)) = (buf.u16(), buf.u16()) else {
        return Err(AmqpError::MalformedMethod {
            class_id: 0,
            method_id: 0,
            reason: Malformed::Truncated,
        });
    };
    let method = Method::read(class_id, method_id, &mut buf)?;
    buf.finish().map_err(|reason| AmqpError::MalformedMethod {
        class_id,
        method_id,
        reason,
    })?;
    Ok(method)
}

/// Appends `frame` to `out`, reserving its exact size first.
///
/// `frame-max` is not checked: frames for it are cut by
/// [`encode_message`](super::content::encode_message), and a method never
/// comes near it unless its tables are huge.
///
/// # Errors
///
/// [`EncodeError::TooDeep`] for a table nested too deeply,
/// [`EncodeError::TooLong`] for a payload over 4 GiB. Nothing is written
/// then.
pub fn encode(frame: &Frame, out: &mut BytesMut) -> Result<(), EncodeError> {
    let len = match &frame.payload {
        FramePayload::Method(m) => m.encoded_len()?,
        FramePayload::Header(h) => h.encoded_len()?,
        FramePayload::Body(b) => b.len(),
        FramePayload::Heartbeat => 0,
    };
    let size = u32::try_from(len).map_err(|_| EncodeError::TooLong { len })?;
    let frame_type = frame.payload.frame_type();
    if let FramePayload::Body(body) = &frame.payload {
        // Copied once, not zeroed first as `append` would.
        out.reserve(len + FRAME_OVERHEAD);
        wire::extend_frame_header(out, frame_type, frame.channel, size);
        out.extend_from_slice(body);
        out.extend_from_slice(&[FRAME_END]);
        return Ok(());
    }
    wire::append(out, len + FRAME_OVERHEAD, |w| {
        wire::put_frame_header(w, frame_type, frame.channel, size);
        match &frame.payload {
            FramePayload::Method(m) => m.write(w),
            FramePayload::Header(h) => h.write(w),
            FramePayload::Body(_) | FramePayload::Heartbeat => {}
        }
        wire::put_u8(w, FRAME_END);
    });
    Ok(())
}

/// Appends a method frame for `method` on `channel` to `out`: [`encode`]
/// without building a [`Frame`] (so without moving the method).
///
/// # Errors
///
/// As [`Method::encoded_len`]; nothing is written then.
pub fn encode_method(channel: u16, method: &Method, out: &mut BytesMut) -> Result<(), EncodeError> {
    let len = method.encoded_len()?;
    wire::append(out, len + FRAME_OVERHEAD, |w| {
        write_method(channel, method, len, w);
    });
    Ok(())
}

/// Writes a method frame whose payload `len` is `method.encoded_len()`
/// (which refuses lengths past `u32::MAX`).
#[inline]
pub(crate) fn write_method(channel: u16, method: &Method, len: usize, out: &mut Writer<'_>) {
    wire::put_frame_header(out, FRAME_METHOD, channel, len as u32);
    method.write(out);
    wire::put_u8(out, FRAME_END);
}

/// Appends a heartbeat frame to `out`: `08 0000 00000000 CE`.
pub fn encode_heartbeat(out: &mut BytesMut) {
    out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

/// Writes a content header frame from its parts (so that a sender need not
/// build, or clone into, a [`ContentHeader`]). `len` is the payload size:
/// 12 + `properties.encoded_len()`, checked by the caller.
#[inline]
pub(crate) fn write_header(
    channel: u16,
    class_id: u16,
    body_size: u64,
    properties: &BasicProperties,
    len: usize,
    out: &mut Writer<'_>,
) {
    wire::put_frame_header(out, FRAME_HEADER, channel, len as u32);
    wire::put_u16(out, class_id);
    wire::put_u16(out, 0);
    wire::put_u64(out, body_size);
    properties.write(out);
    wire::put_u8(out, FRAME_END);
}

/// Splits a byte stream into [`Frame`]s: the crate's pull API (`feed`, then
/// `next_*` until `None`) over [`decode_protocol_header`] and [`decode`].
///
/// ```
/// use spindle_protocols::amqp::frame::{self, FrameReceiver};
/// use spindle_protocols::amqp::{Frame, FramePayload};
///
/// let mut wire = bytes::BytesMut::new();
/// frame::encode_heartbeat(&mut wire);
/// let mut rx = FrameReceiver::new();
/// rx.feed(&wire[..3]);
/// assert_eq!(rx.next_frame(), None); // the rest has not arrived
/// rx.feed(&wire[3..]);
/// let heartbeat = Frame { channel: 0, payload: FramePayload::Heartbeat };
/// assert_eq!(rx.next_frame(), Some(Ok(heartbeat)));
/// ```
///
/// # Limits
///
/// Frames larger than [`frame_max`](Self::frame_max) are refused from their
/// first 7 bytes, so between calls the receiver holds less than one
/// frame-max of bytes (whatever one `feed` brings is buffered until the next
/// call). It starts at [`FRAME_MIN_SIZE`], the limit before tuning; raise it
/// with [`set_frame_max`](Self::set_frame_max) once `connection.tune-ok` has
/// settled the value.
///
/// # After an error
///
/// If the error [`is_framing_lost`](AmqpError::is_framing_lost), the receiver
/// drops its buffer and ignores further input: send the close and hang up.
/// Otherwise the bad frame has been consumed and the receiver goes on, so a
/// server can send `connection.close` and read on until `close-ok`.
#[derive(Debug)]
pub struct FrameReceiver {
    buf: BytesMut,
    frame_max: u32,
    lost: bool,
}

impl Default for FrameReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReceiver {
    /// A receiver with `frame-max` [`FRAME_MIN_SIZE`].
    pub fn new() -> Self {
        FrameReceiver {
            buf: BytesMut::new(),
            frame_max: FRAME_MIN_SIZE,
            lost: false,
        }
    }

    /// Sets the largest frame accepted, framing included (0: no limit).
    #[must_use]
    pub fn with_frame_max(mut self, frame_max: u32) -> Self {
        self.frame_max = frame_max;
        self
    }

    /// Sets the largest frame accepted from now on (0: no limit).
    pub fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max;
    }

    /// The largest frame accepted, framing included (0: no limit).
    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    /// Appends received bytes; nothing is parsed until a `next_*` call.
    /// Ignored after an error that lost the framing.
    pub fn feed(&mut self, data: &[u8]) {
        if !self.lost {
            self.buf.extend_from_slice(data);
        }
    }

    /// Server side, before any frame: the client's protocol header.
    /// `Some(Ok(()))` once it has arrived and was right (answer with
    /// `connection.start`); `None` while fewer than 8 bytes are buffered.
    /// Call it until it returns `Some`, then read frames with
    /// [`next_frame`](Self::next_frame): a second call would take the next 8
    /// bytes for another header.
    ///
    /// On `Some(Err(_))`, an [`AmqpError::ProtocolHeaderMismatch`], write
    /// [`PROTOCOL_HEADER`] and close the socket.
    pub fn next_protocol_header(&mut self) -> Option<Result<(), AmqpError>> {
        if self.lost {
            return None;
        }
        match decode_protocol_header(&mut self.buf) {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(self.fail(e))),
        }
    }

    /// The next frame, `None` if more bytes are needed, or an error (see the
    /// type's docs for what state it leaves).
    pub fn next_frame(&mut self) -> Option<Result<Frame, AmqpError>> {
        if self.lost {
            return None;
        }
        match decode_inline(&mut self.buf, self.frame_max) {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => None,
            Err(e) => Some(Err(self.fail(e))),
        }
    }

    fn fail(&mut self, e: AmqpError) -> AmqpError {
        if e.is_framing_lost() {
            self.lost = true;
            self.buf = BytesMut::new();
        }
        e
    }

    /// How many received bytes are buffered, not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::{BasicPublish, ConnectionStartOk, ShortStr};
    use crate::testutil::assert_same_events;

    fn method_frame(channel: u16, method: Method) -> Frame {
        Frame {
            channel,
            payload: FramePayload::Method(method),
        }
    }

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(frame, &mut out).unwrap();
        out.to_vec()
    }

    /// Decodes `chunks` fed one after the other, frames until the first
    /// error.
    fn decode_chunks(chunks: &[&[u8]], frame_max: u32) -> Vec<Result<Frame, AmqpError>> {
        let mut rx = FrameReceiver::new().with_frame_max(frame_max);
        let mut events = Vec::new();
        for chunk in chunks {
            rx.feed(chunk);
            while let Some(event) = rx.next_frame() {
                let failed = event.is_err();
                events.push(event);
                if failed {
                    return events;
                }
            }
        }
        events
    }

    #[test]
    fn heartbeat_bytes() {
        let mut out = BytesMut::new();
        encode_heartbeat(&mut out);
        let frame = Frame {
            channel: 0,
            payload: FramePayload::Heartbeat,
        };
        assert_eq!(&out[..], b"\x08\x00\x00\x00\x00\x00\x00\xce");
        assert_eq!(encoded(&frame), &out[..]);
    }

    #[test]
    fn every_sample_method_round_trips_in_a_frame() {
        let methods = crate::amqp::generated::sample_methods();
        assert_eq!(methods.len(), 66);
        for (i, method) in methods.into_iter().enumerate() {
            let frame = method_frame(i as u16, method);
            let wire = encoded(&frame);
            let mut buf = BytesMut::from(&wire[..]);
            assert_eq!(decode(&mut buf, 0), Ok(Some(frame.clone())));
            assert!(buf.is_empty());
            let mut direct = BytesMut::new();
            let FramePayload::Method(m) = &frame.payload else {
                unreachable!()
            };
            encode_method(i as u16, m, &mut direct).unwrap();
            assert_eq!(&direct[..], &wire[..]);
        }
    }

    #[test]
    fn table_of_frames_under_every_cutting() {
        let publish = method_frame(
            1,
            BasicPublish {
                exchange: ShortStr::from_static("ex"),
                routing_key: ShortStr::from_static("rk"),
                mandatory: true,
                ..BasicPublish::default()
            }
            .into(),
        );
        let header = Frame {
            channel: 1,
            payload: FramePayload::Header(Box::new(ContentHeader::new(
                3,
                BasicProperties {
                    content_type: Some(ShortStr::from_static("text/plain")),
                    delivery_mode: Some(2),
                    ..BasicProperties::default()
                },
            ))),
        };
        let body = Frame {
            channel: 1,
            payload: FramePayload::Body(Bytes::from_static(b"abc")),
        };
        let heartbeat = Frame {
            channel: 0,
            payload: FramePayload::Heartbeat,
        };
        let mut all = Vec::new();
        for f in [&publish, &header, &body, &heartbeat] {
            all.extend(encoded(f));
        }
        let ok = |fs: &[&Frame]| -> Vec<Result<Frame, AmqpError>> {
            fs.iter().map(|f| Ok((*f).clone())).collect()
        };
        let bad_end = {
            let mut v = encoded(&heartbeat);
            *v.last_mut().unwrap() = 0x41;
            v
        };
        let mut two_then_bad = encoded(&publish);
        two_then_bad.extend(encoded(&body));
        two_then_bad.extend(&bad_end);
        let mut hb_on_1 = encoded(&heartbeat);
        hb_on_1[2] = 1;
        hb_on_1.extend(encoded(&heartbeat));
        type Case<'a> = (&'a str, Vec<u8>, Vec<Result<Frame, AmqpError>>);
        let cases: Vec<Case<'_>> = vec![
            ("nothing", vec![], vec![]),
            (
                "publish, header, body, heartbeat",
                all.clone(),
                ok(&[&publish, &header, &body, &heartbeat]),
            ),
            (
                "trailing partial frame kept",
                all[..all.len() - 3].to_vec(),
                { ok(&[&publish, &header, &body]) },
            ),
            (
                "bad frame end after good frames",
                two_then_bad,
                vec![
                    Ok(publish.clone()),
                    Ok(body.clone()),
                    Err(AmqpError::BadFrameEnd { found: 0x41 }),
                ],
            ),
            (
                "unknown frame type",
                b"\x04\x00\x00\x00\x00\x00\x00\xce".to_vec(),
                vec![Err(AmqpError::UnknownFrameType { frame_type: 4 })],
            ),
            (
                // Consumed: the next heartbeat is still read... but decode_chunks stops at errors.
                "heartbeat on channel 1",
                hb_on_1,
                vec![Err(AmqpError::HeartbeatOnChannel { channel: 1 })],
            ),
        ];
        for (name, input, expected) in cases {
            assert_same_events(name, &input, &expected, |chunks| {
                decode_chunks(chunks, FRAME_MIN_SIZE)
            });
        }
    }

    #[test]
    fn every_strict_prefix_needs_more_and_consumes_nothing() {
        let frames = [
            method_frame(7, BasicPublish::default().into()),
            method_frame(0, ConnectionStartOk::default().into()),
            Frame {
                channel: 3,
                payload: FramePayload::Body(Bytes::from_static(b"body")),
            },
            Frame {
                channel: 0,
                payload: FramePayload::Heartbeat,
            },
        ];
        for frame in frames {
            let wire = encoded(&frame);
            for end in 0..wire.len() {
                let mut buf = BytesMut::from(&wire[..end]);
                assert_eq!(
                    decode(&mut buf, FRAME_MIN_SIZE),
                    Ok(None),
                    "{frame:?} cut at {end}"
                );
                assert_eq!(buf.len(), end);
            }
        }
    }

    #[test]
    fn frame_max_counts_the_framing_and_is_checked_from_the_header() {
        let body = |n: usize| Frame {
            channel: 1,
            payload: FramePayload::Body(Bytes::from(vec![b'x'; n])),
        };
        // 4088 payload bytes + 8 = 4096: accepted.
        let mut buf = BytesMut::from(&encoded(&body(4088))[..]);
        assert!(matches!(decode(&mut buf, 4096), Ok(Some(_))));
        // 4089: refused from the first 7 bytes.
        let wire = encoded(&body(4089));
        let mut buf = BytesMut::from(&wire[..7]);
        let err = AmqpError::FrameTooLarge {
            size: 4097,
            frame_max: 4096,
        };
        assert_eq!(decode(&mut buf, 4096), Err(err.clone()));
        assert_eq!(err.reply_code().code(), 501);
        assert!(err.is_framing_lost());
        // The largest announced size, with no limit: waits, allocating nothing.
        let mut buf = BytesMut::from(&b"\x03\x00\x01\xff\xff\xff\xff"[..]);
        assert_eq!(decode(&mut buf, 0), Ok(None));
        assert!(buf.capacity() < 64);
    }

    #[test]
    fn errors_and_their_codes() {
        let frame = |t: u8, ch: u16, payload: &[u8]| {
            let mut v = vec![t];
            v.extend(ch.to_be_bytes());
            v.extend((payload.len() as u32).to_be_bytes());
            v.extend(payload);
            v.push(0xce);
            v
        };
        let cases: Vec<(Vec<u8>, AmqpError, u16, bool)> = vec![
            (
                frame(1, 1, b"\x00\x3c"),
                AmqpError::MalformedMethod {
                    class_id: 0,
                    method_id: 0,
                    reason: Malformed::Truncated,
                },
                501,
                false,
            ),
            (
                frame(1, 1, b"\x00\x46\x00\x0a"),
                AmqpError::UnknownMethod {
                    class_id: 70,
                    method_id: 10,
                },
                540,
                false,
            ),
            (
                frame(1, 1, b"\x00\x3c\x00\x63"),
                AmqpError::UnknownMethod {
                    class_id: 60,
                    method_id: 99,
                },
                540,
                false,
            ),
            (
                // basic.ack with a byte too many.
                frame(
                    1,
                    1,
                    b"\x00\x3c\x00\x50\x00\x00\x00\x00\x00\x00\x00\x01\x00!",
                ),
                AmqpError::MalformedMethod {
                    class_id: 60,
                    method_id: 80,
                    reason: Malformed::TrailingBytes { count: 1 },
                },
                501,
                false,
            ),
            (
                // basic.ack cut short.
                frame(1, 1, b"\x00\x3c\x00\x50\x00\x00"),
                AmqpError::MalformedMethod {
                    class_id: 60,
                    method_id: 80,
                    reason: Malformed::Truncated,
                },
                501,
                false,
            ),
            (
                frame(8, 0, b"x"),
                AmqpError::HeartbeatPayload { size: 1 },
                501,
                false,
            ),
            (
                frame(8, 5, b""),
                AmqpError::HeartbeatOnChannel { channel: 5 },
                505,
                false,
            ),
            (
                frame(3, 0, b"body"),
                AmqpError::ContentOnChannelZero {
                    kind: FrameKind::Body,
                },
                505,
                false,
            ),
            (
                frame(2, 0, b""),
                AmqpError::ContentOnChannelZero {
                    kind: FrameKind::Header,
                },
                505,
                false,
            ),
            (
                frame(2, 1, b"\x00\x0a\x00\x00"),
                AmqpError::UnknownContentClass { class_id: 10 },
                505,
                false,
            ),
            (
                frame(2, 1, b"\x00"),
                AmqpError::MalformedHeader {
                    class_id: 0,
                    reason: Malformed::Truncated,
                },
                501,
                false,
            ),
            (
                frame(
                    2,
                    1,
                    b"\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02",
                ),
                AmqpError::MalformedHeader {
                    class_id: 60,
                    reason: Malformed::PropertyFlags { flags: 2 },
                },
                501,
                false,
            ),
            (
                frame(0, 0, b""),
                AmqpError::UnknownFrameType { frame_type: 0 },
                501,
                true,
            ),
            (
                b"AMQP\x00\x00\x09\x01".to_vec(),
                AmqpError::ProtocolHeaderReceived {
                    header: *b"AMQP\x00\x00\x09\x01",
                },
                501,
                true,
            ),
            (
                b"AMQX\x00\x00\x00\x00".to_vec(),
                AmqpError::UnknownFrameType { frame_type: b'A' },
                501,
                true,
            ),
        ];
        for (input, expected, code, lost) in cases {
            let mut buf = BytesMut::from(&input[..]);
            let err = decode(&mut buf, FRAME_MIN_SIZE).unwrap_err();
            assert_eq!(err, expected, "{input:?}");
            assert_eq!(err.reply_code().code(), code, "{err}");
            assert_eq!(err.is_framing_lost(), lost, "{err}");
            // Consumed exactly when the framing survives.
            assert_eq!(buf.is_empty(), !lost, "{err}");
        }
    }

    #[test]
    fn receiver_goes_on_after_a_consumed_error_and_stops_after_a_lost_framing() {
        let mut rx = FrameReceiver::new();
        rx.feed(b"\x08\x00\x01\x00\x00\x00\x00\xce\x08\x00\x00\x00\x00\x00\x00\xce");
        assert_eq!(
            rx.next_frame(),
            Some(Err(AmqpError::HeartbeatOnChannel { channel: 1 }))
        );
        assert!(matches!(rx.next_frame(), Some(Ok(_))));
        rx.feed(b"\x09\x00\x00\x00\x00\x00\x00\xce");
        assert!(matches!(
            rx.next_frame(),
            Some(Err(AmqpError::UnknownFrameType { .. }))
        ));
        assert_eq!(rx.buffered(), 0);
        rx.feed(b"\x08\x00\x00\x00\x00\x00\x00\xce");
        assert_eq!(rx.next_frame(), None);
        assert_eq!(rx.buffered(), 0);
    }

    #[test]
    fn protocol_header_server_side() {
        let mut rx = FrameReceiver::new();
        rx.feed(b"AMQP\x00\x00\x09");
        assert_eq!(rx.next_protocol_header(), None);
        rx.feed(b"\x01\x08\x00\x00\x00\x00\x00\x00\xce");
        assert_eq!(rx.next_protocol_header(), Some(Ok(())));
        assert!(matches!(rx.next_frame(), Some(Ok(_))));

        for wrong in [
            &b"AMQP\x00\x00\x09\x00"[..],
            b"AMQP\x01\x01\x00\x09",
            b"AMQP\x00\x01\x00\x00",
            b"GET / HTTP/1.1\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01",
        ] {
            let mut rx = FrameReceiver::new();
            rx.feed(wrong);
            assert_eq!(
                rx.next_protocol_header(),
                Some(Err(AmqpError::ProtocolHeaderMismatch {
                    received: Bytes::copy_from_slice(&wrong[..8])
                }))
            );
            assert_eq!(rx.next_protocol_header(), None);
        }
        let mut out = BytesMut::new();
        encode_protocol_header(&mut out);
        assert_eq!(&out[..], b"AMQP\x00\x00\x09\x01");
        // Client side: the server's answer where a frame was due.
        let err = decode(&mut out, FRAME_MIN_SIZE).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the server answered with protocol header b\"AMQP\\0\\0\\t\\x01\": it refused AMQP 0-9-1"
        );
    }

    #[test]
    fn body_frames_share_the_receive_buffer() {
        let body = Frame {
            channel: 1,
            payload: FramePayload::Body(Bytes::from(vec![7u8; 1000])),
        };
        let mut buf = BytesMut::from(&encoded(&body)[..]);
        let start = buf.as_ptr() as usize;
        let Ok(Some(Frame {
            payload: FramePayload::Body(b),
            ..
        })) = decode(&mut buf, 0)
        else {
            unreachable!()
        };
        assert_eq!(b.as_ptr() as usize, start + 7);
    }
}
