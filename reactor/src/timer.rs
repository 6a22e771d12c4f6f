//! Timers: a deadline-ordered queue of scheduled calls, and the ids that name them.
//!
//! The queue is a binary heap of `(deadline, seq, slot)` over a slab of slots, as in
//! mini-redis's expiry set: the sequence number breaks ties between equal deadlines (first
//! scheduled, first fired) and tells a live heap entry from one left behind by `cancel` or
//! `reset`. Cancelling is O(1) (the slot is freed; its heap entry is skipped when it surfaces);
//! resetting pushes a new heap entry. When stale entries outnumber live ones the heap is rebuilt,
//! so a timer reset on every read (an idle timeout) does not grow the heap without bound.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::Instant;

use slab::Slab;

/// The name of a scheduled call: returned by `call_later`, passed back to
/// [`Protocol::timer_fired`](crate::Protocol::timer_fired), and used to cancel or reset it.
///
/// Ids carry a generation, so an id whose timer has fired or been cancelled never names a
/// later timer that reused its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId {
    index: u32,
    gen: u32,
}

impl fmt::Display for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}.{}", self.index, self.gen)
    }
}

struct Slot<T> {
    gen: u32,
    seq: u64,
    deadline: Instant,
    /// `None` while the timer is firing (taken out by `pop_due`, not yet released or rearmed).
    target: Option<T>,
}

/// A queue of timers carrying a payload `T`, ordered by deadline. Knows nothing of clocks:
/// callers pass `now` in, which is what lets a fake clock drive it.
pub(crate) struct TimerQueue<T> {
    heap: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    slots: Slab<Slot<T>>,
    seq: u64,
    gen: u32,
}

impl<T> fmt::Debug for TimerQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerQueue")
            .field("timers", &self.slots.len())
            .finish()
    }
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            slots: Slab::new(),
            seq: 0,
            gen: 0,
        }
    }
}

impl<T> TimerQueue<T> {
    /// Schedules `target` at `deadline`.
    pub(crate) fn schedule(&mut self, deadline: Instant, target: T) -> TimerId {
        self.seq += 1;
        self.gen = self.gen.wrapping_add(1);
        let slot = Slot {
            gen: self.gen,
            seq: self.seq,
            deadline,
            target: Some(target),
        };
        let index = self.slots.insert(slot) as u32;
        self.heap.push(Reverse((deadline, self.seq, index)));
        TimerId {
            index,
            gen: self.gen,
        }
    }

