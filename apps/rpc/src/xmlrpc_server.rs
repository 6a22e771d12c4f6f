//! The XML-RPC server: a [`Service`] behind spindle-http, answering as Python's
//! `SimpleXMLRPCServer` does — `POST /` and `POST /RPC2`, 404 `No such page` for other paths,
//! 501 for other methods, `text/xml` method responses and faults.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use spindle_http::{
    Context, Handler, HttpServer, Method, Reply, Request, Response, Router, ServerConfig,
};
use spindle_protocols::value::{Members, Value};
use spindle_protocols::xmlrpc::{self, Limits};
use spindle_reactor::{Error as ReactorError, ListeningPort, Reactor};

use crate::service::Service;
use crate::system::dispatch;

/// The paths XML-RPC calls are taken on: Python's `SimpleXMLRPCRequestHandler.rpc_paths`
/// (without `/pydoc.css`, which only its documenting server serves).
pub const RPC_PATHS: [&str; 2] = ["/", "/RPC2"];

/// The port `spindle rpc` listens on by default: the document's server's.
pub const DEFAULT_PORT: u16 = 4242;

/// The HTTP handler that runs XML-RPC calls on a service: decode the body, [`dispatch`], encode
/// the result or the fault. Add it to a [`Router`] of your own with [`XmlRpcHandler::route`],
/// or take a whole server with [`xmlrpc_server`].
pub struct XmlRpcHandler {
    service: Rc<RefCell<dyn Service>>,
    limits: Limits,
    /// The size of the last answer: the next one's buffer starts that large, so a service
    /// whose answers are alike (most are) encodes without growing and copying its buffer.
    last_answer: usize,
    /// The last answer that was a struct the service keeps (its members shared with the
    /// service, not built for the call), with that answer's encoding: a service answering
    /// with the same kept struct again (a configuration, a cached object, the demo's
    /// `getObj`) has it encoded once. The members are immutable while shared and held here,
    /// so the same pointer means the same content.
    kept_answer: Option<(Members, Bytes)>,
}

impl std::fmt::Debug for XmlRpcHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlRpcHandler")
            .field("limits", &self.limits)
            .finish()
    }
}

impl XmlRpcHandler {
    /// A handler calling `service`, with the codec's default [`Limits`] (8 MiB documents, 64
    /// levels of nesting).
    pub fn new(service: impl Service + 'static) -> XmlRpcHandler {
        XmlRpcHandler::with_limits(service, Limits::default())
    }

    /// A handler whose request documents are bounded by `limits`.
    pub fn with_limits(service: impl Service + 'static, limits: Limits) -> XmlRpcHandler {
        XmlRpcHandler {
            service: Rc::new(RefCell::new(service)),
            limits,
            last_answer: 256,
            kept_answer: None,
        }
    }

    /// Routes every request to this handler: `POST` on [`RPC_PATHS`] are calls, other paths
    /// get 404 and other methods 501, as from Python's server.
    pub fn route(self, router: &mut Router) {
        let shared = Rc::new(RefCell::new(self));
        for method in Method::ALL {
            router.route(method, "/*path", Shared(shared.clone()));
        }
    }

    /// The response to one HTTP request.
    pub fn respond(&mut self, request: &Request) -> Response {
        if request.method != Method::Post {
            // BaseHTTPRequestHandler has no do_GET (...): 501.
            return Response::text(
                501,
                format!("Unsupported method ('{}')", request.method.as_str()),
            );
        }
        if !RPC_PATHS.contains(&request.target.as_str()) {
            return Response::new(404)
                .header("Content-Type", "text/plain")
                .body("No such page");
        }
        if let Some(encoding) = request.headers.get_str("content-encoding") {
            if !encoding.trim().eq_ignore_ascii_case("identity") {
                return Response::text(
                    501,
                    format!("encoding {:?} not supported", encoding.trim()),
                );
            }
        }
        let mut body = BytesMut::with_capacity(self.last_answer);
        match xmlrpc::decode_call(&request.body, &self.limits) {
            Ok(call) => {
                let result = dispatch(
                    &mut *self.service.borrow_mut(),
                    &call.method_name,
                    call.params,
                );
                match result {
                    Ok(Value::Struct(members)) if Arc::strong_count(&members) > 1 => {
                        return self.kept_struct_answer(members);
                    }
                    Ok(value) => xmlrpc::encode_response(&value, &mut body),
                    Err(fault) => xmlrpc::encode_fault(&fault, &mut body),
                }
            }
            Err(e) => {
                log::debug!("bad xml-rpc request: {e}");
                xmlrpc::encode_fault(&e.to_fault(), &mut body);
            }
        }
        // Bounded, so that one huge answer does not make every later buffer huge.
        self.last_answer = body.len().clamp(256, 1 << 20);
        xml_answer(body.freeze())
    }

