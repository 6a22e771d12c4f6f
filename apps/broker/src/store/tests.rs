//! The queue log against real files in temporary directories: round trips, rolling and
//! removal of settled segments, torn tails, damaged records, failed writes, fuzzed files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use spindle_protocols::amqp::{BasicProperties, FieldTable, FieldValue, ShortStr};

use super::record::{FILE_HEADER_LEN, RECORD_HEADER_LEN};
use super::{Place, QueueLog, Recovery, StoredMessage, WriteFailed};

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("spindle-store-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    /// The queue's directory, one level down (so that the log creates it).
    fn queue(&self) -> PathBuf {
        self.0.join("queue")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// xorshift64*, as in connection/tests.rs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn name(s: &str) -> ShortStr {
    ShortStr::try_from(s).unwrap()
}

/// A message with every kind of field filled in, `body_len` bytes of body.
fn message(rng: &mut Rng, id: u64, persistent: bool, body_len: usize) -> StoredMessage {
    let mut headers = FieldTable::default();
    headers.insert(name("x-id"), FieldValue::I64(id as i64));
    headers.insert(
        name("x-nested"),
        FieldValue::Array(vec![FieldValue::LongStr(Bytes::from(rng.bytes(5)))]),
    );
    let properties = BasicProperties {
        content_type: Some(name("application/octet-stream")),
        headers: if rng.chance(3) { None } else { Some(headers) },
        delivery_mode: Some(if persistent { 2 } else { 1 }),
        priority: rng.chance(2).then_some(3),
        correlation_id: Some(ShortStr::from_bytes(Bytes::from(rng.bytes(12))).unwrap()),
        timestamp: Some(rng.next()),
        ..BasicProperties::default()
    };
    StoredMessage {
        id,
        persistent,
        exchange: if rng.chance(4) {
            ShortStr::new()
        } else {
            name("amq.topic")
        },
        routing_key: ShortStr::from_bytes(Bytes::from(vec![b'k'; rng.below(256)])).unwrap(),
        properties,
        body: Bytes::from(rng.bytes(body_len)),
    }
}

fn append(log: &mut QueueLog, m: &StoredMessage) -> Place {
    log.append(
        m.id,
        m.persistent,
        &m.exchange,
        &m.routing_key,
        &m.properties,
        &m.body,
    )
    .unwrap()
}

fn open(dir: &Path, segment_size: u64) -> (QueueLog, Found) {
    let (log, recovery) = QueueLog::open(dir, segment_size).unwrap();
    let found = read_back(&log, recovery);
    (log, found)
}

/// A [`Recovery`] with its messages read back from the log.
struct Found {
    messages: Vec<(Place, StoredMessage)>,
    torn: Option<(PathBuf, u64)>,
    skipped: Vec<(PathBuf, u64)>,
}

/// Reads back every recovered message, checking the body length recovery gave for it.
fn read_back(log: &QueueLog, recovery: Recovery) -> Found {
    let messages = recovery
        .messages
        .into_iter()
        .map(|(place, body_len)| {
            let m = log.read(place).unwrap();
            assert_eq!(body_len as usize, m.body.len(), "{place:?}");
            (place, m)
        })
        .collect();
    Found {
        messages,
        torn: recovery.torn,
        skipped: recovery.skipped,
    }
}

fn commit(log: &mut QueueLog) {
    log.write().unwrap();
    log.sync().unwrap();
    assert!(!log.is_dirty());
}

/// The segment files in `dir`, in order.
fn segments(dir: &Path) -> Vec<PathBuf> {
    files(dir, "msgs.")
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    found.sort();
    found
}

/// Every file of `dir` and its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    all.sort();
    all
}

fn ids(recovery: &Found) -> Vec<u64> {
    recovery.messages.iter().map(|(_, m)| m.id).collect()
}

/// Writes `n` persistent messages of `body_len` bytes to a fresh log in `dir`, synced; returns
/// them with their places.
fn fill(dir: &Path, n: u64, body_len: usize) -> Vec<(Place, StoredMessage)> {
    fill_sized(dir, n, body_len, 8 << 20)
}

