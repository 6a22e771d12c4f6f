//! Writing the AOF: creating its directory, base and first increment and the manifest that
//! names them; appending each turn's commands to the current increment; and making them
//! durable as `appendfsync` asks — `always`: an fsync before the turn's replies leave (one for
//! every client's writes of the turn), `everysec`: a background thread's fsync once a second,
//! `no`: the kernel's own pace.
//!
//! A failed write is undone (the file cut back to where the turn began) and kept for the next
//! attempt; the store refuses writes meanwhile (`-MISCONF`), as Redis does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

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
    /// The increment commands are appended to, shared with the everysec thread.
    file: Arc<File>,
    /// Its size: where a failed write is cut back to.
    size: u64,
    /// Bytes that could not be written yet, oldest first (written before anything newer).
    pending: Vec<u8>,
    /// Written since the last fsync (the everysec thread's cue).
    unsynced: Arc<AtomicBool>,
    syncer: Option<Syncer>,
    /// The last write's or fsync's error, while it lasts.
    pub(crate) error: Option<io::ErrorKind>,
    /// Its text (`strerror`), for MISCONF and INFO.
    pub(crate) error_text: Option<String>,
}

/// The everysec thread.
#[derive(Debug)]
struct Syncer {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
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
                let seq = manifest.incrs.last().map_or(0, |f| f.seq) + 1;
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
            unsynced: Arc::new(AtomicBool::new(false)),
            syncer: None,
            error: None,
            error_text: None,
        })
    }

    /// Starts or stops the everysec thread to match `policy`.
    pub(crate) fn set_policy(&mut self, policy: Fsync) {
        match (policy, self.syncer.is_some()) {
            (Fsync::EverySec, false) => self.syncer = self.start_syncer().ok(),
            (Fsync::Always | Fsync::No, true) => self.syncer = None,
            _ => {}
        }
    }

    fn start_syncer(&self) -> io::Result<Syncer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let file = self.file.clone();
        let unsynced = self.unsynced.clone();
        let thread = std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || loop {
                match stopped.recv_timeout(Duration::from_secs(1)) {
                    Err(RecvTimeoutError::Timeout) => {
                        if unsynced.swap(false, Ordering::AcqRel) {
                            if let Err(e) = file.sync_data() {
                                log::warn!("Asynchronous AOF fsync failed: {e}");
                                unsynced.store(true, Ordering::Release);
                            }
                        }
                    }
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })?;
        Ok(Syncer {
            stop,
            thread: Some(thread),
        })
    }

    /// Appends `bytes` (and whatever earlier attempts left) to the current increment, and
    /// with `Fsync::Always` makes them durable before returning. On an error the file is cut
    /// back to its size before the attempt and the bytes are kept for the next one.
    pub(crate) fn append(&mut self, bytes: &[u8], policy: Fsync) -> io::Result<()> {
        if bytes.is_empty() && self.pending.is_empty() && self.error.is_none() {
            return Ok(());
        }
        self.pending.extend_from_slice(bytes);
        let result = (&*self.file)
            .write_all(&self.pending)
            .and_then(|()| match policy {
                Fsync::Always => self.file.sync_data(),
                Fsync::EverySec | Fsync::No => Ok(()),
            });
        match result {
            Ok(()) => {
                self.size += self.pending.len() as u64;
                self.pending.clear();
                if policy == Fsync::EverySec {
                    self.unsynced.store(true, Ordering::Release);
                }
                if self.error.take().is_some() {
                    log::warn!("AOF write error looks solved, spindle kv can write again.");
                    self.error_text = None;
                }
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
