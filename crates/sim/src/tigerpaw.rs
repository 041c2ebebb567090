//! Tigerpaw simulator: the Tigerpaw Business Suite REST API (reference
//! psa-apis-bms-pulseway-tigerpaw.md §3). syncbridge only reads it (one-way sync).
//!
//! Simulated: per-request HMAC auth `Authorization: TSI base64("{public}:{signature}")` with
//! `signature = base64(HMAC-SHA256(private key, lower("{method}|{path}|{date}")))`, the date from
//! `X-TSI-Date` (preferred) or `Date` in RFC 1123 form, within a skew window of the simulated
//! clock (401 otherwise); `GET /api/diagnostics/validate/user`; accounts (`GET /api/accounts/{n}`,
//! `/details`, `POST /api/accounts`, `PUT /api/accounts/{n}`, `POST /api/accounts/search` with an
//! advanced-search body and `POST /api/accounts/search/{type}` with a criteria string); contacts
//! (`GET /api/contacts/account/{n}?activeOnly=` in one answer, `GET /api/contacts/{n}`,
//! `/details`, `POST /api/contacts`, `PUT /api/contacts/{n}`, search like accounts); paging of
//! searches by `pageRequest.pageSize` / `pageRequest.startRow` (or `PageSize`/`StartRow` in a
//! search body) with `{…, PageSize, NextRow, TotalCount, Success, Message}`; PascalCase JSON. No
//! modified-since query and no webhooks exist, so clients list and compare.
//!
//! Advanced searches take only the documented SearchTypes of their collection, spelled exactly as
//! documented (contacts: `Firstname`, `LastName`, …), and the documented MatchTypes; anything
//! else, an empty `Criteria` list or a criterion without a value is answered `Success: false`
//! with a message (audit TP-1, TP-2; the vendor's handling of these is not documented, so the
//! stricter reading).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use time::macros::format_description;
use time::PrimitiveDateTime;

use crate::admin::{self, AdminError, AdminOps};
use crate::clock::{SimClock, SimMillis};
use crate::core::{Core, Rejection};
use crate::faults::fault_layer;
use crate::rate_limit::RateLimit;
use crate::request_tally::{count_requests, RequestTally};
use crate::server::{any_free_port, SimServer};
use crate::store::{value_as_id, value_as_text, Store, StoredRecord};
use crate::writes::WriteAction;

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// A Rep (user) with REST API keys.
#[derive(Debug, Clone)]
pub struct TigerpawRep {
    pub name: String,
    pub public_key: String,
    pub private_key: String,
}

/// How the simulator is started.
#[derive(Debug, Clone)]
pub struct TigerpawConfig {
    pub bind: SocketAddr,
    pub reps: Vec<TigerpawRep>,
    pub clock: SimClock,
    /// Accepted distance between the request date and the simulated clock (not published).
    pub max_skew: Duration,
    /// None published: none by default.
    pub rate_limit: Option<RateLimit>,
    pub seed: u64,
}

impl Default for TigerpawConfig {
    fn default() -> Self {
        TigerpawConfig {
            bind: any_free_port(),
            reps: vec![TigerpawRep {
                name: "syncbridge".into(),
                public_key: "tp-public".into(),
                private_key: "tp-private".into(),
            }],
            clock: SimClock::new(),
            max_skew: Duration::from_secs(15 * 60),
            rate_limit: None,
            seed: 5,
        }
    }
}

/// The simulator's state.
#[derive(Debug)]
pub struct TigerpawSim {
    core: Arc<Core>,
    config: TigerpawConfig,
    store: Mutex<Store>,
}

/// A running Tigerpaw simulator.
#[derive(Debug)]
pub struct Tigerpaw {
    pub server: SimServer,
    pub sim: Arc<TigerpawSim>,
}

impl Tigerpaw {
    pub async fn start(config: TigerpawConfig) -> std::io::Result<Tigerpaw> {
        let core = Core::new(
            "tigerpaw",
            config.clock.clone(),
            config.rate_limit,
            error_response,
            config.seed,
        );
        let sim = Arc::new(TigerpawSim {
            core: core.clone(),
            config: config.clone(),
            store: Mutex::new(Store::default()),
        });
        let server = SimServer::start(core, router(sim.clone()), config.bind).await?;
        Ok(Tigerpaw { server, sim })
    }

    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The requests this simulator answered (also `GET /_admin/requests`).
    pub fn requests(&self) -> &RequestTally {
        &self.server.core().requests
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn router(sim: Arc<TigerpawSim>) -> Router {
    let api = Router::new()
        .route("/api/diagnostics/validate/user", get(validate_user))
        .route("/api/accounts", post(create_account))
        .route(
            "/api/accounts/{n}",
            get(show_account).put(put_account).post(search_accounts),
        )
        .route(
            "/api/accounts/{n}/{sub}",
            get(account_details).post(search_accounts_typed),
        )
        .route("/api/contacts", post(create_contact))
        .route(
            "/api/contacts/{n}",
            get(show_contact).put(put_contact).post(search_contacts),
        )
        .route(
            "/api/contacts/{n}/{sub}",
            get(contact_sub).post(search_contacts_typed),
        )
        .layer(middleware::from_fn_with_state(sim.clone(), auth))
        .with_state(sim.clone());
    api.merge(admin::routes(sim.clone()))
        .layer(middleware::from_fn_with_state(
            sim.core.clone(),
            fault_layer,
        ))
        .layer(middleware::from_fn_with_state(
            sim.core.clone(),
            count_requests,
        ))
}

/// Tigerpaw's response body: `{"Success": false, "Message": "..."}`.
fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"Success": false, "Message": message}))).into_response()
}

