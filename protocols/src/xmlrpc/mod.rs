//! XML-RPC: method calls, responses and faults over the neutral [`Value`](crate::value::Value).
