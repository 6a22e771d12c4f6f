//! [`Messages`]: where a queue keeps its ready messages. In memory, in arrival order within
//! each priority; with a [`MessageLog`] attached (a durable queue, or any queue once the broker
//! has a data directory), persistent messages of a durable queue are also written to it, and a
//! long queue keeps only its head in memory: the messages behind it stay on disk with a small
//! index entry each ([`Paged`], 24 bytes) and are read back as they reach the head (RabbitMQ's
//! lazy queues).
//!
//! The order the messages leave in is kept in three runs: `levels` (in memory, the head),
//! `paged` (on disk), `unwritten` (in memory, appended to the log and waiting for the end of
//! the turn's write; they join `paged` once it succeeded). A message given back (reject with
//! requeue) was delivered from the head, so it goes back into `levels`, in its place.

use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use spindle_protocols::amqp::{FieldValue, ShortStr};

use super::message::{Gauge, Message};
use crate::store::{Backlog, Place, StoredMessage};

/// A message in a queue: its place in the queue's order (kept when it is requeued, so a
/// rejected message goes back where it was, as in RabbitMQ) and whether it was delivered
/// before.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    /// Order of arrival in this queue.
    pub(crate) seq: u64,
    /// The message, shared with the other queues it was routed to.
    pub(crate) message: Rc<Message>,
    /// Delivered before and requeued.
    pub(crate) redelivered: bool,
    /// Times it was delivered and given back (a quorum queue's delivery count, which
    /// `x-delivery-limit` bounds).
    pub(crate) returns: u32,
    /// When it expires (`x-message-ttl`, the message's `expiration`): it is dropped or
    /// dead-lettered once it reaches the head of the queue after that.
    pub(crate) expires: Option<Instant>,
    /// Its record in the queue's log, if it has one (a persistent message of a durable
    /// queue, or one paged out), settled when the message leaves for good.
    pub(crate) place: Option<Place>,
}

impl Queued {
    /// The message as its queue hands it out: a quorum queue adds `x-delivery-count` (the
    /// times it was given back) to a redelivery, and to every `basic.get` answer, as RabbitMQ
    /// 3.10's quorum queues do; the stored message stays as published, so a dead-lettered
    /// one carries no count.
    pub(crate) fn handed_out(&self, quorum: bool, get: bool) -> Option<Message> {
        (quorum && (get || self.returns > 0)).then(|| {
            self.message
                .with_header("x-delivery-count", FieldValue::I64(i64::from(self.returns)))
        })
    }
}

/// A queue's on-disk log as the queue sees it (the store module's `QueueLog` behind it; an
/// in-memory double in tests).
pub(crate) trait MessageLog: fmt::Debug {
    /// Adds a record to the turn's batch; its place is final.
    fn append(&mut self, message: &Message, persistent: bool) -> Result<Place, String>;
    /// Marks a record settled (the message left the queue for good).
    fn settle(&mut self, place: Place);
    /// Reads a record back.
    fn read(&self, place: Place) -> Result<StoredMessage, String>;
    /// Writes the batch. On failure nothing of it counts as written: the places lost are
    /// returned, and none of them is ever given to another record.
    fn write(&mut self) -> Result<(), (String, Vec<Place>)>;
    /// Makes everything written durable (fsync).
    fn sync(&mut self) -> Result<(), String>;
    /// Something waits to be written or synced.
    fn is_dirty(&self) -> bool;
    /// Bytes its files take on disk.
    fn disk_bytes(&self) -> u64;
    /// Removes the log's files (the queue was deleted).
    fn destroy(self: Box<Self>);
}

/// Opens queues' logs (the data directory's; none without one).
pub(crate) trait LogOpener: fmt::Debug {
    /// The log of a queue: a durable queue's is kept across restarts (`recover`: what it
    /// holds is handed back; otherwise it starts empty), another's serves paging only.
    fn open(
        &mut self,
        vhost: &str,
        queue: &ShortStr,
        durable: bool,
        recover: bool,
    ) -> Result<Opened, String>;
}

