//! The vendor's delivery with retries: the ConnectWise simulator makes one attempt per callback
//! (as documented), so its callbacks go to this relay, which answers at once and delivers each to
//! the ingest as a vendor that retries would: again after a 503, a 5xx, a 429, a timeout or a
//! refused connection, with the same body (same `MessageId`), until one is accepted (2xx). It
//! counts what it accepted, how often it tried again, and what the ingest refused for good (4xx).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;

/// How long one delivery is tried before it counts as lost.
const GIVE_UP: Duration = Duration::from_secs(120);
/// One attempt's timeout (more than the ingest's publish timeout).
const ATTEMPT: Duration = Duration::from_secs(15);

/// What the relay did.
#[derive(Default, Debug)]
pub struct Tally {
    /// Callbacks received from the simulator.
    pub received: usize,
    /// `MessageId`s of the callbacks the ingest accepted (2xx), once each.
    pub accepted: Vec<String>,
    /// Attempts answered 503, 5xx, 429, or not answered.
    pub retries: usize,
    /// What the ingest refused for good, or what was not accepted within [`GIVE_UP`].
    pub failed: Vec<String>,
    /// Deliveries still being tried.
    pub in_flight: usize,
}

struct Relay {
    ingest: String,
    http: reqwest::Client,
    tally: Mutex<Tally>,
}

/// A running relay; stops with the test's runtime.
pub struct Handle {
    pub url: String,
    relay: Arc<Relay>,
}

impl Handle {
    /// Starts a relay to the ingest at `ingest` (`http://127.0.0.1:port`).
    pub async fn start(ingest: &str) -> Handle {
        let relay = Arc::new(Relay {
            ingest: ingest.to_owned(),
            http: reqwest::Client::new(),
            tally: Mutex::new(Tally::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let app = Router::new().fallback(receive).with_state(relay.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Handle { url, relay }
    }

    /// Reads the tally.
    pub fn tally<T>(&self, f: impl FnOnce(&Tally) -> T) -> T {
        f(&self.relay.tally.lock().unwrap())
    }
}

async fn receive(
    State(relay): State<Arc<Relay>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    {
        let mut t = relay.tally.lock().unwrap();
        t.received += 1;
        t.in_flight += 1;
    }
    tokio::spawn(deliver(relay, uri, headers, body));
    StatusCode::OK
}

async fn deliver(relay: Arc<Relay>, uri: Uri, headers: HeaderMap, body: Bytes) {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{}{path}", relay.ingest);
    let id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["MessageId"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    let mut pause = Duration::from_millis(200);
    let outcome = loop {
        let mut req = relay
            .http
            .post(&url)
            .timeout(ATTEMPT)
            .header("content-type", "application/json")
            .body(body.clone());
        for name in ["x-content-signature"] {
            if let Some(v) = headers.get(name) {
                req = req.header(name, v);
            }
        }
        let retry = match req.send().await {
            Ok(r) if r.status().is_success() => break Ok(()),
            Ok(r) if r.status().is_server_error() || r.status() == 429 => r.status().to_string(),
            Ok(r) => break Err(format!("{id}: refused {}", r.status())),
            Err(e) => format!("{e}"),
        };
        if tokio::time::Instant::now() >= deadline {
            break Err(format!(
                "{id}: not accepted within {GIVE_UP:?}, last {retry}"
            ));
        }
        relay.tally.lock().unwrap().retries += 1;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    };
    let mut t = relay.tally.lock().unwrap();
    t.in_flight -= 1;
    match outcome {
        Ok(()) => t.accepted.push(id),
        Err(e) => t.failed.push(e),
    }
}
