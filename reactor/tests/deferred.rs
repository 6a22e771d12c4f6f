//! `Deferred`: firing, chaining, typing through `then`, cancelling, timeouts on the reactor's
//! fake clock, `gather`, the unhandled-error log, and chains long enough to overflow a stack
//! that recursed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Once;
use std::time::Duration;

use spindle_reactor::testing::Clock;
use spindle_reactor::{
    gather, maybe_deferred, AlreadyCalled, Cancelled, Deferred, Reactor, ReactorConfig, Step,
    TimedOut,
};

#[derive(Debug, Clone, PartialEq)]
enum Fail {
    Boom(String),
    Cancelled,
    TimedOut,
}

impl From<Cancelled> for Fail {
    fn from(_: Cancelled) -> Self {
        Fail::Cancelled
    }
}

impl From<TimedOut> for Fail {
    fn from(_: TimedOut) -> Self {
        Fail::TimedOut
    }
}

fn boom(s: &str) -> Fail {
    Fail::Boom(s.to_string())
}

type D<T> = Deferred<T, Fail>;

/// The outcome a chain reached, recorded by a last `add_both`.
fn outcome<T: Clone + 'static>(d: &D<T>) -> Rc<RefCell<Option<Result<T, Fail>>>> {
    let seen = Rc::new(RefCell::new(None));
    let out = seen.clone();
    d.add_both(move |r| {
        *out.borrow_mut() = Some(r.clone());
        Step::from(r)
    });
    seen
}

// ----- a logger that keeps this thread's lines -----------------------------------------------

struct ThreadLog;

thread_local! {
    static LINES: RefCell<Vec<(log::Level, String)>> = const { RefCell::new(Vec::new()) };
}

impl log::Log for ThreadLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{}", record.args());
        let _ = LINES.try_with(|l| l.borrow_mut().push((record.level(), line)));
    }
    fn flush(&self) {}
}

static LOGGER: ThreadLog = ThreadLog;
static INIT: Once = Once::new();

fn capture_log() {
    INIT.call_once(|| {
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
    LINES.with(|l| l.borrow_mut().clear());
}

fn logged(level: log::Level, needle: &str) -> usize {
    LINES.with(|l| {
        l.borrow()
            .iter()
            .filter(|(lv, m)| *lv == level && m.contains(needle))
            .count()
    })
}

// ----- firing ---------------------------------------------------------------------------------

#[test]
fn callbacks_run_when_fired_and_at_once_when_added_after() {
    let d: D<u32> = Deferred::new();
    let seen = outcome(&d.add_callback(|n| Step::Ok(n + 1)));
    assert_eq!(*seen.borrow(), None);
    assert!(!d.is_called());
    d.callback(1).unwrap();
    assert!(d.is_called());
    assert_eq!(*seen.borrow(), Some(Ok(2)));
    // Added after the result is there: runs at once, on the chain's current value.
    let later = outcome(&d.add_callback(|n| Step::Ok(n * 10)));
    assert_eq!(*later.borrow(), Some(Ok(20)));
}

#[test]
fn succeed_and_fail_are_already_fired() {
    let ok = outcome(&D::succeed(7));
    assert_eq!(*ok.borrow(), Some(Ok(7)));
    let d: D<u32> = Deferred::fail(boom("x"));
    let err = outcome(&d);
    assert_eq!(*err.borrow(), Some(Err(boom("x"))));
    d.add_errback(|_| Step::Ok(0)); // handled
}

#[test]
fn a_second_fire_is_an_error_not_a_panic() {
    let d: D<u32> = Deferred::new();
    let seen = outcome(&d);
    assert_eq!(d.callback(1), Ok(()));
    assert_eq!(d.callback(2), Err(AlreadyCalled));
    assert_eq!(d.errback(boom("late")), Err(AlreadyCalled));
    assert_eq!(*seen.borrow(), Some(Ok(1)));

    let e: D<u32> = Deferred::new();
    e.add_errback(|_| Step::Ok(0));
    assert_eq!(e.errback(boom("first")), Ok(()));
    assert_eq!(e.errback(boom("second")), Err(AlreadyCalled));
    assert_eq!(e.callback(3), Err(AlreadyCalled));
    assert_eq!(AlreadyCalled.to_string(), "deferred already called");
}

// ----- the chain ------------------------------------------------------------------------------

#[test]
fn an_error_skips_callbacks_to_the_next_errback() {
    let ran = Rc::new(Cell::new(0));
    let r1 = ran.clone();
    let d: D<u32> = Deferred::new();
    d.add_callback(|_| Step::Err(boom("bad")))
        .add_callback(move |n| {
            r1.set(r1.get() + 1);
            Step::Ok(n)
        })
        .add_errback(|e| {
            assert_eq!(e, boom("bad"));
            Step::Ok(42) // recovers
        });
    let seen = outcome(&d.add_callback(|n| Step::Ok(n + 1)));
    d.callback(0).unwrap();
    assert_eq!(ran.get(), 0, "the callback after the error was skipped");
    assert_eq!(*seen.borrow(), Some(Ok(43)), "the errback recovered");
}

#[test]
fn an_errback_may_fail_again_and_values_skip_errbacks() {
    let d: D<u32> = Deferred::new();
    d.add_errback(|_| Step::Ok(99)); // skipped: a value passes errbacks by
    let seen = outcome(&d.add_callback(|n| Step::Ok(n * 2)));
    d.callback(4).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(8)));

    let e: D<u32> = Deferred::new();
    e.add_errback(|err| match err {
        Fail::Boom(s) => Step::Err(Fail::Boom(format!("{s}, again"))),
        other => Step::Err(other),
    });
    let seen = outcome(&e);
    e.errback(boom("once")).unwrap();
    assert_eq!(*seen.borrow(), Some(Err(boom("once, again"))));
    e.add_errback(|_| Step::Ok(0));
}

