//! The append-only file, in Redis 7.0's multi-part layout: a directory (`appenddirname`)
//! holding a manifest, a base snapshot (an RDB) and incremental files of commands (RESP, a
//! SELECT when the database changes, expiries as absolute PEXPIREAT — what
//! [`propagate`](crate::propagate) produces). Redis's tools and servers read it as their own.
//!
//! Inside the folder: `check.rs` (`spindle kv check-aof`, as redis-check-aof), `manifest.rs`
//! (the manifest's format), `read.rs` (commands back from a file, with the offsets truncation
//! needs), `rewrite.rs` (a base written as commands), `writer.rs` (creating, appending, fsync policies, the switch to a new increment
//! and the new base a rewrite brings); this file loads a whole AOF through a [`Replay`] the
//! caller provides.

pub(crate) mod check;
pub(crate) mod manifest;
pub(crate) mod read;
pub(crate) mod rewrite;
pub(crate) mod writer;

use std::io::IsTerminal;
use std::time::Instant;

use bytes::Bytes;
use spindle_reactor::Progress;

use manifest::Manifest;
use read::{End, ReadError};
use writer::Location;

/// What loading an AOF does with its contents.
pub(crate) trait Replay {
    /// Loads a base file in RDB format.
    fn load_rdb(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// Runs one command from a file.
    fn apply(&mut self, argv: &[Bytes]) -> Result<(), String>;
}

/// What a load did, for the log.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Files read.
    pub(crate) files: usize,
    /// Commands run.
    pub(crate) commands: u64,
    /// Bytes read.
    pub(crate) bytes: u64,
}

/// Loads every file of `manifest` in order, as Redis's `loadAppendOnlyFiles`: a file cut
/// short is truncated after its last whole command when it is the last file and
/// `truncate_ok` (`aof-load-truncated`), else the load fails; a bad format fails with the
/// offset and the way to repair it. The error is the text to log before refusing to start.
pub(crate) fn load(
    location: &Location,
    manifest: &Manifest,
    truncate_ok: bool,
    target: &mut dyn Replay,
) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    let files: Vec<_> = manifest.loading_order().collect();
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(location.file(&f.name)).ok())
        .map(|m| m.len())
        .sum();
    let mut progress = Progress::new(
        "loading the append only file",
        std::io::stderr().is_terminal(),
    );
    for (i, info) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let path = location.file(&info.name);
        let started = Instant::now();
        let bytes = match std::fs::read(&path) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                return Err(format!(
                    "Fatal error: can't open the append log file {} for reading: {e}",
                    info.name
                ))
            }
        };
        loaded.files += 1;
        loaded.bytes += bytes.len() as u64;
        if bytes.starts_with(b"REDIS") {
            log::info!("Reading RDB base file on AOF loading...");
            target.load_rdb(&bytes).map_err(|e| {
                format!(
                    "Error reading the RDB base file {}, AOF loading aborted: {e}",
                    info.name
                )
            })?;
        } else {
            // The writer keeps the current increment filled ahead of its commands; a crash
            // leaves that fill at the end of the last file. It is cut off before the file is
            // appended to again.
            let end = if last {
                read::commands_end(&bytes)
            } else {
                bytes.len()
            };
            if end < bytes.len() {
                log::info!(
                    "AOF {}: {} bytes of fill after its commands, cut at offset {end}",
                    info.name,
                    bytes.len() - end
                );
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(end as u64).and_then(|()| f.sync_all()))
                    .map_err(|e| format!("Error truncating the AOF file {}: {e}", info.name))?;
            }
            let bytes = bytes.slice(..end);
            let mut commands = 0;
            let before = loaded.bytes - bytes.len() as u64;
            let end = read::replay(
                &bytes,
                |argv| {
                    commands += 1;
                    target.apply(argv)
                },
                &mut |done| progress.report(before + done, total),
            );
            loaded.commands += commands;
            match end {
                Ok(End::Complete) => {}
                Ok(End::Truncated { valid_up_to }) => {
                    if !truncate_ok {
                        return Err(format!(
                            "Unexpected end of file reading the append only file {}. You can: \
                             1) Make a backup of your AOF file, then use spindle kv check-aof \
                             --fix <filename.manifest>. 2) Alternatively you can set the \
                             'aof-load-truncated' configuration option to yes and restart the \
                             server.",
                            info.name
                        ));
                    }
                    if !last {
                        return Err("Fatal error: the truncated file is not the last file".into());
                    }
                    log::warn!(
                        "!!! Warning: short read while loading the AOF file {}!!!",
                        info.name
                    );
                    log::warn!(
                        "!!! Truncating the AOF {} at offset {valid_up_to} !!!",
                        info.name
                    );
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_len(valid_up_to).and_then(|()| f.sync_all()))
                        .map_err(|e| format!("Error truncating the AOF file {}: {e}", info.name))?;
                    log::warn!(
                        "AOF {} loaded anyway because aof-load-truncated is enabled",
                        info.name
                    );
                }
                Err(ReadError::Format { offset }) => {
                    return Err(format!(
                        "Bad file format reading the append only file {} at offset {offset}: \
                         make a backup of your AOF file, then use spindle kv check-aof --fix \
                         <filename.manifest>",
                        info.name
                    ))
                }
                Err(ReadError::Command { offset, message }) => {
                    return Err(format!(
                        "{message} reading the append only file {} at offset {offset}",
                        info.name
                    ))
                }
            }
        }
        let kind = if info.kind == manifest::Kind::Base {
            "base"
        } else {
            "incr"
        };
        log::info!(
            "DB loaded from {kind} file {}: {:.3} seconds",
            info.name,
            started.elapsed().as_secs_f64()
        );
    }
    progress.report(total, total);
    progress.finish();
    Ok(loaded)
}
