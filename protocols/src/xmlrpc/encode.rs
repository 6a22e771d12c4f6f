//! Encoding calls, responses and faults into XML-RPC documents.
//!
//! Documents are compact (no line breaks or indentation: the parsers that matter ignore
//! them) and UTF-8 without an `encoding` attribute, as Python writes them. Values map as:
//!
//! | [`Value`] | element |
//! |---|---|
//! | `Nil` | `<nil/>` (Python reads it; strict peers may not) |
//! | `Bool` | `<boolean>0</boolean>` / `1` |
//! | `Int` in i32 | `<int>` |
//! | `Int` outside i32 | `<i8>`: Python and Apache read it; Python refuses to *write* such ints |
//! | `Double` | `<double>`, the shortest digits that read back the same (RESP's formatter): `0.1`, `2`, `1e+21`, `1e-05`, `inf`, `-inf`, `nan` |
//! | `String` | `<string>`, escaped |
//! | `Binary` | `<base64>`, one unbroken line |
//! | `DateTime` | `<dateTime.iso8601>YYYYMMDDTHH:MM:SS` |
//! | `Array` / `Struct` | `<array><data>` / `<struct><member><name>` |
//!
//! Text escapes `&`, `<` and `>`, and writes carriage returns and the other control
//! characters as character references (`&#13;`) so that an XML parser's line-end
//! normalisation cannot turn `\r\n` into `\n`. XML 1.0 cannot carry control characters
//! other than tab, CR and LF at all: they are written as references too, which this decoder
//! reads back but Python's expat refuses.
//!
//! Encoding recurses once per level of nesting: values from the decoder are bounded by its
//! [`Limits`](super::Limits); values built by hand are as deep as their builder made them.

use bytes::BytesMut;

use crate::resp::{format_double, format_int};
use crate::value::Value;

use super::base64;
use super::message::Fault;

const DECL: &[u8] = b"<?xml version=\"1.0\"?>";

/// Appends a `methodCall` of `method_name` with `params` to `out`.
pub fn encode_call(method_name: &str, params: &[Value], out: &mut BytesMut) {
    out.extend_from_slice(DECL);
    out.extend_from_slice(b"<methodCall><methodName>");
    put_text(out, method_name);
    out.extend_from_slice(b"</methodName><params>");
    for param in params {
        out.extend_from_slice(b"<param>");
        put_value(out, param);
        out.extend_from_slice(b"</param>");
    }
    out.extend_from_slice(b"</params></methodCall>");
}

/// Appends a `methodResponse` carrying `value` to `out`.
pub fn encode_response(value: &Value, out: &mut BytesMut) {
    out.extend_from_slice(DECL);
    out.extend_from_slice(b"<methodResponse><params><param>");
    put_value(out, value);
    out.extend_from_slice(b"</param></params></methodResponse>");
}

/// Appends a `methodResponse` carrying `fault` to `out`.
pub fn encode_fault(fault: &Fault, out: &mut BytesMut) {
    out.extend_from_slice(DECL);
    out.extend_from_slice(
        b"<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>",
    );
    out.extend_from_slice(format_int(fault.fault_code.into()).as_bytes());
    out.extend_from_slice(
        b"</int></value></member><member><name>faultString</name><value><string>",
    );
    put_text(out, &fault.fault_string);
    out.extend_from_slice(b"</string></value></member></struct></value></fault></methodResponse>");
}

/// Appends `<value>…</value>`. Each scalar's tags are written as one piece with the
/// `<value>` around them (`<value><int>`, `</int></value>`): a 7 KB struct answer is a few
/// hundred short appends, and their count, not their bytes, is what costs.
fn put_value(out: &mut BytesMut, value: &Value) {
    match value {
        Value::Nil => out.extend_from_slice(b"<value><nil/></value>"),
        Value::Bool(true) => out.extend_from_slice(b"<value><boolean>1</boolean></value>"),
        Value::Bool(false) => out.extend_from_slice(b"<value><boolean>0</boolean></value>"),
        Value::Int(n) => {
            let digits = format_int(*n);
            if i32::try_from(*n).is_ok() {
                out.extend_from_slice(b"<value><int>");
                out.extend_from_slice(digits.as_bytes());
                out.extend_from_slice(b"</int></value>");
            } else {
                out.extend_from_slice(b"<value><i8>");
                out.extend_from_slice(digits.as_bytes());
                out.extend_from_slice(b"</i8></value>");
            }
        }
        Value::Double(x) => {
            out.extend_from_slice(b"<value><double>");
            out.extend_from_slice(format_double(*x).as_bytes());
            out.extend_from_slice(b"</double></value>");
        }
        Value::String(s) => {
            out.extend_from_slice(b"<value><string>");
            put_text(out, s);
            out.extend_from_slice(b"</string></value>");
        }
        Value::Binary(data) => {
            out.extend_from_slice(b"<value><base64>");
            base64::encode(data, out);
            out.extend_from_slice(b"</base64></value>");
        }
        Value::DateTime(d) => {
            use std::fmt::Write as _;
            out.extend_from_slice(b"<value><dateTime.iso8601>");
            // Writing into a BytesMut cannot fail.
            let _ = write!(out, "{d}");
            out.extend_from_slice(b"</dateTime.iso8601></value>");
        }
        Value::Array(items) => {
            out.extend_from_slice(b"<value><array><data>");
            for item in items {
                put_value(out, item);
            }
            out.extend_from_slice(b"</data></array></value>");
        }
        Value::Struct(members) => {
            out.extend_from_slice(b"<value><struct>");
            for (name, v) in members.iter() {
                out.extend_from_slice(b"<member><name>");
                put_text(out, name);
                out.extend_from_slice(b"</name>");
                put_value(out, v);
                out.extend_from_slice(b"</member>");
            }
            out.extend_from_slice(b"</struct></value>");
        }
    }
}