fn fill_sized(dir: &Path, n: u64, body_len: usize, size: u64) -> Vec<(Place, StoredMessage)> {
    let mut rng = Rng::new(7);
    let (mut log, _) = open(dir, size);
    let mut stored = Vec::new();
    for id in 0..n {
        let m = message(&mut rng, id, true, body_len);
        stored.push((append(&mut log, &m), m));
    }
    commit(&mut log);
    stored
}

#[test]
fn round_trip_keeps_unsettled_persistent_messages_in_order() {
    let tmp = TempDir::new("round-trip");
    let dir = tmp.queue();
    let mut rng = Rng::new(1);
    let (mut log, recovery) = open(&dir, 1 << 20);
    assert!(recovery.messages.is_empty() && recovery.torn.is_none());
    assert!(recovery.skipped.is_empty());
    let sizes = [0, 1, 100, 1024, 4096, 65_536, 131_072, 300_000];
    let mut expected = Vec::new();
    for id in 0..80u64 {
        let persistent = !rng.chance(3);
        let body_len = sizes[rng.below(sizes.len())];
        let m = message(&mut rng, id, persistent, body_len);
        let place = append(&mut log, &m);
        if persistent && rng.chance(4) {
            log.settle(place);
        } else if persistent {
            expected.push((place, m));
        }
        if rng.chance(10) {
            commit(&mut log);
        }
    }
    commit(&mut log);
    assert!(segments(&dir).len() > 2, "1 MiB segments rolled");
    drop(log);

    let (log, recovery) = open(&dir, 1 << 20);
    assert!(recovery.torn.is_none() && recovery.skipped.is_empty());
    assert_eq!(recovery.messages.len(), expected.len());
    for ((place, m), (want_place, want)) in recovery.messages.iter().zip(&expected) {
        assert_eq!(place, want_place);
        assert_eq!(m, want);
        assert_eq!(&log.read(*place).unwrap(), want);
    }
    // Reopened twice: the same.
    drop(log);
    let (_, again) = open(&dir, 1 << 20);
    assert_eq!(again.messages, recovery.messages);
}

#[test]
fn segments_roll_and_settled_ones_are_removed() {
    let tmp = TempDir::new("roll");
    let dir = tmp.queue();
    let size = 8 * 1024;
    let mut rng = Rng::new(2);
    let (mut log, _) = open(&dir, size);
    let mut places = Vec::new();
    for id in 0..60 {
        let m = message(&mut rng, id, true, 1000);
        places.push(append(&mut log, &m));
    }
    commit(&mut log);
    let files = segments(&dir);
    assert!(files.len() >= 8, "{} segments", files.len());
    for file in &files {
        let len = fs::metadata(file).unwrap().len();
        assert!(len <= size, "{} holds {len} bytes", file.display());
    }
    // Records are never split: every segment's records end at its end.
    for place in &places {
        assert!(u64::from(place.offset) + u64::from(place.len) <= size);
    }
    let full = log.disk_bytes();
    assert!(full > 60 * 1000);

    // Settling the first segment's records but one keeps it; the last one removes it.
    let first: Vec<Place> = places
        .iter()
        .copied()
        .filter(|p| p.segment == places[0].segment)
        .collect();
    for p in &first[1..] {
        log.settle(*p);
    }
    commit(&mut log);
    assert_eq!(segments(&dir).len(), files.len());
    assert!(dir.join(format!("acks.{:010}", places[0].segment)).exists());
    log.settle(first[0]);
    commit(&mut log);
    assert_eq!(segments(&dir).len(), files.len() - 1);
    assert!(!files[0].exists());
    assert!(!dir.join(format!("acks.{:010}", places[0].segment)).exists());

    // Settling everything leaves the last segment only.
    for p in &places {
        log.settle(*p);
        log.settle(*p); // twice: ignored
    }
    commit(&mut log);
    assert_eq!(segments(&dir), vec![files.last().unwrap().clone()]);
    assert!(log.disk_bytes() <= size + 64, "{} bytes", log.disk_bytes());
    assert!(log.disk_bytes() < full / 4);
    // Places of removed segments are ignored.
    log.settle(places[0]);
    assert!(log.read(places[0]).is_err());
    drop(log);
    let (_, recovery) = open(&dir, size);
    assert!(recovery.messages.is_empty());
}

