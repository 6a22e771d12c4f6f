//! Decoding XML-RPC documents: quick-xml cuts the bytes into tokens, this module maps the
//! tokens to calls, responses and values.
//!
//! What it accepts, beyond the specification's own forms:
//!
//! - `<i8>`, `<i1>`, `<i2>`, `<biginteger>` (within 64 bits) and `<float>` as Python reads
//!   them, and any namespace prefix on an element (`<ex:nil/>`, `<ex:i8>`: Apache's
//!   extensions), ignored as Python ignores it;
//! - `<nil/>`, an untyped `<value>text</value>` (a string), empty elements (`<string/>`);
//! - whitespace around numbers, dates and booleans, and anywhere inside base64;
//! - CDATA sections, comments, processing instructions, the five predefined entities and
//!   numeric character references (any Unicode scalar value, as XML 1.1 allows);
//! - dates in the basic `YYYYMMDDTHH:MM:SS` and the extended `YYYY-MM-DDTHH:MM:SS` form.
//!
//! What it refuses: a `<!DOCTYPE` (so no entity can be defined, internal or external: nothing
//! is ever expanded or fetched), any other entity, documents longer than
//! [`Limits::max_len`], arrays and structs nested deeper than [`Limits::max_depth`], an
//! encoding other than UTF-8, unknown elements and stray text, and scalars whose text is not
//! their type (ints past 64 bits, booleans other than `0`/`1`, bad base64, impossible dates).

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use crate::value::{DateTime, Value};

use super::base64;
use super::message::{DecodeError, Fault, Limits, MethodCall, MethodResponse};

/// Decodes a `methodCall` document.
pub fn decode_call(doc: &[u8], limits: &Limits) -> Result<MethodCall, DecodeError> {
    let mut p = Parser::new(doc, limits)?;
    p.expect_open(Tag::MethodCall)?;
    let method_name = match p.next_tag()? {
        Token::Open(Tag::MethodName) => p.scalar_text()?.to_owned(),
        Token::Empty(Tag::MethodName) => String::new(),
        other => return Err(p.unexpected(other, "<methodName>")),
    };
    let params = match p.next_tag()? {
        Token::Open(Tag::Params) => {
            let params = p.params()?;
            p.expect_close()?;
            params
        }
        Token::Empty(Tag::Params) => {
            p.expect_close()?;
            Vec::new()
        }
        Token::Close => Vec::new(),
        other => return Err(p.unexpected(other, "<params> or </methodCall>")),
    };
    p.expect_end()?;
    Ok(MethodCall {
        method_name,
        params,
    })
}

/// Decodes a `methodResponse` document: exactly one param, or a fault whose struct has an
/// int `faultCode` (32 bits) and a string `faultString` (other members are ignored).
pub fn decode_response(doc: &[u8], limits: &Limits) -> Result<MethodResponse, DecodeError> {
    let mut p = Parser::new(doc, limits)?;
    p.expect_open(Tag::MethodResponse)?;
    let response = match p.next_tag()? {
        Token::Open(Tag::Params) => {
            let at = p.at();
            let mut params = p.params()?;
            match (params.pop(), params.is_empty()) {
                (Some(value), true) => MethodResponse::Value(value),
                _ => return Err(invalid(at, "a response carries exactly one param")),
            }
        }
        Token::Open(Tag::Fault) => {
            let at = p.at();
            let value = match p.next_tag()? {
                Token::Open(Tag::Value) => p.value(0)?,
                other => return Err(p.unexpected(other, "<value>")),
            };
            p.expect_close()?;
            MethodResponse::Fault(fault_from(value).ok_or_else(|| {
                invalid(
                    at,
                    "a fault is a struct of an int faultCode and a string faultString",
                )
            })?)
        }
        other => return Err(p.unexpected(other, "<params> or <fault>")),
    };
    p.expect_close()?;
    p.expect_end()?;
    Ok(response)
}

fn fault_from(value: Value) -> Option<Fault> {
    let code = i32::try_from(value.get("faultCode")?.as_i64()?).ok()?;
    let string = value.get("faultString")?.as_str()?;
    Some(Fault::new(code, string))
}

