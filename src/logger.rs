//! The apps' logger: one line per record on standard error, level from `--trace` or the
//! `SPINDLE_LOG` environment variable (`error`, `warn`, `info`, `debug`, `trace`; default
//! `info`). `SPINDLE_TRACE=1` is the same as `--trace`.
//!
//! Libraries only use the `log` macros; choosing and installing a logger is the binary's job.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Other crates' trace lines (mio's registrations) would drown the loop's own story.
        metadata.level() <= log::max_level()
            && (metadata.level() < Level::Debug || metadata.target().starts_with("spindle"))
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if record.level() == Level::Trace {
            // Trace lines are the loop's own narrative: keep them short.
            writeln!(err, "{}", record.args())
        } else {
            writeln!(err, "{:5} {}", record.level(), record.args())
        };
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// The level asked for by the environment, or by `trace`.
pub fn level_from_env(trace: bool) -> LevelFilter {
    if trace || std::env::var("SPINDLE_TRACE").is_ok_and(|v| !v.is_empty() && v != "0") {
        return LevelFilter::Trace;
    }
    match std::env::var("SPINDLE_LOG").as_deref() {
        Ok("error") => LevelFilter::Error,
        Ok("warn") => LevelFilter::Warn,
        Ok("debug") => LevelFilter::Debug,
        Ok("trace") => LevelFilter::Trace,
        Ok("off") => LevelFilter::Off,
        _ => LevelFilter::Info,
    }
}

/// Installs the logger at `level` (once; later calls only change the level).
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
