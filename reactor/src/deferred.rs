//! [`Deferred`]: a result that is not there yet, and the chain of callbacks that will process
//! it (Twisted's `Deferred`). Single-threaded: a handle is an `Rc`, cheap to clone, not `Send`.
//!
//! ```text
//!  fire: callback(v) / errback(e)
//!      │
//!      ▼
//!  ┌─────────────┐  Ok  ┌──────────────┐  Ok  ┌────────────────┐
//!  │ add_callback├─────►│ add_callback ├─────►│ then (T → U)   ├──► Deferred<U, E>
//!  └─────────────┘      └──────┬───────┘      └────────────────┘
//!     Err │ (skipped)          │ Step::Wait(inner): the chain pauses here
//!         ▼                    ▼ until `inner` fires, then goes on with its result
//!  ┌─────────────┐        inner ─► …
//!  │ add_errback │ Step::Ok(v): recovered, the next callback gets v
//!  └─────────────┘
//! ```
//!
//! # Typing
//!
//! Twisted's chain is dynamically typed: any callback may return anything. Here a
//! `Deferred<T, E>` is a chain of steps that all take and give `Result<T, E>`:
//! [`add_callback`](Deferred::add_callback), [`add_errback`](Deferred::add_errback),
//! [`add_both`](Deferred::add_both) and [`add_callbacks`](Deferred::add_callbacks) append to
//! *this* chain (and return a clone of the handle, so calls can be strung together). Every step
//! returns a [`Step`]: a value ([`Step::Ok`]), an error ([`Step::Err`], which skips callbacks to
//! the next errback), or another deferred ([`Step::Wait`]) whose result the chain waits for
//! (Twisted's chaining: the outer chain pauses until the inner one fires).
//!
//! Values and errors are `'static` (steps are boxed closures that own them).
//!
//! A change of type goes through [`then`](Deferred::then) (or [`map`](Deferred::map)): it adds
//! a last step to this chain that hands the result to a new `Deferred<U, E>`, returned. The
//! error type stays `E` along a chain, so an error can travel through any number of `then`s. A
//! `then` passes the result on, as Twisted does when one deferred's result is chained into
//! another: this chain is then *used up*, and steps added to it afterwards never run (a warning
//! is logged). In the same way, a deferred returned from a callback as [`Step::Wait`] belongs to
//! the chain waiting for it.
//!
//! # Cancelling and errors
//!
//! [`cancel`](Deferred::cancel) needs `E: From<Cancelled>` and [`timeout`](Deferred::timeout)
//! needs `E: From<TimedOut>`: the caller's own error type says how those are reported (an
//! error enum with a variant for each is the usual shape). A chain's error type needs `Debug`,
//! for the "Unhandled error in Deferred" log written when a deferred whose last step left an
//! error is dropped.
//!
//! # No recursion on long chains
//!
//! Steps run in a loop, not by recursion; an inner deferred that fires resumes the chain
//! waiting for it in the same loop, and a `then` hands its new deferred back to the loop
//! instead of running it from inside the old one. A chain of 100,000 callbacks, or 10,000
//! deferreds each waiting on the next, runs in constant stack. Cancelling the end of a long
//! line of `then`s, and dropping a long unfired chain, work iteratively too.
//!
//! # Notes
//!
//! A step that panics stops its chain there (its result went into the step); the panic goes
//! on up to whoever fired the deferred, which for a reactor timer is the reactor's
//! log-and-continue guard. Return [`Step::Err`] instead.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::Duration;

use log::{debug, error, warn};

use crate::Reactor;

/// What a step of a chain gives the next one: a value, an error, or a deferred to wait for.
pub enum Step<T: 'static, E: 'static> {
    /// A value: the next callback gets it.
    Ok(T),
    /// An error: callbacks are skipped up to the next errback.
    Err(E),
    /// Another deferred: the chain pauses until it fires, then goes on with its result.
    Wait(Deferred<T, E>),
}

impl<T: 'static, E: 'static> From<Result<T, E>> for Step<T, E> {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(v) => Step::Ok(v),
            Err(e) => Step::Err(e),
        }
    }
}

