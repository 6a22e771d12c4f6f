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

use std::io::{IsTerminal, Read, Seek, SeekFrom};
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
        let opened = std::fs::File::open(&path).and_then(|f| {
            let len = f.metadata()?.len();
            Ok((f, len))
        });
        let (mut file, len) = match opened {
            Ok(o) => o,
            Err(e) => {
                return Err(format!(
                    "Fatal error: can't open the append log file {} for reading: {e}",
                    info.name
                ))
            }
        };
        let unreadable =
            |e: std::io::Error| format!("Error reading the AOF file {}: {e}", info.name);
        loaded.files += 1;
        loaded.bytes += len;
        let mut magic = [0u8; 5];
        let is_rdb = len >= 5 && {
            file.read_exact(&mut magic).map_err(unreadable)?;
            &magic == b"REDIS"
        };
        if is_rdb {
            log::info!("Reading RDB base file on AOF loading...");
            let mut bytes = magic.to_vec();
            file.read_to_end(&mut bytes).map_err(unreadable)?;
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
                commands_end_of(&mut file, len).map_err(unreadable)?
            } else {
                len
            };
            if end < len {
                log::info!(
                    "AOF {}: {} bytes of fill after its commands, cut at offset {end}",
                    info.name,
                    len - end
                );
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(end).and_then(|()| f.sync_all()))
                    .map_err(|e| format!("Error truncating the AOF file {}: {e}", info.name))?;
            }
            file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
            let mut left = end;
            let more = |at_least: usize| -> std::io::Result<Option<Bytes>> {
                if left == 0 {
                    return Ok(None);
                }
                let n = (at_least.max(PIECE) as u64).min(left) as usize;
                let mut piece = vec![0; n];
                file.read_exact(&mut piece)?;
                left -= n as u64;
                Ok(Some(Bytes::from(piece)))
            };
            let mut commands = 0;
            let before = loaded.bytes - len;
            let end = read::replay_from(
                more,
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
                Err(ReadError::Io { offset, message }) => {
                    return Err(format!(
                        "Error reading the append only file {} at offset {offset}: {message}",
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

/// How much of an increment is read at a time while loading.
const PIECE: usize = 4 << 20;

/// Where the commands of the file end, the fill after them left out
/// ([`read::commands_end`]), reading only its tail: blocks from the end, back to the first
/// one that holds more than fill. Blocks start at even offsets, as the fill's lines do.
fn commands_end_of(file: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
    const BLOCK: u64 = 1 << 20;
    let mut hi = len;
    loop {
        let lo = hi.saturating_sub(BLOCK) & !1;
        let mut block = vec![0; (hi - lo) as usize];
        file.seek(SeekFrom::Start(lo))?;
        file.read_exact(&mut block)?;
        let end = read::commands_end(&block) as u64;
        if end > 0 || lo == 0 {
            return Ok(lo + end);
        }
        hi = lo;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_end_is_found_from_the_tail_whatever_the_fill_length() {
        let dir = std::env::temp_dir().join(format!("spindle-aof-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("incr.aof");
        let command = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv12\r\n"; // 29 bytes: odd ends too
        for (commands, fill_lines) in [(0, 0), (1, 0), (1, 10), (2, 600_000), (3, 1_600_000)] {
            let mut text = command.repeat(commands);
            let end = text.len() as u64;
            if fill_lines > 0 && text.len() % 2 == 1 {
                text.push(b'#');
            }
            for _ in 0..fill_lines {
                text.extend_from_slice(read::FILL);
            }
            std::fs::write(&path, &text).unwrap();
            let mut f = std::fs::File::open(&path).unwrap();
            assert_eq!(
                commands_end_of(&mut f, text.len() as u64).unwrap(),
                end,
                "{commands} commands, {fill_lines} fill lines"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
