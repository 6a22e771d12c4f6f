//! What `spindle broker` keeps in its data directory besides messages: the durable definitions
//! (users, vhosts, permissions, durable exchanges and queues and their bindings) in
//! `definitions.json`, in RabbitMQ's definitions format, so the file is also an export a
//! RabbitMQ can import. It is rewritten whole when an operation changed it, at the end of the
//! reactor turn (before the turn's answers leave), by writing a temporary file, syncing it and
//! renaming it over the old one: a crash leaves either the old file or the new one, never a
//! mixture.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::SyncMode;

/// The definitions file of a data directory.
#[derive(Debug)]
pub(crate) struct DefinitionsFile {
    path: PathBuf,
    dir: PathBuf,
    sync: SyncMode,
    /// What the file holds now, to skip rewriting it unchanged.
    saved: Vec<u8>,
}

impl DefinitionsFile {
    /// The file in `dir` (created if missing) and what it holds, if it exists.
    pub(crate) fn open(
        dir: &Path,
        sync: SyncMode,
    ) -> io::Result<(DefinitionsFile, Option<Vec<u8>>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join("definitions.json");
        let existing = match fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let file = DefinitionsFile {
            path,
            dir: dir.to_path_buf(),
            sync,
            saved: existing.clone().unwrap_or_default(),
        };
        Ok((file, existing))
    }

    /// Writes `definitions` unless the file holds them already; true if it wrote.
    pub(crate) fn save(&mut self, definitions: &serde_json::Value) -> io::Result<bool> {
        let bytes = serde_json::to_vec_pretty(definitions).map_err(io::Error::other)?;
        if bytes == self.saved {
            return Ok(false);
        }
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            if self.sync == SyncMode::Always {
                f.sync_all()?;
            }
        }
        fs::rename(&tmp, &self.path)?;
        if self.sync == SyncMode::Always {
            File::open(&self.dir)?.sync_all()?;
        }
        self.saved = bytes;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_saved_when_changed_and_read_back() {
        let dir = std::env::temp_dir().join(format!("spindle-durable-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (mut file, existing) = DefinitionsFile::open(&dir, SyncMode::Always).unwrap();
        assert!(existing.is_none());
        let defs = serde_json::json!({"queues": [{"name": "jobs"}]});
        assert!(file.save(&defs).unwrap());
        assert!(!file.save(&defs).unwrap(), "unchanged: not rewritten");
        let (_, existing) = DefinitionsFile::open(&dir, SyncMode::None).unwrap();
        let read: serde_json::Value = serde_json::from_slice(&existing.unwrap()).unwrap();
        assert_eq!(read, defs);
        assert!(!dir.join("definitions.json.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