impl<T: 'static, E: 'static> From<Deferred<T, E>> for Step<T, E> {
    fn from(d: Deferred<T, E>) -> Self {
        Step::Wait(d)
    }
}

impl<T: fmt::Debug + 'static, E: fmt::Debug + 'static> fmt::Debug for Step<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Ok(v) => f.debug_tuple("Ok").field(v).finish(),
            Step::Err(e) => f.debug_tuple("Err").field(e).finish(),
            Step::Wait(d) => f.debug_tuple("Wait").field(d).finish(),
        }
    }
}

/// The error of firing a deferred a second time ([`Deferred::callback`],
/// [`Deferred::errback`]). After [`Deferred::cancel`] it is the expected answer to the
/// operation that finishes late, and may be ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deferred already called")]
pub struct AlreadyCalled;

/// The error a cancelled deferred fails with (through `E: From<Cancelled>`) when its
/// canceller did not fire it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deferred cancelled")]
pub struct Cancelled;

/// The error a deferred fails with (through `E: From<TimedOut>`) when the time given to
/// [`Deferred::timeout`] ran out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deferred timed out")]
pub struct TimedOut;

type Callback<T, E> = Box<dyn FnOnce(Result<T, E>) -> Step<T, E>>;
type HandOff<T, E> = Box<dyn FnOnce(Result<T, E>) -> Option<Rc<dyn Run>>>;
type Canceller<T, E> = Box<dyn FnOnce(&Deferred<T, E>)>;

/// One link of a chain.
enum Link<T: 'static, E: 'static> {
    /// A step added by `add_*`.
    Step(Callback<T, E>),
    /// `then`: passes the result to another chain (of another type) and ends this one.
    HandOff(HandOff<T, E>),
    /// This deferred was returned from a callback of that chain: give it the result.
    Resume(Rc<Chain<T, E>>),
}

/// A chain the run loop can go on with, whatever its types.
trait Run {
    /// Runs the chain's ready steps; returns the chain to run next (a `then`'s new deferred).
    fn run(self: Rc<Self>) -> Option<Rc<dyn Run>>;
}

/// A chain being cancelled (whatever its value type), and the chains upstream of it.
type CancelTarget<E> = (Rc<dyn Upstream<E>>, Vec<Rc<dyn Upstream<E>>>);

/// Cancelling a chain whatever its value type: a deferred itself, or one upstream of a `then`
/// or a `gather` (cancelling the deferred downstream cancels it).
trait Upstream<E> {
    /// Finds the chain to cancel (this one if it has not fired, else the deferred it waits
    /// for), runs its canceller, and returns it with its sources; `None` if there is nothing
    /// to cancel.
    fn cancel_start(self: Rc<Self>) -> Option<CancelTarget<E>>;
    /// Fails the chain found by `cancel_start` with `make()`, unless it fired meanwhile.
    fn cancel_finish(self: Rc<Self>, make: &dyn Fn() -> E);
}

struct State<T: 'static, E: 'static> {
    /// Fired (or given a result by its upstream).
    called: bool,
    /// The result the next link gets; `None` before firing, while a link runs, while waiting,
    /// and once used up.
    result: Option<Result<T, E>>,
    links: VecDeque<Link<T, E>>,
    /// A link is running (further links wait for it).
    running: bool,
    /// Paused until this deferred fires.
    waiting: Option<Weak<Chain<T, E>>>,
    /// The result was passed on (by `then`, or to a waiting chain).
    used_up: bool,
    canceller: Option<Canceller<T, E>>,
    upstream: Vec<Weak<dyn Upstream<E>>>,
}

struct Chain<T: 'static, E: 'static> {
    state: RefCell<State<T, E>>,
    /// Formats an unhandled error for the log (a function pointer keeps `Debug` off `Drop`).
    describe: fn(&E) -> String,
}

fn describe<E: fmt::Debug>(e: &E) -> String {
    format!("{e:?}")
}

/// Runs chains until none has work left.
fn drive(start: Rc<dyn Run>) {
    let mut next = Some(start);
    while let Some(chain) = next {
        next = chain.run();
    }
}

