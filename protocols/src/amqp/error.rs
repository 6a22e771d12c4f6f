//! [`AmqpError`]: why received bytes were refused, the reply code and the
//! `connection.close` / `channel.close` that report it; [`FrameKind`], named
//! in its messages.
//!
//! It sits above `generated`: its messages name methods with
//! [`method_name`], and [`close_method`](AmqpError::close_method) builds
//! generated methods. The errors of the value codecs below `generated`
//! ([`Malformed`], [`EncodeError`](super::EncodeError)) are in `codec_error`.

use std::fmt;

use bytes::Bytes;

use super::generated::{method_name, ChannelClose, ConnectionClose, Method, ReplyCode};
use super::{Malformed, ShortStr};

/// The kind of a frame, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A method frame (type 1).
    Method,
    /// A content header frame (type 2).
    Header,
    /// A content body frame (type 3).
    Body,
    /// A heartbeat frame (type 8).
    Heartbeat,
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameKind::Method => "method",
            FrameKind::Header => "content header",
            FrameKind::Body => "content body",
            FrameKind::Heartbeat => "heartbeat",
        })
    }
}

/// Why received bytes were refused, and how the connection or channel must
/// be closed.
///
/// [`reply_code`](Self::reply_code) is the code to close with:
/// [`is_hard_error`](ReplyCode::is_hard_error) codes close the connection
/// (`connection.close`), the others only the channel (`channel.close`);
/// [`close_method`](Self::close_method) builds that method. Where the codes
/// of the spec and RabbitMQ's behaviour differ, each variant says which one
/// it follows.
///
/// After an error for which [`is_framing_lost`](Self::is_framing_lost) is
/// true, the byte stream can no longer be cut into frames: send the close,
/// then drop the connection without waiting for `connection.close-ok` (as
/// RabbitMQ does). After any other error the offending frame has been
/// consumed and later frames decode normally, so the close handshake can run
/// its course.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmqpError {
    /// A client's first 8 bytes are not `AMQP 0 0 9 1`. The server answers
    /// with [`PROTOCOL_HEADER`](super::PROTOCOL_HEADER) and closes the
    /// socket: there is no `connection.close` before the handshake.
    #[error("protocol header {received:?} is not AMQP 0-9-1")]
    ProtocolHeaderMismatch {
        /// The 8 bytes received.
        received: Bytes,
    },
    /// Where a frame was expected the server sent a protocol header: the
    /// version it speaks, after refusing ours. It is closing the socket.
    #[error("the server answered with protocol header {:?}: it refused AMQP 0-9-1", Bytes::copy_from_slice(.header))]
    ProtocolHeaderReceived {
        /// The 8 bytes received (`AMQP` and four version octets).
        header: [u8; 8],
    },
    /// A frame type other than 1, 2, 3 and 8. 501 `FRAME_ERROR`.
    #[error("unknown frame type {frame_type}")]
    UnknownFrameType {
        /// The type octet.
        frame_type: u8,
    },
    /// A frame larger than the negotiated `frame-max` (header and end octet
    /// included, as the spec counts). 501 `FRAME_ERROR`.
    #[error("frame of {size} bytes exceeds frame-max {frame_max}")]
    FrameTooLarge {
        /// Size of the whole frame, 8 bytes of framing included.
        size: u64,
        /// The limit.
        frame_max: u32,
    },
    /// The octet after the payload is not `0xCE`. 501 `FRAME_ERROR`.
    #[error("frame end octet {found:#04x} instead of 0xce")]
    BadFrameEnd {
        /// The octet found.
        found: u8,
    },
    /// A heartbeat frame on a channel other than 0. 505 `UNEXPECTED_FRAME`,
    /// as RabbitMQ answers (the spec's text says 501).
    #[error("heartbeat frame on channel {channel}")]
    HeartbeatOnChannel {
        /// The channel.
        channel: u16,
    },
    /// A heartbeat frame with a payload. 501 `FRAME_ERROR`.
    #[error("heartbeat frame with a {size}-byte payload")]
    HeartbeatPayload {
        /// The payload size.
        size: u32,
    },
    /// A content header or body frame on channel 0, which carries no
    /// content. 505 `UNEXPECTED_FRAME`, as RabbitMQ.
    #[error("{kind} frame on channel 0")]
    ContentOnChannelZero {
        /// Header or body.
        kind: FrameKind,
    },
    /// A method frame whose class and method ids are not in the spec.
    /// 540 `NOT_IMPLEMENTED`, as lavinmq answers (RabbitMQ's reader process
    /// exits and the socket is dropped without a `connection.close`).
    #[error("unknown method {class_id}.{method_id}")]
    UnknownMethod {
        /// The class id.
        class_id: u16,
        /// The method id.
        method_id: u16,
    },
    /// A method frame whose arguments do not decode (too short, too long, a
    /// bad field table). 501 `FRAME_ERROR`, as RabbitMQ ("cannot decode").
    #[error("cannot decode {}: {reason}", label(*.class_id, *.method_id))]
    MalformedMethod {
        /// The class id (0 if the frame is too short to hold one).
        class_id: u16,
        /// The method id (0 if the frame is too short to hold one).
        method_id: u16,
        /// What is wrong.
        reason: Malformed,
    },
    /// A content header frame that does not decode. 501 `FRAME_ERROR`.
    #[error("cannot decode content header of class {class_id}: {reason}")]
    MalformedHeader {
        /// The class id (0 if the frame is too short to hold one).
        class_id: u16,
        /// What is wrong.
        reason: Malformed,
    },
    /// A content header for a class other than basic (60), the only class
    /// with content in 0-9-1. 505 `UNEXPECTED_FRAME`, as RabbitMQ answers a
    /// header that does not match the method before it.
    #[error("content header for class {class_id}, which has no content")]
    UnknownContentClass {
        /// The class id.
        class_id: u16,
    },
    /// A frame out of order on a channel: a header or body with no method
    /// waiting for it, or a method or body where a header was due, and so
    /// on. 505 `UNEXPECTED_FRAME`.
    #[error("expected a {expected} frame{}, received a {received} frame", after(*.class_id, *.method_id))]
    UnexpectedFrame {
        /// The kind of frame the channel was waiting for.
        expected: FrameKind,
        /// The kind that came.
        received: FrameKind,
        /// Class of the method whose content was being assembled (0 if none).
        class_id: u16,
        /// That method's id (0 if none).
        method_id: u16,
    },
    /// A content header whose class is not the class of the method before
    /// it. 505 `UNEXPECTED_FRAME`.
    #[error("content header for class {header_class_id} after {}", label(*.class_id, *.method_id))]
    ContentClassMismatch {
        /// The class id in the header.
        header_class_id: u16,
        /// The method's class id.
        class_id: u16,
        /// The method's id.
        method_id: u16,
    },
    /// A content header whose weight is not 0. 505 `UNEXPECTED_FRAME`, as
    /// RabbitMQ.
    #[error("content header with weight {weight} after {}", label(*.class_id, *.method_id))]
    ContentWeight {
        /// The weight.
        weight: u16,
        /// The method's class id.
        class_id: u16,
        /// The method's id.
        method_id: u16,
    },
    /// Body frames carry more bytes than the content header announced.
    /// 505 `UNEXPECTED_FRAME`.
    #[error("content body of {received}+ bytes exceeds the announced {body_size} after {}", label(*.class_id, *.method_id))]
    BodyTooLong {
        /// The body size from the content header.
        body_size: u64,
        /// Body bytes received with the offending frame.
        received: u64,
        /// The method's class id.
        class_id: u16,
        /// The method's id.
        method_id: u16,
    },
    /// A content header announces a body larger than the assembler accepts
    /// (RabbitMQ's `max_message_size`). 406 `PRECONDITION_FAILED`: a channel
    /// error, as in RabbitMQ.
    #[error("message size {body_size} is larger than the configured max size {max}")]
    BodyTooLarge {
        /// The body size from the content header.
        body_size: u64,
        /// The limit.
        max: u64,
        /// The method's class id.
        class_id: u16,
        /// The method's id.
        method_id: u16,
    },
}

