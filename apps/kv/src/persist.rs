//! Background persistence, as Redis 7.0 does it: a BGSAVE or an AOF rewrite forks a child that
//! writes the dataset as it was at the fork (the kernel copies a page only when the parent
//! changes it, so the loop goes on serving without a stall beyond the fork itself), and the
//! server cron reaps it (`waitpid` without blocking) and finishes the job: LASTSAVE and the
//! dirty counter for a BGSAVE, the new base and manifest for a rewrite. The cron also starts
//! BGSAVEs at the save points (`save 3600 1 300 100`), scheduled jobs, and automatic rewrites
//! (`auto-aof-rewrite-percentage`). [`Persist`] is this state and what INFO persistence
//! reports of it; the open AOF writer lives here too, so that commands can switch it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::aof::writer::{AofWriter, Location};
use crate::config::Config;
use crate::db::Db;
use crate::propagate::Feed;

/// What a child process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildKind {
    /// Writing the dump file (BGSAVE, a save point).
    Rdb,
    /// Writing a new AOF base (BGREWRITEAOF, an automatic rewrite, the AOF switched on).
    Aof,
}

/// The running child.
#[derive(Debug)]
struct Child {
    pid: libc::pid_t,
    kind: ChildKind,
    /// Unix seconds when it was forked.
    started: u64,
    /// The dirty counter at the fork: what a successful BGSAVE covers.
    dirty_at_fork: u64,
    /// The file it writes before renaming it: removed if it is killed or fails.
    temp: PathBuf,
    /// It writes a snapshot for replicas, not the dump file.
    for_replicas: bool,
    /// An AOF base it writes is an RDB (`aof-use-rdb-preamble yes`), not commands.
    rdb_base: bool,
}

/// Background persistence's state; one per server, in `Shared`.
#[derive(Debug)]
pub(crate) struct Persist {
    /// The open AOF, while `appendonly` is on.
    pub(crate) aof: Option<AofWriter>,
    child: Option<Child>,
    /// Unix seconds of the last successful save (LASTSAVE), or of the start.
    pub(crate) last_save: u64,
    /// The dirty counter as of the last successful save: `rdb_changes_since_last_save` is
    /// the engine's counter minus this.
    pub(crate) dirty_at_save: u64,
    /// Whether the last BGSAVE succeeded (`rdb_last_bgsave_status`).
    pub(crate) bgsave_ok: bool,
    /// Unix seconds of the last BGSAVE attempt (a failed one is retried after
    /// [`RETRY_DELAY`]).
    bgsave_try: u64,
    /// How long the last BGSAVE took, in seconds (-1: none yet).
    bgsave_secs: i64,
    /// SAVEs and BGSAVEs started (`rdb_saves`).
    pub(crate) rdb_saves: u64,
    /// A BGSAVE waits for the running child (BGSAVE SCHEDULE).
    pub(crate) bgsave_scheduled: bool,
    /// A rewrite waits for the running child.
    pub(crate) rewrite_scheduled: bool,
    /// How long the last rewrite took, in seconds (-1: none yet).
    rewrite_secs: i64,
    /// Whether the last rewrite succeeded (`aof_last_bgrewrite_status`).
    rewrite_ok: bool,
    /// Rewrites started (`aof_rewrites`) and failed in a row.
    pub(crate) rewrites: u64,
    pub(crate) rewrite_failures: u64,
    /// Unix seconds of the last rewrite that failed.
    rewrite_failed_at: u64,
    /// Microseconds the last fork took (`latest_fork_usec`): the loop's stall.
    pub(crate) fork_usec: u64,
    /// The child writing a snapshot for replicas ended since this was last taken: whether
    /// the snapshot it wrote is whole.
    pub(crate) replica_snapshot_ended: Option<bool>,
    /// Children forked (`total_forks`).
    pub(crate) forks: u64,
}

/// Seconds before a save point retries after a failed BGSAVE (Redis's
/// `CONFIG_BGSAVE_RETRY_DELAY`).
const RETRY_DELAY: u64 = 5;

/// Redis's reply while writes are refused after a failed BGSAVE.
pub(crate) const BGSAVE_ERROR: &str = "MISCONF Redis is configured to save RDB snapshots, but \
it's currently unable to persist to disk. Commands that may modify the data set are disabled, \
because this instance is configured to report errors during writes if RDB snapshotting fails \
(stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB \
error.";

