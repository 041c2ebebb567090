//! Kaseya BMS simulator, API v2 (reference psa-apis-bms-pulseway-tigerpaw.md §1). Pulseway PSA
//! runs on the same platform (§2), so the same simulator serves it with [`Flavor::PulsewayPsa`],
//! which adds `GET /v2/crm/accounts/{id}/summaryinfo`.
//!
//! Simulated: `POST /v2/security/authenticate` (form-urlencoded or JSON: `grantType=password`,
//! `userName`, `password`, `tenant`) → bearer token with expiry on the simulated clock, and
//! `POST /v2/security/refreshtoken`; the `{success, error, result, totalRecords}` envelope in
//! camelCase (any key case accepted on input); accounts (`/v2/crm/accounts/summary[/{id}]`, create
//! with embedded locations, PUT, JSON-Patch PATCH), locations (`/v2/crm/accounts/{id}/locations/
//! lookup|{locationId}`), contacts (`/v2/crm/contacts/summary[/{id}]`, `/search`, create at
//! `POST /v2/crm/contacts/summary`, PUT, PATCH, `PATCH …/{id}/emails|phones`, DELETE), hardware assets
//! (`/v2/servicedesk/hardwareasset/searchselect|{id}`, POST, PUT, DELETE), account types
//! (`/v2/system/accounttypes/lookup`) and the generic `/v2/system/lookup/{tableName}` for asset
//! categories, asset states and manufacturers (table names [`LOOKUP_TABLES`]: the vendor does not
//! publish them, ours are assumptions shared with the connector); `PageSize`/`PageNumber`; `Filter.*` equality filters and
//! `Filter.ModifiedOnFrom/To`, `Filter.CreatedOnFrom/To` for accounts and contacts only; 1500
//! requests per hour per endpoint (429 + `Retry-After`).
//!
//! Shapes follow the v2 OpenAPI spec (vendor audit §4): `searchselect` answers the thin list DTO,
//! account lists carry no `locations`, contact create reads `ContactInputDto` only, contact PATCH
//! is checked against `ContactPutInputDto`, e-mails/phones change through the patch operation
//! DTOs; where the spec leaves a behaviour open (maximum page size, `LocationId` 0, empty
//! `Addresses`, the meaning of `RelatedItemOperationType`) the simulator takes the stricter
//! reading (docs/vendors.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};
use time::macros::format_description;

use crate::admin::{self, AdminError, AdminOps};
use crate::clock::{parse_timestamp, SimClock, SimMillis};
use crate::core::{Core, Rejection};
use crate::faults::fault_layer;
use crate::json_patch::apply_json_patch;
use crate::rate_limit::{route_template, KeyedRateLimiter, RateLimit};
use crate::request_tally::{count_requests, RequestTally};
use crate::server::{any_free_port, SimServer};
use crate::store::{value_as_id, value_as_text, Store, StoredRecord};
use crate::urlenc;
use crate::writes::WriteAction;

const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page the simulator serves. BMS does not publish its maximum (audit BMS-5); public
/// clients ask for 50–100, so the stricter reading caps a larger `PageSize` at 100, silently, as
/// a server-side cap would: a client must page by the rows it gets, not by the size it asked.
pub const MAX_PAGE_SIZE: usize = 100;

/// Which product the simulator presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    KaseyaBms,
    PulsewayPsa,
}

/// A BMS user ("API Employee").
#[derive(Debug, Clone)]
pub struct BmsUser {
    pub username: String,
    pub password: String,
    pub tenant: String,
}

/// How the simulator is started.
#[derive(Debug, Clone)]
pub struct BmsConfig {
    pub bind: SocketAddr,
    pub flavor: Flavor,
    pub users: Vec<BmsUser>,
    pub clock: SimClock,
    /// Per endpoint; default 1500 requests per hour, sliding.
    pub rate_limit: Option<RateLimit>,
    /// Access token lifetime in simulated time (the vendor does not publish it; default 1 hour).
    pub token_ttl: Duration,
    pub seed: u64,
}

impl Default for BmsConfig {
    fn default() -> Self {
        BmsConfig {
            bind: any_free_port(),
            flavor: Flavor::KaseyaBms,
            users: vec![
                BmsUser {
                    username: "syncbridge".into(),
                    password: "bms-password".into(),
                    tenant: "acme".into(),
                },
                BmsUser {
                    username: "alice".into(),
                    password: "alice-password".into(),
                    tenant: "acme".into(),
                },
            ],
            clock: SimClock::new(),
            rate_limit: Some(RateLimit::sliding(1500, Duration::from_secs(3600))),
            token_ttl: Duration::from_secs(3600),
            seed: 4,
        }
    }
}

impl BmsConfig {
    /// The Pulseway PSA flavour with the same defaults.
    pub fn pulseway() -> Self {
        BmsConfig {
            flavor: Flavor::PulsewayPsa,
            ..BmsConfig::default()
        }
    }
}

/// Collections: records and lookups.
const COLLECTIONS: [&str; 8] = [
    "accounts",
    "locations",
    "contacts",
    "hardwareassets",
    "accounttypes",
    "categories",
    "manufacturers",
    "assetstates",
];

/// `GET /v2/system/lookup/{tableName}`: table name (case-insensitive) → collection. BMS documents
/// the route but not its table names (reference §1.4, gap): these are assumed.
pub const LOOKUP_TABLES: [(&str, &str); 4] = [
    ("AccountTypes", "accounttypes"),
    ("AssetCategories", "categories"),
    ("AssetStates", "assetstates"),
    ("Manufacturers", "manufacturers"),
];

/// `<field>` id → `<name field>` joined from another collection, per collection.
fn joins(collection: &str) -> &'static [(&'static str, &'static str, &'static str, &'static str)] {
    // (id field, target collection, target name field, rendered name field)
    match collection {
        "accounts" => &[("accountTypeId", "accounttypes", "name", "accountType")],
        "contacts" => &[
            ("accountId", "accounts", "accountName", "accountName"),
            ("locationId", "locations", "locationName", "locationName"),
        ],
        "hardwareassets" => &[
            (
                "accountLocationId",
                "locations",
                "locationName",
                "accountLocation",
            ),
            ("categoryId", "categories", "name", "category"),
            ("stateId", "assetstates", "name", "state"),
            ("manufacturerId", "manufacturers", "name", "manufacturer"),
        ],
        _ => &[],
    }
}

#[derive(Debug)]
struct Token {
    username: String,
    expires: SimMillis,
}

