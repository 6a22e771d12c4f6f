//! Writing the AOF: creating its directory, base and first increment and the manifest that
//! names them; appending each turn's commands to the current increment; and making them
//! durable as `appendfsync` asks — `always`: an fsync before the replies of the writes leave,
//! one for every client's writes of a turn (or of several turns, while one is in flight), run
//! on a thread so the loop goes on meanwhile; `everysec`: the same thread's fsync once a
//! second; `no`: the kernel's own pace.
//!
//! A failed write is undone (the file cut back to where the turn began) and kept for the next
//! attempt; the store refuses writes meanwhile (`-MISCONF`), as Redis does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use spindle_reactor::ReactorHandle;

use super::manifest::{FileInfo, Kind, Manifest};
use crate::db::Db;

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
    /// Its size: where a failed write is cut back to.
    size: u64,
    /// Bytes that could not be written yet, oldest first (written before anything newer).
    pending: Vec<u8>,
    /// Bytes written since the AOF was opened (the position replies wait for).
    written: u64,
    /// The fsync thread's side: what it has made durable, what it was asked for.
    sync: Arc<SyncState>,
    /// The highest `written` an fsync was asked for (`always`).
    requested: u64,
    syncer: Option<Syncer>,
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
}

/// The fsync thread: asked for an fsync up to a position (`always`: the loop goes on reading
/// and running commands meanwhile, their replies held until the fsync covering them is done,
/// and the loop is woken when it is), or, under everysec, fsyncing once a second by itself.
#[derive(Debug)]
struct Syncer {
    ask: mpsc::Sender<Option<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let _ = self.ask.send(None);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Syncer {
    fn start(file: Arc<File>, state: Arc<SyncState>, wake: ReactorHandle) -> io::Result<Syncer> {
        let (ask, asked) = mpsc::channel::<Option<u64>>();
        let thread = std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || loop {
                let target = match asked.recv_timeout(Duration::from_secs(1)) {
                    Ok(Some(mut target)) => {
                        // Asked again meanwhile: one fsync covers them all.
                        while let Ok(next) = asked.try_recv() {
                            match next {
                                Some(t) => target = target.max(t),
                                None => return,
                            }
                        }
                        Some(target)
                    }
                    Ok(None) | Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => None,
                };
                if target.is_none() && !state.dirty.swap(false, Ordering::AcqRel) {
                    continue;
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
            })?;
        Ok(Syncer {
            ask,
            thread: Some(thread),
        })
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
    ) -> io::Result<AofWriter> {
        fs::create_dir_all(&location.dir)?;
        let mut manifest = match manifest {
            Some(m) => m,
            None => {
                let name = format!("{}.1.base.rdb", location.name);
                crate::rdb::file::save(db, &location.file(&name), now_ms)?;
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
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(location.file(&incr))?;
        let size = file.metadata()?.len();
        Ok(AofWriter {
            location,
            manifest,
            file: Arc::new(file),
            size,
            pending: Vec::new(),
            written: 0,
            sync: Arc::new(SyncState::default()),
            requested: 0,
            syncer: None,
            error: None,
            error_text: None,
        })
    }

    /// Starts the fsync thread if it is not running (`always` and `everysec` use it).
    pub(crate) fn start_syncer(&mut self, wake: &ReactorHandle) {
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
        match (&*self.file).write_all(&self.pending) {
            Ok(()) => {
                let n = self.pending.len() as u64;
                self.size += n;
                self.written += n;
                self.pending.clear();
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
                        self.location.file(self.current_name()).display()
                    );
                }
                // A partial command must not stay in the file: a later append would follow it.
                let _ = self.file.set_len(self.size);
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
            .is_some_and(|s| s.ask.send(Some(self.written)).is_ok());
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
    fn current_name(&self) -> &str {
        self.manifest.incrs.last().map_or("", |f| f.name.as_str())
    }

    /// Whether bytes wait for a write that failed.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// An IO error's text without Rust's ` (os error N)` suffix, as `strerror` gives it.
pub(crate) fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    }
}
