//! [`HttpClient`]: one keep-alive connection to a server; requests are written as they are
//! made and answered in order, each through its callback or [`Deferred`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;

use bytes::BytesMut;
use spindle_protocols::http::{Limits, Response, ResponseDecoder};
use spindle_reactor::{
    Address, ClientFactory, ConnId, Connector, Deferred, DisconnectReason, Protocol,
    ProtocolResult, Transport,
};

use crate::error::ClientError;
use crate::outlet::{Detached, Outlet};
use crate::request::Request;

/// What a request's callback is given: the response or the error, and an [`Outlet`] for
/// follow-up requests (the connection's transport, or [`Detached`] when the connection
/// never came up).
type OnResponse = Box<dyn FnOnce(Result<Response, ClientError>, &mut dyn Outlet)>;

/// The connection's state, shared by the handle and the protocol.
struct State {
    host: String,
    conn: Option<ConnId>,
    /// Encoded requests made before the connection was up.
    unsent: BytesMut,
    /// Callbacks of the requests sent (or queued), in order.
    waiting: VecDeque<OnResponse>,
    decoder: ResponseDecoder,
    /// The connection ended (or failed): new requests fail at once.
    ended: Option<ClientError>,
}

/// A client connection for HTTP/1.1 requests: keep-alive, requests pipelined and answered
/// in order, responses with `Content-Length`, chunked or read-until-close bodies, and a
/// connection error reported to every request still waiting.
///
/// A cheap handle (clone it freely): [`factory`](Self::factory) gives the
/// [`ClientFactory`] to connect with, and requests may be made before the connection is up
/// (they are written once it is).
///
/// ```no_run
/// use spindle_http::{HttpClient, Request};
/// use spindle_reactor::Reactor;
///
/// let mut reactor = Reactor::new()?;
/// let client = HttpClient::new("localhost:8080");
/// reactor.connect_tcp("127.0.0.1:8080", client.factory(), None)?;
/// client.request(&mut reactor, Request::get("/"), |result, _out| {
///     match result {
///         Ok(response) => println!("{} {:?}", response.status, response.body),
///         Err(e) => eprintln!("{e}"),
///     }
/// });
/// # Ok::<(), spindle_reactor::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpClient {
    state: Rc<RefCell<State>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("HttpClient")
            .field("host", &s.host)
            .field("conn", &s.conn)
            .field("waiting", &s.waiting.len())
            .field("ended", &s.ended)
            .finish()
    }
}

impl HttpClient {
    /// A client for the server `host` (the `Host` header's value, e.g. `example.org:8080`),
    /// with the default [`Limits`].
    pub fn new(host: impl Into<String>) -> Self {
        HttpClient::with_limits(host, Limits::default())
    }

    /// A client whose responses are bounded by `limits`.
    pub fn with_limits(host: impl Into<String>, limits: Limits) -> Self {
        HttpClient {
            state: Rc::new(RefCell::new(State {
                host: host.into(),
                conn: None,
                unsent: BytesMut::new(),
                waiting: VecDeque::new(),
                decoder: ResponseDecoder::new(limits),
                ended: None,
            })),
        }
    }

    /// The factory to connect with (`reactor.connect_tcp(addr, client.factory(), None)`).
    pub fn factory(&self) -> HttpClientFactory {
        HttpClientFactory {
            client: self.clone(),
        }
    }

    /// The connection's protocol, for a caller that connects by other means.
    pub fn protocol(&self) -> HttpClientProtocol {
        HttpClientProtocol {
            client: self.clone(),
        }
    }

    /// Sends `request` (adding `Host` if it has none) and calls `on_response` with its
    /// response, or with the error that ended the connection first. `out` writes it: the
    /// transport of the callback that is running, or the reactor; before the connection is
    /// up the request waits for it.
    pub fn request<O, F>(&self, out: &mut O, request: Request, on_response: F)
    where
        O: Outlet + ?Sized,
        F: FnOnce(Result<Response, ClientError>, &mut dyn Outlet) + 'static,
    {
        let mut s = self.state.borrow_mut();
        if let Some(error) = s.ended.clone() {
            drop(s);
            on_response(Err(error), &mut Detached);
            return;
        }
        let mut request = request.into_inner();
        if !request.headers.contains("host") {
            request.headers.append("Host", s.host.clone());
        }
        let mut wire = BytesMut::new();
        request.encode(&mut wire);
        s.decoder.expect(request.method);
        s.waiting.push_back(Box::new(on_response));
        match s.conn {
            Some(conn) => {
                out.write_to(conn, &wire);
            }
            None => s.unsent.extend_from_slice(&wire),
        }
    }

