//! ConnectWise PSA (Manage) simulator: the REST API under `/v4_6_release/apis/3.0/`
//! (reference sync-rules-and-apis.md §4.1) and signed callbacks (webhooks.md §1).
//!
//! Simulated: Basic auth `company+public:private` plus the `clientId` header (401 otherwise);
//! `company/companies`, `company/configurations`, `company/contacts` (+ `/count`, `/{id}`) and
//! `company/companies/{id}/sites`; lookups `company/companies/statuses|types`,
//! `company/configurations/types|statuses`, `company/contacts/types`, `company/states`,
//! `company/countries`, `company/communicationTypes`, `procurement/manufacturers` and
//! `system/members`; `company/companies|contacts/{id}/typeAssociations`;
//! `company/configurations/{id}/changeType`; `conditions` (see [`cw_conditions`]), `orderBy`,
//! `fields`, `page`/`pageSize` (default 25, max 1000) and forward-only `pageId` with a
//! `Link: <…>; rel="next"` header; PATCH as a JSON-Patch array; `_info.lastUpdated` (second
//! precision) on the simulated clock.
//!
//! Stricter than our client would like, as the vendor audit (§2) reads the spec: company and
//! contact `types` are set on POST only (a PATCH/PUT that changes them is refused, changes go
//! through `typeAssociations`); a company needs at least one address field; reference objects
//! must carry an `id` (the name is filled in from the id); forward-only paging is refused on
//! every endpoint except the three top-level record collections.
//!
//! Callbacks: `system/callbacks` CRUD; every add/update/delete of a company, configuration or
//! contact is POSTed to each active registration of that type, at the registered URL with the
//! record id appended, `Entity` as a JSON string (null on delete), signed with
//! `x-content-signature = base64(HMAC-SHA256(SHA-256(signing_key), body))`, the key served at
//! `Metadata.key_url` on this simulator. `isSelfSuppressedFlag` suppresses callbacks for changes
//! made by the registering member. Sites have no callbacks. One attempt per callback (ConnectWise
//! documents no retries).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::admin::{self, AdminError, AdminOps};
use crate::clock::{format_seconds, SimClock};
use crate::core::{Core, Rejection};
use crate::cw_conditions;
use crate::delivery::{Dispatcher, Outgoing};
use crate::faults::fault_layer;
use crate::json_patch::apply_json_patch;
use crate::rate_limit::RateLimit;
use crate::reference_index::{reference_id, ReferenceIndex};
use crate::request_tally::{count_requests, RequestTally};
use crate::server::{any_free_port, SimServer};
use crate::store::{value_as_id, Store, StoredRecord};
use crate::urlenc;
use crate::writes::WriteAction;

/// REST base path.
pub const API: &str = "/v4_6_release/apis/3.0";
/// Path of the signing-key endpoint (`Metadata.key_url`), in the shape of the reference's real
/// callback (webhooks.md §1.2, amp-labs `contact-delete.json`): a codebase segment, then a
/// double slash.
pub const KEY_PATH: &str = "/v2025_1//system/callbackkey/index.rails";

const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 1000;

/// An API member (the identity behind a public/private key pair).
#[derive(Debug, Clone)]
pub struct CwMember {
    /// Member identifier, e.g. `syncbridge` (payload `MemberId`, `_info.updatedBy`).
    pub identifier: String,
    /// Member record id (callback registrations' `memberId`).
    pub rec_id: u64,
    pub public_key: String,
    pub private_key: String,
}

/// How the simulator is started.
#[derive(Debug, Clone)]
pub struct ConnectWiseConfig {
    pub bind: SocketAddr,
    /// The ConnectWise company id used at login (`company+public:private`).
    pub company_id: String,
    pub members: Vec<CwMember>,
    /// Accepted `clientId` header values.
    pub client_ids: Vec<String>,
    /// The callback signing key served at `key_url`.
    pub signing_key: String,
    pub clock: SimClock,
    /// ConnectWise publishes no numeric limit: none by default.
    pub rate_limit: Option<RateLimit>,
    pub seed: u64,
}

impl Default for ConnectWiseConfig {
    fn default() -> Self {
        ConnectWiseConfig {
            bind: any_free_port(),
            company_id: "acme".into(),
            members: vec![
                CwMember {
                    identifier: "syncbridge".into(),
                    rec_id: 243,
                    public_key: "cw-public".into(),
                    private_key: "cw-private".into(),
                },
                CwMember {
                    identifier: "alice".into(),
                    rec_id: 244,
                    public_key: "alice-public".into(),
                    private_key: "alice-private".into(),
                },
            ],
            client_ids: vec!["test-client-id".into()],
            signing_key: "test-signing-key".into(),
            clock: SimClock::new(),
            rate_limit: None,
            seed: 2,
        }
    }
}

/// A callback registration (`system/callbacks`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Callback {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub object_id: u64,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub member_id: u64,
    #[serde(default)]
    pub payload_version: Option<String>,
    #[serde(default)]
    pub inactive_flag: bool,
    #[serde(default)]
    pub is_soap_callback_flag: bool,
    #[serde(default)]
    pub is_self_suppressed_flag: bool,
    #[serde(default, rename = "connectWiseID")]
    pub connectwise_id: String,
}

/// Mutable state behind one lock.
#[derive(Debug)]
struct CwState {
    store: Store,
    callbacks: Vec<Callback>,
    next_callback_id: u64,
    signing_key: String,
    key_id: String,
    /// Requests to the signing-key endpoint (admin: `GET /_admin/signing-key`).
    key_fetches: u64,
    /// Sites by company, for `/company/companies/{id}/sites`.
    sites_by_company: ReferenceIndex,
}

/// The simulator's state.
#[derive(Debug)]
pub struct ConnectWiseSim {
    core: Arc<Core>,
    config: ConnectWiseConfig,
    state: Mutex<CwState>,
    dispatcher: Dispatcher,
}

/// A running ConnectWise simulator.
#[derive(Debug)]
pub struct ConnectWise {
    pub server: SimServer,
    pub sim: Arc<ConnectWiseSim>,
}

impl ConnectWise {
    pub async fn start(config: ConnectWiseConfig) -> std::io::Result<ConnectWise> {
        let core = Core::new(
            "connectwise",
            config.clock.clone(),
            config.rate_limit,
            error_response,
            config.seed,
        );
        let state = CwState {
            signing_key: config.signing_key.clone(),
            key_id: core.guid(),
            next_callback_id: 26552,
            store: Store::default(),
            callbacks: Vec::new(),
            key_fetches: 0,
            sites_by_company: ReferenceIndex::new("sites", "company"),
        };
        let sim = Arc::new(ConnectWiseSim {
            dispatcher: Dispatcher::start(core.clone()),
            core: core.clone(),
            config: config.clone(),
            state: Mutex::new(state),
        });
        sim.seed_system_lookups();
        let server = SimServer::start(core, router(sim.clone()), config.bind).await?;
        Ok(ConnectWise { server, sim })
    }

    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The requests this simulator answered (also `GET /_admin/requests`).
    pub fn requests(&self) -> &RequestTally {
        &self.server.core().requests
    }

