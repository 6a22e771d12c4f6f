//! What the store's writes look like to those who replay them — the append-only file and
//! replicas, which must end with the same data without running anything that depends on time,
//! chance or the order of other clients (Redis's `propagate`/`alsoPropagate`).
//!
//! Every write command is propagated as it was received unless its handler said otherwise:
//! [`Propagation::replace`] puts a deterministic form in its place (EXPIRE as PEXPIREAT,
//! INCRBYFLOAT as SET … KEEPTTL, SPOP as SREM, a blocking pop as the pop it did).
//! Keys found expired are
//! propagated as DEL, since a replica or a replay does not expire keys of its own accord.
//!
//! What one command line from a client did is one *unit*: its vectors are collected while it
//! runs and written out when it ends ([`Propagation::end_unit`]) — one command as itself, more
//! than one (EXEC, a script, an expiry and the command that met it) wrapped in MULTI/EXEC, so
//! that a replay applies them together or not at all, as Redis 7.0 does.
//!
//! The units are encoded once as RESP into each [`Feed`] that is on — the AOF's and the
//! replication stream's — each with the database it last selected, so that a SELECT goes
//! before a command only when the database changes.

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{ReplyWriter, Version};

/// One consumer's stream of encoded commands.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    /// Encoded commands not yet taken by the consumer.
    pub(crate) buf: BytesMut,
    /// The database the stream last selected (`None`: none yet, the next command selects).
    db: Option<usize>,
    /// Bytes ever appended (the replication offset's source; the AOF's size since its start).
    pub(crate) appended: u64,
}

impl Feed {
    /// Appends `argv`, run in `db`.
    fn push(&mut self, db: usize, argv: &[Bytes]) {
        let before = self.buf.len();
        if self.db != Some(db) {
            let n = db.to_string();
            encode(&mut self.buf, &[b"SELECT", n.as_bytes()]);
            self.db = Some(db);
        }
        encode(&mut self.buf, argv);
        self.appended += (self.buf.len() - before) as u64;
    }

    /// Appends a command that is not tied to a database (MULTI, EXEC).
    fn push_plain(&mut self, argv: &[&[u8]]) {
        let before = self.buf.len();
        encode(&mut self.buf, argv);
        self.appended += (self.buf.len() - before) as u64;
    }
}

/// Appends `argv` as a RESP array of bulk strings (a command as a client sends it), written by
/// the codec's reply writer, whose length lines need no allocation.
pub(crate) fn encode<A: AsRef<[u8]>>(out: &mut BytesMut, argv: &[A]) {
    let mut w = ReplyWriter::new(Version::Resp2, out);
    w.array_len(argv.len());
    for a in argv {
        w.bulk(a.as_ref());
    }
}

/// The propagation state: the unit being collected and the feeds.
#[derive(Debug, Default)]
pub(crate) struct Propagation {
    /// What the running command's handler chose to propagate instead of itself (`None`: the
    /// command as received).
    replaced: Option<Vec<Vec<Bytes>>>,
    /// The unit's vectors so far, with their databases.
    unit: Vec<(usize, Vec<Bytes>)>,
    /// How deep in units we are (a command run from within a command, as a script's, does
    /// not end the unit of its caller).
    depth: u32,
    /// The append-only file's feed, while appendonly is on.
    pub(crate) aof: Option<Feed>,
    /// The replication stream's feed, while there are replicas or a backlog to keep.
    pub(crate) repl: Option<Feed>,
}

impl Propagation {
    /// Turns the replication feed on (a master's first replica, or a promotion), its next
    /// command selecting its database.
    pub(crate) fn start_repl_feed(&mut self) {
        self.repl.get_or_insert_with(Feed::default).db = None;
    }

    /// Turns the replication feed off (this server follows a master, whose stream it relays
    /// as it came).
    pub(crate) fn stop_repl_feed(&mut self) {
        self.repl = None;
    }

    /// Makes the replication feed's next command select its database (a replica starts from
    /// a snapshot).
    pub(crate) fn reselect_repl(&mut self) {
        if let Some(feed) = &mut self.repl {
            feed.db = None;
        }
    }

    /// Replication-stream bytes encoded but not yet taken.
    pub(crate) fn repl_pending(&self) -> usize {
        self.repl.as_ref().map_or(0, |f| f.buf.len())
    }

    /// Whether anything consumes propagated writes (handlers may skip building a replacement
    /// when nothing does).
    pub(crate) fn is_on(&self) -> bool {
        self.aof.is_some() || self.repl.is_some()
    }

    /// Propagates `argv` in place of the running command (called again, after it: a command
    /// that stands for several, such as a pop that emptied a key and deleted it).
    pub(crate) fn replace(&mut self, argv: Vec<Bytes>) {
        self.replaced.get_or_insert_with(Vec::new).push(argv);
    }

    /// Propagates nothing for the running command, though it wrote (what it changed went
    /// out another way, or needs no replay).
    pub(crate) fn suppress(&mut self) {
        self.replaced.get_or_insert_with(Vec::new);
    }

