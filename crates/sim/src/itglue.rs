//! IT Glue simulator: the JSON:API REST API (reference sync-rules-and-apis.md §3) and workflow
//! webhooks (webhooks.md §8).
//!
//! Simulated: `x-api-key` auth (403 on a missing or wrong key), `application/vnd.api+json`
//! bodies with kebab-case attributes, organizations / configurations / contacts / locations (also
//! nested under `/organizations/:id/relationships/...`), the lookups, `page[size]` (default 50,
//! max 1000) and `page[number]` with `meta.total-pages/total-count` and `links`, `filter[...]`
//! (exact, case-sensitive) on the keys IT Glue documents per collection, every other key silently
//! ignored as the real API does (audit ITG-1), `filter[psa_id]` + required
//! `filter[psa_integration_type]`, `filter[updated_at]` / `filter[created_at]` ranges on
//! organizations only, refused with 422 when they start with a wildcard or span more than a week
//! (an open end counts as now: the stricter reading, audit ITG-2), `sort` (`-updated_at` on every
//! collection), `include=adapters_resources`, 3000 requests per 5 minutes (429 + `Retry-After`),
//! and 422 on a PATCH of a record managed by IT Glue's native PSA integration (`psa-integration`
//! set) outside the whitelisted attributes (§3.3).
//!
//! Writes: configuration dates (`installed-at`, `purchased-at`, `warranty-expires-at`) are stored
//! and returned as `YYYY-MM-DD` (a date-time's date part; anything else is 422); contact phones carry `label-type` (`phone` or `fax`, default `phone`; anything else is
//! 422) and a required free-text `label-name` (audit ITG-3); the joined `*-name` attributes
//! (`region-name`, `country-name`, …) are read-only and ignored in a write, so a location's region
//! and country are set by `region_id` / `country_id` only (audit ITG-4).
//!
//! IT Glue has no change webhook for organizations, configurations, contacts or locations: only
//! workflow triggers (documents, flags, passwords, expirations) can post a user-defined template
//! to a URL, with any secret carried in the URL. Tests fire one with
//! `POST /_admin/workflows/fire`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::admin::{self, AdminError, AdminOps};
use crate::clock::{format_millis, parse_timestamp, SimClock};
use crate::core::{Core, Rejection};
use crate::delivery::{Dispatcher, Outgoing};
use crate::faults::fault_layer;
use crate::rate_limit::RateLimit;
use crate::request_tally::{count_requests, RequestTally};
use crate::server::{any_free_port, SimServer};
use crate::store::{value_as_id, value_as_text, Store, StoredRecord};
use crate::urlenc;
use crate::writes::WriteAction;

const JSON_API: &str = "application/vnd.api+json";
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// `filter[psa_integration_type]` values IT Glue accepts.
pub const PSA_INTEGRATION_TYPES: [&str; 6] = [
    "manage",
    "autotask",
    "tigerpaw",
    "kaseya-bms",
    "pulseway-psa",
    "vorex",
];

/// Workflow triggers IT Glue offers (instant and scheduled). There is none for organization,
/// configuration, contact or location edits.
pub const WORKFLOW_TRIGGERS: [&str; 9] = [
    "document",
    "flag",
    "password",
    "password_access",
    "document_expiration",
    "domain_expiration",
    "ssl_expiration",
    "configuration_expiration",
    "flexible_asset_expiration",
];

/// Collections served, by URL segment, with their JSON:API type.
const COLLECTIONS: [(&str, &str); 15] = [
    ("organizations", "organizations"),
    ("configurations", "configurations"),
    ("contacts", "contacts"),
    ("locations", "locations"),
    ("organization_types", "organization-types"),
    ("organization_statuses", "organization-statuses"),
    ("configuration_types", "configuration-types"),
    ("configuration_statuses", "configuration-statuses"),
    ("contact_types", "contact-types"),
    ("manufacturers", "manufacturers"),
    ("models", "models"),
    ("operating_systems", "operating-systems"),
    ("countries", "countries"),
    ("regions", "regions"),
    ("configuration_interfaces", "configuration-interfaces"),
];

/// `<prefix>-id` attributes whose `<prefix>-name` is rendered from another collection. The
/// `-name` attributes are read-only: a write that sends one is silently ignored (a location's
/// region and country are written by `region_id` / `country_id` only; audit ITG-4).
const NAME_JOINS: [(&str, &str); 12] = [
    ("organization", "organizations"),
    ("organization-type", "organization_types"),
    ("organization-status", "organization_statuses"),
    ("configuration-type", "configuration_types"),
    ("configuration-status", "configuration_statuses"),
    ("contact-type", "contact_types"),
    ("manufacturer", "manufacturers"),
    ("model", "models"),
    ("operating-system", "operating_systems"),
    ("location", "locations"),
    ("country", "countries"),
    ("region", "regions"),
];

/// Attributes a PATCH may change on a record managed by the native PSA integration (§3.3).
fn managed_whitelist(collection: &str) -> &'static [&'static str] {
    match collection {
        "organizations" => &["alert", "description", "quick_notes"],
        "configurations" => &[
            "archived",
            "asset_tag",
            "notes",
            "purchased_at",
            "restricted",
            "serial_number",
            "warranty_expires_at",
            "mitp_device_expiration_date",
            "mitp_end_of_life_date",
        ],
        _ => &[],
    }
}