    /// `{base}/v4_6_release/apis/3.0` — what a client is configured with.
    pub fn api_url(&self) -> String {
        format!("{}{API}", self.base_url())
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn router(sim: Arc<ConnectWiseSim>) -> Router {
    let api = Router::new()
        .route(&format!("{API}/company/{{coll}}"), get(list).post(create))
        .route(
            &format!("{API}/company/{{coll}}/{{id}}"),
            get(show).patch(patch).put(replace).delete(remove),
        )
        .route(
            &format!("{API}/company/{{coll}}/{{id}}/sites"),
            get(list_sites).post(create_site),
        )
        .route(
            &format!("{API}/company/{{coll}}/{{id}}/sites/{{site}}"),
            get(show_site)
                .patch(patch_site)
                .put(replace_site)
                .delete(remove_site),
        )
        .route(
            &format!("{API}/company/{{coll}}/{{id}}/typeAssociations"),
            get(list_type_associations).post(add_type_association),
        )
        .route(
            &format!("{API}/company/{{coll}}/{{id}}/typeAssociations/{{assoc}}"),
            get(show_type_association)
                .patch(patch_type_association)
                .delete(remove_type_association),
        )
        .route(
            &format!("{API}/company/{{coll}}/{{id}}/changeType"),
            axum::routing::patch(change_type),
        )
        .route(
            &format!("{API}/procurement/manufacturers"),
            get(list_manufacturers),
        )
        .route(
            &format!("{API}/procurement/manufacturers/{{id}}"),
            get(show_manufacturer),
        )
        .route(&format!("{API}/system/members"), get(list_members))
        .route(&format!("{API}/system/members/{{id}}"), get(show_member))
        .route(
            &format!("{API}/system/callbacks"),
            get(list_callbacks).post(add_callback),
        )
        .route(
            &format!("{API}/system/callbacks/{{id}}"),
            get(show_callback).put(put_callback).delete(remove_callback),
        )
        .layer(middleware::from_fn_with_state(sim.clone(), auth))
        .with_state(sim.clone());
    let open = Router::new()
        .route(KEY_PATH, get(signing_key))
        .route("/_admin/signing-key", get(key_admin).put(rotate_key))
        .route("/_admin/callbacks", get(list_callbacks_admin))
        .with_state(sim.clone());
    api.merge(open)
        .merge(admin::routes(sim.clone()))
        .layer(middleware::from_fn_with_state(
            sim.core.clone(),
            fault_layer,
        ))
        .layer(middleware::from_fn_with_state(
            sim.core.clone(),
            count_requests,
        ))
}

/// ConnectWise error body: `{"code": "...", "message": "..."}`.
fn error_response(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::BAD_REQUEST => "InvalidObject",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
        _ => "ServerError",
    };
    let mut body = json!({"code": code, "message": message});
    // A validation failure that names a field ("identifier: …") also lists it in `errors`, as
    // ConnectWise's InvalidObject answers do.
    if status == StatusCode::BAD_REQUEST {
        if let Some((field, text)) = message.split_once(": ").filter(|(f, _)| {
            !f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_')
        }) {
            body["errors"] = json!([{"code": "InvalidField", "message": text, "field": field}]);
        }
    }
    (status, Json(body)).into_response()
}

fn reject(status: StatusCode, message: impl Into<String>) -> Rejection {
    Rejection::new(error_response, status, message)
}

/// The member a request authenticated as.
#[derive(Debug, Clone)]
struct Member(String);

/// Decodes `Basic base64(company+public:private)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, private) = decoded.split_once(':')?;
    let (company, public) = user.split_once('+')?;
    Some((company.to_owned(), public.to_owned(), private.to_owned()))
}

async fn auth(State(sim): State<Arc<ConnectWiseSim>>, mut req: Request, next: Next) -> Response {
    let member = basic_credentials(req.headers()).and_then(|(company, public, private)| {
        if !company.eq_ignore_ascii_case(&sim.config.company_id) {
            return None;
        }
        sim.config
            .members
            .iter()
            .find(|m| m.public_key == public && m.private_key == private)
            .map(|m| m.identifier.clone())
    });
    let client_ok = req
        .headers()
        .get("clientId")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| sim.config.client_ids.iter().any(|k| k == c));
    let Some(member) = member.filter(|_| client_ok) else {
        return reject(
            StatusCode::UNAUTHORIZED,
            "Authentication failed: check the company, public/private keys and clientId",
        )
        .into_response();
    };
    if let Err(r) = sim.core.rate_check() {
        return r.into_response();
    }
    req.extensions_mut().insert(Member(member));
    next.run(req).await
}

/// `company/{coll}` segment → store collection and callback type.
fn entity(coll: &str) -> Option<(&'static str, Option<&'static str>)> {
    match coll {
        "companies" => Some(("companies", Some("company"))),
        "configurations" => Some(("configurations", Some("configuration"))),
        "contacts" => Some(("contacts", Some("contact"))),
        _ => None,
    }
}

/// `company/{coll}/{lookup}` → lookup collection.
fn lookup_collection(coll: &str, sub: &str) -> Option<&'static str> {
    match (coll, sub) {
        ("companies", "statuses") => Some("company_statuses"),
        ("companies", "types") => Some("company_types"),
        ("configurations", "types") => Some("configuration_types"),
        ("configurations", "statuses") => Some("configuration_statuses"),
        ("contacts", "types") => Some("contact_types"),
        _ => None,
    }
}

/// `company/{coll}` lookups that live directly under `company/`.
fn company_lookup(coll: &str) -> Option<&'static str> {
    match coll {
        "states" => Some("states"),
        "countries" => Some("countries"),
        "communicationTypes" => Some("communication_types"),
        _ => None,
    }
}

/// The type-association collection of companies or contacts, and the key of its parent
/// reference.
fn association_collection(collection: &str) -> Option<(&'static str, &'static str)> {
    match collection {
        "companies" => Some(("company_type_associations", "company")),
        "contacts" => Some(("contact_type_associations", "contact")),
        _ => None,
    }
}

const ALL_COLLECTIONS: [&str; 16] = [
    "companies",
    "configurations",
    "contacts",
    "sites",
    "company_statuses",
    "company_types",
    "configuration_types",
    "configuration_statuses",
    "contact_types",
    "manufacturers",
    "members",
    "states",
    "countries",
    "communication_types",
    "company_type_associations",
    "contact_type_associations",
];

/// Reference fields and the collection their ids point into.
fn reference_target(collection: &str, field: &str) -> Option<&'static str> {
    match (collection, field) {
        ("companies", "status") => Some("company_statuses"),
        ("companies", "types") => Some("company_types"),
        ("companies", "site") => Some("sites"),
        ("companies", "parentCompany") => Some("companies"),
        ("companies" | "sites", "country") => Some("countries"),
        ("sites", "stateReference") => Some("states"),
        ("configurations", "type") => Some("configuration_types"),
        ("configurations", "status") => Some("configuration_statuses"),
        ("configurations", "contact") => Some("contacts"),
        ("configurations", "manufacturer") => Some("manufacturers"),
        ("configurations", "installedBy") => Some("members"),
        ("contacts", "types") => Some("contact_types"),
        ("company_type_associations", "type") => Some("company_types"),
        ("contact_type_associations", "type") => Some("contact_types"),
        ("contact_type_associations", "contact") => Some("contacts"),
        (_, "company") => Some("companies"),
        (_, "site") => Some("sites"),
        _ => None,
    }
}

/// Fills in one reference object from the record its `id` points at. A reference without an
/// id is refused: the spec's reference DTOs carry an id and nothing documents resolution by
/// name or identifier (audit CW-3, unverified → the stricter reading).
fn resolve_one(store: &Store, field: &str, target: &str, item: &mut Value) -> Result<(), String> {
    let Some(obj) = item.as_object_mut() else {
        return Ok(());
    };
    let Some(id) = obj.get("id").and_then(value_as_id) else {
        return Err(format!(
            "{field}: a reference needs an id (names and identifiers are not looked up)"
        ));
    };
    let rec = store
        .get(target, id)
        .ok_or_else(|| format!("{field}: {field} with id {id} was not found"))?;
    let text = |k: &str| rec.fields.get(k).and_then(Value::as_str).unwrap_or("");
    let name = match target {
        "contacts" | "members" => Value::from(
            format!("{} {}", text("firstName"), text("lastName"))
                .trim()
                .to_owned(),
        ),
        "communication_types" => Value::from(text("description")),
        _ => rec.fields.get("name").cloned().unwrap_or(Value::Null),
    };
    obj.insert("name".into(), name);
    if matches!(target, "companies" | "members" | "states" | "countries") {
        let ident = rec.fields.get("identifier").cloned().unwrap_or(Value::Null);
        obj.insert("identifier".into(), ident);
    }
    Ok(())
}

/// Fills in `name` (and `identifier` where the reference has one) of reference objects; a
/// reference object without an id is refused.
fn resolve_refs(
    store: &Store,
    collection: &str,
    fields: &mut Map<String, Value>,
) -> Result<(), String> {
    for (field, value) in fields.iter_mut() {
        if collection == "contacts" && field == "communicationItems" {
            resolve_communication_items(store, value)?;
            continue;
        }
        let Some(target) = reference_target(collection, field) else {
            continue;
        };
        match value {
            Value::Array(a) => {
                for item in a {
                    resolve_one(store, field, target, item)?;
                }
            }
            Value::Object(_) => resolve_one(store, field, target, value)?,
            _ => {}
        }
    }
    Ok(())
}