impl<T: 'static, E: 'static> Chain<T, E> {
    /// Takes in what a step (or a `then`'s function) gave; true if the chain has a result to
    /// go on with, false if it now waits for another deferred.
    fn absorb(self: &Rc<Self>, step: Step<T, E>) -> bool {
        let inner = match step {
            Step::Ok(v) => {
                self.state.borrow_mut().result = Some(Ok(v));
                return true;
            }
            Step::Err(e) => {
                self.state.borrow_mut().result = Some(Err(e));
                return true;
            }
            Step::Wait(inner) => inner.chain,
        };
        if Rc::ptr_eq(&inner, self) {
            error!("a deferred's callback returned the deferred itself; its chain stops here");
            return false;
        }
        let mut theirs = inner.state.borrow_mut();
        if theirs.used_up {
            error!("a callback returned a deferred whose result was already passed on; the chain stops here");
            return false;
        }
        if !theirs.running && theirs.waiting.is_none() {
            if let Some(result) = theirs.result.take() {
                // Already fired and idle: take its result now, as Twisted does.
                theirs.used_up = true;
                drop(theirs);
                self.state.borrow_mut().result = Some(result);
                return true;
            }
        }
        theirs.links.push_back(Link::Resume(self.clone()));
        drop(theirs);
        self.state.borrow_mut().waiting = Some(Rc::downgrade(&inner));
        false
    }

    /// Gives a chain that has not fired its first result (from a `then` or a `gather`).
    fn settle(self: &Rc<Self>, step: Step<T, E>) -> Option<Rc<dyn Run>> {
        {
            let mut state = self.state.borrow_mut();
            if state.called {
                // Cancelled (or timed out) before its upstream finished: the late result is
                // dropped, as Twisted ignores the late callback of a cancelled deferred.
                debug!("a result reached a deferred that was already called; dropped");
                return None;
            }
            state.called = true;
            state.canceller = None;
            state.upstream.clear();
        }
        self.absorb(step);
        Some(self.clone() as Rc<dyn Run>)
    }

    /// Gives the chain its first result and runs it.
    fn fire(self: &Rc<Self>, result: Result<T, E>) -> Result<(), AlreadyCalled> {
        let (canceller, upstream) = {
            let mut state = self.state.borrow_mut();
            if state.called {
                return Err(AlreadyCalled);
            }
            state.called = true;
            state.result = Some(result);
            (state.canceller.take(), std::mem::take(&mut state.upstream))
        };
        drop(canceller);
        drop(upstream);
        drive(self.clone());
        Ok(())
    }

    fn push(self: &Rc<Self>, link: Link<T, E>) {
        let ready = {
            let mut state = self.state.borrow_mut();
            if state.used_up {
                warn!("a step was added to a deferred whose result was already passed on; it will not run");
                return;
            }
            state.links.push_back(link);
            state.result.is_some() && !state.running
        };
        if ready {
            drive(self.clone());
        }
    }
}

impl<T: 'static, E: 'static> Run for Chain<T, E> {
    fn run(self: Rc<Self>) -> Option<Rc<dyn Run>> {
        let mut current = self;
        loop {
            let (link, result) = {
                let mut state = current.state.borrow_mut();
                if state.running || state.waiting.is_some() || state.links.is_empty() {
                    return None;
                }
                // Links were checked non-empty above, so the result is never taken for nothing.
                let result = state.result.take()?;
                let link = state.links.pop_front()?;
                (link, result)
            };
            match link {
                Link::Step(f) => {
                    current.state.borrow_mut().running = true;
                    let step = f(result);
                    current.state.borrow_mut().running = false;
                    current.absorb(step);
                }
                Link::HandOff(f) => {
                    current.use_up();
                    return f(result);
                }
                Link::Resume(outer) => {
                    current.use_up();
                    {
                        let mut state = outer.state.borrow_mut();
                        state.waiting = None;
                        state.result = Some(result);
                    }
                    current = outer;
                }
            }
        }
    }
}

