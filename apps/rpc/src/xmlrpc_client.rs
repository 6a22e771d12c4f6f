//! The XML-RPC client: [`XmlRpcClient`] on the reactor over spindle-http's keep-alive
//! connection (calls pipelined, each answered through a
//! [`Deferred`]), and [`BlockingXmlRpcClient`] for scripts.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle_http::{ClientError, HttpClient, Outlet, Request, Response};
use spindle_protocols::value::Value;
use spindle_protocols::xmlrpc::{self, Limits, MethodResponse};
use spindle_reactor::{BeforeFlushId, Deferred, Reactor};

use crate::block::block_on;
use crate::error::RpcError;
use crate::url::HttpUrl;

/// How long [`XmlRpcClient::connect`] waits for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// At most this many connections at once to a server that closes after each response.
pub const MAX_CONNECTIONS: usize = 8;

/// A call not written yet: its document and its deferred.
struct Call {
    body: Bytes,
    deferred: Deferred<Value, RpcError>,
    /// Sent again once already, after a reused connection was found closed.
    retried: bool,
}

/// One HTTP connection of the client.
struct Conn {
    http: HttpClient,
    /// The server said it closes this connection (`Connection: close`, or HTTP/1.0 without
    /// keep-alive): the requests written after that response were not run, and are retried
    /// on another connection.
    closing: bool,
    /// The connection failed or ended.
    lost: bool,
    /// Requests written and not answered.
    waiting: usize,
    /// Responses received: a connection that has answered before may have been closed by
    /// the server while idle.
    answered: usize,
}

type SharedConn = Rc<RefCell<Conn>>;

/// The client's state, shared by its handles, its connections' callbacks and its
/// before-flush hook.
struct Inner {
    url: HttpUrl,
    limits: Limits,
    /// Calls not written yet (the hook writes them at the end of the turn).
    queue: VecDeque<Call>,
    /// The keep-alive connection calls are pipelined on, while the server keeps connections.
    current: Option<SharedConn>,
    /// The server closes after each response: one call per connection from then on.
    one_per_connection: bool,
    /// Connections with requests waiting.
    open: usize,
    closed: bool,
}

/// An XML-RPC client for one server, calls answered through [`Deferred`]s.
///
/// A server that keeps connections alive (HTTP/1.1, as spindle's) gets one connection with
/// the calls pipelined on it, answered in order. A server that closes after each response
/// (Python's `SimpleXMLRPCServer` speaks HTTP/1.0) gets a connection per call, up to
/// [`MAX_CONNECTIONS`] at once: the client learns which from the first response, and the calls
/// it had pipelined behind that response (which such a server never reads) are sent again.
/// A cheap handle: clone it freely.
///
/// ```no_run
/// use spindle_protocols::value::Value;
/// use spindle_reactor::{Reactor, Step};
/// use spindle_rpc::XmlRpcClient;
///
/// let mut reactor = Reactor::new()?;
/// let client = XmlRpcClient::connect(&mut reactor, "http://127.0.0.1:4242")?;
/// client
///     .call(&mut reactor, "fib", vec![Value::from(30)])
///     .add_callback(|v| {
///         println!("fib(30) = {v:?}");
///         Step::Ok(v)
///     });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct XmlRpcClient {
    inner: Rc<RefCell<Inner>>,
}

impl std::fmt::Debug for XmlRpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.borrow();
        f.debug_struct("XmlRpcClient")
            .field("url", &s.url)
            .field("queued", &s.queue.len())
            .field("open", &s.open)
            .field("one_per_connection", &s.one_per_connection)
            .finish()
    }
}

impl XmlRpcClient {
    /// A client of the server at `url` (`http://host:port[/path]`; the path defaults to
    /// `/RPC2`, as `ServerProxy`'s). It connects when the first call is made; a connection
    /// that cannot be made fails the calls with [`RpcError::Transport`].
    ///
    /// # Errors
    ///
    /// A URL that is not `http://host[:port][/path]`.
    pub fn connect(reactor: &mut Reactor, url: &str) -> Result<XmlRpcClient, RpcError> {
        let url = HttpUrl::parse(url).map_err(RpcError::Transport)?;
        let client = XmlRpcClient {
            inner: Rc::new(RefCell::new(Inner {
                url,
                limits: Limits::default(),
                queue: VecDeque::new(),
                current: None,
                one_per_connection: false,
                open: 0,
                closed: false,
            })),
        };
        // Connections are made, and queued calls written, at the end of each turn: a
        // response's callback has no reactor to connect with.
        let weak = Rc::downgrade(&client.inner);
        let id: Rc<Cell<Option<BeforeFlushId>>> = Rc::new(Cell::new(None));
        let own_id = id.clone();
        id.set(Some(reactor.before_flush(
            move |reactor| match weak.upgrade() {
                Some(inner) => pump(&inner, reactor),
                None => {
                    if let Some(id) = own_id.take() {
                        reactor.remove_before_flush(id);
                    }
                }
            },
        )));
        Ok(client)
    }