#[derive(Debug, Default)]
struct BmsState {
    store: Store,
    tokens: HashMap<String, Token>,
    refresh: HashMap<String, String>,
}

/// The simulator's state.
#[derive(Debug)]
pub struct BmsSim {
    core: Arc<Core>,
    config: BmsConfig,
    state: Mutex<BmsState>,
    limits: KeyedRateLimiter,
}

/// A running Kaseya BMS or Pulseway PSA simulator.
#[derive(Debug)]
pub struct KaseyaBms {
    pub server: SimServer,
    pub sim: Arc<BmsSim>,
}

impl KaseyaBms {
    pub async fn start(config: BmsConfig) -> std::io::Result<KaseyaBms> {
        let vendor = match config.flavor {
            Flavor::KaseyaBms => "kaseya-bms",
            Flavor::PulsewayPsa => "pulseway-psa",
        };
        let core = Core::new(
            vendor,
            config.clock.clone(),
            config.rate_limit,
            error_response,
            config.seed,
        );
        let sim = Arc::new(BmsSim {
            limits: KeyedRateLimiter::new(config.clock.clone()),
            core: core.clone(),
            config: config.clone(),
            state: Mutex::new(BmsState::default()),
        });
        let server = SimServer::start(core, router(sim.clone()), config.bind).await?;
        Ok(KaseyaBms { server, sim })
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

fn router(sim: Arc<BmsSim>) -> Router {
    let api = Router::new()
        .route("/v2/crm/accounts", post(create_account))
        .route(
            "/v2/crm/accounts/{a}",
            get(accounts_get).put(put_account).patch(patch_account),
        )
        .route("/v2/crm/accounts/{a}/{b}", get(accounts_get2))
        .route("/v2/crm/accounts/{a}/{b}/{c}", get(accounts_get3))
        .route(
            "/v2/crm/contacts/{a}",
            get(contacts_get)
                .post(create_contact)
                .put(put_contact)
                .patch(patch_contact)
                .delete(delete_contact),
        )
        .route(
            "/v2/crm/contacts/{a}/{b}",
            get(contacts_get2).patch(patch_contact_list),
        )
        .route("/v2/servicedesk/hardwareasset", post(create_asset))
        .route(
            "/v2/servicedesk/hardwareasset/{a}",
            get(assets_get).put(put_asset).delete(delete_asset),
        )
        .route("/v2/system/accounttypes/lookup", get(account_types))
        .route("/v2/system/lookup/{table}", get(lookup_table))
        .layer(middleware::from_fn_with_state(sim.clone(), auth))
        .with_state(sim.clone());
    let open = Router::new()
        .route("/v2/security/authenticate", post(authenticate))
        .route("/v2/security/refreshtoken", post(refresh_token))
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

fn envelope_error(status: StatusCode, message: &str) -> Value {
    json!({"success": false, "result": Value::Null, "error": {
        "code": status.as_u16(), "message": message, "details": Value::Null,
        "stackStrace": Value::Null, "subErrors": []}})
}

/// Transport-level errors (401, 429, injected faults) keep their HTTP status.
fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(envelope_error(status, message))).into_response()
}

/// Business errors (validation, not found) are HTTP 200 with `success: false`, as the v2 spec
/// declares only 200 for every operation.
fn failure(code: StatusCode, message: impl Into<String>) -> Rejection {
    Rejection::new(business_error, code, message)
}

fn business_error(code: StatusCode, message: &str) -> Response {
    (StatusCode::OK, Json(envelope_error(code, message))).into_response()
}

fn ok(result: Value) -> Response {
    Json(json!({"success": true, "error": Value::Null, "result": result})).into_response()
}

fn respond(r: Result<Response, Rejection>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as the v2 DTOs show dates.
fn format_bms(ms: SimMillis) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// The `date-time` fields of a collection's DTOs that this simulator stores from client input.
fn date_fields(collection: &str) -> &'static [&'static str] {
    match collection {
        "hardwareassets" => &["acquisitionDate", "warrantyExpirationDate"],
        "contacts" => &["effectiveDate"],
        _ => &[],
    }
}

/// Stores date-time fields the way the v2 API returns them: zone-less `YYYY-MM-DDTHH:MM:SS`
/// (audit X-1). A date `YYYY-MM-DD` binds to midnight, a zoned value is taken in UTC (the
/// server's zone is not published: assumed); anything else is refused, as model binding of a
/// `DateTime` fails.
fn bms_dates(collection: &str, fields: &mut Map<String, Value>) -> Result<(), Rejection> {
    for key in date_fields(collection) {
        let Some(raw) = fields.get(*key).and_then(Value::as_str).map(str::trim) else {
            continue;
        };
        if raw.is_empty() {
            fields.insert((*key).to_owned(), Value::Null);
            continue;
        }
        let day = format_description!("[year]-[month]-[day]");
        let ms = if time::Date::parse(raw, &day).is_ok() {
            parse_timestamp(&format!("{raw}T00:00:00Z"))
        } else {
            parse_timestamp(raw)
        };
        let Some(ms) = ms else {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                format!("{key} is not a valid date-time: {raw:?}"),
            ));
        };
        fields.insert((*key).to_owned(), Value::from(format_bms(ms)));
    }
    Ok(())
}

/// `AccountName` → `accountName`, recursively (the wire is camelCase, input may be PascalCase).
fn camel_keys(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let key = c
                        .next()
                        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                        .unwrap_or_default();
                    (key, camel_keys(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(camel_keys).collect()),
        other => other,
    }
}

/// Parses a JSON object body with camelCase keys.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body).map(camel_keys) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(failure(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object",
        )),
    }
}

/// Form or JSON credentials, keys lower-cased.
fn credential_fields(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    let pairs: Vec<(String, String)> = if is_json {
        serde_json::from_slice::<Map<String, Value>>(body)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| value_as_text(&v).map(|v| (k, v)))
            .collect()
    } else {
        urlenc::decode_form(&String::from_utf8_lossy(body))
    };
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

