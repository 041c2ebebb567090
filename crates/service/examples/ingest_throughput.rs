//! Ingest throughput against a private local nats-server, side by side with a minimal
//! axum → HMAC → JetStream-publish pipeline in the same run (DESIGN §6), reported as a ratio.
//!
//! ```sh
//! SYNCBRIDGE_NATS_SERVER=.tools/bin/nats-server \
//!   cargo run --release -p syncbridge --example ingest_throughput -- 20000 64
//! ```
//! Arguments: requests (default 10000), concurrent clients (default 32). Both pipelines receive
//! the same signed Standard Webhooks deliveries (distinct ids) and wait for the JetStream ack.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use futures_util::stream::{self, StreamExt};
use syncbridge::config::Config;
use syncbridge::ingest::{Ingest, NatsSink};
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, setup, ConnectConfig, Connection, SetupConfig};
use syncbridge_webhooks::StandardWebhook;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);

    let nats = NatsServer::start().await?;
    let conn = connect(&ConnectConfig::new(nats.url())).await?;
    setup(&conn, &SetupConfig::default()).await?;

    let config = Config::from_toml(
        &format!(
            r#"
[nats]
urls = ["{url}"]
[tenants.acme.sync]
psa = "connectwise"
org_types = ["Customer"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]
[tenants.acme.itglue]
api_key = "k"
[tenants.acme.connectwise]
site = "na.myconnectwise.net"
company_id = "acme"
public_key = "p"
private_key = "q"
client_id = "c"
webhook_enabled = false
[tenants.acme.standard]
secret = "{SECRET}"
side = "psa"
"#,
            url = nats.url()
        ),
        &|_| None,
    )?;
    let sink = Arc::new(NatsSink::new(conn.clone(), config.nats.publish_timeout));
    let syncbridge = serve(Ingest::new(&config, sink)?.router()).await?;
    let baseline = serve(baseline_router(conn.clone())).await?;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    // Warm up both (connections, JIT-free but caches), then measure each once.
    run(&client, &baseline, "warm-b", 500, concurrency).await;
    run(&client, &syncbridge, "warm-s", 500, concurrency).await;
    let base = run(&client, &baseline, "base", requests, concurrency).await;
    let ours = run(&client, &syncbridge, "sb", requests, concurrency).await;

    println!("requests {requests}, concurrency {concurrency}, local nats-server (file store)");
    print_result("minimal axum→HMAC→JetStream", &base);
    print_result("syncbridge ingest          ", &ours);
    println!(
        "ratio syncbridge / minimal: {:.2}",
        ours.per_sec / base.per_sec
    );
    Ok(())
}

struct Figures {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    accepted: usize,
}

fn print_result(name: &str, f: &Figures) {
    println!(
        "{name}: {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} accepted)",
        f.per_sec,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.accepted
    );
}

async fn serve(router: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(url)
}

async fn run(
    client: &reqwest::Client,
    base: &str,
    tag: &str,
    n: usize,
    concurrency: usize,
) -> Figures {
    let body = br#"{"type":"organization.updated","data":{"id":"42","name":"Acme"}}"#;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let requests: Vec<_> = (0..n)
        .map(|i| {
            let id = format!("msg_{tag}_{i}");
            let signature = StandardWebhook::sign(SECRET, &id, timestamp, body).unwrap_or_default();
            (id, signature)
        })
        .collect();
    let url = format!("{base}/webhooks/acme/standard");
    let started = Instant::now();
    let mut latencies: Vec<(Duration, bool)> = stream::iter(requests)
        .map(|(id, signature)| {
            let request = client
                .post(&url)
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body.to_vec());
            async move {
                let t = Instant::now();
                let ok =
                    matches!(request.send().await, Ok(r) if r.status() == StatusCode::ACCEPTED);
                (t.elapsed(), ok)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].0;
    Figures {
        per_sec: n as f64 / elapsed.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
        accepted: latencies.iter().filter(|(_, ok)| *ok).count(),
    }
}

/// The minimal pipeline: HMAC over `id.timestamp.body`, publish, await the ack, 202.
fn baseline_router(conn: Connection) -> Router {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap_or_default();
    let state = Arc::new((conn, key));
    Router::new()
        .route(
            "/webhooks/acme/standard",
            post(
                |State(state): State<Arc<(Connection, Vec<u8>)>>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
                    let (id, ts, sig) = (
                        get("webhook-id"),
                        get("webhook-timestamp"),
                        get("webhook-signature"),
                    );
                    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&state.1) else {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    };
                    mac.update(format!("{id}.{ts}.").as_bytes());
                    mac.update(&body);
                    let expected = base64::engine::general_purpose::STANDARD
                        .decode(sig.trim_start_matches("v1,"))
                        .unwrap_or_default();
                    if mac.verify_slice(&expected).is_err() {
                        return StatusCode::UNAUTHORIZED;
                    }
                    let mut h = async_nats::HeaderMap::new();
                    h.insert("Nats-Msg-Id", format!("base:{id}").as_str());
                    let js = state.0.jetstream();
                    let stored = async {
                        js.publish_with_headers(
                            "sync.events.acme.standard-psa.organization",
                            h,
                            body,
                        )
                        .await?
                        .await
                    };
                    match stored.await {
                        Ok(_) => StatusCode::ACCEPTED,
                        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                    }
                },
            ),
        )
        .with_state(state)
}
