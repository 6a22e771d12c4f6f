//! What the subcommands share: how a failure is printed, and where the broker is.

use spindle_amqp::{AmqpUri, UriError};

/// Prints `spindle: <what>` on standard error; exit status 1.
pub(crate) fn fail(what: impl std::fmt::Display) -> i32 {
    eprintln!("spindle: {what}");
    1
}

/// `--uri`'s parser: the AMQP URI grammar RabbitMQ documents.
pub(crate) fn parse_uri(s: &str) -> Result<AmqpUri, UriError> {
    AmqpUri::parse(s)
}

/// The broker URI when `--uri` is absent: `$AMQP_URI`, else the local default.
pub(crate) fn uri_or_env(uri: Option<AmqpUri>) -> Result<AmqpUri, String> {
    match uri {
        Some(u) => Ok(u),
        None => AmqpUri::from_env().map_err(|e| format!("$AMQP_URI: {e}")),
    }
}

/// Runs a reactor until SIGINT or SIGTERM stops it (or it fails): the exit status.
pub(super) fn serve(mut reactor: spindle_reactor::Reactor) -> i32 {
    if let Err(e) = reactor.install_signal_handlers() {
        return fail(e);
    }
    match reactor.run() {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}