impl BmsSim {
    fn lock(&self) -> MutexGuard<'_, BmsState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    fn issue_token(&self, st: &mut BmsState, username: &str) -> Value {
        let now = self.core.clock.now_millis();
        let ttl = self.config.token_ttl.as_millis() as SimMillis;
        let access = self.core.guid();
        let refresh = self.core.guid();
        st.tokens.insert(
            access.clone(),
            Token {
                username: username.to_owned(),
                expires: now + ttl,
            },
        );
        st.refresh.insert(refresh.clone(), username.to_owned());
        json!({"accessToken": access, "refreshToken": refresh,
            "accessTokenExpireOn": format_bms(now + ttl), "refreshTokenExpireOn": format_bms(now + 30 * ttl)})
    }

    /// A record rendered with its joins, timestamps and (accounts) locations.
    fn render(&self, store: &Store, collection: &str, rec: &StoredRecord) -> Value {
        self.render_indexed(store, collection, rec, None)
    }

    /// [`render`](Self::render) with a precomputed account → location ids index, so listing
    /// many accounts stays linear.
    fn render_indexed(
        &self,
        store: &Store,
        collection: &str,
        rec: &StoredRecord,
        index: Option<&HashMap<u64, Vec<u64>>>,
    ) -> Value {
        let mut out = rec.fields.clone();
        out.insert("id".into(), Value::from(rec.id));
        for (id_field, target, name_field, rendered) in joins(collection) {
            let name = out
                .get(*id_field)
                .and_then(value_as_id)
                .and_then(|id| store.get(target, id))
                .and_then(|r| r.fields.get(*name_field).cloned())
                .unwrap_or(Value::Null);
            out.insert((*rendered).to_owned(), name);
        }
        if collection == "accounts" {
            let ids: Vec<u64> = match index {
                Some(ix) => ix.get(&rec.id).cloned().unwrap_or_default(),
                None => store
                    .list("locations")
                    .filter(|l| l.fields.get("accountId").and_then(value_as_id) == Some(rec.id))
                    .map(|l| l.id)
                    .collect(),
            };
            let locations: Vec<Value> = ids
                .into_iter()
                .filter_map(|id| store.get("locations", id))
                .map(|l| self.render(store, "locations", l))
                .collect();
            out.insert("locations".into(), Value::Array(locations));
        }
        out.insert("createdOn".into(), format_bms(rec.created_at).into());
        out.insert("modifiedOn".into(), format_bms(rec.updated_at).into());
        for k in ["createdBy", "modifiedBy"] {
            out.insert(k.into(), rec.meta.get(k).cloned().unwrap_or(Value::Null));
        }
        Value::Object(out)
    }

    fn exists(store: &Store, collection: &str, fields: &Map<String, Value>, key: &str) -> bool {
        fields
            .get(key)
            .and_then(value_as_id)
            .is_some_and(|id| store.get(collection, id).is_some())
    }

    fn validate(
        store: &Store,
        collection: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), Rejection> {
        let required: &[&str] = match collection {
            "accounts" => &["accountName", "accountTypeId"],
            "contacts" => &["firstName", "lastName", "accountId"],
            "hardwareassets" => &["name", "accountId", "accountLocationId", "categoryId"],
            "locations" => &["locationName"],
            _ => &["name"],
        };
        for r in required {
            if fields
                .get(*r)
                .is_none_or(|v| v.is_null() || v == &Value::String(String::new()))
            {
                return Err(failure(StatusCode::BAD_REQUEST, format!("{r} is required")));
            }
        }
        let refs: &[(&str, &str)] = match collection {
            "contacts" => &[("accountId", "accounts")],
            "hardwareassets" => &[
                ("accountId", "accounts"),
                ("accountLocationId", "locations"),
            ],
            _ => &[],
        };
        for (field, target) in refs {
            if !Self::exists(store, target, fields, field) {
                return Err(failure(
                    StatusCode::BAD_REQUEST,
                    format!("{field} does not exist"),
                ));
            }
        }
        // A contact's location must be one of its account's locations.
        if collection == "contacts" {
            if let Some(loc) = fields.get("locationId").filter(|v| !v.is_null()) {
                let account = fields.get("accountId").and_then(value_as_id);
                let of_account = value_as_id(loc)
                    .and_then(|id| store.get("locations", id))
                    .is_some_and(|l| l.fields.get("accountId").and_then(value_as_id) == account);
                if !of_account {
                    return Err(failure(
                        StatusCode::BAD_REQUEST,
                        "locationId is not a location of the contact's account",
                    ));
                }
            }
        }
        // Lookup ids must name an entry of their table (when the table has entries: an
        // unseeded simulator accepts any id).
        let lookups: &[(&str, &str)] = match collection {
            "accounts" => &[("accountTypeId", "accounttypes")],
            "hardwareassets" => &[
                ("categoryId", "categories"),
                ("stateId", "assetstates"),
                ("manufacturerId", "manufacturers"),
            ],
            _ => &[],
        };
        for (field, target) in lookups {
            let set = fields.get(*field).is_some_and(|v| !v.is_null());
            if set && store.len(target) > 0 && !Self::exists(store, target, fields, field) {
                return Err(failure(
                    StatusCode::BAD_REQUEST,
                    format!("{field} does not exist"),
                ));
            }
        }
        Ok(())
    }

    fn insert(
        &self,
        st: &mut BmsState,
        collection: &str,
        fields: Map<String, Value>,
        user: &str,
    ) -> u64 {
        let now = self.core.clock.now_millis();
        let names: Vec<String> = fields.keys().cloned().collect();
        let mut meta = Map::new();
        meta.insert("createdBy".into(), user.into());
        meta.insert("modifiedBy".into(), user.into());
        let id = st.store.insert(collection, None, fields, meta, now);
        self.core.writes.record(
            now,
            collection,
            &id.to_string(),
            WriteAction::Create,
            names.clone(),
            names,
            user,
        );
        id
    }

    /// Creates an account with its locations (the only way v2 creates locations).
    fn create_account(&self, mut fields: Map<String, Value>, user: &str) -> Result<u64, Rejection> {
        let locations = match fields.remove("locations") {
            Some(Value::Array(l)) if !l.is_empty() => l,
            _ => {
                return Err(failure(
                    StatusCode::BAD_REQUEST,
                    "locations is required (at least one)",
                ))
            }
        };
        for req in ["businessTypeId", "accountManagerId"] {
            if fields.get(req).is_none_or(Value::is_null) {
                return Err(failure(
                    StatusCode::BAD_REQUEST,
                    format!("{req} is required"),
                ));
            }
        }
        fields.entry("isActive").or_insert(Value::Bool(true));
        let mut st = self.lock();
        Self::validate(&st.store, "accounts", &fields)?;
        for l in &locations {
            let lf = l.as_object().cloned().unwrap_or_default();
            Self::validate(&st.store, "locations", &lf)?;
            // `AccountLocationInputDto.Addresses` is required (v2 spec); whether an empty list
            // passes is unverified (audit BMS-6): the stricter reading refuses it.
            if !matches!(lf.get("addresses"), Some(Value::Array(a)) if !a.is_empty()) {
                return Err(failure(
                    StatusCode::BAD_REQUEST,
                    "locations[].addresses is required (at least one address)",
                ));
            }
        }
        let id = self.insert(&mut st, "accounts", fields, user);
        for l in locations {
            let mut lf = l.as_object().cloned().unwrap_or_default();
            lf.insert("accountId".into(), Value::from(id));
            lf.entry("isActive").or_insert(Value::Bool(true));
            self.insert(&mut st, "locations", lf, user);
        }
        Ok(id)
    }

    fn create(
        &self,
        collection: &str,
        mut fields: Map<String, Value>,
        user: &str,
    ) -> Result<u64, Rejection> {
        fields.remove("id");
        fields.entry("isActive").or_insert(Value::Bool(true));
        bms_dates(collection, &mut fields)?;
        let mut st = self.lock();
        Self::validate(&st.store, collection, &fields)?;
        Ok(self.insert(&mut st, collection, fields, user))
    }

    /// Updates a record: `change` edits its fields and returns the fields it touched.
    fn update(
        &self,
        collection: &str,
        id: u64,
        user: &str,
        change: impl FnOnce(&mut Map<String, Value>) -> Result<Vec<String>, String>,
    ) -> Result<Value, Rejection> {
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let Some(rec) = st.store.get(collection, id) else {
            return Err(failure(
                StatusCode::NOT_FOUND,
                format!("{collection} {id} was not found"),
            ));
        };
        let mut fields = rec.fields.clone();
        let sent = change(&mut fields).map_err(|e| failure(StatusCode::BAD_REQUEST, e))?;
        fields.remove("locations");
        fields.remove("id");
        bms_dates(collection, &mut fields)?;
        Self::validate(&st.store, collection, &fields)?;
        let changed = st
            .store
            .replace(collection, id, fields, now)
            .unwrap_or_default();
        if !changed.is_empty() {
            if let Some(r) = st.store.get_mut(collection, id) {
                r.meta.insert("modifiedBy".into(), user.into());
            }
        }
        self.core.writes.record(
            now,
            collection,
            &id.to_string(),
            WriteAction::Update,
            sent,
            changed,
            user,
        );
        let rec = st
            .store
            .get(collection, id)
            .map(|r| self.render(&st.store, collection, r));
        Ok(rec.unwrap_or(Value::Null))
    }

    fn delete(&self, collection: &str, id: u64, user: &str) -> Result<(), Rejection> {
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        st.store.remove(collection, id).ok_or_else(|| {
            failure(
                StatusCode::NOT_FOUND,
                format!("{collection} {id} was not found"),
            )
        })?;
        self.core.writes.record(
            now,
            collection,
            &id.to_string(),
            WriteAction::Delete,
            vec![],
            vec![],
            user,
        );
        Ok(())
    }
}

