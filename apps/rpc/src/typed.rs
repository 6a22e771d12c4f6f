//! Typed arguments and results: how a Rust function's parameters are taken out of a call's
//! [`Value`]s ([`Arg`], [`Args`]) and its result put back ([`Ret`]), with the faults Python's
//! `SimpleXMLRPCServer` sends for a wrong count or type, so a Python client sees the messages
//! it would from a Python server.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use spindle_protocols::value::{DateTime, FromArrayElement, IntoArrayElement, TypeError, Value};
use spindle_protocols::xmlrpc::Fault;

/// The fault code Python's `SimpleXMLRPCDispatcher` gives every exception a method raises
/// (and an unknown method): `1`, with `faultString` `"<class 'TypeError'>:…"`.
pub const PYTHON_FAULT_CODE: i32 = 1;

/// A fault as Python's server reports an exception of class `class` (`TypeError`,
/// `Exception`, `ValueError`…): code 1, `"<class 'TypeError'>:message"`.
pub fn python_fault(class: &str, message: impl std::fmt::Display) -> Fault {
    Fault::new(PYTHON_FAULT_CODE, format!("<class '{class}'>:{message}"))
}

/// The fault for a method nobody registered, worded as Python's.
pub fn no_such_method(method: &str) -> Fault {
    python_fault("Exception", format!("method \"{method}\" is not supported"))
}

/// Python's name for a value's type, as its `TypeError`s say it (`int`, `str`, `dict`…).
pub fn python_type_name(v: &Value) -> &'static str {
    python_name(v.type_name())
}

fn python_name(ours: &str) -> &'static str {
    match ours {
        "nil" => "NoneType",
        "boolean" => "bool",
        "int" | "i32" | "u32" | "int out of range" => "int",
        "double" => "float",
        "string" => "str",
        "binary" => "bytes",
        "datetime" => "datetime",
        "array" => "list",
        "struct" => "dict",
        _ => "object",
    }
}

/// A type a method takes as a parameter.
pub trait Arg: Sized {
    /// Its XML-RPC type name for `system.methodSignature` (`int`, `string`, `struct`…; `any`
    /// for a [`Value`]).
    const SIGNATURE: &'static str;
    /// Takes the parameter out of its value.
    ///
    /// # Errors
    ///
    /// The value is of another type, or out of range.
    fn from_value(v: Value) -> Result<Self, TypeError>;
}

/// A type a method returns (inside its `Result<_, Fault>`).
pub trait Ret {
    /// Its XML-RPC type name for `system.methodSignature` (`nil` for `()`).
    const SIGNATURE: &'static str;
    /// The result as a value.
    fn into_value(self) -> Value;
}

macro_rules! arg_and_ret {
    ($($t:ty => $sig:literal),* $(,)?) => {$(
        impl Arg for $t {
            const SIGNATURE: &'static str = $sig;
            fn from_value(v: Value) -> Result<Self, TypeError> {
                v.try_into()
            }
        }
        impl Ret for $t {
            const SIGNATURE: &'static str = $sig;
            fn into_value(self) -> Value {
                self.into()
            }
        }
    )*};
}

arg_and_ret!(
    bool => "boolean",
    i64 => "int",
    i32 => "int",
    u32 => "int",
    f64 => "double",
    String => "string",
    Bytes => "base64",
    DateTime => "dateTime.iso8601",
);

impl Arg for Value {
    const SIGNATURE: &'static str = "any";
    fn from_value(v: Value) -> Result<Self, TypeError> {
        Ok(v)
    }
}

impl Ret for Value {
    const SIGNATURE: &'static str = "any";
    fn into_value(self) -> Value {
        self
    }
}

impl Ret for () {
    const SIGNATURE: &'static str = "nil";
    fn into_value(self) -> Value {
        Value::Nil
    }
}

impl Ret for &str {
    const SIGNATURE: &'static str = "string";
    fn into_value(self) -> Value {
        self.into()
    }
}

