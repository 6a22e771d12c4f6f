//! [`QueueLog`]: one durable queue's directory of segments — appends and settles batched in
//! memory, written once per batch, fsynced when the caller asks, recovered on open.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use spindle_protocols::amqp::{BasicProperties, ShortStr};

use super::backlog::Backlog;
use super::record::{self, Place, StoredMessage, FILE_HEADER_LEN, MAX_PAYLOAD, RECORD_HEADER_LEN};
use super::segment::{self, FileName, Segment, MAX_FILE};

/// The largest `segment_size`: offsets are u32, and a record may start anywhere before it.
const MAX_SEGMENT_SIZE: u64 = 2 << 30;

/// The capacity a segment's batch buffer keeps after a write; a burst's larger buffer is
/// given back.
const KEEP_CAPACITY: usize = 1 << 20;

/// A segment being appended to whose records are all settled is given back once it is longer
/// than this: the next record starts a new segment and the drained one is removed, so that an
/// emptied queue keeps at most this much on disk.
const DRAINED_TAIL: u64 = 1 << 20;

/// What opening a queue's directory found.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Unsettled persistent records, in append order (= queue order): their places and body
    /// lengths, not their bytes (read them with [`QueueLog::read`]).
    pub(crate) messages: Backlog,
    /// A torn record at the end of the last segment, truncated away: (file, offset).
    pub(crate) torn: Option<(PathBuf, u64)>,
    /// Damaged records skipped (bad CRC, bad length, a bad file header at offset 0):
    /// (file, offset). Recovery resynchronises on the next record marker whose CRC checks.
    pub(crate) skipped: Vec<(PathBuf, u64)>,
}

/// Why [`QueueLog::write`] failed, and the appends that were lost with the batch.
#[derive(Debug, thiserror::Error)]
#[error("writing the queue log failed: {error}")]
pub(crate) struct WriteFailed {
    /// The write's error (ENOSPC, EIO, EROFS...).
    pub(crate) error: io::Error,
    /// The places appended in the failed batch: none of them is in the files.
    pub(crate) lost: Vec<Place>,
}

/// One durable queue's on-disk log: append-only segment files `msgs.NNNNNNNNNN` and their ack
/// files `acks.NNNNNNNNNN` in the queue's directory (the format is in `store/mod.rs`).
#[derive(Debug)]
pub(crate) struct QueueLog {
    dir: PathBuf,
    segment_size: u64,
    /// By number; the last one is the segment being appended to.
    segments: BTreeMap<u32, Segment>,
    /// The number the next new segment takes (numbers are never reused while open, so a stale
    /// place never names a newer record).
    next_number: u64,
    /// The next append starts a new segment: the last one's tail is not to be trusted (a
    /// failed write or fsync) or its header is damaged.
    roll: bool,
    /// Appends or settles (or a segment to remove) wait for [`write`](Self::write).
    batch: bool,
    /// Writes, creations or removals wait for [`sync`](Self::sync).
    unsynced: bool,
    /// Files were created or removed in the directory since the last sync.
    dir_unsynced: bool,
    /// The directory itself was created since the last sync.
    parent_unsynced: bool,
    /// Write failures injected by the tests.
    pub(super) faults: Faults,
}

impl QueueLog {
    /// [`open_with_progress`](Self::open_with_progress) without progress reports.
    #[cfg(test)]
    pub(crate) fn open(dir: &Path, segment_size: u64) -> io::Result<(QueueLog, Recovery)> {
        QueueLog::open_with_progress(dir, segment_size, &mut |_, _| {})
    }