fn invalid(at: u64, reason: impl Into<String>) -> DecodeError {
    DecodeError::Invalid {
        at,
        reason: reason.into(),
    }
}

/// The elements XML-RPC knows, by local name (any `prefix:` dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    MethodCall,
    MethodName,
    MethodResponse,
    Params,
    Param,
    Fault,
    Value,
    Int,
    Boolean,
    String,
    Double,
    DateTime,
    Base64,
    Nil,
    Array,
    Data,
    Struct,
    Member,
    Name,
}

impl Tag {
    /// The element's name, for error messages.
    fn name(self) -> &'static str {
        match self {
            Tag::MethodCall => "methodCall",
            Tag::MethodName => "methodName",
            Tag::MethodResponse => "methodResponse",
            Tag::Params => "params",
            Tag::Param => "param",
            Tag::Fault => "fault",
            Tag::Value => "value",
            Tag::Int => "int",
            Tag::Boolean => "boolean",
            Tag::String => "string",
            Tag::Double => "double",
            Tag::DateTime => "dateTime.iso8601",
            Tag::Base64 => "base64",
            Tag::Nil => "nil",
            Tag::Array => "array",
            Tag::Data => "data",
            Tag::Struct => "struct",
            Tag::Member => "member",
            Tag::Name => "name",
        }
    }

    fn from_name(name: &[u8]) -> Option<Tag> {
        let local = match name.iter().rposition(|&b| b == b':') {
            Some(colon) => name.get(colon + 1..)?,
            None => name,
        };
        Some(match local {
            b"methodCall" => Tag::MethodCall,
            b"methodName" => Tag::MethodName,
            b"methodResponse" => Tag::MethodResponse,
            b"params" => Tag::Params,
            b"param" => Tag::Param,
            b"fault" => Tag::Fault,
            b"value" => Tag::Value,
            b"int" | b"i4" | b"i8" | b"i1" | b"i2" | b"biginteger" | b"bigInteger" => Tag::Int,
            b"boolean" => Tag::Boolean,
            b"string" => Tag::String,
            b"double" | b"float" => Tag::Double,
            b"dateTime.iso8601" => Tag::DateTime,
            b"base64" => Tag::Base64,
            b"nil" => Tag::Nil,
            b"array" => Tag::Array,
            b"data" => Tag::Data,
            b"struct" => Tag::Struct,
            b"member" => Tag::Member,
            b"name" => Tag::Name,
            _ => return None,
        })
    }
}

/// An element boundary, once text between elements has been checked to be whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Open(Tag),
    Empty(Tag),
    /// The end of the innermost open element (quick-xml checks that the names match).
    Close,
    Eof,
}

/// The first 40 characters of `text`, for error messages.
fn excerpt(text: &str) -> String {
    text.chars().take(40).collect()
}

fn is_xml_space(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    max_depth: usize,
    /// The text of the element being read, reused from one element to the next.
    text: String,
}

