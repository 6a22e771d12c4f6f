//! Deferreds on the reactor: a pretend backend answers "fetches" after a delay on the
//! reactor's timers, and chains of callbacks process the answers: a transform, a second fetch
//! the chain waits for, a recovery from its error, a change of type with `map`, a timeout that
//! cancels a slow fetch, and `gather` waiting for both chains.
//!
//! Run it: `cargo run --example deferred_chain` (ends by itself in about half a second).
//!
//! ```text
//! fetch("user:1") ─► uppercase ─► fetch("greeting:ALICE") ─► errback: default greeting ─► map: len
//!                                   (the chain pauses here)     (NotFound → recovered)
//! fetch("report") ─► timeout(300 ms): cancelled at 300 ms, fails with TimedOut
//! gather([first, second]) ─► print both outcomes, stop
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use spindle::reactor::{gather, Cancelled, Deferred, LoopingCall, Reactor, Step, TimedOut};

/// Why a fetch failed; `Cancelled` and `TimedOut` come from the deferred machinery.
#[derive(Debug, Clone)]
enum FetchError {
    NotFound(String),
    Cancelled,
    TimedOut,
}

impl From<Cancelled> for FetchError {
    fn from(_: Cancelled) -> Self {
        FetchError::Cancelled
    }
}

impl From<TimedOut> for FetchError {
    fn from(_: TimedOut) -> Self {
        FetchError::TimedOut
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::NotFound(key) => write!(f, "{key} not found"),
            FetchError::Cancelled => f.write_str("cancelled"),
            FetchError::TimedOut => f.write_str("timed out"),
        }
    }
}

type Fetch = Deferred<String, FetchError>;

/// A key-value service that answers after a delay. A reactor tick (`LoopingCall`) answers the
/// requests that are due, so `fetch` needs no reactor and may be called from a callback.
struct Backend {
    data: HashMap<&'static str, &'static str>,
    now: Cell<Instant>,
    pending: RefCell<Vec<(u64, Instant, String, Fetch)>>,
    next_id: Cell<u64>,
}

impl Backend {
    fn fetch(self: &Rc<Self>, key: &str, latency: Duration) -> Fetch {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        println!("  fetch {key:?} sent");
        let me = Rc::downgrade(self);
        let name = key.to_string();
        // Cancelling takes the request off the backend: its answer will never come.
        let d = Deferred::with_canceller(move |_| {
            println!("  fetch {name:?} cancelled");
            if let Some(me) = me.upgrade() {
                me.pending.borrow_mut().retain(|(n, ..)| *n != id);
            }
        });
        let due = self.now.get() + latency;
        self.pending
            .borrow_mut()
            .push((id, due, key.to_string(), d.clone()));
        d
    }

    /// Answers every request that is due at `now`.
    fn tick(&self, now: Instant) {
        self.now.set(now);
        let due: Vec<_> = {
            let mut pending = self.pending.borrow_mut();
            let (due, later) = pending.drain(..).partition(|(_, at, ..)| *at <= now);
            *pending = later;
            due
        };
        for (_, _, key, d) in due {
            let _ = match self.data.get(key.as_str()) {
                Some(value) => {
                    println!("  fetch {key:?} answered {value:?}");
                    d.callback(value.to_string())
                }
                None => {
                    println!("  fetch {key:?} answered: not found");
                    d.errback(FetchError::NotFound(key))
                }
            };
        }
    }
}

fn main() -> Result<(), spindle::reactor::Error> {
    let mut reactor = Reactor::new()?;
    let backend = Rc::new(Backend {
        data: HashMap::from([("user:1", "alice"), ("report", "42 pages")]),
        now: Cell::new(reactor.now()),
        pending: RefCell::new(Vec::new()),
        next_id: Cell::new(0),
    });
    let b = backend.clone();
    let ticker = LoopingCall::start(&mut reactor, Duration::from_millis(10), false, move |r| {
        b.tick(r.now())
    });

    // The first chain: transform, wait for a second fetch, recover, change type.
    let b = backend.clone();
    let first = backend
        .fetch("user:1", Duration::from_millis(100))
        .add_callback(|name| {
            println!("first: got {name:?}, uppercasing");
            Step::Ok(name.to_uppercase())
        })
        .add_callback(move |name| {
            println!("first: fetching the greeting for {name}; the chain waits for it");
            Step::Wait(b.fetch(&format!("greeting:{name}"), Duration::from_millis(100)))
        })
        .add_errback(|e| {
            println!("first: recovered from \"{e}\" with a default greeting");
            Step::Ok("hello".to_string())
        })
        .add_callback(|greeting| {
            println!("first: greeting is {greeting:?}");
            Step::Ok(greeting)
        })
        .map(|greeting| greeting.len());

    // The second chain: a slow fetch with a timeout shorter than its latency.
    let second = backend
        .fetch("report", Duration::from_secs(2))
        .timeout(&mut reactor, Duration::from_millis(300))
        .map(|report| report.len());

    let done = Rc::new(Cell::new(false));
    let finished = done.clone();
    gather([first, second], false).add_both(move |r| {
        match &r {
            Ok(outcomes) => {
                for (i, outcome) in outcomes.iter().enumerate() {
                    match outcome {
                        Ok(len) => println!("gather: chain {i} gave a length of {len}"),
                        Err(e) => println!("gather: chain {i} failed: {e}"),
                    }
                }
            }
            Err(e) => println!("gather failed: {e}"),
        }
        finished.set(true);
        Step::from(r)
    });

    let started = reactor.now();
    while !done.get() {
        reactor.run_once(Some(Duration::from_millis(50)))?;
    }
    ticker.stop(&mut reactor);
    println!(
        "done after {} ms; requests still pending: {}",
        reactor.now().duration_since(started).as_millis(),
        backend.pending.borrow().len()
    );
    Ok(())
}