#[test]
fn add_both_sees_either_and_add_callbacks_runs_exactly_one() {
    let d: D<u32> = Deferred::new();
    d.add_both(|r| match r {
        Ok(n) => Step::Ok(n + 1),
        Err(_) => Step::Ok(0),
    });
    let calls = Rc::new(RefCell::new(Vec::new()));
    let (c1, c2) = (calls.clone(), calls.clone());
    d.add_callbacks(
        move |n| {
            c1.borrow_mut().push(format!("ok {n}"));
            Step::Err(boom("turned"))
        },
        move |e| {
            c2.borrow_mut().push(format!("err {e:?}"));
            Step::Ok(0)
        },
    );
    let seen = outcome(&d);
    d.callback(1).unwrap();
    // The errback of the same add_callbacks pair does not see the error its callback raised.
    assert_eq!(*calls.borrow(), vec!["ok 2".to_string()]);
    assert_eq!(*seen.borrow(), Some(Err(boom("turned"))));
    d.add_errback(|_| Step::Ok(0));
}

#[test]
fn a_callback_returning_a_deferred_pauses_the_chain_until_it_fires() {
    let inner: D<u32> = Deferred::new();
    let d: D<u32> = Deferred::new();
    let i2 = inner.clone();
    d.add_callback(move |_| Step::Wait(i2));
    let seen = outcome(&d.add_callback(|n| Step::Ok(n + 1)));
    d.callback(0).unwrap();
    assert!(d.is_paused());
    assert_eq!(*seen.borrow(), None);
    inner.callback(10).unwrap();
    assert!(!d.is_paused());
    assert_eq!(*seen.borrow(), Some(Ok(11)));
}

#[test]
fn a_returned_deferred_that_already_fired_gives_its_result_at_once() {
    let d: D<u32> = Deferred::new();
    d.add_callback(|n| Step::Wait(Deferred::succeed(n + 100)));
    let seen = outcome(&d);
    d.callback(1).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(101)));
}