/// Attributes every resource of a type carries (null when unset), in IT Glue's vocabulary.
fn default_attributes(collection: &str) -> &'static [&'static str] {
    match collection {
        "organizations" => &[
            "name",
            "description",
            "organization-type-id",
            "organization-status-id",
            "short-name",
            "quick-notes",
            "alert",
            "primary",
            "parent-id",
            "psa-integration",
        ],
        "configurations" => &[
            "organization-id",
            "name",
            "hostname",
            "primary-ip",
            "default-gateway",
            "mac-address",
            "serial-number",
            "asset-tag",
            "configuration-type-id",
            "configuration-status-id",
            "manufacturer-id",
            "model-id",
            "operating-system-id",
            "location-id",
            "contact-id",
            "installed-by",
            "installed-at",
            "purchased-at",
            "warranty-expires-at",
            "notes",
            "archived",
            "restricted",
            "psa-integration",
        ],
        "contacts" => &[
            "organization-id",
            "first-name",
            "last-name",
            "title",
            "contact-type-id",
            "location-id",
            "important",
            "notes",
            "contact-emails",
            "contact-phones",
            "psa-integration",
        ],
        "locations" => &[
            "organization-id",
            "name",
            "primary",
            "address-1",
            "address-2",
            "city",
            "postal-code",
            "region-id",
            "country-id",
            "phone",
            "fax",
            "notes",
            "psa-integration",
        ],
        _ => &["name"],
    }
}

/// Attributes computed by the server; ignored when sent.
fn is_read_only(attr: &str) -> bool {
    attr == "created-at"
        || attr == "updated-at"
        || attr == "psa-integration"
        || attr == "id"
        || (attr.ends_with("-name")
            && NAME_JOINS
                .iter()
                .any(|(p, _)| attr.strip_suffix("-name") == Some(p)))
}

/// How the simulator is started.
#[derive(Debug, Clone)]
pub struct ItGlueConfig {
    pub bind: SocketAddr,
    /// API key → the user name the write log records for it.
    pub api_keys: Vec<(String, String)>,
    pub clock: SimClock,
    /// Default: 3000 requests per 5 minutes, sliding.
    pub rate_limit: Option<RateLimit>,
    /// Seed of GUIDs and fault decisions.
    pub seed: u64,
}

impl Default for ItGlueConfig {
    fn default() -> Self {
        ItGlueConfig {
            bind: any_free_port(),
            api_keys: vec![("itg-test-key".into(), "syncbridge".into())],
            clock: SimClock::new(),
            rate_limit: Some(RateLimit::sliding(
                3000,
                std::time::Duration::from_secs(300),
            )),
            seed: 1,
        }
    }
}

/// A workflow whose action is "Webhook".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workflow {
    #[serde(default)]
    pub id: u64,
    pub name: String,
    /// One of [`WORKFLOW_TRIGGERS`].
    pub trigger: String,
    /// Where to post; a secret token, if any, is part of it.
    pub url: String,
    /// Body template with bracket tags, e.g. `{"event":"[trigger_name]","url":"[resource_url]"}`.
    pub template: String,
}

#[derive(Debug, Deserialize)]
struct FireBody {
    trigger: String,
    /// Values of the template's bracket tags (`resource_url`, `resource_name`, …).
    #[serde(default)]
    tags: HashMap<String, String>,
}

/// The simulator's state.
#[derive(Debug)]
pub struct ItGlueSim {
    core: Arc<Core>,
    store: Mutex<Store>,
    api_keys: Mutex<HashMap<String, String>>,
    workflows: Mutex<Vec<Workflow>>,
    dispatcher: Dispatcher,
}

/// A running IT Glue simulator.
#[derive(Debug)]
pub struct ItGlue {
    pub server: SimServer,
    pub sim: Arc<ItGlueSim>,
}

