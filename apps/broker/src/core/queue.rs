//! [`Queue`]: messages waiting in order, the consumers they go to in turn, and where the
//! messages are kept ([`Messages`]: in memory, and on disk behind a log for a durable or long
//! queue).

use std::rc::Rc;
use std::time::{Duration, Instant};

use spindle_protocols::amqp::{FieldTable, FieldValue, ShortStr};
use spindle_reactor::ConnId;

use super::message::Message;
use super::messages::{Messages, Queued};

/// A consumer of a queue: where its deliveries go and how many it may hold unacknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Consumer {
    /// Its tag, unique on its channel.
    pub(crate) tag: ShortStr,
    /// The connection and channel it was created on.
    pub(crate) conn: ConnId,
    pub(crate) channel: u16,
    /// Deliveries count as acknowledged when sent.
    pub(crate) no_ack: bool,
    /// `basic.consume exclusive`: the only consumer the queue may have.
    pub(crate) exclusive: bool,
    /// Deliveries it holds unacknowledged.
    pub(crate) unacked: u32,
    /// Its prefetch limit (`basic.qos` with global=false before it consumed; 0: none).
    pub(crate) prefetch: u16,
}

impl Consumer {
    /// Under its own prefetch limit.
    pub(crate) fn has_room(&self) -> bool {
        self.no_ack || self.prefetch == 0 || self.unacked < u32::from(self.prefetch)
    }
}

/// What `x-overflow` does once a queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Drop (or dead-letter) the oldest message (RabbitMQ's default).
    DropHead,
    /// Refuse the new message (nack it when confirms are on).
    RejectPublish,
    /// Refuse it and dead-letter it.
    RejectPublishDlx,
}

/// A queue.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) name: ShortStr,
    pub(crate) durable: bool,
    /// The connection an exclusive queue belongs to.
    pub(crate) exclusive: Option<ConnId>,
    pub(crate) auto_delete: bool,
    /// The declare's arguments, kept to compare a redeclare with.
    pub(crate) arguments: FieldTable,
    /// The messages.
    pub(crate) store: Messages,
    /// Its consumers, served in turn.
    pub(crate) consumers: Vec<Consumer>,
    /// The consumer whose turn is next.
    pub(crate) next_consumer: usize,
    /// Sequence number of the next message to arrive.
    pub(crate) next_seq: u64,
    /// It has had a consumer (an auto-delete queue goes when its last consumer does).
    pub(crate) had_consumer: bool,
    /// `x-max-length`, `x-max-length-bytes`, `x-overflow`.
    pub(crate) max_length: Option<usize>,
    pub(crate) max_length_bytes: Option<usize>,
    pub(crate) overflow: Overflow,
    /// `x-message-ttl`.
    pub(crate) message_ttl: Option<Duration>,
    /// `x-expires`: the queue is deleted after this long unused (no consumers, no
    /// `basic.get`, no redeclare).
    pub(crate) expires: Option<Duration>,
    /// When it was last used, for `x-expires`.
    pub(crate) last_used: Instant,
    /// `x-dead-letter-exchange` and `x-dead-letter-routing-key`: where rejected, expired and
    /// dropped messages go.
    pub(crate) dead_letter: Option<(ShortStr, Option<ShortStr>)>,
    /// `x-single-active-consumer`: only the first consumer gets messages; the next takes
    /// over when it goes.
    pub(crate) single_active: bool,
    /// `x-queue-type: quorum`: no priorities, and a message given back carries its
    /// `x-delivery-count`.
    pub(crate) quorum: bool,
    /// `x-delivery-limit` (quorum queues): a message given back more often than this is
    /// dead-lettered (reason `delivery_limit`) or dropped.
    pub(crate) delivery_limit: Option<u32>,
    /// It is in the broker's list of queues whose log is written at the end of the turn.
    pub(crate) awaiting_write: bool,
    /// When it last delivered to a consumer (flow control holds publishers only while the
    /// consumers keep taking messages).
    pub(crate) last_delivery: Instant,
    /// Publishers held back because this queue was over [`FLOW_HIGH`] messages (or
    /// [`FLOW_HIGH_BYTES`]); they are let go when it is back under half of that.
    pub(crate) held_publishers: Vec<ConnId>,
}