    fn slot(&self, id: TimerId) -> Option<&Slot<T>> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.gen == id.gen)
    }

    /// True while `id` is scheduled (not fired, not cancelled).
    pub(crate) fn is_active(&self, id: TimerId) -> bool {
        self.slot(id).is_some_and(|s| s.target.is_some())
    }

    /// True while `id` is scheduled or firing (a looping call inside its own callback).
    pub(crate) fn contains(&self, id: TimerId) -> bool {
        self.slot(id).is_some()
    }

    /// Cancels `id`; returns its payload if it was scheduled. Cancelling a timer that is firing
    /// (a looping call stopping itself) stops it from being rearmed.
    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<T> {
        self.slot(id)?;
        let slot = self.slots.remove(id.index as usize);
        slot.target
    }

    /// Moves a scheduled timer to a new deadline; false if it is not scheduled.
    pub(crate) fn reset(&mut self, id: TimerId, deadline: Instant) -> bool {
        if !self.is_active(id) {
            return false;
        }
        self.seq += 1;
        let seq = self.seq;
        if let Some(slot) = self.slots.get_mut(id.index as usize) {
            slot.seq = seq;
            slot.deadline = deadline;
        }
        self.heap.push(Reverse((deadline, seq, id.index)));
        self.compact();
        true
    }

    fn is_live(&self, seq: u64, index: u32) -> bool {
        self.slots
            .get(index as usize)
            .is_some_and(|s| s.seq == seq && s.target.is_some())
    }

    /// Rebuilds the heap once stale entries clearly outnumber live timers.
    fn compact(&mut self) {
        if self.heap.len() <= 2 * self.slots.len() + 64 {
            return;
        }
        self.heap = self
            .slots
            .iter()
            .filter(|(_, s)| s.target.is_some())
            .map(|(i, s)| Reverse((s.deadline, s.seq, i as u32)))
            .collect();
    }

    /// The earliest deadline of any scheduled timer.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, seq, index))) = self.heap.peek().copied() {
            if self.is_live(seq, index) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes the payload of the earliest timer due at `now`. The slot stays reserved (so the id
    /// stays valid for `cancel`) until the caller calls [`release`](Self::release) or
    /// [`rearm`](Self::rearm).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TimerId, Instant, T)> {
        while let Some(Reverse((deadline, seq, index))) = self.heap.peek().copied() {
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if !self.is_live(seq, index) {
                continue;
            }
            let slot = self.slots.get_mut(index as usize)?;
            let target = slot.target.take()?;
            let id = TimerId {
                index,
                gen: slot.gen,
            };
            return Some((id, deadline, target));
        }
        None
    }

    /// Frees the slot of a timer that has fired.
    pub(crate) fn release(&mut self, id: TimerId) {
        if self.slot(id).is_some() {
            self.slots.remove(id.index as usize);
        }
    }

    /// Schedules a fired timer again under the same id. Gives the payload back if the timer was
    /// cancelled while it fired.
    pub(crate) fn rearm(&mut self, id: TimerId, deadline: Instant, target: T) -> Result<(), T> {
        if self.slot(id).is_none() {
            return Err(target);
        }
        self.seq += 1;
        let seq = self.seq;
        match self.slots.get_mut(id.index as usize) {
            Some(slot) => {
                slot.seq = seq;
                slot.deadline = deadline;
                slot.target = Some(target);
            }
            None => return Err(target),
        }
        self.heap.push(Reverse((deadline, seq, id.index)));
        Ok(())
    }

    /// How many timers are scheduled or firing.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_then_schedule_order() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.schedule(t0 + Duration::from_millis(20), "c");
        q.schedule(t0 + Duration::from_millis(10), "a");
        q.schedule(t0 + Duration::from_millis(10), "b");
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert!(q.pop_due(t0).is_none());
        let mut fired = vec![];
        while let Some((id, _, t)) = q.pop_due(t0 + Duration::from_millis(30)) {
            q.release(id);
            fired.push(t);
        }
        assert_eq!(fired, ["a", "b", "c"]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn cancelled_never_fires_and_reset_moves() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        let a = q.schedule(t0 + Duration::from_millis(10), 1);
        let b = q.schedule(t0 + Duration::from_millis(10), 2);
        assert_eq!(q.cancel(a), Some(1));
        assert_eq!(q.cancel(a), None);
        assert!(q.reset(b, t0 + Duration::from_millis(50)));
        assert!(q.pop_due(t0 + Duration::from_millis(20)).is_none());
        let (id, _, v) = q.pop_due(t0 + Duration::from_millis(50)).unwrap();
        assert_eq!((id, v), (b, 2));
        // A stale id never names the timer that reuses its slot.
        q.release(id);
        let c = q.schedule(t0, 3);
        assert_ne!(c, b);
        assert!(!q.is_active(b));
        assert!(q.is_active(c));
    }

    #[test]
    fn rearm_after_cancel_during_fire_gives_payload_back() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        let a = q.schedule(t0, 7);
        let (id, _, v) = q.pop_due(t0).unwrap();
        assert_eq!(id, a);
        assert!(q.cancel(id).is_none());
        assert_eq!(q.rearm(id, t0, v), Err(7));
    }

    #[test]
    fn resets_do_not_grow_the_heap_without_bound() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        let a = q.schedule(t0, ());
        for i in 0..10_000u64 {
            q.reset(a, t0 + Duration::from_millis(i));
        }
        assert!(q.heap.len() < 200, "heap has {} entries", q.heap.len());
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(9_999)));
    }
}
