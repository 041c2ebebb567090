//! Autotask PSA simulator: the REST API under `/atservicesrest/v1.0/` (reference
//! sync-rules-and-apis.md §4.2). Webhooks live in [`autotask_webhooks`](crate::autotask_webhooks).
//!
//! Simulated: zone lookup (`GET …/v1.0/zoneInformation?user=`, no auth, no thread limit);
//! `ApiIntegrationCode` / `UserName` / `Secret` headers (401 otherwise); `Companies`,
//! `Contacts` (also as the child `Companies/{id}/Contacts`), `ConfigurationItems` and `Products`
//! (manufacturer and model of configuration items, no webhooks): `GET /{E}/{id}`
//! → `{"item": …}`, `POST /{E}/query` (and `GET /{E}/query?search=`) with the filter JSON,
//! `IncludeFields`, `MaxRecords` (1…500), 500 rows per page, `pageDetails.nextPageUrl`
//! (`GET /{E}/query/next?paging=…`) only when the query did not set `MaxRecords` (audit AT-3: the
//! docs offer id-looping "as an alternative to pagination controls" for MaxRecords queries; the
//! stricter reading is that no link comes back), `POST /{E}/query/count`, `POST` create →
//! `{"itemId": n}`, partial `PATCH` (id in the body) and `PUT` (omitted fields become null);
//! errors as 500 with `{"errors": [...]}` (validation failures) while an injected outage 5xx
//! carries no such message; 10,000 requests per hour per database (429 + `Retry-After`) and 3
//! concurrent requests per entity endpoint and integration code (429 beyond). Entity and field
//! names are case-insensitive, as Autotask's are.
//!
//! Required fields follow Autotask's entity metadata (audit AT-1, `Anteris-Dev/autotask-client`,
//! generated from it): Companies `companyName, ownerResourceID, phone` (plus `companyType`, kept
//! from earlier versions of this simulator: stricter, unverified), Contacts `companyID, firstName,
//! lastName, isActive`, ConfigurationItems `companyID, isActive, productID`, Products `isActive,
//! isSerialized, name, productBillingCodeID`. Nothing is defaulted: a missing one is a 500
//! `{"errors": ["Missing Required Field: <field>."]}` (message wording unverified).
//!
//! Date-times are returned without a zone (`2016-03-30T13:10:35.563`, audit AT-5; the simulator's
//! zone is UTC) and a filter value that carries a zone (`…Z`, `+02:00`) is refused: how Autotask
//! converts a zoned value is unverified (the SOAP API shifted them to US Eastern), so the stricter
//! reading is that only zone-less values are safe. Configuration item dates (`installDate`,
//! `warrantyExpirationDate`) are stored as zone-less date-times (`2024-01-02T00:00:00`; a date
//! alone is extended with midnight). Records created through the API carry no modified stamp
//! (null) until their first update, and every write is stamped [`AutotaskConfig::stamp_lag`]
//! before it becomes visible (audit AT-4, live note: stamps land slightly out of order and new
//! rows may lack a modified stamp).
//!
//! `GET /{E}/entityInformation/fields` describes each field (`dataType`, `isRequired`,
//! `isReadOnly`, `isReference` / `referenceEntityType`, `isPickList` with `picklistValues`
//! `[{value, label, isDefaultValue, sortOrder, parentValue, isActive, isSystem}]`, values as
//! strings as Autotask sends them). Webhook field ids are not there: they are the `fieldID`
//! picklist of `GET /{Singular}WebhookFields/entityInformation/fields` (audit AT-2; `value` = the
//! FieldID, `label` = the field's REST name; the label format is unverified). Picklists:
//! `Companies.companyType` starts with Autotask's standard values;
//! `ConfigurationItems.configurationItemType` is tenant-defined and starts empty; both are seeded
//! through the admin collection `Picklists`. A create or update with a value outside a non-empty
//! picklist, or a `productID` that names no product, is refused (500, as Autotask's validation
//! errors are).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};

use crate::admin::{self, AdminError, AdminOps};
use crate::at_filter;
use crate::autotask_webhooks::{self as hooks, HookAction, HookState};
use crate::clock::{format_millis, SimClock};
use crate::core::{Core, Rejection};
use crate::faults::fault_layer;
use crate::rate_limit::RateLimit;
use crate::request_tally::{count_requests, RequestTally};
use crate::server::{any_free_port, SimServer};
use crate::store::{value_as_id, Store, StoredRecord};
use crate::writes::WriteAction;

/// REST base path.
pub const API: &str = "/atservicesrest/v1.0";
const PAGE_SIZE: usize = 500;

/// An API user (Autotask "API User (API Only)" resource or a person for admin edits).
#[derive(Debug, Clone)]
pub struct AtUser {
    pub username: String,
    pub secret: String,
    /// Tracking identifier (`ApiIntegrationCode`).
    pub integration_code: String,
    pub resource_id: u64,
}

/// How the simulator is started.
#[derive(Debug, Clone)]
pub struct AutotaskConfig {
    pub bind: SocketAddr,
    pub users: Vec<AtUser>,
    pub clock: SimClock,
    /// Default: 10,000 requests per hour, sliding.
    pub rate_limit: Option<RateLimit>,
    /// Concurrent requests per entity endpoint and integration code (default 3).
    pub thread_limit: usize,
    pub seed: u64,
    /// How long before a write becomes visible its modified stamp (and a create's `createDate`)
    /// was taken: a poll that read up to "now" can later meet rows stamped before that. Default
    /// 1 s (audit AT-4, live note: "stamps can land slightly out of order").
    pub stamp_lag: Duration,
}

impl Default for AutotaskConfig {
    fn default() -> Self {
        AutotaskConfig {
            bind: any_free_port(),
            users: vec![
                AtUser {
                    username: "syncbridge@example.com".into(),
                    secret: "at-secret".into(),
                    integration_code: "TRACKING-ID".into(),
                    resource_id: 30691780,
                },
                AtUser {
                    username: "alice@example.com".into(),
                    secret: "alice-secret".into(),
                    integration_code: "TRACKING-ID".into(),
                    resource_id: 29682885,
                },
            ],
            clock: SimClock::new(),
            rate_limit: Some(RateLimit::sliding(10_000, Duration::from_secs(3600))),
            thread_limit: 3,
            seed: 3,
            stamp_lag: Duration::from_secs(1),
        }
    }
}

