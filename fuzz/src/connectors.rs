//! Fuzz entry functions for `syncbridge-connectors`: every vendor client's decoding of what its
//! vendor answers (JSON:API documents and pages from IT Glue, ConnectWise records and paged
//! listings, Autotask query responses, Kaseya BMS / Pulseway and Tigerpaw results, error bodies
//! and `Retry-After`), driven through the clients' public API.
//!
//! The decoders are private to the crate, so each input is served over HTTP by a canned-answer
//! server on 127.0.0.1 to real clients pointed at it (one try, no rate limit): slower than a pure
//! parser target, but it fuzzes exactly what production runs. Shared by the libFuzzer target in
//! `fuzz/fuzz_targets/` and by the seed-replay test `crates/connectors/tests/fuzz_seeds.rs`
//! (which includes this file by path).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use syncbridge_connectors::{
    AutotaskClient, AutotaskConfig, BmsClient, BmsConfig, BmsFlavor, ConnectWiseClient,
    ConnectWiseConfig, Cursor, Error, HttpPolicy, ItGlueClient, ItGlueConfig, Page, Record,
    TigerpawClient, TigerpawConfig,
};
use syncbridge_model::Entity;

/// Each client's credentials, by vendor (the input's vendor number): none may ever appear in
/// that client's errors, even when its vendor's answer quotes them.
pub const SECRETS: [&[&str]; 5] = [
    &["itglue-api-key-9c1f"],
    &["cw-private-key-4d2e", "cw-client-id-77ab"],
    &["autotask-secret-1b3c", "autotask-integration-5e6f"],
    &["bms-password-2a8d"],
    &["tigerpaw-private-key-3f0c"],
];

/// The statuses an answer may carry (chosen by the input's second byte).
const STATUSES: [u16; 10] = [200, 200, 200, 200, 400, 401, 404, 409, 429, 500];

/// The answer the canned server gives to every request.
#[derive(Default)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
}

/// A one-thread HTTP/1.1 server that answers every request with the current [`Answer`].
struct CannedServer {
    base: String,
    answer: Arc<Mutex<Answer>>,
}

impl CannedServer {
    fn start() -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let answer = Arc::new(Mutex::new(Answer::default()));
        let shared = Arc::clone(&answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        CannedServer { base, answer }
    }
}

/// Answers requests on one keep-alive connection until the client closes it.
fn serve(stream: TcpStream, answer: &Mutex<Answer>) {
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        let mut content_length = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" && !first {
                break;
            }
            first = false;
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let response = {
            let answer = answer.lock().unwrap_or_else(|e| e.into_inner());
            let mut head = format!(
                "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                answer.status,
                answer.body.len()
            );
            if let Some(retry_after) = &answer.retry_after {
                head.push_str(&format!("retry-after: {retry_after}\r\n"));
            }
            head.push_str("\r\n");
            let mut response = head.into_bytes();
            response.extend_from_slice(&answer.body);
            response
        };
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

/// The server, a runtime and one client per vendor, made once per process.
struct Rig {
    server: CannedServer,
    runtime: tokio::runtime::Runtime,
    itglue: ItGlueClient,
    connectwise: ConnectWiseClient,
    autotask: AutotaskClient,
    bms: BmsClient,
    tigerpaw: TigerpawClient,
}

fn policy() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        max_attempts: 1,
        max_retry_after: Duration::ZERO,
        ..HttpPolicy::default()
    }
    .with_rate(None)
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let server = CannedServer::start();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let base = server.base.clone();
        let _guard = runtime.enter();
        let mut itglue = ItGlueConfig::new(&base, SECRETS[0][0]);
        itglue.http = policy();
        let mut connectwise =
            ConnectWiseConfig::new(&base, "Cobalt", "public-key", SECRETS[1][0], SECRETS[1][1]);
        connectwise.http = policy();
        let mut autotask = AutotaskConfig::new(&base, "api-user", SECRETS[2][0], SECRETS[2][1], 7);
        autotask.http = policy();
        let mut bms = BmsConfig::new(
            &base,
            BmsFlavor::KaseyaBms,
            "api-user",
            SECRETS[3][0],
            "acme",
        );
        bms.http = policy();
        let mut tigerpaw = TigerpawConfig::new(&base, "public-key", SECRETS[4][0]);
        tigerpaw.http = policy();
        Rig {
            itglue: ItGlueClient::new(itglue).expect("IT Glue client"),
            connectwise: ConnectWiseClient::new(connectwise).expect("ConnectWise client"),
            autotask: AutotaskClient::new(autotask).expect("Autotask client"),
            bms: BmsClient::new(bms).expect("Kaseya BMS client"),
            tigerpaw: TigerpawClient::new(tigerpaw).expect("Tigerpaw client"),
            server,
            runtime,
        }
    })
}