impl<T: 'static, E: 'static> Chain<T, E> {
    /// Marks the result as passed on; links still queued will never run.
    fn use_up(&self) {
        let left = {
            let mut state = self.state.borrow_mut();
            state.used_up = true;
            std::mem::take(&mut state.links)
        };
        if !left.is_empty() {
            warn!(
                "{} step(s) added to a deferred after its result was passed on will not run",
                left.len()
            );
        }
        drop_later(left);
    }
}

impl<T: 'static, E: 'static> Upstream<E> for Chain<T, E> {
    fn cancel_start(self: Rc<Self>) -> Option<CancelTarget<E>> {
        let mut current = self;
        loop {
            let (called, waiting, canceller, upstream) = {
                let mut state = current.state.borrow_mut();
                if state.called {
                    (true, state.waiting.clone(), None, Vec::new())
                } else {
                    let upstream = std::mem::take(&mut state.upstream);
                    (false, None, state.canceller.take(), upstream)
                }
            };
            if !called {
                if let Some(canceller) = canceller {
                    canceller(&Deferred {
                        chain: current.clone(),
                    });
                }
                let upstream = upstream.iter().filter_map(Weak::upgrade).collect();
                return Some((current as Rc<dyn Upstream<E>>, upstream));
            }
            // Fired but paused on another deferred: cancelling goes to that one (Twisted).
            match waiting.and_then(|w| w.upgrade()) {
                Some(inner) if !Rc::ptr_eq(&inner, &current) => current = inner,
                _ => return None,
            }
        }
    }

    fn cancel_finish(self: Rc<Self>, make: &dyn Fn() -> E) {
        let _ = self.fire(Err(make()));
    }
}

/// Cancels `start` and, before failing it, the chains it draws from (a `then`'s source, a
/// `gather`'s list), with an explicit stack: a long line of `then`s is cancelled without
/// recursion.
fn cancel_all<E: 'static>(start: Rc<dyn Upstream<E>>, make: &dyn Fn() -> E) {
    enum Work<E> {
        Start(Rc<dyn Upstream<E>>),
        Finish(Rc<dyn Upstream<E>>),
    }
    let mut stack = vec![Work::Start(start)];
    while let Some(work) = stack.pop() {
        match work {
            Work::Start(chain) => {
                if let Some((target, upstream)) = chain.cancel_start() {
                    stack.push(Work::Finish(target));
                    // Reversed, so the first source is cancelled first.
                    stack.extend(upstream.into_iter().rev().map(Work::Start));
                }
            }
            Work::Finish(chain) => chain.cancel_finish(make),
        }
    }
}

impl<T: 'static, E: 'static> Drop for Chain<T, E> {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if let Some(Err(e)) = &state.result {
            error!("Unhandled error in Deferred: {}", (self.describe)(e));
        }
        if !state.links.is_empty() {
            drop_later(std::mem::take(&mut state.links));
        }
        if let Some(canceller) = state.canceller.take() {
            drop_later(canceller);
        }
    }
}

thread_local! {
    /// Chain parts whose drop was put off by a drop already under way on this thread.
    static DROPPING: RefCell<Vec<Box<dyn std::any::Any>>> = const { RefCell::new(Vec::new()) };
    /// A drop of chain parts is under way on this thread.
    static DROP_ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Drops `value` without recursion: a long unfired chain (each link holding the next chain)
/// would otherwise be freed by a recursion as deep as the chain. Inside a drop already under
/// way the value is queued, and the outermost drop frees the queue in a loop.
fn drop_later<V: 'static>(value: V) {
    let nested = DROP_ACTIVE.try_with(|active| active.replace(true));
    match nested {
        // Thread-local storage is being torn down: drop in place.
        Err(_) => drop(value),
        Ok(true) => {
            let mut value = Some(value);
            let _ = DROPPING.try_with(|queue| {
                if let (Ok(mut queue), Some(v)) = (queue.try_borrow_mut(), value.take()) {
                    queue.push(Box::new(v));
                }
            });
            drop(value);
        }
        Ok(false) => {
            drop(value);
            loop {
                let next = DROPPING
                    .try_with(|queue| queue.try_borrow_mut().ok().and_then(|mut q| q.pop()))
                    .ok()
                    .flatten();
                match next {
                    Some(v) => drop(v),
                    None => break,
                }
            }
            let _ = DROP_ACTIVE.try_with(|active| active.set(false));
        }
    }
}

