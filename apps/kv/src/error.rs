//! The crate's errors: [`CmdError`], a command's error reply in Redis's words, and
//! [`ConfigError`], a directive that could not be applied.

use std::borrow::Cow;

/// An error reply, in Redis's words. Handlers return it; the engine writes it as `-<text>`
/// and the connection goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`
    #[error("{WRONGTYPE}")]
    WrongType,
    /// `ERR value is not an integer or out of range`
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// `ERR value is not a valid float`
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// `ERR syntax error`
    #[error("ERR syntax error")]
    Syntax,
    /// `ERR increment or decrement would overflow`
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// Any other text, given in full (with its `ERR`/`NOAUTH`… prefix).
    #[error("{0}")]
    Msg(String),
}

/// The text of the WRONGTYPE error, for the places that write it without a [`CmdError`].
pub(crate) const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

impl CmdError {
    /// The error text after the `-` (borrowed: no allocation for the fixed texts).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            CmdError::WrongType => WRONGTYPE.into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::Overflow => "ERR increment or decrement would overflow".into(),
            CmdError::Msg(m) => m.as_str().into(),
        }
    }

    /// `ERR <text>`.
    pub fn err(text: impl std::fmt::Display) -> CmdError {
        CmdError::Msg(format!("ERR {text}"))
    }
}
