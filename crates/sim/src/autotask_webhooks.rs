//! Autotask webhooks (webhooks.md §2): registration resources and the callouts they produce.
//!
//! Resources: `CompanyWebhooks`, `ContactWebhooks`, `ConfigurationItemWebhooks` (create → `itemId`,
//! `GET /{id}`, `POST /query`, `PATCH` with the id in the body, `DELETE /{id}`), their
//! `/{id}/Fields` (`FieldID` = a value of the `fieldID` picklist of
//! `GET /{Singular}WebhookFields/entityInformation/fields`, any other id is refused;
//! `IsSubscribedField`, `IsDisplayAlwaysField`) and `/{id}/ExcludedResources` (`ResourceID`). A webhook is ready once it
//! has a subscribed field.
//!
//! Callouts: `{"Action","Guid","EntityType","Id","Fields","EventTime","SequenceNumber","PersonId"}`
//! where `Fields` holds only the subscribed fields that changed (all subscribed fields on a
//! create) plus the display-always fields; an update that changes no subscribed field sends
//! nothing; deletes carry `Fields: {}`. Changes by an excluded resource send nothing. Header
//! `X-Hook-Signature: sha1=base64(HMAC-SHA1(SecretKey, body))`, optionally computed over the
//! .NET-escaped body (`PUT /_admin/signing-mode {"mode":"escaped"}`), as Autotask appears to do.
//!
//! Delivery (§2.5) runs on the simulated clock: one FIFO queue per webhook; a callout times out
//! after 10 s; a failed callout is retried after 30 s, at most 5 attempts (2 minutes), then
//! dropped; after 25 consecutive failed attempts the webhook is deactivated and its
//! `DeactivationUrl` receives an `Action: "Deactivated"` notice (also sent when the webhook is
//! deleted or set inactive through the API).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Json;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha1::Sha1;
use tokio::sync::mpsc;

use crate::autotask::{invalid, reject, AtState, AutotaskSim, Caller, EntityDef};
use crate::clock::format_seconds;
use crate::core::{Core, Rejection};
use crate::delivery::{post_once, Outgoing};
use crate::dotnet_escape;
use crate::store::value_as_id;

/// Attempts per callout and the pause between them (§2.5).
const ATTEMPTS: u32 = 5;
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// A callout's timeout in simulated time, and a real-time floor so a fast clock never times out
/// a healthy local receiver.
const CALLOUT_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_REAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Consecutive failed attempts after which a webhook is deactivated.
const DEACTIVATE_AFTER: u32 = 25;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    Create,
    Update,
    Delete,
}

impl HookAction {
    fn as_str(self) -> &'static str {
        match self {
            HookAction::Create => "Create",
            HookAction::Update => "Update",
            HookAction::Delete => "Delete",
        }
    }
}

/// Which bytes the signature covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningMode {
    /// The body as sent.
    #[default]
    Raw,
    /// The .NET-escaped form of the body (webhooks.md §2.3).
    Escaped,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookField {
    pub id: u64,
    #[serde(rename = "fieldID")]
    pub field_id: u64,
    pub is_subscribed_field: bool,
    pub is_display_always_field: bool,
    #[serde(rename = "webhookID")]
    pub webhook_id: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Excluded {
    pub id: u64,
    #[serde(rename = "resourceID")]
    pub resource_id: u64,
    #[serde(rename = "webhookID")]
    pub webhook_id: u64,
}

/// A registered webhook.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: u64,
    #[serde(skip)]
    pub entity: &'static str,
    pub name: String,
    pub webhook_url: String,
    pub deactivation_url: String,
    #[serde(skip)]
    pub secret_key: String,
    pub is_active: bool,
    pub is_ready: bool,
    pub is_subscribed_to_create_events: bool,
    pub is_subscribed_to_update_events: bool,
    pub is_subscribed_to_delete_events: bool,
    pub notification_email_address: Option<String>,
    #[serde(rename = "ownerResourceID")]
    pub owner_resource_id: u64,
    pub send_threshold_exceeded_notification: bool,
    #[serde(rename = "webhookGUID")]
    pub webhook_guid: String,
    #[serde(skip)]
    pub fields: Vec<HookField>,
    #[serde(skip)]
    pub excluded: Vec<Excluded>,
    /// Consecutive failed attempts (simulator bookkeeping, shown by the admin API).
    #[serde(skip)]
    pub failures: u32,
    #[serde(skip)]
    pub sequence: u64,
}

