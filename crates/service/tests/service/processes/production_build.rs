//! A production build of `syncbridge` links no simulator, no demo and no test harness: those live
//! in `syncbridge-demo` and `syncbridge-sim`, and the nats-server harness behind the bus crate's
//! `testing` feature (ARCHITECTURE.md).

use std::process::Command;

#[test]
fn the_syncbridge_binary_links_no_simulator_demo_or_test_harness() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "syncbridge",
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
    assert!(tree.contains("syncbridge-connectors"), "{tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        // `tempfile` comes only with the bus crate's `testing` harness (private nats-servers).
        assert!(
            !["syncbridge-sim", "syncbridge-demo", "tempfile"].contains(&name),
            "syncbridge's production build must not link {name}:\n{tree}"
        );
    }
}
