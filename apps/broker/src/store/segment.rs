//! One segment: its files' names, what the log knows of it in memory (record offsets, which are
//! settled, the bytes and acks not yet written) and its recovery from disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::record::{self, Place, StoredMessage, FILE_HEADER, MARKER};

/// The largest segment file recovery reads: offsets are u32, and a record never starts past
/// `segment_size` (at most 2 GiB) and is at most 1 GiB long.
const MAX_FILE: u64 = 3 << 30;

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
    settled: Vec<bool>,
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
            settled: Vec::new(),
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
        self.settled.push(false);
        self.live += 1;
    }

    /// Settles the record at `offset`: true if it was there and not settled yet.
    pub(crate) fn settle(&mut self, offset: u32) -> bool {
        let Ok(i) = self.offsets.binary_search(&offset) else {
            return false;
        };
        match self.settled.get_mut(i) {
            Some(settled) if !*settled => {
                *settled = true;
                self.live -= 1;
                true
            }
            _ => false,
        }
    }

    /// Settles every record, without acks: the segment is about to go.
    #[cfg(test)]
    pub(crate) fn settle_all(&mut self) {
        self.settled.iter_mut().for_each(|s| *s = true);
        self.live = 0;
        self.pending_acks.clear();
    }

    /// True when the record at `offset` is settled (or there is none).
    fn is_settled(&self, offset: u32) -> bool {
        match self.offsets.binary_search(&offset) {
            Ok(i) => self.settled.get(i).copied().unwrap_or(true),
            Err(_) => true,
        }
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
        let live_dropped = self
            .settled
            .get(first..)
            .unwrap_or_default()
            .iter()
            .filter(|s| !**s)
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

/// What recovering one segment found.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The segment, its settled records marked (transient ones included).
    pub(crate) segment: Segment,
    /// Its unsettled persistent records, in order.
    pub(crate) messages: Vec<(Place, StoredMessage)>,
    /// The offset its torn tail was truncated at (only when `appendable`).
    pub(crate) torn: Option<u64>,
    /// Offsets of damaged records (and 0 for a bad file header).
    pub(crate) skipped: Vec<u64>,
    /// Whether records may be appended to it: it is the last, its file header is right and its
    /// ack file names no offset but its records'.
    pub(crate) appendable: bool,
}

/// Recovers segment `number` of `dir`. When `last`, a damaged tail (no good record after it) is
/// torn and truncated away so that appending can go on; elsewhere it is skipped.
///
/// # Errors
///
/// The files cannot be opened, read or truncated. Damage to their contents is never an error.
pub(crate) fn recover(dir: &Path, number: u32, last: bool) -> io::Result<Recovered> {
    let path = data_path(dir, number);
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    let file_len = file.metadata()?.len();
    let mut buf = Vec::with_capacity(file_len.min(MAX_FILE) as usize);
    (&file).take(MAX_FILE).read_to_end(&mut buf)?;

    let mut segment = Segment::new(number);
    segment.pending.clear();
    let mut skipped = Vec::new();
    let mut torn = None;
    let header_ok = buf.get(..FILE_HEADER.len()) == Some(&FILE_HEADER[..]);
    let appendable = last && (header_ok || buf.len() < FILE_HEADER.len());
    if buf.len() < FILE_HEADER.len() {
        // Created, its header not (wholly) written: nothing was ever in it.
        if appendable {
            file.set_len(0)?;
            segment.pending.extend_from_slice(&FILE_HEADER);
            buf.clear();
        } else if !buf.is_empty() {
            skipped.push(0);
        }
    } else if !header_ok {
        skipped.push(0);
    }

    // Records whose CRC checks, as (offset, length); decoded below only if unsettled.
    let mut records = Vec::new();
    let mut pos = FILE_HEADER.len();
    while pos < buf.len() {
        if let Some(len) = record::check_at(&buf, pos) {
            records.push((pos as u32, len as u32));
            pos += len;
            continue;
        }
        let next = (pos + 1..buf.len())
            .find(|&q| buf.get(q) == Some(&MARKER) && record::check_at(&buf, q).is_some());
        match next {
            Some(q) => {
                skipped.push(pos as u64);
                pos = q;
            }
            None if appendable => {
                file.set_len(pos as u64)?;
                buf.truncate(pos);
                torn = Some(pos as u64);
            }
            None => {
                skipped.push(pos as u64);
                break;
            }
        }
    }
    segment.written = buf.len() as u64;
    segment.file = Some(file);

    for &(offset, _) in &records {
        segment.add(offset);
    }
    let stale_acks = read_acks(dir, &mut segment)?;
    let mut messages = Vec::new();
    for (offset, len) in records {
        if segment.is_settled(offset) {
            continue;
        }
        let bytes = buf.get(offset as usize..(offset + len) as usize);
        if !bytes.is_some_and(record::is_persistent) {
            segment.settle(offset);
            continue;
        }
        match bytes.map(Bytes::copy_from_slice).and_then(record::decode) {
            Some(message) => {
                let place = Place {
                    segment: number,
                    offset,
                    len,
                };
                messages.push((place, message));
            }
            None => {
                // The CRC checks but the payload does not parse: a forged or buggy record.
                skipped.push(u64::from(offset));
                segment.settle(offset);
            }
        }
    }
    skipped.sort_unstable();
    Ok(Recovered {
        segment,
        messages,
        torn,
        skipped,
        // A settled offset past the records (the ack reached the disk, the record did not)
        // would settle the record appended there next.
        appendable: appendable && !stale_acks,
    })
}

/// Settles the offsets the segment's ack file lists (a torn last entry is cut off) and keeps the
/// file open for more. Returns whether an entry named no record.
fn read_acks(dir: &Path, segment: &mut Segment) -> io::Result<bool> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .open(acks_path(dir, segment.number))
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let whole = len - len % 4;
    let mut reader = BufReader::new((&file).take(whole));
    let mut entry = [0; 4];
    let mut stale = false;
    loop {
        match reader.read_exact(&mut entry) {
            Ok(()) => {
                let offset = u32::from_le_bytes(entry);
                stale |= !segment.has_record(offset);
                segment.settle(offset);
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    if whole != len {
        file.set_len(whole)?;
    }
    segment.acks = Some(file);
    segment.acks_written = whole;
    Ok(stale)
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
