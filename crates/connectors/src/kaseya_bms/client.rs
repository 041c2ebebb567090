//! The BMS v2 client: configuration, the bearer token, one call through the
//! `{success, error, result}` envelope, and reads by id. Listings are in `listing`, writes in
//! `writes`, the field table in `fields`.

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use syncbridge_model::{Entity, PsaKind, Record};

use super::fields::{location_record, split_location_id, to_record};
use super::lookups::Tables;
use crate::endpoint;
use crate::error::{excerpt, Error, Result};
use crate::http::{Http, HttpStats, Retry};
use crate::itglue::encode_segment;
use crate::policy::{HttpPolicy, RateBudget};
use crate::secret::ApiSecret;
use crate::wire::path_text;

/// Which platform the v2 API belongs to: the same protocol, different capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmsFlavor {
    KaseyaBms,
    /// Pulseway PSA: no location sync.
    PulsewayPsa,
}

impl BmsFlavor {
    /// The platform as the configuration names it (`kaseya-bms`, `pulseway-psa`).
    fn kind(self) -> PsaKind {
        match self {
            BmsFlavor::KaseyaBms => PsaKind::KaseyaBms,
            BmsFlavor::PulsewayPsa => PsaKind::PulsewayPsa,
        }
    }

    /// The platform's name, for errors.
    fn vendor(self) -> &'static str {
        match self {
            BmsFlavor::KaseyaBms => "Kaseya BMS",
            BmsFlavor::PulsewayPsa => "Pulseway PSA",
        }
    }
}

/// How to reach one Kaseya BMS or Pulseway PSA tenant.
#[derive(Debug, Clone)]
pub struct BmsConfig {
    /// `https://api.bms.kaseya.com` (or the EMEA/APAC host, or `https://api.psa.pulseway.com`).
    pub base_url: String,
    pub flavor: BmsFlavor,
    pub username: String,
    pub password: ApiSecret,
    pub tenant: String,
    /// `businessTypeId` and `accountManagerId` of accounts we create (both required by BMS).
    pub business_type_id: u64,
    pub account_manager_id: u64,
    /// Asset lookup entries (id, name) pinned on top of the tables loaded from the API (they
    /// win on a name found in both). Empty by default: the vendor's tables are the truth.
    pub asset_categories: Vec<(u64, String)>,
    pub asset_states: Vec<(u64, String)>,
    pub manufacturers: Vec<(u64, String)>,
    /// `PageSize` asked for (default 100, what public clients use; the vendor's maximum is not
    /// published and a smaller server cap is handled by counting rows, see `list_rows`).
    pub page_size: u32,
    pub http: HttpPolicy,
}

impl BmsConfig {
    pub fn new(
        base_url: impl Into<String>,
        flavor: BmsFlavor,
        username: impl Into<String>,
        password: impl Into<ApiSecret>,
        tenant: impl Into<String>,
    ) -> Self {
        BmsConfig {
            base_url: base_url.into(),
            flavor,
            username: username.into(),
            password: password.into(),
            tenant: tenant.into(),
            business_type_id: 1,
            account_manager_id: 1,
            asset_categories: Vec::new(),
            asset_states: Vec::new(),
            manufacturers: Vec::new(),
            page_size: 100,
            http: HttpPolicy {
                rate_per_endpoint: true,
                ..HttpPolicy::default()
            }
            .with_rate(Some(
                RateBudget::per(750, Duration::from_secs(3600)).with_burst(5),
            )),
        }
    }
}

/// A Kaseya BMS / Pulseway PSA client.
#[derive(Debug)]
pub struct BmsClient {
    pub(super) http: Http,
    base: String,
    flavor: BmsFlavor,
    username: String,
    password: ApiSecret,
    tenant: String,
    pub(super) business_type_id: u64,
    pub(super) account_manager_id: u64,
    pub(super) page_size: u32,
    token: tokio::sync::Mutex<Option<HeaderValue>>,
    /// Name → id tables, loaded from the API, pinned by the config and learned from reads.
    pub(super) lookups: Tables,
}

/// `POST /v2/crm/accounts/12` → `POST /v2/crm/accounts/{id}` (BMS counts per endpoint).
fn endpoint_key(method: &Method, path: &str) -> String {
    endpoint::template(&format!("{method} {path}"))
}

impl BmsClient {
    pub fn new(config: BmsConfig) -> Result<Self> {
        let http = Http::new(
            config.flavor.kind().as_str(),
            config.http,
            vec![config.password.clone()],
        )?;
        let lookups = Tables::new(
            config.flavor.vendor(),
            &config.asset_categories,
            &config.asset_states,
            &config.manufacturers,
        );
        Ok(BmsClient {
            http,
            base: config.base_url.trim_end_matches('/').to_owned(),
            flavor: config.flavor,
            username: config.username,
            password: config.password,
            tenant: config.tenant,
            business_type_id: config.business_type_id,
            account_manager_id: config.account_manager_id,
            page_size: config.page_size.clamp(1, 1000),
            token: tokio::sync::Mutex::new(None),
            lookups,
        })
    }

    pub fn flavor(&self) -> BmsFlavor {
        self.flavor
    }

    pub fn stats(&self) -> HttpStats {
        self.http.stats()
    }