/// A contact's communication items: `type` is a communication type reference (by id); the
/// item's `communicationType` follows from that type's flags, as ConnectWise derives it.
fn resolve_communication_items(store: &Store, items: &mut Value) -> Result<(), String> {
    let Some(list) = items.as_array_mut() else {
        return Ok(());
    };
    for item in list {
        let Some(kind) = item.get_mut("type") else {
            continue;
        };
        if kind.is_null() {
            continue;
        }
        resolve_one(
            store,
            "communicationItems/type",
            "communication_types",
            kind,
        )?;
        let id = kind.get("id").and_then(value_as_id).unwrap_or(0);
        let flag = |k: &str| {
            store
                .get("communication_types", id)
                .and_then(|r| r.fields.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let derived = if flag("emailFlag") {
            "Email"
        } else if flag("faxFlag") {
            "Fax"
        } else {
            "Phone"
        };
        if let Some(o) = item.as_object_mut() {
            o.insert("communicationType".into(), derived.into());
        }
    }
    Ok(())
}

fn has_text(fields: &Map<String, Value>, key: &str) -> bool {
    fields
        .get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

fn has_ref(fields: &Map<String, Value>, key: &str) -> bool {
    fields.get(key).and_then(|v| v.get("id")).is_some()
}

/// The company address fields of which the spec requires at least one (audit CW-2).
const COMPANY_ADDRESS_FIELDS: [&str; 5] = ["addressLine1", "addressLine2", "city", "state", "zip"];

/// Configuration date-time fields (`installationDate`, …: `date-time` in the spec).
const DATE_TIME_FIELDS: [&str; 3] = ["installationDate", "purchaseDate", "warrantyExpirationDate"];

/// Stores date-times as ConnectWise returns them, `YYYY-MM-DDTHH:MM:SSZ`: a plain date is
/// midnight UTC, fractions are dropped, a zone-less time is taken as UTC; anything else → 400.
fn normalise_date_times(collection: &str, fields: &mut Map<String, Value>) -> Result<(), String> {
    if collection != "configurations" {
        return Ok(());
    }
    for key in DATE_TIME_FIELDS {
        let Some(Value::String(text)) = fields.get(key) else {
            continue;
        };
        let parsed = cw_date_time(text)
            .ok_or_else(|| format!("{key}: {text:?} is not a date-time (YYYY-MM-DDTHH:MM:SSZ)"))?;
        fields.insert(key.into(), parsed.into());
    }
    Ok(())
}

fn cw_date_time(text: &str) -> Option<String> {
    let t = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let date = t.get(0..10)?;
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3
        || d[0].len() != 4
        || d[1].len() != 2
        || d[2].len() != 2
        || !d.iter().all(|p| digits(p))
    {
        return None;
    }
    let rest = &t[10..];
    if rest.is_empty() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let time = rest.strip_prefix('T')?;
    let time = time.strip_suffix('Z').unwrap_or(time);
    let hms = time.split('.').next().unwrap_or("");
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3 || !parts.iter().all(|p| p.len() == 2 && digits(p)) {
        return None;
    }
    Some(format!("{date}T{hms}Z"))
}

/// Longest company name ConnectWise takes (spec `Company.name` maxLength).
const COMPANY_NAME_MAX: usize = 50;

/// Required fields and unique identifiers, as ConnectWise checks them on save.
fn validate(
    store: &Store,
    collection: &str,
    id: Option<u64>,
    fields: &Map<String, Value>,
) -> Result<(), String> {
    let missing = |f: &str| Err(format!("{f}: {f} is required"));
    match collection {
        "companies" => {
            if !has_text(fields, "name") {
                return missing("name");
            }
            if !has_text(fields, "identifier") {
                return missing("identifier");
            }
            // The spec's maxLength (audit §2.4: name max 50).
            let name = fields.get("name").and_then(Value::as_str).unwrap_or("");
            if name.chars().count() > COMPANY_NAME_MAX {
                return Err(format!(
                    "name: name must be no more than {COMPANY_NAME_MAX} characters"
                ));
            }
            if !COMPANY_ADDRESS_FIELDS.iter().any(|f| has_text(fields, f))
                && !has_ref(fields, "country")
            {
                return Err("addressLine1: at least one address field is required -- \
                     addressLine1, addressLine2, city, state, zip and/or country"
                    .into());
            }
            let ident = fields
                .get("identifier")
                .and_then(Value::as_str)
                .unwrap_or("");
            let taken = store.list("companies").any(|r| {
                Some(r.id) != id
                    && r.fields
                        .get("identifier")
                        .and_then(Value::as_str)
                        .is_some_and(|o| o.eq_ignore_ascii_case(ident))
            });
            if taken {
                return Err(format!(
                    "identifier: identifier {ident:?} is already in use"
                ));
            }
        }
        "configurations" => {
            if !has_text(fields, "name") {
                return missing("name");
            }
            if !has_ref(fields, "type") {
                return missing("type");
            }
            if !has_ref(fields, "company") {
                return missing("company");
            }
        }
        "contacts" if !has_text(fields, "firstName") => return missing("firstName"),
        "sites" if !has_text(fields, "name") => return missing("name"),
        _ => {}
    }
    Ok(())
}

/// `company/countries` of a fresh tenant: (name, ISO code).
const COUNTRIES: [(&str, &str); 10] = [
    ("United States", "US"),
    ("Canada", "CA"),
    ("United Kingdom", "GB"),
    ("Australia", "AU"),
    ("New Zealand", "NZ"),
    ("Ireland", "IE"),
    ("Germany", "DE"),
    ("Netherlands", "NL"),
    ("France", "FR"),
    ("South Africa", "ZA"),
];

/// `company/states`: (identifier, name, country).
const STATES: [(&str, &str, &str); 36] = [
    ("AZ", "Arizona", "United States"),
    ("CA", "California", "United States"),
    ("CO", "Colorado", "United States"),
    ("FL", "Florida", "United States"),
    ("GA", "Georgia", "United States"),
    ("IL", "Illinois", "United States"),
    ("MA", "Massachusetts", "United States"),
    ("MI", "Michigan", "United States"),
    ("MN", "Minnesota", "United States"),
    ("NC", "North Carolina", "United States"),
    ("NJ", "New Jersey", "United States"),
    ("NY", "New York", "United States"),
    ("OH", "Ohio", "United States"),
    ("OR", "Oregon", "United States"),
    ("PA", "Pennsylvania", "United States"),
    ("TX", "Texas", "United States"),
    ("VA", "Virginia", "United States"),
    ("WA", "Washington", "United States"),
    ("AB", "Alberta", "Canada"),
    ("BC", "British Columbia", "Canada"),
    ("MB", "Manitoba", "Canada"),
    ("NB", "New Brunswick", "Canada"),
    ("NL", "Newfoundland and Labrador", "Canada"),
    ("NS", "Nova Scotia", "Canada"),
    ("ON", "Ontario", "Canada"),
    ("QC", "Quebec", "Canada"),
    ("SK", "Saskatchewan", "Canada"),
    ("England", "England", "United Kingdom"),
    ("Scotland", "Scotland", "United Kingdom"),
    ("Wales", "Wales", "United Kingdom"),
    ("NI", "Northern Ireland", "United Kingdom"),
    ("NSW", "New South Wales", "Australia"),
    ("VIC", "Victoria", "Australia"),
    ("QLD", "Queensland", "Australia"),
    ("WA-AU", "Western Australia", "Australia"),
    ("AKL", "Auckland", "New Zealand"),
];

/// `company/communicationTypes`: (description, phone, fax, email, default of its kind).
const COMMUNICATION_TYPES: [(&str, bool, bool, bool, bool); 7] = [
    ("Email", false, false, true, true),
    ("Direct", true, false, false, true),
    ("Cell", true, false, false, false),
    ("Fax", false, true, false, true),
    ("Home", true, false, false, false),
    ("Pager", true, false, false, false),
    ("Email - Other", false, false, true, false),
];

/// `procurement/manufacturers` a tenant typically has.
const MANUFACTURERS: [&str; 12] = [
    "Apple",
    "Cisco",
    "Dell",
    "Fortinet",
    "HP",
    "Lenovo",
    "Microsoft",
    "SonicWall",
    "Synology",
    "Ubiquiti",
    "Brother",
    "Canon",
];

/// Defaults ConnectWise fills in on create.
fn defaults(collection: &str) -> Map<String, Value> {
    let pairs: &[(&str, Value)] = match collection {
        "companies" => &[("deletedFlag", Value::Bool(false))],
        "configurations" => &[("activeFlag", Value::Bool(true))],
        "contacts" | "sites" => &[("inactiveFlag", Value::Bool(false))],
        _ => &[],
    };
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Keeps a company's or contact's type associations in step with its `types[]`: one
/// association per type, kept (same id) while the type stays, removed with it, added for a new
/// one. A record that is gone loses all of its associations. `created`: the record was just
/// inserted under a new id, so no association can name it yet (a removed record's went with
/// it) and the scan of every association is skipped — it made seeding a large tenant quadratic.
fn sync_type_associations(store: &mut Store, collection: &str, id: u64, now: i64, created: bool) {
    let Some((assoc, parent_key)) = association_collection(collection) else {
        return;
    };
    let (types, parent): (Vec<Value>, Value) = match store.get(collection, id) {
        None => (Vec::new(), Value::Null),
        Some(r) => {
            let types = r
                .fields
                .get("types")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut parent = json!({"id": id, "name": r.fields.get("name").cloned()});
            if collection == "companies" {
                parent["identifier"] = r.fields.get("identifier").cloned().unwrap_or(Value::Null);
            } else {
                let t = |k: &str| r.fields.get(k).and_then(Value::as_str).unwrap_or("");
                parent["name"] = format!("{} {}", t("firstName"), t("lastName"))
                    .trim()
                    .into();
            }
            (types, parent)
        }
    };
    let type_id = |v: &Value| v.get("id").and_then(value_as_id);
    let wanted: Vec<u64> = types.iter().filter_map(type_id).collect();
    let existing: Vec<(u64, Option<u64>)> = if created {
        Vec::new()
    } else {
        store
            .list(assoc)
            .filter(|r| r.fields.get(parent_key).and_then(type_id) == Some(id))
            .map(|r| (r.id, r.fields.get("type").and_then(type_id)))
            .collect()
    };
    let mut kept: Vec<u64> = Vec::new();
    for (assoc_id, t) in existing {
        match t {
            Some(t) if wanted.contains(&t) && !kept.contains(&t) => {
                kept.push(t);
                let resolved = types.iter().find(|v| type_id(v) == Some(t)).cloned();
                if let Some(r) = store.get_mut(assoc, assoc_id) {
                    r.fields.insert(parent_key.into(), parent.clone());
                    if let Some(resolved) = resolved {
                        r.fields.insert("type".into(), resolved);
                    }
                }
            }
            _ => {
                store.remove(assoc, assoc_id);
            }
        }
    }
    for t in &types {
        let Some(tid) = type_id(t) else { continue };
        if kept.contains(&tid) {
            continue;
        }
        kept.push(tid);
        let mut fields = Map::new();
        fields.insert("type".into(), t.clone());
        fields.insert(parent_key.into(), parent.clone());
        store.insert(assoc, None, fields, Map::new(), now);
    }
}

/// Ids of a `types[]` value, in order.
fn type_ids(types: Option<&Value>) -> Vec<u64> {
    types
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("id").and_then(value_as_id))
                .collect()
        })
        .unwrap_or_default()
}

/// The refusal for writing `types`/`typeIds` on an existing company or contact (audit CW-1:
/// the spec says they "can be passed in only during new … creation (post)"; whether the real
/// API ignores or refuses such a PATCH is unverified → the stricter reading, 400).
fn types_not_updatable(collection: &str, id: u64) -> Rejection {
    reject(
        StatusCode::BAD_REQUEST,
        format!(
            "types: types can be set only when the record is created; to change the types of \
             an existing record use /company/{collection}/{id}/typeAssociations"
        ),
    )
}

/// ConnectWise's answer to a forward-only request on an endpoint without it.
fn forward_only_refused(path: &str) -> Rejection {
    let name = path
        .rsplit('/')
        .find(|s| !s.is_empty() && !s.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or("");
    let mut chars = name.chars();
    let name: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    reject(
        StatusCode::BAD_REQUEST,
        format!("The {name} Endpoint doesn't support 'forward-only' pagination"),
    )
}

impl ConnectWiseSim {
    /// What every ConnectWise tenant has before anyone syncs: the API members, countries,
    /// states/provinces, communication types and a few manufacturers (record ids from 1, members
    /// at their configured record ids).
    fn seed_system_lookups(&self) {
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let mut put = |collection: &str, id: Option<u64>, v: Value| {
            if let Value::Object(fields) = v {
                st.store.insert(collection, id, fields, Map::new(), now);
            }
        };
        for m in &self.config.members {
            let mut first = m.identifier.clone();
            if let Some(c) = first.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            put(
                "members",
                Some(m.rec_id),
                json!({"identifier": m.identifier, "firstName": first, "lastName": "Member",
                    "inactiveFlag": false, "licenseClass": "A"}),
            );
        }
        for (i, (name, code)) in COUNTRIES.iter().enumerate() {
            put(
                "countries",
                Some(i as u64 + 1),
                json!({"name": name, "identifier": code, "countryCode": code,
                    "defaultFlag": i == 0}),
            );
        }
        for (ident, name, country) in STATES {
            let cid = COUNTRIES
                .iter()
                .position(|(n, _)| *n == country)
                .map_or(1, |p| p as u64 + 1);
            put(
                "states",
                None,
                json!({"identifier": ident, "name": name,
                    "country": {"id": cid, "name": country}}),
            );
        }
        for (description, phone, fax, email, default) in COMMUNICATION_TYPES {
            put(
                "communication_types",
                None,
                json!({"description": description, "phoneFlag": phone, "faxFlag": fax,
                    "emailFlag": email, "defaultFlag": default}),
            );
        }
        for name in MANUFACTURERS {
            put(
                "manufacturers",
                None,
                json!({"name": name, "inactiveFlag": false}),
            );
        }
    }

    fn lock(&self) -> MutexGuard<'_, CwState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    fn key_url(&self, key_id: &str) -> String {
        format!(
            "{}{KEY_PATH}?companyName={}&id={}",
            self.core.base_url(),
            urlenc::encode(&self.config.company_id),
            key_id
        )
    }

    fn member_rec_id(&self, identifier: &str) -> Option<u64> {
        self.config
            .members
            .iter()
            .find(|m| m.identifier == identifier)
            .map(|m| m.rec_id)
    }

    /// Creates a record as `member`; returns it rendered.
    fn create_record(
        &self,
        collection: &str,
        mut fields: Map<String, Value>,
        member: &str,
    ) -> Result<Value, Rejection> {
        fields.remove("id");
        fields.remove("_info");
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let mut all = defaults(collection);
        all.extend(fields);
        resolve_refs(&st.store, collection, &mut all)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        normalise_date_times(collection, &mut all)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        validate(&st.store, collection, None, &all)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        let names: Vec<String> = all.keys().cloned().collect();
        let mut meta = Map::new();
        meta.insert("enteredBy".into(), member.into());
        meta.insert("updatedBy".into(), member.into());
        let id = st.store.insert(collection, None, all, meta, now);
        sync_type_associations(&mut st.store, collection, id, now, true);
        self.core.writes.record(
            now,
            collection,
            &id.to_string(),
            WriteAction::Create,
            names.clone(),
            names,
            member,
        );
        let rendered = st
            .store
            .get(collection, id)
            .map(render)
            .unwrap_or(Value::Null);
        self.notify(&st, collection, "added", id, Some(&rendered), member);
        Ok(rendered)
    }

    /// Replaces (PUT) or patches a record's fields as `member`.
    fn update_record(
        &self,
        collection: &str,
        id: u64,
        member: &str,
        change: impl FnOnce(&mut Map<String, Value>) -> Result<Vec<String>, String>,
    ) -> Result<Value, Rejection> {
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let Some(rec) = st.store.get(collection, id) else {
            return Err(not_found(collection, id));
        };
        let mut fields = rec.fields.clone();
        let sent = change(&mut fields).map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        resolve_refs(&st.store, collection, &mut fields)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        normalise_date_times(collection, &mut fields)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        validate(&st.store, collection, Some(id), &fields)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        let changed = st
            .store
            .replace(collection, id, fields, now)
            .unwrap_or_default();
        sync_type_associations(&mut st.store, collection, id, now, false);
        if !changed.is_empty() {
            if let Some(r) = st.store.get_mut(collection, id) {
                r.meta.insert("updatedBy".into(), member.into());
            }
        }
        self.core.writes.record(
            now,
            collection,
            &id.to_string(),
            WriteAction::Update,
            sent,
            changed,
            member,
        );
        let rendered = st
            .store
            .get(collection, id)
            .map(render)
            .unwrap_or(Value::Null);
        // ConnectWise fires "updated" on every save, changed or not.
        self.notify(&st, collection, "updated", id, Some(&rendered), member);
        Ok(rendered)
    }

    fn delete_record(&self, collection: &str, id: u64, member: &str) -> Result<(), Rejection> {
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let Some(old) = st.store.remove(collection, id) else {
            return Err(not_found(collection, id));
        };
        sync_type_associations(&mut st.store, collection, id, now, false);
        self.core.writes.record(
            now,
            collection,
            &id.to_string(),
            WriteAction::Delete,
            vec![],
            vec![],
            member,
        );
        let rendered = render(&old);
        self.notify(&st, collection, "deleted", id, Some(&rendered), member);
        Ok(())
    }

    /// Sends the callbacks one change triggers. `record` is the record after the change (before,
    /// for a delete) and is used for company-level filtering; a delete sends `Entity: null`.
    fn notify(
        &self,
        st: &CwState,
        collection: &str,
        action: &str,
        id: u64,
        record: Option<&Value>,
        member: &str,
    ) {
        let Some((_, Some(kind))) = entity(collection) else {
            return;
        };
        let company_id = match collection {
            "companies" => Some(id),
            _ => record
                .and_then(|r| r.get("company"))
                .and_then(|c| c.get("id"))
                .and_then(value_as_id),
        };
        let actor = self.member_rec_id(member);
        let host = self
            .core
            .base_url()
            .trim_start_matches("http://")
            .to_owned();
        for cb in st
            .callbacks
            .iter()
            .filter(|c| !c.inactive_flag && c.kind.eq_ignore_ascii_case(kind))
        {
            if cb.is_self_suppressed_flag && actor == Some(cb.member_id) {
                continue;
            }
            if cb.level.eq_ignore_ascii_case("company") && company_id != Some(cb.object_id) {
                continue;
            }
            let entity = match (action, record) {
                ("deleted", _) | (_, None) => Value::Null,
                (_, Some(r)) => Value::from(r.to_string()),
            };
            // json! keeps keys sorted, which is also the order real deliveries show.
            let payload = json!({
                "MessageId": self.core.guid(),
                "FromUrl": host,
                "CompanyId": self.config.company_id,
                "MemberId": member,
                "Action": action,
                "Type": kind,
                "ID": id,
                "ProductInstanceId": "sim-product-instance",
                "PartnerId": "sim-partner",
                "Entity": entity,
                "Metadata": {"key_url": self.key_url(&st.key_id)},
                "CallbackObjectRecId": cb.id,
            });
            let body = payload.to_string().into_bytes();
            let signature = sign(&st.signing_key, &body);
            self.dispatcher.send(Outgoing {
                url: format!("{}{}", cb.url, id),
                headers: vec![("x-content-signature".into(), signature)],
                body,
            });
        }
    }
}

/// `base64(HMAC-SHA256(key = SHA-256(signing_key), body))` (webhooks.md §1.3).
pub fn sign(signing_key: &str, body: &[u8]) -> String {
    let key = Sha256::digest(signing_key.as_bytes());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

fn not_found(collection: &str, id: u64) -> Rejection {
    reject(
        StatusCode::NOT_FOUND,
        format!("{collection} recId {id} not found"),
    )
}

/// A stored record in ConnectWise's wire shape: fields plus `id` and `_info`.
fn render(rec: &StoredRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), Value::from(rec.id));
    for (k, v) in &rec.fields {
        out.insert(k.clone(), v.clone());
    }
    let by = |k: &str| rec.meta.get(k).cloned().unwrap_or(Value::Null);
    out.insert(
        "_info".into(),
        json!({
            "lastUpdated": format_seconds(rec.updated_at),
            "updatedBy": by("updatedBy"),
            "dateEntered": format_seconds(rec.created_at),
            "enteredBy": by("enteredBy"),
        }),
    );
    Value::Object(out)
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    // ConnectWise query parameter names are case-insensitive (`pageSize`, `pagesize`).
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn positive(params: &Params, key: &str, default: usize) -> Result<usize, Rejection> {
    match param(params, key) {
        None => Ok(default),
        Some(s) => s.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            reject(
                StatusCode::BAD_REQUEST,
                format!("{key} must be a positive integer"),
            )
        }),
    }
}

