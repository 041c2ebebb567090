//! `syncbridge-demo` — the README's main command — run as a user runs it: the binary, its own
//! nats-server, the six simulators. It must finish with exit status 0 (both sides equal for every
//! tenant, no echo write, no dead letter, every conflict won by the PSA) and print the summary; Ctrl-C (SIGINT)
//! stops it cleanly with the summary of what was done so far (exit status 130). A clean run logs no
//! warning.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const TENANTS: [&str; 5] = [
    "connectwise",
    "autotask",
    "kaseya-bms",
    "pulseway-psa",
    "tigerpaw",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_for_20_seconds_converges_and_prints_the_summary() {
    let out = tokio::time::timeout(
        Duration::from_secs(600),
        Command::new(env!("CARGO_BIN_EXE_syncbridge-demo"))
            .args(["--duration", "20s"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the demo ends on its own")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.contains("Summary after"), "{stdout}");
    let summary = stdout.split("Summary after").nth(1).unwrap();
    for tenant in TENANTS {
        let line = summary
            .lines()
            .find(|l| l.starts_with(tenant) && l.contains("pairs"))
            .unwrap_or_else(|| panic!("no summary line for {tenant}:\n{stdout}"));
        assert!(line.contains("yes ("), "{line}");
        // The echo and dead-letter columns, just before "both sides equal", are 0.
        let columns: Vec<&str> = line.split_whitespace().collect();
        let yes = columns.iter().position(|c| *c == "yes").unwrap();
        assert_eq!(columns[yes - 2], "0", "echo writes in {line}");
        assert_eq!(columns[yes - 1], "0", "dead letters in {line}");
    }
    // People edited, and syncbridge created, linked and pushed.
    assert!(!summary.contains("NO ("), "{summary}");
    // A clean run and stop warns of nothing (the private nats-server going away at the end
    // included: the demo closes its connection first).
    assert!(
        !stderr.contains(" WARN ") && !stderr.contains("ERROR"),
        "a clean run warned:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_demo_cleanly_with_a_summary() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncbridge-demo"))
        .args(["--duration", "10m", "--tenants", "connectwise"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    // Interrupt once the people have started editing.
    let started = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("initial sync done") {
                return;
            }
        }
        panic!("the demo ended before editing:\n{seen}");
    };
    tokio::time::timeout(Duration::from_secs(300), started)
        .await
        .expect("the initial sync finishes");
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let rest = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
        }
        child.wait().await.unwrap()
    };
    let status = tokio::time::timeout(Duration::from_secs(120), rest)
        .await
        .expect("the demo stops after Ctrl-C");
    assert!(seen.contains("(interrupted"), "{seen}");
    assert!(seen.contains("connectwise"), "{seen}");
    // The conventional status of a program stopped by Ctrl-C.
    assert_eq!(status.code(), Some(130), "{seen}");
}

/// The echo run: at least 2,000 people's edits spread over both sides of five tenants,
/// no fault injected; every write syncbridge made changed something (no echo), every conflict
/// ended with the PSA's value, and both sides are equal at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_edits_make_no_echo_and_end_equal() {
    let out = tokio::time::timeout(
        Duration::from_secs(900),
        Command::new(env!("CARGO_BIN_EXE_syncbridge-demo"))
            .args([
                "--edits",
                "2000",
                "--duration",
                "10m",
                "--rate",
                "60",
                "--quiet",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the run ends on its own")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.split("Summary after").nth(1).expect("a summary");
    let mut edits = 0;
    for tenant in TENANTS {
        let line = summary
            .lines()
            .find(|l| l.starts_with(tenant) && l.contains("pairs"))
            .unwrap_or_else(|| panic!("no summary line for {tenant}:\n{stdout}"));
        let columns: Vec<&str> = line.split_whitespace().collect();
        edits += columns[1].parse::<u64>().unwrap();
        let yes = columns.iter().position(|c| *c == "yes").expect(line);
        assert_eq!(columns[yes - 1], "0", "echo writes in {line}");
    }
    assert!(edits >= 2000, "only {edits} edits:\n{stdout}");
}