fn reject(status: StatusCode, message: impl Into<String>) -> Rejection {
    Rejection::new(error_response, status, message)
}

/// Validation failures answer 200 with `Success: false`.
fn failure(message: impl Into<String>) -> Rejection {
    Rejection::new(
        |_, m| Json(json!({"Success": false, "Message": m})).into_response(),
        StatusCode::OK,
        message,
    )
}

fn respond(r: Result<Response, Rejection>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

/// `Thu, 18 Jun 2015 07:25:43 GMT` → epoch milliseconds.
pub fn parse_rfc1123(s: &str) -> Option<SimMillis> {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let t = PrimitiveDateTime::parse(s.trim(), &fmt).ok()?.assume_utc();
    Some((t.unix_timestamp_nanos() / 1_000_000) as SimMillis)
}

/// Epoch milliseconds → `Thu, 18 Jun 2015 07:25:43 GMT`.
pub fn format_rfc1123(ms: SimMillis) -> String {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// The `Authorization` value a client sends: `TSI base64("{public}:{signature}")`.
pub fn authorization(public: &str, private: &str, method: &str, path: &str, date: &str) -> String {
    let signed = format!("{method}|{path}|{date}").to_lowercase();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(private.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(signed.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    format!("TSI {}", B64.encode(format!("{public}:{sig}")))
}

/// The Rep behind a request, if its signature, key and date check out.
fn authenticate(
    sim: &TigerpawSim,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Option<String> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let date = header("X-TSI-Date").or_else(|| header("Date"))?;
    let sent = parse_rfc1123(date)?;
    let skew = (sim.core.clock.now_millis() - sent).unsigned_abs();
    if skew > sim.config.max_skew.as_millis() as u64 {
        return None;
    }
    let token = header("Authorization")?.strip_prefix("TSI ")?;
    let decoded = String::from_utf8(B64.decode(token.trim()).ok()?).ok()?;
    let (public, _) = decoded.split_once(':')?;
    let rep = sim.config.reps.iter().find(|r| r.public_key == public)?;
    let expected = authorization(&rep.public_key, &rep.private_key, method, path, date);
    // Compare the whole header value; both sides are derived from the same public key.
    (expected.strip_prefix("TSI ") == Some(token.trim())).then(|| rep.name.clone())
}

/// The authenticated Rep name.
#[derive(Debug, Clone)]
struct RepName(String);

async fn auth(State(sim): State<Arc<TigerpawSim>>, mut req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let Some(rep) = authenticate(&sim, req.headers(), &method, &path) else {
        return reject(
            StatusCode::UNAUTHORIZED,
            "Authorization has been denied for this request.",
        )
        .into_response();
    };
    if let Err(r) = sim.core.rate_check() {
        return r.into_response();
    }
    req.extensions_mut().insert(RepName(rep));
    next.run(req).await
}

async fn validate_user(Extension(RepName(rep)): Extension<RepName>) -> Response {
    Json(json!({"Success": true, "Message": format!("Authenticated as {rep}")})).into_response()
}

fn field<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn text(o: &Map<String, Value>, key: &str) -> String {
    field(o, key).and_then(value_as_text).unwrap_or_default()
}

impl TigerpawSim {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// AccountSummary: the stored account plus derived counts and the primary contact's name.
    fn account_summary(&self, store: &Store, rec: &StoredRecord) -> Value {
        let account = rec
            .fields
            .get("Account")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let contacts: Vec<&StoredRecord> = store
            .list("contacts")
            .filter(|c| contact_account(c) == Some(rec.id))
            .collect();
        let primary_number = account.get("PrimaryContactNumber").and_then(value_as_id);
        let primary = contacts
            .iter()
            .find(|c| Some(c.id) == primary_number)
            .map(|c| contact_name(c))
            .unwrap_or_default();
        json!({
            "AccountNumber": rec.id,
            "Account": account,
            "PhoneNumber": rec.fields.get("PhoneNumber").cloned().unwrap_or(Value::from("")),
            "FaxNumber": rec.fields.get("FaxNumber").cloned().unwrap_or(Value::from("")),
            "PrimaryContactName": primary,
            "ParentAccountNumber": rec.fields.get("ParentAccountNumber").cloned().unwrap_or(Value::from(0)),
            "NumberOfContacts": contacts.len(),
        })
    }

    fn contact_summary(&self, store: &Store, rec: &StoredRecord) -> Value {
        let contact = rec
            .fields
            .get("Contact")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let account = contact_account(rec).and_then(|a| store.get("accounts", a));
        let account_name = account
            .and_then(|a| a.fields.get("Account"))
            .and_then(|a| a.get("Name"))
            .cloned()
            .unwrap_or(Value::from(""));
        let is_primary = account
            .and_then(|a| a.fields.get("Account"))
            .and_then(|a| a.get("PrimaryContactNumber"))
            .and_then(value_as_id)
            == Some(rec.id);
        json!({
            "ContactNumber": rec.id,
            "AccountName": account_name,
            "IsPrimaryContact": is_primary,
            "PhoneNumber": rec.fields.get("PhoneNumber").cloned().unwrap_or(Value::from("")),
            "EmailAddress": rec.fields.get("EmailAddress").cloned().unwrap_or(Value::from("")),
            "Contact": contact,
        })
    }

    /// Contact details: the summary plus phone and e-mail lists.
    fn contact_details(&self, store: &Store, rec: &StoredRecord) -> Value {
        let mut v = self.contact_summary(store, rec);
        let phones = rec.fields.get("PhoneNumbers").cloned().unwrap_or_else(|| {
            let n = text(&rec.fields, "PhoneNumber");
            json!([{"PhoneNumberId": 1, "Number": n, "Location": "Work", "IsPrimary": true}])
        });
        let emails = rec.fields.get("EmailAddresses").cloned().unwrap_or_else(|| {
            let e = text(&rec.fields, "EmailAddress");
            json!([{"EmailAddressId": 1, "Email": e, "Description": "Work", "DoNotEmail": false, "IsPrimary": true}])
        });
        v["PhoneNumbers"] = phones;
        v["EmailAddresses"] = emails;
        v
    }

    fn write(
        &self,
        store: &mut Store,
        collection: &str,
        id: Option<u64>,
        fields: Map<String, Value>,
        rep: &str,
    ) -> u64 {
        let now = self.core.clock.now_millis();
        match id {
            None => {
                let names: Vec<String> = fields.keys().cloned().collect();
                let id = store.insert(collection, None, fields, Map::new(), now);
                self.core.writes.record(
                    now,
                    collection,
                    &id.to_string(),
                    WriteAction::Create,
                    names.clone(),
                    names,
                    rep,
                );
                id
            }
            Some(id) => {
                let names: Vec<String> = fields.keys().cloned().collect();
                let changed = store
                    .merge(collection, id, &fields, now)
                    .unwrap_or_default();
                self.core.writes.record(
                    now,
                    collection,
                    &id.to_string(),
                    WriteAction::Update,
                    names,
                    changed,
                    rep,
                );
                id
            }
        }
    }
}

fn contact_account(rec: &StoredRecord) -> Option<u64> {
    rec.fields
        .get("Contact")?
        .get("AccountNumber")
        .and_then(value_as_id)
}

fn contact_name(rec: &StoredRecord) -> String {
    let c = rec
        .fields
        .get("Contact")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    format!("{} {}", text(&c, "FirstName"), text(&c, "LastName"))
        .trim()
        .to_owned()
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(reject(StatusCode::BAD_REQUEST, "The request is invalid.")),
    }
}

fn parse_number(n: &str) -> Result<u64, Rejection> {
    n.parse()
        .map_err(|_| reject(StatusCode::NOT_FOUND, format!("{n} was not found")))
}

fn require(o: &Map<String, Value>, keys: &[&str], what: &str) -> Result<(), Rejection> {
    for k in keys {
        if text(o, k).is_empty() {
            return Err(failure(format!("{what}.{k} is required")));
        }
    }
    Ok(())
}

async fn show_account(State(sim): State<Arc<TigerpawSim>>, Path(n): Path<String>) -> Response {
    respond(parse_number(&n).and_then(|id| {
        let st = sim.lock();
        let rec = st
            .get("accounts", id)
            .ok_or_else(|| reject(StatusCode::NOT_FOUND, format!("Account {id} was not found")))?;
        Ok(Json(sim.account_summary(&st, rec)).into_response())
    }))
}

async fn account_details(
    State(sim): State<Arc<TigerpawSim>>,
    Path((n, sub)): Path<(String, String)>,
) -> Response {
    if !sub.eq_ignore_ascii_case("details") {
        return reject(StatusCode::NOT_FOUND, "Not found").into_response();
    }
    show_account(State(sim), Path(n)).await
}

async fn create_account(
    State(sim): State<Arc<TigerpawSim>>,
    Extension(RepName(rep)): Extension<RepName>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let o = parse_object(&body)?;
        let account = field(&o, "Account")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        require(&account, &["Name", "AccountType", "Status"], "Account")?;
        let mut fields = Map::new();
        fields.insert("Account".into(), Value::Object(account));
        fields.insert(
            "PhoneNumber".into(),
            Value::from(text(&o, "PrimaryPhoneNumber")),
        );
        let mut st = sim.lock();
        let id = sim.write(&mut st, "accounts", None, fields, &rep);
        let summary = st
            .get("accounts", id)
            .map(|r| sim.account_summary(&st, r))
            .unwrap_or(Value::Null);
        Ok(
            Json(json!({"AccountSummary": summary, "Success": true, "Message": ""}))
                .into_response(),
        )
    })();
    respond(result)
}

async fn put_account(
    State(sim): State<Arc<TigerpawSim>>,
    Path(n): Path<String>,
    Extension(RepName(rep)): Extension<RepName>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let id = parse_number(&n)?;
        let account = parse_object(&body)?;
        require(&account, &["Name", "AccountType", "Status"], "Account")?;
        let mut st = sim.lock();
        if st.get("accounts", id).is_none() {
            return Err(reject(
                StatusCode::NOT_FOUND,
                format!("Account {id} was not found"),
            ));
        }
        let mut fields = Map::new();
        fields.insert("Account".into(), Value::Object(account));
        sim.write(&mut st, "accounts", Some(id), fields, &rep);
        let summary = st
            .get("accounts", id)
            .map(|r| sim.account_summary(&st, r))
            .unwrap_or(Value::Null);
        Ok(
            Json(json!({"AccountSummary": summary, "Success": true, "Message": ""}))
                .into_response(),
        )
    })();
    respond(result)
}

