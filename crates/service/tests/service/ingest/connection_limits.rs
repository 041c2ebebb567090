//! Issue 13, finding 1: no connection is held forever and no flood of them takes the ingest down.
//! `syncbridge serve --role ingest` is run as a user runs it (a child process with its own
//! configuration, a private nats-server, optionally under `ulimit -n 1024`), and driven over raw
//! TCP:
//!
//! - half a request line (or nothing), first on a connection or after an answered request, is
//!   closed after `ingest.header_read_timeout`;
//! - a keep-alive connection idle after one request is closed after `ingest.idle_timeout`;
//! - at `ingest.max_connections`, a new connection closes the longest-idle one (idle sockets cannot
//!   lock vendors out), and is refused when every connection has a request in flight; both are
//!   counted and logged, and `/healthz` on the metrics listener answers throughout;
//! - the acceptance example: 1,100 idle connections under a 1,024-descriptor limit, and a signed
//!   webhook still gets 202;
//! - `[metrics] listen` serves `/healthz`, `/readyz` and `/metrics` for every role (a worker here).
//!
//! Waits are bounded generously; the only lower bounds asserted are the configured timeouts
//! themselves (a connection is still open before its timeout).

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{autotask_body, autotask_headers, AUTOTASK_SECRET};
use syncbridge_bus::testing::NatsServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound of every wait; not a speed expectation.
const PATIENCE: Duration = Duration::from_secs(60);

/// One test at a time: each runs a nats-server and a service process, some with a thousand
/// sockets.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `syncbridge serve --role ingest` with a metrics listener, killed on drop.
struct Service {
    child: tokio::process::Child,
    ingest: String,
    metrics: String,
    dir: PathBuf,
    http: reqwest::Client,
    _nats: NatsServer,
}

