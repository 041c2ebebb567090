//! `serve` checks the ingest's body limit against the NATS server it connects to: a server whose
//! `max_payload` cannot store the largest body the ingest would accept is refused at start, with
//! the key to change and both numbers, instead of 413s for genuine deliveries later.

use std::time::Duration;

use tokio::process::Command;

use crate::binary::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_body_limit_the_server_cannot_store() {
    let dir = std::env::temp_dir().join(format!("syncbridge-serve-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A server with a quarter of NATS's default max_payload.
    let nats_conf = dir.join("nats.conf");
    std::fs::write(&nats_conf, "max_payload: 262144\n").unwrap();
    let conf = nats_conf.to_str().expect("a UTF-8 path");
    let (mut nats, nats_port) = crate::binary::nats_server(&dir, &["-c", conf]).await;

    let config = dir.join("syncbridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[nats]
urls = ["nats://127.0.0.1:{nats_port}"]

[ingest]
listen = "127.0.0.1:{}"

[tenants.acme.sync]
psa = "kaseya-bms"
org_types = ["Customer"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]

[tenants.acme.itglue]
api_key = "k"

[tenants.acme.kaseya_bms]
base_url = "http://127.0.0.1:9"
username = "u"
password = "p"
"#,
            free_port()
        ),
    )
    .unwrap();
    // The configuration itself is fine (nats.max_payload is NATS's default, 1 MiB)...
    let check = Command::new(env!("CARGO_BIN_EXE_syncbridge"))
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    // ...but this server stores less: `serve` stops at start and says what to change.
    let serve = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(env!("CARGO_BIN_EXE_syncbridge"))
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--role",
                "ingest",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("serve stops at start instead of serving")
    .unwrap();
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success(), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("ingest.body_limit: 1040384 bytes")
            && last.contains("max_payload 262144")
            && last.contains("at most 253952"),
        "{stderr}"
    );
    let _ = nats.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