/// A queue's opened log and the messages recovered from it, in queue order.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The log.
    pub(crate) log: Box<dyn MessageLog>,
    /// Unsettled persistent messages it held: their places and body lengths.
    pub(crate) recovered: Backlog,
}

/// A message on disk only: where its record is and what the queue must know of it without
/// reading it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paged {
    place: Place,
    /// Body bytes (`x-max-length-bytes`).
    size: u32,
    /// When it expires, in milliseconds after the holder's epoch (0: never).
    expires: u32,
    redelivered: bool,
}

/// A queue's ready messages.
#[derive(Debug)]
pub(crate) struct Messages {
    levels: Vec<VecDeque<Queued>>,
    paged: VecDeque<Paged>,
    /// The sequence number of the first paged message (the paged run is consecutive: pushes
    /// are numbered one by one and only the head ever leaves before its turn).
    paged_seq: u64,
    unwritten: VecDeque<Queued>,
    len: usize,
    bytes: usize,
    log: Option<Box<dyn MessageLog>>,
    /// Persistent messages are written to the log (the queue is durable).
    durable: bool,
    /// A persistent message was appended since the last fsync: the next write syncs. (Acks
    /// alone are written but not synced: nothing waits for them, and written is enough for
    /// them to outlive a crash of the process; the next sync takes them along.)
    needs_sync: bool,
    /// Messages kept in memory before the rest is paged out (with a log, one level only).
    keep_in_memory: usize,
    /// The instant `Paged::expires` counts from.
    epoch: Instant,
    /// Where messages read back from disk are charged.
    gauge: Gauge,
}

/// Messages a queue keeps in memory before it pages the rest out, by default: four times the
/// flow-control mark ([`FLOW_HIGH`](super::queue::FLOW_HIGH)), so that a queue whose consumers
/// keep up, give or take a burst, never goes to disk, while a real backlog costs disk, not
/// memory.
pub(crate) const KEEP_IN_MEMORY: usize = 32_768;

impl Default for Messages {
    fn default() -> Self {
        Messages::with_priorities(0)
    }
}

impl Messages {
    /// Messages in memory only, for priorities 0..=`max` (RabbitMQ caps `x-max-priority` at
    /// 255).
    pub(crate) fn with_priorities(max: u8) -> Messages {
        Messages {
            levels: (0..=max).map(|_| VecDeque::new()).collect(),
            paged: VecDeque::new(),
            paged_seq: 0,
            unwritten: VecDeque::new(),
            len: 0,
            bytes: 0,
            log: None,
            durable: false,
            needs_sync: false,
            keep_in_memory: KEEP_IN_MEMORY,
            epoch: Instant::now(),
            gauge: Gauge::default(),
        }
    }

    /// Attaches a log: persistent messages are written to it when `durable`, and a long queue
    /// (of one priority level) pages out to it.
    pub(crate) fn with_log(
        mut self,
        log: Box<dyn MessageLog>,
        durable: bool,
        gauge: Gauge,
        now: Instant,
    ) -> Messages {
        self.log = Some(log);
        self.durable = durable;
        self.gauge = gauge;
        self.epoch = now;
        self
    }

    /// Sets how many messages stay in memory before the rest is paged out.
    #[cfg(test)]
    pub(crate) fn keep_in_memory(mut self, n: usize) -> Messages {
        self.keep_in_memory = n.max(1);
        self
    }

    /// The level a message goes to: its priority, capped at the queue's maximum (a message
    /// without one has priority 0).
    fn level(&self, item: &Queued) -> usize {
        let top = self.levels.len().saturating_sub(1);
        usize::from(item.message.properties.priority.unwrap_or(0)).min(top)
    }

    fn loaded(&self) -> usize {
        self.levels.iter().map(VecDeque::len).sum()
    }

    /// Whether a new message goes behind the in-memory head (to disk).
    fn pages(&self) -> bool {
        self.log.is_some()
            && self.levels.len() == 1
            && (!self.paged.is_empty()
                || !self.unwritten.is_empty()
                || self.loaded() >= self.keep_in_memory)
    }