impl Persist {
    /// The state at start: `unix_s` is the last save's time until there is one.
    pub(crate) fn new(unix_s: u64) -> Persist {
        Persist {
            aof: None,
            child: None,
            last_save: unix_s,
            dirty_at_save: 0,
            bgsave_ok: true,
            bgsave_try: 0,
            bgsave_secs: -1,
            rdb_saves: 0,
            bgsave_scheduled: false,
            rewrite_scheduled: false,
            rewrite_secs: -1,
            rewrite_ok: true,
            rewrites: 0,
            rewrite_failures: 0,
            rewrite_failed_at: 0,
            fork_usec: 0,
            replica_snapshot_ended: None,
            forks: 0,
        }
    }

    /// What the running child does, if one runs.
    pub(crate) fn child_kind(&self) -> Option<ChildKind> {
        self.child.as_ref().map(|c| c.kind)
    }

    /// The error that refuses writes (and PING), if any, as Redis's
    /// `writeCommandsDeniedByDiskError`: a failed BGSAVE with save points and
    /// `stop-writes-on-bgsave-error yes` first, then the AOF's write error.
    pub(crate) fn refusal(&self, config: &Config, aof_error: Option<&str>) -> Option<String> {
        // The configuration is looked up by name (a lowercased copy, a hash): only once a
        // save has failed, not on every write's way in.
        if !self.bgsave_ok
            && config.get("stop-writes-on-bgsave-error") != Some("no")
            && !save_points(config).is_empty()
        {
            return Some(BGSAVE_ERROR.to_string());
        }
        aof_error.map(|e| format!("MISCONF Errors writing to the AOF file: {e}"))
    }

    /// SAVE, SHUTDOWN's and DEBUG RELOAD's save: the dump file written now, on the loop.
    pub(crate) fn save(&mut self, db: &Db, config: &Config, now_ms: u64) -> io::Result<()> {
        self.rdb_saves += 1;
        let path = dump_path(config);
        match crate::rdb::file::save(db, &path, now_ms) {
            Ok(()) => {
                log::info!("DB saved on disk");
                self.saved(db.dirty, now_ms / 1000);
                Ok(())
            }
            Err(e) => {
                log::warn!("Failed saving the DB: {e}");
                Err(e)
            }
        }
    }

    /// A save covering the writes up to `dirty` succeeded at `unix_s`.
    fn saved(&mut self, dirty: u64, unix_s: u64) {
        self.dirty_at_save = dirty;
        self.last_save = unix_s;
        self.bgsave_ok = true;
    }

    /// Starts a BGSAVE: forks a child that writes the dump file (temporary file, fsync,
    /// rename) and exits. Fails when a child already runs or the fork fails.
    pub(crate) fn bgsave(&mut self, db: &Db, config: &Config, now_ms: u64) -> io::Result<()> {
        if self.child.is_some() {
            return Err(io::Error::other("a child process is active"));
        }
        self.rdb_saves += 1;
        self.bgsave_try = now_ms / 1000;
        let path = dump_path(config);
        let started = Instant::now();
        let forked = fork_child(|| crate::rdb::file::save(db, &path, now_ms).is_ok());
        self.fork_usec = started.elapsed().as_micros() as u64;
        match forked {
            Ok(pid) => {
                self.forks += 1;
                log::info!("Background saving started by pid {pid}");
                self.child = Some(Child {
                    pid,
                    kind: ChildKind::Rdb,
                    started: now_ms / 1000,
                    dirty_at_fork: db.dirty,
                    temp: crate::rdb::file::temp_path(&path, pid as u32),
                    for_replicas: false,
                    rdb_base: true,
                });
                Ok(())
            }
            Err(e) => {
                self.bgsave_ok = false;
                log::warn!("Can't save in background: fork: {e}");
                Err(e)
            }
        }
    }