    /// Opens (creating if needed) `dir`, recovers it. Transient records (paged-out messages of
    /// a previous run) are not recovered and count as settled. Segments found wholly settled
    /// are removed; the last segment's torn tail is truncated away. Every record is read
    /// once, front to back in large reads, and its CRC checked; what is recovered is each
    /// message's place and body length, not its bytes. `progress(done, total)` is called as
    /// the segment files are read (bytes, `total` their sum), last with `done == total`.
    ///
    /// # Errors
    ///
    /// The directory or a file cannot be created, read, truncated or written. Damaged contents
    /// are never an error: they are reported in [`Recovery`].
    pub(crate) fn open_with_progress(
        dir: &Path,
        segment_size: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> io::Result<(QueueLog, Recovery)> {
        let existed = dir.is_dir();
        fs::create_dir_all(dir)?;
        let mut data = Vec::new();
        let mut acks = Vec::new();
        let mut total = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            match entry.file_name().to_str().and_then(segment::parse_name) {
                Some(FileName::Data(n)) => {
                    data.push(n);
                    total += entry.metadata()?.len().min(MAX_FILE);
                }
                Some(FileName::Acks(n)) => acks.push(n),
                None => {}
            }
        }
        data.sort_unstable();
        let mut log = QueueLog {
            dir: dir.to_path_buf(),
            segment_size: segment_size.clamp(FILE_HEADER_LEN, MAX_SEGMENT_SIZE),
            segments: BTreeMap::new(),
            next_number: data.last().map_or(1, |&n| u64::from(n) + 1),
            roll: false,
            batch: true,
            unsynced: !existed,
            dir_unsynced: false,
            parent_unsynced: !existed,
            faults: Faults::default(),
        };
        for n in acks {
            if data.binary_search(&n).is_err() {
                // Its segment's removal got as far as the data file.
                segment::remove_files(dir, n)?;
                log.dir_unsynced = true;
                log.unsynced = true;
            }
        }
        let mut recovery = Recovery::default();
        let mut done = 0;
        for (i, &n) in data.iter().enumerate() {
            let last = i + 1 == data.len();
            let mut file_done = 0;
            let found = segment::recover(dir, n, last, &mut |at| {
                file_done = at;
                progress((done + at).min(total), total);
            })?;
            done += file_done;
            let path = segment::data_path(dir, n);
            for &offset in &found.skipped {
                log::warn!("{}: damaged record at {offset} skipped", path.display());
                recovery.skipped.push((path.clone(), offset));
            }
            if let Some(offset) = found.torn {
                log::warn!("{}: torn record at {offset} cut off", path.display());
                recovery.torn = Some((path, offset));
            }
            log.roll |= last && !found.appendable;
            recovery.messages.push_segment(n, found.messages);
            log.segments.insert(n, found.segment);
        }
        progress(total, total);
        if log.segments.is_empty() {
            log.start_segment()?;
        }
        log.write().map_err(|failed| failed.error)?;
        Ok((log, recovery))
    }

    /// Appends a record to the in-memory batch (no IO); its place is final.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the message cannot be stored: properties that do not encode (a
    /// `headers` table nested deeper than the codec allows) or a body over 1 GiB; neither comes
    /// from a decoded AMQP frame under `max_message_size`. Nothing is appended then.
    pub(crate) fn append(
        &mut self,
        id: u64,
        persistent: bool,
        exchange: &ShortStr,
        routing_key: &ShortStr,
        properties: &BasicProperties,
        body: &[u8],
    ) -> io::Result<Place> {
        let size = self.segment_size;
        self.batch = true;
        let mut seg = match self.segments.last_entry() {
            Some(seg) if !self.roll => seg.into_mut(),
            _ => self.start_segment()?,
        };
        let start = seg.pending.len();
        let mut offset = seg.end();
        let len = record::encode(
            &mut seg.pending,
            id,
            persistent,
            exchange,
            routing_key,
            properties,
            body,
        )?;
        if offset > FILE_HEADER_LEN && offset + u64::from(len) > size {
            // Records are never split: this one opens the next segment.
            let bytes = seg.pending.split_off(start);
            seg = self.start_segment()?;
            offset = seg.end();
            seg.pending.extend_from_slice(&bytes);
        }
        let offset = offset as u32;
        seg.add(offset);
        Ok(Place {
            segment: seg.number,
            offset,
            len,
        })
    }