    /// Adds a message at the tail. A persistent message of a durable queue is written to the
    /// log; so is any message once the queue pages.
    pub(crate) fn push(&mut self, mut item: Queued) {
        let size = item.message.size();
        let persistent = self.durable && item.message.is_persistent();
        let paging = self.pages();
        if let (Some(log), true) = (self.log.as_mut(), persistent || paging) {
            match log.append(&item.message, persistent) {
                Ok(place) => {
                    item.place = Some(place);
                    self.needs_sync |= persistent;
                }
                Err(e) => log::error!("cannot store a message: {e}"),
            }
        }
        self.bytes += size;
        self.len += 1;
        if paging {
            // Behind the head; it leaves memory once its record is written (one the log
            // could not take stays in memory, in its place).
            self.unwritten.push_back(item);
            return;
        }
        let at = self.level(&item);
        if let Some(level) = self.levels.get_mut(at) {
            level.push_back(item);
        }
    }

    /// Puts a message back at its place in arrival order (`basic.reject` with requeue, a
    /// closed channel's unacknowledged messages). It was delivered from the in-memory head,
    /// so it goes back there.
    pub(crate) fn requeue(&mut self, item: Queued) {
        let size = item.message.size();
        let at = self.level(&item);
        if let Some(level) = self.levels.get_mut(at) {
            self.bytes += size;
            self.len += 1;
            // Usually the oldest unacknowledged message comes back first, at the head.
            let at = level.partition_point(|q| q.seq < item.seq);
            level.insert(at, item);
        }
    }

    /// Takes the message at the head.
    pub(crate) fn pop(&mut self) -> Option<Queued> {
        self.fill_head();
        let item = self
            .levels
            .iter_mut()
            .rev()
            .find(|l| !l.is_empty())?
            .pop_front()?;
        self.bytes -= item.message.size();
        self.len -= 1;
        Some(item)
    }

    /// The message at the head, left in place (read back from disk first if need be: the
    /// caller then sees it without a second read).
    pub(crate) fn head(&mut self) -> Option<&Queued> {
        self.fill_head();
        self.levels.iter().rev().find(|l| !l.is_empty())?.front()
    }

    /// When the memory head is empty: brings the next message back from disk (or from the
    /// run waiting for its write).
    fn fill_head(&mut self) {
        if self.loaded() > 0 {
            return;
        }
        let Some(level) = self.levels.get_mut(0) else {
            return;
        };
        while level.is_empty() {
            if let Some(p) = self.paged.pop_front() {
                let seq = self.paged_seq;
                self.paged_seq += 1;
                match read_back(self.log.as_deref(), &p, seq, self.epoch, &self.gauge) {
                    Some(item) => level.push_back(item),
                    None => {
                        // Its record cannot be read (damaged since it was written): the
                        // message is lost, which the error log has said.
                        self.len -= 1;
                        self.bytes -= p.size as usize;
                    }
                }
            } else if let Some(item) = self.unwritten.pop_front() {
                level.push_back(item);
            } else {
                return;
            }
        }
    }

    /// The next message to leave has a time to expire at (whether it is in memory or not).
    pub(crate) fn head_expires(&self) -> bool {
        match self.levels.iter().rev().find(|l| !l.is_empty()) {
            Some(level) => level.front().is_some_and(|q| q.expires.is_some()),
            None => match self.paged.front() {
                Some(p) => p.expires > 0,
                None => self.unwritten.front().is_some_and(|q| q.expires.is_some()),
            },
        }
    }

    /// Messages held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Body bytes held (`x-max-length-bytes`).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages held on disk only.
    #[cfg(test)]
    pub(crate) fn paged_out(&self) -> usize {
        self.paged.len()
    }

    /// Removes every message (settling their records); returns how many.
    pub(crate) fn purge(&mut self) -> usize {
        let n = self.len;
        let places: Vec<Place> = self
            .levels
            .iter()
            .flatten()
            .chain(self.unwritten.iter())
            .filter_map(|q| q.place)
            .chain(self.paged.iter().map(|p| p.place))
            .collect();
        if let Some(log) = self.log.as_mut() {
            for p in places {
                log.settle(p);
            }
        }
        for l in &mut self.levels {
            l.clear();
        }
        self.paged.clear();
        self.unwritten.clear();
        self.len = 0;
        self.bytes = 0;
        n
    }