    /// Forks a child that writes the dataset as an RDB file into `out`, a memory file the
    /// caller reads once the child has ended ([`replica_snapshot_ended`]): the snapshot for
    /// replicas' full resyncs, encoded off the loop (the loop only forks), as Redis's
    /// diskless sync. It counts as a BGSAVE in progress, as in Redis. Fails when a child
    /// already runs or the fork fails.
    ///
    /// [`replica_snapshot_ended`]: Persist::replica_snapshot_ended
    pub(crate) fn snapshot_for_replicas(
        &mut self,
        db: &Db,
        out: &std::fs::File,
        now_ms: u64,
    ) -> io::Result<()> {
        if self.child.is_some() {
            return Err(io::Error::other("a child process is active"));
        }
        let started = Instant::now();
        let forked = fork_child(|| {
            let mut w = io::BufWriter::new(out);
            crate::rdb::encode::encode_dataset(db, now_ms, &mut w).is_ok()
                && io::Write::flush(&mut w).is_ok()
        });
        self.fork_usec = started.elapsed().as_micros() as u64;
        let pid = forked?;
        self.forks += 1;
        log::info!("Starting BGSAVE for SYNC with target: replicas sockets (pid {pid})");
        self.child = Some(Child {
            pid,
            kind: ChildKind::Rdb,
            started: now_ms / 1000,
            dirty_at_fork: db.dirty,
            temp: PathBuf::new(),
            for_replicas: true,
            rdb_base: true,
        });
        Ok(())
    }

    /// Starts an AOF rewrite: the turn's commands so far go to the current increment, appends
    /// switch to a new one (a SELECT opens it), and a child writes the new base from its
    /// snapshot. Fails without an AOF, with a child running, or when the fork fails.
    pub(crate) fn bgrewrite(
        &mut self,
        db: &mut Db,
        config: &Config,
        now_ms: u64,
    ) -> io::Result<()> {
        if self.child.is_some() {
            return Err(io::Error::other("a child process is active"));
        }
        let Some(writer) = self.aof.as_mut() else {
            return Err(io::Error::other("the append only file is off"));
        };
        if let Some(feed) = db.propagation.aof.as_mut() {
            let bytes = feed.buf.split();
            writer.append(&bytes, crate::aof::writer::Fsync::No)?;
            // The new increment must select its database itself: a fresh feed does.
            let mut fresh = Feed::default();
            fresh.appended = feed.appended;
            *feed = fresh;
        }
        if let Err(e) = writer.begin_rewrite() {
            log::warn!("Can't open the append-only file for the rewrite: {e}");
            self.rewrite_ok = false;
            return Err(e);
        }
        self.rewrites += 1;
        let dir = writer.dir().to_path_buf();
        let rdb_base = rdb_preamble(config);
        let started = Instant::now();
        let forked = fork_child(|| {
            // SAFETY: getpid(2) has no preconditions.
            let me = unsafe { libc::getpid() };
            let temp = dir.join(format!("temp-rewriteaof-bg-{me}.aof"));
            let ok = crate::aof::rewrite::save_base(db, &temp, now_ms, rdb_base).is_ok();
            if !ok {
                let _ = std::fs::remove_file(&temp);
            }
            ok
        });
        self.fork_usec = started.elapsed().as_micros() as u64;
        match forked {
            Ok(pid) => {
                self.forks += 1;
                log::info!("Background append only file rewriting started by pid {pid}");
                self.rewrite_scheduled = false;
                self.child = Some(Child {
                    pid,
                    kind: ChildKind::Aof,
                    started: now_ms / 1000,
                    dirty_at_fork: db.dirty,
                    temp: dir.join(format!("temp-rewriteaof-bg-{pid}.aof")),
                    for_replicas: false,
                    rdb_base,
                });
                Ok(())
            }
            Err(e) => {
                self.rewrite_ok = false;
                log::warn!("Can't rewrite append only file in background: fork: {e}");
                Err(e)
            }
        }
    }

    /// The server cron's share: reaps a finished child and completes its job, then starts
    /// what is due — a scheduled job, a save point's BGSAVE, an automatic rewrite.
    pub(crate) fn cron(&mut self, db: &mut Db, config: &Config, now_ms: u64) {
        let now_s = now_ms / 1000;
        self.reap(now_s);
        if self.child.is_some() {
            return;
        }
        if self.bgsave_scheduled {
            self.bgsave_scheduled = false;
            let _ = self.bgsave(db, config, now_ms);
            return;
        }
        if self.rewrite_scheduled && self.aof.is_some() {
            let _ = self.bgrewrite(db, config, now_ms);
            return;
        }
        let changes = db.dirty.saturating_sub(self.dirty_at_save);
        let retry_ok = self.bgsave_ok || now_s.saturating_sub(self.bgsave_try) > RETRY_DELAY;
        for (secs, wanted) in save_points(config) {
            if changes >= wanted && now_s.saturating_sub(self.last_save) > secs && retry_ok {
                log::info!("{wanted} changes in {secs} seconds. Saving...");
                let _ = self.bgsave(db, config, now_ms);
                return;
            }
        }
        self.auto_rewrite(db, config, now_ms);
    }