/// Sorts by `orderBy=field [asc|desc]` (id ascending by default and as tie-breaker).
fn order(records: &mut [Value], order_by: Option<&str>) {
    let (field, desc) = match order_by.map(str::trim).filter(|s| !s.is_empty()) {
        None => ("id".to_owned(), false),
        Some(s) => {
            let mut parts = s.split_whitespace();
            let f = parts.next().unwrap_or("id").to_owned();
            let d = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            (f, d)
        }
    };
    let key = |v: &Value| -> (String, u64) {
        let mut cur = v;
        for seg in field.split('/') {
            cur = cur.get(seg).unwrap_or(&Value::Null);
        }
        let k = match cur {
            Value::Number(n) => format!("{:020}", n.as_u64().unwrap_or(0)),
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        };
        (k, v.get("id").and_then(Value::as_u64).unwrap_or(0))
    };
    records.sort_by(|a, b| {
        let o = key(a).cmp(&key(b));
        if desc {
            o.reverse()
        } else {
            o
        }
    });
}

/// Keeps only the top-level fields named in `fields=a,b/c`.
fn project(rec: Value, fields: Option<&str>) -> Value {
    let Some(list) = fields.filter(|f| !f.is_empty()) else {
        return rec;
    };
    let keep: Vec<&str> = list
        .split(',')
        .map(|f| f.trim().split('/').next().unwrap_or(""))
        .collect();
    match rec {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

fn link_to(base: &str, path: &str, params: &Params, replace: &[(&str, String)]) -> String {
    let mut pairs: Params = params
        .iter()
        .filter(|(k, _)| !replace.iter().any(|(r, _)| k.eq_ignore_ascii_case(r)))
        .cloned()
        .collect();
    pairs.extend(replace.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    format!("{base}{path}?{}", urlenc::encode_pairs(&pairs))
}

/// The collections whose listing supports forward-only paging (top-level listings only: a
/// `filter`ed listing such as a company's sites is refused even though it reads `sites`).
const FORWARD_ONLY_COLLECTIONS: [&str; 3] = ["companies", "configurations", "contacts"];

/// Lists a collection with conditions, order and paging; `filter` narrows further (sites of one
/// company), on the stored records, before they are rendered: a company's sites are one listing
/// per company, and rendering every site for each would make a large tenant's listing quadratic.
fn list_response(
    sim: &ConnectWiseSim,
    collection: &str,
    filter: impl Fn(&StoredRecord) -> bool,
    params: &Params,
    headers: &HeaderMap,
    path: &str,
) -> Result<Response, Rejection> {
    let st = sim.lock();
    let records = st.store.list(collection).filter(|rec| filter(rec));
    page_response(sim, collection, records, params, headers, path)
}

/// One page of `records` (a collection's, or a parent's records of it, in id order) as
/// ConnectWise answers a listing: conditions, ordering, page or forward-only paging, `fields`, the `Link` header.
fn page_response<'r>(
    sim: &ConnectWiseSim,
    collection: &str,
    records: impl Iterator<Item = &'r StoredRecord>,
    params: &Params,
    headers: &HeaderMap,
    path: &str,
) -> Result<Response, Rejection> {
    let cond = cw_conditions::parse(param(params, "conditions").unwrap_or(""))
        .map_err(|e| reject(StatusCode::BAD_REQUEST, format!("conditions: {e}")))?;
    let page_size = positive(params, "pageSize", DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE);
    let page = positive(params, "page", 1)?;
    let page_id = match param(params, "pageId") {
        None => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| reject(StatusCode::BAD_REQUEST, "pageId must be a record id"))?,
        ),
    };
    let forward = page_id.is_some()
        || headers
            .get("pagination-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("forward-only"));
    // Forward-only exists on some endpoints only (audit CW-4; which ones is unverified → the
    // stricter reading: the three top-level record collections).
    if forward && !FORWARD_ONLY_COLLECTIONS.contains(&collection) {
        return Err(forward_only_refused(path));
    }
    let matches = |r: &Value| cond.as_ref().is_none_or(|c| c.matches(r));
    let base = sim.core.base_url();
    let (items, link) = if forward {
        // Forward-only: ids ascending, "pageId" acts as `id > pageId`. `records` come in id
        // order, so only this page's records (and one more, to know there is a next page) are
        // rendered: rendering every record for every page made a listing quadratic.
        let after = page_id.unwrap_or(0);
        let rest: Vec<Value> = records
            .filter(|r| r.id > after)
            .map(render)
            .filter(|r| matches(r))
            .take(page_size.saturating_add(1))
            .collect();
        let more = rest.len() > page_size;
        let items: Vec<Value> = rest.into_iter().take(page_size).collect();
        let link = match items
            .last()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_u64)
        {
            Some(last) if more => Some(format!(
                "<{}>; rel=\"next\"",
                link_to(base, path, params, &[("pageId", last.to_string())])
            )),
            _ => None,
        };
        (items, link)
    } else {
        let mut rows: Vec<Value> = records.map(render).filter(|r| matches(r)).collect();
        order(&mut rows, param(params, "orderBy"));
        let total = rows.len();
        let last_page = total.div_ceil(page_size).max(1);
        let items: Vec<Value> = rows
            .into_iter()
            .skip((page - 1).saturating_mul(page_size))
            .take(page_size)
            .collect();
        let at = |n: usize| link_to(base, path, params, &[("page", n.to_string())]);
        let mut parts = Vec::new();
        if page > 1 {
            parts.push(format!("<{}>; rel=\"prev\"", at(page - 1)));
            parts.push(format!("<{}>; rel=\"first\"", at(1)));
        }
        if page < last_page {
            parts.push(format!("<{}>; rel=\"next\"", at(page + 1)));
            parts.push(format!("<{}>; rel=\"last\"", at(last_page)));
        }
        (items, (!parts.is_empty()).then(|| parts.join(", ")))
    };
    let fields = param(params, "fields");
    let items: Vec<Value> = items.into_iter().map(|r| project(r, fields)).collect();
    let mut resp = Json(items).into_response();
    if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LINK, link);
    }
    Ok(resp)
}