async fn authenticate(State(sim): State<Arc<BmsSim>>, headers: HeaderMap, body: Bytes) -> Response {
    let f = credential_fields(&headers, &body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let user = sim.config.users.iter().find(|u| {
        get("granttype").eq_ignore_ascii_case("password")
            && u.username == get("username")
            && u.password == get("password")
            && u.tenant.eq_ignore_ascii_case(get("tenant"))
    });
    let Some(user) = user else {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "Invalid user name, password or tenant",
        );
    };
    let mut st = sim.lock();
    ok(sim.issue_token(&mut st, &user.username))
}

async fn refresh_token(
    State(sim): State<Arc<BmsSim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = credential_fields(&headers, &body);
    let mut st = sim.lock();
    let user = f.get("refreshtoken").and_then(|r| st.refresh.remove(r));
    match user {
        Some(u) => {
            if let Some(old) = f.get("accesstoken") {
                st.tokens.remove(old);
            }
            ok(sim.issue_token(&mut st, &u))
        }
        None => error_response(StatusCode::UNAUTHORIZED, "Invalid refresh token"),
    }
}

/// The authenticated user name.
#[derive(Debug, Clone)]
struct User(String);

/// `METHOD /path/{id}/...` — the endpoint a request counts against.
fn endpoint_key(method: &str, path: &str) -> String {
    format!("{method} {}", route_template(path).to_ascii_lowercase())
}