    /// Starts a rewrite when the AOF grew past `auto-aof-rewrite-min-size` and by
    /// `auto-aof-rewrite-percentage` over its size after the last rewrite.
    fn auto_rewrite(&mut self, db: &mut Db, config: &Config, now_ms: u64) {
        let Some(writer) = self.aof.as_ref() else {
            return;
        };
        let percent: u64 = config
            .get("auto-aof-rewrite-percentage")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let min = config
            .get("auto-aof-rewrite-min-size")
            .and_then(crate::config::parse_memory)
            .unwrap_or(64 << 20);
        let size = writer.current_size();
        if percent == 0 || size <= min || writer.is_waiting() {
            return;
        }
        let base = writer.base_size.max(1);
        let growth = (size * 100 / base) as i64 - 100;
        // A rewrite that keeps failing is retried at most once a minute after three
        // failures in a row, as Redis's `aofRewriteLimited` slows its retries.
        if growth >= percent as i64 && !self.rewrite_limited(now_ms / 1000) {
            log::info!("Starting automatic rewriting of AOF on {growth}% growth");
            let _ = self.bgrewrite(db, config, now_ms);
        }
    }

    /// Whether automatic rewrites wait after repeated failures.
    fn rewrite_limited(&self, now_s: u64) -> bool {
        self.rewrite_failures >= 3 && now_s.saturating_sub(self.rewrite_failed_at) < 60
    }