fn count_response(
    sim: &ConnectWiseSim,
    collection: &str,
    params: &Params,
) -> Result<Response, Rejection> {
    let cond = cw_conditions::parse(param(params, "conditions").unwrap_or(""))
        .map_err(|e| reject(StatusCode::BAD_REQUEST, format!("conditions: {e}")))?;
    let st = sim.lock();
    let count = st
        .store
        .list(collection)
        .map(render)
        .filter(|r| cond.as_ref().is_none_or(|c| c.matches(r)))
        .count();
    Ok(Json(json!({"count": count})).into_response())
}

fn respond(r: Result<Response, Rejection>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

fn parse_id(id: &str) -> Result<u64, Rejection> {
    id.parse()
        .map_err(|_| reject(StatusCode::NOT_FOUND, format!("record {id} not found")))
}

fn entity_or_404(coll: &str) -> Result<&'static str, Rejection> {
    entity(coll)
        .map(|(c, _)| c)
        .ok_or_else(|| reject(StatusCode::NOT_FOUND, "Not found"))
}

async fn list(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path(coll): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{API}/company/{coll}");
    if let Some(lookup) = company_lookup(&coll) {
        return respond(list_response(
            &sim,
            lookup,
            |_| true,
            &params,
            &headers,
            &path,
        ));
    }
    respond(
        entity_or_404(&coll)
            .and_then(|c| list_response(&sim, c, |_| true, &params, &headers, &path)),
    )
}