    /// Calls `method` with `params`. `out` writes the request at once when a keep-alive
    /// connection is up (the reactor, or the transport of the callback that is running);
    /// otherwise it goes at the end of the turn. The result comes through the deferred: the
    /// method's value, or [`RpcError::Fault`] / [`RpcError::Http`] / [`RpcError::Transport`]
    /// / [`RpcError::BadResponse`]. Add a timeout with `.timeout(&mut reactor, after)`
    /// ([`RpcError::TimedOut`]).
    pub fn call<O: Outlet + ?Sized>(
        &self,
        out: &mut O,
        method: &str,
        params: Vec<Value>,
    ) -> Deferred<Value, RpcError> {
        let mut body = BytesMut::with_capacity(256);
        xmlrpc::encode_call(method, &params, &mut body);
        let deferred = Deferred::new();
        let call = Call {
            body: body.freeze(),
            deferred: deferred.clone(),
            retried: false,
        };
        let current = {
            let s = self.inner.borrow();
            if s.closed {
                drop(s);
                let _ = deferred.errback(RpcError::Transport("the client is closed".into()));
                return deferred;
            }
            s.current.clone().filter(|c| {
                let c = c.borrow();
                !c.closing && !c.lost && s.queue.is_empty()
            })
        };
        match current {
            Some(conn) => send(&self.inner, &conn, out, call),
            None => self.inner.borrow_mut().queue.push_back(call),
        }
        deferred
    }

    /// Calls not answered yet.
    pub fn waiting(&self) -> usize {
        let s = self.inner.borrow();
        s.queue.len() + s.current.as_ref().map_or(0, |c| c.borrow().waiting)
    }

    /// Closes the keep-alive connection once what was written has gone; calls still waiting
    /// fail, and later calls fail at once.
    pub fn close<O: Outlet + ?Sized>(&self, out: &mut O) {
        let (current, queued) = {
            let mut s = self.inner.borrow_mut();
            s.closed = true;
            (s.current.take(), std::mem::take(&mut s.queue))
        };
        if let Some(conn) = current {
            conn.borrow().http.close(out);
        }
        for call in queued {
            let _ = call
                .deferred
                .errback(RpcError::Transport("the client is closed".into()));
        }
    }
}

/// Opens connections and writes the queued calls: pipelined on the keep-alive connection, or
/// one per connection to a server that closes.
fn pump(inner: &Rc<RefCell<Inner>>, reactor: &mut Reactor) {
    loop {
        let (conn, call) = {
            let mut s = inner.borrow_mut();
            if s.queue.is_empty() || s.closed {
                return;
            }
            let usable = s.current.clone().filter(|c| {
                let c = c.borrow();
                !c.closing && !c.lost
            });
            let conn = match usable {
                Some(c) if !s.one_per_connection => c,
                _ => {
                    if s.one_per_connection && s.open >= MAX_CONNECTIONS {
                        return;
                    }
                    let http = HttpClient::new(s.url.host_header());
                    let addr = (s.url.host.clone(), s.url.port);
                    if let Err(e) = reactor.connect_tcp(addr, http.factory(), Some(CONNECT_TIMEOUT))
                    {
                        let error = RpcError::Transport(format!("{}: {e}", s.url.host_header()));
                        let failed = std::mem::take(&mut s.queue);
                        drop(s);
                        for call in failed {
                            let _ = call.deferred.errback(error.clone());
                        }
                        return;
                    }
                    let conn = Rc::new(RefCell::new(Conn {
                        http,
                        closing: false,
                        lost: false,
                        waiting: 0,
                        answered: 0,
                    }));
                    s.open += 1;
                    if !s.one_per_connection {
                        s.current = Some(conn.clone());
                    }
                    conn
                }
            };
            let Some(call) = s.queue.pop_front() else {
                return;
            };
            (conn, call)
        };
        send(inner, &conn, reactor, call);
    }
}

