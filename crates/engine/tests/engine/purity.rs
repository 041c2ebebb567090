//! The engine's invariant (ARCHITECTURE.md): the sync rules are pure — no I/O crate may enter
//! `syncbridge-engine`'s dependency tree, so every rule stays testable without a network.

use std::process::Command;

/// The crates that would mean the engine can do I/O.
const IO_CRATES: [&str; 5] = ["tokio", "hyper", "reqwest", "async-nats", "axum"];

#[test]
fn the_engine_depends_on_no_io_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "syncbridge-engine",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("syncbridge-model"), "{tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        assert!(
            !IO_CRATES.contains(&name),
            "syncbridge-engine must not depend on {name}:\n{tree}"
        );
    }
}
