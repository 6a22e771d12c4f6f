//! [`ConnectionHandler`]: what the application does on the connection's events.

use spindle_reactor::TimerId;

use crate::channel::Channel;
use crate::connection::Connection;
use crate::error::{ClientError, ServerError};
use crate::event::{Delivery, Reply, Returned};

/// What the application does on the connection's events. Every method but `on_open` has a
/// default that does nothing.
///
/// Each callback gets a handle ([`Connection`] or [`Channel`]) through which it issues
/// commands; the handle borrows the client and its transport for the length of the call, so
/// the handler owns only its own state: no `Rc<RefCell<…>>` to reach the connection. A
/// callback returning `Err` closes the connection, and the error reaches
/// [`on_closed`](Self::on_closed).
pub trait ConnectionHandler {
    /// The connection is open (`connection.open-ok`): open channels here.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError>;

    /// A channel is open (`channel.open-ok`).
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_channel_open(&mut self, ch: &mut Channel<'_>) -> Result<(), ClientError> {
        let _ = ch;
        Ok(())
    }

    /// A synchronous command was answered.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        let _ = (ch, reply);
        Ok(())
    }

    /// A consumer's message (`basic.deliver`). Ack it on `ch` unless consuming with `no_ack`.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_delivery(&mut self, ch: &mut Channel<'_>, delivery: Delivery) -> Result<(), ClientError> {
        let _ = (ch, delivery);
        Ok(())
    }

    /// The answer to [`Channel::get`]: the message, or `None` if the queue was empty.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_get(
        &mut self,
        ch: &mut Channel<'_>,
        delivery: Option<Delivery>,
    ) -> Result<(), ClientError> {
        let _ = (ch, delivery);
        Ok(())
    }

    /// A publish confirmed (`acked`) or refused by the broker, by its sequence number from
    /// [`Channel::publish`]; called once per publish, in order, a `multiple` ack expanded.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_confirm(
        &mut self,
        ch: &mut Channel<'_>,
        seq: u64,
        acked: bool,
    ) -> Result<(), ClientError> {
        let _ = (ch, seq, acked);
        Ok(())
    }

    /// A mandatory message no queue took.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_return(&mut self, ch: &mut Channel<'_>, message: Returned) -> Result<(), ClientError> {
        let _ = (ch, message);
        Ok(())
    }

    /// The broker closed a channel (a soft error: 404 `NOT_FOUND`, 406
    /// `PRECONDITION_FAILED`, 403 `ACCESS_REFUSED`). The connection stays open; the channel
    /// can be [reopened](Channel::reopen). The default returns the error, which closes the
    /// connection: a program that does not handle channel errors stops at the first.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_channel_error(
        &mut self,
        ch: &mut Channel<'_>,
        error: ServerError,
    ) -> Result<(), ClientError> {
        let _ = ch;
        Err(ClientError::Server(error))
    }

    /// Publishing may go on after a [`ClientError::Paused`]: the output buffer drained, or the
    /// broker unblocked the connection.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_writable(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let _ = conn;
        Ok(())
    }

    /// A timer from [`Connection::call_later`] fired.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_timer(&mut self, conn: &mut Connection<'_>, timer: TimerId) -> Result<(), ClientError> {
        let _ = (conn, timer);
        Ok(())
    }

    /// The broker blocked (`Some(reason)`: an alarm, memory or disk) or unblocked (`None`)
    /// publishing on this connection.
    fn on_blocked(&mut self, reason: Option<&str>) {
        let _ = reason;
    }

    /// The connection ended, once, last: `Ok` after a clean close, otherwise why.
    fn on_closed(&mut self, result: Result<(), &ClientError>) {
        let _ = result;
    }
}
