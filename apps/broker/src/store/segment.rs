//! One segment: its files' names, what the log knows of it in memory (record offsets, which are
//! settled, the bytes and acks not yet written) and its recovery from disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::backlog::Entry;
use super::record::{self, Place, FILE_HEADER, MARKER, RECORD_HEADER_LEN};

/// The largest segment file recovery reads: offsets are u32, and a record never starts past
/// `segment_size` (at most 2 GiB) and is at most 1 GiB long.
pub(crate) const MAX_FILE: u64 = 3 << 30;

/// Recovery reads a segment file this many bytes at a time (more for a longer record).
const READ_CHUNK: usize = 1 << 20;

/// `dir/msgs.0000000042` for segment 42.
pub(crate) fn data_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("msgs.{number:010}"))
}

/// `dir/acks.0000000042` for segment 42.
pub(crate) fn acks_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("acks.{number:010}"))
}

/// What a file in a queue's directory is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileName {
    /// `msgs.NNNNNNNNNN`: a segment's records.
    Data(u32),
    /// `acks.NNNNNNNNNN`: a segment's settled offsets.
    Acks(u32),
}

/// Parses a file name of a queue's directory; `None` for names the log did not write.
pub(crate) fn parse_name(name: &str) -> Option<FileName> {
    let (prefix, digits) = name.split_once('.')?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    match prefix {
        "msgs" => Some(FileName::Data(number)),
        "acks" => Some(FileName::Acks(number)),
        _ => None,
    }
}

/// A segment as the log keeps it in memory.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Its number, in its files' names.
    pub(crate) number: u32,
    /// The data file; `None` until the first write creates it.
    pub(crate) file: Option<File>,
    /// Bytes of the data file on disk.
    pub(crate) written: u64,
    /// Bytes appended but not written: they go at `written`.
    pub(crate) pending: BytesMut,
    /// Every record's offset, ascending (records are appended in order).
    offsets: Vec<u32>,
    /// Whether each record of `offsets` is settled.
    settled: Bits,
    /// Records not settled.
    live: usize,
    /// The ack file; `None` until needed.
    pub(crate) acks: Option<File>,
    /// Bytes of the ack file on disk (whole 4-byte entries).
    pub(crate) acks_written: u64,
    /// Settled offsets not yet written to the ack file.
    pub(crate) pending_acks: Vec<u32>,
    /// The data file was written since its last fsync.
    pub(crate) data_unsynced: bool,
    /// The ack file was written since its last fsync.
    pub(crate) acks_unsynced: bool,
}

impl Segment {
    /// A new segment, not on disk yet: its file header is pending.
    pub(crate) fn new(number: u32) -> Segment {
        Segment {
            number,
            file: None,
            written: 0,
            pending: BytesMut::from(&FILE_HEADER[..]),
            offsets: Vec::new(),
            settled: Bits::default(),
            live: 0,
            acks: None,
            acks_written: 0,
            pending_acks: Vec::new(),
            data_unsynced: false,
            acks_unsynced: false,
        }
    }

    /// Where the next record goes.
    pub(crate) fn end(&self) -> u64 {
        self.written + self.pending.len() as u64
    }

    /// True when every record is settled.
    pub(crate) fn is_drained(&self) -> bool {
        self.live == 0
    }

    /// Records a new record at `offset` (past every other), unsettled.
    pub(crate) fn add(&mut self, offset: u32) {
        self.offsets.push(offset);
        self.settled.push();
        self.live += 1;
    }

    /// Settles the record at `offset`: true if it was there and not settled yet.
    pub(crate) fn settle(&mut self, offset: u32) -> bool {
        let Ok(i) = self.offsets.binary_search(&offset) else {
            return false;
        };
        let settled = self.settled.set(i);
        if settled {
            self.live -= 1;
        }
        settled
    }

    /// Settles every record, without acks: the segment is about to go.
    #[cfg(test)]
    pub(crate) fn settle_all(&mut self) {
        for i in 0..self.offsets.len() {
            self.settled.set(i);
        }
        self.live = 0;
        self.pending_acks.clear();
    }