    /// A message left the queue for good (acked, dropped, dead-lettered, expired): its record,
    /// if it has one, is settled.
    pub(crate) fn settle(&mut self, item: &Queued) {
        if let (Some(log), Some(place)) = (self.log.as_mut(), item.place) {
            log.settle(place);
        }
    }

    /// Something waits to be written or synced.
    pub(crate) fn is_dirty(&self) -> bool {
        self.log.as_ref().is_some_and(|l| l.is_dirty())
    }

    /// Writes the turn's batch and, with `fsync`, makes it durable. The messages waiting for
    /// the write leave memory; on a failure they stay, and those whose records were lost are
    /// appended again for the next attempt. Err: the turn's writes are not durable.
    pub(crate) fn write(&mut self, fsync: bool) -> Result<(), String> {
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        match log.write() {
            Ok(()) => {}
            Err((error, lost)) => {
                let durable = self.durable;
                for item in self
                    .levels
                    .iter_mut()
                    .flatten()
                    .chain(self.unwritten.iter_mut())
                {
                    if item.place.is_some_and(|p| lost.contains(&p)) {
                        let persistent = durable && item.message.is_persistent();
                        item.place = log.append(&item.message, persistent).ok();
                        self.needs_sync |= persistent;
                    }
                }
                return Err(error);
            }
        }
        let epoch = self.epoch;
        while let Some(item) = self.unwritten.pop_front() {
            let next = self.paged_seq + self.paged.len() as u64;
            let in_order = self.paged.is_empty() || item.seq == next;
            let Some(place) = item.place.filter(|_| in_order) else {
                self.unwritten.push_front(item);
                break;
            };
            if self.paged.is_empty() {
                self.paged_seq = item.seq;
            }
            self.paged.push_back(Paged {
                place,
                size: u32::try_from(item.message.size()).unwrap_or(u32::MAX),
                expires: item.expires.map_or(0, |at| {
                    let ms = at.saturating_duration_since(epoch).as_millis();
                    u32::try_from(ms).unwrap_or(u32::MAX).max(1)
                }),
                redelivered: item.redelivered,
            });
        }
        // A paging log holds nothing that must outlive the process.
        if fsync && self.needs_sync {
            log.sync()?;
            self.needs_sync = false;
        }
        Ok(())
    }

    /// Bytes the queue's log takes on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.log.as_ref().map_or(0, |l| l.disk_bytes())
    }

    /// Whether a log is attached.
    pub(crate) fn has_log(&self) -> bool {
        self.log.is_some()
    }

    /// Removes the log's files (the queue is gone).
    pub(crate) fn destroy(&mut self) {
        if let Some(log) = self.log.take() {
            log.destroy();
        }
    }

    /// Takes the messages recovered from the log at start, in queue order, as each one's place
    /// and body length: the first ones are read back into memory (one read each), the rest
    /// become index entries. Recovered messages count as redelivered (they may have been
    /// delivered before the restart: RabbitMQ says the same of a message it cannot prove was
    /// not). They are numbered from `first_seq` on; returns the next number. A message that
    /// cannot be read back is lost, which the error log says.
    pub(crate) fn recovered<I>(&mut self, messages: I, first_seq: u64) -> u64
    where
        I: IntoIterator<Item = (Place, u32)>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut messages = messages.into_iter();
        let mut seq = first_seq;
        while let Some((place, size)) = messages.next() {
            if self.levels.len() == 1 && self.loaded() >= self.keep_in_memory {
                if self.paged.is_empty() {
                    self.paged_seq = seq;
                    self.paged.reserve_exact(messages.len() + 1);
                }
                self.paged.push_back(Paged {
                    place,
                    size,
                    expires: 0,
                    redelivered: true,
                });
                self.len += 1;
                self.bytes += size as usize;
            } else {
                let p = Paged {
                    place,
                    size,
                    expires: 0,
                    redelivered: true,
                };
                let Some(item) = read_back(self.log.as_deref(), &p, seq, self.epoch, &self.gauge)
                else {
                    continue;
                };
                self.len += 1;
                self.bytes += item.message.size();
                let at = self.level(&item);
                if let Some(level) = self.levels.get_mut(at) {
                    level.push_back(item);
                }
            }
            seq += 1;
        }
        seq
    }
}