    /// The answer for a struct the service keeps: the last one's encoding when it is the same
    /// struct, else encoded and remembered in its place. Small structs are not remembered:
    /// encoding them costs less than the lookup saves.
    fn kept_struct_answer(&mut self, members: Members) -> Response {
        if let Some((kept, encoded)) = &self.kept_answer {
            if Arc::ptr_eq(kept, &members) {
                return xml_answer(encoded.clone());
            }
        }
        let mut body = BytesMut::with_capacity(self.last_answer);
        let value = Value::Struct(members);
        xmlrpc::encode_response(&value, &mut body);
        self.last_answer = body.len().clamp(256, 1 << 20);
        let body = body.freeze();
        if let Value::Struct(members) = value {
            self.kept_answer = (body.len() >= KEEP_ENCODING_FROM).then(|| (members, body.clone()));
        }
        xml_answer(body)
    }
}

/// Encoded answers shorter than this are not kept (see `XmlRpcHandler::kept_answer`).
const KEEP_ENCODING_FROM: usize = 1024;

/// A 200 `text/xml` response carrying an encoded method response or fault.
fn xml_answer(body: Bytes) -> Response {
    Response::new(200)
        .header("Content-Type", "text/xml")
        .body(body)
}

/// The one handler behind the routes of every method.
struct Shared(Rc<RefCell<XmlRpcHandler>>);

impl Handler for Shared {
    fn handle(&mut self, request: Request, _cx: &mut Context<'_>) -> Reply {
        Reply::Now(self.0.borrow_mut().respond(&request))
    }
}

/// An HTTP server whose every request goes to an [`XmlRpcHandler`] for `service`.
pub fn xmlrpc_server(service: impl Service + 'static) -> HttpServer {
    xmlrpc_server_with(XmlRpcHandler::new(service), ServerConfig::default())
}

/// [`xmlrpc_server`] with a handler and server settings of your own.
pub fn xmlrpc_server_with(handler: XmlRpcHandler, config: ServerConfig) -> HttpServer {
    let mut router = Router::new();
    handler.route(&mut router);
    HttpServer::with_config(router, config)
}

