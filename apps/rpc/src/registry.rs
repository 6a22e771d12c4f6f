//! [`Registry`]: a [`Service`] made of plain Rust functions with typed parameters and of
//! [`Instance`]s — Python's `register_function` and `register_instance`.

use std::collections::BTreeMap;

use spindle_protocols::value::Value;
use spindle_protocols::xmlrpc::Fault;

use crate::service::{Instance, MethodInfo, Service};
use crate::typed::{no_such_method, Args, BoxedMethod, IntoMethod};

/// A service assembled from functions and objects.
///
/// A call goes to the function registered under its name, else to the first instance that
/// has the method, else it fails as Python's does (`method "x" is not supported`, code 1).
///
/// ```
/// use spindle_protocols::value::Value;
/// use spindle_protocols::xmlrpc::Fault;
/// use spindle_rpc::{Registry, Service};
///
/// let mut service = Registry::new();
/// service
///     .register("add", |a: i64, b: i64| -> Result<i64, Fault> { Ok(a + b) })
///     .help("add", "add(a, b) => a + b");
/// assert_eq!(service.call("add", vec![2.into(), 3.into()]), Ok(Value::Int(5)));
/// let err = service.call("add", vec![2.into()]).unwrap_err();
/// assert_eq!(err.fault_code, 1);
/// assert_eq!(err.fault_string, "<class 'TypeError'>:add() takes 2 positional arguments but 1 was given");
/// ```
#[derive(Default)]
pub struct Registry {
    functions: BTreeMap<String, (MethodInfo, BoxedMethod)>,
    instances: Vec<Box<dyn Instance>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .field("instances", &self.instances.len())
            .finish()
    }
}

impl Registry {
    /// No methods.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers `f` as the method `name`, replacing one of that name. Its parameters are
    /// checked (count, then each type) before it runs; its signature is known from its types.
    pub fn register<M>(&mut self, name: &str, f: impl IntoMethod<M>) -> &mut Self {
        fn signature_of<M, F: IntoMethod<M>>(_: &F) -> Vec<&'static str> {
            F::signature()
        }
        let info = MethodInfo::new(name).signature(&signature_of(&f));
        self.functions
            .insert(name.to_string(), (info, f.into_boxed()));
        self
    }

    /// Registers a function that takes the raw parameters (any number, any types).
    pub fn register_raw(
        &mut self,
        name: &str,
        f: impl FnMut(Vec<Value>) -> Result<Value, Fault> + 'static,
    ) -> &mut Self {
        let mut f = f;
        self.functions.insert(
            name.to_string(),
            (
                MethodInfo::new(name),
                Box::new(move |_: &str, params| f(params)),
            ),
        );
        self
    }

    /// Sets the help text of the function `name` (registered before).
    pub fn help(&mut self, name: &str, help: &str) -> &mut Self {
        if let Some((info, _)) = self.functions.get_mut(name) {
            info.help = help.to_string();
        }
        self
    }

    /// Serves `instance`'s methods (after the functions, and after instances registered
    /// before it).
    pub fn register_instance(&mut self, instance: impl Instance + 'static) -> &mut Self {
        self.instances.push(Box::new(instance));
        self
    }
}

impl Service for Registry {
    fn call(&mut self, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
        if let Some((_, f)) = self.functions.get_mut(method) {
            return f(method, params);
        }
        // Each instance but the last gets a copy: one that lacks the method has used up its
        // `Args`. With one instance (the usual case) nothing is copied.
        let last = self.instances.len().saturating_sub(1);
        let mut params = Some(params);
        for (i, instance) in self.instances.iter_mut().enumerate() {
            let Some(p) = params.take() else { break };
            let (args, kept) = if i == last {
                (Args::new(method, p), None)
            } else {
                (Args::new(method, p.clone()), Some(p))
            };
            match instance.call(method, args) {
                Some(result) => return result,
                None => params = kept,
            }
        }
        Err(no_such_method(method))
    }

    fn methods(&self) -> Vec<MethodInfo> {
        let mut all: Vec<MethodInfo> = self.functions.values().map(|(i, _)| i.clone()).collect();
        for instance in &self.instances {
            all.extend(instance.methods());
        }
        all
    }
}
