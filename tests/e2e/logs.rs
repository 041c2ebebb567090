//! What `serve` writes to stderr when it is not a terminal (a file, a journal, a log shipper): no
//! colour escape codes; with `--log-format json` one JSON object per line, the refusal line
//! carrying its tenant; and a clean shutdown (SIGTERM with NATS up) logs no warning.

use std::process::{Command, Stdio};

use syncbridge_bus::testing::NatsServer;

use crate::graceful_shutdown::{config, TOKEN};

/// Runs `serve --role ingest` with `format` until it is ready, posts one webhook with a wrong
/// token (refused: a line at info), stops it with SIGTERM and returns what it wrote to stderr.
async fn serve_and_stop(format: &str) -> String {
    let nats = NatsServer::start().await.expect("nats-server");
    let port = crate::binary::free_port();
    let dir = std::env::temp_dir().join(format!("syncbridge-logs-{format}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("syncbridge.toml");
    std::fs::write(&path, config(&nats.url(), port)).unwrap();
    let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncbridge"))
        .args(["serve", "--config", path.to_str().unwrap()])
        .args(["--role", "ingest", "--log-format", format])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start syncbridge");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    crate::binary::wait_ready(&http, &base).await;
    let wrong = format!("{base}/webhooks/acme/itglue/not-{TOKEN}");
    let refused = http.post(wrong).body("hint").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(sent.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit}");
    let text = std::fs::read_to_string(dir.join("stderr.log")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    text
}

#[tokio::test]
async fn text_logs_into_a_file_have_no_colour_and_a_clean_stop_no_warning() {
    let text = serve_and_stop("text").await;
    assert!(text.contains("webhook refused"), "{text}");
    assert!(!text.contains('\u{1b}'), "escape codes in a file: {text:?}");
    assert!(
        !text
            .lines()
            .any(|l| l.contains(" WARN ") || l.contains("ERROR")),
        "a clean shutdown warned: {text}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_tenant() {
    let text = serve_and_stop("json").await;
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let refused = lines
        .iter()
        .find(|l| l["fields"]["message"] == "webhook refused")
        .unwrap_or_else(|| panic!("no refusal line: {text}"));
    assert_eq!(refused["level"], "INFO", "{refused}");
    assert_eq!(refused["fields"]["tenant"], "acme", "{refused}");
    assert!(
        !lines
            .iter()
            .any(|l| l["level"] == "WARN" || l["level"] == "ERROR"),
        "a clean shutdown warned: {text}"
    );
}
