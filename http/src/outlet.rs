//! [`Outlet`]: where a response or a request made outside its connection's own callbacks is
//! written — the transport of whatever callback is running, or the reactor itself.

use spindle_reactor::{ConnId, Reactor, Transport};

/// What the HTTP server and client need to act on a connection from outside its own
/// callbacks: write to it, close it, and ask for a call back into its protocol.
///
/// Implemented for the [`Transport`] a callback is handed (any connection's: a reply that
/// arrives on an AMQP connection can answer an HTTP request) and for the [`Reactor`] (from a
/// timer or set-up code). [`Detached`] does nothing, for where there is neither.
pub trait Outlet {
    /// Queues `data` on connection `id`; false if it is gone or closing.
    fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool;

    /// Closes connection `id` once what is queued has been written.
    fn lose_connection_of(&mut self, id: ConnId) -> bool;

    /// Asks for `resume_producing` on connection `id`'s protocol after the next flush.
    fn resume_when_drained_of(&mut self, id: ConnId) -> bool;
}

impl Outlet for dyn Transport + '_ {
    fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        if id == self.id() {
            self.write(data);
            true
        } else {
            Transport::write_to(self, id, data)
        }
    }

    fn lose_connection_of(&mut self, id: ConnId) -> bool {
        if id == self.id() {
            self.lose_connection();
            true
        } else {
            Transport::lose_connection_of(self, id)
        }
    }

    fn resume_when_drained_of(&mut self, id: ConnId) -> bool {
        if id == self.id() {
            self.resume_when_drained();
            true
        } else {
            Transport::resume_when_drained_of(self, id)
        }
    }
}

impl Outlet for Reactor {
    fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        Reactor::write_to(self, id, data)
    }

    fn lose_connection_of(&mut self, id: ConnId) -> bool {
        Reactor::lose_connection_of(self, id)
    }

    fn resume_when_drained_of(&mut self, id: ConnId) -> bool {
        Reactor::resume_when_drained_of(self, id)
    }
}

/// An [`Outlet`] that reaches no connection: every call returns false.
#[derive(Debug, Default, Clone, Copy)]
pub struct Detached;

impl Outlet for Detached {
    fn write_to(&mut self, _id: ConnId, _data: &[u8]) -> bool {
        false
    }

    fn lose_connection_of(&mut self, _id: ConnId) -> bool {
        false
    }

    fn resume_when_drained_of(&mut self, _id: ConnId) -> bool {
        false
    }
}
