//! The operations commands through the binary, where an operator's mistake or an unreachable
//! server must end in a clear message and a non-zero exit: `dlq drop` of a sequence that is not
//! there says what `dlq show` says; a replay whose end is before its start is refused before
//! anything is contacted; with NATS unreachable every command names the (masked) URL and what to
//! check, never an empty name or a bare "timed out".

use std::path::PathBuf;

use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, setup, ConnectConfig, SetupConfig};

use crate::binary::run;

/// The example configuration with `urls` in place of its NATS URL.
fn config_with_nats(name: &str, url: &str) -> PathBuf {
    let example = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/syncbridge.example.toml"),
    )
    .unwrap();
    let text = example.replace(
        "urls = [\"nats://127.0.0.1:4222\"]",
        &format!("urls = [\"{url}\"]"),
    );
    assert_ne!(text, example, "the example's NATS URL moved");
    let path = std::env::temp_dir().join(format!(
        "syncbridge-ops-cli-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_drop_of_a_missing_message_fails_like_dlq_show() {
    let nats = NatsServer::start().await.unwrap();
    let conn = connect(&ConnectConfig::new(nats.url())).await.unwrap();
    setup(&conn, &SetupConfig::default()).await.unwrap();
    let path = config_with_nats("dlq", &nats.url());
    let config = path.to_str().unwrap();

    let (ok, _, show) = run(&["dlq", "show", "999999", "--config", config]).await;
    assert!(!ok, "{show}");
    assert!(show.contains("no message 999999 in SYNC_DLQ"), "{show}");
    let (ok, out, drop) = run(&["dlq", "drop", "999999", "--config", config]).await;
    assert!(!ok, "a drop of nothing is a failure: {out}{drop}");
    assert_eq!(drop, show, "drop says what show says");
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_ends_before_it_starts_is_refused() {
    // Refused before connecting: no server is needed to see the mistake.
    let path = config_with_nats("replay", "nats://127.0.0.1:9");
    let config = path.to_str().unwrap();
    let args = [
        "replay",
        "--config",
        config,
        "--tenant",
        "acme",
        "--from-seq",
        "5",
        "--until-seq",
        "2",
    ];
    let (ok, out, err) = run(&args).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains("--until-seq is before --from-seq") && err.contains("nothing to replay"),
        "{err}"
    );
    let (ok, out, err) = run(&[
        "replay",
        "--config",
        config,
        "--tenant",
        "acme",
        "--since",
        "2026-11-25T10:00:00Z",
        "--until",
        "2026-11-25T09:00:00Z",
    ])
    .await;
    assert!(!ok, "{out}");
    assert!(err.contains("--until is before --since"), "{err}");
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_unreachable_commands_name_the_masked_url_and_what_to_check() {
    // A port nothing listens on.
    let port = crate::binary::free_port();
    let path = config_with_nats("down", &format!("nats://bob:s3cret@127.0.0.1:{port}"));
    let config = path.to_str().unwrap();
    let shown = format!("nats://bob:***@127.0.0.1:{port}");
    for args in [
        &["dlq", "list", "--config", config, "--tenant", "acme"][..],
        &["dlq", "drop", "1", "--config", config],
        &[
            "links",
            "show",
            "--config",
            config,
            "--tenant",
            "acme",
            "--entity",
            "organization",
            "--psa-id",
            "1",
        ],
        &["setup", "--config", config],
    ] {
        let (ok, out, err) = run(args).await;
        assert!(!ok, "{args:?}: {out}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.contains(&format!("cannot reach NATS at {shown}"))
                && last.contains("nats-server is running"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("s3cret"),
            "{args:?} printed the password: {err}"
        );
        assert!(!err.contains(" of :"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_are_used_and_never_printed() {
    let dir = std::env::temp_dir().join(format!("syncbridge-ops-cli-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut nats, port) =
        crate::binary::nats_server(&dir, &["--user", "bob", "--pass", "s3cret"]).await;

    let good = config_with_nats("auth-ok", &format!("nats://bob:s3cret@127.0.0.1:{port}"));
    let (ok, out, err) = run(&["setup", "--config", good.to_str().unwrap()]).await;
    assert!(ok, "the URL's credentials are the connection's: {out}{err}");
    assert!(out.contains("SYNC_EVENTS"), "{out}");
    assert!(
        !out.contains("s3cret") && !err.contains("s3cret"),
        "{out}{err}"
    );

    let wrong = config_with_nats("auth-bad", &format!("nats://bob:wr0ng@127.0.0.1:{port}"));
    let (ok, out, err) = run(&["setup", "--config", wrong.to_str().unwrap()]).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!(
            "cannot reach NATS at nats://bob:***@127.0.0.1:{port}"
        )) && err.contains("credentials"),
        "{err}"
    );
    assert!(!err.contains("wr0ng"), "{err}");
    let _ = nats.kill().await;
    for path in [good, wrong] {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