impl ItGlue {
    pub async fn start(config: ItGlueConfig) -> std::io::Result<ItGlue> {
        let core = Core::new(
            "itglue",
            config.clock.clone(),
            config.rate_limit,
            error_response,
            config.seed,
        );
        let sim = Arc::new(ItGlueSim {
            dispatcher: Dispatcher::start(core.clone()),
            core: core.clone(),
            store: Mutex::new(Store::default()),
            api_keys: Mutex::new(config.api_keys.into_iter().collect()),
            workflows: Mutex::new(Vec::new()),
        });
        let router = router(sim.clone());
        let server = SimServer::start(core, router, config.bind).await?;
        Ok(ItGlue { server, sim })
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

fn router(sim: Arc<ItGlueSim>) -> Router {
    let api = Router::new()
        .route("/{collection}", get(list).post(create).patch(bulk_update))
        .route("/{collection}/{id}", get(show).patch(update))
        .route(
            "/organizations/{org}/relationships/{collection}",
            get(list_nested).post(create_nested),
        )
        .layer(middleware::from_fn_with_state(sim.clone(), auth))
        .with_state(sim.clone());
    let extra_admin = Router::new()
        .route("/_admin/workflows", get(list_workflows).post(add_workflow))
        .route("/_admin/workflows/fire", post(fire_workflow))
        .route("/_admin/api-keys", post(add_api_key))
        .with_state(sim.clone());
    api.merge(extra_admin)
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

/// The authenticated user (API key name), for the write log.
#[derive(Debug, Clone)]
struct User(String);

/// JSON:API error document.
fn error_response(status: StatusCode, detail: &str) -> Response {
    let body = json!({"errors": [{
        "status": status.as_str(),
        "title": status.canonical_reason().unwrap_or("Error"),
        "detail": detail,
    }]});
    json_api(status, body)
}

fn json_api(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_API));
    resp
}

async fn auth(State(sim): State<Arc<ItGlueSim>>, mut req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .and_then(|k| sim.lock_keys().get(k).cloned());
    let Some(user) = user else {
        return error_response(StatusCode::FORBIDDEN, "Invalid API key");
    };
    if let Err(rejection) = sim.core.rate_check() {
        return rejection.into_response();
    }
    req.extensions_mut().insert(User(user));
    next.run(req).await
}

impl ItGlueSim {
    fn lock_store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.api_keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Renders one record as a JSON:API resource object.
    fn resource(
        &self,
        store: &Store,
        collection: &str,
        rec: &StoredRecord,
        include: bool,
    ) -> Value {
        let mut attrs = Map::new();
        for a in default_attributes(collection) {
            attrs.insert((*a).to_owned(), Value::Null);
        }
        for (k, v) in &rec.fields {
            attrs.insert(k.clone(), v.clone());
        }
        for (prefix, joined) in NAME_JOINS {
            let Some(id) = attrs.get(&format!("{prefix}-id")).and_then(value_as_id) else {
                continue;
            };
            let name = store
                .get(joined, id)
                .map(|r| display_name(joined, r))
                .unwrap_or(Value::Null);
            attrs.insert(format!("{prefix}-name"), name);
        }
        attrs.insert("created-at".into(), format_millis(rec.created_at).into());
        attrs.insert("updated-at".into(), format_millis(rec.updated_at).into());
        let mut res = json!({
            "id": rec.id.to_string(),
            "type": json_api_type(collection),
            "attributes": attrs,
        });
        if include {
            let data: Vec<Value> = adapter_resource(collection, rec)
                .map(|a| json!({"id": a["id"], "type": "adapters-resources"}))
                .into_iter()
                .collect();
            res["relationships"] = json!({"adapters-resources": {"data": data}});
        }
        res
    }
}

/// A record's name as other records show it (`organization-name`, `location-name`, …).
fn display_name(collection: &str, rec: &StoredRecord) -> Value {
    if collection == "contacts" {
        let first = rec
            .fields
            .get("first-name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let last = rec
            .fields
            .get("last-name")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Value::from(format!("{first} {last}").trim().to_owned());
    }
    rec.fields.get("name").cloned().unwrap_or(Value::Null)
}

/// The native PSA link of a record as an `adapters-resources` resource (`remote-id` = PSA id).
fn adapter_resource(collection: &str, rec: &StoredRecord) -> Option<Value> {
    let remote = rec.meta.get("psa_id")?;
    let kind = rec
        .fields
        .get("psa-integration")
        .cloned()
        .unwrap_or(Value::Null);
    Some(json!({
        "id": format!("{}-{}", json_api_type(collection), rec.id),
        "type": "adapters-resources",
        "attributes": {
            "remote-id": remote,
            "type": kind,
            "resource-type": json_api_type(collection),
            "resource-id": rec.id,
        }
    }))
}

fn json_api_type(collection: &str) -> &'static str {
    COLLECTIONS
        .iter()
        .find(|(c, _)| *c == collection)
        .map_or("unknown", |(_, t)| *t)
}

fn known_collection(collection: &str) -> bool {
    COLLECTIONS.iter().any(|(c, _)| *c == collection)
}

/// `first_name` and `first-name` both mean the attribute `first-name`.
fn kebab(key: &str) -> String {
    key.replace('_', "-")
}

fn snake(key: &str) -> String {
    key.replace('-', "_")
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Why a listing request is invalid.
fn bad_request(detail: &str) -> Rejection {
    reject(StatusCode::BAD_REQUEST, detail)
}

fn reject(status: StatusCode, detail: &str) -> Rejection {
    Rejection::new(error_response, status, detail)
}

/// `"start, end"` (either side may be empty or `*`) → inclusive millisecond bounds.
fn parse_range(v: &str) -> Option<(Option<i64>, Option<i64>)> {
    let (a, b) = v.split_once(',')?;
    let bound = |s: &str| -> Option<Option<i64>> {
        let s = s.trim();
        if s.is_empty() || s == "*" {
            Some(None)
        } else {
            parse_timestamp(s).map(Some)
        }
    };
    Some((bound(a)?, bound(b)?))
}

/// A compiled `filter[...]` condition.
enum Filter {
    Attr(String, String),
    Ids(Vec<u64>),
    Time {
        updated: bool,
        from: Option<i64>,
        to: Option<i64>,
    },
    Psa {
        kind: String,
        id: Option<String>,
    },
    /// A contact whose primary e-mail is this value.
    PrimaryEmail(String),
}

impl Filter {
    fn accepts(&self, rec: &StoredRecord) -> bool {
        match self {
            Filter::Attr(attr, want) => rec
                .fields
                .get(attr)
                .and_then(value_as_text)
                .is_some_and(|have| have == *want),
            Filter::Ids(ids) => ids.contains(&rec.id),
            Filter::Time { updated, from, to } => {
                let t = if *updated {
                    rec.updated_at
                } else {
                    rec.created_at
                };
                from.is_none_or(|f| t >= f) && to.is_none_or(|e| t <= e)
            }
            Filter::Psa { kind, id } => {
                let kind_ok =
                    rec.fields.get("psa-integration").and_then(Value::as_str) == Some(kind);
                let id_ok = id.as_deref().is_none_or(|want| {
                    rec.meta.get("psa_id").and_then(value_as_text).as_deref() == Some(want)
                });
                kind_ok && id_ok
            }
            Filter::PrimaryEmail(want) => rec
                .fields
                .get("contact-emails")
                .and_then(Value::as_array)
                .is_some_and(|list| {
                    list.iter().any(|e| {
                        e.get("primary") == Some(&Value::Bool(true))
                            && e.get("value").and_then(Value::as_str) == Some(want)
                    })
                }),
        }
    }
}

/// The `filter[...]` keys IT Glue documents for a collection's listing (audit §1.3: the API
/// reference, and the PowerShell module's contact filters). Any other key is silently ignored,
/// as the real API does (audit ITG-1, verified live): in particular `filter[updated_at]` and
/// `filter[created_at]` exist on organizations only.
fn documented_filters(collection: &str) -> &'static [&'static str] {
    match collection {
        "organizations" => &[
            "id",
            "name",
            "organization_type_id",
            "organization_status_id",
            "created_at",
            "updated_at",
            "psa_id",
            "psa_integration_type",
        ],
        "configurations" => &[
            "id",
            "name",
            "organization_id",
            "configuration_type_id",
            "configuration_status_id",
            "contact_id",
            "serial_number",
            "mac_address",
            "asset_tag",
            "archived",
            "psa_id",
            "psa_integration_type",
        ],
        "contacts" => &[
            "id",
            "first_name",
            "last_name",
            "title",
            "contact_type_id",
            "important",
            "primary_email",
            "organization_id",
            "psa_id",
            "psa_integration_type",
        ],
        "locations" => &[
            "id",
            "name",
            "city",
            "region_id",
            "country_id",
            "organization_id",
            "psa_id",
            "psa_integration_type",
        ],
        "models" => &["id", "name", "manufacturer_id"],
        "regions" => &["id", "name", "iso", "country_id"],
        "countries" => &["id", "name", "iso"],
        _ => &["id", "name"],
    }
}

/// IT Glue's answer to a date range it refuses (audit ITG-2, the live-verified message).
const DATE_RANGE_REFUSED: &str =
    "date range filter cannot be longer than a week, and cannot start with a wildcard";

/// The longest date range IT Glue accepts.
const MAX_DATE_RANGE_MS: i64 = 7 * 24 * 3_600_000;

/// Checks a date range against IT Glue's limit: a start is required and the span may not
/// exceed a week. An open end counts as "now": whether IT Glue reads it so is not verified (audit
/// §7); the stricter reading is taken, so `"<since>, *"` with `since` over a week ago is refused.
fn check_date_range(from: Option<i64>, to: Option<i64>, now: i64) -> Result<(), Rejection> {
    let from = from.ok_or_else(|| reject(StatusCode::UNPROCESSABLE_ENTITY, DATE_RANGE_REFUSED))?;
    if to.unwrap_or(now).saturating_sub(from) > MAX_DATE_RANGE_MS {
        return Err(reject(StatusCode::UNPROCESSABLE_ENTITY, DATE_RANGE_REFUSED));
    }
    Ok(())
}

fn parse_filters(collection: &str, params: &Params, now: i64) -> Result<Vec<Filter>, Rejection> {
    let documented = documented_filters(collection);
    let mut out = Vec::new();
    let psa_type = param(params, "filter[psa_integration_type]");
    let psa_id = param(params, "filter[psa_id]");
    if !documented.contains(&"psa_id") {
        // Lookups have no PSA filters: ignored like any unknown key.
    } else if let Some(kind) = psa_type {
        if !PSA_INTEGRATION_TYPES.contains(&kind) {
            return Err(bad_request(
                "filter[psa_integration_type] must be one of: manage, autotask, tigerpaw, kaseya-bms, pulseway-psa, vorex",
            ));
        }
        out.push(Filter::Psa {
            kind: kind.to_owned(),
            id: psa_id.map(str::to_owned),
        });
    } else if psa_id.is_some() {
        return Err(bad_request(
            "filter[psa_id] must be accompanied by filter[psa_integration_type]",
        ));
    }
    for (k, v) in params {
        let Some(name) = k.strip_prefix("filter[").and_then(|r| r.strip_suffix(']')) else {
            continue;
        };
        if !documented.contains(&name) {
            continue;
        }
        match name {
            "psa_id" | "psa_integration_type" => {}
            "id" => {
                let ids: Result<Vec<u64>, _> = v.split(',').map(|s| s.trim().parse()).collect();
                out.push(Filter::Ids(
                    ids.map_err(|_| bad_request("filter[id] must be ids"))?,
                ));
            }
            "updated_at" | "created_at" => {
                let (from, to) = parse_range(v).ok_or_else(|| {
                    bad_request("date range filters take \"start, end\" in RFC 3339 (UTC)")
                })?;
                check_date_range(from, to, now)?;
                out.push(Filter::Time {
                    updated: name == "updated_at",
                    from,
                    to,
                });
            }
            "primary_email" => out.push(Filter::PrimaryEmail(v.clone())),
            _ => out.push(Filter::Attr(kebab(name), v.clone())),
        }
    }
    Ok(out)
}

/// Sort key of a record for `sort=attr` / `sort=-attr`.
fn sort_records(records: &mut [&StoredRecord], sort: Option<&str>) {
    let Some(sort) = sort.filter(|s| !s.is_empty()) else {
        return;
    };
    let (desc, attr) = match sort.strip_prefix('-') {
        Some(a) => (true, kebab(a)),
        None => (false, kebab(sort)),
    };
    records.sort_by(|a, b| {
        let ord = match attr.as_str() {
            "id" => a.id.cmp(&b.id),
            "created-at" => a.created_at.cmp(&b.created_at),
            "updated-at" => a.updated_at.cmp(&b.updated_at),
            _ => {
                let ka = a
                    .fields
                    .get(&attr)
                    .and_then(value_as_text)
                    .unwrap_or_default();
                let kb = b
                    .fields
                    .get(&attr)
                    .and_then(value_as_text)
                    .unwrap_or_default();
                ka.cmp(&kb)
            }
        }
        .then(a.id.cmp(&b.id));
        if desc {
            ord.reverse()
        } else {
            ord
        }
    });
}

fn page_params(params: &Params) -> Result<(usize, usize), Rejection> {
    let size = match param(params, "page[size]") {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad_request("page[size] must be a positive integer"))?
            .min(MAX_PAGE_SIZE),
    };
    let number = match param(params, "page[number]") {
        None => 1,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad_request("page[number] must be a positive integer"))?,
    };
    Ok((size, number))
}