/// Writes `call` on `conn`; its answer fires its deferred, or sends it again when the server
/// closed the connection before reading it.
fn send<O: Outlet + ?Sized>(
    inner: &Rc<RefCell<Inner>>,
    conn: &SharedConn,
    out: &mut O,
    call: Call,
) {
    let (path, limits) = {
        let s = inner.borrow();
        (s.url.path.clone(), s.limits)
    };
    let request = Request::post(path, call.body.clone())
        .header("Content-Type", "text/xml")
        .header("User-Agent", "spindle-rpc");
    let inner = inner.clone();
    let this = conn.clone();
    conn.borrow_mut().waiting += 1;
    let http = conn.borrow().http.clone();
    http.request(out, request, move |result, out| {
        let retry = {
            let mut c = this.borrow_mut();
            c.waiting = c.waiting.saturating_sub(1);
            // Sent again: what a server that said it closes never read, and, once, a call
            // on a reused connection the server closed while idle (as Python's
            // xmlrpc.client.Transport retries a cached connection gone cold).
            let gone_cold = matches!(result, Err(ClientError::ConnectionLost))
                && c.answered > 0
                && !call.retried;
            let retry = result.is_err() && (c.closing || gone_cold);
            match &result {
                Ok(response) => {
                    c.answered += 1;
                    if !response.keep_alive() {
                        c.closing = true;
                    }
                }
                Err(_) => c.lost = true,
            }
            let closing = c.closing;
            let mut s = inner.borrow_mut();
            let one_call_done = s.one_per_connection && c.waiting == 0 && !c.lost;
            if one_call_done && !closing {
                // A connection of its own that the server would keep: ours to close.
                c.http.close(out);
            }
            let done = c.waiting == 0 && (closing || c.lost || one_call_done);
            drop(c);
            if closing {
                s.one_per_connection = true;
            }
            if done {
                s.open = s.open.saturating_sub(1);
                if s.current.as_ref().is_some_and(|cur| Rc::ptr_eq(cur, &this)) {
                    s.current = None;
                }
            }
            retry && !s.closed
        };
        if retry {
            // Never read by a server that said it closes: safe to send again.
            let mut call = call;
            call.retried = true;
            inner.borrow_mut().queue.push_back(call);
            return;
        }
        // A cancelled or timed-out call has fired already: its late answer is dropped.
        let _ = match answer(result, &limits) {
            Ok(v) => call.deferred.callback(v),
            Err(e) => call.deferred.errback(e),
        };
    });
}

/// An HTTP response as a call's result.
fn answer(result: Result<Response, ClientError>, limits: &Limits) -> Result<Value, RpcError> {
    let response = result?;
    if response.status != 200 {
        return Err(RpcError::Http {
            status: response.status,
            reason: response.reason,
        });
    }
    match xmlrpc::decode_response(&response.body, limits) {
        Ok(MethodResponse::Value(v)) => Ok(v),
        Ok(MethodResponse::Fault(f)) => Err(RpcError::Fault(f)),
        Err(e) => Err(RpcError::BadResponse(e.to_string())),
    }
}

/// An XML-RPC client for programs that are not event-driven: each call runs a reactor of its
/// own until the answer (or the timeout) comes, like Python's `ServerProxy`.
///
/// ```no_run
/// use spindle_protocols::value::Value;
/// use spindle_rpc::BlockingXmlRpcClient;
///
/// let mut server = BlockingXmlRpcClient::connect("http://127.0.0.1:4242")?;
/// let obj = server.call("getObj", vec![])?;
/// server.call("sendObj", vec![obj])?;
/// # Ok::<(), spindle_rpc::RpcError>(())
/// ```
#[derive(Debug)]
pub struct BlockingXmlRpcClient {
    reactor: Reactor,
    client: XmlRpcClient,
    /// How long one call may take.
    pub timeout: Duration,
}

impl BlockingXmlRpcClient {
    /// Connects to `url` (see [`XmlRpcClient::connect`]); calls time out after 30 seconds.
    ///
    /// # Errors
    ///
    /// As [`XmlRpcClient::connect`], or the reactor cannot be made.
    pub fn connect(url: &str) -> Result<BlockingXmlRpcClient, RpcError> {
        let mut reactor = Reactor::new().map_err(|e| RpcError::Transport(e.to_string()))?;
        let client = XmlRpcClient::connect(&mut reactor, url)?;
        Ok(BlockingXmlRpcClient {
            reactor,
            client,
            timeout: Duration::from_secs(30),
        })
    }

    /// Calls `method` and waits for its result.
    ///
    /// # Errors
    ///
    /// The server's fault, or why no answer came (see [`RpcError`]).
    pub fn call(&mut self, method: &str, params: Vec<Value>) -> Result<Value, RpcError> {
        let d = self.client.call(&mut self.reactor, method, params);
        block_on(&mut self.reactor, d, self.timeout)
    }

    /// Several calls written at once (pipelined on the connection), their results in order.
    pub fn call_many(&mut self, calls: Vec<(&str, Vec<Value>)>) -> Vec<Result<Value, RpcError>> {
        let ds: Vec<_> = calls
            .into_iter()
            .map(|(m, p)| self.client.call(&mut self.reactor, m, p))
            .collect();
        ds.into_iter()
            .map(|d| block_on(&mut self.reactor, d, self.timeout))
            .collect()
    }

    /// The event-driven client underneath, and its reactor.
    pub fn parts(&mut self) -> (&mut Reactor, &XmlRpcClient) {
        (&mut self.reactor, &self.client)
    }
}
