//! Writing the AOF: creating its directory, base and first increment and the manifest that
//! names them; appending each turn's commands to the current increment; and making them
//! durable as `appendfsync` asks — `always`: an fsync before the replies of the writes leave,
//! one for every client's writes of a turn (or of several turns, while one is in flight), run
//! on a thread so the loop goes on meanwhile; `everysec`: the same thread's fsync once a
//! second; `no`: the kernel's own pace.
//!
//! A failed write is undone (the file cut back to where the turn began) and kept for the next
//! attempt; the store refuses writes meanwhile (`-MISCONF`), as Redis does.
//!
//! While the fsync thread runs, the current increment is kept filled ahead of its commands
//! ([`PREALLOC_CHUNK`] at a time, written and fsynced by the thread): commands overwrite
//! blocks that are already allocated and inside the file's size, so an fdatasync has only
//! data to flush and no metadata to commit through the filesystem's journal — on ext4 it
//! costs about 0.6× an fdatasync after an append (measured: 216–264 µs against 341–470 µs),
//! which is what `always` waits for. The fill is empty annotation lines
//! ([`FILL`](super::read::FILL)), so the file is a valid AOF for Redis's tools at every
//! moment, crash or not; it is cut off when the increment is closed, rotated or the server
//! shuts down, and by the loader after a crash ([`commands_end`](super::read::commands_end)).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use spindle_reactor::ReactorHandle;

use super::manifest::{FileInfo, Kind, Manifest};
use super::read::FILL;
use crate::db::Db;

/// How far ahead of its commands the current increment is filled, at most: one extension's
/// worth. Small enough that writing and fsyncing it (a few milliseconds here) delays the
/// fsyncs queued behind it only briefly; large enough that it happens rarely (every 4 MiB
/// of commands, so the journal commit it costs is spread over thousands of writes).
pub(crate) const PREALLOC_CHUNK: u64 = 4 << 20;

/// An extension is asked for when fewer filled bytes than this are left ahead of the
/// commands: the thread has the time the loop takes to write them to finish it, so the loop
/// practically never waits for it.
const PREALLOC_LOW: u64 = PREALLOC_CHUNK / 2;

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fsync {
    /// Before the replies of the writes leave.
    Always,
    /// Once a second, off the loop.
    EverySec,
    /// Never asked for.
    No,
}

impl Fsync {
    /// Parses the directive's value (unknown values read as `everysec`, the default; the
    /// config refuses them before they get here).
    pub(crate) fn parse(text: &str) -> Fsync {
        match text {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// Where the AOF lives and what it is called (`dir`, `appenddirname`, `appendfilename`).
#[derive(Debug, Clone)]
pub(crate) struct Location {
    /// The AOF directory: `dir/appenddirname`.
    pub(crate) dir: PathBuf,
    /// `appendfilename`: the files' common prefix.
    pub(crate) name: String,
}

impl Location {
    /// The manifest's path.
    pub(crate) fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.name))
    }

    /// A file of the AOF by its name in the manifest.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Reads the manifest; `Ok(None)` when there is none.
    pub(crate) fn read_manifest(&self) -> Result<Option<Manifest>, String> {
        let path = self.manifest_path();
        match fs::read_to_string(&path) {
            Ok(text) => Manifest::parse(&text).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!(
                "Fatal error: can't open the AOF manifest file {} for reading: {e}",
                path.display()
            )),
        }
    }

    /// Writes `manifest` atomically: a temporary file, fsync, rename, fsync of the directory.
    fn write_manifest(&self, manifest: &Manifest) -> io::Result<()> {
        let tmp = self.dir.join(format!("temp-{}.manifest", self.name));
        let mut f = File::create(&tmp)?;
        f.write_all(manifest.render().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, self.manifest_path())?;
        File::open(&self.dir)?.sync_all()
    }
}

