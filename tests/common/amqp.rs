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
        let root = env!("CARGO_MANIFEST_DIR");
        let dir =
            std::env::temp_dir().join(format!("spindle-rabbitmq-test-{}", std::process::id()));
        let output = Command::new(format!("{root}/scripts/rabbitmq"))
            .arg("start")
            .arg(&dir)
            .args(["--watch", &std::process::id().to_string()])
            .output()
            .expect("run scripts/rabbitmq");
        assert!(
            output.status.success(),
            "scripts/rabbitmq start failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = String::from_utf8_lossy(&output.stdout).trim().to_string();
        format!("amqp://guest:guest@127.0.0.1:{port}/")
    })
    .clone()
}

/// A queue name of its own for each test (and each test process, should a broker be shared).
pub fn queue(name: &str) -> String {
    format!("spindle-test-{name}-{}", std::process::id())
}
