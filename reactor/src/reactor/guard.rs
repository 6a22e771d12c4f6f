//! Running user code (protocols, factories, timers, closures) so that a panic in it is logged
//! and the loop goes on.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

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

/// Runs `f`, turning a panic into `Err` with its message.
///
/// The state `f` touches is the reactor's own bookkeeping plus the user object called: after a
/// panic the caller drops or disables that object, so no broken invariant is observed again
/// (hence `AssertUnwindSafe`).
pub(super) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}