    /// True when a record starts at `offset`.
    pub(crate) fn has_record(&self, offset: u32) -> bool {
        self.offsets.binary_search(&offset).is_ok()
    }

    /// Forgets the records appended since the last write (their bytes are dropped) and returns
    /// their places.
    pub(crate) fn drop_pending(&mut self) -> Vec<Place> {
        let end = self.end();
        let first = self
            .offsets
            .partition_point(|&o| u64::from(o) < self.written);
        let dropped = self.offsets.get(first..).unwrap_or_default();
        let mut places = Vec::with_capacity(dropped.len());
        for (i, &offset) in dropped.iter().enumerate() {
            let next = dropped.get(i + 1).map_or(end, |&o| u64::from(o));
            places.push(Place {
                segment: self.number,
                offset,
                len: (next - u64::from(offset)) as u32,
            });
        }
        let live_dropped = (first..self.offsets.len())
            .filter(|&i| !self.settled.get(i))
            .count();
        self.live -= live_dropped;
        self.offsets.truncate(first);
        self.settled.truncate(first);
        self.pending_acks.retain(|&o| u64::from(o) < self.written);
        self.pending.clear();
        places
    }

    /// The bytes a record still pending occupies, if `place` is one.
    pub(crate) fn pending_record(&self, place: Place) -> Option<&[u8]> {
        let start = u64::from(place.offset).checked_sub(self.written)? as usize;
        self.pending
            .get(start..start.checked_add(place.len as usize)?)
    }
}

/// One bit per record, set when it is settled: an eighth of the byte a `Vec<bool>` would take.
#[derive(Debug, Default)]
struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// Adds a clear bit at the end.
    fn push(&mut self) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        self.len += 1;
    }

    /// Bit `i`; set past the end (no record there counts as settled).
    fn get(&self, i: usize) -> bool {
        i >= self.len
            || self
                .words
                .get(i / 64)
                .is_none_or(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// Sets bit `i`: true if it was clear.
    fn set(&mut self, i: usize) -> bool {
        if i >= self.len {
            return false;
        }
        match self.words.get_mut(i / 64) {
            Some(w) if (*w >> (i % 64)) & 1 == 0 => {
                *w |= 1 << (i % 64);
                true
            }
            _ => false,
        }
    }

    /// Keeps the first `len` bits.
    fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.len = len;
        self.words.truncate(len.div_ceil(64));
        if !len.is_multiple_of(64) {
            if let Some(w) = self.words.last_mut() {
                *w &= (1 << (len % 64)) - 1;
            }
        }
    }
}

/// What recovering one segment found.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The segment, its settled records marked (transient ones included).
    pub(crate) segment: Segment,
    /// Its unsettled persistent records, in order, without their bytes.
    pub(crate) messages: Vec<Entry>,
    /// The offset its torn tail was truncated at (only when `appendable`).
    pub(crate) torn: Option<u64>,
    /// Offsets of damaged records (and 0 for a bad file header).
    pub(crate) skipped: Vec<u64>,
    /// Whether records may be appended to it: it is the last, its file header is right and its
    /// ack file names no offset but its records'.
    pub(crate) appendable: bool,
}

