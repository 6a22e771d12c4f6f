//! Content: a method, its content header and its body frames, as one
//! [`Message`]; [`ContentAssembler`] puts them together on receipt,
//! [`encode_message`] cuts them apart to send.
//!
//! ```text
//! channel N:  method (basic.publish, basic.deliver, basic.return, basic.get-ok)
//!             content header  (class 60, weight 0, body-size S, properties)
//!             body frame      (at most frame-max - 8 bytes)
//!             body frame ...  (until S bytes have come; none if S = 0)
//! ```

use bytes::{Bytes, BytesMut};

use super::frame::{self, ContentHeader, FramePayload, FRAME_OVERHEAD};
use super::wire;
use super::{AmqpError, BasicProperties, EncodeError, FrameKind, Method, FRAME_BODY, FRAME_END};

/// A method with its content: what `basic.publish` sends and `basic.deliver`,
/// `basic.return` and `basic.get-ok` receive.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The content-carrying method.
    pub method: Method,
    /// The properties from the content header.
    pub properties: BasicProperties,
    /// The body, all frames joined.
    pub body: Bytes,
}

impl Message {
    /// Appends the message's frames on `channel` to `out`; see
    /// [`encode_message`].
    ///
    /// # Errors
    ///
    /// As [`encode_message`].
    pub fn encode(
        &self,
        channel: u16,
        frame_max: u32,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        encode_message(
            channel,
            &self.method,
            &self.properties,
            &self.body,
            frame_max,
            out,
        )
    }
}

/// What a channel's frames add up to: a method, or a method with its content.
// Boxing the message would cost an allocation per message to save a move of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A method without content.
    Method(Method),
    /// A content-carrying method, its properties and its body.
    Message(Message),
}

/// The default largest body [`ContentAssembler`] accepts: RabbitMQ's default
/// `max_message_size`, 128 MiB.
pub const DEFAULT_MAX_BODY_SIZE: u64 = 128 * 1024 * 1024;

/// Assembles one channel's frames into [`Command`]s: the per-channel state
/// machine of method, content header and body frames.
///
/// ```text
///            method without content -> Command::Method
///   Idle  ---------------------------------------------------> Idle
///     | method with content
///     v
///   AwaitingHeader --header(body-size 0)--> Command::Message -> Idle
///     | header(body-size S > 0)
///     v
///   AwaitingBody --body frames until S bytes--> Command::Message -> Idle
/// ```
///
/// Anything else is an error, 505 `UNEXPECTED_FRAME` as in RabbitMQ: a
/// header or body with no method waiting ([`AmqpError::UnexpectedFrame`]),
/// a method or body where the header is due, a method or header where a
/// body is due, a header of another class
/// ([`AmqpError::ContentClassMismatch`]) or with a weight
/// ([`AmqpError::ContentWeight`]), or body frames past the announced size
/// ([`AmqpError::BodyTooLong`]). A header announcing more than
/// [`max_body_size`](Self::max_body_size) is [`AmqpError::BodyTooLarge`],
/// 406 `PRECONDITION_FAILED`, a channel error. After any error the assembler
/// is back to idle, the partial message dropped.
///
/// One assembler serves one channel (frames of different channels
/// interleave); heartbeats are ignored.
///
/// # Memory
///
/// A body that arrives in one frame is that frame's [`Bytes`], not a copy.
/// A body of several frames is kept as the received pieces and copied once,
/// into a buffer of exactly its size, when the last piece arrives: nothing is
/// allocated on the strength of the announced size alone. The assembler holds
/// at most the announced size, which is at most
/// [`max_body_size`](Self::max_body_size).
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use spindle_protocols::amqp::frame::ContentHeader;
/// use spindle_protocols::amqp::{
///     BasicAck, BasicProperties, BasicPublish, Command, ContentAssembler, FramePayload,
/// };
///
/// let mut channel = ContentAssembler::new();
/// let ack = BasicAck { delivery_tag: 1, multiple: false };
/// assert_eq!(
///     channel.handle(FramePayload::Method(ack.clone().into())),
///     Ok(Some(Command::Method(ack.into())))
/// );
/// let publish = FramePayload::Method(BasicPublish::default().into());
/// assert_eq!(channel.handle(publish), Ok(None));
/// let header = ContentHeader::new(5, BasicProperties::default());
/// assert_eq!(channel.handle(FramePayload::Header(Box::new(header))), Ok(None));
/// assert_eq!(channel.handle(FramePayload::Body(Bytes::from_static(b"he"))), Ok(None));
/// let Ok(Some(Command::Message(msg))) =
///     channel.handle(FramePayload::Body(Bytes::from_static(b"llo")))
/// else {
///     panic!("expected the message")
/// };
/// assert_eq!(msg.body, "hello");
/// ```
#[derive(Debug)]
pub struct ContentAssembler {
    state: State,
    max_body_size: u64,
}