    /// A new, empty segment at the end, to append to (in memory until the next write).
    fn start_segment(&mut self) -> io::Result<&mut Segment> {
        let number = u32::try_from(self.next_number)
            .map_err(|_| io::Error::other("the queue log has used every segment number"))?;
        self.next_number += 1;
        self.roll = false;
        Ok(self
            .segments
            .entry(number)
            .or_insert_with(|| Segment::new(number)))
    }

    /// Marks a record settled (in-memory batch, no IO). A place settled already, or of a
    /// removed segment, is ignored.
    pub(crate) fn settle(&mut self, place: Place) {
        if let Some(seg) = self.segments.get_mut(&place.segment) {
            if seg.settle(place.offset) {
                seg.pending_acks.push(place.offset);
                self.batch = true;
            }
        }
    }

    /// Writes the batch to the files (write(2), no fsync) and removes the segments, other than
    /// the last, whose records are all settled. The last one goes too when it is drained and
    /// longer than [`DRAINED_TAIL`]: a new, empty segment takes its place.
    ///
    /// # Errors
    ///
    /// On an error (ENOSPC, EIO, EROFS) nothing of the batch counts as written: the files are
    /// truncated back to where the batch began, the batch's appends are reported lost (their
    /// places are never reused), its settles stay pending for the next write, and the next
    /// append starts a new segment.
    pub(crate) fn write(&mut self) -> Result<(), WriteFailed> {
        if !self.batch {
            return Ok(());
        }
        self.roll_drained_tail();
        let removed_all = self.remove_drained();
        let mut touched = Vec::new();
        let mut failure = None;
        for seg in self.segments.values_mut() {
            if seg.pending.is_empty() && seg.pending_acks.is_empty() {
                continue;
            }
            let mut attempt = Attempt {
                number: seg.number,
                created: false,
                acks_created: false,
                data: false,
                acks: false,
            };
            let result = write_segment(
                &self.dir,
                seg,
                &mut attempt,
                &mut self.faults,
                &mut self.dir_unsynced,
            );
            touched.push(attempt);
            if let Err(e) = result {
                failure = Some(e);
                break;
            }
        }
        self.unsynced |= !touched.is_empty();
        if let Some(error) = failure {
            return Err(self.undo(&touched, error));
        }
        for attempt in &touched {
            let Some(seg) = self.segments.get_mut(&attempt.number) else {
                continue;
            };
            if attempt.data {
                seg.written += seg.pending.len() as u64;
                seg.data_unsynced = true;
                if seg.pending.capacity() > KEEP_CAPACITY {
                    seg.pending = BytesMut::new();
                } else {
                    seg.pending.clear();
                }
            }
            if attempt.acks {
                seg.acks_written += 4 * seg.pending_acks.len() as u64;
                seg.acks_unsynced = true;
                seg.pending_acks.clear();
            }
        }
        self.batch = !removed_all;
        Ok(())
    }

    /// Puts the files back as they were before a failed batch and drops its appends.
    fn undo(&mut self, touched: &[Attempt], error: io::Error) -> WriteFailed {
        for attempt in touched {
            let Some(seg) = self.segments.get_mut(&attempt.number) else {
                continue;
            };
            let restored = if attempt.created {
                seg.file = None;
                fs::remove_file(segment::data_path(&self.dir, seg.number))
            } else {
                match (&seg.file, attempt.data) {
                    (Some(file), true) => file.set_len(seg.written),
                    _ => Ok(()),
                }
            };
            let restored = restored.and_then(|()| {
                if attempt.acks_created {
                    seg.acks = None;
                    fs::remove_file(segment::acks_path(&self.dir, seg.number))
                } else {
                    match (&seg.acks, attempt.acks) {
                        (Some(file), true) => file.set_len(seg.acks_written),
                        _ => Ok(()),
                    }
                }
            });
            if let Err(e) = restored {
                // The batch's bytes may stay in the file: a crash would bring them back.
                log::error!(
                    "{}: cannot cut a failed write back: {e}",
                    segment::data_path(&self.dir, seg.number).display()
                );
            }
        }
        let mut lost = Vec::new();
        for seg in self.segments.values_mut() {
            lost.extend(seg.drop_pending());
        }
        // Segments the batch would have created hold nothing now.
        self.segments.retain(|_, seg| seg.file.is_some());
        self.roll = true;
        self.batch = true;
        WriteFailed { error, lost }
    }