    pub(super) fn vendor(&self) -> &'static str {
        self.flavor.vendor()
    }

    pub(super) fn check_entity(&self, entity: Entity) -> Result<()> {
        if entity == Entity::Location && self.flavor == BmsFlavor::PulsewayPsa {
            return Err(Error::unsupported_entity(self.vendor(), entity));
        }
        Ok(())
    }

    /// The bearer token, authenticating when there is none.
    async fn bearer(&self) -> Result<HeaderValue> {
        let mut token = self.token.lock().await;
        if let Some(t) = token.as_ref() {
            return Ok(t.clone());
        }
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grantType", "password")
            .append_pair("userName", &self.username)
            .append_pair("password", self.password.expose())
            .append_pair("tenant", &self.tenant)
            .finish();
        let url = format!("{}/v2/security/authenticate", self.base);
        let reply = self
            .http
            .send("POST /v2/security/authenticate", Retry::Idempotent, |c| {
                c.post(&url)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.clone())
            })
            .await?;
        let doc = reply.json()?;
        let access =
            path_text(&doc, &["result", "accessToken"]).ok_or(Error::Auth { status: 401 })?;
        let mut value = HeaderValue::from_str(&format!("Bearer {access}"))
            .map_err(|_| Error::malformed("bad token"))?;
        value.set_sensitive(true);
        *token = Some(value.clone());
        Ok(value)
    }

    /// One API call; unwraps the envelope into its `result` (and `totalRecords`).
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Value>,
        retry: Retry,
    ) -> Result<(Value, Option<u64>)> {
        let mut url = url::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Error::InvalidInput(format!("bad BMS URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let key = endpoint_key(&method, path);
        let body = body.map(|b| b.to_string());
        for round in 0..2 {
            let bearer = self.bearer().await?;
            let sent = self
                .http
                .send(&key, retry, |c| {
                    let rb = c
                        .request(method.clone(), url.clone())
                        .header(AUTHORIZATION, bearer.clone());
                    match &body {
                        Some(b) => rb.header(CONTENT_TYPE, "application/json").body(b.clone()),
                        None => rb,
                    }
                })
                .await;
            match sent {
                // An expired token: fetch a new one, once.
                Err(Error::Auth { status: 401 }) if round == 0 => {
                    *self.token.lock().await = None;
                }
                Err(e) => return Err(e),
                Ok(reply) => return unwrap_envelope(reply.json()?),
            }
        }
        Err(Error::Auth { status: 401 })
    }

    /// A record as the vendor shows it by id; `None` when it is gone (or a location id is not
    /// one of ours).
    pub(super) async fn raw_get(&self, entity: Entity, id: &str) -> Result<Option<Value>> {
        let path = match entity {
            Entity::Organization => format!("/v2/crm/accounts/summary/{}", encode_segment(id)),
            Entity::Contact => format!("/v2/crm/contacts/summary/{}", encode_segment(id)),
            Entity::Configuration => {
                format!("/v2/servicedesk/hardwareasset/{}", encode_segment(id))
            }
            Entity::Location => {
                let Some((a, l)) = split_location_id(id) else {
                    return Ok(None);
                };
                format!(
                    "/v2/crm/accounts/{}/locations/{}",
                    encode_segment(a),
                    encode_segment(l)
                )
            }
        };
        match self
            .call(Method::GET, &path, &[], None, Retry::Idempotent)
            .await
        {
            Ok((Value::Null, _)) | Err(Error::NotFound) => Ok(None),
            Ok((row, _)) => Ok(Some(row)),
            Err(e) => Err(e),
        }
    }

    pub async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>> {
        self.check_entity(entity)?;
        let Some(row) = self.raw_get(entity, id).await? else {
            return Ok(None);
        };
        match entity {
            Entity::Location => {
                let account = split_location_id(id).map(|(a, _)| a).unwrap_or_default();
                location_record(account, &row).map(Some)
            }
            Entity::Configuration => {
                self.learn(&row);
                to_record(entity, &row).map(Some)
            }
            _ => to_record(entity, &row).map(Some),
        }
    }
}

fn unwrap_envelope(doc: Value) -> Result<(Value, Option<u64>)> {
    let success = doc
        .get("success")
        .or_else(|| doc.get("Success"))
        .and_then(Value::as_bool)
        .ok_or_else(|| Error::malformed("answer without the success flag"))?;
    if success {
        let total = doc.get("totalRecords").and_then(Value::as_u64);
        let result = doc.get("result").cloned().unwrap_or(Value::Null);
        return Ok((result, total));
    }
    let code = doc
        .pointer("/error/code")
        .and_then(Value::as_u64)
        .unwrap_or(400);
    let message = path_text(&doc, &["error", "message"]).unwrap_or_default();
    Err(match code {
        404 => Error::NotFound,
        409 => Error::Conflict {
            body_excerpt: excerpt(&message),
        },
        c => Error::Rejected {
            status: u16::try_from(c).unwrap_or(400),
            body_excerpt: excerpt(&message),
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn envelopes_become_typed_errors() {
        let nf = json!({"success": false, "error": {"code": 404, "message": "x"}});
        assert_eq!(unwrap_envelope(nf), Err(Error::NotFound));
        let bad = json!({"success": false, "error": {"code": 400, "message": "name is required"}});
        assert!(matches!(
            unwrap_envelope(bad),
            Err(Error::Rejected { status: 400, .. })
        ));
        assert!(matches!(
            unwrap_envelope(json!([])),
            Err(Error::Malformed(_))
        ));
        let ok = json!({"success": true, "result": [1], "totalRecords": 3});
        assert_eq!(unwrap_envelope(ok), Ok((json!([1]), Some(3))));
    }

    #[test]
    fn endpoints_are_counted_by_template() {
        assert_eq!(
            endpoint_key(&Method::PATCH, "/v2/crm/accounts/12"),
            "PATCH /v2/crm/accounts/{id}"
        );
    }
}
