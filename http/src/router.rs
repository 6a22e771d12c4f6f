//! [`Router`]: method + path pattern → [`Handler`], with 404 and 405 (and `Allow`) for the
//! rest.

use spindle_protocols::http::{Method, Response};

use crate::handler::Handler;

/// One piece of a pattern between slashes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Must equal the path's segment.
    Literal(String),
    /// `:name`: any one non-empty segment, captured percent-decoded.
    Param(String),
    /// `*name`, last: the rest of the path (possibly empty), captured percent-decoded.
    Rest(String),
}

struct Route {
    method: Method,
    pattern: Vec<Segment>,
    handler: Box<dyn Handler>,
}

/// Dispatches requests by method and path to handlers.
///
/// Patterns are paths whose segments may be `:name` (one segment, captured) or, last,
/// `*name` (the rest of the path): `/api/queues/:vhost/:name`, `/static/*file`. Captures
/// are percent-decoded (`%2F` is `/`), so the RabbitMQ management API's `/api/queues/%2F/q`
/// gives `vhost` = `/`. Routes are tried in the order they were added. A path no route
/// matches gets 404; a path some route matches with another method gets 405 with `Allow`.
/// `HEAD` is served by the `GET` route when there is no `HEAD` route (without the body).
///
/// ```
/// use spindle_http::{Request, Response, Router};
///
/// let mut router = Router::new();
/// router
///     .get("/hello/:name", |req: &Request| {
///         Response::text(200, format!("hello, {}\n", req.param("name").unwrap_or("?")))
///     })
///     .post("/echo", |req: &Request| Response::new(200).body(req.body.clone()));
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|r| (r.method.as_str(), &r.pattern)))
            .finish()
    }
}

/// What [`Router::find`] found for a request.
pub(crate) enum Found<'a> {
    Handler(&'a mut Box<dyn Handler>, Vec<(String, String)>),
    Status(Response),
}

impl Router {
    /// No routes: every request gets 404.
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds a route for `method` and `pattern`.
    pub fn route(
        &mut self,
        method: Method,
        pattern: &str,
        handler: impl Handler + 'static,
    ) -> &mut Self {
        self.routes.push(Route {
            method,
            pattern: parse_pattern(pattern),
            handler: Box::new(handler),
        });
        self
    }

    /// Adds a `GET` route (which also serves `HEAD`).
    pub fn get(&mut self, pattern: &str, handler: impl Handler + 'static) -> &mut Self {
        self.route(Method::Get, pattern, handler)
    }

    /// Adds a `POST` route.
    pub fn post(&mut self, pattern: &str, handler: impl Handler + 'static) -> &mut Self {
        self.route(Method::Post, pattern, handler)
    }

    /// Adds a `PUT` route.
    pub fn put(&mut self, pattern: &str, handler: impl Handler + 'static) -> &mut Self {
        self.route(Method::Put, pattern, handler)
    }

    /// Adds a `DELETE` route.
    pub fn delete(&mut self, pattern: &str, handler: impl Handler + 'static) -> &mut Self {
        self.route(Method::Delete, pattern, handler)
    }