    /// Reaps the child if it ended, and completes its job.
    fn reap(&mut self, now_s: u64) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid(2) with WNOHANG on our own child; `status` is a valid out-pointer.
        let got = unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) };
        if got == 0 {
            return;
        }
        let Some(child) = self.child.take() else {
            return;
        };
        let (code, signal) = if got < 0 {
            (1, 0)
        } else if libc::WIFSIGNALED(status) {
            (0, libc::WTERMSIG(status))
        } else {
            (libc::WEXITSTATUS(status), 0)
        };
        let secs = now_s.saturating_sub(child.started) as i64;
        match child.kind {
            ChildKind::Rdb if child.for_replicas => {
                let whole = signal == 0 && code == 0;
                if whole {
                    log::info!("Background RDB transfer terminated with success");
                } else {
                    log::warn!("Background transfer error (code {code}, signal {signal})");
                }
                self.replica_snapshot_ended = Some(whole);
            }
            ChildKind::Rdb => {
                self.bgsave_secs = secs;
                if signal != 0 {
                    let _ = std::fs::remove_file(&child.temp);
                }
                if signal == 0 && code == 0 {
                    log::info!("Background saving terminated with success");
                    self.saved(child.dirty_at_fork, now_s);
                } else if signal == 0 {
                    log::warn!("Background saving error");
                    self.bgsave_ok = false;
                } else {
                    log::warn!("Background saving terminated by signal {signal}");
                    if signal != libc::SIGUSR1 {
                        self.bgsave_ok = false;
                    }
                }
            }
            ChildKind::Aof => {
                self.rewrite_secs = secs;
                let Some(writer) = self.aof.as_mut() else {
                    return;
                };
                let temp = child.temp;
                if signal == 0 && code == 0 {
                    log::info!("Background AOF rewrite terminated with success");
                    match writer.finish_rewrite(&temp, child.rdb_base) {
                        Ok(()) => {
                            self.rewrite_ok = true;
                            self.rewrite_failures = 0;
                            log::info!("Background AOF rewrite finished successfully");
                        }
                        Err(e) => {
                            log::warn!("Error finishing the AOF rewrite: {e}");
                            writer.abort_rewrite(&temp);
                            self.rewrite_ok = false;
                            self.rewrite_failures += 1;
                            self.rewrite_failed_at = now_s;
                        }
                    }
                } else {
                    if signal == 0 {
                        log::warn!("Background AOF rewrite terminated with error");
                    } else {
                        log::warn!("Background AOF rewrite terminated by signal {signal}");
                    }
                    writer.abort_rewrite(&temp);
                    if signal != libc::SIGUSR1 {
                        self.rewrite_ok = false;
                        self.rewrite_failures += 1;
                        self.rewrite_failed_at = now_s;
                    }
                    if writer.is_waiting() {
                        // The AOF switched on still has no base: try again.
                        self.rewrite_scheduled = true;
                    }
                }
            }
        }
    }

    /// Kills the running child and waits for it (SHUTDOWN, the AOF switched off): its
    /// temporary file goes.
    pub(crate) fn kill_child(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        if child.for_replicas {
            self.replica_snapshot_ended = Some(false);
        }
        match child.kind {
            ChildKind::Rdb => log::warn!("There is a child saving an .rdb. Killing it!"),
            ChildKind::Aof => log::warn!("There is a child rewriting the AOF. Killing it!"),
        }
        // SAFETY: kill(2) and waitpid(2) on our own child; `status` is a valid out-pointer.
        unsafe {
            libc::kill(child.pid, libc::SIGUSR1);
            let mut status = 0;
            libc::waitpid(child.pid, &mut status, 0);
        }
        match (child.kind, self.aof.as_mut()) {
            (ChildKind::Aof, Some(writer)) => writer.abort_rewrite(&child.temp),
            _ => {
                let _ = std::fs::remove_file(&child.temp);
            }
        }
    }

    /// INFO's `# Persistence` section, with redis-server 7.0.15's fields in its order.
    pub(crate) fn info(&self, db: &Db, now_ms: u64) -> String {
        let now_s = now_ms / 1000;
        let running = |kind| self.child.as_ref().filter(|c| c.kind == kind);
        let current = |kind| running(kind).map_or(-1, |c| now_s.saturating_sub(c.started) as i64);
        let status = |ok: bool| if ok { "ok" } else { "err" };
        let mut text = format!(
            "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\n\
             current_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\n\
             current_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\n\
             rdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\n\
             rdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\n\
             rdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\n\
             rdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\n\
             rdb_last_load_keys_loaded:0\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\n\
             aof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\n\
             aof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\n\
             aof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\n\
             aof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\n\
             module_fork_last_cow_size:0\r\n",
            db.dirty.saturating_sub(self.dirty_at_save),
            u8::from(running(ChildKind::Rdb).is_some()),
            self.last_save,
            status(self.bgsave_ok),
            self.bgsave_secs,
            current(ChildKind::Rdb),
            self.rdb_saves,
            u8::from(self.aof.is_some()),
            u8::from(running(ChildKind::Aof).is_some()),
            u8::from(self.rewrite_scheduled),
            self.rewrite_secs,
            current(ChildKind::Aof),
            status(self.rewrite_ok),
            self.rewrites,
            self.rewrite_failures,
            status(self.aof.as_ref().is_none_or(|w| w.error.is_none())),
        );
        if let Some(writer) = &self.aof {
            // Redis lists these only while the AOF is on.
            text.push_str(&format!(
                "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\n\
                 aof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
                writer.current_size(),
                writer.base_size,
                db.propagation.aof.as_ref().map_or(0, |f| f.buf.len()),
            ));
        }
        text.push_str("\r\n");
        text
    }

    /// Switches the AOF on at run time, as Redis's `startAppendOnly`: commands are kept from
    /// now on (in a temporary increment) and a rewrite writes the base — at once, or when the
    /// running child ends.
    pub(crate) fn start_aof(
        &mut self,
        db: &mut Db,
        config: &Config,
        now_ms: u64,
    ) -> io::Result<()> {
        let location = aof_location(config);
        let old = location.read_manifest().ok().flatten();
        let mut writer = AofWriter::open_waiting(location, old)?;
        if let Some(old) = self.aof.take() {
            writer.base_size = old.base_size;
        }
        self.aof = Some(writer);
        db.propagation.aof = Some(Feed::default());
        if self.child_kind() == Some(ChildKind::Aof) {
            self.kill_child();
        }
        if self.child.is_some() {
            log::warn!(
                "AOF was enabled but there is already another background operation. An AOF \
                 background was scheduled to start when possible."
            );
            self.rewrite_scheduled = true;
            return Ok(());
        }
        self.bgrewrite(db, config, now_ms)
    }

    /// Switches the AOF off (CONFIG SET appendonly no): what waits is written and fsynced, a
    /// rewrite in progress is killed, and commands are no longer kept.
    pub(crate) fn stop_aof(&mut self, db: &mut Db) {
        if self.child_kind() == Some(ChildKind::Aof) {
            self.kill_child();
        }
        let bytes = db
            .propagation
            .aof
            .take()
            .map(|mut f| f.buf.split())
            .unwrap_or_default();
        if let Some(mut writer) = self.aof.take() {
            if let Err(e) = writer.flush_and_fsync(&bytes) {
                log::warn!("Fail to fsync the AOF file: {e}.");
            }
        }
        self.rewrite_scheduled = false;
    }

    /// SHUTDOWN's work before the process exits (Redis's `finishShutdown`): the child killed,
    /// the AOF written and fsynced, the dump file saved when `save` (save points configured,
    /// or SHUTDOWN SAVE) — an error there stops the shutdown unless `force`.
    pub(crate) fn prepare_shutdown(
        &mut self,
        db: &mut Db,
        config: &Config,
        save: bool,
        force: bool,
        now_ms: u64,
    ) -> Result<(), ()> {
        log::warn!("User requested shutdown...");
        if self.aof.as_ref().is_some_and(AofWriter::is_waiting)
            && self.child_kind() == Some(ChildKind::Aof)
        {
            if force {
                log::warn!("Writing initial AOF. Exit anyway.");
            } else {
                log::warn!("Writing initial AOF, can't exit.");
                log::warn!(
                    "Errors trying to shut down the server. Check the logs for more information."
                );
                return Err(());
            }
        }
        self.kill_child();
        if let Some(writer) = self.aof.as_mut() {
            log::info!("Calling fsync() on the AOF file.");
            let bytes = db
                .propagation
                .aof
                .as_mut()
                .map(|f| f.buf.split())
                .unwrap_or_default();
            if let Err(e) = writer.flush_and_fsync(&bytes) {
                log::warn!("Fail to fsync the AOF file: {e}.");
            }
        }
        if save {
            log::info!("Saving the final RDB snapshot before exiting.");
            if self.save(db, config, now_ms).is_err() {
                if force {
                    log::warn!("Error trying to save the DB. Exit anyway.");
                } else {
                    log::warn!("Error trying to save the DB, can't exit.");
                    log::warn!(
                        "Errors trying to shut down the server. Check the logs for more \
                         information."
                    );
                    return Err(());
                }
            }
        }
        log::warn!("Redis is now ready to exit, bye bye...");
        Ok(())
    }
}