// One per channel: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum State {
    Idle,
    AwaitingHeader {
        method: Method,
    },
    AwaitingBody {
        method: Method,
        properties: BasicProperties,
        body_size: u64,
        received: u64,
        /// The first piece, alone in the common one-frame case.
        first: Bytes,
        /// Any further pieces.
        rest: Vec<Bytes>,
    },
}

impl Default for ContentAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl ContentAssembler {
    /// An idle assembler accepting bodies up to [`DEFAULT_MAX_BODY_SIZE`].
    pub fn new() -> Self {
        ContentAssembler {
            state: State::Idle,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
        }
    }

    /// Sets the largest body accepted, in bytes.
    #[must_use]
    pub fn with_max_body_size(mut self, max: u64) -> Self {
        self.max_body_size = max;
        self
    }

    /// The largest body accepted, in bytes.
    pub fn max_body_size(&self) -> u64 {
        self.max_body_size
    }

    /// Whether no message is partly assembled.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Body bytes held for the message being assembled.
    pub fn buffered(&self) -> u64 {
        match &self.state {
            State::AwaitingBody { received, .. } => *received,
            _ => 0,
        }
    }

    /// Drops any partly assembled message (when the channel closes).
    pub fn reset(&mut self) {
        self.state = State::Idle;
    }

    /// Takes the next frame of this channel. `Ok(Some(_))` when it completes
    /// a method or a message, `Ok(None)` when it is part of a message still
    /// coming (or a heartbeat).
    ///
    /// # Errors
    ///
    /// Frames out of order and oversized bodies; see the type's docs. The
    /// assembler is idle afterwards.
    pub fn handle(&mut self, payload: FramePayload) -> Result<Option<Command>, AmqpError> {
        // The state is matched in place: moving it (a method and the properties: hundreds of
        // bytes) in and out for every frame showed in profiles.
        match payload {
            FramePayload::Heartbeat => Ok(None),
            FramePayload::Method(method) => match self.state {
                State::Idle if method.has_content() => {
                    self.state = State::AwaitingHeader { method };
                    Ok(None)
                }
                State::Idle => Ok(Some(Command::Method(method))),
                _ => Err(self.unexpected(FrameKind::Method)),
            },
            FramePayload::Header(header) => match std::mem::replace(&mut self.state, State::Idle) {
                State::AwaitingHeader { method } => self.header_received(method, header),
                other => {
                    self.state = other;
                    Err(self.unexpected(FrameKind::Header))
                }
            },
            FramePayload::Body(piece) => {
                let State::AwaitingBody {
                    method,
                    body_size,
                    received,
                    first,
                    rest,
                    ..
                } = &mut self.state
                else {
                    return Err(self.unexpected(FrameKind::Body));
                };
                let total = received.saturating_add(piece.len() as u64);
                if total > *body_size {
                    let (class_id, method_id) = method.ids();
                    let err = AmqpError::BodyTooLong {
                        body_size: *body_size,
                        received: total,
                        class_id,
                        method_id,
                    };
                    self.state = State::Idle;
                    return Err(err);
                }
                *received = total;
                if first.is_empty() {
                    *first = piece;
                } else if !piece.is_empty() {
                    rest.push(piece);
                }
                if total < *body_size {
                    return Ok(None);
                }
                let State::AwaitingBody {
                    method,
                    properties,
                    first,
                    rest,
                    ..
                } = std::mem::replace(&mut self.state, State::Idle)
                else {
                    return Ok(None);
                };
                Ok(Some(Command::Message(Message {
                    method,
                    properties,
                    body: join(first, rest, total),
                })))
            }
        }
    }