/// A paged-out message read back into memory.
fn read_back(
    log: Option<&dyn MessageLog>,
    p: &Paged,
    seq: u64,
    epoch: Instant,
    gauge: &Gauge,
) -> Option<Queued> {
    let m = match log?.read(p.place) {
        Ok(m) => m,
        Err(e) => {
            log::error!("a paged-out message is lost: {e}");
            return None;
        }
    };
    let message = Rc::new(Message::new(
        m.id,
        m.exchange,
        m.routing_key,
        m.properties,
        m.body,
        gauge,
    ));
    Some(Queued {
        seq,
        message,
        redelivered: p.redelivered,
        returns: 0,
        expires: (p.expires > 0).then(|| epoch + Duration::from_millis(u64::from(p.expires))),
        // Transient (paged-out) records are settled too, so their segments can go.
        place: Some(p.place),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use bytes::Bytes;
    use spindle_protocols::amqp::BasicProperties;

    use super::*;

    /// What the fake log saw, shared with the test.
    #[derive(Debug, Default)]
    struct Disk {
        records: Vec<(Place, StoredMessage)>,
        written: usize,
        settled: Vec<Place>,
        fail_next_write: bool,
        syncs: usize,
    }

    #[derive(Debug)]
    struct FakeLog(Rc<RefCell<Disk>>, u32);

    impl MessageLog for FakeLog {
        fn append(&mut self, m: &Message, persistent: bool) -> Result<Place, String> {
            self.1 += 1;
            let place = Place {
                segment: 1,
                offset: self.1 * 100,
                len: 100,
            };
            let stored = StoredMessage {
                id: m.id,
                persistent,
                exchange: m.exchange.clone(),
                routing_key: m.routing_key.clone(),
                properties: m.properties.clone(),
                body: m.body.clone(),
            };
            self.0.borrow_mut().records.push((place, stored));
            Ok(place)
        }
        fn settle(&mut self, place: Place) {
            self.0.borrow_mut().settled.push(place);
        }
        fn read(&self, place: Place) -> Result<StoredMessage, String> {
            let d = self.0.borrow();
            d.records[..d.written]
                .iter()
                .find(|(p, _)| *p == place)
                .map(|(_, m)| m.clone())
                .ok_or_else(|| "not written".to_string())
        }
        fn write(&mut self) -> Result<(), (String, Vec<Place>)> {
            let mut d = self.0.borrow_mut();
            if std::mem::take(&mut d.fail_next_write) {
                let from = d.written;
                let lost: Vec<Place> = d.records.drain(from..).map(|(p, _)| p).collect();
                return Err(("disk full".to_string(), lost));
            }
            d.written = d.records.len();
            Ok(())
        }
        fn sync(&mut self) -> Result<(), String> {
            self.0.borrow_mut().syncs += 1;
            Ok(())
        }
        fn is_dirty(&self) -> bool {
            let d = self.0.borrow();
            d.written < d.records.len()
        }
        fn disk_bytes(&self) -> u64 {
            0
        }
        fn destroy(self: Box<Self>) {}
    }

    fn logged(durable: bool, keep: usize) -> (Messages, Rc<RefCell<Disk>>) {
        let disk = Rc::new(RefCell::new(Disk::default()));
        let m = Messages::default()
            .with_log(
                Box::new(FakeLog(disk.clone(), 0)),
                durable,
                Gauge::default(),
                Instant::now(),
            )
            .keep_in_memory(keep);
        (m, disk)
    }

    fn item(seq: u64, persistent: bool) -> Queued {
        let properties = BasicProperties {
            delivery_mode: Some(if persistent { 2 } else { 1 }),
            ..BasicProperties::default()
        };
        Queued {
            seq,
            message: Rc::new(Message::new(
                seq,
                ShortStr::from_static(""),
                ShortStr::from_static("q"),
                properties,
                Bytes::from(format!("m{seq}")),
                &Gauge::default(),
            )),
            redelivered: false,
            returns: 0,
            expires: None,
            place: None,
        }
    }

    fn drain(m: &mut Messages) -> Vec<String> {
        std::iter::from_fn(|| m.pop())
            .map(|q| String::from_utf8_lossy(&q.message.body).into_owned())
            .collect()
    }

    #[test]
    fn a_long_queue_keeps_its_head_in_memory_and_the_rest_on_disk_in_order() {
        let (mut m, disk) = logged(false, 3);
        for seq in 0..10 {
            m.push(item(seq, false));
        }
        // Transient messages of a non-durable queue: only those behind the head were logged.
        assert_eq!(disk.borrow().records.len(), 7);
        m.write(true).unwrap();
        assert_eq!((m.len(), m.paged_out()), (10, 7));
        // The first two leave; one is given back and goes back in its place.
        let first = m.pop().unwrap();
        let second = m.pop().unwrap();
        m.requeue(Queued {
            redelivered: true,
            ..first
        });
        drop(second);
        let rest = drain(&mut m);
        assert_eq!(rest, ["m0", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn persistent_messages_of_a_durable_queue_are_logged_and_settled() {
        let (mut m, disk) = logged(true, 100);
        m.push(item(0, true));
        m.push(item(1, false));
        assert!(m.is_dirty());
        m.write(true).unwrap();
        assert_eq!(disk.borrow().syncs, 1);
        assert_eq!(disk.borrow().records.len(), 1, "only the persistent one");
        let q = m.pop().unwrap();
        assert!(q.place.is_some());
        m.settle(&q);
        assert_eq!(disk.borrow().settled, [q.place.unwrap()]);
        m.push(item(2, true));
        assert_eq!(m.purge(), 2);
        assert_eq!(disk.borrow().settled.len(), 2);
    }

    #[test]
    fn recovered_messages_come_back_in_order_with_the_head_in_memory() {
        let (mut m, disk) = logged(true, 2);
        let mut fake = FakeLog(disk.clone(), 0);
        let places: Vec<(Place, u32)> = (0..6)
            .map(|seq| {
                let q = item(seq, true);
                let size = q.message.size() as u32;
                (fake.append(&q.message, true).unwrap(), size)
            })
            .collect();
        fake.write().unwrap();
        // A place the log no longer has: that message is lost, the others keep their order.
        let mut recovered = places.clone();
        recovered.insert(
            1,
            (
                Place {
                    segment: 9,
                    offset: 0,
                    len: 1,
                },
                3,
            ),
        );
        let next = m.recovered(recovered, 10);
        assert_eq!(next, 16, "numbered one by one from the first");
        assert_eq!((m.len(), m.paged_out()), (6, 4));
        assert_eq!(
            m.bytes(),
            places.iter().map(|(_, s)| *s as usize).sum::<usize>()
        );
        let all: Vec<Queued> = std::iter::from_fn(|| m.pop()).collect();
        let bodies: Vec<String> = all
            .iter()
            .map(|q| String::from_utf8_lossy(&q.message.body).into_owned())
            .collect();
        assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4", "m5"]);
        assert!(all.iter().all(|q| q.redelivered));
        assert_eq!(
            all.iter().map(|q| q.seq).collect::<Vec<_>>(),
            (10..16).collect::<Vec<_>>()
        );
        let want: Vec<Option<Place>> = places.iter().map(|(p, _)| Some(*p)).collect();
        assert_eq!(all.iter().map(|q| q.place).collect::<Vec<_>>(), want);
        assert_eq!((m.len(), m.bytes()), (0, 0));
    }

    #[test]
    fn a_failed_write_keeps_the_messages_in_memory_and_logs_them_again() {
        let (mut m, disk) = logged(true, 1);
        for seq in 0..4 {
            m.push(item(seq, true));
        }
        disk.borrow_mut().fail_next_write = true;
        assert!(m.write(true).is_err());
        assert_eq!(m.paged_out(), 0, "nothing left memory");
        // Appended again for the next write, which succeeds.
        assert!(m.is_dirty());
        m.write(true).unwrap();
        assert_eq!(m.paged_out(), 3);
        assert_eq!(drain(&mut m), ["m0", "m1", "m2", "m3"]);
    }
}