/// The open AOF: the current increment, its policy and its error state.
#[derive(Debug)]
pub(crate) struct AofWriter {
    location: Location,
    manifest: Manifest,
    /// The increment commands are appended to, shared with the fsync thread.
    file: Arc<File>,
    /// Its size in commands: where the next append goes and a failed write is cut back to.
    /// The file itself may be longer, filled ahead (see [`SyncState::filled`]).
    size: u64,
    /// The fill extension asked of the fsync thread and not yet done: `(from, to)`. The loop
    /// writes nothing at or past `from` until the thread says it is done.
    extending: Option<(u64, u64)>,
    /// Bytes that could not be written yet, oldest first (written before anything newer).
    pending: Vec<u8>,
    /// Bytes written since the AOF was opened (the position replies wait for).
    written: u64,
    /// The fsync thread's side: what it has made durable, what it was asked for.
    sync: Arc<SyncState>,
    /// The highest `written` an fsync was asked for (`always`).
    requested: u64,
    syncer: Option<Syncer>,
    /// What wakes the loop when an fsync completes (kept to restart the thread on a new
    /// increment).
    wake: Option<ReactorHandle>,
    /// Bytes of the AOF's other files (the base, earlier increments): with `size`, INFO's
    /// `aof_current_size`.
    others_size: u64,
    /// The AOF's size after its last rewrite (or at open): what automatic rewrites measure
    /// growth against (`aof_base_size`).
    pub(crate) base_size: u64,
    /// While a rewrite runs: the sequence number of the increment opened when it began. The
    /// increments before it are what the new base replaces.
    rewrite_from: Option<u64>,
    /// Switched on at run time and not yet rewritten (Redis's `AOF_WAIT_REWRITE`): commands go
    /// to a temporary increment, and the manifest names no file of this run until the first
    /// rewrite is done.
    waiting: bool,
    /// The last write's or fsync's error, while it lasts.
    pub(crate) error: Option<io::ErrorKind>,
    /// Its text (`strerror`), for MISCONF and INFO.
    pub(crate) error_text: Option<String>,
}

/// What the fsync thread and the loop share.
#[derive(Debug, Default)]
struct SyncState {
    /// `written` as of the last fsync that completed: replies waiting for bytes up to here
    /// may leave.
    synced: AtomicU64,
    /// Written since the last fsync (everysec's cue).
    dirty: AtomicBool,
    /// An fsync failed: its text (the data it covered may not be on disk).
    failed: Mutex<Option<String>>,
    /// How far the current increment's fill reaches (its length, once the thread's last
    /// extension is done): the loop's appends below it overwrite fill.
    filled: AtomicU64,
    /// Set (with `filled` updated) when an extension is finished, successful or not; what
    /// the loop waits on in the rare case it catches up with one.
    extended: (Mutex<bool>, Condvar),
}

/// What the loop asks of the fsync thread.
#[derive(Debug)]
enum Ask {
    /// An fsync covering everything written up to this position (`always`).
    Sync(u64),
    /// Fill written and fsynced over `from..to` of the current increment, past its commands.
    Extend { from: u64, to: u64 },
    /// The thread ends.
    Stop,
}