/// A result that is not there yet, and the chain of callbacks that will process it (Twisted's
/// `Deferred`): the return value of an operation that finishes later, such as an RPC call.
/// Clones are handles to the same chain. See the [module docs](self) for the typing of
/// chains.
///
/// # Examples
///
/// ```
/// use spindle_reactor::{Deferred, Step};
///
/// let d: Deferred<u32, String> = Deferred::new();
/// let seen = std::rc::Rc::new(std::cell::Cell::new(0));
/// let out = seen.clone();
/// d.add_callback(|n| if n > 10 { Step::Err(format!("{n} is too big")) } else { Step::Ok(n * 2) })
///     .add_errback(|_| Step::Ok(0))
///     .add_callback(move |n| { out.set(n); Step::Ok(n) });
/// d.callback(4).unwrap();
/// assert_eq!(seen.get(), 8);
/// ```
pub struct Deferred<T: 'static, E: 'static> {
    chain: Rc<Chain<T, E>>,
}

impl<T: 'static, E: 'static> Clone for Deferred<T, E> {
    fn clone(&self) -> Self {
        Deferred {
            chain: self.chain.clone(),
        }
    }
}

impl<T: 'static, E: 'static> fmt::Debug for Deferred<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.chain.state.try_borrow() {
            Ok(s) if s.used_up => "used up",
            Ok(s) if s.waiting.is_some() => "paused",
            Ok(s) if s.running => "running",
            Ok(s) if matches!(s.result, Some(Ok(_))) => "succeeded",
            Ok(s) if matches!(s.result, Some(Err(_))) => "failed",
            Ok(s) if s.called => "called",
            Ok(_) => "pending",
            Err(_) => "running",
        };
        f.debug_struct("Deferred").field("state", &state).finish()
    }
}

impl<T: 'static, E: fmt::Debug + 'static> Default for Deferred<T, E> {
    fn default() -> Self {
        Deferred::new()
    }
}

impl<T: 'static, E: fmt::Debug + 'static> Deferred<T, E> {
    /// A deferred not fired yet; fire it with [`callback`](Self::callback) or
    /// [`errback`](Self::errback).
    pub fn new() -> Self {
        Deferred {
            chain: Rc::new(Chain {
                state: RefCell::new(State {
                    called: false,
                    result: None,
                    links: VecDeque::new(),
                    running: false,
                    waiting: None,
                    used_up: false,
                    canceller: None,
                    upstream: Vec::new(),
                }),
                describe: describe::<E>,
            }),
        }
    }

    /// A deferred whose [`cancel`](Self::cancel) first calls `canceller` (which should stop
    /// the operation, and may fire the deferred itself, with any result).
    pub fn with_canceller(canceller: impl FnOnce(&Deferred<T, E>) + 'static) -> Self {
        let d = Deferred::new();
        d.chain.state.borrow_mut().canceller = Some(Box::new(canceller));
        d
    }

    /// A deferred that has already succeeded with `value` (Twisted's `succeed`).
    pub fn succeed(value: T) -> Self {
        let d = Deferred::new();
        let _ = d.fire(Ok(value));
        d
    }

    /// A deferred that has already failed with `error` (Twisted's `fail`).
    pub fn fail(error: E) -> Self {
        let d = Deferred::new();
        let _ = d.fire(Err(error));
        d
    }

    /// Fires the deferred with a value: the callbacks added so far run now, later ones as
    /// they are added.
    ///
    /// # Errors
    ///
    /// [`AlreadyCalled`] if the deferred was fired (or cancelled) before.
    pub fn callback(&self, value: T) -> Result<(), AlreadyCalled> {
        self.fire(Ok(value))
    }

    /// Fires the deferred with an error: the chain goes to its first errback.
    ///
    /// # Errors
    ///
    /// [`AlreadyCalled`] if the deferred was fired (or cancelled) before.
    pub fn errback(&self, error: E) -> Result<(), AlreadyCalled> {
        self.fire(Err(error))
    }

