//! `register-webhooks` and `full-sync` through the binary, against the ConnectWise simulator: the
//! registration is idempotent and says so; a dry run counts without publishing; a full sync
//! publishes one event per record that would enter sync (nothing is linked yet), and repeating the
//! same run publishes nothing twice.

use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, names, setup, ConnectConfig, SetupConfig};
use syncbridge_demo::world::{DemoTenant, Documented};
use syncbridge_model::PsaKind;
use syncbridge_sim::SimClock;

/// The binary's outcome and its output, stdout then stderr.
async fn run(args: &[&str]) -> (bool, String) {
    let (ok, stdout, stderr) = crate::binary::run(args).await;
    (ok, stdout + &stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_webhooks_is_idempotent_and_full_sync_publishes_each_record_once() {
    let nats = NatsServer::start().await.unwrap();
    let conn = connect(&ConnectConfig::new(nats.url())).await.unwrap();
    setup(&conn, &SetupConfig::default()).await.unwrap();
    let tenant = DemoTenant::start(
        PsaKind::ConnectWise,
        &SimClock::new(),
        4,
        3,
        Documented::Third,
    )
    .await
    .unwrap();
    let path =
        std::env::temp_dir().join(format!("syncbridge-cli-sync-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "[nats]\nurls = [\"{}\"]\n\n[ingest]\npublic_url = \"http://127.0.0.1:9\"\n\n{}",
            nats.url(),
            tenant.toml
        ),
    )
    .unwrap();
    let config = path.to_str().unwrap();

    let (ok, first) = run(&[
        "register-webhooks",
        "--config",
        config,
        "--tenant",
        "connectwise",
    ])
    .await;
    assert!(ok, "{first}");
    assert!(first.contains("created"), "{first}");
    let (ok, second) = run(&[
        "register-webhooks",
        "--config",
        config,
        "--tenant",
        "connectwise",
    ])
    .await;
    assert!(ok, "{second}");
    assert!(second.contains("nothing changed"), "{second}");
    assert!(!second.contains("created"), "{second}");

    let (ok, dry) = run(&[
        "full-sync",
        "--config",
        config,
        "--tenant",
        "connectwise",
        "--dry-run",
    ])
    .await;
    assert!(ok, "{dry}");
    // Four companies listed; the in-scope ones are new (nothing is linked yet).
    assert!(dry.contains("organization: 4 records listed"), "{dry}");
    assert!(dry.contains("organization: 3 new"), "{dry}");
    assert!(dry.contains("nothing published"), "{dry}");
    let events = async || {
        conn.jetstream()
            .get_stream(names::EVENTS_STREAM)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages
    };
    assert_eq!(events().await, 0, "a dry run publishes nothing");

    let args = [
        "full-sync",
        "--config",
        config,
        "--tenant",
        "connectwise",
        "--run",
        "r1",
    ];
    let (ok, published) = run(&args).await;
    assert!(ok, "{published}");
    assert!(published.contains("17 events published"), "{published}");
    let after_first = events().await;
    assert_eq!(after_first, 17, "{published}");
    let (ok, again) = run(&args).await;
    assert!(ok, "{again}");
    assert_eq!(
        events().await,
        after_first,
        "the same run publishes nothing twice: {again}"
    );
    assert!(again.contains("already published"), "{again}");

    let (ok, unknown) = run(&["full-sync", "--config", config, "--tenant", "nobody"]).await;
    assert!(!ok);
    assert!(unknown.contains("no such tenant"), "{unknown}");
    tenant.shutdown().await;
    let _ = std::fs::remove_file(&path);
}