async fn auth(State(sim): State<Arc<BmsSim>>, mut req: Request, next: Next) -> Response {
    let now = sim.core.clock.now_millis();
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let user = {
        let st = sim.lock();
        token
            .and_then(|t| st.tokens.get(t))
            .filter(|t| t.expires > now)
            .map(|t| t.username.clone())
    };
    let Some(user) = user else {
        return error_response(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let key = endpoint_key(req.method().as_str(), req.uri().path());
    if let Err(retry) = sim.limits.check(&key, sim.core.limiter.config()) {
        return Rejection::new(
            error_response,
            StatusCode::TOO_MANY_REQUESTS,
            "API call limit reached for this endpoint",
        )
        .with_retry_after(retry)
        .into_response();
    }
    req.extensions_mut().insert(User(user));
    next.run(req).await
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn positive(params: &Params, key: &str, default: usize) -> Result<usize, Rejection> {
    match param(params, key) {
        None => Ok(default),
        Some(s) => s.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            failure(
                StatusCode::BAD_REQUEST,
                format!("{key} must be a positive integer"),
            )
        }),
    }
}

/// Whether a rendered record passes the `Filter.*` parameters.
fn passes(rec: &Value, params: &Params, dated: bool) -> Result<bool, Rejection> {
    for (k, v) in params {
        let Some(name) = k
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("filter."))
            .map(|_| &k[7..])
        else {
            continue;
        };
        let lower = name.to_ascii_lowercase();
        let time_bound = |field: &str| -> Result<Option<(SimMillis, SimMillis)>, Rejection> {
            let t = parse_timestamp(v).ok_or_else(|| {
                failure(
                    StatusCode::BAD_REQUEST,
                    format!("Filter.{name} is not a date"),
                )
            })?;
            let have = rec
                .get(field)
                .and_then(Value::as_str)
                .and_then(parse_timestamp);
            Ok(have.map(|h| (h, t)))
        };
        let ok = match lower.as_str() {
            "modifiedonfrom" | "modifiedonto" | "createdonfrom" | "createdonto" if dated => {
                let field = if lower.starts_with("modified") {
                    "modifiedOn"
                } else {
                    "createdOn"
                };
                match time_bound(field)? {
                    Some((have, t)) if lower.ends_with("from") => have >= t / 1000 * 1000,
                    Some((have, t)) => have <= t,
                    None => false,
                }
            }
            // Assets and locations have no modified-since filter: the parameter is ignored, so a
            // client relying on it sees every record (and must compare content itself).
            "modifiedonfrom" | "modifiedonto" | "createdonfrom" | "createdonto" => true,
            "ids" | "accountids" => {
                let field = if lower == "ids" { "id" } else { "accountId" };
                let have = rec.get(field).and_then(value_as_id);
                v.split(',').any(|x| x.trim().parse::<u64>().ok() == have)
            }
            "email" | "emailaddress" => {
                rec.get("emails")
                    .and_then(Value::as_array)
                    .is_some_and(|es| {
                        es.iter().any(|e| {
                            e.get("emailAddress")
                                .and_then(Value::as_str)
                                .is_some_and(|a| a.eq_ignore_ascii_case(v))
                        })
                    })
            }
            _ => {
                let field = rec.as_object().and_then(|o| {
                    o.iter()
                        .find(|(f, _)| f.eq_ignore_ascii_case(name))
                        .map(|(_, x)| x)
                });
                field
                    .and_then(value_as_text)
                    .is_some_and(|have| have.eq_ignore_ascii_case(v))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Account id → its location ids.
fn location_index(store: &Store) -> HashMap<u64, Vec<u64>> {
    let mut ix: HashMap<u64, Vec<u64>> = HashMap::new();
    for l in store.list("locations") {
        if let Some(a) = l.fields.get("accountId").and_then(value_as_id) {
            ix.entry(a).or_default().push(l.id);
        }
    }
    ix
}

/// A paged list; `dated` enables the created/modified filters (accounts and contacts only);
/// `total` adds `totalRecords` (the asset searchselect has none).
fn list(
    sim: &BmsSim,
    collection: &str,
    params: &Params,
    dated: bool,
    total: bool,
) -> Result<Response, Rejection> {
    let size = positive(params, "PageSize", DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE);
    let number = positive(params, "PageNumber", 1)?;
    let st = sim.lock();
    let mut rows = Vec::new();
    let index = location_index(&st.store);
    for r in st.store.list(collection) {
        let mut rendered = sim.render_indexed(&st.store, collection, r, Some(&index));
        match collection {
            // `searchselect` answers the thin list DTO; its filters work on that DTO's fields.
            "hardwareassets" => rendered = thin_asset(&st.store, &rendered),
            // `Locations` is nullable in `AccountSummaryOutputDto` and not documented as filled
            // in lists (audit BMS-6): the stricter reading leaves it null here; get-by-id embeds.
            "accounts" => rendered["locations"] = Value::Null,
            _ => {}
        }
        if passes(&rendered, params, dated)? {
            rows.push(rendered);
        }
    }
    let count = rows.len();
    let page: Vec<Value> = rows
        .into_iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
        .collect();
    let mut body = json!({"success": true, "error": Value::Null, "result": page});
    if total {
        body["totalRecords"] = Value::from(count);
    }
    Ok(Json(body).into_response())
}

/// `HardwareAssetsListSearchSelectOutputDto` (v2 spec, audit BMS-1): the only fields
/// `GET /v2/servicedesk/hardwareasset/searchselect` returns, from a rendered full asset. The
/// spec's non-nullable ints (`categoryId`, `contactId`, `accountId`) are 0 when unset.
fn thin_asset(store: &Store, full: &Value) -> Value {
    let id_or_zero = |k: &str| full.get(k).and_then(value_as_id).unwrap_or(0);
    let contact_name = full
        .get("contactId")
        .and_then(value_as_id)
        .and_then(|id| store.get("contacts", id))
        .map(|c| {
            let part = |k: &str| c.fields.get(k).and_then(value_as_text).unwrap_or_default();
            format!("{} {}", part("firstName"), part("lastName"))
                .trim()
                .to_owned()
        });
    let field = |k: &str| full.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": field("id"),
        "categoryName": field("category"),
        "categoryId": id_or_zero("categoryId"),
        "locationName": field("accountLocation"),
        "assetName": field("name"),
        "serialNumber": field("serialNumber"),
        "machineGroupId": field("machineGroupId"),
        "ipAddress": field("ipAddress"),
        "contactId": id_or_zero("contactId"),
        "contactName": contact_name,
        "accountId": id_or_zero("accountId"),
        "accountName": full
            .get("accountId")
            .and_then(value_as_id)
            .and_then(|id| store.get("accounts", id))
            .and_then(|a| a.fields.get("accountName").cloned()),
        "isActive": full.get("isActive").cloned().unwrap_or(Value::Bool(true)),
    })
}

fn show(sim: &BmsSim, collection: &str, id: &str) -> Result<Response, Rejection> {
    let num = id
        .parse::<u64>()
        .map_err(|_| failure(StatusCode::NOT_FOUND, format!("{id} was not found")))?;
    let st = sim.lock();
    let rec = st.store.get(collection, num).ok_or_else(|| {
        failure(
            StatusCode::NOT_FOUND,
            format!("{collection} {num} was not found"),
        )
    })?;
    Ok(ok(sim.render(&st.store, collection, rec)))
}

fn parse_id(id: &str) -> Result<u64, Rejection> {
    id.parse()
        .map_err(|_| failure(StatusCode::NOT_FOUND, format!("{id} was not found")))
}

fn not_found() -> Rejection {
    Rejection::new(error_response, StatusCode::NOT_FOUND, "Not found")
}

async fn accounts_get(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    respond(match a.as_str() {
        "summary" => list(&sim, "accounts", &p, true, true),
        _ => Err(not_found()),
    })
}

async fn accounts_get2(
    State(sim): State<Arc<BmsSim>>,
    Path((a, b)): Path<(String, String)>,
) -> Response {
    respond(if a == "summary" {
        show(&sim, "accounts", &b)
    } else if b == "summaryinfo" && sim.config.flavor == Flavor::PulsewayPsa {
        summary_info(&sim, &a)
    } else {
        Err(not_found())
    })
}

/// Pulseway's `GET /v2/crm/accounts/{id}/summaryinfo`.
fn summary_info(sim: &BmsSim, id: &str) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let st = sim.lock();
    let rec = st.store.get("accounts", num).ok_or_else(|| {
        failure(
            StatusCode::NOT_FOUND,
            format!("account {num} was not found"),
        )
    })?;
    let r = sim.render(&st.store, "accounts", rec);
    let active = r.get("isActive").and_then(Value::as_bool).unwrap_or(true);
    Ok(ok(
        json!({"id": num, "name": r["accountName"], "phone": r.get("phone").cloned().unwrap_or(Value::Null),
        "email": r.get("email").cloned().unwrap_or(Value::Null),
        "statusName": if active { "Active" } else { "Inactive" }, "typeName": r["accountType"]}),
    ))
}

async fn accounts_get3(
    State(sim): State<Arc<BmsSim>>,
    Path((a, b, c)): Path<(String, String, String)>,
) -> Response {
    let result = (|| {
        if b != "locations" {
            return Err(not_found());
        }
        let account = parse_id(&a)?;
        let st = sim.lock();
        let of_account =
            |l: &&StoredRecord| l.fields.get("accountId").and_then(value_as_id) == Some(account);
        if c == "lookup" {
            let items: Vec<Value> = st
                .store
                .list("locations")
                .filter(of_account)
                .map(|l| {
                    json!({"id": l.id, "name": l.fields.get("locationName"), "accountId": account,
                        "isMain": l.fields.get("isMain").cloned().unwrap_or(Value::Bool(false))})
                })
                .collect();
            return Ok(ok(Value::Array(items)));
        }
        let num = parse_id(&c)?;
        let loc = st
            .store
            .get("locations", num)
            .filter(|l| of_account(l))
            .ok_or_else(|| {
                failure(
                    StatusCode::NOT_FOUND,
                    format!("location {num} was not found"),
                )
            })?;
        Ok(ok(sim.render(&st.store, "locations", loc)))
    })();
    respond(result)
}

async fn create_account(
    State(sim): State<Arc<BmsSim>>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    respond(
        parse_object(&body)
            .and_then(|f| sim.create_account(f, &user))
            .map(|id| {
                let st = sim.lock();
                ok(st
                    .store
                    .get("accounts", id)
                    .map(|r| sim.render(&st.store, "accounts", r))
                    .unwrap_or(Value::Null))
            }),
    )
}

/// Fields a PUT DTO does not carry, kept as they are: an account's locations live apart, and a
/// contact's emails and phones are changed through their own PATCH routes.
fn kept_on_put(collection: &str) -> &'static [&'static str] {
    match collection {
        "contacts" => &["emails", "phones"],
        _ => &[],
    }
}

