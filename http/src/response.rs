//! Helpers that build a [`Response`] (the codec's type, re-exported by this crate).

use serde::Serialize;
use spindle_protocols::http::{HttpError, Response};

/// An `application/json` response holding `value` serialized; a 500 if it cannot be.
///
/// ```
/// let r = spindle_http::json(200, &serde_json::json!({"name": "q1"}));
/// assert_eq!(&r.body[..], br#"{"name":"q1"}"#);
/// ```
pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::json(status, body),
        Err(e) => Response::text(500, format!("cannot serialize the response: {e}")),
    }
}

/// The response a server sends for a request the codec refused: the error's status and
/// its text.
pub fn error_response(error: &HttpError) -> Response {
    Response::text(error.status(), format!("{error}\n"))
}