#[test]
fn a_drained_queue_gives_its_segments_back() {
    let tmp = TempDir::new("drained");
    let dir = tmp.queue();
    let size = 2 << 20;
    let mut rng = Rng::new(15);
    let (mut log, _) = open(&dir, size);
    let mut places = Vec::new();
    // Three segments and half of a fourth.
    for id in 0.. {
        let place = append(&mut log, &message(&mut rng, id, true, 1000));
        places.push(place);
        if id % 1000 == 999 {
            commit(&mut log);
        }
        if place.segment >= places[0].segment + 3 && place.offset > 3 << 19 {
            break;
        }
    }
    commit(&mut log);
    assert!(segments(&dir).len() >= 3, "{:?}", segments(&dir));
    let last = *places.last().unwrap();
    let tail = fs::read(segments(&dir).pop().unwrap()).unwrap();
    assert!(tail.len() > 1 << 20, "the last segment holds over 1 MiB");
    for p in &places {
        log.settle(*p);
    }
    commit(&mut log);
    // Everything settled: one empty segment is left, the one written to before included.
    assert_eq!(log.disk_bytes(), FILE_HEADER_LEN);
    let left = segments(&dir);
    assert_eq!(left.len(), 1);
    assert!(files(&dir, "acks.").is_empty());
    assert!(!dir.join(format!("msgs.{:010}", last.segment)).exists());
    assert!(log.read(last).is_err());
    drop(log);
    let (mut log, found) = open(&dir, size);
    assert!(found.messages.is_empty());
    assert_eq!(log.disk_bytes(), FILE_HEADER_LEN);
    assert_eq!(segments(&dir), left);
    let m = message(&mut rng, 9000, true, 10);
    let place = append(&mut log, &m);
    assert_eq!(u64::from(place.offset), FILE_HEADER_LEN);
    commit(&mut log);
    drop(log);
    let (log, found) = open(&dir, size);
    assert_eq!(ids(&found), vec![9000]);
    drop(log);

    // A drained last segment found at open (its acks written, then a crash) goes too.
    let tmp2 = TempDir::new("drained-at-open");
    let dir2 = tmp2.queue();
    fs::create_dir_all(&dir2).unwrap();
    let name = format!("{:010}", last.segment);
    fs::write(dir2.join(format!("msgs.{name}")), &tail).unwrap();
    let acks: Vec<u8> = places
        .iter()
        .filter(|p| p.segment == last.segment)
        .flat_map(|p| p.offset.to_le_bytes())
        .collect();
    fs::write(dir2.join(format!("acks.{name}")), acks).unwrap();
    let (log, found) = open(&dir2, size);
    assert!(found.messages.is_empty());
    assert_eq!(log.disk_bytes(), FILE_HEADER_LEN);
    assert_eq!(segments(&dir2).len(), 1);
    assert!(!dir2.join(format!("msgs.{name}")).exists());
    assert!(files(&dir2, "acks.").is_empty());

    // A drained segment of 1 MiB or less stays: it is appended to, not replaced.
    let tmp3 = TempDir::new("drained-small");
    let dir3 = tmp3.queue();
    let (mut log, _) = open(&dir3, size);
    let small: Vec<Place> = (0..100)
        .map(|id| append(&mut log, &message(&mut rng, id, true, 1000)))
        .collect();
    commit(&mut log);
    let before = segments(&dir3);
    for p in &small {
        log.settle(*p);
    }
    commit(&mut log);
    assert_eq!(segments(&dir3), before);
    assert!(log.disk_bytes() > 100 * 1000);
}

