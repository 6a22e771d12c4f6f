//! The headers rule: a message goes to the destinations whose binding arguments match its
//! headers, as RabbitMQ 3.10's `rabbit_exchange_type_headers:headers_match` decides; the
//! routing key is ignored.
//!
//! - `x-match` picks the rule: `all` (also when absent or not one of the four), `any`,
//!   `all-with-x`, `any-with-x`. The `x-match` argument itself is never matched; the other
//!   arguments whose names start with `x-` are ignored unless the rule ends in `-with-x`.
//! - An argument of type void (`V`) matches when the header is present, whatever its value.
//! - Other values are compared as Erlang's `==` compares the decoded terms: all integer types
//!   (`b B s u I i l L T`) and floats (`f d`) by numeric value (`1`, `1u8` and `1.0` are
//!   equal), `S` and `x` by bytes, decimals by (scale, value); inside nested tables and
//!   arrays the types must agree too (`l` and `L` are both `long`), since RabbitMQ keeps them
//!   in the terms it compares.
//! - Both sides are walked sorted by name (RabbitMQ's merge over `lists:keysort`ed tables),
//!   which decides the corner cases: with `all`, a binding of only `x-` arguments matches
//!   every message, headers or none; with `any`, it matches none; a header repeated in a
//!   message pairs with the binding's argument of that name only once.

use std::cmp::Ordering;

use spindle_protocols::amqp::{FieldTable, FieldValue, ShortStr};

use super::fanout::{BindingSet, Change};
use super::route::{Binding, Destination, Route};

/// The bindings of a headers exchange. Routing tries each binding, as RabbitMQ does.
#[derive(Debug, Default)]
pub(crate) struct Headers {
    bindings: BindingSet,
}

impl Route for Headers {
    fn bind(&mut self, destination: &Destination, key: &ShortStr, arguments: &FieldTable) -> bool {
        self.bindings.insert(destination, key, arguments) != Change::None
    }

    fn unbind(
        &mut self,
        destination: &Destination,
        key: &ShortStr,
        arguments: &FieldTable,
    ) -> bool {
        self.bindings.remove(destination, key, arguments) != Change::None
    }

    fn unbind_all(&mut self, destination: &Destination) -> usize {
        self.bindings.remove_destination(destination).count
    }

    fn route(&self, _routing_key: &[u8], headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        let mut data: Vec<&(ShortStr, FieldValue)> = match headers {
            Some(headers) => headers.iter().collect(),
            None => Vec::new(),
        };
        data.sort_by(|a, b| a.0.cmp(&b.0));
        for (destination, keys) in self.bindings.iter() {
            if keys
                .values()
                .flatten()
                .any(|arguments| matches(arguments, &data))
            {
                out.push(destination.clone());
            }
        }
    }

    fn len(&self) -> usize {
        self.bindings.len()
    }

    fn bindings(&self) -> Vec<Binding> {
        self.bindings.to_vec()
    }
}

/// A binding's `x-match` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum XMatch {
    All,
    Any,
    AllWithX,
    AnyWithX,
}

impl XMatch {
    /// The rule `arguments` ask for: `all` unless `x-match` is the long string `any`,
    /// `all-with-x` or `any-with-x` (`parse_x_match`).
    fn of(arguments: &FieldTable) -> XMatch {
        match arguments.get("x-match") {
            Some(FieldValue::LongStr(rule)) => match rule.as_ref() {
                b"any" => XMatch::Any,
                b"all-with-x" => XMatch::AllWithX,
                b"any-with-x" => XMatch::AnyWithX,
                _ => XMatch::All,
            },
            _ => XMatch::All,
        }
    }
}