impl<T: Arg> Arg for Option<T> {
    const SIGNATURE: &'static str = T::SIGNATURE;
    fn from_value(v: Value) -> Result<Self, TypeError> {
        match v {
            Value::Nil => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl<T: Ret> Ret for Option<T> {
    const SIGNATURE: &'static str = T::SIGNATURE;
    fn into_value(self) -> Value {
        self.map_or(Value::Nil, Ret::into_value)
    }
}

impl<T: FromArrayElement> Arg for Vec<T> {
    const SIGNATURE: &'static str = "array";
    fn from_value(v: Value) -> Result<Self, TypeError> {
        v.try_into()
    }
}

impl<T: IntoArrayElement> Ret for Vec<T> {
    const SIGNATURE: &'static str = "array";
    fn into_value(self) -> Value {
        self.into()
    }
}

impl<V: TryFrom<Value, Error = TypeError>> Arg for BTreeMap<String, V> {
    const SIGNATURE: &'static str = "struct";
    fn from_value(v: Value) -> Result<Self, TypeError> {
        v.try_into()
    }
}

impl<V: Into<Value>> Ret for BTreeMap<String, V> {
    const SIGNATURE: &'static str = "struct";
    fn into_value(self) -> Value {
        self.into()
    }
}

impl<V: TryFrom<Value, Error = TypeError>> Arg for HashMap<String, V> {
    const SIGNATURE: &'static str = "struct";
    fn from_value(v: Value) -> Result<Self, TypeError> {
        v.try_into()
    }
}

impl<V: Into<Value>> Ret for HashMap<String, V> {
    const SIGNATURE: &'static str = "struct";
    fn into_value(self) -> Value {
        self.into()
    }
}

/// A call's parameters, taken one by one with the method's name at hand for the faults: what
/// an [`Instance`](crate::Instance) dispatching by name reads its arguments from.
///
/// ```
/// use spindle_protocols::value::Value;
/// use spindle_rpc::Args;
///
/// let mut args = Args::new("add", vec![Value::from(2), Value::from("x")]);
/// args.expect(2)?;
/// let a: i64 = args.take()?;
/// let err = args.take::<i64>().unwrap_err();
/// assert_eq!(err.fault_string, "<class 'TypeError'>:add() argument 2 must be int, not str");
/// # Ok::<(), spindle_protocols::xmlrpc::Fault>(())
/// ```
#[derive(Debug)]
pub struct Args {
    method: String,
    params: std::vec::IntoIter<Value>,
    taken: usize,
    given: usize,
}

impl Args {
    /// The parameters `params` of a call to `method`.
    pub fn new(method: impl Into<String>, params: Vec<Value>) -> Args {
        Args {
            method: method.into(),
            given: params.len(),
            params: params.into_iter(),
            taken: 0,
        }
    }

    /// How many parameters the call had.
    pub fn len(&self) -> usize {
        self.given
    }

    /// Whether the call had none.
    pub fn is_empty(&self) -> bool {
        self.given == 0
    }

    /// The method's name.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Checks the call had exactly `count` parameters.
    ///
    /// # Errors
    ///
    /// Python's `TypeError` fault: `fib() takes 1 positional argument but 2 were given`.
    pub fn expect(&self, count: usize) -> Result<(), Fault> {
        if self.given == count {
            return Ok(());
        }
        let plural = if count == 1 { "" } else { "s" };
        let verb = if self.given == 1 { "was" } else { "were" };
        Err(python_fault(
            "TypeError",
            format!(
                "{}() takes {count} positional argument{plural} but {} {verb} given",
                self.method, self.given
            ),
        ))
    }

    /// The next parameter as a `T`.
    ///
    /// # Errors
    ///
    /// Python's `TypeError` fault: `fib() argument 1 must be int, not str`, or a missing
    /// argument.
    pub fn take<T: Arg>(&mut self) -> Result<T, Fault> {
        self.taken += 1;
        let Some(v) = self.params.next() else {
            return Err(python_fault(
                "TypeError",
                format!(
                    "{}() missing required positional argument {}",
                    self.method, self.taken
                ),
            ));
        };
        let found = python_type_name(&v);
        T::from_value(v).map_err(|e| {
            let found = if e.found == "int out of range" {
                "int out of range"
            } else {
                found
            };
            python_fault(
                "TypeError",
                format!(
                    "{}() argument {} must be {}, not {found}",
                    self.method,
                    self.taken,
                    python_name(e.expected)
                ),
            )
        })
    }

    /// The parameters not taken yet.
    pub fn rest(self) -> Vec<Value> {
        self.params.collect()
    }
}

/// A registered method, boxed: takes the method's name (for faults) and the parameters.
pub(crate) type BoxedMethod = Box<dyn FnMut(&str, Vec<Value>) -> Result<Value, Fault>>;

/// A Rust function that can be registered as a method: `FnMut(A1, …, An) -> Result<R, Fault>`
/// for up to six [`Arg`]s and a [`Ret`]. `Marker` only tells the implementations apart.
pub trait IntoMethod<Marker>: 'static {
    /// `[result, param…]` in XML-RPC type names, for `system.methodSignature`.
    fn signature() -> Vec<&'static str>;
    /// The function as a boxed method that checks its parameters.
    #[doc(hidden)]
    fn into_boxed(self) -> BoxedMethod;
}

macro_rules! into_method {
    ($($a:ident),*) => {
        #[allow(non_snake_case, unused_mut)]
        impl<F, R, $($a,)*> IntoMethod<fn($($a,)*) -> R> for F
        where
            F: FnMut($($a),*) -> Result<R, Fault> + 'static,
            R: Ret,
            $($a: Arg,)*
        {
            fn signature() -> Vec<&'static str> {
                vec![R::SIGNATURE $(, $a::SIGNATURE)*]
            }

            fn into_boxed(mut self) -> BoxedMethod {
                Box::new(move |name: &str, params: Vec<Value>| {
                    let mut args = Args::new(name, params);
                    args.expect(<[&str]>::len(&[$(stringify!($a)),*]))?;
                    $(let $a = args.take::<$a>()?;)*
                    self($($a),*).map(Ret::into_value)
                })
            }
        }
    };
}

into_method!();
into_method!(A1);
into_method!(A1, A2);
into_method!(A1, A2, A3);
into_method!(A1, A2, A3, A4);
into_method!(A1, A2, A3, A4, A5);
into_method!(A1, A2, A3, A4, A5, A6);

#[cfg(test)]
mod tests {
    use super::*;