    /// The error for a frame of kind `received` in the current state; back to idle.
    fn unexpected(&mut self, received: FrameKind) -> AmqpError {
        let (expected, (class_id, method_id)) = match &self.state {
            State::Idle => (FrameKind::Method, (0, 0)),
            State::AwaitingHeader { method } => (FrameKind::Header, method.ids()),
            State::AwaitingBody { method, .. } => (FrameKind::Body, method.ids()),
        };
        self.state = State::Idle;
        AmqpError::UnexpectedFrame {
            expected,
            received,
            class_id,
            method_id,
        }
    }

    fn header_received(
        &mut self,
        method: Method,
        header: Box<ContentHeader>,
    ) -> Result<Option<Command>, AmqpError> {
        let (class_id, method_id) = method.ids();
        if header.class_id != class_id {
            return Err(AmqpError::ContentClassMismatch {
                header_class_id: header.class_id,
                class_id,
                method_id,
            });
        }
        if header.weight != 0 {
            return Err(AmqpError::ContentWeight {
                weight: header.weight,
                class_id,
                method_id,
            });
        }
        if header.body_size > self.max_body_size {
            return Err(AmqpError::BodyTooLarge {
                body_size: header.body_size,
                max: self.max_body_size,
                class_id,
                method_id,
            });
        }
        if header.body_size == 0 {
            return Ok(Some(Command::Message(Message {
                method,
                properties: header.properties,
                body: Bytes::new(),
            })));
        }
        self.state = State::AwaitingBody {
            method,
            properties: header.properties,
            body_size: header.body_size,
            received: 0,
            first: Bytes::new(),
            rest: Vec::new(),
        };
        Ok(None)
    }
}

/// The body: `first` itself if it is the only piece, else one copy of all.
fn join(first: Bytes, rest: Vec<Bytes>, len: u64) -> Bytes {
    if rest.is_empty() {
        return first;
    }
    // All `len` bytes have been received and are held in the pieces.
    let mut body = BytesMut::with_capacity(len as usize);
    body.extend_from_slice(&first);
    for piece in &rest {
        body.extend_from_slice(piece);
    }
    body.freeze()
}