impl<'a> Parser<'a> {
    fn new(doc: &'a [u8], limits: &Limits) -> Result<Parser<'a>, DecodeError> {
        if doc.len() > limits.max_len {
            return Err(DecodeError::TooLarge {
                len: doc.len(),
                max: limits.max_len,
            });
        }
        Ok(Parser {
            reader: Reader::from_reader(doc),
            max_depth: limits.max_depth.min(Limits::DEPTH_CAP),
            text: String::new(),
        })
    }

    fn at(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// The next event that matters: comments and processing instructions skipped, a DTD
    /// refused, the XML declaration's encoding checked.
    fn event(&mut self) -> Result<Event<'a>, DecodeError> {
        loop {
            let event = self.reader.read_event().map_err(|e| self.xml_error(e))?;
            match event {
                Event::Comment(_) | Event::PI(_) => {}
                Event::DocType(_) => {
                    return Err(DecodeError::Xml {
                        at: self.at(),
                        reason: "a DOCTYPE is not allowed".into(),
                    })
                }
                Event::Decl(decl) => {
                    if let Some(encoding) = decl.encoding() {
                        let encoding = encoding.map_err(|e| self.xml_error(e.into()))?;
                        let name = String::from_utf8_lossy(&encoding);
                        let utf8 = ["utf-8", "utf8", "us-ascii", "ascii"]
                            .iter()
                            .any(|ok| name.eq_ignore_ascii_case(ok));
                        if !utf8 {
                            return Err(DecodeError::UnsupportedEncoding(excerpt(&name)));
                        }
                    }
                }
                event => return Ok(event),
            }
        }
    }

    fn xml_error(&self, e: quick_xml::Error) -> DecodeError {
        let at = self.reader.error_position();
        match e {
            quick_xml::Error::Encoding(_) => DecodeError::InvalidUtf8 { at },
            // quick-xml's messages quote names and text: keep what a peer sent from
            // making the fault string long.
            e => DecodeError::Xml {
                at,
                reason: e.to_string().chars().take(160).collect(),
            },
        }
    }

    fn tag(&self, name: &[u8]) -> Result<Tag, DecodeError> {
        Tag::from_name(name).ok_or_else(|| {
            invalid(
                self.at(),
                format!(
                    "unknown element <{}>",
                    excerpt(&String::from_utf8_lossy(name))
                ),
            )
        })
    }

    /// Appends the text of a text-ish event to `self.text`; false for any other event.
    fn push_text(&mut self, event: &Event<'a>) -> Result<bool, DecodeError> {
        let bad_utf8 = |_| DecodeError::InvalidUtf8 {
            at: self.reader.buffer_position(),
        };
        match event {
            Event::Text(t) => self.text.push_str(&t.xml10_content().map_err(bad_utf8)?),
            Event::CData(t) => self.text.push_str(&t.xml10_content().map_err(bad_utf8)?),
            Event::GeneralRef(r) => {
                let c = self.reference(r)?;
                self.text.push(c);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The character an entity or character reference stands for.
    fn reference(&self, r: &BytesRef<'a>) -> Result<char, DecodeError> {
        let name: &[u8] = r;
        let c = match name {
            b"lt" => Some('<'),
            b"gt" => Some('>'),
            b"amp" => Some('&'),
            b"quot" => Some('"'),
            b"apos" => Some('\''),
            [b'#', b'x', hex @ ..] => parse_code(hex, 16),
            [b'#', dec @ ..] => parse_code(dec, 10),
            _ => None,
        };
        c.ok_or_else(|| DecodeError::Xml {
            at: self.at(),
            reason: format!(
                "unknown entity &{};",
                excerpt(&String::from_utf8_lossy(name))
            ),
        })
    }

    /// The next element boundary; text before it must be whitespace.
    fn next_tag(&mut self) -> Result<Token, DecodeError> {
        self.text.clear();
        loop {
            let event = self.event()?;
            if self.push_text(&event)? {
                continue;
            }
            if !is_xml_space(&self.text) {
                return Err(invalid(
                    self.at(),
                    format!("unexpected text {:?}", excerpt(self.text.trim())),
                ));
            }
            return Ok(match event {
                Event::Start(e) => Token::Open(self.tag(e.name().as_ref())?),
                Event::Empty(e) => Token::Empty(self.tag(e.name().as_ref())?),
                Event::End(_) => Token::Close,
                _ => Token::Eof,
            });
        }
    }

    /// Reads text into `self.text` up to the current element's end; a child element is an
    /// error.
    fn scalar_text(&mut self) -> Result<&str, DecodeError> {
        self.text.clear();
        loop {
            let event = self.event()?;
            if self.push_text(&event)? {
                continue;
            }
            return match event {
                Event::End(_) => Ok(&self.text),
                Event::Eof => Err(invalid(self.at(), "unexpected end of document")),
                _ => Err(invalid(self.at(), "an element inside a scalar")),
            };
        }
    }

    fn unexpected(&self, token: Token, wanted: &str) -> DecodeError {
        let found = match token {
            Token::Open(tag) => format!("<{}>", tag.name()),
            Token::Empty(tag) => format!("<{}/>", tag.name()),
            Token::Close => "an end tag".into(),
            Token::Eof => "the end of the document".into(),
        };
        invalid(self.at(), format!("expected {wanted}, found {found}"))
    }

    fn expect_open(&mut self, tag: Tag) -> Result<(), DecodeError> {
        match self.next_tag()? {
            Token::Open(t) if t == tag => Ok(()),
            other => Err(self.unexpected(other, &format!("<{}>", tag.name()))),
        }
    }

    fn expect_close(&mut self) -> Result<(), DecodeError> {
        match self.next_tag()? {
            Token::Close => Ok(()),
            other => Err(self.unexpected(other, "an end tag")),
        }
    }

    /// After the root element: nothing but whitespace, comments and processing instructions.
    fn expect_end(&mut self) -> Result<(), DecodeError> {
        match self.next_tag()? {
            Token::Eof => Ok(()),
            other => Err(self.unexpected(other, "the end of the document")),
        }
    }

    /// `<param><value>…</value></param>`… up to `</params>`.
    fn params(&mut self) -> Result<Vec<Value>, DecodeError> {
        let mut params = Vec::new();
        loop {
            match self.next_tag()? {
                Token::Open(Tag::Param) => {}
                Token::Close => return Ok(params),
                other => return Err(self.unexpected(other, "<param> or </params>")),
            }
            let value = match self.next_tag()? {
                Token::Open(Tag::Value) => self.value(0)?,
                Token::Empty(Tag::Value) => Value::String(String::new()),
                other => return Err(self.unexpected(other, "<value>")),
            };
            params.push(value);
            self.expect_close()?;
        }
    }

    /// A value's content after `<value>`, through `</value>`; `depth` arrays and structs
    /// enclose it.
    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.text.clear();
        let (tag, empty) = loop {
            let event = self.event()?;
            if self.push_text(&event)? {
                continue;
            }
            match event {
                Event::End(_) => return Ok(Value::String(std::mem::take(&mut self.text))),
                Event::Start(e) => break (self.tag(e.name().as_ref())?, false),
                Event::Empty(e) => break (self.tag(e.name().as_ref())?, true),
                _ => return Err(invalid(self.at(), "unexpected end of document")),
            }
        };
        if !is_xml_space(&self.text) {
            return Err(invalid(self.at(), "text beside a typed value"));
        }
        let value = self.typed(tag, empty, depth)?;
        self.expect_close()?;
        Ok(value)
    }

    /// A typed value's element, `<tag>` already read (or `<tag/>` when `empty`).
    fn typed(&mut self, tag: Tag, empty: bool, depth: usize) -> Result<Value, DecodeError> {
        let at = self.at();
        match tag {
            Tag::Array | Tag::Struct if depth >= self.max_depth => {
                return Err(DecodeError::TooDeep {
                    max: self.max_depth,
                })
            }
            Tag::Array if empty => return Ok(Value::Array(Vec::new())),
            Tag::Array => return self.array(depth + 1),
            Tag::Struct if empty => return Ok(Value::Struct(Vec::new().into())),
            Tag::Struct => return self.structure(depth + 1),
            Tag::Int
            | Tag::Boolean
            | Tag::String
            | Tag::Double
            | Tag::DateTime
            | Tag::Base64
            | Tag::Nil => {}
            other => {
                return Err(invalid(
                    at,
                    format!("unexpected <{}> in a value", other.name()),
                ))
            }
        }
        if empty {
            self.text.clear();
        } else {
            self.scalar_text()?;
        }
        let text = self.text.as_str();
        let trimmed = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        let bad = |kind| DecodeError::BadValue {
            kind,
            text: excerpt(text),
            at,
        };
        Ok(match tag {
            Tag::Int => Value::Int(trimmed.parse().map_err(|_| bad("int"))?),
            Tag::Boolean => match trimmed {
                "0" => Value::Bool(false),
                "1" => Value::Bool(true),
                _ => return Err(bad("boolean")),
            },
            Tag::Double => Value::Double(trimmed.parse().map_err(|_| bad("double"))?),
            Tag::DateTime => {
                Value::DateTime(trimmed.parse::<DateTime>().map_err(|_| bad("dateTime"))?)
            }
            Tag::Base64 => Value::Binary(
                base64::decode(text.as_bytes())
                    .ok_or_else(|| bad("base64"))?
                    .into(),
            ),
            Tag::Nil if trimmed.is_empty() => Value::Nil,
            Tag::Nil => return Err(bad("nil")),
            _ => Value::String(std::mem::take(&mut self.text)),
        })
    }

    /// `<data>` and its values after `<array>`, through `</array>`.
    fn array(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let mut items = Vec::new();
        match self.next_tag()? {
            Token::Open(Tag::Data) => loop {
                match self.next_tag()? {
                    Token::Open(Tag::Value) => items.push(self.value(depth)?),
                    Token::Empty(Tag::Value) => items.push(Value::String(String::new())),
                    Token::Close => break,
                    other => return Err(self.unexpected(other, "<value> or </data>")),
                }
            },
            Token::Empty(Tag::Data) => {}
            Token::Close => return Ok(Value::Array(items)),
            other => return Err(self.unexpected(other, "<data>")),
        }
        self.expect_close()?;
        Ok(Value::Array(items))
    }

    /// `<member>`s after `<struct>`, through `</struct>`.
    fn structure(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let mut members = Vec::new();
        loop {
            match self.next_tag()? {
                Token::Open(Tag::Member) => {}
                Token::Close => return Ok(Value::Struct(members.into())),
                other => return Err(self.unexpected(other, "<member> or </struct>")),
            }
            let name = match self.next_tag()? {
                Token::Open(Tag::Name) => self.scalar_text()?.to_owned(),
                Token::Empty(Tag::Name) => String::new(),
                other => return Err(self.unexpected(other, "<name>")),
            };
            let value = match self.next_tag()? {
                Token::Open(Tag::Value) => self.value(depth)?,
                Token::Empty(Tag::Value) => Value::String(String::new()),
                other => return Err(self.unexpected(other, "<value>")),
            };
            members.push((name, value));
            self.expect_close()?;
        }
    }
}

/// The character `&#…;` names, from its digits in `radix`.
fn parse_code(digits: &[u8], radix: u32) -> Option<char> {
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let digits = std::str::from_utf8(digits).ok()?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None; // from_str_radix would take a sign
    }
    char::from_u32(u32::from_str_radix(digits, radix).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmlrpc::fault_code;

    fn call(doc: &str) -> Result<MethodCall, DecodeError> {
        decode_call(doc.as_bytes(), &Limits::default())
    }

    fn param(value_xml: &str) -> Result<Value, DecodeError> {
        let doc = format!(
            "<methodCall><methodName>m</methodName><params><param>{value_xml}</param></params></methodCall>"
        );
        call(&doc).map(|mut c| c.params.remove(0))
    }

    #[test]
    fn every_type_decodes() {
        let cases: Vec<(&str, Value)> = vec![
            ("<value><int>42</int></value>", Value::Int(42)),
            ("<value><i4>-7</i4></value>", Value::Int(-7)),
            ("<value><i8>9223372036854775807</i8></value>", Value::Int(i64::MAX)),
            ("<value><ex:i8>-5000000000</ex:i8></value>", Value::Int(-5_000_000_000)),
            ("<value><int> +3 \n</int></value>", Value::Int(3)),
            ("<value><boolean>1</boolean></value>", Value::Bool(true)),
            ("<value><boolean>0</boolean></value>", Value::Bool(false)),
            ("<value><double>-1.5e3</double></value>", Value::Double(-1500.0)),
            ("<value><double>inf</double></value>", Value::Double(f64::INFINITY)),
            ("<value><string>a &lt;b&gt; &amp; &quot;c&apos;</string></value>", Value::from("a <b> & \"c'")),
            ("<value>untyped &#233;&#x263A;</value>", Value::from("untyped é☺")),
            ("<value>  </value>", Value::from("  ")),
            ("<value/>", Value::from("")),
            ("<value><string/></value>", Value::from("")),
            ("<value><string><![CDATA[<x>&amp;]]></string></value>", Value::from("<x>&amp;")),
            ("<value><string>a\r\nb</string></value>", Value::from("a\nb")),
            ("<value><string>a&#13;&#10;b</string></value>", Value::from("a\r\nb")),
            ("<value><string>&#0;&#1;</string></value>", Value::from("\0\u{1}")),
            ("<value><base64>\n aGVs\nbG8=\n</base64></value>", Value::from(&b"hello"[..])),
            ("<value><base64/></value>", Value::from(&b""[..])),
            (
                "<value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value>",
                Value::DateTime("19980717T14:08:55".parse().unwrap()),
            ),
            ("<value><nil/></value>", Value::Nil),
            ("<value><ex:nil/></value>", Value::Nil),
            ("<value><nil></nil></value>", Value::Nil),
            ("<value><array><data/></array></value>", Value::Array(vec![])),
            ("<value><array/></value>", Value::Array(vec![])),
            ("<value><struct/></value>", Value::Struct(vec![].into())),
            (
                "<value> <array> <data> <value>1</value> <value><int>2</int></value> </data> </array> </value>",
                Value::from(vec![Value::from("1"), Value::Int(2)]),
            ),
            (
                "<value><struct><member><name>b</name><value><i4>1</i4></value></member>\
                 <member><name>a</name><value><array><data><value><nil/></value></data></array></value></member></struct></value>",
                Value::from_members([("b", Value::Int(1)), ("a", Value::from(vec![Value::Nil]))]),
            ),
        ];
        for (xml, want) in cases {
            assert_eq!(param(xml), Ok(want), "{xml}");
        }
    }

    #[test]
    fn python_call_decodes() {
        let doc = "<?xml version='1.0'?>\n<methodCall>\n<methodName>sendObj</methodName>\n\
                   <params>\n<param>\n<value><struct>\n<member>\n<name>server:0</name>\n\
                   <value><int>0</int></value>\n</member>\n</struct></value>\n</param>\n</params>\n\
                   </methodCall>\n";
        let c = call(doc).unwrap();
        assert_eq!(c.method_name, "sendObj");
        assert_eq!(c.params, vec![Value::from_members([("server:0", 0)])]);
        // No params at all, and an empty <params/>, and a BOM and comments.
        let c =
            call("\u{feff}<!-- hi --><methodCall><methodName>f</methodName></methodCall>").unwrap();
        assert!(c.params.is_empty());
        let c =
            call("<methodCall><methodName>f</methodName><params/></methodCall><!-- -->").unwrap();
        assert!(c.params.is_empty());
    }

    #[test]
    fn responses_and_faults_decode() {
        let limits = Limits::default();
        let ok = decode_response(
            b"<methodResponse><params><param><value><string>x</string></value></param></params></methodResponse>",
            &limits,
        );
        assert_eq!(ok, Ok(MethodResponse::Value(Value::from("x"))));
        let fault = b"<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n\
            <member>\n<name>faultCode</name>\n<value><int>1</int></value>\n</member>\n\
            <member>\n<name>faultString</name>\n<value><string>&lt;class 'Exception'&gt;:boom</string></value>\n</member>\n\
            </struct></value>\n</fault>\n</methodResponse>\n";
        assert_eq!(
            decode_response(fault, &limits),
            Ok(MethodResponse::Fault(Fault::new(
                1,
                "<class 'Exception'>:boom"
            )))
        );
        for bad in [
            "<methodResponse><params></params></methodResponse>",
            "<methodResponse><params><param><value>1</value></param><param><value>2</value></param></params></methodResponse>",
            "<methodResponse><fault><value><struct></struct></value></fault></methodResponse>",
            "<methodResponse><fault><value><struct><member><name>faultCode</name><value><i8>5000000000</i8></value></member>\
             <member><name>faultString</name><value>x</value></member></struct></value></fault></methodResponse>",
            "<methodCall><methodName>f</methodName></methodCall>",
        ] {
            let e = decode_response(bad.as_bytes(), &limits).unwrap_err();
            assert_eq!(e.fault_code(), fault_code::INVALID_REQUEST, "{bad}: {e}");
        }
    }

    #[test]
    fn bad_values_are_invalid_requests() {
        for bad in [
            "<value><int>9223372036854775808</int></value>",
            "<value><int>1.0</int></value>",
            "<value><int></int></value>",
            "<value><boolean>true</boolean></value>",
            "<value><boolean>2</boolean></value>",
            "<value><double>1,5</double></value>",
            "<value><base64>aGVsbG8</base64></value>",
            "<value><base64>a*==</base64></value>",
            "<value><dateTime.iso8601>20230229T00:00:00</dateTime.iso8601></value>",
            "<value><dateTime.iso8601>20230101T00:00:00Z</dateTime.iso8601></value>",
            "<value><nil>x</nil></value>",
            "<value><bigdecimal>1.5</bigdecimal></value>",
            "<value><int><i4>1</i4></int></value>",
            "<value>x<int>1</int></value>",
            "<value><int>1</int>x</value>",
            "<value><int>1</int><int>2</int></value>",
            "<value><array><value>1</value></array></value>",
            "<value><struct><member><value>1</value></member></struct></value>",
            "<value><struct><member><name>a</name></member></struct></value>",
            "<value><params/></value>",
        ] {
            let e = param(bad).unwrap_err();
            assert_eq!(e.fault_code(), fault_code::INVALID_REQUEST, "{bad}: {e}");
        }
        let e = param("<value><int>99999999999999999999999999</int></value>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad int \"99999999999999999999999999\" at byte 65"
        );
    }

    #[test]
    fn hostile_documents_are_refused() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
                   <methodCall><methodName>&x;</methodName></methodCall>";
        assert_eq!(call(xxe).unwrap_err().fault_code(), fault_code::PARSE_ERROR);
        let e = call("<methodCall><methodName>&x;</methodName></methodCall>").unwrap_err();
        assert_eq!(e.fault_code(), fault_code::PARSE_ERROR, "{e}");
        for bad_ref in [
            "&#xD800;",
            "&#1114112;",
            "&#-1;",
            "&#x;",
            "&#123456789;",
            "&#x+41;",
        ] {
            let e = param(&format!("<value>{bad_ref}</value>")).unwrap_err();
            assert_eq!(e.fault_code(), fault_code::PARSE_ERROR, "{bad_ref}: {e}");
        }
        for malformed in [
            "",
            "<methodCall>",
            "<methodCall><methodName>f</methodName></methodCall><methodCall/>",
            "<methodCall><methodName>f</methodName></methodcall>",
            "<methodCall><methodName>a & b</methodName></methodCall>",
        ] {
            let e = call(malformed).unwrap_err();
            assert!(
                matches!(
                    e.fault_code(),
                    fault_code::PARSE_ERROR | fault_code::INVALID_REQUEST
                ),
                "{malformed}: {e}"
            );
        }
        let long_end = format!("<methodCall></{}>", "x".repeat(10_000));
        assert!(call(&long_end).unwrap_err().to_string().len() < 250);
        let e = call("<?xml version='1.0' encoding='ISO-8859-1'?><methodCall/>").unwrap_err();
        assert_eq!(e.fault_code(), fault_code::UNSUPPORTED_ENCODING);
        let e = decode_call(
            b"<methodCall><methodName>\xff</methodName></methodCall>",
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(e.fault_code(), fault_code::INVALID_ENCODING_CHAR, "{e}");
        let small = Limits {
            max_len: 10,
            max_depth: 64,
        };
        let e = decode_call(b"<methodCall/> ", &small).unwrap_err();
        assert_eq!(e, DecodeError::TooLarge { len: 14, max: 10 });
    }

    #[test]
    fn nesting_is_bounded() {
        let nest = |n: usize| {
            "<value><array><data>".repeat(n)
                + "<value><int>1</int></value>"
                + &"</data></array></value>".repeat(n)
        };
        assert!(param(&nest(64)).is_ok());
        assert_eq!(param(&nest(65)), Err(DecodeError::TooDeep { max: 64 }));
        let deep = Limits {
            max_len: usize::MAX,
            max_depth: usize::MAX,
        };
        let doc = format!(
            "<methodCall><methodName>m</methodName><params><param>{}</param></params></methodCall>",
            nest(100_000)
        );
        let e = decode_call(doc.as_bytes(), &deep).unwrap_err();
        assert_eq!(
            e,
            DecodeError::TooDeep {
                max: Limits::DEPTH_CAP
            }
        );
        assert_eq!(e.fault_code(), fault_code::INVALID_REQUEST);
        let doc = format!(
            "<methodCall><methodName>m</methodName><params><param>{}</param></params></methodCall>",
            nest(Limits::DEPTH_CAP)
        );
        assert!(decode_call(doc.as_bytes(), &deep).is_ok());
    }
}
