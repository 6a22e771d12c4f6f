//! Values as JSON text, for the command line (`spindle rpc call`): [`parse_arg`] reads an
//! argument, [`to_json`] prints a result.

use base64::Engine as _;
use spindle_protocols::value::{DateTime, Value};

/// An argument typed on the command line as a [`Value`].
///
/// - JSON: `42` (int), `2.5` (double), `true`, `null` (nil), `"text"`, `[1, "a"]` (array),
///   `{"a": 1}` (struct; members in key order, as JSON objects are read);
/// - `@base64:AAEC` (binary) and `@datetime:20260102T03:04:05` (a date-time);
/// - anything else is the string as typed: `spindle rpc call URL echo hello` sends `"hello"`.
///
/// ```
/// use spindle_protocols::value::Value;
/// use spindle_rpc::parse_arg;
///
/// assert_eq!(parse_arg("30"), Value::Int(30));
/// assert_eq!(parse_arg("hello"), Value::from("hello"));
/// assert_eq!(parse_arg("[1, null]"), Value::Array(vec![Value::Int(1), Value::Nil]));
/// ```
pub fn parse_arg(text: &str) -> Value {
    if let Some(b64) = text.strip_prefix("@base64:") {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            return Value::from(bytes);
        }
    }
    if let Some(dt) = text.strip_prefix("@datetime:") {
        if let Ok(dt) = dt.trim().parse::<DateTime>() {
            return Value::DateTime(dt);
        }
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => from_json(json),
        Err(_) => Value::from(text),
    }
}

/// A JSON value as a [`Value`]: numbers that fit an `i64` are ints, other numbers doubles.
pub fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(members) => Value::Struct(
            members
                .into_iter()
                .map(|(k, v)| (k, from_json(v)))
                .collect(),
        ),
    }
}

/// A value as one line of JSON, struct members in their order: binary as
/// `{"base64": "…"}`, a date-time as its `YYYYMMDDTHH:MM:SS` string, non-finite doubles as
/// the strings `"nan"`, `"inf"`, `"-inf"`.
///
/// ```
/// use spindle_protocols::value::Value;
/// use spindle_rpc::to_json;
///
/// let v = Value::from_members([("b", Value::from(1)), ("a", Value::Nil)]);
/// assert_eq!(to_json(&v), r#"{"b": 1, "a": null}"#);
/// ```
pub fn to_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn quoted(s: &str, out: &mut String) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Double(x) if x.is_nan() => out.push_str("\"nan\""),
        Value::Double(x) if x.is_infinite() => {
            out.push_str(if *x > 0.0 { "\"inf\"" } else { "\"-inf\"" })
        }
        Value::Double(x) => out.push_str(&format!("{x:?}")),
        Value::String(s) => quoted(s, out),
        Value::Binary(b) => {
            out.push_str("{\"base64\": \"");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push_str("\"}");
        }
        Value::DateTime(dt) => quoted(&dt.to_string(), out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(v, out);
            }
            out.push(']');
        }
        Value::Struct(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quoted(k, out);
                out.push_str(": ");
                write(v, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(parse_arg("-3"), Value::Int(-3));
        assert_eq!(parse_arg("2.5"), Value::Double(2.5));
        assert_eq!(parse_arg("null"), Value::Nil);
        assert_eq!(parse_arg("\"30\""), Value::from("30"));
        assert_eq!(
            parse_arg("{\"a\": [true]}"),
            Value::from_members([("a", Value::Array(vec![Value::Bool(true)]))])
        );
        assert_eq!(parse_arg("@base64:AAE="), Value::from(vec![0u8, 1]));
        assert_eq!(
            parse_arg("@datetime:20260102T03:04:05"),
            Value::DateTime("20260102T03:04:05".parse().unwrap())
        );
        assert_eq!(parse_arg("not json"), Value::from("not json"));
    }

    #[test]
    fn printing() {
        let v = Value::Array(vec![
            Value::Double(1.0),
            Value::Double(f64::NAN),
            Value::from("q\"\n"),
            Value::from(vec![1u8, 2]),
        ]);
        assert_eq!(to_json(&v), r#"[1.0, "nan", "q\"\n", {"base64": "AQI="}]"#);
    }
}
