//! [`Service`]: what every transport calls — a method name and its parameters in, a value or
//! a fault out — and [`Instance`], an object whose methods are found by name. Nothing here
//! knows XML-RPC, HTTP or AMQP, so one service object can be served over all of them (and
//! over ZeroRPC later).

use std::cell::RefCell;
use std::rc::Rc;

use spindle_protocols::value::Value;
use spindle_protocols::xmlrpc::Fault;

use crate::typed::Args;

/// A method's description, for introspection (`system.listMethods`, `system.methodHelp`,
/// `system.methodSignature`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MethodInfo {
    /// The name callers use.
    pub name: String,
    /// What it does, for a person (`""` when nobody said).
    pub help: String,
    /// Its signatures, each `[result type, parameter types…]` in XML-RPC type names; empty
    /// when unknown (Python's server then answers `"signatures not supported"`).
    pub signatures: Vec<Vec<String>>,
}

impl MethodInfo {
    /// A method with a name only.
    pub fn new(name: impl Into<String>) -> MethodInfo {
        MethodInfo {
            name: name.into(),
            ..MethodInfo::default()
        }
    }

    /// Sets the help text (builder style).
    pub fn help(mut self, help: impl Into<String>) -> MethodInfo {
        self.help = help.into();
        self
    }

    /// Adds a signature `[result, params…]` (builder style).
    pub fn signature(mut self, types: &[&str]) -> MethodInfo {
        self.signatures
            .push(types.iter().map(|t| (*t).to_string()).collect());
        self
    }
}

/// A remote procedure call service: what the XML-RPC server, the AMQP RPC server (and later
/// ZeroRPC) call for each request.
///
/// Calls run on the reactor's thread, one at a time, so a method may keep state in `self`
/// without locks; a method that blocks stalls every connection of the reactor.
pub trait Service {
    /// Calls `method` with `params`.
    ///
    /// # Errors
    ///
    /// The method's own fault, or [`no_such_method`](crate::no_such_method) /
    /// a `TypeError` fault for a call that does not fit (see [`Args`]).
    fn call(&mut self, method: &str, params: Vec<Value>) -> Result<Value, Fault>;

    /// The methods it has, for introspection; empty when it cannot say.
    fn methods(&self) -> Vec<MethodInfo> {
        Vec::new()
    }
}

/// One service behind several servers (XML-RPC and AMQP at once): share it as
/// `Rc<RefCell<S>>`.
impl<S: Service + ?Sized> Service for Rc<RefCell<S>> {
    fn call(&mut self, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
        self.borrow_mut().call(method, params)
    }

    fn methods(&self) -> Vec<MethodInfo> {
        self.borrow().methods()
    }
}

impl<S: Service + ?Sized> Service for Box<S> {
    fn call(&mut self, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
        (**self).call(method, params)
    }

    fn methods(&self) -> Vec<MethodInfo> {
        (**self).methods()
    }
}

/// An object whose methods are found by name, as Python's `register_instance` finds them:
/// [`Registry::register_instance`](crate::Registry::register_instance) serves it.
///
/// ```
/// use spindle_protocols::value::Value;
/// use spindle_protocols::xmlrpc::Fault;
/// use spindle_rpc::{Args, Instance, MethodInfo};
///
/// struct Counter(i64);
///
/// impl Instance for Counter {
///     fn call(&mut self, method: &str, mut args: Args) -> Option<Result<Value, Fault>> {
///         Some(match method {
///             "add" => args.expect(1).and_then(|_| args.take::<i64>()).map(|n| {
///                 self.0 += n;
///                 Value::from(self.0)
///             }),
///             "get" => args.expect(0).map(|_| Value::from(self.0)),
///             _ => return None,
///         })
///     }
///
///     fn methods(&self) -> Vec<MethodInfo> {
///         vec![MethodInfo::new("add").signature(&["int", "int"]), MethodInfo::new("get")]
///     }
/// }
/// ```
pub trait Instance {
    /// Calls `method`; `None` when the object has no method of that name.
    fn call(&mut self, method: &str, args: Args) -> Option<Result<Value, Fault>>;

    /// Its methods, for introspection.
    fn methods(&self) -> Vec<MethodInfo>;
}