    /// [`request`](Self::request), with the response given through a [`Deferred`].
    pub fn request_deferred<O: Outlet + ?Sized>(
        &self,
        out: &mut O,
        request: Request,
    ) -> Deferred<Response, ClientError> {
        let deferred = Deferred::new();
        let fire = deferred.clone();
        self.request(out, request, move |result, _| {
            let _ = match result {
                Ok(response) => fire.callback(response),
                Err(error) => fire.errback(error),
            };
        });
        deferred
    }

    /// Closes the connection once the requests written have been sent; requests still
    /// waiting then get [`ClientError::ConnectionLost`].
    pub fn close<O: Outlet + ?Sized>(&self, out: &mut O) {
        let conn = self.state.borrow().conn;
        if let Some(conn) = conn {
            out.lose_connection_of(conn);
        }
    }

    /// Requests sent (or queued) and not answered yet.
    pub fn waiting(&self) -> usize {
        self.state.borrow().waiting.len()
    }

    /// Fails every waiting request with `error`, and any later one.
    fn end(&self, error: ClientError, out: &mut dyn Outlet) {
        let waiting = {
            let mut s = self.state.borrow_mut();
            s.ended = Some(error.clone());
            s.conn = None;
            s.unsent.clear();
            std::mem::take(&mut s.waiting)
        };
        for on_response in waiting {
            on_response(Err(error.clone()), out);
        }
    }

    /// Hands out the responses the decoder has, each to its callback.
    fn deliver(&self, out: &mut dyn Outlet) {
        loop {
            let (result, on_response) = {
                let mut s = self.state.borrow_mut();
                let Some(result) = s.decoder.next_event() else {
                    return;
                };
                let Some(on_response) = s.waiting.pop_front() else {
                    // A response nobody asked for: the stream cannot be trusted.
                    s.ended = Some(ClientError::ConnectionLost);
                    return;
                };
                (result.map_err(ClientError::from), on_response)
            };
            let failed = result.is_err();
            on_response(result, out);
            if failed {
                self.end(ClientError::ConnectionLost, out);
                return;
            }
        }
    }
}

/// The [`Protocol`] of an [`HttpClient`]'s connection.
pub struct HttpClientProtocol {
    client: HttpClient,
}

impl std::fmt::Debug for HttpClientProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HttpClientProtocol")
            .field(&self.client)
            .finish()
    }
}

impl Protocol for HttpClientProtocol {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        let mut s = self.client.state.borrow_mut();
        s.conn = Some(tx.id());
        let unsent = s.unsent.split();
        if !unsent.is_empty() {
            tx.write(&unsent);
        }
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.client.state.borrow_mut().decoder.feed(data);
        let out: &mut dyn Outlet = &mut TxOutlet(tx);
        self.client.deliver(out);
        if self.client.state.borrow().ended.is_some() {
            tx.lose_connection();
        }
        Ok(())
    }

    fn connection_lost(&mut self, _reason: &DisconnectReason, tx: &mut dyn Transport) {
        // A response read until the close is complete now.
        self.client.state.borrow_mut().decoder.eof();
        let out: &mut dyn Outlet = &mut TxOutlet(tx);
        self.client.deliver(out);
        self.client.end(ClientError::ConnectionLost, out);
    }
}

/// A transport as a sized [`Outlet`], so it can be handed on as `&mut dyn Outlet`.
struct TxOutlet<'a, 'b>(&'a mut (dyn Transport + 'b));

impl Outlet for TxOutlet<'_, '_> {
    fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        Outlet::write_to(&mut *self.0, id, data)
    }

    fn lose_connection_of(&mut self, id: ConnId) -> bool {
        Outlet::lose_connection_of(&mut *self.0, id)
    }

    fn resume_when_drained_of(&mut self, id: ConnId) -> bool {
        Outlet::resume_when_drained_of(&mut *self.0, id)
    }
}

/// The [`ClientFactory`] of an [`HttpClient`]: builds its protocol, and fails its requests
/// if the connection cannot be made. It does not reconnect.
#[derive(Debug)]
pub struct HttpClientFactory {
    client: HttpClient,
}

impl ClientFactory for HttpClientFactory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        Box::new(self.client.protocol())
    }

    fn client_connection_failed(&mut self, reason: &io::Error, _connector: &mut Connector) {
        self.client
            .end(ClientError::Connect(reason.to_string()), &mut Detached);
    }
}
