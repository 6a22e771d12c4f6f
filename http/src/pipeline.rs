//! A connection's pipeline of requests waiting for their responses, in the order they came,
//! and the [`Responder`] a handler keeps to answer later.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use bytes::BytesMut;
use spindle_protocols::http::{ReplyTo, Response};
use spindle_reactor::ConnId;

use crate::outlet::Outlet;

/// One request's place in the pipeline.
#[derive(Debug)]
struct Slot {
    seq: u64,
    to: ReplyTo,
    response: Option<Response>,
}

/// The requests of one connection that have no response on the wire yet.
#[derive(Debug)]
pub(crate) struct Pipeline {
    conn: ConnId,
    slots: VecDeque<Slot>,
    next_seq: u64,
    /// The connection is gone, or closes after a response already written: nothing more
    /// is written.
    closed: bool,
    /// Reading is paused because `max_in_flight` requests wait.
    pub(crate) stalled: bool,
    max_in_flight: usize,
}

pub(crate) type SharedPipeline = Rc<RefCell<Pipeline>>;

impl Pipeline {
    pub(crate) fn new(conn: ConnId, max_in_flight: usize) -> SharedPipeline {
        Rc::new(RefCell::new(Pipeline {
            conn,
            slots: VecDeque::new(),
            next_seq: 0,
            closed: false,
            stalled: false,
            max_in_flight: max_in_flight.max(1),
        }))
    }

    /// Takes a place for a request; its response goes out after those of earlier ones.
    pub(crate) fn push(&mut self, to: ReplyTo) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.slots.push_back(Slot {
            seq,
            to,
            response: None,
        });
        seq
    }

    /// Gives request `seq` its response; false if it has one already or is gone.
    pub(crate) fn fill(&mut self, seq: u64, response: Response) -> bool {
        match self.slots.iter_mut().find(|s| s.seq == seq) {
            Some(slot) if slot.response.is_none() => {
                slot.response = Some(response);
                true
            }
            _ => false,
        }
    }

    /// Requests waiting for a response, or for earlier ones.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// True when no more requests may be taken before responses go out.
    pub(crate) fn is_full(&self) -> bool {
        self.slots.len() >= self.max_in_flight
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// The connection is gone: drop what waits, write nothing more.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        self.slots.clear();
    }

    /// Writes the responses that are ready at the front, in order. A response after which
    /// the connection does not stay open closes it (requests behind it are dropped). If
    /// reading was stalled and there is room again, asks for the protocol to be called back.
    pub(crate) fn flush<O: Outlet + ?Sized>(&mut self, out: &mut O) {
        if self.closed {
            return;
        }
        let mut wire = BytesMut::new();
        while let Some(slot) = self.slots.front_mut() {
            let Some(response) = slot.response.take() else {
                break;
            };
            let to = slot.to;
            self.slots.pop_front();
            if !response.encode(&mut wire, &to) {
                self.closed = true;
                self.slots.clear();
                break;
            }
        }
        if !wire.is_empty() {
            out.write_to(self.conn, &wire);
        }
        if self.closed {
            out.lose_connection_of(self.conn);
        } else if self.stalled && !self.is_full() {
            out.resume_when_drained_of(self.conn);
        }
    }
}

/// A handle to answer one request later: a handler that cannot answer at once (it waits
/// for a broker, a database, a timer) takes one from its
/// [`Context`](crate::Context), returns [`Reply::Later`](crate::Reply::Later), and calls
/// [`send`](Self::send) when the response is ready — from any callback of the same reactor.
///
/// Responses still go out in request order: one given early waits for those before it.
/// Dropping a responder without sending answers `500` (written at the connection's next
/// event, at the latest its idle timer), so a lost responder cannot hang a client forever.
#[derive(Debug)]
pub struct Responder {
    pipeline: Weak<RefCell<Pipeline>>,
    seq: u64,
    sent: bool,
}

impl Responder {
    pub(crate) fn new(pipeline: &SharedPipeline, seq: u64) -> Self {
        Responder {
            pipeline: Rc::downgrade(pipeline),
            seq,
            sent: false,
        }
    }

    /// Sends the response (once those of earlier requests are out) through `out`: the
    /// transport of the callback that is running, or the reactor. False if the connection
    /// is gone or the request was already answered.
    pub fn send<O: Outlet + ?Sized>(mut self, out: &mut O, response: Response) -> bool {
        self.sent = true;
        let Some(pipeline) = self.pipeline.upgrade() else {
            return false;
        };
        let Ok(mut pipeline) = pipeline.try_borrow_mut() else {
            return false;
        };
        if !pipeline.fill(self.seq, response) {
            return false;
        }
        pipeline.flush(out);
        true
    }

    /// True while the connection is open and waits for this response.
    pub fn is_wanted(&self) -> bool {
        self.pipeline
            .upgrade()
            .is_some_and(|p| p.try_borrow().is_ok_and(|p| !p.is_closed()))
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if self.sent {
            return;
        }
        if let Some(pipeline) = self.pipeline.upgrade() {
            if let Ok(mut pipeline) = pipeline.try_borrow_mut() {
                pipeline.fill(
                    self.seq,
                    Response::text(500, "the handler dropped the request\n"),
                );
            }
        }
    }
}