async fn show(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{API}/company/{coll}/{id}");
    let result = (|| {
        if let Some(lookup) = company_lookup(&coll) {
            return show_plain(&sim, lookup, &id);
        }
        let c = entity_or_404(&coll)?;
        if id == "count" {
            return count_response(&sim, c, &params);
        }
        if let Some(lookup) = lookup_collection(&coll, &id) {
            return list_response(&sim, lookup, |_| true, &params, &headers, &path);
        }
        let num = parse_id(&id)?;
        let st = sim.lock();
        let rec = st.store.get(c, num).ok_or_else(|| not_found(c, num))?;
        Ok(Json(project(render(rec), param(&params, "fields"))).into_response())
    })();
    respond(result)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(reject(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object",
        )),
    }
}

async fn create(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path(coll): Path<String>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = entity_or_404(&coll).and_then(|c| {
        let mut fields = parse_object(&body)?;
        // `typeIds` (POST only) names the types by id; stored as `types[]`.
        if let Some(ids) = fields.remove("typeIds") {
            if association_collection(c).is_some() {
                let types = fields
                    .entry("types")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let (Value::Array(types), Value::Array(ids)) = (types, ids) {
                    types.extend(ids.into_iter().map(|id| json!({"id": id})));
                }
            }
        }
        let rec = sim.create_record(c, fields, &member)?;
        Ok((StatusCode::CREATED, Json(rec)).into_response())
    });
    respond(result)
}

async fn patch(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let c = entity_or_404(&coll)?;
        let num = parse_id(&id)?;
        let ops: Value = serde_json::from_slice(&body).map_err(|_| {
            reject(
                StatusCode::BAD_REQUEST,
                "The request body is not valid JSON",
            )
        })?;
        if association_collection(c).is_some() && touches_types(&ops) {
            return Err(types_not_updatable(&coll, num));
        }
        let rec = sim.update_record(c, num, &member, |f| apply_json_patch(f, &ops))?;
        Ok(Json(rec).into_response())
    })();
    respond(result)
}

async fn replace(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let c = entity_or_404(&coll)?;
        let num = parse_id(&id)?;
        let mut new = parse_object(&body)?;
        new.remove("id");
        new.remove("_info");
        if association_collection(c).is_some() {
            let current = sim
                .lock()
                .store
                .get(c, num)
                .map(|r| type_ids(r.fields.get("types")));
            if new.contains_key("typeIds")
                || current.is_some_and(|t| t != type_ids(new.get("types")))
            {
                return Err(types_not_updatable(&coll, num));
            }
        }
        let rec = sim.update_record(c, num, &member, |f| {
            let sent = new.keys().cloned().collect();
            *f = new;
            Ok(sent)
        })?;
        Ok(Json(rec).into_response())
    })();
    respond(result)
}

async fn remove(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Extension(Member(member)): Extension<Member>,
) -> Response {
    let result = (|| {
        let c = entity_or_404(&coll)?;
        sim.delete_record(c, parse_id(&id)?, &member)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })();
    respond(result)
}

/// Whether a JSON-Patch writes `types` or `typeIds` (any sub-path).
fn touches_types(ops: &Value) -> bool {
    ops.as_array().is_some_and(|ops| {
        ops.iter().any(|op| {
            op.get("path")
                .and_then(Value::as_str)
                .map(|p| p.trim_start_matches('/').split('/').next().unwrap_or(""))
                .is_some_and(|first| first == "types" || first == "typeIds")
        })
    })
}

/// `GET …/{id}` of a plain lookup collection.
fn show_plain(sim: &ConnectWiseSim, collection: &str, id: &str) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let st = sim.lock();
    let rec = st
        .store
        .get(collection, num)
        .ok_or_else(|| not_found(collection, num))?;
    Ok(Json(render(rec)).into_response())
}

async fn list_manufacturers(
    State(sim): State<Arc<ConnectWiseSim>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{API}/procurement/manufacturers");
    respond(list_response(
        &sim,
        "manufacturers",
        |_| true,
        &params,
        &headers,
        &path,
    ))
}

async fn show_manufacturer(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path(id): Path<String>,
) -> Response {
    respond(show_plain(&sim, "manufacturers", &id))
}

async fn list_members(
    State(sim): State<Arc<ConnectWiseSim>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{API}/system/members");
    respond(list_response(
        &sim,
        "members",
        |_| true,
        &params,
        &headers,
        &path,
    ))
}

async fn show_member(State(sim): State<Arc<ConnectWiseSim>>, Path(id): Path<String>) -> Response {
    respond(show_plain(&sim, "members", &id))
}

/// The company or contact a `typeAssociations` route belongs to, which must exist.
fn association_parent(
    sim: &ConnectWiseSim,
    coll: &str,
    id: &str,
) -> Result<(&'static str, u64, &'static str, &'static str), Rejection> {
    let parent = match coll {
        "companies" => "companies",
        "contacts" => "contacts",
        _ => return Err(reject(StatusCode::NOT_FOUND, "Not found")),
    };
    let (assoc, key) =
        association_collection(parent).ok_or_else(|| reject(StatusCode::NOT_FOUND, "Not found"))?;
    let num = parse_id(id)?;
    if sim.lock().store.get(parent, num).is_none() {
        return Err(not_found(parent, num));
    }
    Ok((parent, num, assoc, key))
}

/// An association that belongs to the parent in the path.
fn association_of(
    sim: &ConnectWiseSim,
    assoc: &str,
    key: &str,
    parent: u64,
    assoc_id: &str,
) -> Result<(u64, Value), Rejection> {
    let num = parse_id(assoc_id)?;
    let st = sim.lock();
    match st.store.get(assoc, num) {
        Some(r)
            if r.fields
                .get(key)
                .and_then(|p| p.get("id"))
                .and_then(value_as_id)
                == Some(parent) =>
        {
            Ok((num, render(r)))
        }
        _ => Err(not_found(assoc, num)),
    }
}

