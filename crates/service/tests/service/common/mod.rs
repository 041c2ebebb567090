//! Shared fixtures of the service's tests: a private nats-server (topology set up, [`bus`]), the
//! ConnectWise simulator as the signing-key host, the real router bound to 127.0.0.1:0, signed
//! deliveries ([`Harness`]), and the configuration of one tenant ([`single_tenant_config`]) with
//! the TOML tables the tests share ([`sync_keys`], [`connectwise_table`]); [`e2e`] runs the whole
//! product on simulated vendors, [`acme`] one tenant on the simulators with the worker and poller
//! loops, [`autotask_tenant`] an Autotask tenant's configuration.

pub mod acme;
pub mod autotask_tenant;
pub mod e2e;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use syncbridge::config::Config;
use syncbridge::ingest::deactivation::{DeactivationChecker, WebhookState};
use syncbridge::ingest::{BoxFuture, Ingest, NatsSink};
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, setup, ConnectConfig, Connection, SetupConfig};
use syncbridge_model::TenantId;
use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig};
use syncbridge_webhooks::DeactivationNotice;

/// Bound for "did it answer at all" waits (reconnects after a restart); not a speed expectation.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The publish timeout the tests configure.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

pub const IT_GLUE_TOKEN: &str = "itg-token-Zq81KxPp0vW3mN7r";
pub const STANDARD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const AUTOTASK_SECRET: &str = "test-secret-key";
pub const CW_SIGNING_KEY: &str = "test-signing-key";
/// The Autotask tenant of [`Harness::with_options`] with the Autotask API.
pub const AUTOTASK_API_TENANT: &str = "initech";

/// The configuration the harness runs with (tenants `acme` on ConnectWise, `globex` on Autotask).
pub fn config_text(
    nats_url: &str,
    cw_host: &str,
    body_limit: usize,
    autotask_base: &str,
) -> String {
    format!(
        r#"
[nats]
urls = ["{nats_url}"]
publish_timeout = "{publish_timeout}ms"

[ingest]
listen = "127.0.0.1:0"
body_limit = {body_limit}
retry_after = "3s"

[tenants.acme.sync]
{acme_sync}

[tenants.acme.itglue]
base_url = "http://127.0.0.1:9"
api_key = "itg-key"
workflow_token = "{IT_GLUE_TOKEN}"

{acme_connectwise}

[tenants.acme.standard]
secret = "{STANDARD_SECRET}"
side = "psa"

[tenants.globex.sync]
{globex_sync}

[tenants.globex.itglue]
api_key = "itg-key"

[tenants.globex.autotask]
base_url = "{autotask_base}"
integration_code = "TRACKING-ID"
username = "syncbridge@example.com"
secret = "at-secret"
webhook_secret = "{AUTOTASK_SECRET}"
"#,
        publish_timeout = PUBLISH_TIMEOUT.as_millis(),
        acme_sync = sync_keys("connectwise", "Customer"),
        acme_connectwise = connectwise_table(cw_host),
        globex_sync = sync_keys("autotask", "Customer"),
    )
}

/// The keys of a tenant's sync table on `psa`: Active organizations of type `org_type`, Active
/// servers.
pub fn sync_keys(psa: &str, org_type: &str) -> String {
    format!(
        r#"psa = "{psa}"
org_types = ["{org_type}"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]"#
    )
}

/// A configuration of one tenant: the nats-server at `nats`, the keys `sync` in the tenant's sync
/// table ([`sync_keys`], …), IT Glue at `itg` with the API key `itg_key`; `more` is the rest of
/// the TOML (the PSA's table, polling, budgets, ingest).
pub fn single_tenant_config(
    nats: &str,
    tenant: &str,
    sync: &str,
    itg: &str,
    itg_key: &str,
    more: &str,
) -> Config {
    let text = format!(
        r#"
[nats]
urls = ["{nats}"]

[tenants.{tenant}.sync]
{sync}

[tenants.{tenant}.itglue]
base_url = "{itg}"
api_key = "{itg_key}"

{more}
"#
    );
    Config::from_toml(&text, &|_| None).unwrap()
}

/// Tenant `acme`'s `[tenants.acme.connectwise]` table, ConnectWise at `site` (`host:port` of a
/// simulator, [`cw_site`]); keys may follow it.
pub fn connectwise_table(site: &str) -> String {
    format!(
        r#"[tenants.acme.connectwise]
site = "{site}"
company_id = "acme"
public_key = "cw-public"
private_key = "cw-private"
client_id = "test-client-id"
allow_http_for_simulator = true"#
    )
}