    /// Starts a new segment when the last one is drained and longer than [`DRAINED_TAIL`], so
    /// that [`remove_drained`](Self::remove_drained) gives the drained one back (with the same
    /// care as any other: data file first, then its acks).
    fn roll_drained_tail(&mut self) {
        let drained = self
            .segments
            .values()
            .next_back()
            .is_some_and(|seg| seg.is_drained() && seg.end() > DRAINED_TAIL);
        if drained {
            if let Err(e) = self.start_segment() {
                log::warn!("{}: {e}", self.dir.display());
            }
        }
    }

    /// Removes every segment but the last whose records are all settled; false if a removal
    /// failed (it is tried again at the next write).
    fn remove_drained(&mut self) -> bool {
        let last = self.segments.last_key_value().map(|(&n, _)| n);
        let drained: Vec<u32> = self
            .segments
            .iter()
            .filter(|&(&n, seg)| Some(n) != last && seg.is_drained())
            .map(|(&n, _)| n)
            .collect();
        let mut all = true;
        for n in drained {
            match segment::remove_files(&self.dir, n) {
                Ok(()) => {
                    if let Some(seg) = self.segments.remove(&n) {
                        self.dir_unsynced |= seg.file.is_some() || seg.acks.is_some();
                    }
                }
                Err(e) => {
                    log::warn!(
                        "{}: cannot remove a settled segment: {e}",
                        segment::data_path(&self.dir, n).display()
                    );
                    all = false;
                }
            }
        }
        self.unsynced |= self.dir_unsynced;
        all
    }

    /// fsyncs every file written since the last sync (and the directory when files were
    /// created or removed). Only after this returns `Ok` is a written record durable.
    ///
    /// # Errors
    ///
    /// An fsync failed: what was written since the last sync may be lost. The next append
    /// starts a new segment (after a failed fsync the kernel may have dropped the pages).
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        let result = self.sync_files();
        if result.is_err() {
            self.roll = true;
        } else {
            self.unsynced = false;
        }
        result
    }

    fn sync_files(&mut self) -> io::Result<()> {
        for seg in self.segments.values_mut() {
            if seg.data_unsynced {
                if let Some(file) = &seg.file {
                    file.sync_data()?;
                }
                seg.data_unsynced = false;
            }
            if seg.acks_unsynced {
                if let Some(file) = &seg.acks {
                    file.sync_data()?;
                }
                seg.acks_unsynced = false;
            }
        }
        if self.dir_unsynced {
            sync_dir(&self.dir)?;
            self.dir_unsynced = false;
        }
        if self.parent_unsynced {
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent)?;
            }
            self.parent_unsynced = false;
        }
        Ok(())
    }

    /// True when there is something to write or sync.
    pub(crate) fn is_dirty(&self) -> bool {
        self.batch || self.unsynced
    }

    /// Reads a record back: one `pread`, or a copy from the batch when it is not written yet.
    ///
    /// # Errors
    ///
    /// `NotFound` for a place that names no record (of a removed segment, or lost), the read's
    /// error, or `InvalidData` when the bytes on disk no longer check.
    pub(crate) fn read(&self, place: Place) -> io::Result<StoredMessage> {
        let missing = || {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no record at {place:?} in the queue log"),
            )
        };
        let seg = self
            .segments
            .get(&place.segment)
            .filter(|seg| seg.has_record(place.offset))
            .ok_or_else(missing)?;
        let len = place.len as usize;
        if len > RECORD_HEADER_LEN + MAX_PAYLOAD {
            return Err(missing());
        }
        let bytes = if u64::from(place.offset) >= seg.written {
            Bytes::copy_from_slice(seg.pending_record(place).ok_or_else(missing)?)
        } else {
            let file = seg.file.as_ref().ok_or_else(missing)?;
            let mut buf = vec![0; len];
            file.read_exact_at(&mut buf, u64::from(place.offset))?;
            Bytes::from(buf)
        };
        if record::check_at(&bytes, 0) != Some(len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: the record at {} is damaged",
                    segment::data_path(&self.dir, place.segment).display(),
                    place.offset
                ),
            ));
        }
        record::decode(bytes).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a queue log record does not decode",
            )
        })
    }

    /// Bytes of segment and ack files on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.segments
            .values()
            .map(|seg| seg.written + seg.acks_written)
            .sum()
    }

    /// Settles everything (queue.purge), the batch's appends included: the segments are
    /// removed and a fresh one is started.
    ///
    /// # Errors
    ///
    /// The fresh segment cannot be written. A segment that cannot be removed stays settled in
    /// memory and is tried again at the next write.
    #[cfg(test)]
    pub(crate) fn clear(&mut self) -> io::Result<()> {
        for seg in self.segments.values_mut() {
            seg.drop_pending();
            seg.settle_all();
        }
        self.segments.retain(|_, seg| seg.file.is_some());
        self.start_segment()?;
        self.batch = true;
        self.write().map_err(|failed| failed.error)
    }

    /// Removes the directory (queue.delete).
    ///
    /// # Errors
    ///
    /// The directory cannot be removed.
    pub(crate) fn destroy(self) -> io::Result<()> {
        let QueueLog { dir, .. } = self;
        fs::remove_dir_all(&dir)?;
        match dir.parent() {
            Some(parent) => sync_dir(parent),
            None => Ok(()),
        }
    }
}