    fn call<M>(f: impl IntoMethod<M>, params: Vec<Value>) -> Result<Value, Fault> {
        f.into_boxed()("f", params)
    }

    #[test]
    fn typed_arguments_and_python_faults() {
        let add = |a: i64, b: i64| -> Result<i64, Fault> { Ok(a + b) };
        assert_eq!(call(add, vec![2.into(), 3.into()]), Ok(Value::Int(5)));
        let err = call(add, vec![2.into()]).unwrap_err();
        assert_eq!(
            err,
            Fault::new(
                1,
                "<class 'TypeError'>:f() takes 2 positional arguments but 1 was given"
            )
        );
        let err = call(add, vec![2.into(), "x".into()]).unwrap_err();
        assert_eq!(
            err.fault_string,
            "<class 'TypeError'>:f() argument 2 must be int, not str"
        );
        let nothing = || -> Result<(), Fault> { Ok(()) };
        assert_eq!(call(nothing, vec![]), Ok(Value::Nil));
        assert_eq!(
            <fn(i64, String) -> bool as Sig>::sig(),
            vec!["boolean", "int", "string"]
        );
    }

    trait Sig {
        fn sig() -> Vec<&'static str>;
    }
    impl Sig for fn(i64, String) -> bool {
        fn sig() -> Vec<&'static str> {
            fn of<M, F: IntoMethod<M>>(_: &F) -> Vec<&'static str> {
                F::signature()
            }
            of(&|_: i64, _: String| -> Result<bool, Fault> { Ok(true) })
        }
    }
}