/// Whether a binding's `arguments` (sorted by name) match a message's headers `data`
/// (sorted by name): RabbitMQ's `headers_match`, clause for clause.
fn matches(arguments: &FieldTable, data: &[&(ShortStr, FieldValue)]) -> bool {
    let rule = XMatch::of(arguments);
    let wants_all = matches!(rule, XMatch::All | XMatch::AllWithX);
    let with_x = matches!(rule, XMatch::AllWithX | XMatch::AnyWithX);
    let (mut all, mut any) = (true, false);
    let mut pattern = arguments.iter().peekable();
    let mut data = data.iter().peekable();
    loop {
        if wants_all && !all {
            return false;
        }
        if !wants_all && any {
            return true;
        }
        let Some((name, expected)) = pattern.peek() else {
            return if wants_all { all } else { any };
        };
        let name = name.as_bytes();
        if name == b"x-match" || (!with_x && name.starts_with(b"x-")) {
            pattern.next();
            continue;
        }
        let Some((header, value)) = data.peek() else {
            // Arguments left but no headers: `all` fails, `any` is what it was.
            return !wants_all && any;
        };
        match name.cmp(header.as_bytes()) {
            Ordering::Greater => {
                data.next();
            }
            Ordering::Less => {
                all = false;
                pattern.next();
            }
            Ordering::Equal => {
                if matches!(expected, FieldValue::Void) || erlang_eq(expected, value) {
                    any = true;
                } else {
                    all = false;
                }
                pattern.next();
                data.next();
            }
        }
    }
}

/// A field value as the Erlang term RabbitMQ decodes it to (`rabbit_binary_parser`), for
/// comparing values as Erlang's `==` does.
enum Term<'a> {
    Int(i128),
    Float(f64),
    Bool(bool),
    /// `V`: the atom `undefined`.
    Undefined,
    /// `S` and `x`: both binaries.
    Binary(&'a [u8]),
    /// `D`: the tuple `{Scale, Value}`.
    Decimal(u8, u32),
    /// `F`: a list of `{Name, Type, Value}`.
    Table(&'a FieldTable),
    /// `A`: a list of `{Type, Value}`.
    Array(&'a [FieldValue]),
}

fn term(value: &FieldValue) -> Term<'_> {
    match value {
        FieldValue::Bool(b) => Term::Bool(*b),
        FieldValue::I8(v) => Term::Int((*v).into()),
        FieldValue::U8(v) => Term::Int((*v).into()),
        FieldValue::I16(v) => Term::Int((*v).into()),
        FieldValue::U16(v) => Term::Int((*v).into()),
        FieldValue::I32(v) => Term::Int((*v).into()),
        FieldValue::U32(v) => Term::Int((*v).into()),
        FieldValue::I64(v) | FieldValue::I64L(v) => Term::Int((*v).into()),
        FieldValue::Timestamp(v) => Term::Int((*v).into()),
        FieldValue::F32(v) => Term::Float((*v).into()),
        FieldValue::F64(v) => Term::Float(*v),
        FieldValue::Decimal(d) => Term::Decimal(d.scale, d.value),
        FieldValue::LongStr(b) | FieldValue::ByteArray(b) => Term::Binary(b),
        FieldValue::Array(values) => Term::Array(values),
        FieldValue::Table(table) => Term::Table(table),
        FieldValue::Void => Term::Undefined,
    }
}

/// The type atom RabbitMQ keeps beside a value inside tables and arrays: the type octet,
/// except that `l` and `L` are both `long`.
fn type_atom(value: &FieldValue) -> u8 {
    match value.tag() {
        b'L' => b'l',
        tag => tag,
    }
}

/// Erlang's `==` on the decoded terms of `a` and `b`.
fn erlang_eq(a: &FieldValue, b: &FieldValue) -> bool {
    match (term(a), term(b)) {
        (Term::Int(x), Term::Int(y)) => x == y,
        (Term::Float(x), Term::Float(y)) => x == y,
        (Term::Int(i), Term::Float(f)) | (Term::Float(f), Term::Int(i)) => int_eq_float(i, f),
        (Term::Bool(x), Term::Bool(y)) => x == y,
        (Term::Undefined, Term::Undefined) => true,
        (Term::Binary(x), Term::Binary(y)) => x == y,
        (Term::Decimal(s, v), Term::Decimal(t, w)) => s == t && v == w,
        (Term::Table(x), Term::Table(y)) => {
            x.len() == y.len()
                && x.iter().zip(y.iter()).all(|((xn, xv), (yn, yv))| {
                    xn == yn && type_atom(xv) == type_atom(yv) && erlang_eq(xv, yv)
                })
        }
        (Term::Array(x), Term::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(xv, yv)| type_atom(xv) == type_atom(yv) && erlang_eq(xv, yv))
        }
        // Both are lists: equal only when both are empty.
        (Term::Table(t), Term::Array(a)) | (Term::Array(a), Term::Table(t)) => {
            t.is_empty() && a.is_empty()
        }
        _ => false,
    }
}