#[test]
fn a_record_larger_than_a_segment_gets_its_own() {
    let tmp = TempDir::new("large");
    let dir = tmp.queue();
    let mut rng = Rng::new(3);
    let (mut log, _) = open(&dir, 4096);
    let small = message(&mut rng, 1, true, 100);
    let large = message(&mut rng, 2, true, 50_000);
    let p1 = append(&mut log, &small);
    let p2 = append(&mut log, &large);
    let p3 = append(&mut log, &small);
    assert_ne!(p1.segment, p2.segment);
    assert_ne!(p2.segment, p3.segment);
    assert_eq!(u64::from(p2.offset), FILE_HEADER_LEN);
    commit(&mut log);
    drop(log);
    let (_, recovery) = open(&dir, 4096);
    assert_eq!(ids(&recovery), vec![1, 2, 1]);
}

#[test]
fn transient_records_are_not_recovered() {
    let tmp = TempDir::new("transient");
    let dir = tmp.queue();
    let mut rng = Rng::new(4);
    let (mut log, _) = open(&dir, 4096);
    for id in 0..20 {
        let m = message(&mut rng, id, id % 2 == 0, 500);
        append(&mut log, &m);
    }
    commit(&mut log);
    let before = segments(&dir).len();
    drop(log);
    let (log, recovery) = open(&dir, 4096);
    assert_eq!(ids(&recovery), (0..20).step_by(2).collect::<Vec<_>>());
    // Transient records count as settled: segments holding only them are removed.
    drop(log);
    let tmp2 = TempDir::new("transient-only");
    let dir2 = tmp2.queue();
    let (mut log, _) = open(&dir2, 4096);
    for id in 0..20 {
        let m = message(&mut rng, id, false, 500);
        append(&mut log, &m);
    }
    commit(&mut log);
    assert!(segments(&dir2).len() > 2);
    drop(log);
    let (log, recovery) = open(&dir2, 4096);
    assert!(recovery.messages.is_empty());
    assert_eq!(segments(&dir2).len(), 1);
    assert!(before > 1);
    drop(log);
}

#[test]
fn a_torn_tail_loses_exactly_the_torn_record() {
    let tmp = TempDir::new("torn");
    let mut rng = Rng::new(5);
    for cut in [1, 5, 9, RECORD_HEADER_LEN, RECORD_HEADER_LEN + 1, 300, 999] {
        let dir = tmp.0.join(format!("cut-{cut}"));
        let stored = fill(&dir, 6, 1000);
        let (last, _) = stored[5];
        let path = segments(&dir).pop().unwrap();
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(u64::from(last.offset) + cut as u64).unwrap();
        drop(file);

        let (mut log, recovery) = open(&dir, 8 << 20);
        assert_eq!(
            recovery.torn,
            Some((path.clone(), u64::from(last.offset))),
            "cut {cut}"
        );
        assert!(recovery.skipped.is_empty(), "cut {cut}");
        assert_eq!(ids(&recovery), vec![0, 1, 2, 3, 4]);
        assert_eq!(fs::metadata(&path).unwrap().len(), u64::from(last.offset));
        let m = message(&mut rng, 99, true, 10);
        let place = append(&mut log, &m);
        assert_eq!(place.offset, last.offset);
        commit(&mut log);
        drop(log);

        let (_, recovery) = open(&dir, 8 << 20);
        assert_eq!(recovery.torn, None);
        assert!(recovery.skipped.is_empty());
        assert_eq!(ids(&recovery), vec![0, 1, 2, 3, 4, 99]);
        assert_eq!(recovery.messages[5].1, m);
    }
}

#[test]
fn a_torn_file_header_starts_over() {
    let tmp = TempDir::new("torn-header");
    let dir = tmp.queue();
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("msgs.0000000001"), b"SPN").unwrap();
    let (mut log, recovery) = open(&dir, 4096);
    assert!(recovery.messages.is_empty() && recovery.skipped.is_empty());
    let m = message(&mut Rng::new(6), 1, true, 10);
    append(&mut log, &m);
    commit(&mut log);
    drop(log);
    let (_, recovery) = open(&dir, 4096);
    assert_eq!(recovery.messages.len(), 1);
    assert_eq!(recovery.messages[0].1, m);
}

