//! [`Request`]: what a handler is given (the decoded request and its route's parameters),
//! and what a client sends.

use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use spindle_protocols::http::{self as codec, Method};

/// An HTTP request: decoded by the server and handed to a handler, with the parameters its
/// route pattern captured; or built by a program and sent with
/// [`HttpClient::request`](crate::HttpClient::request).
///
/// It dereferences to the codec's request ([`method`](codec::Request::method),
/// [`target`](codec::Request::target), [`headers`](codec::Request::headers),
/// [`body`](codec::Request::body), [`path`](codec::Request::path),
/// [`query`](codec::Request::query)...).
///
/// ```
/// use spindle_http::Request;
///
/// let req = Request::post("/RPC2", "<methodCall/>").header("Content-Type", "text/xml");
/// assert_eq!(req.path(), "/RPC2");
/// assert_eq!(&req.body[..], b"<methodCall/>");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    inner: codec::Request,
    params: Vec<(String, String)>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Request::from(codec::Request::new(method, target))
    }

    /// A `GET` request.
    pub fn get(target: impl Into<String>) -> Self {
        Request::new(Method::Get, target)
    }

    /// A `POST` request with a body.
    pub fn post(target: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Request::new(Method::Post, target).body(body)
    }

    /// Adds a header field (builder style).
    pub fn header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.inner.headers.append(name, value);
        self
    }

    /// Sets the body (builder style).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.inner.body = body.into();
        self
    }

    /// The value of the route parameter `name` (`:name` in the pattern), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every route parameter, in pattern order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The body as UTF-8, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.inner.body).ok()
    }

    /// The codec's request, without the parameters.
    pub fn into_inner(self) -> codec::Request {
        self.inner
    }

    pub(crate) fn set_params(&mut self, params: Vec<(String, String)>) {
        self.params = params;
    }
}

impl From<codec::Request> for Request {
    fn from(inner: codec::Request) -> Self {
        Request {
            inner,
            params: Vec::new(),
        }
    }
}

impl Deref for Request {
    type Target = codec::Request;

    fn deref(&self) -> &codec::Request {
        &self.inner
    }
}

impl DerefMut for Request {
    fn deref_mut(&mut self) -> &mut codec::Request {
        &mut self.inner
    }
}