/// Forks a child that runs `work` and exits with status 0 if it returned true, 1 otherwise,
/// without running destructors or exit handlers (`_exit`, as Redis's `exitFromChild`): the
/// parent's buffers and threads are not the child's to flush or join. Returns the child's pid.
fn fork_child(work: impl FnOnce() -> bool) -> io::Result<libc::pid_t> {
    // SAFETY: fork(2) has no preconditions; in the child only this thread exists, and the work
    // done there (allocation, file IO) does not wait on locks other threads could hold: the
    // allocator is fork-safe and the child logs nothing.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let ok = work();
        // SAFETY: _exit(2) ends the child at once; nothing of the parent's is left to tear down.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) }
    }
    Ok(pid)
}

/// The save points of `save` ("3600 1 300 100": after 3600 s if 1 change, after 300 s if
/// 100), as (seconds, changes); none when it is empty.
pub(crate) fn save_points(config: &Config) -> Vec<(u64, u64)> {
    let words: Vec<u64> = config
        .get("save")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    words
        .chunks_exact(2)
        .filter_map(|pair| match pair {
            [secs, changes] => Some((*secs, *changes)),
            _ => None,
        })
        .collect()
}

/// The dump file's path: `dir/dbfilename`.
pub(crate) fn dump_path(config: &Config) -> PathBuf {
    crate::rdb::file::dump_path(
        config.get("dir").unwrap_or("."),
        config.get("dbfilename").unwrap_or("dump.rdb"),
    )
}

/// Whether AOF bases are written as RDB files (`aof-use-rdb-preamble`, yes by default) rather
/// than as commands.
pub(crate) fn rdb_preamble(config: &Config) -> bool {
    config.get("aof-use-rdb-preamble") != Some("no")
}

/// The AOF's location from the configuration (`dir/appenddirname`, `appendfilename`).
pub(crate) fn aof_location(config: &Config) -> Location {
    Location {
        dir: Path::new(config.get("dir").unwrap_or("."))
            .join(config.get("appenddirname").unwrap_or("appendonlydir")),
        name: config
            .get("appendfilename")
            .unwrap_or("appendonly.aof")
            .to_string(),
    }
}

/// Ends the process after a successful SHUTDOWN, as redis-server's `exit(0)`: the client sees
/// its connection close without a reply. Unit tests stay alive and see no reply.
#[cfg(not(test))]
pub(crate) fn exit_process() {
    std::process::exit(0);
}

#[cfg(test)]
pub(crate) fn exit_process() {}