#[test]
fn a_damaged_record_in_the_middle_is_skipped() {
    let tmp = TempDir::new("damaged");
    // Where in the record a byte is flipped (negative: from its end): marker, kind, length (low
    // and high byte), CRC, payload (id, the body's length, the body).
    let hits: [(&str, isize, u8); 8] = [
        ("marker", 0, 0xff),
        ("kind", 1, 0x02),
        ("length low", 2, 0x01),
        ("length high", 5, 0x40),
        ("crc", 7, 0x10),
        ("id", RECORD_HEADER_LEN as isize + 3, 0x80),
        ("body length", -1002, 0x01),
        ("body", -10, 0x01),
    ];
    for (what, at, mask) in hits {
        let dir = tmp.0.join(what.replace(' ', "-"));
        let stored = fill(&dir, 7, 1000);
        let (victim, _) = stored[3];
        let path = segments(&dir).pop().unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let at = if at < 0 { victim.len as isize + at } else { at };
        bytes[victim.offset as usize + at as usize] ^= mask;
        fs::write(&path, &bytes).unwrap();

        let (mut log, recovery) = open(&dir, 8 << 20);
        assert_eq!(
            recovery.skipped,
            vec![(path.clone(), u64::from(victim.offset))],
            "{what}"
        );
        assert_eq!(recovery.torn, None, "{what}");
        assert_eq!(ids(&recovery), vec![0, 1, 2, 4, 5, 6], "{what}");
        for (place, m) in &recovery.messages {
            assert_eq!(stored[m.id as usize], (*place, m.clone()), "{what}");
        }
        assert!(log.read(victim).is_err(), "{what}");
        // Appending goes on after the last good record.
        let m = message(&mut Rng::new(8), 70, true, 10);
        append(&mut log, &m);
        commit(&mut log);
        drop(log);
        let (_, recovery) = open(&dir, 8 << 20);
        assert_eq!(ids(&recovery), vec![0, 1, 2, 4, 5, 6, 70], "{what}");
    }
}

#[test]
fn a_damaged_file_header_keeps_the_records() {
    let tmp = TempDir::new("bad-header");
    let dir = tmp.queue();
    fill(&dir, 3, 100);
    let path = segments(&dir).pop().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let (mut log, recovery) = open(&dir, 8 << 20);
    assert_eq!(recovery.skipped, vec![(path.clone(), 0)]);
    assert_eq!(ids(&recovery), vec![0, 1, 2]);
    // Not appended to: a new segment is started.
    let place = append(&mut log, &message(&mut Rng::new(9), 3, true, 1));
    assert_ne!(place.segment, recovery.messages[0].0.segment);
    commit(&mut log);
    drop(log);
    let (_, recovery) = open(&dir, 8 << 20);
    assert_eq!(ids(&recovery), vec![0, 1, 2, 3]);
}

#[test]
fn acks_survive_a_reopen_and_a_torn_ack_entry_is_cut() {
    let tmp = TempDir::new("acks");
    let dir = tmp.queue();
    let stored = fill(&dir, 5, 100);
    let (mut log, _) = open(&dir, 8 << 20);
    log.settle(stored[1].0);
    log.settle(stored[3].0);
    commit(&mut log);
    drop(log);
    let acks = files(&dir, "acks.").pop().unwrap();
    assert_eq!(fs::metadata(&acks).unwrap().len(), 8);
    // A torn third entry.
    let mut bytes = fs::read(&acks).unwrap();
    bytes.extend_from_slice(&[1, 2]);
    fs::write(&acks, &bytes).unwrap();
    let (mut log, recovery) = open(&dir, 8 << 20);
    assert_eq!(ids(&recovery), vec![0, 2, 4]);
    assert_eq!(fs::metadata(&acks).unwrap().len(), 8);
    log.settle(stored[0].0);
    commit(&mut log);
    drop(log);
    let (_, recovery) = open(&dir, 8 << 20);
    assert_eq!(ids(&recovery), vec![2, 4]);
}