/// PUT replaces the DTO.
fn put(
    sim: &BmsSim,
    collection: &str,
    id: &str,
    user: &str,
    body: &[u8],
) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let mut new = parse_object(body)?;
    for k in kept_on_put(collection) {
        new.remove(*k);
    }
    sim.update(collection, num, user, |f| {
        let sent = new.keys().cloned().collect();
        for k in kept_on_put(collection) {
            if let Some(v) = f.remove(*k) {
                new.insert((*k).to_owned(), v);
            }
        }
        *f = new;
        Ok(sent)
    })
    .map(ok)
}

/// `ContactInputDto` (v2 spec, audit BMS-4) → the stored contact: only `FirstName, LastName,
/// AccountId, LocationId, Phones[{PhoneNumber, PhoneTypeId, IsDefault}], Emails[{EmailAddress,
/// EmailTypeId, IsDefault}], CustomFieldsData` are read; anything else (`jobTitle`, `isPoc`, a
/// phone's `phone`) is dropped, as ASP.NET drops unknown members. `LocationId` is a non-null int:
/// whether 0 is accepted is unverified, the stricter reading refuses a missing or 0 one (and
/// [`BmsSim::validate`] one of another account). Phones are stored under the output DTO's
/// `phone` key (`ContactPhoneOutputDto.Phone`).
fn contact_input(body: Map<String, Value>) -> Result<Map<String, Value>, Rejection> {
    let bad = |m: &str| failure(StatusCode::BAD_REQUEST, m.to_owned());
    let mut out = Map::new();
    for k in ["firstName", "lastName", "accountId", "customFieldsData"] {
        if let Some(v) = body.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    match body.get("locationId").and_then(value_as_id) {
        Some(id) if id > 0 => out.insert("locationId".into(), Value::from(id)),
        _ => return Err(bad("locationId is required: a location of the account")),
    };
    // (list, number key of the input DTO, type key, number key of the output DTO)
    for (list, key_in, type_key, key_out) in [
        ("phones", "phoneNumber", "phoneTypeId", "phone"),
        ("emails", "emailAddress", "emailTypeId", "emailAddress"),
    ] {
        let items = match body.get(list) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(bad(&format!("{list} must be an array"))),
        };
        let mut stored = Vec::with_capacity(items.len());
        for item in items {
            let value = item
                .get(key_in)
                .and_then(Value::as_str)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| bad(&format!("{list}[].{key_in} is required")))?;
            stored.push(json!({
                key_out: value,
                type_key: item.get(type_key).and_then(value_as_id).unwrap_or(0),
                "isDefault": item.get("isDefault").and_then(Value::as_bool).unwrap_or(false),
            }));
        }
        out.insert(list.into(), Value::Array(stored));
    }
    out.insert("isPoc".into(), Value::Bool(false));
    Ok(out)
}

/// What one `emails|phones` PATCH did (`ContactEmailPatchResultDto` / `ContactPhonePatchResultDto`).
#[derive(Debug, Default, Clone, Copy)]
struct ListPatched {
    added: u64,
    updated: u64,
    deleted: u64,
}