/// Appends the frames of a message on `channel` to `out`: the method frame,
/// the content header frame, and the body cut into frames of at most
/// `frame_max - 8` bytes (no body frame for an empty body). The exact size of
/// all of them is reserved first.
///
/// `frame_max` is the negotiated limit on whole frames (0: none, so the body
/// goes in one frame, up to 4 GiB a frame).
///
/// # Errors
///
/// Nothing is written on error:
/// [`EncodeError::NoContent`] if `method` carries no content,
/// [`EncodeError::FrameTooLarge`] if the method or header frame exceeds
/// `frame_max` (they cannot be split), and the errors of
/// [`Method::encoded_len`].
pub fn encode_message(
    channel: u16,
    method: &Method,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if !method.has_content() {
        return Err(EncodeError::NoContent {
            name: method.name(),
        });
    }
    let method_len = method.encoded_len()?;
    let header_len = 12 + properties.encoded_len()?;
    if header_len > u32::MAX as usize {
        return Err(EncodeError::TooLong { len: header_len });
    }
    let limit = if frame_max == 0 {
        usize::MAX
    } else {
        frame_max as usize
    };
    for len in [method_len, header_len] {
        let size = len.saturating_add(FRAME_OVERHEAD);
        if size > limit {
            return Err(EncodeError::FrameTooLarge { size, frame_max });
        }
    }
    // At least 4: the method frame, 12 bytes or more, fits the limit.
    let piece = limit
        .saturating_sub(FRAME_OVERHEAD)
        .min(u32::MAX as usize)
        .max(1);
    // Most bodies fit one frame: no division for them.
    let body_frames = if body.len() <= piece {
        usize::from(!body.is_empty())
    } else {
        body.len().div_ceil(piece)
    };
    let frames_len = method_len + header_len + FRAME_OVERHEAD * 2;
    out.reserve(
        frames_len
            .saturating_add(body.len())
            .saturating_add(FRAME_OVERHEAD.saturating_mul(body_frames)),
    );
    let (class_id, body_size) = (method.class_id(), body.len() as u64);
    // A body of one frame (the common case) has its frame header written with the others.
    let one_body_frame = body_frames == 1;
    let written = frames_len + if one_body_frame { 7 } else { 0 };
    wire::append(out, written, |w| {
        frame::write_method(channel, method, method_len, w);
        frame::write_header(channel, class_id, body_size, properties, header_len, w);
        if one_body_frame {
            wire::put_frame_header(w, FRAME_BODY, channel, body.len() as u32);
        }
    });
    // The body is copied with `extend_from_slice`: `append` would zero its room first.
    if one_body_frame {
        out.extend_from_slice(body);
        out.extend_from_slice(&[FRAME_END]);
        return Ok(());
    }
    for chunk in body.chunks(piece) {
        wire::extend_frame_header(out, FRAME_BODY, channel, chunk.len() as u32);
        out.extend_from_slice(chunk);
        out.extend_from_slice(&[FRAME_END]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::frame::{decode, Frame};
    use crate::amqp::{BasicAck, BasicDeliver, BasicGetOk, BasicPublish, ChannelOpen, ShortStr};

    fn publish() -> Method {
        BasicPublish {
            routing_key: ShortStr::from_static("rk"),
            ..BasicPublish::default()
        }
        .into()
    }

    fn header(body_size: u64) -> FramePayload {
        FramePayload::Header(Box::new(ContentHeader::new(
            body_size,
            BasicProperties::default(),
        )))
    }

    fn body(b: &'static [u8]) -> FramePayload {
        FramePayload::Body(Bytes::from_static(b))
    }

    fn run(frames: Vec<FramePayload>) -> Vec<Result<Option<Command>, AmqpError>> {
        let mut asm = ContentAssembler::new();
        frames.into_iter().map(|f| asm.handle(f)).collect()
    }

    fn message(method: Method, body: &'static [u8]) -> Result<Option<Command>, AmqpError> {
        Ok(Some(Command::Message(Message {
            method,
            properties: BasicProperties::default(),
            body: Bytes::from_static(body),
        })))
    }

    #[test]
    fn in_order_sequences() {
        let ack: Method = BasicAck::default().into();
        assert_eq!(
            run(vec![
                FramePayload::Method(ack.clone()),
                FramePayload::Method(publish()),
                header(0),
                FramePayload::Heartbeat,
                FramePayload::Method(publish()),
                FramePayload::Heartbeat,
                header(6),
                body(b""),
                body(b"ab"),
                body(b"cdef"),
                FramePayload::Method(ack.clone()),
            ]),
            vec![
                Ok(Some(Command::Method(ack.clone()))),
                Ok(None),
                message(publish(), b""),
                Ok(None),
                Ok(None),
                Ok(None),
                Ok(None),
                Ok(None),
                Ok(None),
                message(publish(), b"abcdef"),
                Ok(Some(Command::Method(ack))),
            ]
        );
    }

    #[test]
    fn every_content_method_is_assembled() {
        for method in [
            publish(),
            BasicDeliver::default().into(),
            BasicGetOk::default().into(),
            crate::amqp::BasicReturn::default().into(),
        ] {
            assert_eq!(
                run(vec![
                    FramePayload::Method(method.clone()),
                    header(1),
                    body(b"x")
                ])
                .pop()
                .unwrap(),
                message(method, b"x")
            );
        }
    }

    #[test]
    fn out_of_order_frames_are_named_errors() {
        let ids = (60, 40);
        let unexpected = |expected, received, (class_id, method_id): (u16, u16)| {
            Err(AmqpError::UnexpectedFrame {
                expected,
                received,
                class_id,
                method_id,
            })
        };
        let m = |m: Method| FramePayload::Method(m);
        type Case = (Vec<FramePayload>, Result<Option<Command>, AmqpError>);
        let cases: Vec<Case> = vec![
            (
                vec![header(1)],
                unexpected(FrameKind::Method, FrameKind::Header, (0, 0)),
            ),
            (
                vec![body(b"x")],
                unexpected(FrameKind::Method, FrameKind::Body, (0, 0)),
            ),
            (
                vec![m(publish()), m(publish())],
                unexpected(FrameKind::Header, FrameKind::Method, ids),
            ),
            (
                vec![m(publish()), body(b"x")],
                unexpected(FrameKind::Header, FrameKind::Body, ids),
            ),
            (
                vec![
                    m(publish()),
                    header(2),
                    body(b"x"),
                    m(BasicAck::default().into()),
                ],
                unexpected(FrameKind::Body, FrameKind::Method, ids),
            ),
            (
                vec![m(publish()), header(2), header(2)],
                unexpected(FrameKind::Body, FrameKind::Header, ids),
            ),
            (
                vec![m(publish()), header(2), body(b"xyz")],
                Err(AmqpError::BodyTooLong {
                    body_size: 2,
                    received: 3,
                    class_id: 60,
                    method_id: 40,
                }),
            ),
            (
                vec![
                    m(publish()),
                    FramePayload::Header(Box::new(ContentHeader {
                        class_id: 50,
                        weight: 0,
                        body_size: 0,
                        properties: BasicProperties::default(),
                    })),
                ],
                Err(AmqpError::ContentClassMismatch {
                    header_class_id: 50,
                    class_id: 60,
                    method_id: 40,
                }),
            ),
            (
                vec![
                    m(publish()),
                    FramePayload::Header(Box::new(ContentHeader {
                        weight: 1,
                        ..ContentHeader::new(0, BasicProperties::default())
                    })),
                ],
                Err(AmqpError::ContentWeight {
                    weight: 1,
                    class_id: 60,
                    method_id: 40,
                }),
            ),
        ];
        for (frames, expected) in cases {
            let mut asm = ContentAssembler::new();
            let n = frames.len();
            let mut results: Vec<_> = frames.into_iter().map(|f| asm.handle(f)).collect();
            let last = results.pop().unwrap();
            assert!(results.iter().all(|r| r == &Ok(None)), "{results:?}");
            assert_eq!(last, expected, "after {n} frames");
            let err = last.unwrap_err();
            assert_eq!(err.reply_code().code(), 505);
            assert!(!err.is_framing_lost());
            assert!(asm.is_idle());
            assert_eq!(asm.buffered(), 0);
            // Usable again.
            let ack: Method = BasicAck::default().into();
            assert_eq!(
                asm.handle(FramePayload::Method(ack.clone())),
                Ok(Some(Command::Method(ack)))
            );
        }
    }

    #[test]
    fn body_size_limit_is_a_channel_error() {
        let mut asm = ContentAssembler::new().with_max_body_size(10);
        assert_eq!(asm.max_body_size(), 10);
        assert_eq!(asm.handle(FramePayload::Method(publish())), Ok(None));
        let err = asm.handle(header(11)).unwrap_err();
        assert_eq!(
            err,
            AmqpError::BodyTooLarge {
                body_size: 11,
                max: 10,
                class_id: 60,
                method_id: 40,
            }
        );
        assert_eq!(err.reply_code().code(), 406);
        let Method::ChannelClose(close) = err.close_method() else {
            unreachable!("a soft error closes the channel")
        };
        assert_eq!(
            (close.reply_code, close.class_id, close.method_id),
            (406, 60, 40)
        );
        assert_eq!(
            close.reply_text,
            "PRECONDITION_FAILED - message size 11 is larger than the configured max size 10"
        );
        asm.handle(FramePayload::Method(publish())).unwrap();
        asm.handle(header(10)).unwrap();
        asm.handle(body(b"12345")).unwrap();
        assert_eq!(asm.buffered(), 5);
        assert!(!asm.is_idle());
        asm.reset();
        assert!(asm.is_idle());
        assert_eq!(DEFAULT_MAX_BODY_SIZE, 134_217_728);
        assert_eq!(
            ContentAssembler::default().max_body_size(),
            DEFAULT_MAX_BODY_SIZE
        );
    }

    #[test]
    fn a_one_frame_body_is_not_copied() {
        let piece = Bytes::from(vec![1u8; 100]);
        let mut asm = ContentAssembler::new();
        asm.handle(FramePayload::Method(publish())).unwrap();
        asm.handle(header(100)).unwrap();
        let Ok(Some(Command::Message(msg))) = asm.handle(FramePayload::Body(piece.clone())) else {
            unreachable!()
        };
        assert_eq!(msg.body.as_ptr(), piece.as_ptr());
    }

    fn decode_all(mut wire: BytesMut, frame_max: u32) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(f) = decode(&mut wire, frame_max).unwrap() {
            frames.push(f);
        }
        assert!(wire.is_empty());
        frames
    }

    #[test]
    fn bodies_are_cut_at_frame_max_minus_8() {
        let body: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        for (frame_max, sizes) in [
            (4096u32, vec![4088usize, 4088, 1824]),
            (4097, vec![4089, 4089, 1822]),
            (0, vec![10_000]),
            (10_008, vec![10_000]),
            (10_007, vec![9_999, 1]),
            (1_000_000, vec![10_000]),
        ] {
            let mut out = BytesMut::new();
            let props = BasicProperties {
                message_id: Some(ShortStr::from_static("m1")),
                ..BasicProperties::default()
            };
            encode_message(5, &publish(), &props, &body, frame_max, &mut out).unwrap();
            let expected_len = sizes.iter().sum::<usize>() + 8 * sizes.len();
            let frames = decode_all(out.clone(), frame_max);
            assert_eq!(frames.len(), 2 + sizes.len());
            let mut asm = ContentAssembler::new();
            let mut done = None;
            for (i, f) in frames.into_iter().enumerate() {
                assert_eq!(f.channel, 5);
                if let FramePayload::Body(b) = &f.payload {
                    assert_eq!(b.len(), sizes[i - 2], "frame_max {frame_max}");
                }
                done = asm.handle(f.payload).unwrap();
            }
            let Some(Command::Message(msg)) = done else {
                unreachable!()
            };
            assert_eq!(msg.body, body);
            assert_eq!(msg.properties, props);
            assert!(out.len() > expected_len);
            // Re-encoding the assembled message gives the same bytes.
            let mut again = BytesMut::new();
            msg.encode(5, frame_max, &mut again).unwrap();
            assert_eq!(again, out);
        }
    }

    #[test]
    fn empty_body_has_no_body_frame() {
        let mut out = BytesMut::new();
        encode_message(
            1,
            &publish(),
            &BasicProperties::default(),
            b"",
            4096,
            &mut out,
        )
        .unwrap();
        let frames = decode_all(out, 4096);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[1].payload,
            FramePayload::Header(Box::new(ContentHeader::new(0, BasicProperties::default())))
        );
    }

    #[test]
    fn encode_errors_write_nothing() {
        let mut out = BytesMut::from(&b"keep"[..]);
        let props = BasicProperties::default();
        let cases = [
            (
                encode_message(
                    1,
                    &ChannelOpen::default().into(),
                    &props,
                    b"x",
                    4096,
                    &mut out,
                ),
                EncodeError::NoContent {
                    name: "channel.open",
                },
            ),
            (
                encode_message(1, &publish(), &props, b"x", 8, &mut out),
                EncodeError::FrameTooLarge {
                    size: 19,
                    frame_max: 8,
                },
            ),
            (
                encode_message(1, &publish(), &props, b"x", 16, &mut out),
                EncodeError::FrameTooLarge {
                    size: 19,
                    frame_max: 16,
                },
            ),
        ];
        for (result, expected) in cases {
            assert_eq!(result, Err(expected));
        }
        // A header too big for frame-max.
        let mut headers = crate::amqp::FieldTable::new();
        headers.insert(
            ShortStr::from_static("big"),
            Bytes::from(vec![0u8; 5000]).into(),
        );
        let props = BasicProperties {
            headers: Some(headers),
            ..BasicProperties::default()
        };
        assert!(matches!(
            encode_message(1, &publish(), &props, b"x", 4096, &mut out),
            Err(EncodeError::FrameTooLarge { .. })
        ));
        assert_eq!(&out[..], b"keep");
        // The smallest frame-max that fits the header frame: 14 body bytes a frame.
        let mut out = BytesMut::new();
        let props = BasicProperties::default();
        encode_message(1, &publish(), &props, &[7; 30], 22, &mut out).unwrap();
        let sizes: Vec<usize> = decode_all(out, 22)
            .iter()
            .filter_map(|f| match &f.payload {
                FramePayload::Body(b) => Some(b.len()),
                _ => None,
            })
            .collect();
        assert_eq!(sizes, [14, 14, 2]);
        assert!(matches!(
            encode_message(1, &publish(), &props, b"x", 21, &mut BytesMut::new()),
            Err(EncodeError::FrameTooLarge { size: 22, .. })
        ));
    }
}
