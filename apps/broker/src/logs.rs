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
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use spindle_protocols::amqp::ShortStr;

use crate::core::message::Message;
use crate::core::messages::{LogOpener, MessageLog, Opened};
use crate::store::{Place, QueueLog, StoredMessage};
use spindle_reactor::Progress;

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
        let mut progress = Progress::new(
            format!("recovering queue '{queue}' in vhost '{vhost}'"),
            io::stderr().is_terminal(),
        );
        let opened = QueueLog::open_with_progress(&dir, SEGMENT_SIZE, &mut |done, total| {
            progress.report(done, total);
        });
        progress.finish();
        let (log, recovery) = opened.map_err(|e| format!("{}: {e}", dir.display()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::Gauge;
    use crate::core::messages::Messages;
    use spindle_protocols::amqp::BasicProperties;
    use std::time::Instant;

    /// A line of `/proc/self/status`, in kB.
    fn status_kb(key: &str) -> u64 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Start-up of a queue holding N persistent messages (default 1,000,000 of 1 KB; set
    /// `RECOVERY_N`, `RECOVERY_BODY`): the log's open and the queue's taking of what it
    /// recovered, timed, with the peak RSS of each (VmHWM, reset before). Run with
    /// `cargo test -p spindle-broker --release -- --ignored --nocapture recovery_of_a_long_queue`;
    /// it writes N records to the temporary directory (1.1 GB by default) and removes them.
    /// With `RECOVERY_DATA=dir` it uses that data directory, writes the records only if the
    /// queue is not there yet and keeps them: run it twice to measure in a process that did
    /// not write them (and evict the files from the page cache in between for a cold start).
    #[test]
    #[ignore]
    fn recovery_of_a_long_queue() {
        let env = |key: &str, default: usize| {
            std::env::var(key)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let (n, body_len) = (env("RECOVERY_N", 1_000_000), env("RECOVERY_BODY", 1024));
        let kept = std::env::var_os("RECOVERY_DATA").map(PathBuf::from);
        let data = kept.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("spindle-recovery-{}", std::process::id()))
        });
        if kept.is_none() {
            let _ = fs::remove_dir_all(&data);
        }
        let mut logs = Logs::open(&data).unwrap();
        let (vhost, queue) = ("/", ShortStr::from_static("long"));
        let dir = logs.durable_dir(vhost, &queue);
        if !dir.exists() {
            let (mut log, _) =
                QueueLog::open_with_progress(&dir, SEGMENT_SIZE, &mut |_, _| {}).unwrap();
            let properties = BasicProperties {
                delivery_mode: Some(2),
                ..BasicProperties::default()
            };
            let exchange = ShortStr::from_static("");
            let body = vec![0x5a; body_len];
            for id in 0..n as u64 {
                log.append(id, true, &exchange, &queue, &properties, &body)
                    .unwrap();
                if id % 10_000 == 9_999 {
                    log.write().unwrap();
                }
            }
            log.write().unwrap();
            log.sync().unwrap();
            println!(
                "{n} x {body_len} B written: {} MB on disk",
                log.disk_bytes() >> 20
            );
        }
        let before = status_kb("VmRSS:");
        fs::write("/proc/self/clear_refs", "5").unwrap();
        let start = Instant::now();
        let opened = logs.open(vhost, &queue, true, true).unwrap();
        let open_time = start.elapsed();
        let open_peak = status_kb("VmHWM:");
        let after_open = status_kb("VmRSS:");
        assert_eq!(opened.recovered.len(), n);
        let start = Instant::now();
        let mut messages =
            Messages::default().with_log(opened.log, true, Gauge::default(), Instant::now());
        let next = messages.recovered(opened.recovered, 0);
        let take_time = start.elapsed();
        assert_eq!((next, messages.len()), (n as u64, n));
        println!(
            "RSS before {} MB; open {open_time:?}, peak {} MB, then {} MB; the queue takes \
             them in {take_time:?}: peak {} MB, then {} MB",
            before >> 10,
            open_peak >> 10,
            after_open >> 10,
            status_kb("VmHWM:") >> 10,
            status_kb("VmRSS:") >> 10,
        );
        drop(messages);
        if kept.is_none() {
            fs::remove_dir_all(&data).unwrap();
        }
    }
}
