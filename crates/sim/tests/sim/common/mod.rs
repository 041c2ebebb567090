//! Test helpers: a webhook receiver that records what it is sent, and small JSON helpers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Clone)]
struct RecvState {
    tx: mpsc::UnboundedSender<Received>,
    /// Status to answer with (tests switch a receiver to failing).
    status: Arc<Mutex<u16>>,
}

/// A local HTTP server that records every POST and answers with a settable status.
pub struct Receiver {
    pub url: String,
    pub rx: mpsc::UnboundedReceiver<Received>,
    status: Arc<Mutex<u16>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(Mutex::new(200));
        let state = RecvState {
            tx,
            status: status.clone(),
        };
        let app = Router::new().fallback(post(record)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, rx, status }
    }

    pub fn set_status(&self, status: u16) {
        *self.status.lock().expect("lock") = status;
    }

    /// The next request, or None after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Received> {
        tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Everything that arrives within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        while let Some(r) = self.next(wait).await {
            out.push(r);
        }
        out
    }
}

async fn record(
    State(s): State<RecvState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let _ = s.tx.send(Received {
        path: uri.to_string(),
        headers,
        body,
    });
    let code = *s.status.lock().expect("lock");
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}