#[test]
fn an_ack_that_outlived_its_record_settles_nothing_new() {
    let tmp = TempDir::new("stale-ack");
    let dir = tmp.queue();
    let stored = fill(&dir, 3, 100);
    let (mut log, _) = open(&dir, 8 << 20);
    log.settle(stored[2].0);
    commit(&mut log);
    drop(log);
    // A crash kept the ack but not the record it settles.
    let path = segments(&dir).pop().unwrap();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(u64::from(stored[2].0.offset)).unwrap();
    drop(file);
    let (mut log, recovery) = open(&dir, 8 << 20);
    assert_eq!(ids(&recovery), vec![0, 1]);
    let m = message(&mut Rng::new(14), 9, true, 100);
    let place = append(&mut log, &m);
    assert_ne!(
        place.segment, stored[2].0.segment,
        "not appended where the ack points"
    );
    commit(&mut log);
    drop(log);
    let (_, recovery) = open(&dir, 8 << 20);
    assert_eq!(ids(&recovery), vec![0, 1, 9]);
}

#[test]
fn an_ack_file_without_its_segment_is_removed() {
    let tmp = TempDir::new("orphan");
    let dir = tmp.queue();
    fill(&dir, 1, 10);
    fs::write(dir.join("acks.0000000077"), [8, 0, 0, 0]).unwrap();
    let (_, recovery) = open(&dir, 8 << 20);
    assert_eq!(recovery.messages.len(), 1);
    assert!(!dir.join("acks.0000000077").exists());
}

#[test]
fn a_failed_write_loses_the_batch_only() {
    let tmp = TempDir::new("write-fails");
    let dir = tmp.queue();
    let mut rng = Rng::new(10);
    let (mut log, _) = open(&dir, 4096);
    let first: Vec<StoredMessage> = (0..3).map(|id| message(&mut rng, id, true, 500)).collect();
    let first_places: Vec<Place> = first.iter().map(|m| append(&mut log, m)).collect();
    commit(&mut log);
    let before = snapshot(&dir);
    let bytes = log.disk_bytes();

    // A batch across two segments whose second write fails (after half its bytes).
    for (after, kind) in [
        (0, io::ErrorKind::StorageFull),
        (1, io::ErrorKind::StorageFull),
        (2, io::ErrorKind::ReadOnlyFilesystem),
    ] {
        log.faults.fail_after = Some((after, kind));
        let batch: Vec<StoredMessage> = (10..18)
            .map(|id| message(&mut rng, id, true, 500))
            .collect();
        let places: Vec<Place> = batch.iter().map(|m| append(&mut log, m)).collect();
        assert!(places.iter().any(|p| p.segment != places[0].segment));
        log.settle(first_places[1]);
        assert!(log.read(places[0]).is_ok(), "served from the batch");
        let failed: WriteFailed = log.write().unwrap_err();
        assert_eq!(failed.error.kind(), kind);
        let mut lost = failed.lost.clone();
        lost.sort();
        let mut want = places.clone();
        want.sort();
        assert_eq!(lost, want, "after {after}");
        assert_eq!(snapshot(&dir), before, "after {after}");
        assert_eq!(log.disk_bytes(), bytes);
        for p in &places {
            assert_eq!(log.read(*p).unwrap_err().kind(), io::ErrorKind::NotFound);
            log.settle(*p); // ignored
        }
        assert!(log.is_dirty());
    }

    // The next batch works, in a new segment, and carries the settle.
    let later = message(&mut rng, 20, true, 500);
    let place = append(&mut log, &later);
    assert!(place.segment > first_places[2].segment);
    commit(&mut log);
    assert_eq!(log.read(place).unwrap(), later);
    drop(log);
    let (_, recovery) = open(&dir, 4096);
    assert!(recovery.torn.is_none() && recovery.skipped.is_empty());
    assert_eq!(ids(&recovery), vec![0, 2, 20]);
}