/// Webhook registrations and their queues.
#[derive(Debug, Default)]
pub(crate) struct HookState {
    hooks: Vec<Webhook>,
    last_id: u64,
    last_child_id: u64,
    queues: HashMap<u64, mpsc::UnboundedSender<Vec<u8>>>,
    mode: SigningMode,
}

fn field_of<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn get_str(o: &Map<String, Value>, key: &str) -> Option<String> {
    field_of(o, key).and_then(Value::as_str).map(str::to_owned)
}

fn get_bool(o: &Map<String, Value>, key: &str) -> Option<bool> {
    match field_of(o, key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_u64() != Some(0)),
        _ => None,
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(invalid("The request body must be a JSON object")),
    }
}

fn check_lengths(o: &Map<String, Value>) -> Result<(), Rejection> {
    let limits = [
        ("Name", 50),
        ("SecretKey", 64),
        ("WebhookUrl", 500),
        ("DeactivationUrl", 500),
        ("NotificationEmailAddress", 150),
    ];
    for (key, max) in limits {
        if get_str(o, key).is_some_and(|v| v.chars().count() > max) {
            return Err(invalid(format!("{key} is longer than {max} characters")));
        }
    }
    Ok(())
}

fn find<'a>(st: &'a mut AtState, def: &EntityDef, id: u64) -> Option<&'a mut Webhook> {
    st.hooks
        .hooks
        .iter_mut()
        .find(|h| h.id == id && h.entity == def.webhook_entity)
}

fn parse_id(id: &str) -> Result<u64, Rejection> {
    id.parse()
        .map_err(|_| reject(StatusCode::NOT_FOUND, format!("Invalid id {id}")))
}

/// `POST /{X}Webhooks`.
pub(crate) fn create(
    sim: &Arc<AutotaskSim>,
    def: &'static EntityDef,
    body: &[u8],
    caller: &Caller,
) -> Result<Response, Rejection> {
    let o = parse_object(body)?;
    check_lengths(&o)?;
    let required = |k: &str| {
        get_str(&o, k)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid(format!("{k} is required")))
    };
    let webhook_url = required("WebhookUrl")?;
    let deactivation_url = required("DeactivationUrl")?;
    let name = required("Name")?;
    let secret_key = required("SecretKey")?;
    let guid = sim.core.guid();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut st = sim.lock();
    st.hooks.last_id += 1;
    let id = st.hooks.last_id;
    st.hooks.hooks.push(Webhook {
        id,
        entity: def.webhook_entity,
        name,
        webhook_url,
        deactivation_url,
        secret_key,
        is_active: get_bool(&o, "IsActive").unwrap_or(true),
        is_ready: false,
        is_subscribed_to_create_events: get_bool(&o, "IsSubscribedToCreateEvents").unwrap_or(false),
        is_subscribed_to_update_events: get_bool(&o, "IsSubscribedToUpdateEvents").unwrap_or(false),
        is_subscribed_to_delete_events: get_bool(&o, "IsSubscribedToDeleteEvents").unwrap_or(false),
        notification_email_address: get_str(&o, "NotificationEmailAddress"),
        owner_resource_id: caller.resource_id,
        send_threshold_exceeded_notification: get_bool(&o, "SendThresholdExceededNotification")
            .unwrap_or(false),
        webhook_guid: guid,
        fields: vec![],
        excluded: vec![],
        failures: 0,
        sequence: 0,
    });
    st.hooks.queues.insert(id, tx);
    tokio::spawn(run_queue(sim.clone(), id, rx));
    Ok(Json(json!({"itemId": id})).into_response())
}

pub(crate) fn show(sim: &AutotaskSim, def: &EntityDef, id: &str) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let mut st = sim.lock();
    let item = find(&mut st, def, num)
        .map(|h| serde_json::to_value(&*h).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    Ok(Json(json!({"item": item})).into_response())
}

pub(crate) fn query(sim: &AutotaskSim, def: &EntityDef) -> Response {
    let st = sim.lock();
    let items: Vec<Value> = st
        .hooks
        .hooks
        .iter()
        .filter(|h| h.entity == def.webhook_entity)
        .map(|h| serde_json::to_value(h).unwrap_or(Value::Null))
        .collect();
    Json(
        json!({"items": items, "pageDetails": {"count": items.len(), "requestCount": 500,
        "prevPageUrl": Value::Null, "nextPageUrl": Value::Null}}),
    )
    .into_response()
}

