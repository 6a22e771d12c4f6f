//! The broker's errors: [`Refusal`], an AMQP error with its reply code and RabbitMQ's reply
//! text, which the adapter turns into `channel.close` (a soft code) or `connection.close` (a
//! hard one), naming the method that caused it.

use spindle_protocols::amqp::ReplyCode;

/// A method refused: the reply code and text the peer is closed with, as RabbitMQ words them
/// (`NOT_FOUND - no queue 'jobs' in vhost '/'`). Soft codes close the channel, hard ones the
/// connection ([`ReplyCode::is_soft_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} - {text}", code.text())]
pub struct Refusal {
    /// The reply code.
    pub code: ReplyCode,
    /// The text after the code's name.
    pub text: String,
}

impl Refusal {
    /// A refusal with `code` and `text`.
    pub(crate) fn new(code: ReplyCode, text: impl Into<String>) -> Refusal {
        Refusal {
            code,
            text: text.into(),
        }
    }

    /// 404 NOT_FOUND.
    pub(crate) fn not_found(text: impl Into<String>) -> Refusal {
        Refusal::new(ReplyCode::NotFound, text)
    }

    /// 406 PRECONDITION_FAILED.
    pub(crate) fn precondition(text: impl Into<String>) -> Refusal {
        Refusal::new(ReplyCode::PreconditionFailed, text)
    }

    /// 403 ACCESS_REFUSED.
    pub(crate) fn access_refused(text: impl Into<String>) -> Refusal {
        Refusal::new(ReplyCode::AccessRefused, text)
    }

    /// 405 RESOURCE_LOCKED.
    pub(crate) fn locked(text: impl Into<String>) -> Refusal {
        Refusal::new(ReplyCode::ResourceLocked, text)
    }

    /// The reply text as sent: `CODE_NAME - text`.
    pub(crate) fn reply_text(&self) -> String {
        self.to_string()
    }
}

/// What a core operation answers.
pub(crate) type Outcome<T> = Result<T, Refusal>;