fn page_link(base: &str, path: &str, params: &Params, number: usize) -> String {
    let mut pairs: Params = params
        .iter()
        .filter(|(k, _)| k != "page[number]")
        .cloned()
        .collect();
    pairs.push(("page[number]".into(), number.to_string()));
    format!("{base}{path}?{}", urlenc::encode_pairs(&pairs))
}

/// Lists a collection with filters, sort and paging. `org` restricts to one organization.
fn list_response(
    sim: &ItGlueSim,
    collection: &str,
    org: Option<u64>,
    params: &Params,
    path: &str,
) -> Response {
    if !known_collection(collection) {
        return error_response(StatusCode::NOT_FOUND, "Not found");
    }
    let filters = match parse_filters(collection, params, sim.core.clock.now_millis()) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let (size, number) = match page_params(params) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let include = param(params, "include").is_some_and(|i| {
        i.split(',')
            .any(|x| x == "adapters_resources" || x == "adapters-resources")
    });
    let store = sim.lock_store();
    let org_filter = org.map(|o| Filter::Attr("organization-id".into(), o.to_string()));
    let mut records: Vec<&StoredRecord> = store
        .list(collection)
        .filter(|r| {
            filters
                .iter()
                .chain(org_filter.iter())
                .all(|f| f.accepts(r))
        })
        .collect();
    sort_records(&mut records, param(params, "sort"));
    let total = records.len();
    let total_pages = total.div_ceil(size);
    let data: Vec<Value> = records
        .iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
        .map(|r| sim.resource(&store, collection, r, include))
        .collect();
    let base = sim.core.base_url();
    let link = |n: usize| Value::from(page_link(base, path, params, n));
    let mut body = json!({
        "data": data,
        "meta": {
            "current-page": number,
            "next-page": if number < total_pages { json!(number + 1) } else { Value::Null },
            "prev-page": if number > 1 { json!(number - 1) } else { Value::Null },
            "total-pages": total_pages,
            "total-count": total,
            "filters": {},
        },
        "links": {
            "self": link(number),
            "first": link(1),
            "next": if number < total_pages { link(number + 1) } else { Value::Null },
            "prev": if number > 1 { link(number - 1) } else { Value::Null },
            "last": link(total_pages.max(1)),
        },
    });
    if include {
        let included: Vec<Value> = records
            .iter()
            .skip((number - 1).saturating_mul(size))
            .take(size)
            .filter_map(|r| adapter_resource(collection, r))
            .collect();
        body["included"] = Value::from(included);
    }
    json_api(StatusCode::OK, body)
}