/// What a write did to one segment, to undo it.
#[derive(Debug)]
struct Attempt {
    number: u32,
    /// Its data file was created by this write.
    created: bool,
    /// Its ack file was created by this write.
    acks_created: bool,
    /// Its batch bytes were (perhaps partly) written.
    data: bool,
    /// Its acks were (perhaps partly) written.
    acks: bool,
}

/// Writes one segment's batch bytes and then its acks, without counting them written.
fn write_segment(
    dir: &Path,
    seg: &mut Segment,
    attempt: &mut Attempt,
    faults: &mut Faults,
    dir_unsynced: &mut bool,
) -> io::Result<()> {
    if !seg.pending.is_empty() {
        let file = match &mut seg.file {
            Some(file) => file,
            file @ None => {
                let created = file.insert(create(&segment::data_path(dir, seg.number))?);
                attempt.created = true;
                *dir_unsynced = true;
                created
            }
        };
        attempt.data = true;
        faults.write_at(file, &seg.pending, seg.written)?;
    }
    if !seg.pending_acks.is_empty() {
        let file = match &mut seg.acks {
            Some(file) => file,
            file @ None => {
                let created = file.insert(create(&segment::acks_path(dir, seg.number))?);
                attempt.acks_created = true;
                *dir_unsynced = true;
                created
            }
        };
        let entries: Vec<u8> = seg
            .pending_acks
            .iter()
            .flat_map(|offset| offset.to_le_bytes())
            .collect();
        attempt.acks = true;
        faults.write_at(file, &entries, seg.acks_written)?;
    }
    Ok(())
}

/// Creates (or empties) a file the log is about to write from its start.
fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The log's `pwrite`s, through which the tests make one fail.
#[derive(Debug, Default)]
pub(super) struct Faults {
    /// Writes to let through before one writes half its bytes and fails with this error.
    #[cfg(test)]
    pub(super) fail_after: Option<(usize, io::ErrorKind)>,
}

impl Faults {
    fn write_at(&mut self, file: &File, buf: &[u8], at: u64) -> io::Result<()> {
        #[cfg(test)]
        if let Some((after, kind)) = &mut self.fail_after {
            if *after == 0 {
                let error = io::Error::from(*kind);
                self.fail_after = None;
                file.write_all_at(buf.get(..buf.len() / 2).unwrap_or_default(), at)?;
                return Err(error);
            }
            *after -= 1;
        }
        file.write_all_at(buf, at)
    }
}
