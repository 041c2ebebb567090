//! Creating records without duplicates (the shared `create_without_duplicates` over one POST per
//! attempt), and what ConnectWise requires of a new company besides its fields:
//!
//! - an `identifier` (unique, ≤ 25 characters): a company without a Short Name gets one derived
//!   from its name, and the next numbered one (`AcmeInc1`, …) when that is taken (audit CW-5);
//!   a Short Name given by the user is never altered;
//! - at least one address field (audit CW-2): the organization's address where the caller has
//!   one, else `city` = the configured fallback.
//!
//! Sites are created under their company's sites collection; configurations and contacts carry
//! their company as `company.id`.

use reqwest::Method;
use serde_json::{Map, Value};
use syncbridge_model::{changes_setting, Entity, Field, Record, Values};

use super::client::{collection, ConnectWiseClient};
use super::fields::{id_ref, to_record, wire_fields, write_fields, COMPANY_ADDRESS};
use super::sites::sites_of;
use crate::create::{create_without_duplicates, KeyedCreate};
use crate::error::{Error, Result};
use crate::http::Retry;

/// How many numbered identifiers (`AcmeInc1`, `AcmeInc2`, …) a new company tries when the
/// derived one is taken.
const IDENTIFIER_SUFFIXES: u32 = 50;

/// ConnectWise's limit on a company identifier (25 in older schemas, 30 in the current one:
/// the stricter).
const IDENTIFIER_MAX: usize = 25;

/// Whether a refused company create says that its identifier is taken.
fn identifier_taken(e: &Error) -> bool {
    match e {
        Error::Rejected {
            status: 400,
            body_excerpt,
        } => {
            let b = body_excerpt.to_ascii_lowercase();
            b.contains("identifier")
                && (b.contains("already in use")
                    || b.contains("already exists")
                    || b.contains("duplicate"))
        }
        _ => false,
    }
}

/// A company identifier for a new company without a Short Name: ConnectWise requires one
/// (unique, ≤ 25 characters); we derive it from the name's letters and digits. `suffix` n > 0
/// gives the n-th alternative (`AcmeInc1`, …) for when the plain one is taken (audit CW-5),
/// shortening the base so that the whole stays within the limit.
fn identifier_from_name(name: &str, suffix: u32) -> String {
    let tail = if suffix == 0 {
        String::new()
    } else {
        suffix.to_string()
    };
    let base: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(IDENTIFIER_MAX - tail.len())
        .collect();
    if base.is_empty() {
        format!("Company{tail}")
    } else {
        format!("{base}{tail}")
    }
}

impl ConnectWiseClient {
    /// Creates a record unless one with its key exists (see `crate::create`).
    pub async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record> {
        create_without_duplicates(self, entity, org_id, values).await
    }

    /// The address fields of a new company: those the values carry (an organization's address
    /// where the caller has one), else `city` = the configured fallback, since ConnectWise
    /// refuses a company without any (audit CW-2).
    async fn company_address(
        &self,
        values: &Values,
        fields: &mut Map<String, Value>,
    ) -> Result<()> {
        let address_fields = COMPANY_ADDRESS.iter().map(|(field, _)| *field);
        let address = changes_setting(&values.project(address_fields));
        let address = write_fields(self, COMPANY_ADDRESS, &address, None).await?;
        if address.is_empty() && !self.company_address_fallback.is_empty() {
            fields.insert("city".into(), self.company_address_fallback.clone().into());
        }
        fields.extend(address);
        Ok(())
    }
}

impl KeyedCreate for ConnectWiseClient {
    async fn search_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>> {
        self.find_by_key(entity, org_id, key).await
    }

    async fn create_attempt(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record> {
        let mut fields = wire_fields(self, entity, &changes_setting(values), None).await?;
        fields.retain(|_, v| !v.is_null());
        let need_org =
            || org_id.ok_or_else(|| Error::InvalidInput(format!("a {entity} needs a company")));
        let mut derived_identifier = None;
        let path = match entity {
            Entity::Organization => {
                if !fields.contains_key("identifier") {
                    let name = values.get(Field::Name).unwrap_or("");
                    fields.insert("identifier".into(), identifier_from_name(name, 0).into());
                    derived_identifier = Some(name);
                }
                self.company_address(values, &mut fields).await?;
                collection(entity).to_owned()
            }
            Entity::Location => sites_of(need_org()?),
            _ => {
                fields.insert("company".into(), id_ref(need_org()?)?);
                collection(entity).to_owned()
            }
        };
        let mut suffix = 0;
        loop {
            let reply = self
                .call(
                    Method::POST,
                    &path,
                    &[],
                    Some(Value::Object(fields.clone())),
                    Retry::Once,
                )
                .await;
            match (reply, derived_identifier) {
                (Ok(reply), _) => return to_record(entity, &reply.json()?),
                // A 400 created nothing: the next numbered identifier is safe to try. A Short
                // Name given by the user is never altered.
                (Err(e), Some(name)) if identifier_taken(&e) && suffix < IDENTIFIER_SUFFIXES => {
                    suffix += 1;
                    let next = identifier_from_name(name, suffix);
                    tracing::info!(identifier = %next, "ConnectWise company identifier taken; trying the next");
                    fields.insert("identifier".into(), next.into());
                }
                (Err(e), _) => return Err(e),
            }
        }
    }

    fn create_attempts(&self) -> u32 {
        self.http.policy().max_attempts
    }
}