async fn list(
    State(sim): State<Arc<ItGlueSim>>,
    Path(collection): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let path = format!("/{collection}");
    list_response(&sim, &collection, None, &params, &path)
}

async fn list_nested(
    State(sim): State<Arc<ItGlueSim>>,
    Path((org, collection)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Response {
    let Some(org_id) = org
        .parse::<u64>()
        .ok()
        .filter(|id| sim.lock_store().get("organizations", *id).is_some())
    else {
        return error_response(StatusCode::NOT_FOUND, "Record not found");
    };
    if !matches!(
        collection.as_str(),
        "configurations" | "contacts" | "locations"
    ) {
        return error_response(StatusCode::NOT_FOUND, "Not found");
    }
    let path = format!("/organizations/{org}/relationships/{collection}");
    list_response(&sim, &collection, Some(org_id), &params, &path)
}

async fn show(
    State(sim): State<Arc<ItGlueSim>>,
    Path((collection, id)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Response {
    let include = param(&params, "include").is_some_and(|i| i.contains("adapters"));
    let store = sim.lock_store();
    let rec = id
        .parse::<u64>()
        .ok()
        .and_then(|id| store.get(&collection, id));
    match rec {
        Some(rec) if known_collection(&collection) => {
            let mut body = json!({"data": sim.resource(&store, &collection, rec, include)});
            if include {
                body["included"] = Value::from(
                    adapter_resource(&collection, rec)
                        .into_iter()
                        .collect::<Vec<_>>(),
                );
            }
            json_api(StatusCode::OK, body)
        }
        _ => error_response(StatusCode::NOT_FOUND, "Record not found"),
    }
}

/// The `data` member of a write body: its attributes (keys made kebab-case) and whether it
/// carried relationships.
fn parse_write_body(
    collection: &str,
    body: &[u8],
) -> Result<(Map<String, Value>, bool), Rejection> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|_| bad_request("The request body is not valid JSON"))?;
    let data = doc
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| bad_request("The request body must hold a data object"))?;
    if let Some(t) = data.get("type").and_then(Value::as_str) {
        if t != json_api_type(collection) && kebab(t) != json_api_type(collection) {
            return Err(reject(
                StatusCode::UNPROCESSABLE_ENTITY,
                "data.type does not match the resource",
            ));
        }
    }
    let attrs = data
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let attrs = attrs.into_iter().map(|(k, v)| (kebab(&k), v)).collect();
    let has_relationships = data
        .get("relationships")
        .is_some_and(|r| r.as_object().is_some_and(|o| !o.is_empty()));
    Ok((attrs, has_relationships))
}

/// Date attributes of configurations, which IT Glue keeps as `YYYY-MM-DD` [doc] (audit §1.4, X-1).
const DATE_ATTRIBUTES: [&str; 3] = ["installed-at", "purchased-at", "warranty-expires-at"];

/// Stores the date attributes as IT Glue does: the calendar date, `YYYY-MM-DD`, also when a
/// date-time is sent (its date part, as written). Anything that is not a date → 422: what IT
/// Glue answers to one is not documented; refusing is the stricter reading.
fn normalize_dates(attrs: &mut Map<String, Value>) -> Result<(), String> {
    for key in DATE_ATTRIBUTES {
        let Some(value) = attrs.get_mut(key) else {
            continue;
        };
        let Some(text) = value.as_str().map(str::trim) else {
            if value.is_null() {
                continue;
            }
            return Err(format!("{} is not a valid date", snake(key)));
        };
        if text.is_empty() {
            *value = Value::Null;
            continue;
        }
        let date = text.get(..10).filter(|d| {
            let b = d.as_bytes();
            b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                _ => c.is_ascii_digit(),
            })
        });
        let rest_ok = text
            .get(10..)
            .is_some_and(|r| r.is_empty() || r.starts_with(['T', ' ']));
        match date {
            Some(d) if rest_ok => *value = Value::from(d.to_owned()),
            _ => return Err(format!("{} is not a valid date", snake(key))),
        }
    }
    Ok(())
}