/// One REST entity: its names, fields (in webhook FieldID order: FieldID = index + 1) and rules.
#[derive(Debug)]
pub struct EntityDef {
    /// REST collection, e.g. `Companies`.
    pub name: &'static str,
    /// Webhook `EntityType`, e.g. `Company`; its webhook resource is `{entity}Webhooks`. Empty
    /// for entities without webhooks.
    pub webhook_entity: &'static str,
    pub fields: &'static [&'static str],
    /// Server-maintained last-modified field.
    pub modified_field: &'static str,
    pub required: &'static [&'static str],
    /// Fields a PATCH/PUT silently ignores (ConfigurationItems: `companyID`).
    pub immutable: &'static [&'static str],
}

pub const ENTITIES: [EntityDef; 4] = [
    EntityDef {
        name: "Companies",
        webhook_entity: "Company",
        fields: &[
            "id",
            "companyName",
            "companyNumber",
            "companyType",
            "isActive",
            "parentCompanyID",
            "phone",
            "fax",
            "address1",
            "address2",
            "city",
            "state",
            "postalCode",
            "countryID",
            "ownerResourceID",
            "webAddress",
            "createDate",
            "lastTrackedModifiedDateTime",
        ],
        modified_field: "lastTrackedModifiedDateTime",
        required: &["companyName", "companyType", "ownerResourceID", "phone"],
        immutable: &[],
    },
    EntityDef {
        name: "Contacts",
        webhook_entity: "Contact",
        fields: &[
            "id",
            "companyID",
            "firstName",
            "lastName",
            "title",
            "emailAddress",
            "phone",
            "mobilePhone",
            "alternatePhone",
            "faxNumber",
            "isActive",
            "companyLocationID",
            "createDate",
            "lastModifiedDate",
        ],
        modified_field: "lastModifiedDate",
        required: &["companyID", "firstName", "lastName", "isActive"],
        immutable: &[],
    },
    EntityDef {
        name: "ConfigurationItems",
        webhook_entity: "ConfigurationItem",
        fields: &[
            "id",
            "companyID",
            "referenceTitle",
            "referenceNumber",
            "serialNumber",
            "configurationItemType",
            "configurationItemCategoryID",
            "productID",
            "isActive",
            "installDate",
            "warrantyExpirationDate",
            "contactID",
            "companyLocationID",
            "notes",
            "createDate",
            "lastModifiedTime",
        ],
        modified_field: "lastModifiedTime",
        required: &["companyID", "isActive", "productID"],
        immutable: &["companyID"],
    },
    // Field names as in Autotask's Products entity; the last-modified field's name is assumed.
    EntityDef {
        name: "Products",
        webhook_entity: "",
        fields: &[
            "id",
            "name",
            "description",
            "manufacturerName",
            "manufacturerProductName",
            "productCategory",
            "sku",
            "unitCost",
            "unitPrice",
            "msrp",
            "isActive",
            "isSerialized",
            "productBillingCodeID",
            "vendorProductNumber",
            "externalProductID",
            "createDate",
            "lastModifiedDate",
        ],
        modified_field: "lastModifiedDate",
        required: &["isActive", "isSerialized", "name", "productBillingCodeID"],
        immutable: &[],
    },
];

/// Fields that are picklists: (entity, field).
pub const PICKLIST_FIELDS: [(&str, &str); 2] = [
    ("Companies", "companyType"),
    ("ConfigurationItems", "configurationItemType"),
];

/// Fields that reference another entity: (entity, field, referenced entity).
const REFERENCE_FIELDS: [(&str, &str, &str); 6] = [
    ("Companies", "parentCompanyID", "Companies"),
    ("Contacts", "companyID", "Companies"),
    ("ConfigurationItems", "companyID", "Companies"),
    ("ConfigurationItems", "contactID", "Contacts"),
    ("ConfigurationItems", "productID", "Products"),
    (
        "ConfigurationItems",
        "companyLocationID",
        "CompanyLocations",
    ),
];

/// Autotask's standard `companyType` values.
const STANDARD_COMPANY_TYPES: [(i64, &str); 7] = [
    (1, "Customer"),
    (2, "Lead"),
    (3, "Prospect"),
    (4, "Dead"),
    (6, "Cancellation"),
    (7, "Vendor"),
    (8, "Partner"),
];

/// Admin collection holding picklist values.
pub const PICKLISTS: &str = "Picklists";

/// One picklist value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PicklistValue {
    entity: &'static str,
    field: &'static str,
    value: i64,
    label: String,
    is_active: bool,
    is_system: bool,
    sort_order: i64,
}

impl PicklistValue {
    fn to_json(&self) -> Value {
        json!({"entity": self.entity, "field": self.field, "value": self.value.to_string(),
            "label": self.label, "isDefaultValue": false, "sortOrder": self.sort_order,
            "parentValue": "", "isActive": self.is_active, "isSystem": self.is_system})
    }

    /// The wire shape inside `picklistValues`.
    fn wire(&self) -> Value {
        let mut v = self.to_json();
        if let Some(o) = v.as_object_mut() {
            o.remove("entity");
            o.remove("field");
        }
        v
    }

    /// A seeded value: `{"entity", "field", "value", "label", "isActive"?, "sortOrder"?}`.
    fn parse(rec: &Value) -> Result<PicklistValue, AdminError> {
        let get = |k: &str| {
            rec.as_object().and_then(|o| {
                o.iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v)
            })
        };
        let entity = get("entity").and_then(Value::as_str).unwrap_or_default();
        let field = get("field").and_then(Value::as_str).unwrap_or_default();
        let (entity, field) = PICKLIST_FIELDS
            .iter()
            .find(|(e, f)| e.eq_ignore_ascii_case(entity) && f.eq_ignore_ascii_case(field))
            .copied()
            .ok_or_else(|| {
                AdminError::Invalid(format!("{entity}.{field} is not a simulated picklist"))
            })?;
        let value = match get("value") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| AdminError::Invalid("a picklist value needs a numeric value".into()))?;
        let label = get("label")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| AdminError::Invalid("a picklist value needs a label".into()))?;
        Ok(PicklistValue {
            entity,
            field,
            value,
            label: label.to_owned(),
            is_active: get("isActive").and_then(Value::as_bool).unwrap_or(true),
            is_system: false,
            sort_order: get("sortOrder").and_then(Value::as_i64).unwrap_or(value),
        })
    }
}