async fn show_contact(State(sim): State<Arc<TigerpawSim>>, Path(n): Path<String>) -> Response {
    respond(parse_number(&n).and_then(|id| {
        let st = sim.lock();
        let rec = st
            .get("contacts", id)
            .ok_or_else(|| reject(StatusCode::NOT_FOUND, format!("Contact {id} was not found")))?;
        Ok(Json(sim.contact_summary(&st, rec)).into_response())
    }))
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// `(page size, 1-based start row)` from `pageRequest.*` query parameters or a search body.
fn paging(params: &Params, body: Option<&Map<String, Value>>) -> Result<(usize, usize), Rejection> {
    let read = |q: &str, b: &str, default: usize| -> Result<usize, Rejection> {
        let raw = param(params, q)
            .map(str::to_owned)
            .or_else(|| body.and_then(|o| field(o, b)).and_then(value_as_text));
        match raw {
            None => Ok(default),
            Some(s) => s.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                reject(
                    StatusCode::BAD_REQUEST,
                    format!("{q} must be a positive integer"),
                )
            }),
        }
    };
    Ok((
        read("pageRequest.pageSize", "PageSize", DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE),
        read("pageRequest.startRow", "StartRow", 1)?,
    ))
}

/// The list envelope: `{<Key>: [...], PageSize, NextRow, TotalCount, Success, Message}`;
/// `NextRow` is 0 on the last page.
fn paged(key: &str, rows: Vec<Value>, size: usize, start: usize) -> Response {
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(start - 1).take(size).collect();
    let next = if start - 1 + page.len() < total {
        start + page.len()
    } else {
        0
    };
    let mut body = Map::new();
    body.insert(key.into(), Value::Array(page));
    body.insert("PageSize".into(), Value::from(size));
    body.insert("NextRow".into(), Value::from(next));
    body.insert("TotalCount".into(), Value::from(total));
    body.insert("Success".into(), Value::Bool(true));
    body.insert("Message".into(), Value::from(""));
    Json(Value::Object(body)).into_response()
}