/// Ready messages at which a queue holds back the publishers sending to it (RabbitMQ's credit
/// flow has the same purpose: a queue cannot be filled faster than it is emptied for long).
pub(crate) const FLOW_HIGH: usize = 8192;
/// How long consumers may take nothing before a queue stops holding its publishers back.
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(1);
/// Ready body bytes at which a queue holds back its publishers.
pub(crate) const FLOW_HIGH_BYTES: usize = 16 * 1024 * 1024;

impl Queue {
    /// A queue as declared, empty, its limits read from `arguments` (checked by the caller).
    pub(crate) fn new(
        name: ShortStr,
        durable: bool,
        exclusive: Option<ConnId>,
        auto_delete: bool,
        arguments: FieldTable,
        now: Instant,
    ) -> Queue {
        let count = |key: &str| {
            arguments
                .get(key)
                .and_then(FieldValue::as_i64)
                .and_then(|n| usize::try_from(n).ok())
        };
        let overflow = match arguments.get("x-overflow").and_then(FieldValue::as_bytes) {
            Some(v) if v.as_ref() == b"reject-publish" => Overflow::RejectPublish,
            Some(v) if v.as_ref() == b"reject-publish-dlx" => Overflow::RejectPublishDlx,
            _ => Overflow::DropHead,
        };
        let millis = |key: &str| count(key).map(|n| Duration::from_millis(n as u64));
        let text = |key: &str| {
            arguments
                .get(key)
                .and_then(FieldValue::as_bytes)
                .and_then(|b| ShortStr::try_from(b.clone()).ok())
        };
        let dead_letter =
            text("x-dead-letter-exchange").map(|x| (x, text("x-dead-letter-routing-key")));
        let quorum = arguments
            .get("x-queue-type")
            .and_then(FieldValue::as_bytes)
            .is_some_and(|t| t.as_ref() == b"quorum");
        let priorities = match quorum {
            true => 0,
            false => count("x-max-priority").map_or(0, |n| n.min(255) as u8),
        };
        let single_active = arguments
            .get("x-single-active-consumer")
            .and_then(FieldValue::as_bool)
            .unwrap_or(false);
        Queue {
            quorum,
            // Not an integer: no limit; below zero: every return is over it (as in RabbitMQ,
            // which does not check the argument).
            delivery_limit: quorum
                .then(|| {
                    arguments
                        .get("x-delivery-limit")
                        .and_then(FieldValue::as_i64)
                })
                .flatten()
                .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
            held_publishers: Vec::new(),
            last_delivery: now,
            awaiting_write: false,
            single_active,
            message_ttl: millis("x-message-ttl"),
            expires: millis("x-expires"),
            last_used: now,
            dead_letter,
            max_length: count("x-max-length"),
            max_length_bytes: count("x-max-length-bytes"),
            overflow,
            name,
            durable,
            exclusive,
            auto_delete,
            arguments,
            store: Messages::with_priorities(priorities),
            consumers: Vec::new(),
            next_consumer: 0,
            next_seq: 0,
            had_consumer: false,
        }
    }

    /// Puts a delivered message back in its place (reject or nack with requeue, its channel
    /// closed, `basic.recover`), marked redelivered, its delivery count raised. Past a quorum
    /// queue's `x-delivery-limit` it is not put back but returned, for the caller to
    /// dead-letter or drop.
    pub(crate) fn give_back(&mut self, mut item: Queued) -> Option<Queued> {
        item.redelivered = true;
        item.returns = item.returns.saturating_add(1);
        if self.quorum
            && self
                .delivery_limit
                .is_some_and(|limit| item.returns > limit)
        {
            return Some(item);
        }
        self.store.requeue(item);
        None
    }

    /// Messages ready (not delivered and unacknowledged).
    pub(crate) fn len(&self) -> usize {
        self.store.len()
    }