fn standard_picklists() -> Vec<PicklistValue> {
    STANDARD_COMPANY_TYPES
        .iter()
        .enumerate()
        .map(|(i, (value, label))| PicklistValue {
            entity: "Companies",
            field: "companyType",
            value: *value,
            label: (*label).to_owned(),
            is_active: true,
            is_system: true,
            sort_order: i as i64,
        })
        .collect()
}

/// Date fields that Autotask stores as zone-less date-times.
const DATE_FIELDS: [(&str, &str); 2] = [
    ("ConfigurationItems", "installDate"),
    ("ConfigurationItems", "warrantyExpirationDate"),
];

/// Meta flag of a record created through the API and not updated since: its modified stamp is
/// null (audit AT-4).
const UNSTAMPED: &str = "unstamped";

/// The webhook FieldID of the `index`-th field of an entity with webhooks: a number of
/// Autotask's own (here 100 × the entity's position + the field's), not the field's position,
/// so a client can only learn it from `…WebhookFields/entityInformation/fields`.
fn webhook_field_id(def: &EntityDef, index: usize) -> Option<u64> {
    let pos = ENTITIES.iter().position(|e| e.name == def.name)?;
    if def.webhook_entity.is_empty() || index >= def.fields.len() {
        return None;
    }
    Some(100 * (pos as u64 + 1) + index as u64)
}

/// The webhook FieldID of a field by name (for tests and tools; clients read
/// `…WebhookFields/entityInformation/fields`).
pub fn webhook_field_id_of(def: &EntityDef, name: &str) -> Option<u64> {
    let index = def
        .fields
        .iter()
        .position(|f| f.eq_ignore_ascii_case(name))?;
    webhook_field_id(def, index)
}

/// The field a webhook FieldID names.
pub(crate) fn webhook_field_name(def: &EntityDef, field_id: u64) -> Option<&'static str> {
    let index = def
        .fields
        .iter()
        .enumerate()
        .find(|(i, _)| webhook_field_id(def, *i) == Some(field_id))?
        .0;
    def.fields.get(index).copied()
}

/// The entity whose webhook field resource is `segment` (`CompanyWebhookFields`).
fn webhook_fields_def(segment: &str) -> Option<&'static EntityDef> {
    let suffix = "WebhookFields";
    let base = segment.get(..segment.len().checked_sub(suffix.len())?)?;
    if !segment[base.len()..].eq_ignore_ascii_case(suffix) {
        return None;
    }
    ENTITIES
        .iter()
        .find(|e| !e.webhook_entity.is_empty() && e.webhook_entity.eq_ignore_ascii_case(base))
}

/// `GET /{Singular}WebhookFields/entityInformation/fields`: the WebhookFields entity's own
/// fields; `fieldID` is a picklist of the entity's webhook fields.
fn webhook_fields_information(def: &EntityDef) -> Value {
    let values: Vec<Value> = def
        .fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let id = webhook_field_id(def, i)?;
            Some(
                json!({"value": id.to_string(), "label": f, "isDefaultValue": false,
                "sortOrder": i, "parentValue": "", "isActive": true, "isSystem": true}),
            )
        })
        .collect();
    let plain = |name: &str, data_type: &str| {
        json!({"name": name, "dataType": data_type, "length": 0, "isRequired": true,
            "isReadOnly": false, "isQueryable": true, "isReference": false,
            "referenceEntityType": "", "isPickList": false, "picklistValues": null,
            "picklistParentValueField": "", "isSupportedWebhookField": false})
    };
    let mut field_id = plain("fieldID", "integer");
    if let Some(o) = field_id.as_object_mut() {
        o.insert("isPickList".into(), true.into());
        o.insert("picklistValues".into(), Value::Array(values));
    }
    let mut id = plain("id", "long");
    if let Some(o) = id.as_object_mut() {
        o.insert("isReadOnly".into(), true.into());
    }
    json!({"fields": [
        id,
        field_id,
        plain("isDisplayAlwaysField", "boolean"),
        plain("isSubscribedField", "boolean"),
        plain("webhookID", "integer"),
    ]})
}

/// Epoch milliseconds → Autotask's zone-less `2016-03-30T13:10:35.563` (UTC).
pub fn format_zoneless(ms: crate::clock::SimMillis) -> String {
    let mut s = format_millis(ms);
    if s.ends_with('Z') {
        s.pop();
    }
    s
}

/// A date written to a date field → the zone-less date-time Autotask stores
/// (`2024-01-02` → `2024-01-02T00:00:00`); `None` when it is no date.
fn date_value(s: &str) -> Option<String> {
    let s = s.trim();
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let valid_date = date.len() == 10
        && date.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !valid_date {
        return None;
    }
    match time {
        None => Some(format!("{date}T00:00:00")),
        Some(t) => {
            // A zoned value is refused: which zone Autotask converts it to is unverified.
            let zone_less = !t.ends_with('Z') && !t.contains('+') && !t.contains('-');
            (zone_less && crate::clock::parse_timestamp(s).is_some()).then(|| s.to_owned())
        }
    }
}

/// The entity for a path segment (`companies`, `Companies`, …).
pub fn entity_def(segment: &str) -> Option<&'static EntityDef> {
    ENTITIES
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(segment))
}

/// The entity whose webhook resource is `segment` (`CompanyWebhooks`).
pub fn webhook_entity_def(segment: &str) -> Option<&'static EntityDef> {
    let base = segment.get(..segment.len().checked_sub("Webhooks".len())?)?;
    if !segment[base.len()..].eq_ignore_ascii_case("Webhooks") {
        return None;
    }
    ENTITIES
        .iter()
        .find(|e| !e.webhook_entity.is_empty() && e.webhook_entity.eq_ignore_ascii_case(base))
}

/// A saved query position for `nextPageUrl`.
#[derive(Debug, Clone)]
struct Cursor {
    entity: &'static str,
    filter: Value,
    include: Option<Vec<String>>,
    max: usize,
    /// `MaxRecords` was sent: no `nextPageUrl` comes back (see the module doc).
    max_given: bool,
    after: u64,
}

