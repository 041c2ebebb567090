//! `syncbridge healthcheck`, the probe the container image and the Kubernetes manifests run (the
//! image has no curl): against a running `serve` it succeeds on the private metrics listener's
//! `/healthz` and `/readyz`, and it fails — non-zero, naming the URL — when nothing listens or the
//! answer is not 2xx.

use syncbridge_bus::testing::NatsServer;

use crate::binary::{free_port, free_ports, run, wait_ready};
use crate::graceful_shutdown::{config, serve_ingest};

/// Kills the serve process when the test ends, however it ends.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn healthcheck_passes_on_a_running_process_and_fails_otherwise() {
    let nats = NatsServer::start().await.expect("nats-server");
    let [port, metrics] = free_ports();
    let dir = std::env::temp_dir().join(format!("syncbridge-healthcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("syncbridge.toml");
    let text = format!(
        "{}\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n",
        config(&nats.url(), port)
    );
    std::fs::write(&path, text).unwrap();
    let _serve = Serve(serve_ingest(&path));
    let base = format!("http://127.0.0.1:{metrics}");
    wait_ready(&reqwest::Client::new(), &base).await;

    for path in ["/healthz", "/readyz"] {
        let url = format!("{base}{path}");
        let (ok, out, err) = run(&["healthcheck", "--url", &url]).await;
        assert!(ok, "{url}: {err}");
        assert!(out.contains("200"), "{out}");
    }

    // Not 2xx: an unknown path on the listener.
    let missing = format!("{base}/nothing-here");
    let (ok, _, err) = run(&["healthcheck", "--url", &missing]).await;
    assert!(!ok);
    assert!(err.contains(&missing) && err.contains("404"), "{err}");

    // Nothing listening: fails within its timeout, naming the URL.
    let down = format!("http://127.0.0.1:{}/healthz", free_port());
    let (ok, _, err) = run(&["healthcheck", "--url", &down, "--timeout-secs", "2"]).await;
    assert!(!ok);
    assert!(err.contains(&down), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
