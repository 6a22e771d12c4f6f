//! The queue logs of a data directory: [`Logs`] opens one [`QueueLog`] per queue (the core
//! asks through [`LogOpener`]) and adapts it to the core's [`MessageLog`].
//!
//! ```text
//! DATA/queues/<hash of vhost and name>/   a durable queue's log, kept across restarts
//!                                         (`name` inside says which queue it is)
//! DATA/paging/<n>/                        a non-durable queue's log, for paging only;
//!                                         the whole of DATA/paging is removed at start
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use spindle_protocols::amqp::ShortStr;

use crate::core::message::Message;
use crate::core::messages::{LogOpener, MessageLog, Opened};
use crate::store::{Place, QueueLog, StoredMessage};

/// Segment files of 8 MiB: large enough that rolling is rare, small enough that a drained
/// queue gives its space back soon.
const SEGMENT_SIZE: u64 = 8 << 20;

/// The queue logs under a data directory.
#[derive(Debug)]
pub(crate) struct Logs {
    queues: PathBuf,
    paging: PathBuf,
    next_paging: u64,
}

impl Logs {
    /// The logs under `data`: its paging logs (of the previous run's non-durable queues) are
    /// removed.
    pub(crate) fn open(data: &Path) -> io::Result<Logs> {
        let queues = data.join("queues");
        let paging = data.join("paging");
        fs::create_dir_all(&queues)?;
        match fs::remove_dir_all(&paging) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Logs {
            queues,
            paging,
            next_paging: 1,
        })
    }

    fn durable_dir(&self, vhost: &str, queue: &ShortStr) -> PathBuf {
        let mut h = Sha256::new();
        h.update(vhost.as_bytes());
        h.update([0]);
        h.update(queue.as_ref());
        let digest = h.finalize();
        let name: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        self.queues.join(name)
    }
}

impl LogOpener for Logs {
    fn open(
        &mut self,
        vhost: &str,
        queue: &ShortStr,
        durable: bool,
        recover: bool,
    ) -> Result<Opened, String> {
        let dir = if durable {
            let dir = self.durable_dir(vhost, queue);
            if !recover {
                // A queue declared anew starts empty, whatever a queue of the same name left.
                let _ = fs::remove_dir_all(&dir);
            }
            dir
        } else {
            let n = self.next_paging;
            self.next_paging += 1;
            self.paging.join(n.to_string())
        };
        let (log, recovery) =
            QueueLog::open(&dir, SEGMENT_SIZE).map_err(|e| format!("{}: {e}", dir.display()))?;
        if durable {
            let label = format!("vhost {vhost}\nqueue {queue}\n");
            let _ = fs::write(dir.join("name"), label);
        }
        if let Some((file, offset)) = &recovery.torn {
            log::warn!(
                "queue '{queue}' in vhost '{vhost}': a record torn by a crash at {} offset \
                 {offset} was cut off",
                file.display()
            );
        }
        for (file, offset) in &recovery.skipped {
            log::error!(
                "queue '{queue}' in vhost '{vhost}': a damaged record at {} offset {offset} \
                 was skipped (its message is lost)",
                file.display()
            );
        }
        Ok(Opened {
            log: Box::new(Log(log)),
            recovered: recovery.messages,
        })
    }
}

/// A [`QueueLog`] as the core's [`MessageLog`].
#[derive(Debug)]
struct Log(QueueLog);

impl MessageLog for Log {
    fn append(&mut self, m: &Message, persistent: bool) -> Result<Place, String> {
        self.0
            .append(
                m.id,
                persistent,
                &m.exchange,
                &m.routing_key,
                &m.properties,
                &m.body,
            )
            .map_err(|e| e.to_string())
    }

    fn settle(&mut self, place: Place) {
        self.0.settle(place);
    }

    fn read(&self, place: Place) -> Result<StoredMessage, String> {
        self.0.read(place).map_err(|e| e.to_string())
    }

    fn write(&mut self) -> Result<(), (String, Vec<Place>)> {
        self.0.write().map_err(|f| (f.error.to_string(), f.lost))
    }

    fn sync(&mut self) -> Result<(), String> {
        self.0.sync().map_err(|e| e.to_string())
    }

    fn is_dirty(&self) -> bool {
        self.0.is_dirty()
    }

    fn disk_bytes(&self) -> u64 {
        self.0.disk_bytes()
    }

    fn destroy(self: Box<Self>) {
        if let Err(e) = self.0.destroy() {
            log::warn!("cannot remove a deleted queue's log: {e}");
        }
    }
}