/// Serves `service` over XML-RPC on `addr` (port 0: any free port; the returned port says
/// which).
///
/// # Errors
///
/// The address cannot be listened on.
pub fn listen_xmlrpc(
    reactor: &mut Reactor,
    addr: SocketAddr,
    service: impl Service + 'static,
) -> Result<ListeningPort, ReactorError> {
    reactor.listen_tcp(addr, xmlrpc_server(service))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DemoObject, Registry};
    use spindle_protocols::value::Value;
    use spindle_protocols::xmlrpc::{fault_code, MethodResponse};

    fn handler() -> XmlRpcHandler {
        let mut r = Registry::new();
        r.register_instance(DemoObject::new());
        XmlRpcHandler::new(r)
    }

    fn post(path: &str, body: &[u8]) -> Request {
        Request::post(path, body.to_vec())
    }

    fn answer(resp: &Response) -> MethodResponse {
        assert_eq!(resp.status, 200);
        assert_eq!(resp.headers.get_str("content-type"), Some("text/xml"));
        xmlrpc::decode_response(&resp.body, &Limits::default()).unwrap()
    }

    /// Keeps a big struct, answers with it, and replaces it on `set(n)`.
    struct Kept(Value);

    impl crate::service::Instance for Kept {
        fn call(
            &mut self,
            method: &str,
            mut args: crate::typed::Args,
        ) -> Option<Result<Value, xmlrpc::Fault>> {
            Some(match method {
                "get" => Ok(self.0.clone()),
                "fresh" => Ok(Value::from_members((0..100).map(|i| (format!("f{i}"), i)))),
                "set" => args.take::<i64>().map(|n| {
                    self.0 = Value::from_members((0..100).map(|i| (format!("k{i}"), i * n)));
                    Value::Nil
                }),
                _ => return None,
            })
        }

        fn methods(&self) -> Vec<crate::service::MethodInfo> {
            Vec::new()
        }
    }

    #[test]
    fn a_kept_struct_is_encoded_once_until_it_changes() {
        let mut r = Registry::new();
        r.register_instance(Kept(Value::Nil));
        let mut h = XmlRpcHandler::new(r);
        let call = |h: &mut XmlRpcHandler, method: &str, args: &[Value]| {
            let mut body = BytesMut::new();
            xmlrpc::encode_call(method, args, &mut body);
            h.respond(&post("/", &body))
        };
        let member = |resp: &Response, name: &str| match answer(resp) {
            MethodResponse::Value(v) => v.get(name).cloned(),
            other => panic!("{other:?}"),
        };
        call(&mut h, "set", &[Value::from(2)]);
        let first = call(&mut h, "get", &[]);
        let second = call(&mut h, "get", &[]);
        assert_eq!(member(&first, "k7"), Some(Value::Int(14)));
        assert_eq!(first.body, second.body);
        assert_eq!(
            first.body.as_ptr(),
            second.body.as_ptr(),
            "the encoding is reused"
        );
        // Replaced: the new content is answered, not the kept encoding.
        call(&mut h, "set", &[Value::from(3)]);
        let third = call(&mut h, "get", &[]);
        assert_eq!(member(&third, "k7"), Some(Value::Int(21)));
        // A struct built for the call is encoded each time and not kept.
        let a = call(&mut h, "fresh", &[]);
        let b = call(&mut h, "fresh", &[]);
        assert_eq!(a.body, b.body);
        assert_ne!(a.body.as_ptr(), b.body.as_ptr());
        assert_eq!(
            member(&call(&mut h, "get", &[]), "k7"),
            Some(Value::Int(21))
        );
    }

    #[test]
    fn calls_paths_and_methods() {
        let mut h = handler();
        let mut call = BytesMut::new();
        xmlrpc::encode_call("fib", &[Value::from(10)], &mut call);
        for path in RPC_PATHS {
            let r = h.respond(&post(path, &call));
            assert_eq!(answer(&r), MethodResponse::Value(Value::Int(55)));
        }
        assert_eq!(h.respond(&post("/other", &call)).status, 404);
        assert_eq!(h.respond(&post("/RPC2?x=1", &call)).status, 404);
        assert_eq!(h.respond(&Request::get("/")).status, 501);
        let gz = post("/", &call).header("Content-Encoding", "gzip");
        assert_eq!(h.respond(&gz).status, 501);
    }

    #[test]
    fn hostile_bodies_are_faults() {
        let mut h = handler();
        let cases: [(&[u8], i32); 5] = [
            (b"", fault_code::PARSE_ERROR),
            (b"<methodCall><methodName>x", fault_code::PARSE_ERROR),
            (
                b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><methodCall/>",
                fault_code::PARSE_ERROR,
            ),
            (b"<methodResponse/>", fault_code::INVALID_REQUEST),
            (b"\xff\xfe<", fault_code::PARSE_ERROR),
        ];
        for (body, code) in cases {
            match answer(&h.respond(&post("/", body))) {
                MethodResponse::Fault(f) => assert!(
                    f.fault_code == code || f.fault_code <= -32600,
                    "{body:?}: {f:?}"
                ),
                other => panic!("{body:?}: {other:?}"),
            }
        }
        let mut deep = b"<methodCall><methodName>sendObj</methodName><params><param>".to_vec();
        for _ in 0..10_000 {
            deep.extend_from_slice(b"<value><array><data>");
        }
        match answer(&h.respond(&post("/", &deep))) {
            MethodResponse::Fault(f) => assert!(f.fault_code < 0, "{f:?}"),
            other => panic!("{other:?}"),
        }
    }
}
