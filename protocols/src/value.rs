//! The neutral value model of remote procedure calls, shared by the RPC codecs.
//!
//! A [`Value`] is what a call's parameters and a method's result are made of, whatever the
//! wire: XML-RPC now, msgpack (ZeroRPC) later. It therefore holds only what both can carry —
//! nil, booleans, 64-bit integers, doubles, strings, bytes, a naive date-time, arrays and
//! string-keyed structs in the order they were sent — and nothing of either format's syntax.
//!
//! Service code takes typed arguments through the conversions: `From` builds a [`Value`] from
//! Rust types, `TryFrom<Value>` takes one apart and says what it expected and what it found.
//!
//! ```
//! use spindle_protocols::value::{Value, TypeError};
//!
//! let args = Value::from(vec![Value::from(2), Value::from("two")]);
//! let Value::Array(args) = args else { unreachable!() };
//! let mut args = args.into_iter();
//! let n: i32 = args.next().unwrap_or(Value::Nil).try_into()?;
//! let label: String = args.next().unwrap_or(Value::Nil).try_into()?;
//! assert_eq!((n, label.as_str()), (2, "two"));
//!
//! let err = i32::try_from(Value::from("x")).unwrap_err();
//! assert_eq!(err.to_string(), "expected int, found string");
//! # Ok::<(), TypeError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;

/// A struct's members, `(name, value)` in order, shared: cloning one is a reference count.
pub type Members = Arc<[(String, Value)]>;

/// One RPC value: a parameter, a result, or a member of either.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// No value: XML-RPC's `<nil/>`, msgpack's nil, Python's `None`.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A signed integer; XML-RPC's `<int>`/`<i4>` carry 32 bits, `<i8>` 64.
    Int(i64),
    /// A double-precision float.
    Double(f64),
    /// A Unicode string.
    String(String),
    /// Raw bytes: XML-RPC's `<base64>`, msgpack's bin, Python's `bytes`.
    Binary(Bytes),
    /// A date and time of day without a time zone.
    DateTime(DateTime),
    /// An ordered list of values.
    Array(Vec<Value>),
    /// Named members, in the order they were sent. Names may repeat on the wire;
    /// [`Value::get`] returns the last, as a Python `dict` keeps it. Shared, so a struct a
    /// service keeps and answers with again and again (a configuration, a cached object) is
    /// handed out by a reference count rather than copied member by member; build one with
    /// [`Value::from_members`] or `Vec::into()`.
    Struct(Members),
}