/// The advanced-search `SearchType`s Tigerpaw documents for accounts (audit §5.2; Tsi.Web
/// `docs/AccountsApi.md`, AccountsAdvancedSearch). How the vendor treats another spelling is
/// not documented: the simulator takes these exactly as written and refuses anything else.
const ACCOUNT_SEARCH_TYPES: [&str; 15] = [
    "AccountName",
    "Address",
    "PostalCode",
    "Email",
    "PhoneNumber",
    "AccountNumber",
    "AccountId",
    "AccountNameSoundsLike",
    "ExternalId",
    "Agreement",
    "CustomField",
    "ContactName",
    "ExternalProduct",
    "AccountType",
    "AccountStatus",
];

/// The contact `SearchType`s (Tsi.Web `docs/ContactsApi.md`, ContactsAdvancedSearch). Note
/// `Firstname` (lower-case n) next to `LastName`: that is how the vendor writes them.
const CONTACT_SEARCH_TYPES: [&str; 8] = [
    "Firstname",
    "LastName",
    "Email",
    "PhoneNumber",
    "FirstNameSoundsLike",
    "LastNameSoundsLike",
    "AccountId",
    "CustomField",
];

/// The documented `MatchType`s; an absent or empty one is `StartsWith` (the documented default).
const MATCH_TYPES: [&str; 8] = [
    "StartsWith",
    "EndsWith",
    "Contains",
    "GreaterThan",
    "GreaterThanEqual",
    "Equal",
    "LessThan",
    "LessThanEqual",
];

