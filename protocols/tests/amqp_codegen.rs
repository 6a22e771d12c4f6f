//! The generated AMQP code is current: `python3 protocols/gen/amqp_codegen.py --stdout` prints
//! exactly the committed `protocols/src/amqp/generated.rs`, and the spec it reads is the shared one.

use std::path::{Path, PathBuf};
use std::process::Command;

const REGENERATE: &str = "regenerate it with `python3 protocols/gen/amqp_codegen.py` (from the \
                          repository root) and commit the result";

fn protocols_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_generator(extra: &[&str]) -> Vec<u8> {
    let script = protocols_dir().join("gen/amqp_codegen.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--stdout")
        .args(extra)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run python3, which checks that {} is current: {e}",
                script.display()
            )
        });
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn generated_code_is_current() {
    let generated = run_generator(&[]);
    let path = protocols_dir().join("src/amqp/generated.rs");
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if generated != committed {
        let fresh = String::from_utf8_lossy(&generated);
        let old = String::from_utf8_lossy(&committed);
        let line = fresh
            .lines()
            .zip(old.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| fresh.lines().count().min(old.lines().count()));
        panic!(
            "{} is stale: it differs from the generator's output from line {}\n  generator: {:?}\n  committed: {:?}\n{REGENERATE}",
            path.display(),
            line + 1,
            fresh.lines().nth(line).unwrap_or("<end of file>"),
            old.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn generator_output_is_deterministic() {
    assert!(run_generator(&[]) == run_generator(&[]));
}

/// The repository keeps its own copy of the spec so that a clean clone regenerates the same
/// code; where the shared original sits beside the repository, the copy must match it.
#[test]
fn spec_copy_matches_the_shared_spec() {
    let copy = protocols_dir().join("gen/amqp-rabbitmq-0.9.1.json");
    let copy = std::fs::read(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/amqp-rabbitmq-0.9.1.json");
    match std::fs::read(&shared) {
        Ok(original) => assert!(
            original == copy,
            "protocols/gen/amqp-rabbitmq-0.9.1.json differs from {}: copy it over, then {REGENERATE}",
            shared.display()
        ),
        Err(_) => eprintln!("{} not found: nothing to compare", shared.display()),
    }
}