#[test]
fn a_returned_deferred_that_fails_goes_to_the_errback() {
    let inner: D<u32> = Deferred::new();
    let d: D<u32> = Deferred::new();
    let i2 = inner.clone();
    d.add_callback(move |_| Step::Wait(i2))
        .add_callback(|_| Step::Ok(1000));
    let seen = outcome(&d.add_errback(|e| match e {
        Fail::Boom(_) => Step::Ok(5),
        other => Step::Err(other),
    }));
    d.callback(0).unwrap();
    inner.errback(boom("inner")).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(5)));
}

#[test]
fn then_changes_the_value_type_and_errors_pass_through() {
    let d: D<u32> = Deferred::new();
    let text: D<String> = d.then(|r| match r {
        Ok(n) => Step::Ok(format!("n={n}")),
        Err(e) => Step::Err(e),
    });
    let len: D<usize> = text.map(|s| s.len());
    let seen = outcome(&len);
    d.callback(42).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(4)));

    let e: D<u32> = Deferred::new();
    let s = outcome(&e.map(|n| n.to_string()).map(|s| s.len()));
    e.errback(boom("early")).unwrap();
    assert_eq!(*s.borrow(), Some(Err(boom("early"))));
}

#[test]
fn then_may_wait_for_a_deferred_of_the_new_type() {
    let inner: D<String> = Deferred::new();
    let i2 = inner.clone();
    let d: D<u32> = Deferred::new();
    let seen = outcome(&d.then(move |_| Step::Wait(i2)));
    d.callback(1).unwrap();
    assert_eq!(*seen.borrow(), None);
    inner.callback("late".into()).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok("late".to_string())));
}

#[test]
fn steps_added_after_then_do_not_run_and_say_so() {
    capture_log();
    let d: D<u32> = Deferred::new();
    let _next = d.map(|n| n + 1);
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    d.add_callback(move |n| {
        r.set(true);
        Step::Ok(n)
    });
    d.callback(1).unwrap();
    assert!(!ran.get());
    assert_eq!(logged(log::Level::Warn, "will not run"), 1);
}

#[test]
fn maybe_deferred_wraps_values_errors_and_deferreds() {
    let ok = outcome(&maybe_deferred(|| Step::<u32, Fail>::Ok(1)));
    assert_eq!(*ok.borrow(), Some(Ok(1)));
    let failed = maybe_deferred(|| Step::<u32, Fail>::Err(boom("e")));
    assert_eq!(*outcome(&failed).borrow(), Some(Err(boom("e"))));
    failed.add_errback(|_| Step::Ok(0));
    let d: D<u32> = Deferred::new();
    let same = maybe_deferred(|| Step::Wait(d.clone()));
    d.callback(3).unwrap();
    assert!(same.is_called());
}

// ----- cancelling -----------------------------------------------------------------------------

#[test]
fn cancel_before_firing_calls_the_canceller_then_fails_with_cancelled() {
    let stopped = Rc::new(Cell::new(false));
    let s = stopped.clone();
    let d: D<u32> = Deferred::with_canceller(move |_| s.set(true));
    let seen = outcome(&d);
    d.cancel();
    assert!(stopped.get());
    assert_eq!(*seen.borrow(), Some(Err(Fail::Cancelled)));
    // The operation finishing late is told so, and changes nothing.
    assert_eq!(d.callback(1), Err(AlreadyCalled));
    assert_eq!(*seen.borrow(), Some(Err(Fail::Cancelled)));
    d.add_errback(|_| Step::Ok(0));
}

#[test]
fn a_canceller_that_fires_the_deferred_wins() {
    let d: D<u32> = Deferred::with_canceller(|d| {
        let _ = d.callback(7);
    });
    let seen = outcome(&d);
    d.cancel();
    assert_eq!(*seen.borrow(), Some(Ok(7)));
}

#[test]
fn cancel_without_canceller_fails_with_cancelled() {
    let d: D<u32> = Deferred::new();
    let seen = outcome(&d);
    d.cancel();
    assert_eq!(*seen.borrow(), Some(Err(Fail::Cancelled)));
    d.add_errback(|_| Step::Ok(0));
}

