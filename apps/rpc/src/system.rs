//! [`dispatch`]: how every server calls a [`Service`] — the `system.*` methods of Python's
//! `SimpleXMLRPCDispatcher` (introspection and `system.multicall`) answered for any service,
//! and a method that panics turned into a fault instead of taking the reactor down.

use std::panic::{catch_unwind, AssertUnwindSafe};

use spindle_protocols::value::{take_members, Value};
use spindle_protocols::xmlrpc::Fault;

use crate::service::{MethodInfo, Service};
use crate::typed::{python_fault, python_type_name, Args};

/// The `system.*` methods [`dispatch`] answers, with their help (Python's docstrings).
const SYSTEM_METHODS: [(&str, &str, &[&str]); 4] = [
    (
        "system.listMethods",
        "system.listMethods() => ['add', 'subtract', 'multiple']\n\nReturns a list of the methods supported by the server.",
        &["array"],
    ),
    (
        "system.methodHelp",
        "system.methodHelp('add') => \"Adds two integers together\"\n\nReturns a string containing documentation for the specified method.",
        &["string", "string"],
    ),
    (
        "system.methodSignature",
        "system.methodSignature('add') => [double, int, int]\n\nReturns a list describing the signature of the method.",
        &["array", "string"],
    ),
    (
        "system.multicall",
        "system.multicall([{'methodName': 'add', 'params': [2, 2]}, ...]) => [[4], ...]\n\nAllows the caller to package multiple XML-RPC calls into a single request.",
        &["array", "array"],
    ),
];

/// Calls `method` on `service`, answering `system.listMethods`, `system.methodHelp`,
/// `system.methodSignature` and `system.multicall` itself (from [`Service::methods`]), as
/// Python's `SimpleXMLRPCServer` with `register_introspection_functions()` and
/// `register_multicall_functions()` does. A method that panics gives a fault
/// (`<class 'Exception'>:…`, code 1).
///
/// # Errors
///
/// The method's fault, or the fault for a call that does not fit.
pub fn dispatch(
    service: &mut dyn Service,
    method: &str,
    params: Vec<Value>,
) -> Result<Value, Fault> {
    match method {
        "system.listMethods" => {
            Args::new(method, params).expect(0)?;
            let mut names: Vec<String> = service.methods().into_iter().map(|m| m.name).collect();
            names.extend(SYSTEM_METHODS.iter().map(|(n, _, _)| (*n).to_string()));
            names.sort();
            names.dedup();
            Ok(Value::Array(names.into_iter().map(Value::String).collect()))
        }
        "system.methodHelp" => {
            let name = one_string(method, params)?;
            Ok(Value::String(
                info(service, &name).map(|m| m.help).unwrap_or_default(),
            ))
        }
        "system.methodSignature" => {
            let name = one_string(method, params)?;
            match info(service, &name) {
                Some(m) if !m.signatures.is_empty() => Ok(Value::Array(
                    m.signatures
                        .into_iter()
                        .map(|sig| Value::Array(sig.into_iter().map(Value::String).collect()))
                        .collect(),
                )),
                _ => Ok(Value::from("signatures not supported")),
            }
        }
        "system.multicall" => {
            let mut args = Args::new(method, params);
            args.expect(1)?;
            let calls: Vec<Value> = args.take()?;
            let results = calls
                .into_iter()
                .map(|call| match one_call(service, call) {
                    Ok(v) => Value::Array(vec![v]),
                    Err(f) => Value::from_members([
                        ("faultCode", Value::from(f.fault_code)),
                        ("faultString", Value::String(f.fault_string)),
                    ]),
                })
                .collect();
            Ok(Value::Array(results))
        }
        _ => guarded(service, method, params),
    }
}

/// Calls the service, turning a panic into a fault.
fn guarded(service: &mut dyn Service, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
    match catch_unwind(AssertUnwindSafe(|| service.call(method, params))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            log::error!("method {method:?} panicked: {what}");
            Err(python_fault(
                "Exception",
                format!("{method}() failed: {what}"),
            ))
        }
    }
}