/// Mutable state behind one lock.
#[derive(Debug, Default)]
pub(crate) struct AtState {
    pub(crate) store: Store,
    pub(crate) hooks: HookState,
    cursors: HashMap<String, Cursor>,
    picklists: Vec<PicklistValue>,
}

impl AtState {
    fn picklist(&self, entity: &str, field: &str) -> impl Iterator<Item = &PicklistValue> {
        let (entity, field) = (entity.to_owned(), field.to_owned());
        self.picklists
            .iter()
            .filter(move |p| p.entity == entity && p.field == field)
    }
}

/// The simulator's state.
#[derive(Debug)]
pub struct AutotaskSim {
    pub(crate) core: Arc<Core>,
    pub(crate) config: AutotaskConfig,
    state: Mutex<AtState>,
    in_flight: Mutex<HashMap<(String, String), usize>>,
}

/// A running Autotask simulator.
#[derive(Debug)]
pub struct Autotask {
    pub server: SimServer,
    pub sim: Arc<AutotaskSim>,
}

impl Autotask {
    pub async fn start(config: AutotaskConfig) -> std::io::Result<Autotask> {
        let core = Core::new(
            "autotask",
            config.clock.clone(),
            config.rate_limit,
            fault_response,
            config.seed,
        );
        let sim = Arc::new(AutotaskSim {
            core: core.clone(),
            config: config.clone(),
            state: Mutex::new(AtState {
                picklists: standard_picklists(),
                ..AtState::default()
            }),
            in_flight: Mutex::new(HashMap::new()),
        });
        let server = SimServer::start(core, router(sim.clone()), config.bind).await?;
        Ok(Autotask { server, sim })
    }

    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The requests this simulator answered (also `GET /_admin/requests`).
    pub fn requests(&self) -> &RequestTally {
        &self.server.core().requests
    }

    /// `{base}/atservicesrest/v1.0`.
    pub fn api_url(&self) -> String {
        format!("{}{API}", self.base_url())
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn router(sim: Arc<AutotaskSim>) -> Router {
    let api = Router::new()
        .route(
            &format!("{API}/{{entity}}"),
            get(zone_information).post(create).patch(patch).put(put),
        )
        .route(
            &format!("{API}/{{entity}}/{{id}}"),
            get(show).post(query_post).delete(delete_hook),
        )
        .route(
            &format!("{API}/{{entity}}/{{id}}/{{child}}"),
            get(child_get).post(child_post).patch(child_patch),
        )
        .route(
            &format!("{API}/{{entity}}/{{id}}/{{child}}/{{cid}}"),
            axum::routing::delete(child_delete),
        )
        // Faults run inside auth, so a slow or hanging response holds its thread-limit slot
        // as a slow Autotask response does.
        .layer(middleware::from_fn_with_state(
            sim.core.clone(),
            fault_layer,
        ))
        .layer(middleware::from_fn_with_state(sim.clone(), auth))
        .with_state(sim.clone());
    // Counted outside auth, so its refusals (401, the thread limit's 429) are counted too.
    api.merge(hooks::admin_routes(sim.clone()))
        .merge(admin::routes(sim.clone()))
        .layer(middleware::from_fn_with_state(
            sim.core.clone(),
            count_requests,
        ))
}

/// Bodies of the answers the fault layer injects: a 5xx is an outage (a gateway or an
/// unhandled server error), whose body carries no Autotask validation message, so a client can
/// tell it from a refusal; anything else in Autotask's error shape.
fn fault_response(status: StatusCode, message: &str) -> Response {
    if status.is_server_error() {
        return (status, Json(json!({"Message": "An error has occurred."}))).into_response();
    }
    error_response(status, message)
}

/// Autotask error body: `{"errors": ["..."]}`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"errors": [message]}))).into_response()
}

pub(crate) fn reject(status: StatusCode, message: impl Into<String>) -> Rejection {
    Rejection::new(error_response, status, message)
}

/// Validation errors are 500s in Autotask's REST API (reference §4.2).
pub(crate) fn invalid(message: impl Into<String>) -> Rejection {
    reject(StatusCode::INTERNAL_SERVER_ERROR, message)
}

/// The authenticated API user.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) username: String,
    pub(crate) resource_id: u64,
}

/// Releases a thread-limit slot when the request ends (or is cancelled).
struct Slot {
    sim: Arc<AutotaskSim>,
    key: (String, String),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.sim.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn auth(State(sim): State<Arc<AutotaskSim>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path
        .trim_start_matches(API)
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    // Zone lookups are anonymous and not thread-limited.
    if segments.len() == 1 && segments[0].eq_ignore_ascii_case("zoneInformation") {
        return next.run(req).await;
    }
    let code = header(&req, "ApiIntegrationCode")
        .unwrap_or_default()
        .to_owned();
    let user = sim
        .config
        .users
        .iter()
        .find(|u| {
            header(&req, "UserName") == Some(u.username.as_str())
                && header(&req, "Secret") == Some(u.secret.as_str())
                && code == u.integration_code
        })
        .cloned();
    let Some(user) = user else {
        return reject(StatusCode::UNAUTHORIZED, "User is not authenticated").into_response();
    };
    if let Err(r) = sim.core.rate_check() {
        return r.into_response();
    }
    let key = (code, segments.first().unwrap_or(&"").to_ascii_lowercase());
    let _slot = {
        let mut m = sim.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key.clone()).or_insert(0);
        if *n >= sim.config.thread_limit {
            return reject(
                StatusCode::TOO_MANY_REQUESTS,
                "Thread threshold exceeded: at most 3 concurrent requests per endpoint and integration code",
            )
            .into_response();
        }
        *n += 1;
        Slot {
            sim: sim.clone(),
            key,
        }
    };
    req.extensions_mut().insert(Caller {
        username: user.username,
        resource_id: user.resource_id,
    });
    next.run(req).await
}

impl AutotaskSim {
    pub(crate) fn lock(&self) -> MutexGuard<'_, AtState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The stamp of a write made at `now` (see [`AutotaskConfig::stamp_lag`]).
    fn stamp(&self, now: crate::clock::SimMillis) -> crate::clock::SimMillis {
        let lag = i64::try_from(self.config.stamp_lag.as_millis()).unwrap_or(i64::MAX);
        now.saturating_sub(lag)
    }

    fn resource_of(&self, username: &str) -> u64 {
        self.config
            .users
            .iter()
            .find(|u| u.username == username)
            .map_or(0, |u| u.resource_id)
    }

