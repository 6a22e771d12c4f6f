//! The dump file on disk: SAVE writes the dataset to a temporary file in the data directory,
//! fsyncs it and renames it over `dbfilename` (a crash leaves the old file or the new one,
//! never a mixture, as redis-server does); at start the file, if there is one, is loaded.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use super::decode::{decode_into, Loaded};
use super::encode::encode_dataset;
use crate::db::Db;

/// Where the dump file is: `dir/dbfilename`.
pub(crate) fn dump_path(dir: &str, dbfilename: &str) -> PathBuf {
    Path::new(dir).join(dbfilename)
}

/// Writes `db` to `path` atomically (temporary file, fsync, rename, fsync of the directory).
pub(crate) fn save(db: &Db, path: &Path, now_ms: u64) -> io::Result<()> {
    save_as(path, |w| {
        encode_dataset(db, now_ms, w).map_err(io::Error::other)
    })
}

/// Writes a file at `path` with `write`, atomically: a temporary file beside it, fsynced and
/// renamed over `path`, then the directory fsynced (a crash leaves the old file or the new
/// one, never a mixture).
pub(crate) fn save_as(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        fs::create_dir_all(d)?;
    }
    let tmp = temp_path(path, std::process::id());
    let written = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(d) = dir {
            File::open(d)?.sync_all()?;
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The temporary file process `pid` writes before renaming it to `path` (a killed BGSAVE
/// child's is removed by the parent).
pub(crate) fn temp_path(path: &Path, pid: u32) -> PathBuf {
    path.with_extension(format!("tmp-{pid}"))
}

/// Loads the dump file at `path` into `db` (which must be empty), if the file exists:
/// `Ok(None)` when there is none. On an error `db` may hold part of the file.
pub(crate) fn load(db: &mut Db, path: &Path, now_ms: u64) -> Result<Option<Loaded>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    decode_into(db, &bytes, now_ms)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}