/// Applies `ContactEmailPatchOperationDto[]` / `ContactPhonePatchOperationDto[]` (v2 spec, audit
/// BMS-2) to a contact's stored `emails` / `phones`: `{Operation, EmailAddress, NewEmailAddress,
/// TypeId, IsDefault}` resp. `{Operation, PhoneNumber, NewPhoneNumber, TypeId, IsDefault}`.
/// `Operation` is the spec's `RelatedItemOperationType` enum 0/1/2 whose names are not
/// published; read here as 0 = add, 1 = update, 2 = delete (unverified). Add takes the address in
/// `EmailAddress` (`PhoneNumber`) and needs `TypeId`; update and delete find the entry by that
/// value (case-insensitively) and refuse one the contact does not have; update sets
/// `NewEmailAddress` (`NewPhoneNumber`), `TypeId` and `IsDefault` where given. A default entry
/// clears the others' default. RFC 6902 operations (`op`/`path`) are refused: they are not this
/// DTO.
fn patch_list(list: &mut Vec<Value>, which: &str, ops: &Value) -> Result<ListPatched, String> {
    let (key_in, new_key, type_key, stored_key) = if which == "emails" {
        (
            "emailAddress",
            "newEmailAddress",
            "emailTypeId",
            "emailAddress",
        )
    } else {
        ("phoneNumber", "newPhoneNumber", "phoneTypeId", "phone")
    };
    let ops = ops
        .as_array()
        .ok_or("the body must be an array of patch operations")?;
    let mut done = ListPatched::default();
    for op in ops {
        let op = camel_keys(op.clone());
        let Some(o) = op.as_object() else {
            return Err("each patch operation must be an object".into());
        };
        if o.contains_key("op") || o.contains_key("path") {
            return Err(format!(
                "JSON-Patch operations are not accepted here: send {{operation, {key_in}, \
                 {new_key}, typeId, isDefault}}"
            ));
        }
        let text = |k: &str| {
            o.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let current = text(key_in).ok_or_else(|| format!("{key_in} is required"))?;
        let type_id = o.get("typeId").and_then(value_as_id);
        let is_default = o.get("isDefault").and_then(Value::as_bool);
        let position = list.iter().position(|e| {
            e.get(stored_key)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(&current))
        });
        let touched = match o.get("operation").and_then(Value::as_u64) {
            Some(0) => {
                if position.is_some() {
                    return Err(format!("the contact already has {key_in} {current:?}"));
                }
                let type_id = type_id.ok_or("typeId is required to add an entry")?;
                list.push(json!({stored_key: current, type_key: type_id,
                    "isDefault": is_default.unwrap_or(false)}));
                done.added += 1;
                list.len() - 1
            }
            Some(1) => {
                let i =
                    position.ok_or_else(|| format!("the contact has no {key_in} {current:?}"))?;
                let entry = list[i]
                    .as_object_mut()
                    .ok_or("stored entry is not an object")?;
                if let Some(new) = text(new_key) {
                    entry.insert(stored_key.into(), Value::from(new));
                }
                if let Some(t) = type_id {
                    entry.insert(type_key.into(), Value::from(t));
                }
                if let Some(d) = is_default {
                    entry.insert("isDefault".into(), Value::Bool(d));
                }
                done.updated += 1;
                i
            }
            Some(2) => {
                let i =
                    position.ok_or_else(|| format!("the contact has no {key_in} {current:?}"))?;
                list.remove(i);
                done.deleted += 1;
                continue;
            }
            _ => return Err("operation must be 0, 1 or 2 (RelatedItemOperationType)".into()),
        };
        if is_default == Some(true) {
            for (i, e) in list.iter_mut().enumerate() {
                if i != touched {
                    if let Some(e) = e.as_object_mut() {
                        e.insert("isDefault".into(), Value::Bool(false));
                    }
                }
            }
        }
    }
    Ok(done)
}

/// `PATCH /v2/crm/contacts/{id}/emails|phones` → `{added, updated, deleted, emails|phones}`.
async fn patch_contact_list(
    State(sim): State<Arc<BmsSim>>,
    Path((a, b)): Path<(String, String)>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    let result = (|| {
        if b != "emails" && b != "phones" {
            return Err(not_found());
        }
        let num = parse_id(&a)?;
        let ops: Value = serde_json::from_slice(&body).map_err(|_| {
            failure(
                StatusCode::BAD_REQUEST,
                "The request body is not valid JSON",
            )
        })?;
        let mut done = ListPatched::default();
        let contact = sim.update("contacts", num, &user, |f| {
            let mut list = f
                .get(&b)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            done = patch_list(&mut list, &b, &ops)?;
            f.insert(b.clone(), Value::Array(list));
            Ok(vec![b.clone()])
        })?;
        Ok(ok(json!({
            "added": done.added,
            "updated": done.updated,
            "deleted": done.deleted,
            b.as_str(): contact.get(b.as_str()).cloned().unwrap_or(Value::Array(Vec::new())),
        })))
    })();
    respond(result)
}

/// PATCH takes a JSON-Patch array; paths like `/AccountName` match fields case-insensitively.
fn patch(
    sim: &BmsSim,
    collection: &str,
    id: &str,
    user: &str,
    body: &[u8],
) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let ops: Value = serde_json::from_slice(body).map_err(|_| {
        failure(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON",
        )
    })?;
    let ops = camel_paths(ops);
    sim.update(collection, num, user, |f| apply_json_patch(f, &ops))
        .map(ok)
}

/// `/StatusId` → `/statusId` in every operation's path.
fn camel_paths(ops: Value) -> Value {
    match ops {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|op| {
                    let mut op = camel_keys(op);
                    if let Some(p) = op.get("path").and_then(Value::as_str) {
                        let fixed: Vec<String> = p
                            .split('/')
                            .map(|seg| {
                                let mut c = seg.chars();
                                c.next()
                                    .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                                    .unwrap_or_default()
                            })
                            .collect();
                        op["path"] = Value::from(fixed.join("/"));
                    }
                    op
                })
                .collect(),
        ),
        other => other,
    }
}

async fn put_account(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    respond(put(&sim, "accounts", &a, &user, &body))
}

async fn patch_account(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    respond(patch(&sim, "accounts", &a, &user, &body))
}

async fn contacts_get(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    respond(match a.as_str() {
        "summary" => list(&sim, "contacts", &p, true, true),
        "search" => list(&sim, "contacts", &p, false, false),
        _ => Err(not_found()),
    })
}

async fn contacts_get2(
    State(sim): State<Arc<BmsSim>>,
    Path((a, b)): Path<(String, String)>,
) -> Response {
    respond(if a == "summary" {
        show(&sim, "contacts", &b)
    } else {
        Err(not_found())
    })
}

async fn create_contact(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    if a != "summary" {
        return not_found().into_response();
    }
    respond(
        parse_object(&body)
            .and_then(contact_input)
            .and_then(|f| sim.create("contacts", f, &user))
            .and_then(|id| show(&sim, "contacts", &id.to_string())),
    )
}

async fn put_contact(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    respond(put(&sim, "contacts", &a, &user, &body))
}