/// Whether character data cannot carry `b` as it is: `&`, `<`, `>` and the control
/// characters other than tab and newline (a carriage return would be normalised away by the
/// reader, so it is written as a reference too).
fn needs_escape(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>') || (b < 0x20 && b != b'\t' && b != b'\n')
}

/// Where the first byte of `bytes` that [`needs_escape`] is, looking at eight bytes at a
/// time: most text has none, and a byte-by-byte scan was the encoder's largest cost on
/// struct-heavy answers. A word that may hold one (a byte below 0x20, or `&`, `<`, `>`) is
/// looked at byte by byte, so tab and newline only cost a closer look.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A high bit set in each byte of `x` that is zero (exact when no byte of x is > 0x80
    // after the subtraction borrows, which `& !x` ensures).
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let special = zero_in(x ^ (ONES * u64::from(b'&')))
            | zero_in(x ^ (ONES * u64::from(b'<')))
            | zero_in(x ^ (ONES * u64::from(b'>')));
        if below_space | special != 0 {
            if let Some(i) = chunk.iter().position(|&b| needs_escape(b)) {
                return Some(at + i);
            }
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| needs_escape(b))
        .map(|i| at + i)
}

/// Appends `text` as XML character data: runs that need no escaping are copied whole (most
/// text is one such run).
fn put_text(out: &mut BytesMut, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(at) = bytes.get(start..).and_then(first_to_escape) {
        let i = start + at;
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        match bytes.get(i).copied().unwrap_or_default() {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b => {
                out.extend_from_slice(b"&#");
                out.extend_from_slice(format_int(b.into()).as_bytes());
                out.extend_from_slice(b";");
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::DateTime;
    use crate::xmlrpc::{decode_call, decode_response, Limits, MethodResponse};

    #[test]
    fn the_word_scan_finds_what_the_byte_scan_finds() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"ab &<>\t\n\r\x01\x1f\x7f\x80\xff=;";
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| {
                    let r = seed.rotate_left(i as u32 * 5) as usize;
                    // Mostly plain bytes, now and then one of the interesting ones.
                    if r.is_multiple_of(7) {
                        alphabet[(r / 7) % alphabet.len()]
                    } else {
                        b'a' + (r % 26) as u8
                    }
                })
                .collect();
            assert_eq!(
                first_to_escape(&text),
                text.iter().position(|&b| needs_escape(b)),
                "{text:?}"
            );
        }
    }

    fn every_type() -> Value {
        Value::from_members([
            ("nil", Value::Nil),
            ("t", Value::Bool(true)),
            ("f", Value::Bool(false)),
            ("int", Value::Int(-(1 << 31))),
            ("i8", Value::Int(1 << 31)),
            ("min", Value::Int(i64::MIN)),
            ("d", Value::Double(0.1)),
            ("big", Value::Double(1e300)),
            ("s", Value::from("<&>\"' \t\n\r\u{1}é☺ ]]>")),
            ("b", Value::from(vec![0u8, 255, 1])),
            (
                "dt",
                Value::DateTime(DateTime::new(2024, 2, 29, 1, 2, 3).unwrap()),
            ),
            (
                "a",
                Value::from(vec![Value::from(vec![1, 2]), Value::Struct(vec![].into())]),
            ),
            ("", Value::from("")),
        ])
    }

    #[test]
    fn values_round_trip() {
        let v = every_type();
        let mut out = BytesMut::new();
        encode_call("a.b<c>", &[v.clone(), Value::Nil], &mut out);
        let call = decode_call(&out, &Limits::default()).unwrap();
        assert_eq!(call.method_name, "a.b<c>");
        assert_eq!(call.params, vec![v.clone(), Value::Nil]);
        out.clear();
        encode_response(&v, &mut out);
        assert_eq!(
            decode_response(&out, &Limits::default()),
            Ok(MethodResponse::Value(v))
        );
        out.clear();
        let fault = Fault::new(-32601, "no such method <x> & y");
        encode_fault(&fault, &mut out);
        assert_eq!(
            decode_response(&out, &Limits::default()),
            Ok(MethodResponse::Fault(fault))
        );
    }

    #[test]
    fn wire_forms() {
        let mut out = BytesMut::new();
        encode_response(
            &Value::from(vec![
                Value::Int(1),
                Value::Int(1 << 40),
                Value::Double(2.0),
                Value::from("a\r&"),
            ]),
            &mut out,
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>\
             <value><int>1</int></value><value><i8>1099511627776</i8></value>\
             <value><double>2</double></value><value><string>a&#13;&amp;</string></value>\
             </data></array></value></param></params></methodResponse>"
        );
    }
}