/// `PATCH /{X}Webhooks` with the id in the body.
pub(crate) fn patch(
    sim: &AutotaskSim,
    def: &EntityDef,
    body: &[u8],
) -> Result<Response, Rejection> {
    let o = parse_object(body)?;
    check_lengths(&o)?;
    let id = field_of(&o, "id")
        .and_then(value_as_id)
        .ok_or_else(|| invalid("id is required in the body"))?;
    let mut st = sim.lock();
    let mode = st.hooks.mode;
    let hook =
        find(&mut st, def, id).ok_or_else(|| invalid(format!("Webhook {id} was not found")))?;
    let was_active = hook.is_active;
    if let Some(v) = get_str(&o, "Name") {
        hook.name = v;
    }
    if let Some(v) = get_str(&o, "WebhookUrl") {
        hook.webhook_url = v;
    }
    if let Some(v) = get_str(&o, "DeactivationUrl") {
        hook.deactivation_url = v;
    }
    if let Some(v) = get_str(&o, "SecretKey") {
        hook.secret_key = v;
    }
    if let Some(v) = get_str(&o, "NotificationEmailAddress") {
        hook.notification_email_address = Some(v);
    }
    let flags: [(&str, &mut bool); 4] = [
        ("IsActive", &mut hook.is_active),
        (
            "IsSubscribedToCreateEvents",
            &mut hook.is_subscribed_to_create_events,
        ),
        (
            "IsSubscribedToUpdateEvents",
            &mut hook.is_subscribed_to_update_events,
        ),
        (
            "IsSubscribedToDeleteEvents",
            &mut hook.is_subscribed_to_delete_events,
        ),
    ];
    for (key, slot) in flags {
        if let Some(v) = get_bool(&o, key) {
            *slot = v;
        }
    }
    if hook.is_active && !was_active {
        hook.failures = 0;
    }
    if was_active && !hook.is_active {
        let notice = deactivation_notice(&sim.core, hook);
        send_notice(&sim.core, notice, mode);
    }
    Ok(Json(json!({"itemId": id})).into_response())
}

/// `DELETE /{X}Webhooks/{id}`: the DeactivationUrl hears about it.
pub(crate) fn delete(sim: &AutotaskSim, def: &EntityDef, id: &str) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let mut st = sim.lock();
    let hook = find(&mut st, def, num)
        .map(|h| h.clone())
        .ok_or_else(|| invalid(format!("Webhook {num} was not found")))?;
    st.hooks.hooks.retain(|h| h.id != num);
    st.hooks.queues.remove(&num);
    let mode = st.hooks.mode;
    send_notice(&sim.core, deactivation_notice(&sim.core, &hook), mode);
    Ok(Json(json!({"itemId": num})).into_response())
}

pub(crate) fn list_children(
    sim: &AutotaskSim,
    def: &EntityDef,
    id: &str,
    child: &str,
) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let mut st = sim.lock();
    let hook = find(&mut st, def, num)
        .ok_or_else(|| reject(StatusCode::NOT_FOUND, "Webhook not found"))?;
    let items: Vec<Value> = if child.eq_ignore_ascii_case("Fields") {
        hook.fields
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or(Value::Null))
            .collect()
    } else if child.eq_ignore_ascii_case("ExcludedResources") {
        hook.excluded
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect()
    } else {
        return Err(reject(StatusCode::NOT_FOUND, "Not found"));
    };
    Ok(Json(
        json!({"items": items, "pageDetails": {"count": items.len(), "requestCount": 500,
        "prevPageUrl": Value::Null, "nextPageUrl": Value::Null}}),
    )
    .into_response())
}