    /// Creates a record as `caller`.
    fn create_record(
        &self,
        def: &'static EntityDef,
        mut fields: Map<String, Value>,
        caller: &Caller,
    ) -> Result<u64, Rejection> {
        normalise_keys(def, &mut fields);
        for ro in ["id", "createDate", def.modified_field] {
            fields.remove(ro);
        }
        let now = self.core.clock.now_millis();
        let stamp = self.stamp(now);
        let mut st = self.lock();
        validate(&st, def, &mut fields)?;
        let names: Vec<String> = fields.keys().cloned().collect();
        let mut meta = Map::new();
        meta.insert(UNSTAMPED.into(), true.into());
        let id = st.store.insert(def.name, None, fields, meta, stamp);
        self.core.writes.record(
            now,
            def.name,
            &id.to_string(),
            WriteAction::Create,
            names.clone(),
            names.clone(),
            &caller.username,
        );
        let after = st.store.get(def.name, id).map(|r| render_with(def, r));
        hooks::on_change(
            self,
            &mut st,
            def,
            HookAction::Create,
            id,
            after.as_ref(),
            &names,
            caller.resource_id,
        );
        Ok(id)
    }

    /// Applies an update (`replace` = PUT semantics) as `caller`.
    fn update_record(
        &self,
        def: &'static EntityDef,
        id: u64,
        mut fields: Map<String, Value>,
        replace: bool,
        caller: &Caller,
    ) -> Result<u64, Rejection> {
        normalise_keys(def, &mut fields);
        for ro in ["id", "createDate", def.modified_field] {
            fields.remove(ro);
        }
        for f in def.immutable {
            fields.remove(*f);
        }
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let Some(rec) = st.store.get(def.name, id) else {
            return Err(invalid(format!("{} with id {id} was not found", def.name)));
        };
        let sent: Vec<String> = fields.keys().cloned().collect();
        let mut merged = if replace {
            // PUT: fields not sent become null, except those that cannot change.
            def.immutable
                .iter()
                .filter_map(|f| rec.fields.get(*f).map(|v| ((*f).to_owned(), v.clone())))
                .collect()
        } else {
            rec.fields.clone()
        };
        merged.extend(fields);
        validate(&st, def, &mut merged)?;
        let changed = st
            .store
            .replace(def.name, id, merged, self.stamp(now))
            .unwrap_or_default();
        if !changed.is_empty() {
            if let Some(rec) = st.store.get_mut(def.name, id) {
                rec.meta.remove(UNSTAMPED);
            }
        }
        self.core.writes.record(
            now,
            def.name,
            &id.to_string(),
            WriteAction::Update,
            sent,
            changed.clone(),
            &caller.username,
        );
        let after = st.store.get(def.name, id).map(|r| render_with(def, r));
        hooks::on_change(
            self,
            &mut st,
            def,
            HookAction::Update,
            id,
            after.as_ref(),
            &changed,
            caller.resource_id,
        );
        Ok(id)
    }

    fn delete_record(
        &self,
        def: &'static EntityDef,
        id: u64,
        caller: &Caller,
    ) -> Result<(), Rejection> {
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        if st.store.remove(def.name, id).is_none() {
            return Err(invalid(format!("{} with id {id} was not found", def.name)));
        }
        self.core.writes.record(
            now,
            def.name,
            &id.to_string(),
            WriteAction::Delete,
            vec![],
            vec![],
            &caller.username,
        );
        hooks::on_change(
            self,
            &mut st,
            def,
            HookAction::Delete,
            id,
            None,
            &[],
            caller.resource_id,
        );
        Ok(())
    }
}

/// Renames keys to the entity's canonical field spelling (`CompanyName` → `companyName`).
fn normalise_keys(def: &EntityDef, fields: &mut Map<String, Value>) {
    let renamed: Map<String, Value> = std::mem::take(fields)
        .into_iter()
        .map(|(k, v)| {
            let canon = def
                .fields
                .iter()
                .find(|f| f.eq_ignore_ascii_case(&k))
                .map_or(k, |f| (*f).to_owned());
            (canon, v)
        })
        .collect();
    *fields = renamed;
}

/// String lengths Autotask's entity metadata gives (`length` in `entityInformation/fields`);
/// from recollection of the Companies entity reference, unverified: see docs/vendors.md.
const MAX_LENGTHS: [(&str, &str, usize); 1] = [("Companies", "companyName", 100)];

/// Checks a record about to be stored (the whole record, as Autotask validates the entity) and
/// brings date fields to the stored zone-less date-time.
fn validate(
    st: &AtState,
    def: &EntityDef,
    fields: &mut Map<String, Value>,
) -> Result<(), Rejection> {
    let store = &st.store;
    for req in def.required {
        let present = fields
            .get(*req)
            .is_some_and(|v| !v.is_null() && v != &Value::String(String::new()));
        if !present {
            return Err(invalid(format!("Missing Required Field: {req}.")));
        }
    }
    for (entity, field, max) in MAX_LENGTHS {
        let too_long = entity == def.name
            && fields
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| v.chars().count() > max);
        if too_long {
            return Err(invalid(format!(
                "Value for {field} exceeds the maximum length of {max}."
            )));
        }
    }
    for (entity, field) in DATE_FIELDS {
        if entity != def.name {
            continue;
        }
        let Some(v) = fields.get_mut(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let stored = v.as_str().and_then(date_value).ok_or_else(|| {
            invalid(format!(
                "Value {v} is not a valid date-time for {field} (expected yyyy-MM-ddTHH:mm:ss, no zone)."
            ))
        })?;
        *v = Value::String(stored);
    }
    if def.fields.contains(&"companyID") {
        let company = fields.get("companyID").and_then(value_as_id);
        if company.is_none_or(|c| store.get("Companies", c).is_none()) {
            return Err(invalid("companyID does not reference an existing company"));
        }
    }
    if def.name == "ConfigurationItems" {
        if let Some(p) = fields.get("productID").filter(|v| !v.is_null()) {
            if value_as_id(p).is_none_or(|id| store.get("Products", id).is_none()) {
                return Err(invalid("productID does not reference an existing product"));
            }
        }
    }
    for (entity, field) in PICKLIST_FIELDS {
        if entity != def.name {
            continue;
        }
        let Some(v) = fields.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let mut values = st.picklist(entity, field).peekable();
        if values.peek().is_none() {
            continue;
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        if !values.any(|p| Some(p.value) == n) {
            return Err(invalid(format!(
                "Value {v} is not a valid value for {field}"
            )));
        }
    }
    Ok(())
}

/// A stored record in Autotask's wire shape.
pub(crate) fn render_with(def: &EntityDef, rec: &StoredRecord) -> Value {
    let mut out = Map::new();
    for f in def.fields {
        out.insert((*f).to_owned(), Value::Null);
    }
    for (k, v) in &rec.fields {
        out.insert(k.clone(), v.clone());
    }
    out.insert("id".into(), Value::from(rec.id));
    out.insert("createDate".into(), format_zoneless(rec.created_at).into());
    let modified = if rec.meta.contains_key(UNSTAMPED) {
        Value::Null
    } else {
        format_zoneless(rec.updated_at).into()
    };
    out.insert(def.modified_field.into(), modified);
    out.insert("userDefinedFields".into(), Value::Array(vec![]));
    Value::Object(out)
}

fn respond(r: Result<Response, Rejection>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(invalid("The request body must be a JSON object")),
    }
}