async fn list_type_associations(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{API}/company/{coll}/{id}/typeAssociations");
    respond(
        association_parent(&sim, &coll, &id).and_then(|(_, parent, assoc, key)| {
            list_response(
                &sim,
                assoc,
                |rec| reference_id(rec, key) == Some(parent),
                &params,
                &headers,
                &path,
            )
        }),
    )
}

/// The type id of an association body (`{"type": {"id": n}}`), which must exist.
fn association_type(sim: &ConnectWiseSim, parent: &str, body: &Value) -> Result<u64, Rejection> {
    let target = reference_target(parent, "types").unwrap_or("company_types");
    let id = body
        .get("type")
        .and_then(|t| t.get("id"))
        .and_then(value_as_id)
        .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "type: type is required (by id)"))?;
    if sim.lock().store.get(target, id).is_none() {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            format!("type: type with id {id} was not found"),
        ));
    }
    Ok(id)
}

async fn add_type_association(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let (parent, num, assoc, key) = association_parent(&sim, &coll, &id)?;
        let body = Value::Object(parse_object(&body)?);
        let type_id = association_type(&sim, parent, &body)?;
        sim.update_record(parent, num, &member, |f| {
            let types = f.entry("types").or_insert_with(|| Value::Array(Vec::new()));
            if type_ids(Some(types)).contains(&type_id) {
                return Err(format!(
                    "type: type {type_id} is already associated with this record"
                ));
            }
            if let Value::Array(a) = types {
                a.push(json!({"id": type_id}));
            } else {
                *types = json!([{"id": type_id}]);
            }
            Ok(vec!["types".into()])
        })?;
        let st = sim.lock();
        let created = st
            .store
            .list(assoc)
            .find(|r| {
                r.fields
                    .get(key)
                    .and_then(|p| p.get("id"))
                    .and_then(value_as_id)
                    == Some(num)
                    && r.fields
                        .get("type")
                        .and_then(|t| t.get("id"))
                        .and_then(value_as_id)
                        == Some(type_id)
            })
            .map(render)
            .unwrap_or(Value::Null);
        Ok((StatusCode::CREATED, Json(created)).into_response())
    })();
    respond(result)
}

async fn show_type_association(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id, assoc_id)): Path<(String, String, String)>,
) -> Response {
    let result = (|| {
        let (_, num, assoc, key) = association_parent(&sim, &coll, &id)?;
        let (_, rec) = association_of(&sim, assoc, key, num, &assoc_id)?;
        Ok(Json(rec).into_response())
    })();
    respond(result)
}

/// PATCH of an association: only its `type` can change (the association keeps its id).
async fn patch_type_association(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id, assoc_id)): Path<(String, String, String)>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let (parent, num, assoc, key) = association_parent(&sim, &coll, &id)?;
        let (anum, current) = association_of(&sim, assoc, key, num, &assoc_id)?;
        let ops: Value = serde_json::from_slice(&body).map_err(|_| {
            reject(
                StatusCode::BAD_REQUEST,
                "The request body is not valid JSON",
            )
        })?;
        let mut fields = current.as_object().cloned().unwrap_or_default();
        fields.remove("id");
        fields.remove("_info");
        apply_json_patch(&mut fields, &ops).map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        let new_type = association_type(&sim, parent, &Value::Object(fields))?;
        let old_type = current
            .get("type")
            .and_then(|t| t.get("id"))
            .and_then(value_as_id);
        if old_type != Some(new_type) {
            // Retarget the association first so the sync after the save keeps its id.
            if let Some(r) = sim.lock().store.get_mut(assoc, anum) {
                r.fields.insert("type".into(), json!({"id": new_type}));
            }
            sim.update_record(parent, num, &member, |f| {
                let types = f.entry("types").or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = types {
                    if a.iter()
                        .any(|t| t.get("id").and_then(value_as_id) == Some(new_type))
                    {
                        return Err(format!(
                            "type: type {new_type} is already associated with this record"
                        ));
                    }
                    for t in a.iter_mut() {
                        if t.get("id").and_then(value_as_id) == old_type {
                            *t = json!({"id": new_type});
                        }
                    }
                }
                Ok(vec!["types".into()])
            })?;
        }
        let (_, rec) = association_of(&sim, assoc, key, num, &assoc_id)?;
        Ok(Json(rec).into_response())
    })();
    respond(result)
}

async fn remove_type_association(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id, assoc_id)): Path<(String, String, String)>,
    Extension(Member(member)): Extension<Member>,
) -> Response {
    let result = (|| {
        let (parent, num, assoc, key) = association_parent(&sim, &coll, &id)?;
        let (_, current) = association_of(&sim, assoc, key, num, &assoc_id)?;
        let type_id = current
            .get("type")
            .and_then(|t| t.get("id"))
            .and_then(value_as_id);
        sim.update_record(parent, num, &member, |f| {
            if let Some(Value::Array(a)) = f.get_mut("types") {
                a.retain(|t| t.get("id").and_then(value_as_id) != type_id);
            }
            Ok(vec!["types".into()])
        })?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })();
    respond(result)
}

/// `PATCH company/configurations/{id}/changeType`: a JSON-Patch that may only write `type`
/// (and the type-specific questions, not simulated).
async fn change_type(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        if coll != "configurations" {
            return Err(reject(StatusCode::NOT_FOUND, "Not found"));
        }
        let num = parse_id(&id)?;
        let ops: Value = serde_json::from_slice(&body).map_err(|_| {
            reject(
                StatusCode::BAD_REQUEST,
                "The request body is not valid JSON",
            )
        })?;
        let rec = sim.update_record("configurations", num, &member, |f| {
            let touched = apply_json_patch(f, &ops)?;
            match touched.iter().find(|t| t.as_str() != "type") {
                Some(other) => Err(format!("{other}: changeType changes only the type")),
                None => Ok(touched),
            }
        })?;
        Ok(Json(rec).into_response())
    })();
    respond(result)
}

/// The id a stored record's reference field (`{"id": …}`) names.
fn company_of(value: &Value) -> Option<u64> {
    value.get("company")?.get("id").and_then(value_as_id)
}

/// The parent company of a sites route, which must exist.
fn parent_company(sim: &ConnectWiseSim, coll: &str, id: &str) -> Result<u64, Rejection> {
    if coll != "companies" {
        return Err(reject(StatusCode::NOT_FOUND, "Not found"));
    }
    let num = parse_id(id)?;
    if sim.lock().store.get("companies", num).is_none() {
        return Err(not_found("companies", num));
    }
    Ok(num)
}

/// A site that belongs to the company in the path.
fn site_of(sim: &ConnectWiseSim, company: u64, site: &str) -> Result<u64, Rejection> {
    let num = parse_id(site)?;
    let st = sim.lock();
    match st.store.get("sites", num) {
        Some(r) if company_of(&Value::Object(r.fields.clone())) == Some(company) => Ok(num),
        _ => Err(not_found("sites", num)),
    }
}

async fn list_sites(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{API}/company/{coll}/{id}/sites");
    respond(parent_company(&sim, &coll, &id).and_then(|company| {
        let mut st = sim.lock();
        let st = &mut *st;
        let sites = st.sites_by_company.records(&st.store, company);
        page_response(&sim, "sites", sites.into_iter(), &params, &headers, &path)
    }))
}

async fn create_site(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id)): Path<(String, String)>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let company = parent_company(&sim, &coll, &id)?;
        let mut fields = parse_object(&body)?;
        fields.insert("company".into(), json!({"id": company}));
        let rec = sim.create_record("sites", fields, &member)?;
        Ok((StatusCode::CREATED, Json(rec)).into_response())
    })();
    respond(result)
}

async fn show_site(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id, site)): Path<(String, String, String)>,
) -> Response {
    let result = (|| {
        let company = parent_company(&sim, &coll, &id)?;
        let num = site_of(&sim, company, &site)?;
        let st = sim.lock();
        let rec = st
            .store
            .get("sites", num)
            .ok_or_else(|| not_found("sites", num))?;
        Ok(Json(render(rec)).into_response())
    })();
    respond(result)
}