#[test]
fn cancel_after_firing_does_nothing() {
    let called = Rc::new(Cell::new(false));
    let c = called.clone();
    let d: D<u32> = Deferred::with_canceller(move |_| c.set(true));
    d.callback(5).unwrap();
    d.cancel();
    assert!(!called.get());
    assert_eq!(*outcome(&d).borrow(), Some(Ok(5)));
}

#[test]
fn cancelling_a_paused_chain_cancels_what_it_waits_for() {
    let inner_stopped = Rc::new(Cell::new(false));
    let s = inner_stopped.clone();
    let inner: D<u32> = Deferred::with_canceller(move |_| s.set(true));
    let d: D<u32> = Deferred::new();
    let i2 = inner.clone();
    d.add_callback(move |_| Step::Wait(i2));
    let seen = outcome(&d);
    d.callback(0).unwrap();
    d.cancel();
    assert!(inner_stopped.get());
    assert_eq!(*seen.borrow(), Some(Err(Fail::Cancelled)));
    d.add_errback(|_| Step::Ok(0));
}

#[test]
fn cancelling_a_then_cancels_its_source() {
    let stopped = Rc::new(Cell::new(false));
    let s = stopped.clone();
    let source: D<u32> = Deferred::with_canceller(move |_| s.set(true));
    let text = source.map(|n| n.to_string());
    let seen = outcome(&text);
    text.cancel();
    assert!(stopped.get());
    assert_eq!(*seen.borrow(), Some(Err(Fail::Cancelled)));
    text.add_errback(|_| Step::Ok(String::new()));
}

// ----- timeouts -------------------------------------------------------------------------------

fn reactor_with_clock() -> (Reactor, Clock) {
    let clock = Clock::new();
    let reactor = Reactor::with_clock(ReactorConfig::default(), Rc::new(clock.clone())).unwrap();
    (reactor, clock)
}

fn turn(reactor: &mut Reactor) {
    reactor.run_once(Some(Duration::ZERO)).unwrap();
}

fn timers(reactor: &Reactor) -> String {
    let debug = format!("{reactor:?}");
    debug
        .split("timers: ")
        .nth(1)
        .unwrap_or("")
        .trim_end_matches(" }")
        .to_string()
}

#[test]
fn a_timeout_fails_the_deferred_and_cancels_the_operation() {
    let (mut reactor, clock) = reactor_with_clock();
    let stopped = Rc::new(Cell::new(false));
    let s = stopped.clone();
    let d: D<u32> = Deferred::with_canceller(move |_| s.set(true));
    d.timeout(&mut reactor, Duration::from_secs(5));
    let seen = outcome(&d);
    clock.advance(Duration::from_secs(4));
    turn(&mut reactor);
    assert_eq!(*seen.borrow(), None);
    clock.advance(Duration::from_secs(1));
    turn(&mut reactor);
    assert!(stopped.get(), "the canceller stopped the operation");
    assert_eq!(*seen.borrow(), Some(Err(Fail::TimedOut)));
    assert_eq!(d.callback(1), Err(AlreadyCalled));
    assert_eq!(timers(&reactor), "0");
    d.add_errback(|_| Step::Ok(0));
}

#[test]
fn a_deferred_that_fires_first_cancels_its_timer() {
    let (mut reactor, clock) = reactor_with_clock();
    let d: D<u32> = Deferred::new();
    d.timeout(&mut reactor, Duration::from_secs(5));
    let seen = outcome(&d);
    assert_eq!(timers(&reactor), "1");
    clock.advance(Duration::from_secs(1));
    turn(&mut reactor);
    d.callback(9).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(9)));
    turn(&mut reactor);
    assert_eq!(timers(&reactor), "0", "the timer was cancelled");
    clock.advance(Duration::from_secs(10));
    turn(&mut reactor);
    assert_eq!(*seen.borrow(), Some(Ok(9)));
}