/// The phone kinds IT Glue accepts as a contact phone's `label_type` (audit §1.4 [doc]).
const PHONE_LABEL_TYPES: [&str; 2] = ["phone", "fax"];

/// Brings the `contact-emails` / `contact-phones` entries of a contact write into the form IT Glue
/// stores: entry keys kebab-case (`label_name` and `label-name` both mean `label-name`), a phone's
/// `label-type` defaulted to `phone`. A phone needs a `label-name` (free text: "Work", "Cell",
/// "Office", …) and its `label-type` must be `phone` or `fax` (audit ITG-3, [doc]).
fn normalize_contact_lists(attrs: &mut Map<String, Value>) -> Result<(), String> {
    for key in ["contact-emails", "contact-phones"] {
        let Some(Value::Array(list)) = attrs.get_mut(key) else {
            continue;
        };
        for entry in list.iter_mut() {
            let Value::Object(obj) = entry else {
                return Err(format!("{} entries must be objects", snake(key)));
            };
            *obj = std::mem::take(obj)
                .into_iter()
                .map(|(k, v)| (kebab(&k), v))
                .collect();
            if key != "contact-phones" {
                continue;
            }
            let label_type = obj
                .entry("label-type")
                .or_insert_with(|| Value::from("phone"));
            if !label_type
                .as_str()
                .is_some_and(|t| PHONE_LABEL_TYPES.contains(&t))
            {
                return Err(
                    "Contact phones label type is not included in the list (phone, fax)".into(),
                );
            }
            let named = obj
                .get("label-name")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.trim().is_empty());
            if !named {
                return Err("Contact phones label name can't be blank".into());
            }
        }
    }
    Ok(())
}