async fn patch_site(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id, site)): Path<(String, String, String)>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let company = parent_company(&sim, &coll, &id)?;
        let num = site_of(&sim, company, &site)?;
        let ops: Value = serde_json::from_slice(&body).map_err(|_| {
            reject(
                StatusCode::BAD_REQUEST,
                "The request body is not valid JSON",
            )
        })?;
        let rec = sim.update_record("sites", num, &member, |f| {
            let touched = apply_json_patch(f, &ops)?;
            // A site cannot move to another company.
            f.insert("company".into(), json!({"id": company}));
            Ok(touched)
        })?;
        Ok(Json(rec).into_response())
    })();
    respond(result)
}

async fn replace_site(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id, site)): Path<(String, String, String)>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let company = parent_company(&sim, &coll, &id)?;
        let num = site_of(&sim, company, &site)?;
        let mut new = parse_object(&body)?;
        new.remove("id");
        new.remove("_info");
        new.insert("company".into(), json!({"id": company}));
        let rec = sim.update_record("sites", num, &member, |f| {
            let sent = new.keys().cloned().collect();
            *f = new;
            Ok(sent)
        })?;
        Ok(Json(rec).into_response())
    })();
    respond(result)
}

async fn remove_site(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path((coll, id, site)): Path<(String, String, String)>,
    Extension(Member(member)): Extension<Member>,
) -> Response {
    let result = (|| {
        let company = parent_company(&sim, &coll, &id)?;
        let num = site_of(&sim, company, &site)?;
        sim.delete_record("sites", num, &member)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })();
    respond(result)
}

fn callback_json(cb: &Callback, now: i64, member: &str) -> Value {
    let mut v = serde_json::to_value(cb).unwrap_or(Value::Null);
    v["_info"] = json!({"lastUpdated": format_seconds(now), "updatedBy": member});
    v
}

async fn list_callbacks(State(sim): State<Arc<ConnectWiseSim>>) -> Response {
    let now = sim.core.clock.now_millis();
    let st = sim.lock();
    let all: Vec<Value> = st
        .callbacks
        .iter()
        .map(|c| callback_json(c, now, ""))
        .collect();
    Json(all).into_response()
}

async fn list_callbacks_admin(State(sim): State<Arc<ConnectWiseSim>>) -> Json<Vec<Callback>> {
    Json(sim.lock().callbacks.clone())
}

fn parse_callback(body: &[u8]) -> Result<Callback, Rejection> {
    let cb: Callback = serde_json::from_slice(body).map_err(|_| {
        reject(
            StatusCode::BAD_REQUEST,
            "The request body is not a valid callback",
        )
    })?;
    if cb.url.is_empty() || cb.kind.is_empty() || cb.level.is_empty() {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "url, type and level are required",
        ));
    }
    Ok(cb)
}

async fn add_callback(
    State(sim): State<Arc<ConnectWiseSim>>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let mut cb = parse_callback(&body)?;
        let now = sim.core.clock.now_millis();
        let mut st = sim.lock();
        cb.id = st.next_callback_id;
        st.next_callback_id += 1;
        cb.member_id = sim.member_rec_id(&member).unwrap_or(0);
        cb.connectwise_id = sim.core.guid();
        st.callbacks.push(cb.clone());
        Ok((StatusCode::CREATED, Json(callback_json(&cb, now, &member))).into_response())
    })();
    respond(result)
}

async fn show_callback(State(sim): State<Arc<ConnectWiseSim>>, Path(id): Path<String>) -> Response {
    let result = (|| {
        let num = parse_id(&id)?;
        let now = sim.core.clock.now_millis();
        let st = sim.lock();
        let cb = st
            .callbacks
            .iter()
            .find(|c| c.id == num)
            .ok_or_else(|| not_found("callbacks", num))?;
        Ok(Json(callback_json(cb, now, "")).into_response())
    })();
    respond(result)
}

async fn put_callback(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path(id): Path<String>,
    Extension(Member(member)): Extension<Member>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let num = parse_id(&id)?;
        let mut new = parse_callback(&body)?;
        let now = sim.core.clock.now_millis();
        let mut st = sim.lock();
        let slot = st
            .callbacks
            .iter_mut()
            .find(|c| c.id == num)
            .ok_or_else(|| not_found("callbacks", num))?;
        new.id = slot.id;
        new.member_id = slot.member_id;
        new.connectwise_id = slot.connectwise_id.clone();
        *slot = new.clone();
        Ok(Json(callback_json(&new, now, &member)).into_response())
    })();
    respond(result)
}

async fn remove_callback(
    State(sim): State<Arc<ConnectWiseSim>>,
    Path(id): Path<String>,
) -> Response {
    let result = (|| {
        let num = parse_id(&id)?;
        let mut st = sim.lock();
        let before = st.callbacks.len();
        st.callbacks.retain(|c| c.id != num);
        if st.callbacks.len() == before {
            return Err(not_found("callbacks", num));
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })();
    respond(result)
}

#[derive(Deserialize)]
struct KeyQuery {
    id: Option<String>,
}

/// `GET key_url` → `{"signing_key": "..."}` for the current key id.
async fn signing_key(
    State(sim): State<Arc<ConnectWiseSim>>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let mut st = sim.lock();
    st.key_fetches += 1;
    if q.id.as_deref() != Some(st.key_id.as_str()) {
        return reject(StatusCode::NOT_FOUND, "Unknown callback key").into_response();
    }
    Json(json!({"signing_key": st.signing_key})).into_response()
}

#[derive(Deserialize)]
struct RotateBody {
    signing_key: String,
}

/// The current `key_url` and how many times the key endpoint was requested.
async fn key_admin(State(sim): State<Arc<ConnectWiseSim>>) -> Json<Value> {
    let st = sim.lock();
    Json(json!({"key_url": sim.key_url(&st.key_id), "fetches": st.key_fetches}))
}

/// Rotates the signing key (new key id, so old `key_url`s stop resolving).
async fn rotate_key(
    State(sim): State<Arc<ConnectWiseSim>>,
    Json(b): Json<RotateBody>,
) -> Json<Value> {
    let key_id = sim.core.guid();
    let mut st = sim.lock();
    st.signing_key = b.signing_key;
    st.key_id = key_id.clone();
    Json(json!({"key_url": sim.key_url(&key_id)}))
}

fn known(collection: &str) -> Result<(), AdminError> {
    AdminError::check_collection(&ALL_COLLECTIONS, collection)
}

impl AdminOps for ConnectWiseSim {
    fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Seeds records in ConnectWise's JSON vocabulary (optional `id`; reference objects by id are
    /// resolved, so seed lookups and companies first). Sites need `company: {"id": …}`. Seeding
    /// sends no callbacks and is not logged as a write.
    fn seed(&self, collection: &str, records: Vec<Value>) -> Result<Vec<Value>, AdminError> {
        known(collection)?;
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let mut out = Vec::with_capacity(records.len());
        for rec in records {
            let Value::Object(mut fields) = rec else {
                return Err(AdminError::Invalid("records must be objects".into()));
            };
            let id = fields.remove("id").as_ref().and_then(value_as_id);
            fields.remove("_info");
            let mut all = defaults(collection);
            all.extend(fields);
            resolve_refs(&st.store, collection, &mut all).map_err(AdminError::Invalid)?;
            let mut meta = Map::new();
            meta.insert("enteredBy".into(), "seed".into());
            meta.insert("updatedBy".into(), "seed".into());
            let created = id.is_none_or(|id| st.store.get(collection, id).is_none());
            let id = st.store.insert(collection, id, all, meta, now);
            sync_type_associations(&mut st.store, collection, id, now, created);
            if let Some(r) = st.store.get(collection, id) {
                out.push(render(r));
            }
        }
        Ok(out)
    }

    fn state(&self, collection: &str) -> Result<Vec<Value>, AdminError> {
        known(collection)?;
        Ok(self.lock().store.list(collection).map(render).collect())
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
        self.update_record(collection, num, user, |f| {
            let sent = fields.keys().cloned().collect();
            f.extend(fields);
            Ok(sent)
        })
        .map_err(AdminError::from)
    }

    fn delete(&self, collection: &str, id: &str, user: &str) -> Result<(), AdminError> {
        known(collection)?;
        let num = id
            .parse::<u64>()
            .map_err(|_| AdminError::NotFound(id.into()))?;
        self.delete_record(collection, num, user)
            .map_err(AdminError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_derived_vector() {
        let body = br#"{"ProductInstanceId":"instance-1","Type":"ticket","ID":123,"Metadata":{"key_url":"https://api-na.myconnectwise.net/v4_6_release/system/callbackkey/index.rails?id=test"}}"#;
        assert_eq!(
            sign("test-signing-key", body),
            "Npzr+jGnIkoiCIYBpg0euaup9wJC89yWJBlgfSEvYHs="
        );
    }
}