/// How a criterion compares a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// By the criterion's MatchType.
    Match,
    /// `…SoundsLike` types: by Soundex code, whatever the MatchType.
    SoundsLike,
    /// `CustomField`: the simulator stores no custom fields, so nothing matches.
    CustomField,
}

/// One search criterion, in the simulator's terms.
struct Criterion {
    /// The documented SearchType (advanced search) or the route segment (typed search); same
    /// types are OR-ed, different ones AND-ed.
    search_type: String,
    /// The stored value it reads (see [`account_values`], [`contact_values`]).
    key: &'static str,
    compare: Compare,
    match_type: &'static str,
    value: String,
}

/// `(stored value, comparison)` of a documented advanced-search SearchType.
fn advanced_type(collection: &str, search_type: &str) -> Option<(&'static str, Compare)> {
    use Compare::{CustomField, Match, SoundsLike};
    let known = if collection == "accounts" {
        &ACCOUNT_SEARCH_TYPES[..]
    } else {
        &CONTACT_SEARCH_TYPES[..]
    };
    if !known.contains(&search_type) {
        return None;
    }
    Some(match search_type {
        "AccountName" => ("accountname", Match),
        "AccountNameSoundsLike" => ("accountname", SoundsLike),
        "Firstname" => ("firstname", Match),
        "FirstNameSoundsLike" => ("firstname", SoundsLike),
        "LastName" => ("lastname", Match),
        "LastNameSoundsLike" => ("lastname", SoundsLike),
        "CustomField" => ("", CustomField),
        "Address" => ("address", Match),
        "PostalCode" => ("postalcode", Match),
        "Email" => ("email", Match),
        "PhoneNumber" => ("phonenumber", Match),
        "AccountNumber" => ("accountnumber", Match),
        "AccountId" => ("accountid", Match),
        "ExternalId" => ("externalid", Match),
        "Agreement" => ("agreement", Match),
        "ContactName" => ("contactname", Match),
        "ExternalProduct" => ("externalproduct", Match),
        "AccountType" => ("accounttype", Match),
        _ => ("accountstatus", Match),
    })
}

/// The stored value a typed search route (`POST /api/{collection}/search/{segment}`) reads.
fn typed_key(collection: &str, segment: &str) -> Option<&'static str> {
    let segment = segment.to_ascii_lowercase();
    let key = match (collection, segment.as_str()) {
        ("accounts", "name") => "accountname",
        ("accounts", "accountid") => "accountid",
        ("accounts", "accountnumber") => "accountnumber",
        ("accounts", "accountstatus") => "accountstatus",
        ("accounts", "accounttype") => "accounttype",
        ("accounts", "address") => "address",
        ("accounts", "agreement") => "agreement",
        ("accounts", "externalid") => "externalid",
        ("accounts", "postalcode") => "postalcode",
        ("contacts", "firstname") => "firstname",
        ("contacts", "lastname") => "lastname",
        (_, "email") => "email",
        (_, "phone") => "phonenumber",
        _ => return None,
    };
    Some(key)
}

/// Criteria of an advanced-search body (`{"Criteria":[{SearchType, MatchType, Criteria,
/// CategoryName, CustomFieldName}], PageSize, StartRow}`), checked against the documentation.
///
/// Not documented, so refused (the stricter reading, docs/vendors.md): an empty or missing
/// `Criteria` list (nothing says it returns everything, audit TP-2) and a criterion without a
/// value.
fn body_criteria(collection: &str, o: &Map<String, Value>) -> Result<Vec<Criterion>, Rejection> {
    let raw: Vec<&Map<String, Value>> = field(o, "Criteria")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect();
    if raw.is_empty() {
        return Err(failure("At least one search criterion is required."));
    }
    let valid = if collection == "accounts" {
        ACCOUNT_SEARCH_TYPES.join(", ")
    } else {
        CONTACT_SEARCH_TYPES.join(", ")
    };
    raw.into_iter()
        .map(|c| {
            let search_type = text(c, "SearchType");
            let (key, compare) = advanced_type(collection, &search_type).ok_or_else(|| {
                failure(format!(
                    "'{search_type}' is not a valid SearchType. Valid SearchType = {valid}"
                ))
            })?;
            let match_type = match text(c, "MatchType").as_str() {
                "" => "StartsWith",
                m => MATCH_TYPES
                    .iter()
                    .copied()
                    .find(|t| *t == m)
                    .ok_or_else(|| {
                        failure(format!(
                            "'{m}' is not a valid MatchType. Valid MatchType = {}",
                            MATCH_TYPES.join(", ")
                        ))
                    })?,
            };
            if compare == Compare::CustomField
                && (text(c, "CategoryName").is_empty() || text(c, "CustomFieldName").is_empty())
            {
                return Err(failure(
                    "SearchType CustomField requires CategoryName and CustomFieldName",
                ));
            }
            let value = text(c, "Criteria");
            if value.is_empty() {
                return Err(failure(format!(
                    "Criteria is required for SearchType {search_type}"
                )));
            }
            Ok(Criterion {
                search_type,
                key,
                compare,
                match_type,
                value,
            })
        })
        .collect()
}