#[test]
fn a_timeout_covers_a_deferred_the_chain_waits_for() {
    let (mut reactor, clock) = reactor_with_clock();
    let inner_stopped = Rc::new(Cell::new(false));
    let s = inner_stopped.clone();
    let inner: D<u32> = Deferred::with_canceller(move |_| s.set(true));
    let d: D<u32> = Deferred::new();
    let i2 = inner.clone();
    d.add_callback(move |_| Step::Wait(i2));
    d.timeout(&mut reactor, Duration::from_millis(100));
    let seen = outcome(&d);
    d.callback(0).unwrap();
    clock.advance(Duration::from_millis(100));
    turn(&mut reactor);
    assert!(inner_stopped.get());
    assert_eq!(*seen.borrow(), Some(Err(Fail::TimedOut)));
    d.add_errback(|_| Step::Ok(0));
}

#[test]
fn a_timeout_on_a_fired_deferred_sets_no_timer() {
    let (mut reactor, _clock) = reactor_with_clock();
    let d: D<u32> = Deferred::succeed(1);
    d.timeout(&mut reactor, Duration::from_secs(1));
    assert_eq!(timers(&reactor), "0");
    assert_eq!(*outcome(&d).borrow(), Some(Ok(1)));
}

// ----- gather ---------------------------------------------------------------------------------

#[test]
fn gather_gives_results_in_list_order() {
    let list: Vec<D<u32>> = (0..4).map(|_| Deferred::new()).collect();
    let all = gather(list.clone(), false);
    let seen = outcome(&all);
    for (i, d) in list.iter().enumerate().rev() {
        assert_eq!(*seen.borrow(), None);
        if i == 2 {
            d.errback(boom("two")).unwrap();
        } else {
            d.callback(i as u32 * 10).unwrap();
        }
    }
    assert_eq!(
        *seen.borrow(),
        Some(Ok(vec![Ok(0), Ok(10), Err(boom("two")), Ok(30)]))
    );
}

#[test]
fn gather_fails_on_the_first_error_when_asked() {
    capture_log();
    let list: Vec<D<u32>> = (0..3).map(|_| Deferred::new()).collect();
    let all = gather(list.clone(), true);
    let seen = outcome(&all);
    list[1].errback(boom("first")).unwrap();
    assert_eq!(*seen.borrow(), Some(Err(boom("first"))));
    list[0].errback(boom("second")).unwrap();
    list[2].callback(2).unwrap();
    assert_eq!(*seen.borrow(), Some(Err(boom("first"))));
    all.add_errback(|_| Step::Ok(Vec::new()));
    drop((all, list));
    assert_eq!(
        logged(log::Level::Error, "Unhandled error"),
        0,
        "gather handles its list's errors"
    );
}

#[test]
fn gather_of_nothing_and_cancelling_a_gather() {
    let empty = outcome(&gather(Vec::<D<u32>>::new(), true));
    assert_eq!(*empty.borrow(), Some(Ok(Vec::new())));

    let list: Vec<D<u32>> = (0..2).map(|_| Deferred::new()).collect();
    list[0].callback(1).unwrap();
    let all = gather(list.clone(), false);
    let seen = outcome(&all);
    all.cancel();
    assert_eq!(
        *seen.borrow(),
        Some(Ok(vec![Ok(1), Err(Fail::Cancelled)])),
        "the pending one was cancelled"
    );
}

// ----- unhandled errors -----------------------------------------------------------------------

#[test]
fn a_dropped_unhandled_error_is_logged() {
    capture_log();
    let d: D<u32> = Deferred::new();
    d.add_callback(|_| Step::Err(boom("lost")));
    d.callback(1).unwrap();
    assert_eq!(logged(log::Level::Error, "Unhandled error in Deferred"), 0);
    let copy = d.clone();
    drop(d);
    assert_eq!(
        logged(log::Level::Error, "Unhandled"),
        0,
        "a handle remains"
    );
    drop(copy);
    assert_eq!(logged(log::Level::Error, "Unhandled error in Deferred"), 1);
    assert_eq!(logged(log::Level::Error, "lost"), 1);

    drop(D::<u32>::fail(boom("also")));
    assert_eq!(logged(log::Level::Error, "Unhandled error in Deferred"), 2);
}

