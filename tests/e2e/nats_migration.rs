//! The last step of the runbook "Moving from one box to the cluster" (docs/operations.md), on a
//! cluster run from the real files `deploy/nats/cluster-node{1,2,3}.conf`: streams and buckets
//! restored from the single server have one replica (as `nats account restore` leaves them), and
//! `syncbridge setup` with `replicas = 3` raises every one of them to three in place, keeping the
//! queued event and the tenant's stored mode.
//!
//! (Why a restore and not the single server's store directory: a server started in clustered mode
//! on a standalone server's store restores its streams locally but does not adopt them into the
//! cluster's metadata — `setup` then reports every stream and bucket "created", empty. This test
//! was first written for that shortcut and showed it.)
//!
//! The configurations are used as written except for what a test on one machine must change:
//! ports (free loopback ports instead of 4222/6222 and the `nats-1..3` host names), the store
//! directory, and the monitoring port (dropped).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use syncbridge_bus::{connect, ConnectConfig, StateStore};
use syncbridge_model::{Mode, TenantId};
use tokio::process::{Child, Command};

use crate::binary::{free_port, free_ports, run};
use crate::graceful_shutdown::config;

/// A deploy/nats file with the test's ports and store: `routes` are the three nodes' cluster
/// ports, in node order.
fn rewrite(file: &str, client: u16, cluster: Option<u16>, routes: &[u16], store: &Path) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nats/");
    let mut text = std::fs::read_to_string(format!("{path}{file}")).expect("deploy/nats file");
    text = text
        .lines()
        .filter(|l| !l.starts_with("http:"))
        .map(|l| {
            if l.starts_with("listen:") {
                format!("listen: 127.0.0.1:{client}")
            } else if l.trim_start().starts_with("listen: 0.0.0.0:6222") {
                format!("  listen: 127.0.0.1:{}", cluster.expect("a cluster port"))
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    for (i, port) in routes.iter().enumerate() {
        text = text.replace(
            &format!("nats-route://nats-{}:6222", i + 1),
            &format!("nats-route://127.0.0.1:{port}"),
        );
    }
    text.replace("/var/lib/nats", store.to_str().unwrap())
}

/// Starts nats-server on `conf` (written under `dir`), logging to `dir/<name>.log`, and waits
/// until it listens on `port`.
async fn start(dir: &Path, name: &str, conf: String, port: u16) -> Child {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(syncbridge_bus::testing::nats_server_binary().expect("nats-server"))
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("start nats-server");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        assert!(tokio::time::Instant::now() < deadline, "{name}: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

/// A syncbridge configuration on `urls` with `replicas`, written to `dir/name.toml`.
fn syncbridge_config(dir: &Path, name: &str, urls: &[String], replicas: u8) -> PathBuf {
    let quoted: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    let text = config(&urls[0], free_port()).replacen(
        &format!("urls = [\"{}\"]", urls[0]),
        &format!("urls = [{}]\nreplicas = {replicas}", quoted.join(", ")),
        1,
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_raises_restored_single_replica_streams_to_three_in_the_cluster() {
    let dir = std::env::temp_dir().join(format!("syncbridge-migration-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let [c1, c2, c3, r1, r2, r3] = free_ports();
    let (clients, routes) = ([c1, c2, c3], [r1, r2, r3]);
    let mut nodes = Vec::new();
    for i in 0..3 {
        let store = dir.join(format!("store{}", i + 1));
        let file = format!("cluster-node{}.conf", i + 1);
        let conf = rewrite(&file, clients[i], Some(routes[i]), &routes, &store);
        nodes.push(start(&dir, &format!("node{}", i + 1), conf, clients[i]).await);
    }
    let urls: Vec<String> = clients
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect();

    // What a restore of the single server leaves: the topology with one replica, a queued
    // event, a paused tenant. (The cluster elects its JetStream leader within seconds; `setup`
    // fails clearly until then.)
    let one = syncbridge_config(&dir, "one", &urls, 1);
    let one = one.to_str().unwrap();
    setup_until_ready(&dir, one).await;
    let (ok, out, err) = run(&["tenant", "pause", "--config", one, "--tenant", "acme"]).await;
    assert!(ok, "{out}{err}");
    let client = async_nats::connect(urls[0].as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.publish("sync.events.acme.itglue.organization", "queued".into())
        .await
        .unwrap()
        .await
        .expect("stored");

    // The runbook's step: three servers listed, replicas = 3, `setup`.
    let three = syncbridge_config(&dir, "three", &urls, 3);
    let report = setup_until_ready(&dir, three.to_str().unwrap()).await;
    for stream in [
        "SYNC_EVENTS",
        "SYNC_DLQ",
        "SYNC_AUDIT",
        "SYNC_ADVISORIES",
        "KV_sync_links",
        "KV_sync_state",
        "KV_sync_leases",
    ] {
        let info = js
            .get_stream(stream)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .clone();
        assert_eq!(info.config.num_replicas, 3, "{stream}: {report}");
    }
    assert!(
        report.contains("SYNC_EVENTS: updated (replicas: wanted 3, found 1)"),
        "{report}"
    );
    let events = js
        .get_stream("SYNC_EVENTS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(events.state.messages, 1, "the queued event is kept");
    let conn = connect(&ConnectConfig::new(urls[1].clone())).await.unwrap();
    let state = StateStore::open(&conn, Duration::from_secs(5))
        .await
        .unwrap();
    let mode = state
        .mode(&TenantId::new("acme").unwrap())
        .await
        .unwrap()
        .expect("the stored mode is kept");
    assert_eq!(mode.value, Mode::Paused);
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `syncbridge setup` until it succeeds (a minute and a half at most): its report.
async fn setup_until_ready(dir: &Path, config: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (ok, out, err) = run(&["setup", "--config", config]).await;
        if ok {
            return out;
        }
        let logs: String = (1..=3)
            .map(|i| std::fs::read_to_string(dir.join(format!("node{i}.log"))).unwrap_or_default())
            .collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "setup never succeeded: {out}{err}\n{logs}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
