//! `syncbridge-demo sim` runs the simulators in a process of its own: seeded, listening, answering with
//! the vendors' shapes, and refusing a bad configuration with a message naming the file.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn the_simulators_run_in_their_own_process() {
    let path = std::env::temp_dir().join(format!("syncbridge-sim-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "seed = 7\norganizations = 3\nitglue_source = \"psa\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncbridge-demo"))
        .args(["sim", "--config", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut itglue = None;
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("itglue") {
                itglue = Some(url.trim().to_owned());
            }
            if line.starts_with("ready") {
                return line;
            }
        }
        panic!("the simulator process ended before it was ready");
    };
    let ready = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap();
    assert!(ready.contains("3 organizations"), "{ready}");

    let url = format!("{}/organizations?page[size]=100", itglue.unwrap());
    let answer: serde_json::Value = reqwest::Client::new()
        .get(&url)
        .header("x-api-key", "itg-test-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"].as_array().unwrap().len(), 3, "{answer}");
    child.kill().await.unwrap();

    std::fs::write(&path, "seed = 7\nclock_factor = -1\n").unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_syncbridge-demo"))
        .args(["sim", "--config", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("clock_factor"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_demo_and_the_simulators_have_help() {
    for args in [&["--help"][..], &["sim", "--help"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_syncbridge-demo"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