/// Checks references and required attributes of a record about to be stored.
fn validate(store: &Store, collection: &str, attrs: &Map<String, Value>) -> Result<(), String> {
    let org_ok = || {
        attrs
            .get("organization-id")
            .and_then(value_as_id)
            .is_some_and(|id| store.get("organizations", id).is_some())
    };
    let type_ok = || {
        attrs
            .get("configuration-type-id")
            .and_then(value_as_id)
            .is_some_and(|id| store.get("configuration_types", id).is_some())
    };
    let has_name = |key: &str| {
        attrs
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    match collection {
        "organizations" if !has_name("name") => Err("Name can't be blank".into()),
        "configurations" | "contacts" | "locations" if !org_ok() => {
            Err("Valid organization_id is required".into())
        }
        "configurations" if !has_name("name") => Err("Name can't be blank".into()),
        "configurations" if !type_ok() => Err("configuration-type must exist".into()),
        "locations" if !has_name("name") => Err("Name can't be blank".into()),
        "contacts" if !has_name("first-name") && !has_name("last-name") => {
            Err("First name or last name is required".into())
        }
        c if !matches!(
            c,
            "organizations" | "configurations" | "contacts" | "locations"
        ) && !has_name("name") =>
        {
            Err("Name can't be blank".into())
        }
        _ => Ok(()),
    }
}

fn create_record(
    sim: &ItGlueSim,
    collection: &str,
    org: Option<u64>,
    user: &str,
    body: &[u8],
) -> Response {
    if !known_collection(collection) {
        return error_response(StatusCode::NOT_FOUND, "Not found");
    }
    let (mut attrs, _) = match parse_write_body(collection, body) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    attrs.retain(|k, _| !is_read_only(k));
    if let Err(e) = normalize_contact_lists(&mut attrs).and_then(|()| normalize_dates(&mut attrs)) {
        return error_response(StatusCode::UNPROCESSABLE_ENTITY, &e);
    }
    if let Some(org) = org {
        attrs.insert("organization-id".into(), Value::from(org));
    }
    let now = sim.core.clock.now_millis();
    let mut store = sim.lock_store();
    if let Err(e) = validate(&store, collection, &attrs) {
        return error_response(StatusCode::UNPROCESSABLE_ENTITY, &e);
    }
    let fields: Vec<String> = attrs.keys().cloned().collect();
    let mut meta = Map::new();
    meta.insert("source".into(), "api".into());
    let id = store.insert(collection, None, attrs, meta, now);
    sim.core.writes.record(
        now,
        collection,
        &id.to_string(),
        WriteAction::Create,
        fields.clone(),
        fields,
        user,
    );
    let body = match store.get(collection, id) {
        Some(rec) => json!({"data": sim.resource(&store, collection, rec, false)}),
        None => Value::Null,
    };
    json_api(StatusCode::CREATED, body)
}

async fn create(
    State(sim): State<Arc<ItGlueSim>>,
    Path(collection): Path<String>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    create_record(&sim, &collection, None, &user, &body)
}

async fn create_nested(
    State(sim): State<Arc<ItGlueSim>>,
    Path((org, collection)): Path<(String, String)>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    let Some(org_id) = org.parse::<u64>().ok() else {
        return error_response(StatusCode::NOT_FOUND, "Record not found");
    };
    if !matches!(
        collection.as_str(),
        "configurations" | "contacts" | "locations"
    ) {
        return error_response(StatusCode::NOT_FOUND, "Not found");
    }
    create_record(&sim, &collection, Some(org_id), &user, &body)
}

/// The §3.3 rule: what a PATCH of a natively PSA-synced record may not do.
fn managed_violation(
    collection: &str,
    attrs: &Map<String, Value>,
    has_relationships: bool,
) -> Option<String> {
    if collection == "configurations" && has_relationships {
        return Some("Relationships cannot be updated on an externally synced record".into());
    }
    let allowed = managed_whitelist(collection);
    let blocked: Vec<String> = attrs
        .keys()
        .map(|k| snake(k))
        .filter(|k| k != "id" && !allowed.contains(&k.as_str()))
        .collect();
    (!blocked.is_empty()).then(|| {
        format!(
            "Cannot update attributes of an externally synced record: {}",
            blocked.join(", ")
        )
    })
}

/// Checks one PATCH of record `id` (existence, the §3.3 rule, validation); returns the
/// attributes to merge.
fn check_patch(
    store: &Store,
    collection: &str,
    id: u64,
    mut attrs: Map<String, Value>,
    has_relationships: bool,
) -> Result<Map<String, Value>, Rejection> {
    let rec = store
        .get(collection, id)
        .ok_or_else(|| reject(StatusCode::NOT_FOUND, "Record not found"))?;
    let managed = rec
        .fields
        .get("psa-integration")
        .is_some_and(|v| !v.is_null());
    if managed {
        if let Some(why) = managed_violation(collection, &attrs, has_relationships) {
            return Err(reject(StatusCode::UNPROCESSABLE_ENTITY, &why));
        }
    }
    attrs.retain(|k, _| !is_read_only(k));
    normalize_contact_lists(&mut attrs)
        .and_then(|()| normalize_dates(&mut attrs))
        .map_err(|e| reject(StatusCode::UNPROCESSABLE_ENTITY, &e))?;
    let mut merged = rec.fields.clone();
    merged.extend(attrs.clone());
    validate(store, collection, &merged)
        .map_err(|e| reject(StatusCode::UNPROCESSABLE_ENTITY, &e))?;
    Ok(attrs)
}

/// Merges checked attributes and logs the write.
fn apply_patch(
    sim: &ItGlueSim,
    store: &mut Store,
    collection: &str,
    id: u64,
    attrs: &Map<String, Value>,
    user: &str,
) {
    let now = sim.core.clock.now_millis();
    let changed = store.merge(collection, id, attrs, now).unwrap_or_default();
    sim.core.writes.record(
        now,
        collection,
        &id.to_string(),
        WriteAction::Update,
        attrs.keys().cloned().collect(),
        changed,
        user,
    );
}

async fn update(
    State(sim): State<Arc<ItGlueSim>>,
    Path((collection, id)): Path<(String, String)>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let id = id
            .parse::<u64>()
            .map_err(|_| reject(StatusCode::NOT_FOUND, "Record not found"))?;
        if !known_collection(&collection) {
            return Err(reject(StatusCode::NOT_FOUND, "Not found"));
        }
        let (attrs, has_relationships) = parse_write_body(&collection, &body)?;
        let mut store = sim.lock_store();
        let attrs = check_patch(&store, &collection, id, attrs, has_relationships)?;
        apply_patch(&sim, &mut store, &collection, id, &attrs, &user);
        let body = match store.get(&collection, id) {
            Some(rec) => json!({"data": sim.resource(&store, &collection, rec, false)}),
            None => Value::Null,
        };
        Ok(json_api(StatusCode::OK, body))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Bulk `PATCH /{collection}`: `{"data": [{"type": …, "attributes": {"id": …, …}}]}`. Every item is
/// checked before any is applied, so one refused item (e.g. the §3.3 rule) changes nothing.
async fn bulk_update(
    State(sim): State<Arc<ItGlueSim>>,
    Path(collection): Path<String>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    let result = (|| {
        if !matches!(
            collection.as_str(),
            "organizations" | "configurations" | "contacts" | "locations"
        ) {
            return Err(reject(StatusCode::NOT_FOUND, "Not found"));
        }
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|_| bad_request("The request body is not valid JSON"))?;
        let items = doc
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| bad_request("A bulk update needs a data array"))?;
        let mut store = sim.lock_store();
        let mut checked = Vec::with_capacity(items.len());
        for item in items {
            let one = json!({ "data": item }).to_string();
            let (mut attrs, has_relationships) = parse_write_body(&collection, one.as_bytes())?;
            let id = attrs
                .remove("id")
                .as_ref()
                .and_then(value_as_id)
                .ok_or_else(|| bad_request("Each item needs data[attributes][id]"))?;
            checked.push((
                id,
                check_patch(&store, &collection, id, attrs, has_relationships)?,
            ));
        }
        let mut data = Vec::with_capacity(checked.len());
        for (id, attrs) in &checked {
            apply_patch(&sim, &mut store, &collection, *id, attrs, &user);
        }
        for (id, _) in &checked {
            if let Some(rec) = store.get(&collection, *id) {
                data.push(sim.resource(&store, &collection, rec, false));
            }
        }
        Ok(json_api(StatusCode::OK, json!({ "data": data })))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn list_workflows(State(sim): State<Arc<ItGlueSim>>) -> Json<Vec<Workflow>> {
    Json(
        sim.workflows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    )
}

async fn add_workflow(
    State(sim): State<Arc<ItGlueSim>>,
    Json(mut wf): Json<Workflow>,
) -> Result<Json<Workflow>, AdminError> {
    if !WORKFLOW_TRIGGERS.contains(&wf.trigger.as_str()) {
        return Err(AdminError::Invalid(format!(
            "IT Glue has no workflow trigger {:?}; triggers: {}",
            wf.trigger,
            WORKFLOW_TRIGGERS.join(", ")
        )));
    }
    let mut wfs = sim.workflows.lock().unwrap_or_else(|e| e.into_inner());
    wf.id = wfs.len() as u64 + 1;
    wfs.push(wf.clone());
    Ok(Json(wf))
}

/// Replaces `[tag]` occurrences by their values; unknown tags become empty, as IT Glue does not
/// leave placeholders in a sent webhook.
fn render_template(template: &str, tags: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('[') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find(']') {
            Some(end) if is_tag_name(&after[..end]) => {
                out.push_str(tags.get(&after[..end]).map_or("", String::as_str));
                rest = &after[end + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Tags are identifiers (`resource_url`): a JSON array like `[1]` is left alone.
fn is_tag_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

async fn fire_workflow(
    State(sim): State<Arc<ItGlueSim>>,
    Json(body): Json<FireBody>,
) -> Result<Json<Value>, AdminError> {
    if !WORKFLOW_TRIGGERS.contains(&body.trigger.as_str()) {
        return Err(AdminError::Invalid(format!(
            "IT Glue has no workflow trigger {:?}",
            body.trigger
        )));
    }
    let mut tags = body.tags;
    tags.entry("trigger_name".into())
        .or_insert_with(|| body.trigger.clone());
    let wfs = sim
        .workflows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut fired = 0;
    for wf in wfs.iter().filter(|w| w.trigger == body.trigger) {
        sim.dispatcher.send(Outgoing {
            url: wf.url.clone(),
            headers: vec![],
            body: render_template(&wf.template, &tags).into_bytes(),
        });
        fired += 1;
    }
    Ok(Json(json!({"fired": fired})))
}

#[derive(Deserialize)]
struct ApiKeyBody {
    key: String,
    user: String,
}

async fn add_api_key(State(sim): State<Arc<ItGlueSim>>, Json(b): Json<ApiKeyBody>) -> StatusCode {
    sim.lock_keys().insert(b.key, b.user);
    StatusCode::NO_CONTENT
}

impl AdminOps for ItGlueSim {
    fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Seeds records in IT Glue's attribute vocabulary. Extra keys: `id`, `_source`
    /// (manual/api/import/network_glue/microsoft365/psa; default manual), `_psa_id` (the native
    /// integration's remote id; set `psa-integration` too to make the record managed),
    /// `created-at` / `updated-at` (RFC 3339).
    fn seed(&self, collection: &str, records: Vec<Value>) -> Result<Vec<Value>, AdminError> {
        if !known_collection(collection) {
            return Err(AdminError::UnknownCollection(collection.into()));
        }
        let now = self.core.clock.now_millis();
        let mut store = self.lock_store();
        let mut out = Vec::with_capacity(records.len());
        for rec in records {
            let Value::Object(obj) = rec else {
                return Err(AdminError::Invalid("records must be objects".into()));
            };
            let mut fields = Map::new();
            let mut meta = Map::new();
            meta.insert("source".into(), "manual".into());
            let (mut id, mut created, mut updated) = (None, now, now);
            for (k, v) in obj {
                match k.as_str() {
                    "id" => id = value_as_id(&v),
                    "_source" => {
                        meta.insert("source".into(), v);
                    }
                    "_psa_id" => {
                        meta.insert("psa_id".into(), v);
                    }
                    "created-at" => created = v.as_str().and_then(parse_timestamp).unwrap_or(now),
                    "updated-at" => updated = v.as_str().and_then(parse_timestamp).unwrap_or(now),
                    _ => {
                        fields.insert(kebab(&k), v);
                    }
                }
            }
            normalize_contact_lists(&mut fields)
                .and_then(|()| normalize_dates(&mut fields))
                .map_err(AdminError::Invalid)?;
            let id = store.insert(collection, id, fields, meta, created);
            if let Some(r) = store.get_mut(collection, id) {
                r.updated_at = updated;
                out.push(r.admin_json());
            }
        }
        Ok(out)
    }

    fn state(&self, collection: &str) -> Result<Vec<Value>, AdminError> {
        if !known_collection(collection) {
            return Err(AdminError::UnknownCollection(collection.into()));
        }
        Ok(self
            .lock_store()
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
        let num = id
            .parse::<u64>()
            .map_err(|_| AdminError::NotFound(id.into()))?;
        let fields: Map<String, Value> = fields.into_iter().map(|(k, v)| (kebab(&k), v)).collect();
        let now = self.core.clock.now_millis();
        let mut store = self.lock_store();
        let changed = store
            .merge(collection, num, &fields, now)
            .ok_or_else(|| AdminError::NotFound(id.into()))?;
        self.core.writes.record(
            now,
            collection,
            id,
            WriteAction::Update,
            fields.keys().cloned().collect(),
            changed,
            user,
        );
        store
            .get(collection, num)
            .map(StoredRecord::admin_json)
            .ok_or_else(|| AdminError::NotFound(id.into()))
    }

    fn delete(&self, collection: &str, id: &str, user: &str) -> Result<(), AdminError> {
        let num = id
            .parse::<u64>()
            .map_err(|_| AdminError::NotFound(id.into()))?;
        let now = self.core.clock.now_millis();
        self.lock_store()
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
    fn template_tags_are_replaced() {
        let mut tags = HashMap::new();
        tags.insert("resource_url".to_owned(), "https://x/docs/7".to_owned());
        let out = render_template(r#"{"u":"[resource_url]","n":"[missing]","a":[1]}"#, &tags);
        assert_eq!(out, r#"{"u":"https://x/docs/7","n":"","a":[1]}"#);
    }

    #[test]
    fn whitelist_allows_only_listed_attributes() {
        let ok: Map<String, Value> = [("quick-notes".to_owned(), Value::from("x"))]
            .into_iter()
            .collect();
        assert!(managed_violation("organizations", &ok, false).is_none());
        let bad: Map<String, Value> = [("name".to_owned(), Value::from("x"))]
            .into_iter()
            .collect();
        assert!(managed_violation("organizations", &bad, false).is_some());
        assert!(managed_violation("contacts", &ok, false).is_some());
        let cfg: Map<String, Value> = [("serial-number".to_owned(), Value::from("x"))]
            .into_iter()
            .collect();
        assert!(managed_violation("configurations", &cfg, false).is_none());
        assert!(managed_violation("configurations", &cfg, true).is_some());
    }
}
