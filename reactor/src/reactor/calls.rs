//! Code the loop runs at a time rather than on a socket event: timers (`call_later` and its
//! [`DelayedCall`], [`LoopingCall`], protocol timers, connect retries and timeouts) and closures
//! sent from other threads through a [`ReactorHandle`] (`call_from_thread`), and the hooks
//! that run at the end of every turn before its output is flushed ([`Reactor::before_flush`]).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{error, trace};

use super::entry::Entry;
use super::guard::catch;
use super::{Core, Reactor, Shared, TimerTarget};
use crate::TimerId;

/// A `Send + Sync` handle to a reactor, for other threads: run a closure on the reactor's
/// thread, or stop it. Cheap to clone.
#[derive(Clone)]
pub struct ReactorHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReactorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReactorHandle")
    }
}

impl ReactorHandle {
    /// Runs `f` on the reactor's thread at its next turn (Twisted's `callFromThread`).
    /// False if the reactor is gone.
    pub fn call_from_thread(&self, f: impl FnOnce(&mut Reactor) + Send + 'static) -> bool {
        match self.shared.calls.lock() {
            Ok(mut calls) => calls.push(Box::new(f)),
            Err(_) => return false,
        }
        self.shared.waker.wake().is_ok()
    }

    /// Asks the reactor to stop (as [`Reactor::stop`]) from any thread.
    pub fn stop(&self) -> bool {
        self.call_from_thread(|r| r.stop())
    }
}

/// Names a hook added with [`Reactor::before_flush`], to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BeforeFlushId(u64);

impl Reactor {
    /// Runs `hook` once at the end of every turn, after the turn's reads, timers and calls and
    /// before any of the output they produced is flushed (redis-server's `beforeSleep`). It is
    /// where work batched over a turn is finished before its answers leave: a store makes one
    /// `fsync` for every write of the turn, across all connections, then writes the
    /// acknowledgements those writes were waiting for. Output the hook writes goes out in the
    /// same turn. (Output is also sent mid-turn when a socket turns writable, so a protocol
    /// that must not answer before the hook keeps the answer back itself until the hook
    /// writes it.)
    pub fn before_flush(&mut self, hook: impl FnMut(&mut Reactor) + 'static) -> BeforeFlushId {
        let id = self.before_flush.next;
        self.before_flush.next += 1;
        self.before_flush.hooks.push((id, Some(Box::new(hook))));
        BeforeFlushId(id)
    }

    /// Removes a hook added with [`before_flush`](Self::before_flush); false if it was not
    /// there. A hook may remove itself.
    pub fn remove_before_flush(&mut self, id: BeforeFlushId) -> bool {
        let before = self.before_flush.hooks.len();
        self.before_flush.hooks.retain(|(n, _)| *n != id.0);
        before != self.before_flush.hooks.len()
    }

    /// Runs every before-flush hook once. A hook that panics is logged and removed.
    pub(super) fn run_before_flush(&mut self) {
        if self.before_flush.hooks.is_empty() {
            return;
        }
        let ids: Vec<u64> = self.before_flush.hooks.iter().map(|(id, _)| *id).collect();
        for id in ids {
            let Some(mut hook) = self
                .before_flush
                .hooks
                .iter_mut()
                .find(|(n, _)| *n == id)
                .and_then(|(_, h)| h.take())
            else {
                continue;
            };
            let outcome = catch(|| hook(self));
            let slot = self.before_flush.hooks.iter_mut().find(|(n, _)| *n == id);
            match (outcome, slot) {
                (Ok(()), Some((_, h))) => *h = Some(hook),
                (Err(panic), _) => {
                    error!("a before-flush hook panicked: {panic}; it is removed");
                    self.before_flush.hooks.retain(|(n, _)| *n != id);
                }
                // It removed itself.
                (Ok(()), None) => {}
            }
        }
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ReactorHandle {
        ReactorHandle {
            shared: self.shared.clone(),
        }
    }

    /// Runs `f` after `delay` (Twisted's `callLater`); the returned [`DelayedCall`] cancels or
    /// resets it.
    pub fn call_later(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut Reactor) + 'static,
    ) -> DelayedCall {
        let at = self.core.deadline(delay);
        DelayedCall(
            self.core
                .timers
                .schedule(at, TimerTarget::Call(Box::new(f))),
        )
    }

    fn call_every(&mut self, interval: Duration, f: Box<dyn FnMut(&mut Reactor)>) -> TimerId {
        let at = self.core.deadline(interval);
        self.core
            .timers
            .schedule(at, TimerTarget::Repeat { interval, f })
    }

    /// Cancels a timer, also one that is firing (a looping call stopping itself).
    fn cancel_timer(&mut self, id: TimerId) -> bool {
        let known = self.core.timers.contains(id);
        self.core.timers.cancel(id);
        known
    }

    /// True while scheduled, or firing for a looping call (one-shot calls release their slot
    /// before running, so a delayed call is no longer active inside itself, as in Twisted).
    fn timer_active(&self, id: TimerId) -> bool {
        self.core.timers.contains(id)
    }