impl Value {
    /// The type's name as errors show it: `nil`, `boolean`, `int`, `double`, `string`,
    /// `binary`, `datetime`, `array` or `struct`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::String(_) => "string",
            Value::Binary(_) => "binary",
            Value::DateTime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
        }
    }

    /// A struct's member named `name` (the last one if the name repeats); `None` when there is
    /// none or this is not a struct.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(members) => members.iter().rev().find(|(k, _)| k == name).map(|m| &m.1),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Builds a struct from `(name, value)` pairs, keeping their order.
    pub fn from_members<K, V, I>(members: I) -> Value
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        Value::Struct(
            members
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// A struct's members by value: moved out when this is the only reference to them (a struct
/// just decoded from a request), copied when they are shared.
pub fn take_members(mut members: Members) -> impl Iterator<Item = (String, Value)> {
    let owned: Vec<(String, Value)> = match Arc::get_mut(&mut members) {
        Some(only) => only.iter_mut().map(std::mem::take).collect(),
        None => members.to_vec(),
    };
    owned.into_iter()
}

/// A value of the wrong type (or out of range) for the Rust type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
pub struct TypeError {
    /// What the conversion wanted, e.g. `int` or `i32`.
    pub expected: &'static str,
    /// What the value was, e.g. `string`, or `int out of range`.
    pub found: &'static str,
}

impl TypeError {
    fn new(expected: &'static str, found: &Value) -> TypeError {
        TypeError {
            expected,
            found: found.type_name(),
        }
    }
}

/// A calendar date and time of day, to the second, without a time zone: XML-RPC's
/// `dateTime.iso8601` is naive, and so is what Python's `datetime` it maps to holds.
///
/// Its text form is XML-RPC's and Python's, `YYYYMMDDTHH:MM:SS`; [`FromStr`] also accepts the
/// extended `YYYY-MM-DDTHH:MM:SS`. Fields are checked: month 1–12, a day the month has (leap
/// years included), hour 0–23, minute and second 0–59.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

/// A date-time whose text or fields are not a valid [`DateTime`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad date-time {text:?}: {reason}")]
pub struct DateTimeError {
    /// The text (at most 40 bytes of it) or the fields that were refused.
    pub text: String,
    /// Why.
    pub reason: &'static str,
}

impl DateTime {
    /// A date-time from its fields (year 0–9999), or why they are not one.
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<DateTime, DateTimeError> {
        let bad = |reason| DateTimeError {
            text: format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"),
            reason,
        };
        if year > 9999 {
            return Err(bad("year past 9999"));
        }
        if !(1..=12).contains(&month) {
            return Err(bad("month out of range"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(bad("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad("time out of range"));
        }
        Ok(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The year, 0–9999.
    pub fn year(&self) -> u16 {
        self.year
    }
    /// The month, 1–12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// The day of the month, from 1.
    pub fn day(&self) -> u8 {
        self.day
    }
    /// The hour, 0–23.
    pub fn hour(&self) -> u8 {
        self.hour
    }
    /// The minute, 0–59.
    pub fn minute(&self) -> u8 {
        self.minute
    }
    /// The second, 0–59.
    pub fn second(&self) -> u8 {
        self.second
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for DateTime {
    /// XML-RPC's form, `YYYYMMDDTHH:MM:SS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl FromStr for DateTime {
    type Err = DateTimeError;

    /// Parses `YYYYMMDDTHH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`; nothing else (no zone, no
    /// fraction, no surrounding space).
    fn from_str(text: &str) -> Result<DateTime, DateTimeError> {
        let bad = |reason| DateTimeError {
            text: text.chars().take(40).collect(),
            reason,
        };
        let b = text.as_bytes();
        let (date, time) = match b.len() {
            17 => b.split_at(8),
            19 => b.split_at(10),
            _ => return Err(bad("not YYYYMMDDTHH:MM:SS")),
        };
        let digits = |s: &[u8]| -> Option<u16> {
            s.iter().try_fold(0u16, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0'))
            })
        };
        let field = |s: Option<&[u8]>| s.and_then(digits).ok_or(bad("not YYYYMMDDTHH:MM:SS"));
        let (year, month, day) = match date.len() {
            8 => (date.get(..4), date.get(4..6), date.get(6..8)),
            _ if date.get(4) == Some(&b'-') && date.get(7) == Some(&b'-') => {
                (date.get(..4), date.get(5..7), date.get(8..10))
            }
            _ => return Err(bad("not YYYYMMDDTHH:MM:SS")),
        };
        if time.first() != Some(&b'T') || time.get(3) != Some(&b':') || time.get(6) != Some(&b':') {
            return Err(bad("not YYYYMMDDTHH:MM:SS"));
        }
        let small = |n: u16| n as u8; // every field but the year has two digits: < 100
        DateTime::new(
            field(year)?,
            small(field(month)?),
            small(field(day)?),
            small(field(time.get(1..3))?),
            small(field(time.get(4..6))?),
            small(field(time.get(7..9))?),
        )
        .map_err(|e| bad(e.reason))
    }
}

// ---- Rust values into Values -------------------------------------------------------------

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(v.into())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(v.into())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Double(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::String(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::String(v.to_owned())
    }
}

impl From<Bytes> for Value {
    fn from(v: Bytes) -> Value {
        Value::Binary(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Binary(Bytes::copy_from_slice(v))
    }
}

impl From<DateTime> for Value {
    fn from(v: DateTime) -> Value {
        Value::DateTime(v)
    }
}

/// `None` is nil; `Some(v)` is `v`'s value.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

/// Bytes are binary, as in Python: `Vec<u8>` is [`Value::Binary`], not an array of ints.
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Binary(v.into())
    }
}

/// Every other vector is an array.
impl<T: IntoArrayElement> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(IntoArrayElement::into_value).collect())
    }
}

impl<V: Into<Value>> From<BTreeMap<String, V>> for Value {
    fn from(v: BTreeMap<String, V>) -> Value {
        Value::from_members(v)
    }
}

impl<V: Into<Value>, S> From<HashMap<String, V, S>> for Value {
    fn from(v: HashMap<String, V, S>) -> Value {
        Value::from_members(v)
    }
}

/// The element types a `Vec` converts from into an array: every type with a conversion into
/// [`Value`] except `u8`, whose vectors are binary.
pub trait IntoArrayElement {
    /// The element's value.
    fn into_value(self) -> Value;
}

/// The element types a `Vec` converts to from an array (every type with a conversion from
/// [`Value`] except `u8`, whose vectors come from binary).
pub trait FromArrayElement: Sized {
    /// The element from its value.
    fn from_value(v: Value) -> Result<Self, TypeError>;
}

macro_rules! array_elements {
    ($($t:ty),*) => {$(
        impl IntoArrayElement for $t {
            fn into_value(self) -> Value {
                self.into()
            }
        }
        impl FromArrayElement for $t {
            fn from_value(v: Value) -> Result<Self, TypeError> {
                v.try_into()
            }
        }
    )*};
}

array_elements!(bool, i32, i64, u32, f64, String, Bytes, DateTime);

impl IntoArrayElement for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl FromArrayElement for Value {
    fn from_value(v: Value) -> Result<Self, TypeError> {
        Ok(v)
    }
}

impl IntoArrayElement for &str {
    fn into_value(self) -> Value {
        self.into()
    }
}

impl<T: IntoArrayElement> IntoArrayElement for Vec<T> {
    fn into_value(self) -> Value {
        self.into()
    }
}

impl<T: IntoArrayElement> IntoArrayElement for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Nil, IntoArrayElement::into_value)
    }
}

impl<T: FromArrayElement> FromArrayElement for Vec<T> {
    fn from_value(v: Value) -> Result<Self, TypeError> {
        v.try_into()
    }
}

impl<T: FromArrayElement> FromArrayElement for Option<T> {
    fn from_value(v: Value) -> Result<Self, TypeError> {
        match v {
            Value::Nil => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

// ---- Values into Rust values --------------------------------------------------------------

impl TryFrom<Value> for bool {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<bool, TypeError> {
        match v {
            Value::Bool(b) => Ok(b),
            v => Err(TypeError::new("boolean", &v)),
        }
    }
}

impl TryFrom<Value> for i64 {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<i64, TypeError> {
        match v {
            Value::Int(n) => Ok(n),
            v => Err(TypeError::new("int", &v)),
        }
    }
}

impl TryFrom<Value> for i32 {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<i32, TypeError> {
        let n = i64::try_from(v)?;
        i32::try_from(n).map_err(|_| TypeError {
            expected: "i32",
            found: "int out of range",
        })
    }
}

impl TryFrom<Value> for u32 {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<u32, TypeError> {
        let n = i64::try_from(v)?;
        u32::try_from(n).map_err(|_| TypeError {
            expected: "u32",
            found: "int out of range",
        })
    }
}

/// Doubles, and ints too (Python passes `2` where a float is meant); an int past 2^53 rounds.
impl TryFrom<Value> for f64 {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<f64, TypeError> {
        match v {
            Value::Double(x) => Ok(x),
            Value::Int(n) => Ok(n as f64),
            v => Err(TypeError::new("double", &v)),
        }
    }
}

impl TryFrom<Value> for String {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<String, TypeError> {
        match v {
            Value::String(s) => Ok(s),
            v => Err(TypeError::new("string", &v)),
        }
    }
}

impl TryFrom<Value> for Bytes {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<Bytes, TypeError> {
        match v {
            Value::Binary(b) => Ok(b),
            v => Err(TypeError::new("binary", &v)),
        }
    }
}

impl TryFrom<Value> for Vec<u8> {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<Vec<u8>, TypeError> {
        Bytes::try_from(v).map(Vec::from)
    }
}

impl TryFrom<Value> for DateTime {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<DateTime, TypeError> {
        match v {
            Value::DateTime(d) => Ok(d),
            v => Err(TypeError::new("datetime", &v)),
        }
    }
}

/// Nil is `None`; anything else converts to `T`.
impl<T: TryFrom<Value, Error = TypeError>> TryFrom<Value> for Option<T> {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<Option<T>, TypeError> {
        match v {
            Value::Nil => Ok(None),
            v => T::try_from(v).map(Some),
        }
    }
}

impl<T: FromArrayElement> TryFrom<Value> for Vec<T> {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<Vec<T>, TypeError> {
        match v {
            Value::Array(items) => items.into_iter().map(T::from_value).collect(),
            v => Err(TypeError::new("array", &v)),
        }
    }
}

/// A struct's members; a repeated name keeps its last value.
impl<V: TryFrom<Value, Error = TypeError>> TryFrom<Value> for BTreeMap<String, V> {
    type Error = TypeError;
    fn try_from(v: Value) -> Result<BTreeMap<String, V>, TypeError> {
        match v {
            Value::Struct(members) => take_members(members)
                .map(|(k, v)| Ok((k, V::try_from(v)?)))
                .collect(),
            v => Err(TypeError::new("struct", &v)),
        }
    }
}

/// A struct's members; a repeated name keeps its last value.
impl<V: TryFrom<Value, Error = TypeError>, S: std::hash::BuildHasher + Default> TryFrom<Value>
    for HashMap<String, V, S>
{
    type Error = TypeError;
    fn try_from(v: Value) -> Result<HashMap<String, V, S>, TypeError> {
        match v {
            Value::Struct(members) => take_members(members)
                .map(|(k, v)| Ok((k, V::try_from(v)?)))
                .collect(),
            v => Err(TypeError::new("struct", &v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(Value::from(7i32), Value::Int(7));
        assert_eq!(i32::try_from(Value::from(7i32)), Ok(7));
        assert_eq!(i64::try_from(Value::from(1i64 << 40)), Ok(1 << 40));
        assert_eq!(bool::try_from(Value::from(true)), Ok(true));
        assert_eq!(f64::try_from(Value::from(2.5)), Ok(2.5));
        assert_eq!(f64::try_from(Value::from(2)), Ok(2.0));
        assert_eq!(String::try_from(Value::from("é")), Ok("é".to_owned()));
        assert_eq!(
            Value::from(vec![1u8, 2]),
            Value::Binary(Bytes::from_static(&[1, 2]))
        );
        assert_eq!(
            Vec::<u8>::try_from(Value::from(vec![1u8, 2])),
            Ok(vec![1, 2])
        );
        let nested = Value::from(vec![vec![1, 2], vec![3]]);
        assert_eq!(
            Vec::<Vec<i32>>::try_from(nested),
            Ok(vec![vec![1, 2], vec![3]])
        );
        assert_eq!(Value::from(None::<i32>), Value::Nil);
        assert_eq!(Option::<i32>::try_from(Value::Nil), Ok(None));
        assert_eq!(Option::<i32>::try_from(Value::Int(3)), Ok(Some(3)));
        let opts = Value::from(vec![Some("a"), None]);
        assert_eq!(
            Vec::<Option<String>>::try_from(opts),
            Ok(vec![Some("a".to_owned()), None])
        );
        let map: BTreeMap<String, i32> = [("a".to_owned(), 1)].into();
        assert_eq!(BTreeMap::try_from(Value::from(map.clone())), Ok(map));
    }

    #[test]
    fn type_errors_name_both_types() {
        let e = i32::try_from(Value::from("x")).unwrap_err();
        assert_eq!(e.to_string(), "expected int, found string");
        let e = i32::try_from(Value::Int(1 << 40)).unwrap_err();
        assert_eq!(e.to_string(), "expected i32, found int out of range");
        let e = Vec::<i32>::try_from(Value::from(vec![Value::Nil])).unwrap_err();
        assert_eq!(e.to_string(), "expected int, found nil");
        let e = String::try_from(Value::Struct(Arc::new([]))).unwrap_err();
        assert_eq!(e.to_string(), "expected string, found struct");
    }

    #[test]
    fn struct_members_keep_order_and_last_name_wins() {
        let v = Value::from_members([("b", 1), ("a", 2), ("b", 3)]);
        assert_eq!(v.get("b"), Some(&Value::Int(3)));
        assert_eq!(v.get("c"), None);
        let Value::Struct(m) = &v else { panic!() };
        let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["b", "a", "b"]);
    }

    #[test]
    fn datetimes_parse_both_forms_and_check_fields() {
        let d: DateTime = "20240229T23:59:58".parse().unwrap();
        assert_eq!((d.year(), d.month(), d.day()), (2024, 2, 29));
        assert_eq!((d.hour(), d.minute(), d.second()), (23, 59, 58));
        assert_eq!(d.to_string(), "20240229T23:59:58");
        assert_eq!("2024-02-29T23:59:58".parse::<DateTime>(), Ok(d));
        for bad in [
            "20230229T00:00:00",
            "20241301T00:00:00",
            "20240100T00:00:00",
            "20240101T24:00:00",
            "20240101T00:60:00",
            "20240101T00:00:60",
            "20240101T00:00:00Z",
            "2024-0101T00:00:00",
            "2024010 T00:00:00",
            "20240101 00:00:00",
            "+0240101T00:00:00",
            "",
            "2024-01-01T00:00:0é",
        ] {
            assert!(bad.parse::<DateTime>().is_err(), "{bad}");
        }
        assert!(DateTime::new(10000, 1, 1, 0, 0, 0).is_err());
        assert_eq!(
            DateTime::new(0, 1, 1, 0, 0, 0).unwrap().to_string(),
            "00000101T00:00:00"
        );
    }
}