    /// A command is about to run: forgets a replacement left from a command that failed
    /// before it could be used.
    pub(crate) fn command_start(&mut self) {
        self.replaced = None;
    }

    /// A command ran in `db`: adds what it propagates to the unit — its replacement if its
    /// handler made one, else the command itself if it wrote.
    pub(crate) fn command_done(&mut self, db: usize, args: &[Bytes], wrote: bool) {
        if !self.is_on() {
            self.replaced = None;
            return;
        }
        match self.replaced.take() {
            Some(vectors) => self.unit.extend(vectors.into_iter().map(|v| (db, v))),
            None if wrote => self.unit.push((db, args.to_vec())),
            None => {}
        }
    }

    /// `key` of `db` was found expired and deleted: a DEL in the running unit, or a unit of
    /// its own outside one (the active expiry cycle).
    pub(crate) fn expired(&mut self, db: usize, key: &[u8]) {
        if !self.is_on() {
            return;
        }
        self.begin_unit();
        let del = vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)];
        self.unit.push((db, del));
        self.end_unit();
    }

    /// `key` of `db` was evicted to make room: a DEL written at once, on its own, as Redis
    /// propagates evictions before the command that needed the room and never inside its
    /// MULTI.
    pub(crate) fn evicted(&mut self, db: usize, key: &[u8]) {
        let del = [Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)];
        for feed in [self.aof.as_mut(), self.repl.as_mut()]
            .into_iter()
            .flatten()
        {
            feed.push(db, &del);
        }
    }

    /// A unit begins (a client's command line, an expiry pass).
    pub(crate) fn begin_unit(&mut self) {
        self.depth += 1;
    }

    /// A unit ends: its vectors go to every feed, wrapped in MULTI/EXEC if there is more
    /// than one. Nested units end with the outermost.
    pub(crate) fn end_unit(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        if self.depth > 0 || self.unit.is_empty() {
            return;
        }
        let unit = std::mem::take(&mut self.unit);
        let wrap = unit.len() > 1;
        for feed in [self.aof.as_mut(), self.repl.as_mut()]
            .into_iter()
            .flatten()
        {
            if wrap {
                feed.push_plain(&[b"MULTI"]);
            }
            for (db, argv) in &unit {
                feed.push(*db, argv);
            }
            if wrap {
                feed.push_plain(&[b"EXEC"]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &str) -> Vec<Bytes> {
        words
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn on() -> Propagation {
        Propagation {
            aof: Some(Feed::default()),
            ..Propagation::default()
        }
    }

    fn taken(p: &mut Propagation) -> String {
        let feed = p.aof.as_mut().unwrap();
        String::from_utf8(feed.buf.split().to_vec()).unwrap()
    }

    #[test]
    fn writes_go_out_as_received_with_a_select_when_the_database_changes() {
        let mut p = on();
        for (db, words, wrote) in [
            (0, "SET a 1", true),
            (0, "GET a", false),
            (0, "DEL a", true),
        ] {
            p.begin_unit();
            p.command_start();
            p.command_done(db, &argv(words), wrote);
            p.end_unit();
        }
        p.begin_unit();
        p.command_done(3, &argv("INCR n"), true);
        p.end_unit();
        let appended = p.aof.as_ref().unwrap().appended;
        let out = taken(&mut p);
        assert_eq!(appended, out.len() as u64);
        assert_eq!(
            out,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\na\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
        );
    }

    #[test]
    fn a_replacement_stands_for_the_command() {
        let mut p = on();
        p.begin_unit();
        p.command_start();
        p.replace(argv("PEXPIREAT k 1700000000000"));
        p.command_done(0, &argv("EXPIRE k 10"), true);
        p.end_unit();
        let out = taken(&mut p);
        assert!(out.ends_with("*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$13\r\n1700000000000\r\n"));
        assert!(!out.contains("EXPIRE\r\n"));
    }

    #[test]
    fn a_unit_of_several_is_one_transaction_and_nested_units_end_with_the_outer() {
        let mut p = on();
        p.begin_unit();
        p.expired(0, b"old");
        p.begin_unit();
        p.command_done(0, &argv("SET a 1"), true);
        p.end_unit();
        assert_eq!(taken(&mut p), "", "the inner unit waits for the outer");
        p.command_done(0, &argv("SET b 2"), true);
        p.end_unit();
        let out = taken(&mut p);
        assert!(out.starts_with("*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT"));
        assert!(out.ends_with("*1\r\n$4\r\nEXEC\r\n"));
        assert_eq!(out.matches("SET\r\n").count(), 2);
        assert!(out.contains("$3\r\nDEL\r\n$3\r\nold\r\n"));
    }

    #[test]
    fn nothing_is_kept_while_nothing_consumes() {
        let mut p = Propagation::default();
        p.begin_unit();
        p.expired(0, b"k");
        p.command_done(0, &argv("SET a 1"), true);
        p.end_unit();
        assert!(p.unit.is_empty());
    }
}