    fn fire(&self, result: Result<T, E>) -> Result<(), AlreadyCalled> {
        self.chain.fire(result)
    }

    /// Adds a step for a value; an error passes it by. `f` returns the next value, an error,
    /// or a deferred to wait for. Returns this deferred (a clone of the handle).
    pub fn add_callback(&self, f: impl FnOnce(T) -> Step<T, E> + 'static) -> Self {
        self.add_both(move |r| match r {
            Ok(v) => f(v),
            Err(e) => Step::Err(e),
        })
    }

    /// Adds a step for an error; a value passes it by. `f` may recover ([`Step::Ok`]), fail
    /// again, or return a deferred to wait for. Returns this deferred.
    pub fn add_errback(&self, f: impl FnOnce(E) -> Step<T, E> + 'static) -> Self {
        self.add_both(move |r| match r {
            Ok(v) => Step::Ok(v),
            Err(e) => f(e),
        })
    }

    /// Adds a step for either outcome (Twisted's `addBoth`). Returns this deferred.
    pub fn add_both(&self, f: impl FnOnce(Result<T, E>) -> Step<T, E> + 'static) -> Self {
        self.chain.push(Link::Step(Box::new(f)));
        self.clone()
    }

    /// Adds one step with a function for each outcome (Twisted's `addCallbacks`): exactly one
    /// of them runs. Returns this deferred.
    pub fn add_callbacks(
        &self,
        ok: impl FnOnce(T) -> Step<T, E> + 'static,
        err: impl FnOnce(E) -> Step<T, E> + 'static,
    ) -> Self {
        self.add_both(move |r| match r {
            Ok(v) => ok(v),
            Err(e) => err(e),
        })
    }

    /// Passes this chain's result, once it is there, through `f` into a new deferred of
    /// another value type, returned. This chain is used up by it: steps added to it later do
    /// not run. Cancelling the new deferred cancels this one.
    pub fn then<U: 'static>(
        &self,
        f: impl FnOnce(Result<T, E>) -> Step<U, E> + 'static,
    ) -> Deferred<U, E> {
        let next = Deferred::<U, E>::new();
        let upstream: Weak<dyn Upstream<E>> = Rc::downgrade(&self.chain) as Weak<dyn Upstream<E>>;
        next.chain.state.borrow_mut().upstream.push(upstream);
        let target = next.chain.clone();
        self.chain
            .push(Link::HandOff(Box::new(move |r| target.settle(f(r)))));
        next
    }

    /// [`then`](Self::then) for a plain conversion of the value; errors pass through.
    pub fn map<U: 'static>(&self, f: impl FnOnce(T) -> U + 'static) -> Deferred<U, E> {
        self.then(move |r| match r {
            Ok(v) => Step::Ok(f(v)),
            Err(e) => Step::Err(e),
        })
    }

    /// True once the deferred was fired (or cancelled).
    pub fn is_called(&self) -> bool {
        self.chain.state.borrow().called
    }

    /// True while the chain waits for a deferred returned by one of its steps.
    pub fn is_paused(&self) -> bool {
        self.chain.state.borrow().waiting.is_some()
    }
}

impl<T: 'static, E: From<Cancelled> + fmt::Debug + 'static> Deferred<T, E> {
    /// Cancels the operation behind the deferred (Twisted's `cancel`): if it has not fired,
    /// calls its canceller and, if that did not fire it, fails it with [`Cancelled`]. If it
    /// fired but waits for another deferred, cancels that one. If it has its result, does
    /// nothing. A deferred made by [`then`](Self::then) or [`gather`] cancels its sources.
    pub fn cancel(&self) {
        cancel_all(self.chain.clone(), &|| E::from(Cancelled));
    }
}