    /// The handler for `method` on `path` with its captures, or the 404/405 response.
    pub(crate) fn find(&mut self, method: Method, path: &str) -> Found<'_> {
        let mut allowed: Vec<Method> = Vec::new();
        let mut chosen: Option<(usize, Vec<(String, String)>)> = None;
        for (i, route) in self.routes.iter().enumerate() {
            let Some(params) = match_path(&route.pattern, path) else {
                continue;
            };
            if !allowed.contains(&route.method) {
                allowed.push(route.method);
            }
            let fits = route.method == method;
            if fits {
                // An exact match wins over everything else: no need to look further.
                chosen = Some((i, params));
                break;
            }
            let head_by_get = method == Method::Head && route.method == Method::Get;
            match &chosen {
                None if fits || head_by_get => chosen = Some((i, params)),
                Some((j, _)) if fits && self.routes.get(*j).is_some_and(|r| r.method != method) => {
                    chosen = Some((i, params))
                }
                _ => {}
            }
        }
        if let Some((i, params)) = chosen {
            if let Some(route) = self.routes.get_mut(i) {
                return Found::Handler(&mut route.handler, params);
            }
        }
        if allowed.is_empty() {
            return Found::Status(Response::text(404, "not found\n"));
        }
        if allowed.contains(&Method::Get) && !allowed.contains(&Method::Head) {
            allowed.push(Method::Head);
        }
        let allow = Method::ALL
            .iter()
            .filter(|m| allowed.contains(m))
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Found::Status(Response::text(405, "method not allowed\n").header("Allow", allow))
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    pattern
        .strip_prefix('/')
        .unwrap_or(pattern)
        .split('/')
        .map(|s| {
            if let Some(name) = s.strip_prefix(':') {
                Segment::Param(name.to_owned())
            } else if let Some(name) = s.strip_prefix('*') {
                Segment::Rest(name.to_owned())
            } else {
                Segment::Literal(s.to_owned())
            }
        })
        .collect()
}

/// The captures if `path` matches `pattern`.
fn match_path(pattern: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let rest = path.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let mut params = Vec::new();
    let mut consumed = 0usize;
    for segment in pattern {
        match segment {
            Segment::Rest(name) => {
                let tail = rest.get(consumed..).unwrap_or_default();
                params.push((name.clone(), percent_decode(tail)));
                return Some(params);
            }
            Segment::Literal(lit) => {
                let part = parts.next()?;
                if part != lit {
                    return None;
                }
                consumed += part.len() + 1;
            }
            Segment::Param(name) => {
                let part = parts.next()?;
                if part.is_empty() {
                    return None;
                }
                params.push((name.clone(), percent_decode(part)));
                consumed += part.len() + 1;
            }
        }
    }
    parts.next().is_none().then_some(params)
}

/// `%XX` sequences decoded (a bad one is kept as it is); invalid UTF-8 replaced.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|&h| char::from(h).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;

    fn ok(_: &Request) -> Response {
        Response::new(200)
    }

    fn status(
        router: &mut Router,
        method: Method,
        path: &str,
    ) -> (u16, Vec<(String, String)>, Option<String>) {
        match router.find(method, path) {
            Found::Handler(_, params) => (200, params, None),
            Found::Status(r) => (
                r.status,
                vec![],
                r.headers.get_str("allow").map(str::to_owned),
            ),
        }
    }

    #[test]
    fn patterns_params_and_statuses() {
        let mut r = Router::new();
        r.get("/", ok)
            .get("/api/queues/:vhost/:name", ok)
            .delete("/api/queues/:vhost/:name", ok)
            .get("/static/*file", ok);
        assert_eq!(status(&mut r, Method::Get, "/").0, 200);
        let (s, params, _) = status(&mut r, Method::Get, "/api/queues/%2F/q%201");
        assert_eq!(s, 200);
        assert_eq!(
            params,
            [("vhost".into(), "/".into()), ("name".into(), "q 1".into())]
        );
        assert_eq!(status(&mut r, Method::Get, "/api/queues/%2F").0, 404);
        assert_eq!(status(&mut r, Method::Get, "/api/queues//q").0, 404);
        assert_eq!(status(&mut r, Method::Get, "/api/queues/a/b/c").0, 404);
        assert_eq!(
            status(&mut r, Method::Post, "/api/queues/a/b"),
            (405, vec![], Some("GET, HEAD, DELETE".into()))
        );
        assert_eq!(status(&mut r, Method::Head, "/").0, 200);
        let (_, params, _) = status(&mut r, Method::Get, "/static/css/a.css");
        assert_eq!(params, [("file".into(), "css/a.css".into())]);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn an_exact_method_beats_head_by_get() {
        let mut r = Router::new();
        r.get("/x", ok)
            .route(Method::Head, "/x", |_: &Request| Response::new(204));
        match r.find(Method::Head, "/x") {
            Found::Handler(..) => {}
            Found::Status(s) => panic!("{s:?}"),
        }
    }
}