async fn patch_contact(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    let body = match contact_put_paths(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    respond(patch(&sim, "contacts", &a, &user, &body))
}

/// `ContactPutInputDto`'s properties (v2 spec, audit BMS-3), camelCase, and where each is stored.
/// `Poc` is the point-of-contact flag the summary shows as `isPoc`.
const CONTACT_PUT_FIELDS: [(&str, &str); 11] = [
    ("accountId", "accountId"),
    ("locationId", "locationId"),
    ("firstName", "firstName"),
    ("middleName", "middleName"),
    ("lastName", "lastName"),
    ("jobTitle", "jobTitle"),
    ("poc", "isPoc"),
    ("isActive", "isActive"),
    ("receiveInvoices", "canRecieveInvoices"),
    ("billByContact", "billByContact"),
    ("effectiveDate", "effectiveDate"),
];

/// A contact JSON-Patch body with its paths checked against `ContactPutInputDto` and renamed to
/// the stored fields. ASP.NET's JsonPatch answers an error for a path that names no property
/// (audit BMS-3, [mem]): so does the simulator (e.g. `/IsPoc`, which is output-only).
fn contact_put_paths(body: &[u8]) -> Result<Vec<u8>, Rejection> {
    let bad = |m: String| failure(StatusCode::BAD_REQUEST, m);
    let ops: Value = serde_json::from_slice(body)
        .map_err(|_| bad("The request body is not valid JSON".into()))?;
    let Value::Array(ops) = camel_paths(ops) else {
        return Err(bad("the body must be a JSON-Patch array".into()));
    };
    let mut out = Vec::with_capacity(ops.len());
    for mut op in ops {
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let first = path.trim_start_matches('/');
        let stored = CONTACT_PUT_FIELDS
            .iter()
            .find(|(dto, _)| *dto == first)
            .map(|(_, stored)| *stored)
            .ok_or_else(|| {
                bad(format!(
                    "The target location specified by path segment '{first}' was not found \
                     (ContactPutInputDto)"
                ))
            })?;
        op["path"] = Value::from(format!("/{stored}"));
        out.push(op);
    }
    serde_json::to_vec(&Value::Array(out)).map_err(|e| bad(e.to_string()))
}

async fn delete_contact(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Extension(User(user)): Extension<User>,
) -> Response {
    respond(
        parse_id(&a)
            .and_then(|id| sim.delete("contacts", id, &user))
            .map(|_| ok(Value::Bool(true))),
    )
}

async fn assets_get(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    respond(match a.as_str() {
        "searchselect" => list(&sim, "hardwareassets", &p, false, false),
        id => show(&sim, "hardwareassets", id),
    })
}

async fn create_asset(
    State(sim): State<Arc<BmsSim>>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    respond(
        parse_object(&body)
            .and_then(|f| sim.create("hardwareassets", f, &user))
            .and_then(|id| show(&sim, "hardwareassets", &id.to_string())),
    )
}

async fn put_asset(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Extension(User(user)): Extension<User>,
    body: Bytes,
) -> Response {
    respond(put(&sim, "hardwareassets", &a, &user, &body))
}

async fn delete_asset(
    State(sim): State<Arc<BmsSim>>,
    Path(a): Path<String>,
    Extension(User(user)): Extension<User>,
) -> Response {
    respond(
        parse_id(&a)
            .and_then(|id| sim.delete("hardwareassets", id, &user))
            .map(|_| ok(Value::Bool(true))),
    )
}

async fn account_types(State(sim): State<Arc<BmsSim>>) -> Response {
    lookup_rows(&sim, "accounttypes")
}

/// `{id, name, isActive}` rows of a lookup collection.
fn lookup_rows(sim: &BmsSim, collection: &str) -> Response {
    let st = sim.lock();
    let items: Vec<Value> = st
        .store
        .list(collection)
        .map(|r| {
            let mut row = sim.render(&st.store, collection, r);
            if let Some(o) = row.as_object_mut() {
                o.entry("isActive").or_insert(Value::Bool(true));
            }
            row
        })
        .collect();
    ok(Value::Array(items))
}

async fn lookup_table(State(sim): State<Arc<BmsSim>>, Path(table): Path<String>) -> Response {
    match LOOKUP_TABLES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&table))
    {
        Some((_, collection)) => lookup_rows(&sim, collection),
        None => business_error(
            StatusCode::NOT_FOUND,
            &format!("lookup table {table} does not exist"),
        ),
    }
}

fn known(collection: &str) -> Result<(), AdminError> {
    AdminError::check_collection(&COLLECTIONS, collection)
}

impl AdminOps for BmsSim {
    fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Seeds records in BMS field names (any case; optional `id`). Accounts may carry a
    /// `locations` array, stored as location records of the account.
    fn seed(&self, collection: &str, records: Vec<Value>) -> Result<Vec<Value>, AdminError> {
        known(collection)?;
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let mut ids = Vec::with_capacity(records.len());
        for rec in records {
            let Value::Object(mut fields) = camel_keys(rec) else {
                return Err(AdminError::Invalid("records must be objects".into()));
            };
            let id = fields.remove("id").as_ref().and_then(value_as_id);
            let locations = fields.remove("locations");
            let mut meta = Map::new();
            meta.insert("createdBy".into(), "seed".into());
            meta.insert("modifiedBy".into(), "seed".into());
            let id = st.store.insert(collection, id, fields, meta.clone(), now);
            if let Some(Value::Array(locs)) = locations {
                for l in locs {
                    let mut lf = l.as_object().cloned().unwrap_or_default();
                    let lid = lf.remove("id").as_ref().and_then(value_as_id);
                    lf.insert("accountId".into(), Value::from(id));
                    st.store.insert("locations", lid, lf, meta.clone(), now);
                }
            }
            ids.push(id);
        }
        let index = location_index(&st.store);
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                st.store
                    .get(collection, id)
                    .map(|r| self.render_indexed(&st.store, collection, r, Some(&index)))
            })
            .collect())
    }

    fn state(&self, collection: &str) -> Result<Vec<Value>, AdminError> {
        known(collection)?;
        let st = self.lock();
        let index = location_index(&st.store);
        Ok(st
            .store
            .list(collection)
            .map(|r| self.render_indexed(&st.store, collection, r, Some(&index)))
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
        let fields = match camel_keys(Value::Object(fields)) {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        self.update(collection, num, user, |f| {
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
        BmsSim::delete(self, collection, num, user).map_err(AdminError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_group_ids() {
        assert_eq!(
            endpoint_key("GET", "/v2/crm/accounts/summary/12"),
            "GET /v2/crm/accounts/summary/{id}"
        );
        assert_eq!(
            endpoint_key("GET", "/v2/crm/accounts/summary/13"),
            "GET /v2/crm/accounts/summary/{id}"
        );
        assert_eq!(
            camel_keys(json!({"AccountName": "A", "Locations": [{"IsMain": true}]})),
            json!({"accountName": "A", "locations": [{"isMain": true}]})
        );
    }
}
