//! [`HttpServer`] (the [`Factory`]) and [`HttpConnection`] (each connection's [`Protocol`]):
//! the codec's requests dispatched through the [`Router`], responses written in order.

use std::cell::RefCell;
use std::rc::Rc;

use spindle_protocols::http::{Method, ReplyTo, RequestDecoder, RequestEvent, Response, Version};
use spindle_reactor::{
    Address, DisconnectReason, Factory, Protocol, ProtocolResult, TimerId, Transport,
};

use crate::config::ServerConfig;
use crate::handler::{Context, Reply};
use crate::pipeline::{Pipeline, SharedPipeline};
use crate::request::Request;
use crate::response::error_response;
use crate::router::{Found, Router};

/// The interim response a client that sent `Expect: 100-continue` waits for.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// An HTTP/1.1 server: give it to [`Reactor::listen_tcp`](spindle_reactor::Reactor::listen_tcp).
/// Every connection shares the router.
///
/// ```no_run
/// use spindle_http::{HttpServer, Request, Response, Router};
/// use spindle_reactor::Reactor;
///
/// let mut router = Router::new();
/// router.get("/", |_: &Request| Response::text(200, "hello\n"));
/// let mut reactor = Reactor::new()?;
/// reactor.listen_tcp("127.0.0.1:8080", HttpServer::new(router))?;
/// reactor.run()?;
/// # Ok::<(), spindle_reactor::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpServer {
    router: Rc<RefCell<Router>>,
    config: Rc<ServerConfig>,
}

impl HttpServer {
    /// A server with the default [`ServerConfig`].
    pub fn new(router: Router) -> Self {
        HttpServer::with_config(router, ServerConfig::default())
    }

    /// A server with `config`.
    pub fn with_config(router: Router, config: ServerConfig) -> Self {
        HttpServer {
            router: Rc::new(RefCell::new(router)),
            config: Rc::new(config),
        }
    }

    /// A connection's protocol, as the factory builds it.
    pub fn connection(&self) -> HttpConnection {
        HttpConnection {
            decoder: RequestDecoder::new(self.config.limits.clone()),
            router: self.router.clone(),
            config: self.config.clone(),
            pipeline: None,
            idle: None,
            out_paused: false,
            done: false,
        }
    }
}

impl Factory for HttpServer {
    fn build_protocol(&mut self, _peer: &Address) -> Option<Box<dyn Protocol>> {
        Some(Box::new(self.connection()))
    }
}

/// One server connection: decodes requests, dispatches them, writes the responses in
/// request order, keeps the connection open as HTTP/1.x says, and closes it after
/// [`ServerConfig::idle_timeout`] without a request in progress.
pub struct HttpConnection {
    decoder: RequestDecoder,
    router: Rc<RefCell<Router>>,
    config: Rc<ServerConfig>,
    pipeline: Option<SharedPipeline>,
    idle: Option<TimerId>,
    /// The reactor paused us: the output buffer is over its high-water mark.
    out_paused: bool,
    /// No more requests are read: the last one said `Connection: close`, or was refused.
    done: bool,
}

impl std::fmt::Debug for HttpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConnection")
            .field("decoder", &self.decoder)
            .field("pipeline", &self.pipeline)
            .field("done", &self.done)
            .finish()
    }
}

impl HttpConnection {
    /// Takes the requests the decoder holds (as many as the in-flight limit lets), answers
    /// what can be answered, and pauses or resumes reading.
    fn pump(&mut self, tx: &mut dyn Transport) {
        let Some(pipeline) = self.pipeline.clone() else {
            return;
        };
        loop {
            while !self.done {
                if pipeline.borrow().is_full() {
                    pipeline.borrow_mut().stalled = true;
                    tx.pause_reading();
                    break;
                }
                let Some(event) = self.decoder.next_event() else {
                    break;
                };
                match event {
                    Ok(RequestEvent::Continue) => {
                        // Only when nothing is owed before it: an interim response must not
                        // overtake an earlier request's response. A client not told goes on
                        // with the body after its own wait (curl: 1 s).
                        if pipeline.borrow().in_flight() == 0 {
                            tx.write(CONTINUE);
                        }
                    }
                    Ok(RequestEvent::Request(request)) => {
                        self.done = !request.keep_alive();
                        self.dispatch(request, &pipeline, tx);
                    }
                    Err(error) => {
                        log::debug!("{}: refused a request: {error}", tx.id());
                        self.done = true;
                        let to = ReplyTo {
                            method: Method::Get,
                            version: Version::Http11,
                            keep_alive: false,
                        };
                        let mut p = pipeline.borrow_mut();
                        let seq = p.push(to);
                        p.fill(seq, error_response(&error));
                    }
                }
            }
            pipeline.borrow_mut().flush(tx);
            let mut p = pipeline.borrow_mut();
            if p.stalled && !p.is_full() && !p.is_closed() {
                p.stalled = false;
                drop(p);
                if !self.out_paused {
                    tx.resume_reading();
                }
                continue;
            }
            break;
        }
        if self.done {
            tx.pause_reading();
        }
    }

    fn dispatch(
        &mut self,
        request: spindle_protocols::http::Request,
        pipeline: &SharedPipeline,
        tx: &mut dyn Transport,
    ) {
        let seq = pipeline.borrow_mut().push(ReplyTo::request(&request));
        let mut request = Request::from(request);
        let mut router = self.router.borrow_mut();
        let response = match router.find(request.method, request.path()) {
            Found::Status(response) => response,
            Found::Handler(handler, params) => {
                request.set_params(params);
                let mut cx = Context {
                    tx,
                    pipeline,
                    seq,
                    responder_taken: false,
                };
                match handler.handle(request, &mut cx) {
                    Reply::Now(response) => response,
                    Reply::Later if cx.responder_taken => return,
                    Reply::Later => Response::text(500, "the handler gave no response\n"),
                }
            }
        };
        pipeline.borrow_mut().fill(seq, response);
    }

    fn arm_idle(&mut self, tx: &mut dyn Transport) {
        let timeout = self.config.idle_timeout;
        match self.idle {
            Some(id) if tx.reset_timer(id, timeout) => {}
            _ => self.idle = Some(tx.call_later(timeout)),
        }
    }
}

impl Protocol for HttpConnection {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.pipeline = Some(Pipeline::new(tx.id(), self.config.max_in_flight));
        self.arm_idle(tx);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        if self.done {
            return Ok(());
        }
        self.arm_idle(tx);
        self.decoder.feed(data);
        self.pump(tx);
        Ok(())
    }

    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        if self.idle != Some(id) {
            return Ok(());
        }
        self.idle = None;
        let Some(pipeline) = self.pipeline.clone() else {
            return Ok(());
        };
        // Responses given meanwhile by dropped responders go out now.
        pipeline.borrow_mut().flush(tx);
        if pipeline.borrow().in_flight() > 0 {
            self.arm_idle(tx);
        } else {
            log::debug!(
                "{}: idle for {:?}, closing",
                tx.id(),
                self.config.idle_timeout
            );
            tx.lose_connection();
        }
        Ok(())
    }

    fn connection_lost(&mut self, _reason: &DisconnectReason, _tx: &mut dyn Transport) {
        if let Some(pipeline) = &self.pipeline {
            pipeline.borrow_mut().close();
        }
    }

    fn pause_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.out_paused = true;
        tx.pause_reading();
        Ok(())
    }

    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.out_paused = false;
        let stalled = self.pipeline.as_ref().is_some_and(|p| p.borrow().stalled);
        if !stalled && !self.done {
            tx.resume_reading();
        }
        self.pump(tx);
        Ok(())
    }
}