/// Recovers segment `number` of `dir`. When `last`, a damaged tail (no good record after it) is
/// torn and truncated away so that appending can go on; elsewhere it is skipped. Every record
/// is read once (in [`READ_CHUNK`] reads) and its CRC checked; unsettled persistent ones are
/// decoded to check that they parse, and kept as their place and body length only.
/// `progress` is told how far into the file reading has got.
///
/// # Errors
///
/// The files cannot be opened, read or truncated. Damage to their contents is never an error.
pub(crate) fn recover(
    dir: &Path,
    number: u32,
    last: bool,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Recovered> {
    let path = data_path(dir, number);
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    let (acks, acks_written, mut acked) = read_acks(dir, number)?;
    acked.sort_unstable();
    acked.dedup();
    let file_len = file.metadata()?.len().min(MAX_FILE);
    let mut reader = Reader {
        file: &file,
        len: file_len,
        buf: Bytes::new(),
        start: 0,
        progress,
    };

    let mut segment = Segment::new(number);
    segment.pending.clear();
    let mut skipped = Vec::new();
    let mut torn = None;
    let header = reader.get(0, FILE_HEADER.len())?;
    let header_ok = header.as_deref() == Some(&FILE_HEADER[..]);
    let appendable = last && (header_ok || header.is_none());
    if header.is_none() {
        // Created, its header not (wholly) written: nothing was ever in it.
        if appendable {
            file.set_len(0)?;
            segment.pending.extend_from_slice(&FILE_HEADER);
            reader.len = 0;
        } else if file_len > 0 {
            skipped.push(0);
        }
    } else if !header_ok {
        skipped.push(0);
    }

    let mut messages = Vec::new();
    let mut pos = FILE_HEADER.len() as u64;
    while pos < reader.len {
        let (at, bytes) = match reader.record(pos)? {
            Some(bytes) => (pos, bytes),
            None => match reader.resync(pos + 1)? {
                Some(found) => {
                    skipped.push(pos);
                    found
                }
                None if appendable => {
                    file.set_len(pos)?;
                    reader.len = pos;
                    torn = Some(pos);
                    break;
                }
                None => {
                    skipped.push(pos);
                    break;
                }
            },
        };
        pos = at + bytes.len() as u64;
        // Below MAX_FILE, so within u32; a record's length is at most MAX_PAYLOAD and a header.
        let (offset, len) = (at as u32, bytes.len() as u32);
        segment.add(offset);
        if acked.binary_search(&offset).is_ok() || !record::is_persistent(&bytes) {
            // Settled, or transient (a paged-out message of a previous run).
            segment.settle(offset);
            continue;
        }
        match record::decode(bytes) {
            Some(message) => messages.push(Entry {
                offset,
                len,
                body_len: message.body.len() as u32,
            }),
            None => {
                // The CRC checks but the payload does not parse: a forged or buggy record.
                skipped.push(at);
                segment.settle(offset);
            }
        }
    }
    segment.written = reader.len;
    segment.file = Some(file);
    // A settled offset past the records (the ack reached the disk, the record did not) would
    // settle the record appended there next.
    let stale_acks = acked.iter().any(|&offset| !segment.has_record(offset));
    segment.acks = acks;
    segment.acks_written = acks_written;
    segment.offsets.shrink_to_fit();
    segment.settled.words.shrink_to_fit();
    messages.shrink_to_fit();
    skipped.sort_unstable();
    Ok(Recovered {
        segment,
        messages,
        torn,
        skipped,
        appendable: appendable && !stale_acks,
    })
}

/// A segment file read front to back in large reads; only the bytes not yet passed are kept,
/// and a record is handed out as a slice of them (no copy).
struct Reader<'a> {
    file: &'a File,
    /// The file's length as far as recovery reads it (shorter once a torn tail is cut).
    len: u64,
    /// The file's bytes from `start` on, as far as read.
    buf: Bytes,
    start: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl Reader<'_> {
    /// The file's bytes `at..at + n`, if it has them. Reading goes forward: bytes before an
    /// earlier `at` may be read again.
    fn get(&mut self, at: u64, n: usize) -> io::Result<Option<Bytes>> {
        let Some(end) = at.checked_add(n as u64).filter(|&end| end <= self.len) else {
            return Ok(None);
        };
        if at < self.start || end > self.start + self.buf.len() as u64 {
            self.fill(at, n)?;
        }
        let from = (at - self.start) as usize;
        Ok(self
            .buf
            .get(from..from + n)
            .map(|_| self.buf.slice(from..from + n)))
    }

    /// What is read from `at` on (at least a byte unless `at` is at the end).
    fn ahead(&mut self, at: u64) -> io::Result<Bytes> {
        if at >= self.len {
            return Ok(Bytes::new());
        }
        if at < self.start || at >= self.start + self.buf.len() as u64 {
            self.fill(at, 1)?;
        }
        let from = (at - self.start) as usize;
        Ok(self
            .buf
            .get(from..)
            .map(|_| self.buf.slice(from..))
            .unwrap_or_default())
    }

    /// Makes `buf` start at `at` and hold at least `n` bytes (`at + n` is within `len`):
    /// keeps what is read already and reads [`READ_CHUNK`] or `n` bytes in all.
    fn fill(&mut self, at: u64, n: usize) -> io::Result<()> {
        let want = (n.max(READ_CHUNK) as u64).min(self.len.saturating_sub(at)) as usize;
        let mut next = BytesMut::with_capacity(want);
        let kept = at
            .checked_sub(self.start)
            .and_then(|from| self.buf.get(from as usize..))
            .unwrap_or_default();
        next.extend_from_slice(kept.get(..want).unwrap_or(kept));
        let have = next.len();
        next.resize(want, 0);
        if let Some(rest) = next.get_mut(have..) {
            self.file.read_exact_at(rest, at + have as u64)?;
        }
        self.start = at;
        self.buf = next.freeze();
        (self.progress)(at + want as u64);
        Ok(())
    }

    /// The record at `at` if one is there whole and its CRC checks.
    fn record(&mut self, at: u64) -> io::Result<Option<Bytes>> {
        let Some(header) = self.get(at, RECORD_HEADER_LEN)? else {
            return Ok(None);
        };
        let Some(len) = record::claimed_len(&header) else {
            return Ok(None);
        };
        let Some(bytes) = self.get(at, len)? else {
            return Ok(None);
        };
        Ok(record::check_at(&bytes, 0).is_some().then_some(bytes))
    }

    /// The first good record at or after `from`, past damage: the next marker that starts a
    /// record whose CRC checks, and the record.
    fn resync(&mut self, from: u64) -> io::Result<Option<(u64, Bytes)>> {
        let mut q = from;
        loop {
            let window = self.ahead(q)?;
            if window.is_empty() {
                return Ok(None);
            }
            match window.iter().position(|&b| b == MARKER) {
                None => q += window.len() as u64,
                Some(i) => {
                    let at = q + i as u64;
                    if let Some(bytes) = self.record(at)? {
                        return Ok(Some((at, bytes)));
                    }
                    q = at + 1;
                }
            }
        }
    }
}