/// The `host:port` of a ConnectWise simulator (its site, in a configuration).
pub fn cw_site(cw: &ConnectWise) -> &str {
    cw.base_url().trim_start_matches("http://")
}

/// A deactivation checker whose answer the test sets, counting calls.
#[derive(Default)]
pub struct FakeChecker {
    pub answer: Mutex<Option<WebhookState>>,
    pub calls: AtomicUsize,
}

impl DeactivationChecker for FakeChecker {
    fn check<'a>(
        &'a self,
        _tenant: &'a TenantId,
        _notice: &'a DeactivationNotice,
    ) -> BoxFuture<'a, Result<WebhookState, String>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = *self.answer.lock().unwrap();
        Box::pin(async move { answer.ok_or_else(|| "API unreachable".to_owned()) })
    }
}

/// Everything one test needs.
pub struct Harness {
    pub nats: NatsServer,
    pub conn: Connection,
    pub cw: ConnectWise,
    /// `http://127.0.0.1:{port}` of the ingest.
    pub url: String,
    pub http: reqwest::Client,
    pub checker: Arc<FakeChecker>,
    pub config: Config,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with_body_limit(syncbridge::config::DEFAULT_BODY_LIMIT).await
    }

    pub async fn with_body_limit(body_limit: usize) -> Harness {
        Harness::with_options(body_limit, None).await
    }

    /// With `autotask_base` (the simulator's `…/atservicesrest`), deactivation notices are
    /// confirmed through the real Autotask API client against it instead of the fake, and the
    /// Autotask tenant is [`AUTOTASK_API_TENANT`] instead of `globex`: the deactivation metric
    /// is process-wide, and the tests of this binary share the process.
    pub async fn with_options(body_limit: usize, autotask_base: Option<&str>) -> Harness {
        let nats = NatsServer::start().await.expect("start nats-server");
        let mut connect_config = ConnectConfig::new(nats.url());
        connect_config.request_timeout = PUBLISH_TIMEOUT;
        let conn = connect(&connect_config).await.expect("connect");
        setup(&conn, &SetupConfig::default()).await.expect("setup");

        let cw = ConnectWise::start(ConnectWiseConfig::default())
            .await
            .expect("start ConnectWise simulator");
        let text = config_text(
            &nats.url(),
            cw_site(&cw),
            body_limit,
            autotask_base.unwrap_or("http://127.0.0.1:9/atservicesrest"),
        );
        let text = match autotask_base {
            Some(_) => text.replace("globex", AUTOTASK_API_TENANT),
            None => text,
        };
        let config = Config::from_toml(&text, &|_| None).expect("test config");

        let checker = Arc::new(FakeChecker::default());
        let sink = Arc::new(NatsSink::new(conn.clone(), config.nats.publish_timeout));
        let mut ingest = Ingest::new(&config, sink).expect("ingest");
        if autotask_base.is_none() {
            ingest = ingest.with_deactivation_checker(checker.clone());
        }
        let router = ingest.router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let http = reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .unwrap();
        Harness {
            nats,
            conn,
            cw,
            url,
            http,
            checker,
            config,
        }
    }

    /// POSTs `body` to `path` with `headers`.
    pub async fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("ingest answers");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        Answer {
            status,
            retry_after,
            json: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            text,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("ingest answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Every message in `SYNC_EVENTS`, in order.
    pub async fn events(&self) -> Vec<Stored> {
        stored_events(&self.conn).await
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub json: serde_json::Value,
    pub text: String,
}

/// One stored event.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub payload: Vec<u8>,
    pub msg_id: Option<String>,
}

pub async fn stored_events(conn: &Connection) -> Vec<Stored> {
    let mut stream = conn
        .jetstream()
        .get_stream("SYNC_EVENTS")
        .await
        .expect("SYNC_EVENTS exists");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for seq in state.first_sequence..=state.last_sequence {
        if let Ok(message) = stream.get_raw_message(seq).await {
            out.push(Stored {
                subject: message.subject.to_string(),
                payload: message.payload.to_vec(),
                msg_id: message
                    .headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_owned()),
            });
        }
    }
    out
}

/// A private nats-server with the topology set up, and a connection to it.
pub async fn bus() -> (NatsServer, Connection) {
    let nats = NatsServer::start().await.unwrap();
    let conn = connect(&ConnectConfig::new(nats.url())).await.unwrap();
    setup(&conn, &SetupConfig::default()).await.unwrap();
    (nats, conn)
}