/// A vendor's answer to one call. Byte 0 picks the vendor (5), the call (get, list a page, list
/// changes since) and the entity (4); byte 1 the status; on 429 the first line of the rest is
/// `Retry-After`; the rest is the body. A listing's next cursor is followed once. Invariants:
/// no panic; every error is a typed [`Error`] whose text carries none of the client's
/// credentials, even when the vendor's body quotes them.
pub fn vendor_response(data: &[u8]) {
    let (Some(&call), Some(&status)) = (data.first(), data.get(1)) else {
        return;
    };
    let status = STATUSES[usize::from(status) % STATUSES.len()];
    let mut body = &data[2..];
    let mut retry_after = None;
    if status == 429 {
        let (line, rest) = match body.iter().position(|b| *b == b'\n') {
            Some(at) => (&body[..at], &body[at + 1..]),
            None => (body, &body[..0]),
        };
        // A header value the server can send at all: visible ASCII and spaces.
        let line: String = line
            .iter()
            .filter(|b| b.is_ascii_graphic() || **b == b' ')
            .map(|b| char::from(*b))
            .collect();
        retry_after = Some(line);
        body = rest;
    }
    let rig = rig();
    {
        let mut answer = rig.server.answer.lock().unwrap_or_else(|e| e.into_inner());
        *answer = Answer {
            status,
            retry_after,
            body: body.to_vec(),
        };
    }
    let vendor = call % 5;
    let operation = (call / 5) % 3;
    let entity = Entity::ALL[usize::from(call / 15) % Entity::ALL.len()];
    let outcome = rig.runtime.block_on(async {
        match operation {
            0 => get(rig, vendor, entity)
                .await
                .map(|r| r.into_iter().collect()),
            _ => {
                let since = (operation == 2).then_some(1_700_000_000_000);
                let page = list(rig, vendor, entity, since, None).await?;
                // The vendor's next cursor (a link, a page number, a token) is followed once.
                match &page.next {
                    Some(next) => list(rig, vendor, entity, since, Some(next))
                        .await
                        .map(|p| page.records.into_iter().chain(p.records).collect()),
                    None => Ok(page.records),
                }
            }
        }
    });
    match outcome {
        Ok(records) => {
            for record in records {
                let _ = format!("{record:?}");
            }
        }
        Err(error) => {
            let shown = format!("{error} {error:?}");
            for secret in SECRETS[usize::from(vendor)] {
                assert!(!shown.contains(secret), "a credential in an error: {shown}");
            }
            let _ = (error.is_transient(), error.retry_after());
        }
    }
}

async fn get(rig: &Rig, vendor: u8, entity: Entity) -> Result<Option<Record>, Error> {
    match vendor {
        0 => rig.itglue.get(entity, "12").await,
        1 => rig.connectwise.get(entity, "12").await,
        2 => rig.autotask.get(entity, "12").await,
        3 => rig.bms.get(entity, "12").await,
        _ => rig.tigerpaw.get(entity, "12").await,
    }
}

async fn list(
    rig: &Rig,
    vendor: u8,
    entity: Entity,
    since: Option<i64>,
    cursor: Option<&Cursor>,
) -> Result<Page, Error> {
    match (vendor, since) {
        (0, None) => rig.itglue.list_page(entity, cursor).await,
        (0, Some(t)) => rig.itglue.list_modified_since_page(entity, t, cursor).await,
        (1, None) => rig.connectwise.list_page(entity, cursor).await,
        (1, Some(t)) => {
            rig.connectwise
                .list_modified_since_page(entity, t, cursor)
                .await
        }
        (2, None) => rig.autotask.list_page(entity, cursor).await,
        (2, Some(t)) => {
            rig.autotask
                .list_modified_since_page(entity, t, cursor)
                .await
        }
        (3, None) => rig.bms.list_page(entity, cursor).await,
        (3, Some(t)) => rig.bms.list_modified_since_page(entity, t, cursor).await,
        (_, None) => rig.tigerpaw.list_page(entity, cursor).await,
        (_, Some(t)) => {
            rig.tigerpaw
                .list_modified_since_page(entity, t, cursor)
                .await
        }
    }
}
