//! [`Handler`]: what answers a request — at once ([`Reply::Now`]) or later through a
//! [`Responder`] ([`Reply::Later`]).

use spindle_protocols::http::Response;
use spindle_reactor::Transport;

use crate::pipeline::{Responder, SharedPipeline};
use crate::request::Request;

/// A handler's answer.
#[derive(Debug)]
pub enum Reply {
    /// This is the response.
    Now(Response),
    /// The response comes later, through the [`Responder`] the handler took with
    /// [`Context::responder`]. Without one taken, the client gets `500`.
    Later,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::Now(response)
    }
}

/// What a handler may use besides its request: the connection's transport (to reach other
/// connections of the reactor, timers...) and a [`Responder`] to answer later.
pub struct Context<'a> {
    pub(crate) tx: &'a mut dyn Transport,
    pub(crate) pipeline: &'a SharedPipeline,
    pub(crate) seq: u64,
    pub(crate) responder_taken: bool,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("conn", &self.tx.id())
            .field("seq", &self.seq)
            .finish()
    }
}

impl Context<'_> {
    /// The transport of the request's connection.
    pub fn transport(&mut self) -> &mut dyn Transport {
        self.tx
    }

    /// A handle to answer this request later; return [`Reply::Later`] after taking it.
    pub fn responder(&mut self) -> Responder {
        self.responder_taken = true;
        Responder::new(self.pipeline, self.seq)
    }
}

/// Answers requests: what a [`Router`](crate::Router) dispatches to.
///
/// A closure `FnMut(&Request) -> Response` is a handler; implement the trait (or use
/// [`later`]) for one that answers later.
///
/// ```
/// use spindle_http::{Context, Handler, Reply, Request, Response};
///
/// /// Answers after a broker replies: keeps the responder until then.
/// struct Deferred(Vec<spindle_http::Responder>);
///
/// impl Handler for Deferred {
///     fn handle(&mut self, _req: Request, cx: &mut Context<'_>) -> Reply {
///         self.0.push(cx.responder());
///         Reply::Later
///     }
/// }
/// ```
pub trait Handler {
    /// Answers `request`.
    fn handle(&mut self, request: Request, cx: &mut Context<'_>) -> Reply;
}

impl<F> Handler for F
where
    F: FnMut(&Request) -> Response,
{
    fn handle(&mut self, request: Request, _cx: &mut Context<'_>) -> Reply {
        Reply::Now(self(&request))
    }
}

impl std::fmt::Debug for dyn Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Handler")
    }
}

/// A handler that always answers later: `f` gets the request, its [`Responder`] and the
/// connection's transport.
pub fn later<F>(f: F) -> Later<F>
where
    F: FnMut(Request, Responder, &mut dyn Transport),
{
    Later(f)
}

/// The handler [`later`] makes.
#[derive(Debug)]
pub struct Later<F>(F);

impl<F> Handler for Later<F>
where
    F: FnMut(Request, Responder, &mut dyn Transport),
{
    fn handle(&mut self, request: Request, cx: &mut Context<'_>) -> Reply {
        let responder = cx.responder();
        (self.0)(request, responder, cx.tx);
        Reply::Later
    }
}