/// Retries `op` until it returns `Some` or [`PATIENCE`] runs out.
pub async fn eventually<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = op().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn now_secs() -> i64 {
    syncbridge::runtime::clock::now_millis() / 1000
}

/// A genuine-shape Autotask callout (reference §2.2), compact as Autotask sends it.
pub fn autotask_body(sequence: u64) -> Vec<u8> {
    format!(
        r#"{{"Action":"Update","Guid":"a1da62a4-2c49-40a8-8183-69994ce5b3eb","EntityType":"Company","Id":351181,"Fields":{{"CompanyName":"Globex & Sons"}},"EventTime":"2025-09-15T14:57:50Z","SequenceNumber":{sequence},"PersonId":30691780}}"#
    )
    .into_bytes()
}

pub fn autotask_headers(body: &[u8], secret: &str) -> Vec<(&'static str, String)> {
    vec![(
        "X-Hook-Signature",
        syncbridge_webhooks::AutotaskCallout::sign(secret.as_bytes(), body),
    )]
}

/// A Standard Webhooks delivery about organization 42.
pub fn standard_body() -> Vec<u8> {
    br#"{"type":"organization.updated","timestamp":"2026-01-01T00:00:00Z","data":{"id":"42","name":"Acme"}}"#.to_vec()
}

pub fn standard_headers(
    id: &str,
    timestamp: i64,
    body: &[u8],
    secret: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            syncbridge_webhooks::StandardWebhook::sign(secret, id, timestamp, body).unwrap(),
        ),
    ]
}

/// ConnectWise API credentials of the simulator's member `alice` (a person, not syncbridge).
pub fn cw_alice(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .basic_auth("acme+alice-public", Some("alice-private"))
        .header("clientId", "test-client-id")
}

pub fn cw_syncbridge(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .basic_auth("acme+cw-public", Some("cw-private"))
        .header("clientId", "test-client-id")
}

/// Registers the ingest as a company callback with the ConnectWise simulator, has `alice` create
/// a company, and returns the body ConnectWise delivered (and the status the ingest answered).
pub async fn genuine_connectwise_callback(h: &Harness, name: &str) -> (Vec<u8>, Option<u16>) {
    let api = h.cw.api_url();
    let registration = serde_json::json!({
        "id": 0, "url": format!("{}/webhooks/acme/connectwise/", h.url), "objectId": 0,
        "type": "company", "level": "owner", "payloadVersion": "3.0.0", "memberId": 0,
        "inactiveFlag": false, "isSelfSuppressedFlag": true, "connectWiseID": ""
    });
    let status = cw_syncbridge(h.http.post(format!("{api}/system/callbacks")))
        .json(&registration)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "callback registration: {status}");
    let company = serde_json::json!({"name": name, "identifier": name.replace(' ', ""), "city": "Springfield"});
    let status = cw_alice(h.http.post(format!("{api}/company/companies")))
        .json(&company)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "company create: {status}");
    let deliveries_url = format!("{}/_admin/deliveries", h.cw.base_url());
    eventually("ConnectWise delivered the callback", || async {
        let deliveries = sim_deliveries(&h.http, &deliveries_url).await?;
        let last = deliveries.as_array()?.last()?.clone();
        let status = last
            .get("status")
            .and_then(|s| s.as_u64())
            .map(|s| s as u16);
        // Delivered = the receiver answered something.
        status.map(|s| {
            (
                last["body"]
                    .as_str()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
                Some(s),
            )
        })
    })
    .await
}

/// The deliveries a simulator's webhook sender logged (its `/_admin/deliveries` at `url`), or
/// `None` while it does not answer.
pub async fn sim_deliveries(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

/// Counts TCP connections made to a listener (to prove nothing was fetched from it).
pub async fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (format!("127.0.0.1:{}", addr.port()), count)
}

/// A company update from tenant `acme`'s ConnectWise naming `key_url` (message number `message`),
/// signed with `signing_key`.
pub fn signed_callback(
    signing_key: &str,
    key_url: &str,
    message: u32,
) -> (Vec<u8>, [(&'static str, String); 1]) {
    let body = serde_json::json!({
        "MessageId": format!("5b1b0e5e-0000-4000-8000-{message:012}"), "Action": "updated",
        "Type": "company", "ID": 7, "CompanyId": "acme", "Entity": null,
        "Metadata": {"key_url": key_url}
    })
    .to_string()
    .into_bytes();
    let headers = [(
        "x-content-signature",
        syncbridge_webhooks::ConnectWiseCallback::sign(signing_key, &body),
    )];
    (body, headers)
}