fn entity_or_404(segment: &str) -> Result<&'static EntityDef, Rejection> {
    entity_def(segment)
        .ok_or_else(|| reject(StatusCode::NOT_FOUND, format!("Unknown resource {segment}")))
}

fn parse_id(id: &str) -> Result<u64, Rejection> {
    id.parse()
        .map_err(|_| reject(StatusCode::NOT_FOUND, format!("Invalid id {id}")))
}

type Params = Vec<(String, String)>;

async fn zone_information(
    State(sim): State<Arc<AutotaskSim>>,
    Path(entity): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if !entity.eq_ignore_ascii_case("zoneInformation") {
        return reject(StatusCode::NOT_FOUND, format!("Unknown resource {entity}")).into_response();
    }
    let user = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("user"))
        .map(|(_, v)| v.as_str());
    if !user.is_some_and(|u| sim.config.users.iter().any(|x| x.username == u)) {
        return reject(StatusCode::NOT_FOUND, "Unknown user").into_response();
    }
    let base = sim.core.base_url();
    Json(json!({
        "zoneName": "Simulated Zone",
        "url": format!("{base}/atservicesrest"),
        "webUrl": format!("{base}/"),
        "ci": 0,
    }))
    .into_response()
}

async fn show(
    State(sim): State<Arc<AutotaskSim>>,
    Path((entity, id)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Response {
    if let Some(def) = webhook_entity_def(&entity) {
        return respond(hooks::show(&sim, def, &id));
    }
    let result = (|| {
        let def = entity_or_404(&entity)?;
        if id.eq_ignore_ascii_case("query") {
            let search = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("search"))
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| invalid("search is required"))?;
            let body: Value =
                serde_json::from_str(search).map_err(|_| invalid("search is not valid JSON"))?;
            return run_query(&sim, def, &body);
        }
        let num = parse_id(&id)?;
        let st = sim.lock();
        // Autotask answers an unknown id with 200 and a null item.
        let item = st
            .store
            .get(def.name, num)
            .map(|r| render_with(def, r))
            .unwrap_or(Value::Null);
        Ok(Json(json!({"item": item})).into_response())
    })();
    respond(result)
}

/// Runs `{"filter": [...], "IncludeFields": [...], "MaxRecords": n}` from the first page.
fn run_query(
    sim: &AutotaskSim,
    def: &'static EntityDef,
    body: &Value,
) -> Result<Response, Rejection> {
    let get = |k: &str| {
        body.as_object().and_then(|o| {
            o.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        })
    };
    let filter = get("filter").cloned().unwrap_or(Value::Null);
    at_filter::validate(&filter).map_err(invalid)?;
    let max_given = !matches!(get("MaxRecords"), None | Some(Value::Null));
    let max = match get("MaxRecords") {
        None | Some(Value::Null) => PAGE_SIZE,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=PAGE_SIZE as u64).contains(n))
            .ok_or_else(|| invalid("MaxRecords must be between 1 and 500"))?
            as usize,
    };
    let include = get("IncludeFields").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    let cursor = Cursor {
        entity: def.name,
        filter,
        include,
        max,
        max_given,
        after: 0,
    };
    Ok(page(sim, cursor))
}

/// One page of a query and the link to the next.
fn page(sim: &AutotaskSim, cursor: Cursor) -> Response {
    let Some(def) = entity_def(cursor.entity) else {
        return invalid("unknown entity").into_response();
    };
    let mut st = sim.lock();
    let (items, more) = {
        let mut rows = st
            .store
            .list_after(def.name, cursor.after)
            .map(|r| render_with(def, r))
            .filter(|r| at_filter::matches(&cursor.filter, r));
        let items: Vec<Value> = rows.by_ref().take(cursor.max).collect();
        (items, rows.next().is_some())
    };
    let last = items
        .last()
        .and_then(|r| r.get("id"))
        .and_then(Value::as_u64);
    let next = match last {
        Some(after) if more && !cursor.max_given => {
            let token = sim.core.guid();
            st.cursors.insert(
                token.clone(),
                Cursor {
                    after,
                    ..cursor.clone()
                },
            );
            Value::from(format!(
                "{}{API}/{}/query/next?paging={token}",
                sim.core.base_url(),
                def.name
            ))
        }
        _ => Value::Null,
    };
    let items: Vec<Value> = items
        .into_iter()
        .map(|r| project(r, cursor.include.as_deref()))
        .collect();
    Json(json!({
        "items": items,
        "pageDetails": {
            "count": items.len(),
            "requestCount": cursor.max,
            "prevPageUrl": Value::Null,
            "nextPageUrl": next,
        }
    }))
    .into_response()
}

fn project(rec: Value, include: Option<&[String]>) -> Value {
    let Some(fields) = include.filter(|f| !f.is_empty()) else {
        return rec;
    };
    match rec {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| k == "id" || fields.iter().any(|f| f.eq_ignore_ascii_case(k)))
                .collect(),
        ),
        other => other,
    }
}