    /// Fires every timer that is due, in deadline order.
    pub(super) fn run_timers(&mut self) {
        let now = self.core.now;
        while let Some((id, deadline, target)) = self.core.timers.pop_due(now) {
            match target {
                TimerTarget::Call(f) => {
                    self.core.timers.release(id);
                    trace!("timer {id} fired");
                    self.guarded("delayed call", |r| f(r));
                }
                TimerTarget::Repeat { interval, mut f } => {
                    trace!("looping call {id} fired");
                    self.guarded("looping call", |r| f(r));
                    // Skip the intervals that were missed rather than firing them in a burst.
                    let mut next = self.core.deadline_after(deadline, interval);
                    if next <= self.core.now {
                        next = self.core.deadline(interval);
                    }
                    let _ = self
                        .core
                        .timers
                        .rearm(id, next, TimerTarget::Repeat { interval, f });
                }
                TimerTarget::Protocol { conn } => {
                    self.core.timers.release(id);
                    if let Some(index) = self.core.live(conn) {
                        if let Some(Entry::Conn(c)) = self.core.entries.get(index) {
                            trace!("[c{index} {}] timer {id} fired", c.peer);
                        }
                        self.core.dispatch(index, |p, tx| p.timer_fired(id, tx));
                    }
                }
                TimerTarget::ConnectTimeout { connector, entry } => {
                    self.core.timers.release(id);
                    let matches = matches!(self.core.entries.get(entry),
                        Some(Entry::Connecting(c)) if c.connector == connector);
                    if matches {
                        if let Entry::Connecting(mut c) = self.core.entries.remove(entry) {
                            let _ = self.core.poll.registry().deregister(c.stream.source());
                        }
                        let error = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                        self.connect_failed(connector, error);
                    }
                }
                TimerTarget::Connect { connector } => {
                    self.core.timers.release(id);
                    self.start_connecting(connector);
                }
                TimerTarget::AcceptRetry { listener, gen } => {
                    self.core.timers.release(id);
                    self.core.retry_accept(listener, gen);
                }
                TimerTarget::ConnectFailed { connector, error } => {
                    self.core.timers.release(id);
                    self.connect_failed(connector, error);
                }
            }
        }
    }

    /// Runs a reactor-level closure; a panic in it is logged and the reactor goes on.
    pub(super) fn guarded(&mut self, what: &str, f: impl FnOnce(&mut Reactor)) {
        if let Err(message) = catch(|| f(self)) {
            error!("{what} panicked: {message}");
        }
    }

    /// Runs the closures other threads sent since the last turn.
    pub(super) fn run_remote_calls(&mut self) {
        let calls = match self.shared.calls.lock() {
            Ok(mut calls) => std::mem::take(&mut *calls),
            Err(_) => return,
        };
        for call in calls {
            self.guarded("call from thread", call);
        }
    }
}

impl Core {
    /// The instant `delay` from now (the turn's time), saturating.
    pub(super) fn deadline(&self, delay: Duration) -> Instant {
        self.deadline_after(self.now, delay)
    }

    /// The instant `delay` after `start`, saturating.
    fn deadline_after(&self, start: Instant, delay: Duration) -> Instant {
        // A peer-chosen delay must not overflow: saturate at about a century.
        start
            .checked_add(delay)
            .or_else(|| start.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(start)
    }
}

/// A scheduled call made by [`Reactor::call_later`] (Twisted's `DelayedCall`): cancel it, reset
/// it, or ask whether it is still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DelayedCall(TimerId);

impl DelayedCall {
    /// Cancels the call; it will never run. False if it already ran or was cancelled.
    pub fn cancel(self, reactor: &mut Reactor) -> bool {
        reactor.cancel_timer(self.0)
    }

    /// Moves the call to `delay` from now. False if it already ran or was cancelled.
    pub fn reset(self, reactor: &mut Reactor, delay: Duration) -> bool {
        let at = reactor.core.deadline(delay);
        reactor.core.timers.reset(self.0, at)
    }

    /// True until the call runs or is cancelled.
    pub fn is_active(self, reactor: &Reactor) -> bool {
        reactor.timer_active(self.0)
    }

    /// The call's timer id, as trace logs show it ("timer 7 fired").
    pub fn id(self) -> TimerId {
        self.0
    }
}

/// Calls a function every `interval` (Twisted's `LoopingCall`) until stopped. Intervals missed
/// because the loop was busy are skipped, not replayed in a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoopingCall(TimerId);

impl LoopingCall {
    /// Starts calling `f` every `interval` (at least 1 ms); with `now`, also calls it at once.
    pub fn start(
        reactor: &mut Reactor,
        interval: Duration,
        now: bool,
        mut f: impl FnMut(&mut Reactor) + 'static,
    ) -> LoopingCall {
        if now {
            reactor.guarded("looping call", |r| f(r));
        }
        let interval = interval.max(Duration::from_millis(1));
        LoopingCall(reactor.call_every(interval, Box::new(f)))
    }

    /// Stops the loop (also from inside `f`). False if it was already stopped.
    pub fn stop(self, reactor: &mut Reactor) -> bool {
        reactor.cancel_timer(self.0)
    }

    /// True until stopped.
    pub fn is_running(self, reactor: &Reactor) -> bool {
        reactor.timer_active(self.0)
    }
}