/// `POST /{X}Webhooks/{id}/Fields` or `/ExcludedResources`.
pub(crate) fn add_child(
    sim: &AutotaskSim,
    def: &'static EntityDef,
    id: &str,
    child: &str,
    body: &[u8],
) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let o = parse_object(body)?;
    let mut st = sim.lock();
    st.hooks.last_child_id += 1;
    let child_id = st.hooks.last_child_id;
    let hook =
        find(&mut st, def, num).ok_or_else(|| invalid(format!("Webhook {num} was not found")))?;
    if child.eq_ignore_ascii_case("Fields") {
        let field_id = field_of(&o, "FieldID")
            .and_then(value_as_id)
            .filter(|f| crate::autotask::webhook_field_name(def, *f).is_some())
            .ok_or_else(|| {
                invalid(format!(
                    "Value does not reference an existing entity for fieldID (see {}WebhookFields/entityInformation/fields).",
                    def.webhook_entity
                ))
            })?;
        hook.fields.retain(|f| f.field_id != field_id);
        hook.fields.push(HookField {
            id: child_id,
            field_id,
            is_subscribed_field: get_bool(&o, "IsSubscribedField").unwrap_or(false),
            is_display_always_field: get_bool(&o, "IsDisplayAlwaysField").unwrap_or(false),
            webhook_id: num,
        });
        hook.is_ready = hook.fields.iter().any(|f| f.is_subscribed_field);
    } else if child.eq_ignore_ascii_case("ExcludedResources") {
        let resource_id = field_of(&o, "ResourceID")
            .and_then(value_as_id)
            .ok_or_else(|| invalid("ResourceID is required"))?;
        hook.excluded.push(Excluded {
            id: child_id,
            resource_id,
            webhook_id: num,
        });
    } else {
        return Err(reject(StatusCode::NOT_FOUND, "Not found"));
    }
    Ok(Json(json!({"itemId": child_id})).into_response())
}

pub(crate) fn delete_child(
    sim: &AutotaskSim,
    def: &EntityDef,
    id: &str,
    child: &str,
    cid: &str,
) -> Result<Response, Rejection> {
    let num = parse_id(id)?;
    let child_id = parse_id(cid)?;
    let mut st = sim.lock();
    let hook =
        find(&mut st, def, num).ok_or_else(|| invalid(format!("Webhook {num} was not found")))?;
    if child.eq_ignore_ascii_case("Fields") {
        hook.fields.retain(|f| f.id != child_id);
        hook.is_ready = hook.fields.iter().any(|f| f.is_subscribed_field);
    } else if child.eq_ignore_ascii_case("ExcludedResources") {
        hook.excluded.retain(|e| e.id != child_id);
    } else {
        return Err(reject(StatusCode::NOT_FOUND, "Not found"));
    }
    Ok(Json(json!({"itemId": child_id})).into_response())
}

/// The callout body, in Autotask's field order.
#[derive(Serialize)]
struct Callout<'a> {
    #[serde(rename = "Action")]
    action: &'a str,
    #[serde(rename = "Guid")]
    guid: &'a str,
    #[serde(rename = "EntityType")]
    entity_type: &'a str,
    #[serde(rename = "Id")]
    id: u64,
    #[serde(rename = "Fields")]
    fields: BTreeMap<String, Value>,
    #[serde(rename = "EventTime")]
    event_time: String,
    #[serde(rename = "SequenceNumber")]
    sequence_number: u64,
    #[serde(rename = "PersonId")]
    person_id: u64,
}

/// `companyName` → `CompanyName`, as callout field names are written.
fn pascal(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Queues the callouts one change produces. Called with the state locked, right after the write.
#[allow(clippy::too_many_arguments)]
pub(crate) fn on_change(
    sim: &AutotaskSim,
    st: &mut AtState,
    def: &EntityDef,
    action: HookAction,
    id: u64,
    after: Option<&Value>,
    changed: &[String],
    person: u64,
) {
    let now = sim.core.clock.now_millis();
    let HookState { hooks, queues, .. } = &mut st.hooks;
    for hook in hooks.iter_mut().filter(|h| h.entity == def.webhook_entity) {
        if !hook.is_active
            || !hook.is_ready
            || hook.excluded.iter().any(|e| e.resource_id == person)
        {
            continue;
        }
        let name_of = |f: &HookField| crate::autotask::webhook_field_name(def, f.field_id);
        let subscribed: Vec<&str> = hook
            .fields
            .iter()
            .filter(|f| f.is_subscribed_field)
            .filter_map(name_of)
            .collect();
        let display: Vec<&str> = hook
            .fields
            .iter()
            .filter(|f| f.is_display_always_field)
            .filter_map(name_of)
            .collect();
        let include: Vec<&str> = match action {
            HookAction::Create if hook.is_subscribed_to_create_events => {
                subscribed.iter().chain(display.iter()).copied().collect()
            }
            HookAction::Update if hook.is_subscribed_to_update_events => {
                let hit: Vec<&str> = subscribed
                    .iter()
                    .copied()
                    .filter(|s| changed.iter().any(|c| c.eq_ignore_ascii_case(s)))
                    .collect();
                if hit.is_empty() {
                    continue;
                }
                hit.into_iter().chain(display.iter().copied()).collect()
            }
            HookAction::Delete if hook.is_subscribed_to_delete_events => vec![],
            _ => continue,
        };
        let fields: BTreeMap<String, Value> = include
            .into_iter()
            .map(|f| {
                let v = after.and_then(|a| a.get(f)).cloned().unwrap_or(Value::Null);
                (pascal(f), v)
            })
            .collect();
        hook.sequence += 1;
        let body = Callout {
            action: action.as_str(),
            guid: &hook.webhook_guid,
            entity_type: def.webhook_entity,
            id,
            fields,
            event_time: format_seconds(now),
            sequence_number: hook.sequence,
            person_id: person,
        };
        if let (Ok(bytes), Some(tx)) = (serde_json::to_vec(&body), queues.get(&hook.id)) {
            let _ = tx.send(bytes);
        }
    }
}

/// `sha1=base64(HMAC-SHA1(secret, bytes))`.
pub fn sign(secret: &str, bytes: &[u8]) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(bytes);
    format!("sha1={}", B64.encode(mac.finalize().into_bytes()))
}

