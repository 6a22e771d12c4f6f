//! [`block_on`]: a reactor run until one deferred fires, for programs that are not
//! event-driven (scripts, tests, the command line).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use spindle_reactor::{Deferred, Reactor, Step};

use crate::error::RpcError;

/// Runs `reactor` until `d` fires, or fails it with [`RpcError::TimedOut`] after `timeout`;
/// returns its result. Other connections of the reactor are served meanwhile.
///
/// # Errors
///
/// The deferred's error, [`RpcError::TimedOut`], or the reactor's failure as
/// [`RpcError::Transport`].
pub fn block_on<T: 'static>(
    reactor: &mut Reactor,
    d: Deferred<T, RpcError>,
    timeout: Duration,
) -> Result<T, RpcError> {
    let slot: Rc<RefCell<Option<Result<T, RpcError>>>> = Rc::new(RefCell::new(None));
    let put = slot.clone();
    let _done = d.timeout(reactor, timeout).then(move |r| {
        *put.borrow_mut() = Some(r);
        Step::<(), RpcError>::Ok(())
    });
    loop {
        if let Some(result) = slot.borrow_mut().take() {
            return result;
        }
        reactor
            .run_once(Some(Duration::from_millis(100)))
            .map_err(|e| RpcError::Transport(e.to_string()))?;
    }
}