/// A typed search's body is the criteria string itself (JSON string or raw text).
fn typed_criteria(key: &'static str, segment: &str, body: &[u8]) -> Vec<Criterion> {
    let raw = String::from_utf8_lossy(body).into_owned();
    let value = serde_json::from_str::<String>(&raw).unwrap_or(raw);
    vec![Criterion {
        search_type: segment.to_owned(),
        key,
        compare: Compare::Match,
        match_type: "StartsWith",
        value,
    }]
}

/// American Soundex (letter + three digits), as SQL Server's `SOUNDEX`.
fn soundex(s: &str) -> String {
    let code = |c: char| match c {
        'B' | 'F' | 'P' | 'V' => '1',
        'C' | 'G' | 'J' | 'K' | 'Q' | 'S' | 'X' | 'Z' => '2',
        'D' | 'T' => '3',
        'L' => '4',
        'M' | 'N' => '5',
        'R' => '6',
        // H and W do not separate two equal codes.
        'H' | 'W' => '-',
        _ => '0',
    };
    let mut letters = s
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase());
    let Some(first) = letters.next() else {
        return String::new();
    };
    let mut out = String::from(first);
    let mut last = code(first);
    for c in letters {
        let d = code(c);
        if d == '-' {
            continue;
        }
        if d != '0' && d != last {
            out.push(d);
            if out.len() == 4 {
                break;
            }
        }
        last = d;
    }
    while out.len() < 4 {
        out.push('0');
    }
    out
}

fn criterion_matches(have: &str, c: &Criterion) -> bool {
    match c.compare {
        Compare::CustomField => return false,
        Compare::SoundsLike => {
            let code = soundex(have);
            return !code.is_empty() && code == soundex(&c.value);
        }
        Compare::Match => {}
    }
    // Text compares case-insensitively, as the vendor's SQL Server collation does [assumed].
    let (h, w) = (have.to_lowercase(), c.value.to_lowercase());
    let num = || (h.parse::<f64>().ok(), w.parse::<f64>().ok());
    match c.match_type {
        "EndsWith" => h.ends_with(&w),
        "Contains" => h.contains(&w),
        "Equal" => h == w,
        "GreaterThan" => matches!(num(), (Some(a), Some(b)) if a > b),
        "GreaterThanEqual" => matches!(num(), (Some(a), Some(b)) if a >= b),
        "LessThan" => matches!(num(), (Some(a), Some(b)) if a < b),
        "LessThanEqual" => matches!(num(), (Some(a), Some(b)) if a <= b),
        _ => h.starts_with(&w),
    }
}