/// One entry of a multicall: `{'methodName': …, 'params': [...]}`.
fn one_call(service: &mut dyn Service, call: Value) -> Result<Value, Fault> {
    let Value::Struct(members) = call else {
        return Err(python_fault(
            "TypeError",
            format!("'{}' object is not subscriptable", python_type_name(&call)),
        ));
    };
    let mut name = None;
    let mut params = None;
    for (k, v) in take_members(members) {
        match k.as_str() {
            "methodName" => name = Some(v),
            "params" => params = Some(v),
            _ => {}
        }
    }
    let name = match name {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(python_fault(
                "TypeError",
                format!("method name must be str, not {}", python_type_name(&other)),
            ))
        }
        None => return Err(python_fault("KeyError", "'methodName'")),
    };
    let params = match params {
        Some(Value::Array(p)) => p,
        Some(other) => {
            return Err(python_fault(
                "TypeError",
                format!("params must be list, not {}", python_type_name(&other)),
            ))
        }
        None => return Err(python_fault("KeyError", "'params'")),
    };
    dispatch(service, &name, params)
}

fn one_string(method: &str, params: Vec<Value>) -> Result<String, Fault> {
    let mut args = Args::new(method, params);
    args.expect(1)?;
    args.take()
}

/// The description of `name`: a `system.*` method's own, else the service's.
fn info(service: &dyn Service, name: &str) -> Option<MethodInfo> {
    if let Some((n, help, sig)) = SYSTEM_METHODS.iter().find(|(n, _, _)| *n == name) {
        return Some(MethodInfo::new(*n).help(*help).signature(sig));
    }
    service.methods().into_iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    fn service() -> Registry {
        let mut r = Registry::new();
        r.register("add", |a: i64, b: i64| -> Result<i64, Fault> { Ok(a + b) })
            .help("add", "adds");
        r.register("boom", || -> Result<(), Fault> { panic!("kaboom") });
        r
    }

    #[test]
    fn introspection() {
        let mut s = service();
        let names = dispatch(&mut s, "system.listMethods", vec![]).unwrap();
        assert_eq!(
            names
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect::<Vec<_>>(),
            [
                "add",
                "boom",
                "system.listMethods",
                "system.methodHelp",
                "system.methodSignature",
                "system.multicall"
            ]
        );
        assert_eq!(
            dispatch(&mut s, "system.methodHelp", vec!["add".into()]),
            Ok(Value::from("adds"))
        );
        assert_eq!(
            dispatch(&mut s, "system.methodHelp", vec!["nope".into()]),
            Ok(Value::from(""))
        );
        assert_eq!(
            dispatch(&mut s, "system.methodSignature", vec!["add".into()]),
            Ok(Value::Array(vec![Value::Array(vec![
                "int".into(),
                "int".into(),
                "int".into()
            ])]))
        );
    }

    #[test]
    fn multicall_and_panics() {
        let mut s = service();
        let calls = Value::Array(vec![
            Value::from_members([
                ("methodName", Value::from("add")),
                ("params", Value::Array(vec![1.into(), 2.into()])),
            ]),
            Value::from_members([
                ("methodName", Value::from("nope")),
                ("params", Value::Array(vec![])),
            ]),
            Value::from(3),
        ]);
        let out = dispatch(&mut s, "system.multicall", vec![calls]).unwrap();
        let out = out.as_array().unwrap();
        assert_eq!(out[0], Value::Array(vec![Value::Int(3)]));
        assert_eq!(out[1].get("faultCode"), Some(&Value::Int(1)));
        assert_eq!(
            out[1].get("faultString"),
            Some(&Value::from(
                "<class 'Exception'>:method \"nope\" is not supported"
            ))
        );
        assert_eq!(out[2].get("faultCode"), Some(&Value::Int(1)));
        let err = dispatch(&mut s, "boom", vec![]).unwrap_err();
        assert_eq!(err.fault_code, 1);
        assert!(err.fault_string.contains("kaboom"), "{err:?}");
    }
}
