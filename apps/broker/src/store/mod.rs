//! The on-disk log of durable queues: persistent messages survive a crash (kill -9, power
//! loss) and queues can hold more than memory. The log stores messages and forgets the ones
//! its caller settles; it does no routing and knows nothing else of AMQP.
//!
//! # Layout
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the format (below) |
//! | `record.rs` | [`Place`], [`StoredMessage`]; a record's bytes: encoding, checks, decoding (no IO) |
//! | `backlog.rs` | [`Backlog`]: the recovered records' places and body lengths (no IO) |
//! | `segment.rs` | one segment in memory (offsets, settled bits, batch) and its recovery |
//! | `log.rs` | [`QueueLog`]: a queue's directory — append, settle, write, sync, read, recover |
//! | `tests.rs` | round trips, rolling, torn tails, damage, failed writes, fuzzing |
//!
//! # Files
//!
//! Each durable queue has its own directory. Its messages go to append-only segment files
//! `msgs.0000000001`, `msgs.0000000002`, …: a new one is started when the next record would
//! take the current one past `segment_size` (default 8 MiB; a larger record gets a segment of
//! its own, records are never split). Beside each segment, `acks.0000000001` lists the offsets
//! of its records that are settled (acked, dropped, dead-lettered, expired, purged) as u32 LE,
//! one after the other. A segment whose records are all settled, other than the last one, is
//! removed with its ack file (the data file first: an ack file left alone is removed at the
//! next open, while records without their acks would come back). The last one is too once it
//! is wholly settled and longer than 1 MiB: a new, empty segment is started in its place.
//!
//! A segment file starts with an 8-byte header, `SPNDLQ` and the format version (u16 LE, 1),
//! followed by records:
//!
//! ```text
//! +--------+------+-------------+-------------+-----------------+
//! | marker | kind | len (u32LE) | crc (u32LE) | payload         |
//! | 0xA7   | 1    |             |             | len bytes       |
//! +--------+------+-------------+-------------+-----------------+
//! crc: CRC32 (IEEE, crc32fast) of kind, len and payload
//!
//! payload of kind 1 (a message):
//! +-----------+-------+--------+----------+--------+-------------+------------+-------------+------+
//! | id u64 LE | flags | ex len | exchange | rk len | routing key | properties | body u32 LE | body |
//! +-----------+-------+--------+----------+--------+-------------+------------+-------------+------+
//! flags: 0x01 persistent (the others are 0); ex len, rk len: u8;
//! properties: BasicProperties::encode (property flags, then the present properties)
//! ```
//!
//! A payload holds at most 1 GiB. Transient records are paged-out messages: they are never
//! recovered and count as settled after a restart.
//!
//! # Recovery
//!
//! Every byte read from a file is untrusted: lengths are checked against their bounds and what
//! the file holds before anything is allocated or sliced. A record whose header or CRC does not
//! check is skipped by scanning forward for the next marker that starts a record whose CRC
//! checks; damage at the end of the last segment (a write torn by a crash) is truncated away so
//! that appending goes on after the last good record. Opening never fails over damaged
//! contents, only over IO errors.
//!
//! Opening reads every segment once, front to back in 1 MiB reads, and checks every record's
//! CRC, but keeps no message: it hands back each unsettled persistent record's place and body
//! length ([`Backlog`], 12 bytes a record) and the caller reads back the ones it wants. What the
//! log itself keeps is per record: its offset (4 bytes) and a settled bit.
//!
//! # Durability
//!
//! [`QueueLog::append`] and [`QueueLog::settle`] only add to an in-memory batch;
//! [`QueueLog::write`] writes it (one `pwrite` per segment and ack file touched);
//! [`QueueLog::sync`] fsyncs what was written, and the directory when files came or went. The
//! caller acknowledges a persistent message to its publisher only after the sync.

mod backlog;
mod log;
mod record;
mod segment;

#[cfg(test)]
mod tests;

pub(crate) use backlog::Backlog;
pub(crate) use log::QueueLog;
#[cfg(test)]
pub(crate) use log::{Recovery, WriteFailed};
pub(crate) use record::{Place, StoredMessage};