#[test]
fn handled_errors_values_and_unfired_deferreds_log_nothing() {
    capture_log();
    let d: D<u32> = Deferred::fail(boom("seen"));
    d.add_errback(|_| Step::Ok(0));
    drop(d);
    drop(D::succeed(1));
    drop(D::<u32>::new());
    let passed: D<u32> = Deferred::fail(boom("passed on"));
    let next = passed.map(|n| n + 1);
    next.add_errback(|_| Step::Ok(0));
    drop((passed, next));
    assert_eq!(logged(log::Level::Error, "Unhandled"), 0);
}

// ----- long chains ----------------------------------------------------------------------------

#[test]
fn a_chain_of_100_000_callbacks_runs_without_recursion() {
    let d: D<u64> = Deferred::new();
    for _ in 0..100_000 {
        d.add_callback(|n| Step::Ok(n + 1));
    }
    let seen = outcome(&d);
    d.callback(0).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(100_000)));
}

#[test]
fn a_chain_of_100_000_thens_runs_and_drops_without_recursion() {
    let d: D<u64> = Deferred::new();
    let mut last = d.clone();
    for _ in 0..100_000 {
        last = last.map(|n| n + 1);
    }
    let seen = outcome(&last);
    d.callback(0).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(100_000)));

    // Never fired: dropping it frees 100,000 linked chains.
    let unfired: D<u64> = Deferred::new();
    let mut tail = unfired.clone();
    for _ in 0..100_000 {
        tail = tail.map(|n| n + 1);
    }
    drop(tail);
    drop(unfired);
}

#[test]
fn ten_thousand_nested_deferreds_resume_without_recursion() {
    const N: usize = 10_000;
    let inners: Vec<D<u64>> = (0..N).map(|_| Deferred::new()).collect();
    // Each inner's callback returns the next inner, which has not fired yet.
    for pair in inners.windows(2) {
        let next = pair[1].clone();
        pair[0].add_callback(move |_| Step::Wait(next));
    }
    let outer: D<u64> = Deferred::new();
    let first = inners[0].clone();
    outer.add_callback(move |_| Step::Wait(first));
    let seen = outcome(&outer);
    outer.callback(0).unwrap();
    for d in &inners[..N - 1] {
        d.callback(0).unwrap();
    }
    assert!(outer.is_paused());
    // The innermost fires: 10,000 paused chains resume, one after another.
    inners[N - 1].callback(7).unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(7)));
}

#[test]
fn ten_thousand_nested_deferreds_dropped_unfired_free_without_recursion() {
    const N: usize = 10_000;
    let inners: Vec<D<u64>> = (0..N).map(|_| Deferred::new()).collect();
    for pair in inners.windows(2) {
        let next = pair[1].clone();
        pair[0].add_callback(move |_| Step::Wait(next));
    }
    for d in &inners[..N - 1] {
        d.callback(0).unwrap();
    }
    // Each inner now holds the chain that waits for it; drop them innermost last.
    drop(inners);
}

#[test]
fn cancelling_the_end_of_100_000_thens_reaches_the_source_without_recursion() {
    let stopped = Rc::new(Cell::new(false));
    let s = stopped.clone();
    let source: D<u64> = Deferred::with_canceller(move |_| s.set(true));
    let mut last = source.clone();
    for _ in 0..100_000 {
        last = last.map(|n| n + 1);
    }
    let seen = outcome(&last);
    last.cancel();
    assert!(stopped.get());
    assert_eq!(*seen.borrow(), Some(Err(Fail::Cancelled)));
    last.add_errback(|_| Step::Ok(0));
}
