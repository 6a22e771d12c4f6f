//! Running user code (protocols, factories, timers, closures) so that a panic in it is logged
//! and the loop goes on.

use std::any::Any;

/// The text of a panic's payload (`panic!` with a literal or a formatted message).
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}