/// `basic.publish`, or `class.method` ids when unknown.
fn label(class_id: u16, method_id: u16) -> String {
    match method_name(class_id, method_id) {
        Some(name) => name.to_owned(),
        None => format!("method {class_id}.{method_id}"),
    }
}

fn after(class_id: u16, method_id: u16) -> String {
    if class_id == 0 {
        String::new()
    } else {
        format!(" after {}", label(class_id, method_id))
    }
}

impl AmqpError {
    /// The reply code to close the connection (hard errors) or the channel
    /// (soft errors) with.
    pub fn reply_code(&self) -> ReplyCode {
        use AmqpError::*;
        match self {
            ProtocolHeaderMismatch { .. }
            | ProtocolHeaderReceived { .. }
            | UnknownFrameType { .. }
            | FrameTooLarge { .. }
            | BadFrameEnd { .. }
            | HeartbeatPayload { .. }
            | MalformedMethod { .. }
            | MalformedHeader { .. } => ReplyCode::FrameError,
            HeartbeatOnChannel { .. }
            | ContentOnChannelZero { .. }
            | UnknownContentClass { .. }
            | UnexpectedFrame { .. }
            | ContentClassMismatch { .. }
            | ContentWeight { .. }
            | BodyTooLong { .. } => ReplyCode::UnexpectedFrame,
            UnknownMethod { .. } => ReplyCode::NotImplemented,
            BodyTooLarge { .. } => ReplyCode::PreconditionFailed,
        }
    }