    /// Over the flow-control mark: its publishers should wait.
    pub(crate) fn is_flooded(&self) -> bool {
        self.store.len() >= FLOW_HIGH || self.store.bytes() >= FLOW_HIGH_BYTES
    }

    /// It has consumers and delivered to one of them within [`STALLED_AFTER`]: they are taking
    /// messages, only slower than they come.
    pub(crate) fn consumers_progress(&self, now: Instant) -> bool {
        !self.consumers.is_empty()
            && now.saturating_duration_since(self.last_delivery) < STALLED_AFTER
    }

    /// Back under half the mark: held publishers may go on.
    pub(crate) fn has_drained(&self) -> bool {
        self.store.len() <= FLOW_HIGH / 2 && self.store.bytes() <= FLOW_HIGH_BYTES / 2
    }

    /// Whether one more message of `size` bytes would pass `x-max-length` or
    /// `x-max-length-bytes`.
    pub(crate) fn is_full_for(&self, size: usize) -> bool {
        self.max_length.is_some_and(|max| self.store.len() >= max)
            || self
                .max_length_bytes
                .is_some_and(|max| self.store.bytes() + size > max)
    }

    /// Adds a newly routed message; with `x-overflow drop-head`, drops the oldest while the
    /// queue is over its limits. Returns whether the message was taken (false: the queue
    /// rejects publishes when full) and the messages dropped from the head.
    pub(crate) fn enqueue(
        &mut self,
        message: Rc<Message>,
        ttl: Option<Duration>,
        now: Instant,
    ) -> (bool, Vec<Queued>) {
        let size = message.size();
        let mut dropped = Vec::new();
        if self.is_full_for(size) {
            match self.overflow {
                Overflow::RejectPublish | Overflow::RejectPublishDlx => return (false, dropped),
                Overflow::DropHead => {}
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let ttl = match (ttl, self.message_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.store.push(Queued {
            seq,
            message,
            redelivered: false,
            returns: 0,
            expires: ttl.and_then(|t| now.checked_add(t)),
            place: None,
        });
        while self.over_limits() {
            match self.store.pop() {
                Some(old) => dropped.push(old),
                None => break,
            }
        }
        (true, dropped)
    }

    fn over_limits(&self) -> bool {
        self.max_length.is_some_and(|max| self.store.len() > max)
            || self
                .max_length_bytes
                .is_some_and(|max| self.store.bytes() > max)
    }

    /// Takes the expired messages at the head (RabbitMQ expires messages when they reach the
    /// head, so one behind a longer-lived message waits for it). A message expires once its
    /// time has passed, so one with a TTL of 0 still goes to a consumer ready for it now.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Queued> {
        let mut expired = Vec::new();
        while self
            .store
            .head()
            .is_some_and(|q| q.expires.is_some_and(|at| at < now))
        {
            if let Some(q) = self.store.pop() {
                expired.push(q);
            }
        }
        expired
    }

    /// Removes consumers matching `which`; returns them.
    pub(crate) fn remove_consumers(
        &mut self,
        mut which: impl FnMut(&Consumer) -> bool,
    ) -> Vec<Consumer> {
        let mut removed = Vec::new();
        let mut i = 0;
        while i < self.consumers.len() {
            if self.consumers.get(i).is_some_and(&mut which) {
                removed.push(self.consumers.remove(i));
                if self.next_consumer > i {
                    self.next_consumer -= 1;
                }
            } else {
                i += 1;
            }
        }
        if self.next_consumer >= self.consumers.len() {
            self.next_consumer = 0;
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use spindle_protocols::amqp::BasicProperties;

    fn message(id: u64, body: &'static str) -> Rc<Message> {
        Rc::new(Message::new(
            id,
            ShortStr::from_static(""),
            ShortStr::from_static("q"),
            BasicProperties::default(),
            Bytes::from_static(body.as_bytes()),
            &Default::default(),
        ))
    }

    fn bodies(q: &mut Queue) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(m) = q.store.pop() {
            out.push(String::from_utf8_lossy(&m.message.body).into_owned());
        }
        out
    }

    #[test]
    fn requeued_messages_go_back_to_their_place() {
        let now = Instant::now();
        let mut q = Queue::new(
            ShortStr::from_static("q"),
            false,
            None,
            false,
            FieldTable::new(),
            now,
        );
        for (i, b) in ["a", "b", "c", "d"].into_iter().enumerate() {
            q.enqueue(message(i as u64, b), None, now);
        }
        let a = q.store.pop().unwrap();
        let b = q.store.pop().unwrap();
        let c = q.store.pop().unwrap();
        q.store.requeue(c);
        q.store.requeue(a);
        q.store.requeue(b);
        assert_eq!(bodies(&mut q), ["a", "b", "c", "d"]);
    }

    #[test]
    fn max_length_drops_the_head_or_rejects_the_publish() {
        let mut args = FieldTable::new();
        args.insert(ShortStr::from_static("x-max-length"), FieldValue::I64(2));
        let now = Instant::now();
        let mut q = Queue::new(
            ShortStr::from_static("q"),
            false,
            None,
            false,
            args.clone(),
            now,
        );
        for (i, b) in ["a", "b", "c"].into_iter().enumerate() {
            let (taken, dropped) = q.enqueue(message(i as u64, b), None, now);
            assert!(taken);
            assert_eq!(dropped.len(), usize::from(b == "c"));
        }
        assert_eq!(bodies(&mut q), ["b", "c"]);
        args.insert(
            ShortStr::from_static("x-overflow"),
            FieldValue::LongStr(Bytes::from_static(b"reject-publish")),
        );
        let mut q = Queue::new(ShortStr::from_static("q"), false, None, false, args, now);
        let taken: Vec<bool> = ["a", "b", "c"]
            .into_iter()
            .enumerate()
            .map(|(i, b)| q.enqueue(message(i as u64, b), None, now).0)
            .collect();
        assert_eq!(taken, [true, true, false]);
        assert_eq!(bodies(&mut q), ["a", "b"]);
    }

    #[test]
    fn higher_priorities_go_first_and_keep_their_order_within_a_level() {
        let now = Instant::now();
        let mut args = FieldTable::new();
        args.insert(ShortStr::from_static("x-max-priority"), FieldValue::I64(5));
        let mut q = Queue::new(ShortStr::from_static("q"), false, None, false, args, now);
        for (i, (body, p)) in [
            ("low", 0),
            ("high", 5),
            ("mid", 3),
            ("high2", 9),
            ("none", 99),
        ]
        .into_iter()
        .enumerate()
        {
            let mut properties = BasicProperties::default();
            if body != "none" {
                properties.priority = Some(p);
            }
            let m = Message::new(
                i as u64,
                ShortStr::from_static(""),
                ShortStr::from_static("q"),
                properties,
                Bytes::from_static(body.as_bytes()),
                &Default::default(),
            );
            q.enqueue(Rc::new(m), None, now);
        }
        // 9 counts as the maximum, 5; a message without a priority has 0.
        assert_eq!(bodies(&mut q), ["high", "high2", "mid", "low", "none"]);
    }

    #[test]
    fn messages_expire_at_the_head_with_the_shorter_ttl() {
        let now = Instant::now();
        let mut args = FieldTable::new();
        args.insert(
            ShortStr::from_static("x-message-ttl"),
            FieldValue::I64(1000),
        );
        let mut q = Queue::new(ShortStr::from_static("q"), false, None, false, args, now);
        q.enqueue(message(1, "queue ttl"), None, now);
        q.enqueue(message(2, "own ttl 5 s"), Some(Duration::from_secs(5)), now);
        q.enqueue(
            message(3, "own ttl 10 ms"),
            Some(Duration::from_millis(10)),
            now,
        );
        assert!(q.take_expired(now + Duration::from_millis(1000)).is_empty());
        // The 10 ms message waits behind the head until the head expires.
        let expired = q.take_expired(now + Duration::from_millis(1001));
        let names: Vec<u64> = expired.iter().map(|e| e.message.id).collect();
        assert_eq!(names, [1, 2, 3]);
    }
}