/// Erlang's `==` between an integer and a float: the less precise one is converted to the
/// other's type (the integer to a float while the float's magnitude is below 2^53, where a
/// float still has fractional precision; the float to an integer beyond).
fn int_eq_float(i: i128, f: f64) -> bool {
    const INTEGRAL_FROM: f64 = 9_007_199_254_740_992.0;
    if f.abs() < INTEGRAL_FROM {
        i as f64 == f
    } else {
        f.is_finite() && f as i128 == i
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use spindle_protocols::amqp::Decimal;

    use super::super::fanout::tests::{q, s, table};
    use super::*;
    use FieldValue::*;

    fn str(text: &str) -> FieldValue {
        LongStr(Bytes::copy_from_slice(text.as_bytes()))
    }

    fn routed(route: &Headers, headers: Option<&FieldTable>) -> Vec<Destination> {
        let mut out = Vec::new();
        route.route(b"ignored", headers, &mut out);
        out
    }

    /// Whether a headers exchange with the one binding `arguments` routes a message with
    /// `headers` (`None`: a message without a headers property).
    fn routes(arguments: &[(&str, FieldValue)], headers: Option<&[(&str, FieldValue)]>) -> bool {
        let mut h = Headers::default();
        assert!(h.bind(&q("q"), &s(""), &table(arguments)));
        let headers = headers.map(table);
        !routed(&h, headers.as_ref()).is_empty()
    }

    #[test]
    fn x_match_rules_as_rabbitmq_decides() {
        let all = || ("x-match", str("all"));
        let any = || ("x-match", str("any"));
        let all_x = || ("x-match", str("all-with-x"));
        let any_x = || ("x-match", str("any-with-x"));
        let a1 = || ("a", I32(1));
        let b2 = || ("b", I32(2));
        // (binding arguments, message headers, routed)
        type Entries = Vec<(&'static str, FieldValue)>;
        let cases: Vec<(Entries, Option<Entries>, bool)> = vec![
            // all: every non-x argument present and equal.
            (
                vec![all(), a1(), b2()],
                Some(vec![a1(), b2(), ("c", I32(3))]),
                true,
            ),
            (vec![all(), a1(), b2()], Some(vec![b2(), a1()]), true),
            (vec![all(), a1(), b2()], Some(vec![a1()]), false),
            (
                vec![all(), a1(), b2()],
                Some(vec![a1(), ("b", I32(3))]),
                false,
            ),
            (vec![all(), a1(), b2()], None, false),
            // No x-match, or an unknown one, is all.
            (vec![a1(), b2()], Some(vec![a1(), b2()]), true),
            (vec![a1(), b2()], Some(vec![a1()]), false),
            (
                vec![("x-match", str("most")), a1(), b2()],
                Some(vec![a1()]),
                false,
            ),
            (
                vec![
                    ("x-match", ByteArray(Bytes::from_static(b"any"))),
                    a1(),
                    b2(),
                ],
                Some(vec![a1()]),
                false,
            ),
            // any: one non-x argument present and equal.
            (vec![any(), a1(), b2()], Some(vec![a1()]), true),
            (
                vec![any(), a1(), b2()],
                Some(vec![("b", I32(2)), ("z", I32(0))]),
                true,
            ),
            (vec![any(), a1(), b2()], Some(vec![("a", I32(2))]), false),
            (vec![any(), a1(), b2()], Some(vec![]), false),
            (vec![any(), a1(), b2()], None, false),
            // Nothing but x- arguments: all matches every message, any none.
            (vec![all()], None, true),
            (vec![all()], Some(vec![("z", I32(1))]), true),
            (vec![], None, true),
            (vec![], Some(vec![a1()]), true),
            (vec![("x-other", I32(1))], None, true),
            (vec![any()], Some(vec![a1()]), false),
            (
                vec![any(), ("x-foo", I32(1))],
                Some(vec![("x-foo", I32(1))]),
                false,
            ),
            // x- arguments are ignored unless -with-x.
            (vec![all(), ("x-foo", I32(1)), a1()], Some(vec![a1()]), true),
            (
                vec![any(), ("x-foo", I32(1)), ("zz", I32(9))],
                Some(vec![("x-foo", I32(1))]),
                false,
            ),
            (
                vec![all_x(), ("x-foo", I32(1)), a1()],
                Some(vec![a1()]),
                false,
            ),
            (
                vec![all_x(), ("x-foo", I32(1)), a1()],
                Some(vec![a1(), ("x-foo", I32(1))]),
                true,
            ),
            (
                vec![all_x(), ("x-foo", I32(1)), a1()],
                Some(vec![a1(), ("x-foo", I32(2))]),
                false,
            ),
            (
                vec![any_x(), ("x-foo", I32(1))],
                Some(vec![("x-foo", I32(1))]),
                true,
            ),
            (
                vec![any_x(), ("x-foo", I32(1))],
                Some(vec![("x-foo", I32(2))]),
                false,
            ),
            (
                vec![any_x(), ("x-foo", I32(1)), a1()],
                Some(vec![a1()]),
                true,
            ),
            // x-match itself is never matched, even with -with-x.
            (
                vec![any_x()],
                Some(vec![("x-match", str("any-with-x"))]),
                false,
            ),
            (vec![all_x()], Some(vec![("x-match", str("other"))]), true),
            // Void: presence.
            (vec![("a", Void)], Some(vec![("a", str("anything"))]), true),
            (vec![("a", Void)], Some(vec![("a", Void)]), true),
            (vec![("a", Void)], Some(vec![("b", I32(1))]), false),
            (vec![("a", Void)], None, false),
            (
                vec![any(), ("a", Void), b2()],
                Some(vec![("a", I8(5))]),
                true,
            ),
            (vec![("a", str("x"))], Some(vec![("a", Void)]), false),
            // Headers the binding does not name are skipped on both sides of its names.
            (
                vec![("m", I32(1))],
                Some(vec![("a", I32(1)), ("m", I32(1)), ("z", I32(1))]),
                true,
            ),
            // A repeated header pairs with the argument once, the first copy (sorted stably).
            (
                vec![("a", I32(2))],
                Some(vec![("a", I32(1)), ("a", I32(2))]),
                false,
            ),
            (
                vec![("a", I32(1))],
                Some(vec![("a", I32(1)), ("a", I32(2))]),
                true,
            ),
            (
                vec![any(), ("a", I32(2))],
                Some(vec![("a", I32(1)), ("a", I32(2))]),
                false,
            ),
            (
                vec![("a", I32(2))],
                Some(vec![("a", I32(2)), ("a", I32(1))]),
                true,
            ),
        ];
        for (arguments, headers, expected) in cases {
            assert_eq!(
                routes(&arguments, headers.as_deref()),
                expected,
                "arguments {arguments:?}, headers {headers:?}"
            );
        }
    }

    #[test]
    fn values_compare_as_erlang_terms() {
        // (binding value, header value, equal)
        let cases: Vec<(FieldValue, FieldValue, bool)> = vec![
            // Integers of every width, timestamps and floats: by numeric value.
            (I64(1), I8(1), true),
            (I64(1), U8(1), true),
            (I64(1), I16(1), true),
            (I64(1), U16(1), true),
            (I64(1), I32(1), true),
            (I64(1), U32(1), true),
            (I64(1), I64L(1), true),
            (I64(1), Timestamp(1), true),
            (I64(1), F64(1.0), true),
            (I64(1), F32(1.0), true),
            (F32(0.5), F64(0.5), true),
            (I64(1), F64(1.5), false),
            (I64(-1), U8(255), false),
            (I8(-1), I64L(-1), true),
            (Timestamp(u64::MAX), I64(-1), false),
            (I64(1), I32(2), false),
            // Other types never equal a number.
            (I64(1), str("1"), false),
            (I64(1), Bool(true), false),
            (I64(1), Decimal(Decimal { scale: 0, value: 1 }), false),
            // Long strings and byte arrays are both binaries.
            (str("x"), ByteArray(Bytes::from_static(b"x")), true),
            (str("x"), str("x"), true),
            (str("x"), str("X"), false),
            (str(""), str(""), true),
            (Bool(true), Bool(true), true),
            (Bool(true), Bool(false), false),
            (
                Decimal(Decimal {
                    scale: 2,
                    value: 100,
                }),
                Decimal(Decimal {
                    scale: 2,
                    value: 100,
                }),
                true,
            ),
            (
                Decimal(Decimal {
                    scale: 2,
                    value: 100,
                }),
                Decimal(Decimal {
                    scale: 1,
                    value: 10,
                }),
                false,
            ),
            // Inside tables and arrays, the types must agree too (`l` and `L` are one).
            (
                Table(table(&[("b", I64(1))])),
                Table(table(&[("b", I64L(1))])),
                true,
            ),
            (
                Table(table(&[("b", I64(1))])),
                Table(table(&[("b", I32(1))])),
                false,
            ),
            (
                Table(table(&[("b", I64(1))])),
                Table(table(&[("b", I64(1)), ("c", I64(1))])),
                false,
            ),
            (
                Table(table(&[("b", I64(1)), ("c", I64(1))])),
                Table(table(&[("c", I64(1)), ("b", I64(1))])),
                false,
            ),
            (
                Array(vec![I64(1), str("x")]),
                Array(vec![I64L(1), str("x")]),
                true,
            ),
            (
                Array(vec![str("x")]),
                Array(vec![ByteArray(Bytes::from_static(b"x"))]),
                false,
            ),
            (Array(vec![I32(1)]), Array(vec![I64(1)]), false),
            (Array(vec![]), Table(FieldTable::new()), true),
            (Array(vec![I64(1)]), Table(table(&[("b", I64(1))])), false),
            (
                Array(vec![Array(vec![I8(1)])]),
                Array(vec![Array(vec![I8(1)])]),
                true,
            ),
        ];
        for (binding, header, expected) in cases {
            assert_eq!(
                routes(&[("k", binding.clone())], Some(&[("k", header.clone())])),
                expected,
                "binding {binding:?}, header {header:?}"
            );
            assert_eq!(
                erlang_eq(&header, &binding),
                expected,
                "symmetric: {header:?}"
            );
        }
    }

    #[test]
    fn routes_each_matching_destination_once() {
        let mut h = Headers::default();
        let any = ("x-match", str("any"));
        assert!(h.bind(&q("q1"), &s(""), &table(&[any.clone(), ("a", I32(1))])));
        assert!(h.bind(&q("q1"), &s(""), &table(&[any.clone(), ("b", I32(1))])));
        assert!(h.bind(&q("q1"), &s("other key"), &table(&[("a", Void)])));
        assert!(h.bind(&q("q2"), &s(""), &table(&[("b", I32(1))])));
        assert!(h.bind(&Destination::Exchange(s("e")), &s(""), &FieldTable::new()));
        assert!(!h.bind(&q("q1"), &s(""), &table(&[("a", I32(1)), any.clone()])));
        assert_eq!(h.len(), 5);
        let headers = table(&[("b", I32(1)), ("a", I32(1))]);
        assert_eq!(
            routed(&h, Some(&headers)),
            vec![q("q1"), q("q2"), Destination::Exchange(s("e"))]
        );
        assert_eq!(routed(&h, None), vec![Destination::Exchange(s("e"))]);
        assert!(h.unbind(&q("q1"), &s(""), &table(&[("a", I32(1)), any.clone()])));
        assert!(!h.unbind(&q("q1"), &s(""), &table(&[("a", I32(1)), any.clone()])));
        assert_eq!(h.unbind_all(&q("q1")), 2);
        assert_eq!(h.len(), 2);
        assert_eq!(
            routed(&h, Some(&headers)),
            vec![Destination::Exchange(s("e")), q("q2")]
        );
    }
}