/// Segment `number`'s ack file (kept open for more; a torn last entry is cut off), its length
/// and the offsets it lists.
fn read_acks(dir: &Path, number: u32) -> io::Result<(Option<File>, u64, Vec<u32>)> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .open(acks_path(dir, number))
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, 0, Vec::new())),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let whole = len - len % 4;
    let mut reader = BufReader::new((&file).take(whole));
    let mut entry = [0; 4];
    let mut offsets = Vec::new();
    loop {
        match reader.read_exact(&mut entry) {
            Ok(()) => offsets.push(u32::from_le_bytes(entry)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    if whole != len {
        file.set_len(whole)?;
    }
    Ok((Some(file), whole, offsets))
}

/// Removes a segment's files: the data file first, so that a crash between the two leaves an
/// ack file without records (removed at the next open), never records without their acks.
pub(crate) fn remove_files(dir: &Path, number: u32) -> io::Result<()> {
    for path in [data_path(dir, number), acks_path(dir, number)] {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_bits_across_words() {
        let mut bits = Bits::default();
        for _ in 0..130 {
            bits.push();
        }
        assert!((0..130).all(|i| !bits.get(i)));
        assert!(bits.get(130), "past the end counts as settled");
        for i in [0, 63, 64, 127, 129] {
            assert!(bits.set(i));
            assert!(!bits.set(i), "set twice");
        }
        assert!(!bits.set(130));
        let set: Vec<usize> = (0..130).filter(|&i| bits.get(i)).collect();
        assert_eq!(set, [0, 63, 64, 127, 129]);
        bits.truncate(64);
        assert_eq!(bits.words.len(), 1);
        bits.push();
        assert!(
            !bits.get(64),
            "a bit pushed after a truncation starts clear"
        );
        bits.truncate(10);
        for _ in 10..64 {
            bits.push();
        }
        assert_eq!((0..64).filter(|&i| bits.get(i)).count(), 1);
    }
}