async fn query_post(
    State(sim): State<Arc<AutotaskSim>>,
    Path((entity, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let result = (|| {
        if let Some(def) = webhook_entity_def(&entity) {
            if id.eq_ignore_ascii_case("query") {
                return Ok(hooks::query(&sim, def));
            }
        }
        let def = entity_or_404(&entity)?;
        if !id.eq_ignore_ascii_case("query") {
            return Err(reject(StatusCode::NOT_FOUND, "Not found"));
        }
        let body: Value = serde_json::from_slice(&body)
            .map_err(|_| invalid("The request body is not valid JSON"))?;
        run_query(&sim, def, &body)
    })();
    respond(result)
}

async fn create(
    State(sim): State<Arc<AutotaskSim>>,
    Path(entity): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let result = (|| {
        if let Some(def) = webhook_entity_def(&entity) {
            return hooks::create(&sim, def, &body, &caller);
        }
        let def = entity_or_404(&entity)?;
        let fields = parse_object(&body)?;
        let id = sim.create_record(def, fields, &caller)?;
        Ok(Json(json!({"itemId": id})).into_response())
    })();
    respond(result)
}

fn update_from_body(
    sim: &AutotaskSim,
    def: &'static EntityDef,
    body: &[u8],
    replace: bool,
    caller: &Caller,
    parent: Option<u64>,
) -> Result<Response, Rejection> {
    let mut fields = parse_object(body)?;
    let id = fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("id"))
        .and_then(|(_, v)| value_as_id(v))
        .ok_or_else(|| invalid("id is required in the body"))?;
    if let Some(parent) = parent {
        let owned = sim
            .lock()
            .store
            .get(def.name, id)
            .and_then(|r| r.fields.get("companyID").and_then(value_as_id))
            == Some(parent);
        if !owned {
            return Err(invalid(format!(
                "{} with id {id} was not found under company {parent}",
                def.name
            )));
        }
        fields.insert("companyID".into(), Value::from(parent));
    }
    let id = sim.update_record(def, id, fields, replace, caller)?;
    Ok(Json(json!({"itemId": id})).into_response())
}

async fn patch(
    State(sim): State<Arc<AutotaskSim>>,
    Path(entity): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let result = (|| {
        if let Some(def) = webhook_entity_def(&entity) {
            return hooks::patch(&sim, def, &body);
        }
        let def = entity_or_404(&entity)?;
        update_from_body(&sim, def, &body, false, &caller, None)
    })();
    respond(result)
}

async fn put(
    State(sim): State<Arc<AutotaskSim>>,
    Path(entity): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let result = entity_or_404(&entity)
        .and_then(|def| update_from_body(&sim, def, &body, true, &caller, None));
    respond(result)
}

async fn delete_hook(
    State(sim): State<Arc<AutotaskSim>>,
    Path((entity, id)): Path<(String, String)>,
) -> Response {
    match webhook_entity_def(&entity) {
        Some(def) => respond(hooks::delete(&sim, def, &id)),
        None => reject(
            StatusCode::METHOD_NOT_ALLOWED,
            "Delete is not supported for this entity",
        )
        .into_response(),
    }
}

/// `GET /{E}/query/next`, `GET /{E}/entityInformation/fields`, `GET /Companies/{id}/Contacts`,
/// `GET /{X}Webhooks/{id}/Fields|ExcludedResources`.
async fn child_get(
    State(sim): State<Arc<AutotaskSim>>,
    Path((entity, id, child)): Path<(String, String, String)>,
    Query(params): Query<Params>,
) -> Response {
    if let Some(def) = webhook_entity_def(&entity) {
        return respond(hooks::list_children(&sim, def, &id, &child));
    }
    if let Some(def) = webhook_fields_def(&entity) {
        if id.eq_ignore_ascii_case("entityInformation") && child.eq_ignore_ascii_case("fields") {
            return Json(webhook_fields_information(def)).into_response();
        }
        return reject(StatusCode::NOT_FOUND, "Not found").into_response();
    }
    let result = (|| {
        let def = entity_or_404(&entity)?;
        if id.eq_ignore_ascii_case("query") && child.eq_ignore_ascii_case("next") {
            let token = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("paging"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let cursor = sim.lock().cursors.remove(&token);
            return match cursor {
                Some(c) if c.entity == def.name => Ok(page(&sim, c)),
                _ => Err(invalid("The paging token is invalid or expired")),
            };
        }
        if id.eq_ignore_ascii_case("entityInformation") && child.eq_ignore_ascii_case("fields") {
            return Ok(Json(json!({"fields": field_information(&sim.lock(), def)})).into_response());
        }
        if def.name == "Companies" && child.eq_ignore_ascii_case("Contacts") {
            let company = parse_id(&id)?;
            let contacts = entity_def("Contacts").ok_or_else(|| invalid("no contacts"))?;
            let filter = json!([{"op": "eq", "field": "companyID", "value": company}]);
            return Ok(page(
                &sim,
                Cursor {
                    entity: contacts.name,
                    filter,
                    include: None,
                    max: PAGE_SIZE,
                    max_given: false,
                    after: 0,
                },
            ));
        }
        Err(reject(StatusCode::NOT_FOUND, "Not found"))
    })();
    respond(result)
}

/// `entityInformation/fields`: one description per field, picklists with their values.
fn field_information(st: &AtState, def: &EntityDef) -> Vec<Value> {
    def.fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let picklist = PICKLIST_FIELDS.contains(&(def.name, *f));
            let reference = REFERENCE_FIELDS
                .iter()
                .find(|(e, field, _)| *e == def.name && field == f)
                .map(|(_, _, target)| *target);
            let data_type = if *f == "id" || f.ends_with("ID") || picklist {
                "integer"
            } else if f.starts_with("is") {
                "boolean"
            } else if f.ends_with("Date") || f.ends_with("Time") || f.ends_with("DateTime") {
                "datetime"
            } else {
                "string"
            };
            let values: Value = if picklist {
                Value::Array(st.picklist(def.name, f).map(PicklistValue::wire).collect())
            } else {
                Value::Null
            };
            let length = MAX_LENGTHS
                .iter()
                .find(|(e, field, _)| *e == def.name && field == f)
                .map_or(0, |(_, _, max)| *max);
            json!({"name": f, "dataType": data_type, "length": length,
                "isRequired": def.required.contains(f),
                "isReadOnly": *f == "id" || *f == "createDate" || *f == def.modified_field,
                "isQueryable": true, "isReference": reference.is_some(),
                "referenceEntityType": reference.unwrap_or(""),
                "isPickList": picklist, "picklistValues": values,
                "picklistParentValueField": "",
                "isSupportedWebhookField": webhook_field_id(def, i).is_some()})
        })
        .collect()
}