/// Two distinct free loopback ports: both held while they are picked (a port given back can be
/// the next one handed out, and the two listeners must differ).
fn free_ports() -> (u16, u16) {
    let held = [(); 2].map(|()| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"));
    let [a, b] = held.map(|l| l.local_addr().expect("a bound port").port());
    (a, b)
}

impl Service {
    /// Starts the ingest with `ingest` settings added to `[ingest]`; under `ulimit -n N` with
    /// `open_files`.
    async fn start(ingest: &str, open_files: Option<u32>) -> Service {
        Service::start_role("ingest", ingest, open_files).await
    }

    async fn start_role(role: &str, ingest: &str, open_files: Option<u32>) -> Service {
        let nats = NatsServer::start().await.expect("nats-server");
        let (port, metrics_port) = free_ports();
        let dir = std::env::temp_dir().join(format!(
            "syncbridge-connection-limits-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("syncbridge.toml");
        // The harness's tenants (`globex` on Autotask signs its callouts), with this listener.
        let text = common::config_text(
            &nats.url(),
            "127.0.0.1:9",
            syncbridge::config::DEFAULT_BODY_LIMIT,
            "http://127.0.0.1:9/atservicesrest",
        )
        .replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\"\n{ingest}"),
            1,
        );
        std::fs::write(
            &config,
            format!("{text}\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("service.log")).unwrap();
        let binary = env!("CARGO_BIN_EXE_syncbridge");
        let mut command = match open_files {
            // bash's `ulimit -n` lowers the soft and the hard limit: the service cannot raise it.
            Some(n) => {
                let mut c = tokio::process::Command::new("bash");
                c.args([
                    "-c",
                    &format!("ulimit -n {n} && exec \"$0\" serve --config \"$1\" --role {role}"),
                    binary,
                    config.to_str().unwrap(),
                ]);
                c
            }
            None => {
                let mut c = tokio::process::Command::new(binary);
                c.args([
                    "serve",
                    "--config",
                    config.to_str().unwrap(),
                    "--role",
                    "ingest",
                ]);
                c
            }
        };
        let child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start syncbridge");
        let service = Service {
            child,
            ingest: format!("127.0.0.1:{port}"),
            metrics: format!("127.0.0.1:{metrics_port}"),
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            _nats: nats,
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if service.metrics_get("/readyz").await.0 == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "never ready:\n{}", service.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        service
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("service.log")).unwrap_or_default()
    }

    /// GET on the metrics listener, on a fresh connection (status 0: no answer).
    async fn metrics_get(&self, path: &str) -> (u16, String) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        match client
            .get(format!("http://{}{path}", self.metrics))
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    /// The sum of a metric's series whose labels include every `labels` pair.
    async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let (status, text) = self.metrics_get("/metrics").await;
        assert_eq!(status, 200, "/metrics on the metrics listener");
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn wait_metric(&self, name: &str, labels: &[(&str, &str)], at_least: f64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.metric(name, labels).await;
            if value >= at_least {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}{labels:?} = {value}, expected at least {at_least}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A signed Autotask callout on a fresh connection.
    async fn signed_webhook(&self, timeout: Duration) -> Result<u16, String> {
        let client = reqwest::Client::builder().timeout(timeout).build().unwrap();
        let body = autotask_body(1);
        let mut request = client
            .post(format!("http://{}/webhooks/globex/autotask", self.ingest))
            .body(body.clone());
        for (name, value) in autotask_headers(&body, AUTOTASK_SECRET) {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(&self.ingest).await.expect("connect")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the server closes `stream` within `within` (whatever it sends first).
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Reads one response to a `GET /healthz` (its JSON body ends the response).
async fn read_health_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.ends_with(b"}") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an answer")
            .expect("read");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn half_a_request_line_or_nothing_is_closed_after_the_header_read_timeout() {
    let _serial = SERIAL.lock().await;
    let service = Service::start("header_read_timeout = \"1s\"\nidle_timeout = \"1h\"", None).await;

    let mut half = service.connect().await;
    half.write_all(b"POST /webhooks/glo").await.unwrap();
    let mut silent = service.connect().await;
    // Closed by the 1 s header-read timeout, long before the 1 h idle timeout.
    assert!(
        closed_by_server(&mut half, PATIENCE).await,
        "half a request line held open"
    );
    assert!(
        closed_by_server(&mut silent, PATIENCE).await,
        "a silent connection held open"
    );
    service
        .wait_metric(
            "syncbridge_http_connections_timed_out_total",
            &[("listener", "ingest"), ("reason", "header_read")],
            2.0,
        )
        .await;

    // A head trickled byte by byte is bounded the same way (activity does not extend it).
    let mut trickle = service.connect().await;
    let started = Instant::now();
    let closed = loop {
        if trickle.write_all(b"X").await.is_err() {
            break true;
        }
        if closed_by_server(&mut trickle, Duration::from_millis(200)).await {
            break true;
        }
        if started.elapsed() > PATIENCE {
            break false;
        }
    };
    assert!(closed, "a trickled head held open");
    // So is half a head on a keep-alive connection after an answered request: the header-read
    // timeout runs from the new head's first byte, not only from the connection's start.
    let mut kept = service.connect().await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: ingest\r\n\r\n")
        .await
        .unwrap();
    let answer = read_health_answer(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Idle for longer than the header-read timeout first (idle is bounded by the 1 h timeout).
    assert!(
        !closed_by_server(&mut kept, Duration::from_millis(1_500)).await,
        "an idle keep-alive connection closed before the idle timeout"
    );
    kept.write_all(b"POST /webhooks/glo").await.unwrap();
    assert!(
        closed_by_server(&mut kept, PATIENCE).await,
        "half a second head held open"
    );
    // Genuine requests are unaffected.
    assert_eq!(
        service.signed_webhook(Duration::from_secs(30)).await,
        Ok(202)
    );
}

#[tokio::test]
async fn a_keep_alive_connection_idle_after_one_request_is_closed_after_the_idle_timeout() {
    let _serial = SERIAL.lock().await;
    let service = Service::start("header_read_timeout = \"5m\"\nidle_timeout = \"3s\"", None).await;

    let mut stream = service.connect().await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ingest\r\n\r\n")
        .await
        .unwrap();
    let answer = read_health_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // Kept alive for a next request...
    assert!(
        !closed_by_server(&mut stream, Duration::from_secs(1)).await,
        "closed before the idle timeout"
    );
    // ...until the 3 s idle timeout (the 5 min header-read timeout plays no part).
    assert!(
        closed_by_server(&mut stream, PATIENCE).await,
        "idle connection held open"
    );
    service
        .wait_metric(
            "syncbridge_http_connections_timed_out_total",
            &[("listener", "ingest"), ("reason", "idle")],
            1.0,
        )
        .await;
}

#[tokio::test]
async fn at_the_connection_cap_idle_connections_make_room_and_busy_ones_refuse() {
    let _serial = SERIAL.lock().await;
    let service = Service::start(
        "max_connections = 20\nheader_read_timeout = \"5m\"\nidle_timeout = \"1h\"",
        None,
    )
    .await;
    let gauge = "syncbridge_http_connections_open";
    let ingest = [("listener", "ingest")];

    // 25 sockets that never send anything: the first 20 fill the cap, each later one closes the
    // longest-idle one.
    let mut idle = Vec::new();
    for _ in 0..25 {
        idle.push(service.connect().await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service
        .wait_metric(
            "syncbridge_http_connection_limit_hits_total",
            &[("listener", "ingest"), ("action", "closed_idle")],
            5.0,
        )
        .await;
    assert!(
        closed_by_server(&mut idle[0], PATIENCE).await,
        "the longest-idle connection was not closed"
    );
    assert_eq!(service.metric(gauge, &ingest).await, 20.0);
    // A vendor's delivery gets through.
    assert_eq!(
        service.signed_webhook(Duration::from_secs(30)).await,
        Ok(202)
    );
    assert_eq!(service.metrics_get("/healthz").await.0, 200);

    // 20 requests in flight (a head, then a body that never completes) hold every slot...
    let mut busy = Vec::new();
    for _ in 0..20 {
        let mut stream = service.connect().await;
        stream
            .write_all(
                b"POST /webhooks/globex/autotask HTTP/1.1\r\nHost: ingest\r\n\
                  X-Hook-Signature: x\r\nContent-Length: 1000\r\n\r\n0123456789",
            )
            .await
            .unwrap();
        busy.push(stream);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ...so a new connection is refused: closed at once, counted and logged.
    let mut refused = service.connect().await;
    let _ = refused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ingest\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(PATIENCE, refused.read(&mut buf))
        .await
        .expect("closed, not held");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "a refused connection got an answer: {read:?}"
    );
    service
        .wait_metric(
            "syncbridge_http_connection_limit_hits_total",
            &[("listener", "ingest"), ("action", "refused")],
            1.0,
        )
        .await;
    let log = service.log();
    assert!(log.contains("refused a new connection"), "{log}");
    assert!(log.contains("closed the longest-idle connection"), "{log}");
    // The metrics listener answers whatever the pressure on the public one.
    assert_eq!(service.metrics_get("/healthz").await.0, 200);
    assert_eq!(service.metrics_get("/readyz").await.0, 200);
    // ...and /metrics is no longer served on the public listener.
    let public = reqwest::get(format!("http://{}/metrics", service.ingest)).await;
    drop(busy);
    let public = match public {
        Ok(r) => r.status().as_u16(),
        // The server notices the dropped connections only when it next polls them: until then
        // the cap may still refuse a new one.
        Err(_) => {
            let deadline = Instant::now() + PATIENCE;
            loop {
                match service
                    .http
                    .get(format!("http://{}/metrics", service.ingest))
                    .send()
                    .await
                {
                    Ok(r) => break r.status().as_u16(),
                    Err(e) => assert!(
                        Instant::now() < deadline,
                        "public listener answers once the busy connections are gone: {e}"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(public, 404);
}

#[tokio::test]
async fn a_signed_webhook_gets_202_with_1100_idle_connections_under_1024_descriptors() {
    let _serial = SERIAL.lock().await;
    // This process holds 1,100 sockets itself.
    syncbridge::http_server::nofile::raise_to_hard();
    let service = Service::start(
        "header_read_timeout = \"5m\"\nidle_timeout = \"1h\"",
        Some(1024),
    )
    .await;
    let log = service.log();
    assert!(
        log.contains("open-file limit") && log.contains("soft=Some(1024)"),
        "{log}"
    );

    let mut idle = Vec::with_capacity(1100);
    for _ in 0..1100 {
        idle.push(service.connect().await);
    }
    // 1,024 descriptors leave room for 768 connections (the derived cap): the later ones closed
    // the longest-idle ones.
    service
        .wait_metric(
            "syncbridge_http_connection_limit_hits_total",
            &[("listener", "ingest"), ("action", "closed_idle")],
            1100.0 - 768.0,
        )
        .await;
    assert_eq!(
        service
            .metric("syncbridge_http_connections_max", &[("listener", "ingest")])
            .await,
        768.0
    );
    let started = Instant::now();
    let answer = service.signed_webhook(Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert_eq!(answer, Ok(202), "{}", service.log());
    eprintln!("signed webhook answered 202 in {elapsed:?} with 1,100 idle connections");
    assert_eq!(service.metrics_get("/healthz").await.0, 200);
    drop(idle);
}

#[tokio::test]
async fn the_metrics_listener_serves_health_and_metrics_for_every_role() {
    let _serial = SERIAL.lock().await;
    let service = Service::start_role("worker", "", None).await;
    assert_eq!(service.metrics_get("/healthz").await.0, 200);
    assert_eq!(service.metrics_get("/readyz").await.0, 200);
    let (status, text) = service.metrics_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("syncbridge_open_files_limit"), "{text}");
    assert_eq!(service.metrics_get("/nothing").await.0, 404);
}