impl<T: 'static, E: From<TimedOut> + fmt::Debug + 'static> Deferred<T, E> {
    /// Fails the deferred with [`TimedOut`] if it has not got its result `after` from now on
    /// `reactor`'s clock (Twisted's `addTimeout`): the operation behind it is cancelled as by
    /// [`cancel`](Self::cancel), with `TimedOut` instead of `Cancelled`. The timeout covers
    /// the steps added so far (and the deferreds they wait for); if the result gets through
    /// them first, the timer is cancelled. Returns this deferred.
    ///
    /// # Notes
    ///
    /// The timer is cancelled through the reactor's [`handle`](Reactor::handle) at its next
    /// turn, since a step has no reactor to hand; until then the timer holds only a weak
    /// reference, so it keeps nothing alive.
    pub fn timeout(&self, reactor: &mut Reactor, after: Duration) -> Self {
        {
            let state = self.chain.state.borrow();
            let done = state.result.is_some() && !state.running && state.links.is_empty();
            if done || state.used_up {
                return self.clone();
            }
        }
        let timed_out = Rc::new(Cell::new(false));
        let fired = timed_out.clone();
        let chain = Rc::downgrade(&self.chain);
        let call = reactor.call_later(after, move |_| {
            fired.set(true);
            if let Some(chain) = chain.upgrade() {
                cancel_all(chain, &|| E::from(TimedOut));
            }
        });
        let handle = reactor.handle();
        self.add_both(move |r| {
            if !timed_out.get() {
                handle.call_from_thread(move |reactor| {
                    call.cancel(reactor);
                });
            }
            Step::from(r)
        })
    }
}

/// Waits for every deferred of `list` (Twisted's `DeferredList` / `gatherResults`): the result
/// is each one's outcome, in the order of `list`. With `fire_on_first_error` it fails instead
/// with the first error as soon as one fails (the other results are then dropped). The list's
/// deferreds are used up by it, so their errors are handled; cancelling the result cancels
/// those still pending.
pub fn gather<T: 'static, E: fmt::Debug + 'static>(
    list: impl IntoIterator<Item = Deferred<T, E>>,
    fire_on_first_error: bool,
) -> Deferred<Vec<Result<T, E>>, E> {
    struct Gathering<T, E> {
        slots: Vec<Option<Result<T, E>>>,
        remaining: usize,
        done: bool,
    }
    let list: Vec<Deferred<T, E>> = list.into_iter().collect();
    let out = Deferred::<Vec<Result<T, E>>, E>::new();
    if list.is_empty() {
        let _ = out.callback(Vec::new());
        return out;
    }
    {
        let mut state = out.chain.state.borrow_mut();
        for d in &list {
            let upstream: Weak<dyn Upstream<E>> = Rc::downgrade(&d.chain) as Weak<dyn Upstream<E>>;
            state.upstream.push(upstream);
        }
    }
    let shared = Rc::new(RefCell::new(Gathering {
        slots: (0..list.len()).map(|_| None).collect(),
        remaining: list.len(),
        done: false,
    }));
    for (index, d) in list.iter().enumerate() {
        let shared = shared.clone();
        let out = out.clone();
        let _ = d.then(move |r| {
            let finished = {
                let mut g = shared.borrow_mut();
                if g.done {
                    return Step::Ok(());
                }
                g.remaining = g.remaining.saturating_sub(1);
                match r {
                    Err(e) if fire_on_first_error => {
                        g.done = true;
                        g.slots.clear();
                        Err(e)
                    }
                    r => {
                        if let Some(slot) = g.slots.get_mut(index) {
                            *slot = Some(r);
                        }
                        if g.remaining == 0 {
                            g.done = true;
                            Ok(std::mem::take(&mut g.slots))
                        } else {
                            return Step::Ok(());
                        }
                    }
                }
            };
            let _ = match finished {
                Ok(slots) => out.callback(slots.into_iter().flatten().collect()),
                Err(e) => out.errback(e),
            };
            Step::Ok(())
        });
    }
    out
}

/// Calls `f` now and gives its outcome as a deferred (Twisted's `maybeDeferred`): a value or
/// error becomes a fired deferred, a deferred is returned as it is.
pub fn maybe_deferred<T: 'static, E: fmt::Debug + 'static>(
    f: impl FnOnce() -> Step<T, E>,
) -> Deferred<T, E> {
    match f() {
        Step::Ok(v) => Deferred::succeed(v),
        Step::Err(e) => Deferred::fail(e),
        Step::Wait(d) => d,
    }
}