/// The fsync thread: asked for an fsync up to a position (`always`: the loop goes on reading
/// and running commands meanwhile, their replies held until the fsync covering them is done,
/// and the loop is woken when it is), or, under everysec, fsyncing once a second by itself.
#[derive(Debug)]
struct Syncer {
    ask: mpsc::Sender<Ask>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let _ = self.ask.send(Ask::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Syncer {
    fn start(file: Arc<File>, state: Arc<SyncState>, wake: ReactorHandle) -> io::Result<Syncer> {
        let (ask, asked) = mpsc::channel::<Ask>();
        let thread = std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || loop {
                let mut extend = None;
                let mut target = match asked.recv_timeout(Duration::from_secs(1)) {
                    Ok(Ask::Sync(target)) => Some(target),
                    Ok(Ask::Extend { from, to }) => {
                        extend = Some((from, to));
                        None
                    }
                    Ok(Ask::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => None,
                };
                // Asked again meanwhile: one fsync covers them all.
                while let Ok(next) = asked.try_recv() {
                    match next {
                        Ask::Sync(t) => target = Some(target.map_or(t, |old: u64| old.max(t))),
                        Ask::Extend { from, to } => extend = Some((from, to)),
                        Ask::Stop => return,
                    }
                }
                // The commands' fsync first: replies wait for it, and none waits for the fill.
                if target.is_some() || extend.is_none() {
                    sync_once(&file, &state, target, &wake);
                }
                if let Some((from, to)) = extend {
                    fill_ahead(&file, &state, from, to);
                }
            })?;
        Ok(Syncer {
            ask,
            thread: Some(thread),
        })
    }
}

/// One round of the fsync thread: an fsync if one was asked for (`target`) or, on the
/// once-a-second round, if anything was written since the last; the loop woken when
/// replies wait for it.
fn sync_once(file: &File, state: &SyncState, target: Option<u64>, wake: &ReactorHandle) {
    if target.is_none() && !state.dirty.swap(false, Ordering::AcqRel) {
        return;
    }
    match file.sync_data() {
        Ok(()) => {
            if let Some(t) = target {
                state.synced.fetch_max(t, Ordering::AcqRel);
            }
        }
        Err(e) => {
            log::warn!("AOF fsync failed: {e}");
            if let Ok(mut failed) = state.failed.lock() {
                *failed = Some(strerror(&e));
            }
            state.dirty.store(true, Ordering::Release);
        }
    }
    if target.is_some() {
        wake.call_from_thread(|_| {});
    }
}

/// Writes the fill over `from..to` of the increment (`to` even) and fsyncs it, so that the
/// commands written there later change no metadata; `filled` then says how far the fill
/// reaches (as far as it got, if the disk filled up — the loop's own writes then meet the
/// error). The fill's lines start at even offsets: from an odd `from` (the commands end
/// there), a `#` first makes the padding.
fn fill_ahead(file: &File, state: &SyncState, from: u64, to: u64) {
    const PIECE: usize = 256 << 10;
    let fill: Vec<u8> = FILL.iter().copied().cycle().take(PIECE).collect();
    let mut at = from;
    if at % 2 == 1 && at < to {
        if let Err(e) = file.write_all_at(b"#", at) {
            log::debug!("cannot fill the AOF ahead at {at}: {e}");
            return extended(state, at);
        }
        at += 1;
    }
    while at < to {
        let n = (to - at).min(PIECE as u64) as usize;
        let piece = fill.get(..n).unwrap_or_default();
        if let Err(e) = file.write_all_at(piece, at) {
            log::debug!("cannot fill the AOF ahead at {at}: {e}");
            break;
        }
        at += n as u64;
    }
    if at > from {
        if let Err(e) = file.sync_data() {
            log::debug!("cannot fsync the AOF's fill: {e}");
        }
    }
    extended(state, at);
}

/// An extension is over: the fill reaches `at`, and a loop waiting for it may go on.
fn extended(state: &SyncState, at: u64) {
    state.filled.store(at, Ordering::Release);
    let (done, cv) = &state.extended;
    if let Ok(mut done) = done.lock() {
        *done = true;
        cv.notify_all();
    }
}

impl AofWriter {
    /// Opens the AOF for appending: the manifest's last increment (a new one if it has none),
    /// or — with no manifest — a new AOF whose base is a snapshot of `db` (an RDB, as
    /// `aof-use-rdb-preamble yes` makes Redis write it), with an empty first increment.
    pub(crate) fn open(
        location: Location,
        manifest: Option<Manifest>,
        db: &Db,
        now_ms: u64,
        rdb_base: bool,
    ) -> io::Result<AofWriter> {
        fs::create_dir_all(&location.dir)?;
        let mut manifest = match manifest {
            Some(m) => m,
            None => {
                let name = base_name(&location.name, 1, rdb_base);
                super::rewrite::save_base(db, &location.file(&name), now_ms, rdb_base)?;
                Manifest {
                    base: Some(FileInfo {
                        name,
                        seq: 1,
                        kind: Kind::Base,
                    }),
                    ..Manifest::default()
                }
            }
        };
        let incr = match manifest.incrs.last() {
            Some(last) => last.name.clone(),
            None => {
                let seq = 1;
                let name = format!("{}.{seq}.incr.aof", location.name);
                manifest.incrs.push(FileInfo {
                    name: name.clone(),
                    seq,
                    kind: Kind::Incr,
                });
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(location.file(&name))?
                    .sync_all()?;
                location.write_manifest(&manifest)?;
                name
            }
        };
        // Written at positions (the fill ahead of the commands is overwritten), so not
        // opened for appending. The load cut off any fill a crash left at the end.
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(location.file(&incr))?;
        let size = file.metadata()?.len();
        let others_size = manifest
            .loading_order()
            .filter(|f| f.name != incr)
            .map(|f| fs::metadata(location.file(&f.name)).map_or(0, |m| m.len()))
            .sum::<u64>();
        Ok(AofWriter::new(
            location,
            manifest,
            file,
            size,
            others_size,
            false,
        ))
    }

    fn new(
        location: Location,
        manifest: Manifest,
        file: File,
        size: u64,
        others_size: u64,
        waiting: bool,
    ) -> AofWriter {
        AofWriter {
            location,
            manifest,
            file: Arc::new(file),
            size,
            extending: None,
            pending: Vec::new(),
            written: 0,
            sync: Arc::new(SyncState {
                filled: AtomicU64::new(size),
                ..SyncState::default()
            }),
            requested: 0,
            syncer: None,
            wake: None,
            others_size,
            base_size: size + others_size,
            rewrite_from: None,
            waiting,
            error: None,
            error_text: None,
        }
    }

    /// The AOF switched on at run time (CONFIG SET appendonly yes), as Redis does it: commands
    /// go to a temporary increment until the rewrite that must follow has written a base;
    /// `old` (a manifest left by an earlier run, if any) only numbers the new files, and all
    /// of its files become history then.
    pub(crate) fn open_waiting(location: Location, old: Option<Manifest>) -> io::Result<AofWriter> {
        fs::create_dir_all(&location.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(location.file(&temp_incr_name(&location.name)))?;
        Ok(AofWriter::new(
            location,
            old.unwrap_or_default(),
            file,
            0,
            0,
            true,
        ))
    }

    /// The AOF directory (a rewrite's child writes its new base there, as
    /// `temp-rewriteaof-bg-<pid>.aof`).
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.location.dir
    }

    /// A rewrite begins: appends switch at once to a new increment (seq + 1) recorded in the
    /// manifest — the child's snapshot covers everything before it — unless the AOF is waiting
    /// for its first rewrite, whose temporary increment already starts where the snapshot
    /// ends. The old increment is fsynced first, so nothing waits on it afterwards.
    pub(crate) fn begin_rewrite(&mut self) -> io::Result<()> {
        if self.waiting {
            return Ok(());
        }
        let seq = self.manifest.incrs.last().map_or(0, |f| f.seq) + 1;
        let name = format!("{}.{seq}.incr.aof", self.location.name);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.location.file(&name))?;
        let mut next = self.manifest.clone();
        next.incrs.push(FileInfo {
            name: name.clone(),
            seq,
            kind: Kind::Incr,
        });
        self.location.write_manifest(&next)?;
        log::info!("Creating AOF incr file {name} on background rewrite");
        self.manifest = next;
        self.switch_to(file);
        self.rewrite_from = Some(seq);
        Ok(())
    }

    /// Appends go to `file` from now on: the old one is fsynced (what waited on it is durable)
    /// and the fsync thread restarted on the new one.
    fn switch_to(&mut self, file: File) {
        self.syncer = None;
        self.trim_fill();
        let old = std::mem::replace(&mut self.file, Arc::new(file));
        if old.sync_data().is_ok() {
            self.sync.synced.fetch_max(self.written, Ordering::AcqRel);
        }
        self.others_size += self.size;
        self.size = 0;
        self.sync.filled.store(0, Ordering::Release);
        if let Some(wake) = self.wake.take() {
            self.start_syncer(&wake);
        }
    }

    /// The rewrite's child wrote `temp_base`: it becomes the new base
    /// (`<name>.<n+1>.base.rdb`), the manifest keeps only the increments opened since the
    /// rewrite began (or, for an AOF switched on at run time, the temporary increment renamed
    /// as the next one), and the replaced files are marked history, deleted, and dropped from
    /// the manifest, as Redis's `backgroundRewriteDoneHandler` does.
    pub(crate) fn finish_rewrite(
        &mut self,
        temp_base: &std::path::Path,
        rdb_base: bool,
    ) -> io::Result<()> {
        let mut next = self.manifest.clone();
        let base_seq = next.base.as_ref().map_or(0, |b| b.seq) + 1;
        let base_name = base_name(&self.location.name, base_seq, rdb_base);
        if let Some(old) = next.base.take() {
            next.history.push(FileInfo {
                kind: Kind::History,
                ..old
            });
        }
        fs::rename(temp_base, self.location.file(&base_name))?;
        log::info!(
            "Successfully renamed the temporary AOF base file {} into {base_name}",
            temp_base
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        );
        next.base = Some(FileInfo {
            name: base_name.clone(),
            seq: base_seq,
            kind: Kind::Base,
        });
        let keep_from = if self.waiting {
            let seq = next.incrs.last().map_or(0, |f| f.seq) + 1;
            let name = format!("{}.{seq}.incr.aof", self.location.name);
            let temp = temp_incr_name(&self.location.name);
            if let Err(e) = fs::rename(self.location.file(&temp), self.location.file(&name)) {
                let _ = fs::remove_file(self.location.file(&base_name));
                return Err(e);
            }
            log::info!("Successfully renamed the temporary AOF incr file {temp} into {name}");
            next.incrs.push(FileInfo {
                name,
                seq,
                kind: Kind::Incr,
            });
            seq
        } else {
            self.rewrite_from.unwrap_or(u64::MAX)
        };
        let (kept, replaced): (Vec<_>, Vec<_>) =
            next.incrs.drain(..).partition(|f| f.seq >= keep_from);
        next.incrs = kept;
        next.history.extend(replaced.into_iter().map(|f| FileInfo {
            kind: Kind::History,
            ..f
        }));
        if let Err(e) = self.location.write_manifest(&next) {
            let _ = fs::remove_file(self.location.file(&base_name));
            return Err(e);
        }
        self.manifest = next;
        self.waiting = false;
        self.rewrite_from = None;
        // The history goes: deleting it may fail without harm (the manifest no longer loads
        // it), so errors are only logged.
        for old in std::mem::take(&mut self.manifest.history) {
            if let Err(e) = fs::remove_file(self.location.file(&old.name)) {
                log::warn!("cannot remove the AOF history file {}: {e}", old.name);
            }
        }
        if let Err(e) = self.location.write_manifest(&self.manifest) {
            log::warn!("cannot write the AOF manifest without its history: {e}");
        }
        let current = self.current_name();
        self.others_size = self
            .manifest
            .loading_order()
            .filter(|f| f.name != current)
            .map(|f| fs::metadata(self.location.file(&f.name)).map_or(0, |m| m.len()))
            .sum();
        self.base_size = self.current_size();
        Ok(())
    }

    /// A rewrite that failed: its temporary base goes; the increments stay as they are (a
    /// later rewrite replaces them all).
    pub(crate) fn abort_rewrite(&mut self, temp_base: &std::path::Path) {
        let _ = fs::remove_file(temp_base);
        self.rewrite_from = None;
    }

    /// Whether the AOF waits for its first rewrite (switched on at run time).
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// The AOF's size: its base and every increment (`aof_current_size`).
    pub(crate) fn current_size(&self) -> u64 {
        self.others_size + self.size
    }

    /// Writes what waits and fsyncs the current increment now, on the loop (shutdown, and
    /// the AOF switched off).
    pub(crate) fn flush_and_fsync(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.append(bytes, Fsync::No)?;
        self.trim_fill();
        self.file.sync_data()?;
        self.sync.synced.fetch_max(self.written, Ordering::AcqRel);
        Ok(())
    }

    /// Starts the fsync thread if it is not running (`always` and `everysec` use it).
    pub(crate) fn start_syncer(&mut self, wake: &ReactorHandle) {
        if self.wake.is_none() {
            self.wake = Some(wake.clone());
        }
        if self.syncer.is_none() {
            self.syncer = Syncer::start(self.file.clone(), self.sync.clone(), wake.clone())
                .map_err(|e| log::warn!("cannot start the AOF fsync thread: {e}"))
                .ok();
        }
    }

    /// Appends `bytes` (and whatever earlier attempts left) to the current increment. With
    /// `Fsync::Always` it then asks the fsync thread to make them durable ([`synced`]
    /// says when); with `EverySec` the thread's next round covers them. On an error the file
    /// is cut back to its size before the attempt and the bytes are kept for the next one.
    ///
    /// [`synced`]: Self::synced
    pub(crate) fn append(&mut self, bytes: &[u8], policy: Fsync) -> io::Result<()> {
        if bytes.is_empty() && self.pending.is_empty() && self.error.is_none() {
            self.ask_fsync(policy);
            return Ok(());
        }
        self.pending.extend_from_slice(bytes);
        let end = self.size + self.pending.len() as u64;
        if self.extending.is_some_and(|(from, _)| end > from) {
            // Caught up with the fill being written: wait for it (rare — the thread had
            // PREALLOC_LOW bytes of commands' time to write them).
            self.wait_extension();
        }
        // A command ending at an odd offset inside the fill is followed by a `#`, so the
        // fill's line there reads as an annotation (the next append overwrites it).
        let pad = end % 2 == 1 && end < self.sync.filled.load(Ordering::Acquire);
        if pad {
            self.pending.push(b'#');
        }
        let wrote = self.file.write_all_at(&self.pending, self.size);
        if pad {
            self.pending.pop();
        }
        match wrote {
            Ok(()) => {
                let n = self.pending.len() as u64;
                self.size += n;
                self.written += n;
                self.pending.clear();
                self.fill_ahead_if_low();
                self.sync.dirty.store(true, Ordering::Release);
                if self.error.take().is_some() {
                    log::warn!("AOF write error looks solved, spindle kv can write again.");
                    self.error_text = None;
                }
                self.ask_fsync(policy);
                Ok(())
            }
            Err(e) => {
                if self.error.is_none() {
                    log::warn!(
                        "Error writing to the AOF file {}: {e}",
                        self.location.file(&self.current_name()).display()
                    );
                }
                // A partial command must not stay in the file: it is cut off (with the fill
                // after it) so the next append starts clean and a crash leaves no half command.
                self.trim_fill();
                self.error = Some(e.kind());
                self.error_text = Some(strerror(&e));
                Err(e)
            }
        }
    }

    /// Under `always`, asks for an fsync of everything written, unless one covering it was
    /// already asked for; without the thread (it could not start), fsyncs here.
    fn ask_fsync(&mut self, policy: Fsync) {
        if policy != Fsync::Always || self.requested >= self.written {
            return;
        }
        self.requested = self.written;
        let asked = self
            .syncer
            .as_ref()
            .is_some_and(|s| s.ask.send(Ask::Sync(self.written)).is_ok());
        if !asked {
            match self.file.sync_data() {
                Ok(()) => {
                    self.sync.synced.fetch_max(self.written, Ordering::AcqRel);
                }
                Err(e) => {
                    if let Ok(mut failed) = self.sync.failed.lock() {
                        *failed = Some(strerror(&e));
                    }
                }
            }
        }
    }

    /// Asks the fsync thread for the next stretch of fill when few are left ahead of the
    /// commands. Only with the thread running: without it there is no fsync worth saving.
    fn fill_ahead_if_low(&mut self) {
        if let Some((_, to)) = self.extending {
            if self.sync.filled.load(Ordering::Acquire) < to {
                return;
            }
            self.extending = None;
        }
        let Some(syncer) = self.syncer.as_ref() else {
            return;
        };
        let filled = self.sync.filled.load(Ordering::Acquire);
        if filled.saturating_sub(self.size) >= PREALLOC_LOW {
            return;
        }
        let from = filled.max(self.size);
        let to = (from + PREALLOC_CHUNK) & !1;
        if let Ok(mut done) = self.sync.extended.0.lock() {
            *done = false;
        }
        if syncer.ask.send(Ask::Extend { from, to }).is_ok() {
            self.extending = Some((from, to));
        }
    }

    /// Waits until the extension in progress is done (or its thread is gone).
    fn wait_extension(&mut self) {
        if self.extending.take().is_none() {
            return;
        }
        // A stopped thread was joined: it writes nothing more.
        let Some(syncer) = self.syncer.as_ref() else {
            return;
        };
        let (done, cv) = &self.sync.extended;
        let Ok(mut guard) = done.lock() else {
            return;
        };
        while !*guard {
            if syncer.thread.as_ref().is_none_or(|t| t.is_finished()) {
                return;
            }
            match cv.wait_timeout(guard, Duration::from_millis(100)) {
                Ok((g, _)) => guard = g,
                Err(_) => return,
            }
        }
    }

    /// Cuts the fill (and anything else) past the commands off the current increment: when
    /// it is closed, and after a failed write. Waits for an extension in progress first, so
    /// its fill cannot land past the new end.
    fn trim_fill(&mut self) {
        self.wait_extension();
        if let Err(e) = self.file.set_len(self.size) {
            log::warn!("cannot cut the AOF back to {}: {e}", self.size);
        }
        self.sync.filled.store(self.size, Ordering::Release);
    }

    /// Bytes written since the AOF was opened.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// How far the completed fsyncs reach, in `written`'s terms.
    pub(crate) fn synced(&self) -> u64 {
        self.sync.synced.load(Ordering::Acquire)
    }

    /// The error of an fsync that failed, if one did.
    pub(crate) fn fsync_failure(&self) -> Option<String> {
        self.sync.failed.lock().ok().and_then(|f| f.clone())
    }

    /// The current increment's name.
    fn current_name(&self) -> String {
        if self.waiting {
            return temp_incr_name(&self.location.name);
        }
        self.manifest
            .incrs
            .last()
            .map_or(String::new(), |f| f.name.clone())
    }

    /// Whether bytes wait for a write that failed.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// The name of base number `seq`: `.base.rdb` for an RDB, `.base.aof` for commands, as Redis
/// names them.
fn base_name(name: &str, seq: u64, rdb: bool) -> String {
    let suffix = if rdb { "rdb" } else { "aof" };
    format!("{name}.{seq}.base.{suffix}")
}

/// The temporary increment of an AOF switched on at run time (Redis's `temp-<name>.incr`).
fn temp_incr_name(name: &str) -> String {
    format!("temp-{name}.incr")
}

/// An IO error's text without Rust's ` (os error N)` suffix, as `strerror` gives it.
pub(crate) fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    }
}