#[test]
fn a_failed_ack_write_keeps_the_settles_for_the_next_batch() {
    let tmp = TempDir::new("ack-fails");
    let dir = tmp.queue();
    let stored = fill(&dir, 4, 100);
    let (mut log, _) = open(&dir, 8 << 20);
    log.settle(stored[0].0);
    log.faults.fail_after = Some((0, io::ErrorKind::Other));
    let failed = log.write().unwrap_err();
    assert!(failed.lost.is_empty());
    assert!(log.is_dirty());
    commit(&mut log);
    drop(log);
    let (_, recovery) = open(&dir, 8 << 20);
    assert_eq!(ids(&recovery), vec![1, 2, 3]);
}

#[test]
fn read_serves_the_batch_and_the_files() {
    let tmp = TempDir::new("read");
    let dir = tmp.queue();
    let mut rng = Rng::new(11);
    let (mut log, _) = open(&dir, 4096);
    let a = message(&mut rng, 1, true, 3000);
    let b = message(&mut rng, 2, false, 0);
    let pa = append(&mut log, &a);
    let pb = append(&mut log, &b);
    assert_eq!(log.read(pa).unwrap(), a);
    assert_eq!(log.read(pb).unwrap(), b);
    assert!(log.is_dirty());
    log.write().unwrap();
    assert_eq!(log.read(pa).unwrap(), a);
    assert_eq!(log.read(pb).unwrap(), b);
    // Places that name no record.
    for bogus in [
        Place {
            offset: pa.offset + 1,
            ..pa
        },
        Place { segment: 999, ..pa },
        Place {
            len: pa.len + 5,
            ..pa
        },
        Place {
            len: u32::MAX,
            ..pa
        },
    ] {
        assert!(log.read(bogus).is_err(), "{bogus:?}");
    }
    // A record damaged after it was written.
    let path = segments(&dir).remove(0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[pa.offset as usize + 100] ^= 1;
    fs::write(&path, &bytes).unwrap();
    assert_eq!(log.read(pa).unwrap_err().kind(), io::ErrorKind::InvalidData);
}

#[test]
fn clear_removes_everything_and_starts_afresh() {
    let tmp = TempDir::new("clear");
    let dir = tmp.queue();
    let mut rng = Rng::new(12);
    let (mut log, _) = open(&dir, 4096);
    let mut places = Vec::new();
    for id in 0..30 {
        places.push(append(&mut log, &message(&mut rng, id, true, 700)));
        if id == 20 {
            commit(&mut log);
        }
    }
    log.clear().unwrap();
    log.sync().unwrap();
    assert_eq!(segments(&dir).len(), 1);
    assert_eq!(log.disk_bytes(), FILE_HEADER_LEN);
    for p in &places {
        log.settle(*p);
        assert!(log.read(*p).is_err());
    }
    let m = message(&mut rng, 40, true, 10);
    append(&mut log, &m);
    commit(&mut log);
    drop(log);
    let (log, recovery) = open(&dir, 4096);
    assert_eq!(ids(&recovery), vec![40]);
    log.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn unstorable_messages_are_refused() {
    let tmp = TempDir::new("unstorable");
    let dir = tmp.queue();
    let (mut log, _) = open(&dir, 4096);
    let mut deep = FieldTable::default();
    for _ in 0..70 {
        let mut outer = FieldTable::default();
        outer.insert(name("t"), FieldValue::Table(deep));
        deep = outer;
    }
    let properties = BasicProperties {
        headers: Some(deep),
        ..BasicProperties::default()
    };
    let err = log
        .append(
            1,
            true,
            &ShortStr::new(),
            &ShortStr::new(),
            &properties,
            b"x",
        )
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let m = message(&mut Rng::new(13), 2, true, 10);
    let place = append(&mut log, &m);
    assert_eq!(u64::from(place.offset), FILE_HEADER_LEN);
    commit(&mut log);
    drop(log);
    let (_, recovery) = open(&dir, 4096);
    assert_eq!(ids(&recovery), vec![2]);
}

/// Random garbage and random damage to valid files never make `open` panic or fail, and what
/// it recovers is always a message that was stored.
#[test]
fn fuzzed_files_never_break_open() {
    let seed = std::env::var("STORE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_5702E);
    let mut rng = Rng::new(seed);
    let tmp = TempDir::new("fuzz");
    for round in 0..120 {
        let dir = tmp.0.join(format!("round-{round}"));
        let count = 1 + rng.below(12) as u64;
        let body = rng.below(600);
        let stored = fill_sized(&dir, count, body, 2048);
        let paths = segments(&dir);
        let path = &paths[rng.below(paths.len())];
        let mut bytes = fs::read(path).unwrap();
        match rng.below(6) {
            0 => {
                let len = rng.below(20_000);
                bytes = rng.bytes(len);
            }
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            2 => {
                let at = rng.below(bytes.len());
                let len = rng.below(bytes.len() - at);
                let garbage = rng.bytes(len);
                bytes.splice(at..at + len, garbage);
            }
            3 => bytes.truncate(rng.below(bytes.len())),
            4 => {
                // A record header claiming a huge or a misleading length.
                let at = rng.below(bytes.len());
                let mut fake = vec![0xA7, 1];
                fake.extend_from_slice(&(rng.next() as u32).to_le_bytes());
                fake.extend_from_slice(&(rng.next() as u32).to_le_bytes());
                bytes.splice(at..at, fake);
            }
            _ => {
                let acks = dir.join(
                    path.file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .replace("msgs", "acks"),
                );
                let len = rng.below(100);
                fs::write(acks, rng.bytes(len)).unwrap();
            }
        }
        fs::write(path, &bytes).unwrap();

        let (mut log, recovery) = QueueLog::open(&dir, 2048)
            .unwrap_or_else(|e| panic!("seed {seed:#x} round {round}: {e}"));
        let recovery = read_back(&log, recovery);
        assert!(recovery.messages.len() <= stored.len());
        let mut last_id = None;
        for (place, m) in &recovery.messages {
            // Places move when bytes were inserted; the messages do not change.
            assert_eq!(m, &stored[m.id as usize].1, "seed {seed:#x} round {round}");
            assert!(last_id < Some(m.id), "in order");
            last_id = Some(m.id);
            assert_eq!(&log.read(*place).unwrap(), m);
        }
        // The log goes on working.
        let m = message(&mut rng, 1000, true, 10);
        append(&mut log, &m);
        commit(&mut log);
        drop(log);
        let (_, again) = open(&dir, 2048);
        assert_eq!(again.messages.last().map(|(_, m)| m.id), Some(1000));
        assert!(again.torn.is_none());
    }
}

/// 100,000 records of 1 KB appended, written and synced in batches of 1,000: run with
/// `cargo test -p spindle-broker --release -- --ignored --nocapture store_throughput`.
#[test]
#[ignore]
fn store_throughput() {
    let tmp = TempDir::new("throughput");
    let dir = tmp.queue();
    let (mut log, _) = open(&dir, 8 << 20);
    let properties = BasicProperties {
        delivery_mode: Some(2),
        ..BasicProperties::default()
    };
    let (exchange, key) = (name("amq.direct"), name("bench"));
    let body = vec![0x5a; 1024];
    let start = std::time::Instant::now();
    for batch in 0..100u64 {
        for i in 0..1000 {
            log.append(batch * 1000 + i, true, &exchange, &key, &properties, &body)
                .unwrap();
        }
        log.write().unwrap();
        log.sync().unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "100,000 x 1 KB: {elapsed:?}, {:.0} records/s, {:.1} MB/s, {} bytes on disk",
        100_000.0 / elapsed.as_secs_f64(),
        log.disk_bytes() as f64 / elapsed.as_secs_f64() / 1e6,
        log.disk_bytes()
    );
}