/// `POST /{E}/query/count`, `POST /Companies/{id}/Contacts`, `POST /{X}Webhooks/{id}/Fields|…`.
async fn child_post(
    State(sim): State<Arc<AutotaskSim>>,
    Path((entity, id, child)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    if let Some(def) = webhook_entity_def(&entity) {
        return respond(hooks::add_child(&sim, def, &id, &child, &body));
    }
    let result = (|| {
        let def = entity_or_404(&entity)?;
        if id.eq_ignore_ascii_case("query") && child.eq_ignore_ascii_case("count") {
            let body: Value = serde_json::from_slice(&body)
                .map_err(|_| invalid("The request body is not valid JSON"))?;
            let filter = body
                .as_object()
                .and_then(|o| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("filter"))
                        .map(|(_, v)| v.clone())
                })
                .unwrap_or(Value::Null);
            at_filter::validate(&filter).map_err(invalid)?;
            let st = sim.lock();
            let n = st
                .store
                .list(def.name)
                .map(|r| render_with(def, r))
                .filter(|r| at_filter::matches(&filter, r))
                .count();
            return Ok(Json(json!({"queryCount": n})).into_response());
        }
        if def.name == "Companies" && child.eq_ignore_ascii_case("Contacts") {
            let company = parse_id(&id)?;
            let contacts = entity_def("Contacts").ok_or_else(|| invalid("no contacts"))?;
            let mut fields = parse_object(&body)?;
            fields.insert("companyID".into(), Value::from(company));
            let new_id = sim.create_record(contacts, fields, &caller)?;
            return Ok(Json(json!({"itemId": new_id})).into_response());
        }
        Err(reject(StatusCode::NOT_FOUND, "Not found"))
    })();
    respond(result)
}

/// `PATCH /Companies/{id}/Contacts` (id of the contact in the body).
async fn child_patch(
    State(sim): State<Arc<AutotaskSim>>,
    Path((entity, id, child)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let def = entity_or_404(&entity)?;
        if def.name != "Companies" || !child.eq_ignore_ascii_case("Contacts") {
            return Err(reject(StatusCode::NOT_FOUND, "Not found"));
        }
        let company = parse_id(&id)?;
        let contacts = entity_def("Contacts").ok_or_else(|| invalid("no contacts"))?;
        update_from_body(&sim, contacts, &body, false, &caller, Some(company))
    })();
    respond(result)
}

async fn child_delete(
    State(sim): State<Arc<AutotaskSim>>,
    Path((entity, id, child, cid)): Path<(String, String, String, String)>,
) -> Response {
    match webhook_entity_def(&entity) {
        Some(def) => respond(hooks::delete_child(&sim, def, &id, &child, &cid)),
        None => reject(StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}

fn known(collection: &str) -> Result<&'static EntityDef, AdminError> {
    entity_def(collection).ok_or_else(|| AdminError::UnknownCollection(collection.into()))
}

impl AdminOps for AutotaskSim {
    fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Seeds `Companies`, `Contacts`, `ConfigurationItems` or `Products` in Autotask's field
    /// names (optional `id`), or `Picklists` values (`{"entity", "field", "value", "label",
    /// "isActive"?}`; a value already there is replaced). No webhooks, no write log.
    fn seed(&self, collection: &str, records: Vec<Value>) -> Result<Vec<Value>, AdminError> {
        if collection.eq_ignore_ascii_case(PICKLISTS) {
            let values = records
                .iter()
                .map(PicklistValue::parse)
                .collect::<Result<Vec<_>, _>>()?;
            let mut st = self.lock();
            for v in &values {
                st.picklists.retain(|p| {
                    !(p.entity == v.entity && p.field == v.field && p.value == v.value)
                });
                st.picklists.push(v.clone());
            }
            return Ok(values.iter().map(PicklistValue::to_json).collect());
        }
        let def = known(collection)?;
        let now = self.core.clock.now_millis();
        let mut st = self.lock();
        let mut out = Vec::with_capacity(records.len());
        for rec in records {
            let Value::Object(mut fields) = rec else {
                return Err(AdminError::Invalid("records must be objects".into()));
            };
            normalise_keys(def, &mut fields);
            let id = fields.remove("id").as_ref().and_then(value_as_id);
            fields.remove("createDate");
            fields.remove(def.modified_field);
            let id = st.store.insert(def.name, id, fields, Map::new(), now);
            if let Some(r) = st.store.get(def.name, id) {
                out.push(render_with(def, r));
            }
        }
        Ok(out)
    }

    fn state(&self, collection: &str) -> Result<Vec<Value>, AdminError> {
        if collection.eq_ignore_ascii_case(PICKLISTS) {
            return Ok(self
                .lock()
                .picklists
                .iter()
                .map(PicklistValue::to_json)
                .collect());
        }
        let def = known(collection)?;
        Ok(self
            .lock()
            .store
            .list(def.name)
            .map(|r| render_with(def, r))
            .collect())
    }

    fn edit(
        &self,
        collection: &str,
        id: &str,
        user: &str,
        fields: Map<String, Value>,
    ) -> Result<Value, AdminError> {
        let def = known(collection)?;
        let num = id
            .parse::<u64>()
            .map_err(|_| AdminError::NotFound(id.into()))?;
        let caller = Caller {
            username: user.to_owned(),
            resource_id: self.resource_of(user),
        };
        self.update_record(def, num, fields, false, &caller)
            .map_err(AdminError::from)?;
        self.lock()
            .store
            .get(def.name, num)
            .map(|r| render_with(def, r))
            .ok_or_else(|| AdminError::NotFound(id.into()))
    }

    fn delete(&self, collection: &str, id: &str, user: &str) -> Result<(), AdminError> {
        let def = known(collection)?;
        let num = id
            .parse::<u64>()
            .map_err(|_| AdminError::NotFound(id.into()))?;
        let caller = Caller {
            username: user.to_owned(),
            resource_id: self.resource_of(user),
        };
        self.delete_record(def, num, &caller)
            .map_err(AdminError::from)
    }
}
