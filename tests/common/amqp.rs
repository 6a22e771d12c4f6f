//! The RabbitMQ the AMQP tests talk to: one private broker per test process, started on first
//! use by `scripts/rabbitmq start DIR --watch PID` (its own port, data dir and node name; it
//! stops itself when this process exits). Set `SPINDLE_AMQP_URI` to use a running broker
//! instead.

use std::process::Command;
use std::sync::OnceLock;

/// The broker's URI (`amqp://guest:guest@127.0.0.1:PORT/`), starting it on first use.
pub fn broker_uri() -> String {
    static URI: OnceLock<String> = OnceLock::new();
    URI.get_or_init(|| {
        if let Ok(uri) = std::env::var("SPINDLE_AMQP_URI") {
            return uri;
        }
        let dir =
            std::env::temp_dir().join(format!("spindle-rabbitmq-test-{}", std::process::id()));
        let port = start_broker(&dir);
        format!("amqp://guest:guest@127.0.0.1:{port}/")
    })
    .clone()
}

/// `scripts/rabbitmq`, which starts and stops private brokers.
pub fn broker_script() -> String {
    format!("{}/scripts/rabbitmq", env!("CARGO_MANIFEST_DIR"))
}

/// Starts a private broker with its state in `dir` (stopped when this process exits, or by
/// `scripts/rabbitmq stop DIR`); returns its AMQP port.
pub fn start_broker(dir: &std::path::Path) -> u16 {
    let output = Command::new(broker_script())
        .arg("start")
        .arg(dir)
        .args(["--watch", &std::process::id().to_string()])
        .output()
        .expect("run scripts/rabbitmq");
    assert!(
        output.status.success(),
        "scripts/rabbitmq start failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let port = String::from_utf8_lossy(&output.stdout);
    port.trim()
        .parse()
        .unwrap_or_else(|_| panic!("scripts/rabbitmq printed {port:?}, not a port"))
}

/// A queue name of its own for each test (and each test process, should a broker be shared).
pub fn queue(name: &str) -> String {
    format!("spindle-test-{name}-{}", std::process::id())
}