/// Same-type criteria are OR-ed, different types AND-ed; a record matches a criterion when
/// any of the values it reads does.
fn passes(criteria: &[Criterion], values_of: impl Fn(&'static str) -> Vec<String>) -> bool {
    let mut types: Vec<&str> = criteria.iter().map(|c| c.search_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    types.iter().all(|t| {
        criteria
            .iter()
            .filter(|c| c.search_type == *t)
            .any(|c| values_of(c.key).iter().any(|v| criterion_matches(v, c)))
    })
}

fn account_of_record(rec: &StoredRecord) -> Map<String, Value> {
    rec.fields
        .get("Account")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn account_values(store: &Store, rec: &StoredRecord, key: &str) -> Vec<String> {
    let a = account_of_record(rec);
    let one = match key {
        "accountname" => text(&a, "Name"),
        "address" => text(&a, "Address1"),
        "postalcode" => text(&a, "PostalCode"),
        "phonenumber" => text(&rec.fields, "PhoneNumber"),
        "accountnumber" => rec.id.to_string(),
        "accountid" => text(&a, "AccountId"),
        "accounttype" => text(&a, "AccountType"),
        "accountstatus" => text(&a, "Status"),
        "email" => text(&a, "Email"),
        "externalid" => text(&a, "ExternalId"),
        "contactname" => {
            return store
                .list("contacts")
                .filter(|c| contact_account(c) == Some(rec.id))
                .map(contact_name)
                .collect()
        }
        // Agreements and external products are not simulated: nothing matches them.
        _ => return Vec::new(),
    };
    vec![one]
}

fn contact_values(store: &Store, rec: &StoredRecord, key: &str) -> Vec<String> {
    let c = rec
        .fields
        .get("Contact")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let one = match key {
        "firstname" => text(&c, "FirstName"),
        "lastname" => text(&c, "LastName"),
        "email" => text(&rec.fields, "EmailAddress"),
        "phonenumber" => text(&rec.fields, "PhoneNumber"),
        // The account's user-specified identifier (`Account.AccountId`, as in the account
        // search), not its number [assumed].
        "accountid" => contact_account(rec)
            .and_then(|a| store.get("accounts", a))
            .map(|a| text(&account_of_record(a), "AccountId"))
            .unwrap_or_default(),
        _ => return Vec::new(),
    };
    vec![one]
}

fn search(
    sim: &TigerpawSim,
    collection: &str,
    criteria: &[Criterion],
    params: &Params,
    body: Option<&Map<String, Value>>,
) -> Result<Response, Rejection> {
    let (size, start) = paging(params, body)?;
    let st = sim.lock();
    let rows: Vec<Value> = st
        .list(collection)
        .filter(|r| {
            passes(criteria, |key| {
                if collection == "accounts" {
                    account_values(&st, r, key)
                } else {
                    contact_values(&st, r, key)
                }
            })
        })
        .map(|r| {
            if collection == "accounts" {
                sim.account_summary(&st, r)
            } else {
                sim.contact_summary(&st, r)
            }
        })
        .collect();
    let key = if collection == "accounts" {
        "Accounts"
    } else {
        "Contacts"
    };
    Ok(paged(key, rows, size, start))
}

async fn search_accounts(
    State(sim): State<Arc<TigerpawSim>>,
    Path(n): Path<String>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    search_by_body(&sim, "accounts", &n, &params, &body)
}

async fn search_accounts_typed(
    State(sim): State<Arc<TigerpawSim>>,
    Path((n, search_type)): Path<(String, String)>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    search_by_type(&sim, "accounts", &n, &search_type, &params, &body)
}

async fn search_contacts(
    State(sim): State<Arc<TigerpawSim>>,
    Path(n): Path<String>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    search_by_body(&sim, "contacts", &n, &params, &body)
}

async fn search_contacts_typed(
    State(sim): State<Arc<TigerpawSim>>,
    Path((n, search_type)): Path<(String, String)>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    search_by_type(&sim, "contacts", &n, &search_type, &params, &body)
}

/// `POST /api/{collection}/search` with the criteria in the body.
fn search_by_body(
    sim: &TigerpawSim,
    collection: &str,
    n: &str,
    params: &Params,
    body: &[u8],
) -> Response {
    if !n.eq_ignore_ascii_case("search") {
        return reject(
            StatusCode::METHOD_NOT_ALLOWED,
            "The requested resource does not support POST",
        )
        .into_response();
    }
    respond(parse_object(body).and_then(|o| {
        let criteria = body_criteria(collection, &o)?;
        search(sim, collection, &criteria, params, Some(&o))
    }))
}

/// `POST /api/{collection}/search/{type}` for the simple types the vendor routes (custom-field
/// and sounds-like routes are not simulated: 404).
fn search_by_type(
    sim: &TigerpawSim,
    collection: &str,
    n: &str,
    search_type: &str,
    params: &Params,
    body: &[u8],
) -> Response {
    let key = typed_key(collection, search_type);
    let (true, Some(key)) = (n.eq_ignore_ascii_case("search"), key) else {
        return reject(StatusCode::NOT_FOUND, "Not found").into_response();
    };
    respond(search(
        sim,
        collection,
        &typed_criteria(key, search_type, body),
        params,
        None,
    ))
}

/// `GET /api/contacts/account/{n}[?activeOnly=true]` and `GET /api/contacts/{n}/details`.
///
/// The account's contacts come in one answer: the spec documents no paging parameters for this
/// call (Tsi.Web `docs/ContactsApi.md`, ContactsGetAccountContacts: `accountNumber`,
/// `activeOnly` only), so `NextRow` is 0 and `pageRequest.*` is not read.
async fn contact_sub(
    State(sim): State<Arc<TigerpawSim>>,
    Path((n, sub)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Response {
    let result = (|| {
        if n.eq_ignore_ascii_case("account") {
            let account = parse_number(&sub)?;
            let active_only =
                param(&params, "activeOnly").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let st = sim.lock();
            let rows: Vec<Value> = st
                .list("contacts")
                .filter(|c| contact_account(c) == Some(account))
                .filter(|c| {
                    !active_only
                        || !c
                            .fields
                            .get("Contact")
                            .and_then(|x| x.get("Inactive"))
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                })
                .map(|c| sim.contact_summary(&st, c))
                .collect();
            let size = rows.len().max(1);
            return Ok(paged("Contacts", rows, size, 1));
        }
        if sub.eq_ignore_ascii_case("details") {
            let id = parse_number(&n)?;
            let st = sim.lock();
            let rec = st.get("contacts", id).ok_or_else(|| {
                reject(StatusCode::NOT_FOUND, format!("Contact {id} was not found"))
            })?;
            return Ok(Json(sim.contact_details(&st, rec)).into_response());
        }
        Err(reject(StatusCode::NOT_FOUND, "Not found"))
    })();
    respond(result)
}

async fn create_contact(
    State(sim): State<Arc<TigerpawSim>>,
    Extension(RepName(rep)): Extension<RepName>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let o = parse_object(&body)?;
        let contact = field(&o, "Contact")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        require(&contact, &["FirstName", "LastName"], "Contact")?;
        let account = field(&contact, "AccountNumber").and_then(value_as_id);
        let mut st = sim.lock();
        if account.is_none_or(|a| st.get("accounts", a).is_none()) {
            return Err(failure(
                "Contact.AccountNumber does not reference an account",
            ));
        }
        let mut fields = Map::new();
        fields.insert("Contact".into(), Value::Object(contact));
        fields.insert(
            "PhoneNumber".into(),
            Value::from(text(&o, "PrimaryPhoneNumber")),
        );
        fields.insert(
            "EmailAddress".into(),
            Value::from(text(&o, "PrimaryEmailAddress")),
        );
        let id = sim.write(&mut st, "contacts", None, fields, &rep);
        let summary = st
            .get("contacts", id)
            .map(|r| sim.contact_summary(&st, r))
            .unwrap_or(Value::Null);
        Ok(
            Json(json!({"ContactSummary": summary, "Success": true, "Message": ""}))
                .into_response(),
        )
    })();
    respond(result)
}

async fn put_contact(
    State(sim): State<Arc<TigerpawSim>>,
    Path(n): Path<String>,
    Extension(RepName(rep)): Extension<RepName>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let id = parse_number(&n)?;
        let contact = parse_object(&body)?;
        require(&contact, &["FirstName", "LastName"], "Contact")?;
        let mut st = sim.lock();
        if st.get("contacts", id).is_none() {
            return Err(reject(
                StatusCode::NOT_FOUND,
                format!("Contact {id} was not found"),
            ));
        }
        let mut fields = Map::new();
        fields.insert("Contact".into(), Value::Object(contact));
        sim.write(&mut st, "contacts", Some(id), fields, &rep);
        let summary = st
            .get("contacts", id)
            .map(|r| sim.contact_summary(&st, r))
            .unwrap_or(Value::Null);
        Ok(
            Json(json!({"ContactSummary": summary, "Success": true, "Message": ""}))
                .into_response(),
        )
    })();
    respond(result)
}

fn known(collection: &str) -> Result<(), AdminError> {
    AdminError::check_collection(&["accounts", "contacts"], collection)
}

impl AdminOps for TigerpawSim {
    fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Seeds `accounts` (`{"AccountNumber"?, "Account": {...}, "PhoneNumber", "FaxNumber"}`) or
    /// `contacts` (`{"ContactNumber"?, "Contact": {..., "AccountNumber"}, "PhoneNumber",
    /// "EmailAddress"}`).
    fn seed(&self, collection: &str, records: Vec<Value>) -> Result<Vec<Value>, AdminError> {
        known(collection)?;
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let mut ids = Vec::new();
        for rec in records {
            let Value::Object(mut fields) = rec else {
                return Err(AdminError::Invalid("records must be objects".into()));
            };
            let id = fields
                .remove("AccountNumber")
                .or_else(|| fields.remove("ContactNumber"))
                .as_ref()
                .and_then(value_as_id);
            ids.push(st.insert(collection, id, fields, Map::new(), now));
        }
        Ok(ids
            .into_iter()
            .filter_map(|id| st.get(collection, id).map(StoredRecord::admin_json))
            .collect())
    }

    fn state(&self, collection: &str) -> Result<Vec<Value>, AdminError> {
        known(collection)?;
        Ok(self
            .lock()
            .list(collection)
            .map(StoredRecord::admin_json)
            .collect())
    }

    fn edit(
        &self,
        collection: &str,
        id: &str,
        user: &str,
        fields: Map<String, Value>,
    ) -> Result<Value, AdminError> {
        known(collection)?;
        let num = id
            .parse::<u64>()
            .map_err(|_| AdminError::NotFound(id.into()))?;
        let mut st = self.lock();
        if st.get(collection, num).is_none() {
            return Err(AdminError::NotFound(id.into()));
        }
        self.write(&mut st, collection, Some(num), fields, user);
        st.get(collection, num)
            .map(StoredRecord::admin_json)
            .ok_or_else(|| AdminError::NotFound(id.into()))
    }

    fn delete(&self, collection: &str, id: &str, user: &str) -> Result<(), AdminError> {
        known(collection)?;
        let num = id
            .parse::<u64>()
            .map_err(|_| AdminError::NotFound(id.into()))?;
        let now = self.core.clock.now_millis();
        self.lock()
            .remove(collection, num)
            .ok_or_else(|| AdminError::NotFound(id.into()))?;
        self.core.writes.record(
            now,
            collection,
            id,
            WriteAction::Delete,
            vec![],
            vec![],
            user,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123_round_trip_and_signing_string() {
        let ms = parse_rfc1123("Thu, 18 Jun 2015 07:25:43 GMT").expect("date");
        assert_eq!(format_rfc1123(ms), "Thu, 18 Jun 2015 07:25:43 GMT");
        assert!(parse_rfc1123("2015-06-18").is_none());
        let a = authorization(
            "pub",
            "priv",
            "GET",
            "/api/accounts/1052932",
            "Thu, 18 Jun 2015 07:25:43 GMT",
        );
        let b = authorization(
            "pub",
            "priv",
            "get",
            "/API/accounts/1052932",
            "thu, 18 jun 2015 07:25:43 gmt",
        );
        assert_eq!(a, b, "the signed string is lower-cased");
    }
}
