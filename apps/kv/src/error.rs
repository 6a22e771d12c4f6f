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
    /// An error reply already counted in INFO's error statistics where it arose: a script
    /// failing with the error of a command it called, which Redis counts once, at the call.
    #[error("{0}")]
    Counted(String),
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
            CmdError::Msg(m) | CmdError::Counted(m) => m.as_str().into(),
        }
    }

    /// `ERR <text>`.
    pub fn err(text: impl std::fmt::Display) -> CmdError {
        CmdError::Msg(format!("ERR {text}"))
    }
}

/// A configuration directive that could not be applied: unknown, or a value it does not
/// accept. Displayed as CONFIG SET's error text; [`startup`](Self::startup) words it as
/// redis-server does for its command line and config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A directive the store does not know.
    #[error("Unknown option or number of arguments for CONFIG SET - '{name}'")]
    Unknown {
        /// The directive as given.
        name: String,
    },
    /// A value the directive does not accept, in Redis 7.0's CONFIG SET words.
    #[error("CONFIG SET failed (possibly related to argument '{name}') - {reason}")]
    Invalid {
        /// The directive.
        name: String,
        /// The value given.
        value: String,
        /// Why, in redis-server's words ("argument couldn't be parsed into an integer").
        reason: String,
    },
}

impl ConfigError {
    /// The error as redis-server 7.0 reports a bad directive at startup: the banner, where the
    /// directive was read (`line` of the configuration, command-line directives following the
    /// file's lines as Redis appends them), the directive as read, and the reason.
    pub fn startup(&self, version: &str, line: usize, text: &str) -> String {
        let reason = match self {
            ConfigError::Unknown { name } => {
                format!("Bad directive or wrong number of arguments: '{name}'")
            }
            ConfigError::Invalid { reason, .. } => reason.clone(),
        };
        format!(
            "*** FATAL CONFIG FILE ERROR (Redis {version}) ***\n\
             Reading the configuration file, at line {line}\n\
             >>> '{text}'\n\
             {reason}"
        )
    }
}
