//! The real binary: `serve` becomes ready against a private nats-server, and SIGTERM lets a
//! request that is still waiting on its publish finish (it gets its answer) before the process
//! exits successfully.

use std::process::{Command, Stdio};
use std::time::Duration;

use syncbridge_bus::testing::NatsServer;

pub(crate) const TOKEN: &str = "itg-token-Zq81KxPp0vW3mN7r";

/// An ingest-only configuration: one Kaseya BMS tenant whose IT Glue workflow token is [`TOKEN`].
pub(crate) fn config(nats_url: &str, port: u16) -> String {
    format!(
        r#"
[nats]
urls = ["{nats_url}"]
publish_timeout = "2s"

[ingest]
listen = "127.0.0.1:{port}"

[tenants.acme.sync]
psa = "kaseya-bms"
org_types = ["Customer"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]

[tenants.acme.itglue]
api_key = "k"
workflow_token = "{TOKEN}"

[tenants.acme.kaseya_bms]
base_url = "http://127.0.0.1:9"
username = "u"
password = "p"
"#
    )
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_then_exits() {
    let mut nats = NatsServer::start().await.expect("nats-server");
    // A free port for the listener (the binary binds it itself).
    let port = crate::binary::free_port();
    let dir = std::env::temp_dir().join(format!("syncbridge-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("syncbridge.toml");
    std::fs::write(&path, config(&nats.url(), port)).unwrap();

    let mut child = serve_ingest(&path);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    crate::binary::wait_ready(&http, &base).await;
    let accepted = http
        .post(format!("{base}/webhooks/acme/itglue/{TOKEN}"))
        .body("hint")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);

    // With the bus gone, a delivery waits for its publish (up to the 2 s publish timeout)...
    nats.kill();
    let in_flight = tokio::spawn({
        let http = http.clone();
        let url = format!("{base}/webhooks/acme/itglue/{TOKEN}");
        async move {
            http.post(url)
                .body("hint")
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ...while the process is asked to stop.
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(sent.success());

    let status = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(
        status, 503,
        "answered after its publish gave up, not cut off"
    );
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `syncbridge serve --role ingest` with the configuration at `path`, its output discarded.
pub fn serve_ingest(path: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_syncbridge"))
        .args([
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--role",
            "ingest",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start syncbridge")
}