    /// Whether the byte stream can no longer be split into frames (see the
    /// type's docs): the connection must be dropped after the close is sent.
    pub fn is_framing_lost(&self) -> bool {
        matches!(
            self,
            AmqpError::ProtocolHeaderMismatch { .. }
                | AmqpError::ProtocolHeaderReceived { .. }
                | AmqpError::UnknownFrameType { .. }
                | AmqpError::FrameTooLarge { .. }
                | AmqpError::BadFrameEnd { .. }
        )
    }

    /// The class and method ids of the method that caused the error, for the
    /// `class-id` and `method-id` fields of the close; `(0, 0)` when no
    /// method is involved.
    pub fn method_ids(&self) -> (u16, u16) {
        use AmqpError::*;
        match *self {
            UnknownMethod {
                class_id,
                method_id,
            }
            | MalformedMethod {
                class_id,
                method_id,
                ..
            }
            | UnexpectedFrame {
                class_id,
                method_id,
                ..
            }
            | ContentClassMismatch {
                class_id,
                method_id,
                ..
            }
            | ContentWeight {
                class_id,
                method_id,
                ..
            }
            | BodyTooLong {
                class_id,
                method_id,
                ..
            }
            | BodyTooLarge {
                class_id,
                method_id,
                ..
            } => (class_id, method_id),
            _ => (0, 0),
        }
    }

    /// The `reply-text` to close with, in RabbitMQ's style: the code's name,
    /// a dash, and this error's message (`FRAME_ERROR - frame end octet 0x41
    /// instead of 0xce`), cut to the 255 bytes a short string holds.
    pub fn reply_text(&self) -> ShortStr {
        let mut text = format!("{} - {self}", self.reply_code().text());
        if text.len() > ShortStr::MAX_LEN {
            let mut end = ShortStr::MAX_LEN;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        ShortStr::from_checked(Bytes::from(text))
    }

    /// The method that reports this error to the peer: `connection.close`
    /// for a hard error, `channel.close` for a soft one (send it on the
    /// channel of the offending frame).
    pub fn close_method(&self) -> Method {
        let code = self.reply_code();
        let (class_id, method_id) = self.method_ids();
        let reply_text = self.reply_text();
        if code.is_hard_error() {
            Method::ConnectionClose(ConnectionClose {
                reply_code: code.code(),
                reply_text,
                class_id,
                method_id,
            })
        } else {
            Method::ChannelClose(ChannelClose {
                reply_code: code.code(),
                reply_text,
                class_id,
                method_id,
            })
        }
    }
}
