//! [`DemoObject`]: the document's `RPCServer` (`getObj`, `sendObj`) with the tutorial's `fib`,
//! which `spindle rpc` serves.

use spindle_protocols::value::Value;
use spindle_protocols::xmlrpc::Fault;

use crate::service::{Instance, MethodInfo};
use crate::typed::{python_fault, Args};

/// The largest `n` whose Fibonacci number fits in 64 bits.
pub const FIB_MAX: i64 = 92;

/// The Fibonacci number `n` (0, 1, 1, 2, …), computed in a loop: the tutorial's recursive
/// version takes seconds from 35 on.
///
/// # Errors
///
/// `n` is negative or past [`FIB_MAX`]: a `ValueError` fault.
pub fn fib(n: i64) -> Result<i64, Fault> {
    if !(0..=FIB_MAX).contains(&n) {
        return Err(python_fault(
            "ValueError",
            format!("fib({n}): n must be from 0 to {FIB_MAX}"),
        ));
    }
    let (mut a, mut b) = (0i64, 1i64);
    for _ in 0..n {
        let next = a.saturating_add(b);
        a = b;
        b = next;
    }
    Ok(a)
}

/// The document's XML-RPC server object: `getObj()` returns a struct of 100 members
/// `"server:i": i`, `sendObj(data)` keeps `data` and returns nothing (`None`, so it needs
/// `allow_none` on the server, as the document's has), and `fib(n)` is the RabbitMQ
/// tutorial's method.
#[derive(Debug, Clone)]
pub struct DemoObject {
    send_data: Value,
    recv_data: Value,
}

impl Default for DemoObject {
    fn default() -> Self {
        DemoObject::new()
    }
}

impl DemoObject {
    /// The object with its 100-member struct.
    pub fn new() -> DemoObject {
        DemoObject {
            send_data: Value::from_members((0..100).map(|i| (format!("server:{i}"), i))),
            recv_data: Value::Nil,
        }
    }

    /// What the last `sendObj` sent (nil before any).
    pub fn received(&self) -> &Value {
        &self.recv_data
    }
}

impl Instance for DemoObject {
    fn call(&mut self, method: &str, mut args: Args) -> Option<Result<Value, Fault>> {
        let result = match method {
            "getObj" => args.expect(0).map(|_| self.send_data.clone()),
            "sendObj" => args
                .expect(1)
                .and_then(|_| args.take::<Value>())
                .map(|data| {
                    self.recv_data = data;
                    Value::Nil
                }),
            "fib" => args
                .expect(1)
                .and_then(|_| args.take::<i64>())
                .and_then(fib)
                .map(Value::from),
            _ => return None,
        };
        Some(result)
    }

    fn methods(&self) -> Vec<MethodInfo> {
        vec![
            MethodInfo::new("getObj")
                .help("getObj() => {'server:0': 0, ..., 'server:99': 99}")
                .signature(&["struct"]),
            MethodInfo::new("sendObj")
                .help("sendObj(data) => None: keeps data")
                .signature(&["nil", "any"]),
            MethodInfo::new("fib")
                .help("fib(n) => the n-th Fibonacci number (0 <= n <= 92)")
                .signature(&["int", "int"]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_numbers() {
        assert_eq!(fib(0), Ok(0));
        assert_eq!(fib(1), Ok(1));
        assert_eq!(fib(10), Ok(55));
        assert_eq!(fib(30), Ok(832040));
        assert_eq!(fib(92), Ok(7540113804746346429));
        assert_eq!(fib(93).unwrap_err().fault_code, 1);
        assert!(fib(-1).is_err());
    }

    #[test]
    fn the_document_object() {
        let mut o = DemoObject::new();
        let obj = o
            .call("getObj", Args::new("getObj", vec![]))
            .unwrap()
            .unwrap();
        let Value::Struct(m) = &obj else { panic!() };
        assert_eq!(m.len(), 100);
        assert_eq!(m[7], ("server:7".to_string(), Value::Int(7)));
        let sent = o.call("sendObj", Args::new("sendObj", vec![Value::from(5)]));
        assert_eq!(sent, Some(Ok(Value::Nil)));
        assert_eq!(o.received(), &Value::Int(5));
        assert!(o.call("nope", Args::new("nope", vec![])).is_none());
    }
}