fn signature(secret: &str, body: &[u8], mode: SigningMode) -> String {
    match mode {
        SigningMode::Raw => sign(secret, body),
        SigningMode::Escaped => {
            let escaped = dotnet_escape::escape(&String::from_utf8_lossy(body));
            sign(secret, escaped.as_bytes())
        }
    }
}

/// A `Deactivated` notice for the webhook's DeactivationUrl.
fn deactivation_notice(core: &Core, hook: &Webhook) -> Outgoing {
    let body = Callout {
        action: "Deactivated",
        guid: &hook.webhook_guid,
        entity_type: hook.entity,
        id: hook.id,
        fields: BTreeMap::new(),
        event_time: format_seconds(core.clock.now_millis()),
        sequence_number: hook.sequence + 1,
        person_id: hook.owner_resource_id,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Outgoing {
        url: hook.deactivation_url.clone(),
        headers: vec![("X-Hook-Signature".into(), hook.secret_key.clone())],
        body: bytes,
    }
}

/// Signs (the secret travels in the header slot until here) and sends a notice once.
fn send_notice(core: &Arc<Core>, mut notice: Outgoing, mode: SigningMode) {
    let secret = notice
        .headers
        .first()
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    notice.headers = vec![(
        "X-Hook-Signature".into(),
        signature(&secret, &notice.body, mode),
    )];
    let core = core.clone();
    tokio::spawn(async move {
        let timeout = core.clock.to_real(CALLOUT_TIMEOUT).max(MIN_REAL_TIMEOUT);
        let _ = post_once(&core, &notice, timeout).await;
    });
}

/// One webhook's FIFO: applies delivery faults, then delivers with retries.
async fn run_queue(sim: Arc<AutotaskSim>, hook_id: u64, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut held: Option<Vec<u8>> = None;
    loop {
        let next = tokio::select! {
            _ = sim.core.shutdown_signal() => return,
            job = rx.recv() => job,
            _ = tokio::time::sleep(sim.core.faults.plan().delivery.reorder_hold()), if held.is_some() => {
                if let Some(h) = held.take() {
                    deliver(&sim, hook_id, &h).await;
                }
                continue;
            }
        };
        let Some(body) = next else { return };
        let d = sim.core.faults.delivery();
        if d.drop {
            continue;
        }
        if d.reorder && held.is_none() {
            held = Some(body);
            continue;
        }
        deliver(&sim, hook_id, &body).await;
        if d.duplicate {
            deliver(&sim, hook_id, &body).await;
        }
        if let Some(h) = held.take() {
            deliver(&sim, hook_id, &h).await;
        }
    }
}

/// Delivers one callout: up to 5 attempts 30 s apart; counts consecutive failures and
/// deactivates the webhook at 25.
async fn deliver(sim: &Arc<AutotaskSim>, hook_id: u64, body: &[u8]) {
    for attempt in 1..=ATTEMPTS {
        let target = {
            let st = sim.lock();
            st.hooks
                .hooks
                .iter()
                .find(|h| h.id == hook_id && h.is_active)
                .map(|h| {
                    (
                        h.webhook_url.clone(),
                        signature(&h.secret_key, body, st.hooks.mode),
                    )
                })
        };
        let Some((url, sig)) = target else { return };
        let out = Outgoing {
            url,
            headers: vec![("X-Hook-Signature".into(), sig)],
            body: body.to_vec(),
        };
        let timeout = sim
            .core
            .clock
            .to_real(CALLOUT_TIMEOUT)
            .max(MIN_REAL_TIMEOUT);
        let ok =
            matches!(post_once(&sim.core, &out, timeout).await, Ok(s) if (200..300).contains(&s));
        {
            let mut st = sim.lock();
            let mode = st.hooks.mode;
            let Some(hook) = st.hooks.hooks.iter_mut().find(|h| h.id == hook_id) else {
                return;
            };
            if ok {
                hook.failures = 0;
                return;
            }
            hook.failures += 1;
            if hook.failures >= DEACTIVATE_AFTER {
                hook.is_active = false;
                let notice = deactivation_notice(&sim.core, hook);
                send_notice(&sim.core, notice, mode);
                return;
            }
        }
        if attempt < ATTEMPTS {
            tokio::select! {
                _ = sim.core.clock.sleep(RETRY_AFTER) => {}
                _ = sim.core.shutdown_signal() => return,
            }
        }
    }
}

#[derive(Deserialize)]
struct ModeBody {
    mode: SigningMode,
}

/// Admin view of a webhook, with the simulator's bookkeeping.
#[derive(Serialize)]
struct HookView {
    #[serde(flatten)]
    hook: Webhook,
    entity_type: &'static str,
    consecutive_failures: u32,
    fields: Vec<HookField>,
    excluded_resources: Vec<Excluded>,
}

async fn admin_hooks(State(sim): State<Arc<AutotaskSim>>) -> Json<Vec<HookView>> {
    let st = sim.lock();
    Json(
        st.hooks
            .hooks
            .iter()
            .map(|h| HookView {
                hook: h.clone(),
                entity_type: h.entity,
                consecutive_failures: h.failures,
                fields: h.fields.clone(),
                excluded_resources: h.excluded.clone(),
            })
            .collect(),
    )
}

async fn admin_mode(State(sim): State<Arc<AutotaskSim>>, Json(b): Json<ModeBody>) -> StatusCode {
    sim.lock().hooks.mode = b.mode;
    StatusCode::NO_CONTENT
}

/// `GET /_admin/webhooks`, `PUT /_admin/signing-mode`.
pub(crate) fn admin_routes(sim: Arc<AutotaskSim>) -> Router {
    Router::new()
        .route("/_admin/webhooks", get(admin_hooks))
        .route("/_admin/signing-mode", put(admin_mode))
        .with_state(sim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_vectors_of_webhooks_md_2_6() {
        let body = br#"{"Action":"Create","Guid":"a1da62a4-2c49-40a8-8183-69994ce5b3eb","EntityType":"Ticket","Id":351181,"Fields":{"TicketNumber":"T20250915.0001"},"EventTime":"2025-09-15T14:57:50Z","SequenceNumber":1,"PersonId":30691780}"#;
        assert_eq!(
            sign("test-secret-key", body),
            "sha1=02QVqjN/QURNucB0Wv+9CyoRUhM="
        );
        let wire = br#"{"Fields":{"Title":"R&D"}}"#;
        assert_eq!(
            signature("test-secret-key", wire, SigningMode::Raw),
            "sha1=/BWgRMeXusmDCO9X6fYsxcQrYII="
        );
        assert_eq!(
            signature("test-secret-key", wire, SigningMode::Escaped),
            "sha1=MNZgyJyGspAIPCoLpvU6vzrfL0c="
        );
    }

    #[test]
    fn callout_field_order_matches_autotask() {
        let c = Callout {
            action: "Create",
            guid: "g",
            entity_type: "Company",
            id: 1,
            fields: BTreeMap::new(),
            event_time: "t".into(),
            sequence_number: 1,
            person_id: 2,
        };
        let s = serde_json::to_string(&c).unwrap_or_default();
        assert_eq!(
            s,
            r#"{"Action":"Create","Guid":"g","EntityType":"Company","Id":1,"Fields":{},"EventTime":"t","SequenceNumber":1,"PersonId":2}"#
        );
        assert_eq!(pascal("companyName"), "CompanyName");
    }
}
