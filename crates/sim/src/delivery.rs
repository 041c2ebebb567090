//! Sending webhooks/callbacks: an in-order sender per simulator that applies the fault plan's
//! delivery faults (drop, duplicate, reorder), and a log of every attempt for the admin API
//! (`GET /_admin/deliveries`).
//!
//! ConnectWise and IT Glue document no retry policy, so [`Dispatcher`] makes one attempt per
//! delivery. Autotask's documented retry schedule lives in its own queue (`autotask.rs`), which
//! reuses [`post_once`] and the log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::clock::SimMillis;
use crate::core::Core;

/// Real-time timeout of one attempt when the vendor documents none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One outgoing HTTP POST.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What happened to one attempt.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub at: SimMillis,
    pub url: String,
    /// Receiver's status, or None when it failed at the transport level or was dropped.
    pub status: Option<u16>,
    pub outcome: String,
    pub body: String,
}

/// Log of delivery attempts.
#[derive(Debug, Default)]
pub struct DeliveryLog {
    entries: Mutex<Vec<DeliveryRecord>>,
}

impl DeliveryLog {
    pub fn push(&self, r: DeliveryRecord) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
    }

    pub fn entries(&self) -> Vec<DeliveryRecord> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn log(core: &Core, out: &Outgoing, status: Option<u16>, outcome: &str) {
    core.deliveries.push(DeliveryRecord {
        at: core.clock.now_millis(),
        url: out.url.clone(),
        status,
        outcome: outcome.to_owned(),
        body: String::from_utf8_lossy(&out.body).into_owned(),
    });
}

/// One POST attempt; `Ok(status)` for any HTTP answer, `Err` for transport failures/timeouts.
/// The attempt is logged.
pub async fn post_once(core: &Core, out: &Outgoing, timeout: Duration) -> Result<u16, String> {
    let mut req = core
        .http
        .post(&out.url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .body(out.body.clone());
    for (k, v) in &out.headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            log(core, out, Some(status), "sent");
            Ok(status)
        }
        Err(e) => {
            // reqwest errors carry the URL, which may hold a token: log only the kind.
            let kind = if e.is_timeout() {
                "timeout"
            } else {
                "transport error"
            };
            log(core, out, None, kind);
            Err(kind.to_owned())
        }
    }
}

/// In-order, single-attempt sender with delivery faults.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl Dispatcher {
    /// Starts the sender task; it stops when the simulator shuts down.
    pub fn start(core: Arc<Core>) -> Dispatcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(core, rx));
        Dispatcher { tx }
    }

    pub fn send(&self, out: Outgoing) {
        let _ = self.tx.send(out);
    }
}

async fn run(core: Arc<Core>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut held: Option<Outgoing> = None;
    loop {
        let next = tokio::select! {
            _ = core.shutdown_signal() => return,
            job = rx.recv() => job,
            _ = tokio::time::sleep(core.faults.plan().delivery.reorder_hold()), if held.is_some() => {
                // Nothing came to overtake the held delivery: send it late rather than never.
                if let Some(h) = held.take() {
                    deliver(&core, &h).await;
                }
                continue;
            }
        };
        let Some(out) = next else { return };
        let d = core.faults.delivery();
        if d.drop {
            log(&core, &out, None, "dropped (fault)");
            continue;
        }
        if d.reorder && held.is_none() {
            held = Some(out);
            continue;
        }
        deliver(&core, &out).await;
        if d.duplicate {
            deliver(&core, &out).await;
        }
        if let Some(h) = held.take() {
            deliver(&core, &h).await;
        }
    }
}

async fn deliver(core: &Core, out: &Outgoing) {
    let _ = post_once(core, out, DEFAULT_TIMEOUT).await;
}
