//! The vendor connectors as the worker's two sides: [`SideApi`] over [`ItGlueClient`] and
//! [`PsaClient`]. Connector errors are classified the way the worker reacts: transient ones (429,
//! 5xx, timeouts, conflicts) become a retry after the vendor's Retry-After, everything else a
//! permanent refusal that goes to the DLQ with its message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use syncbridge_connectors::Vendor;
use syncbridge_connectors::{check_before_write, Check, Error, ItGlueClient, PsaClient};
use syncbridge_engine::{Changes, LookupKind, Lookups};
use syncbridge_model::{Entity, Record, Side, UnixMillis, Values};
use syncbridge_worker::{ApiError, SideApi};

/// When a transient error carries no Retry-After.
const DEFAULT_RETRY: Duration = Duration::from_secs(5);
/// How soon an event whose record vanished between read and write is decided again.
const GONE_RETRY: Duration = Duration::from_secs(1);

pub(crate) fn api_error(e: Error) -> ApiError {
    // A record that is gone by the time we write to it was deleted after we read it: decide
    // again (the next read sees the deletion), rather than dead-letter a person's delete.
    if matches!(e, Error::NotFound) {
        return ApiError::Transient {
            retry_after: GONE_RETRY,
            message: "the record was deleted since it was read; deciding again".into(),
        };
    }
    if matches!(e, Error::ChangedSinceRead) {
        return ApiError::changed_since_read();
    }
    if e.is_transient() {
        return ApiError::Transient {
            retry_after: e.retry_after().unwrap_or(DEFAULT_RETRY),
            message: e.to_string(),
        };
    }
    let status = match &e {
        Error::Rejected { status, .. } | Error::Auth { status } | Error::Server { status, .. } => {
            Some(*status)
        }
        _ => None,
    };
    ApiError::Permanent {
        status,
        message: e.to_string(),
    }
}

/// IT Glue as a side of the sync (its client shared with the IT Glue poller: one rate budget).
///
/// Lookup names are cached for [`LOOKUP_TTL`]: reading six lists for every organization and
/// configuration event would spend IT Glue's request budget on lists that rarely change. A stale
/// cache is harmless: a name it lacks becomes a create-lookup action, and
/// [`ItGlueClient::ensure_lookup`] re-reads the list before creating anything.
pub struct ItGlueSide {
    client: Arc<ItGlueClient>,
    cache: Mutex<Option<(Instant, Lookups)>>,
    orgs: Mutex<Option<(Instant, Vec<Record>)>>,
}

/// "Per organization per minute" (`import_burst`): creations this close to a record's own count.
const BURST_WINDOW_MS: u64 = 60_000;

/// How long the organization list (for near misses only) is reused.
const ORGS_TTL: Duration = Duration::from_secs(30);

/// How long lookup names are reused.
const LOOKUP_TTL: Duration = Duration::from_secs(60);

impl ItGlueSide {
    pub fn new(client: Arc<ItGlueClient>) -> Self {
        ItGlueSide {
            client,
            cache: Mutex::new(None),
            orgs: Mutex::new(None),
        }
    }

    /// Every IT Glue organization, from a list at most [`ORGS_TTL`] old.
    async fn organizations(&self) -> Result<Vec<Record>, ApiError> {
        let cached = self
            .orgs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < ORGS_TTL)
            .map(|(_, orgs)| orgs.clone());
        if let Some(orgs) = cached {
            return Ok(orgs);
        }
        let orgs = self
            .client
            .list_all(Entity::Organization)
            .await
            .map_err(api_error)?;
        *self.orgs.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), orgs.clone()));
        Ok(orgs)
    }

    fn cached(&self) -> Option<Lookups> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .as_ref()
            .filter(|(at, _)| at.elapsed() < LOOKUP_TTL)
            .map(|(_, l)| l.clone())
    }

    async fn fetch_lookups(&self) -> Result<Lookups, ApiError> {
        let mut out = Lookups::default();
        for kind in LOOKUP_KINDS {
            let names = self
                .client
                .list_lookups(kind)
                .await
                .map_err(api_error)?
                .into_iter()
                .map(|l| l.name);
            lookup_set(&mut out, kind).extend(names);
        }
        Ok(out)
    }
}

fn lookup_set(lookups: &mut Lookups, kind: LookupKind) -> &mut std::collections::BTreeSet<String> {
    match kind {
        LookupKind::OrganizationType => &mut lookups.org_types,
        LookupKind::OrganizationStatus => &mut lookups.org_statuses,
        LookupKind::ConfigurationType => &mut lookups.config_types,
        LookupKind::ConfigurationStatus => &mut lookups.config_statuses,
        LookupKind::Manufacturer => &mut lookups.manufacturers,
        LookupKind::Model => &mut lookups.models,
    }
}

/// The tenant's PSA as a side of the sync (shared with the PSA poller: one rate budget).
///
/// The company of a contact that a configuration names is cached for [`CONTACT_COMPANY_TTL`]:
/// read fresh, it would cost every configuration event a second PSA read. A contact that moved to
/// another company within that time is associated (or not) by the old company until the entry
/// expires; the next event or full sync after that decides on the new one.
pub struct PsaSide {
    client: Arc<PsaClient>,
    contact_companies: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

/// How long a contact's company is reused.
const CONTACT_COMPANY_TTL: Duration = Duration::from_secs(60);
/// Contacts whose company is kept at most (the cache starts over beyond: memory stays bounded).
const CONTACT_COMPANIES_KEPT: usize = 50_000;

impl PsaSide {
    pub fn new(client: Arc<PsaClient>) -> Self {
        PsaSide {
            client,
            contact_companies: Mutex::new(HashMap::new()),
        }
    }

    fn cached_company(&self, contact: &str) -> Option<Option<String>> {
        let cache = self
            .contact_companies
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .get(contact)
            .filter(|(at, _)| at.elapsed() < CONTACT_COMPANY_TTL)
            .map(|(_, company)| company.clone())
    }

    fn keep_company(&self, contact: &str, company: Option<String>) {
        let mut cache = self
            .contact_companies
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CONTACT_COMPANIES_KEPT {
            cache.clear();
        }
        cache.insert(contact.to_owned(), (Instant::now(), company));
    }
}

const LOOKUP_KINDS: [LookupKind; 6] = [
    LookupKind::OrganizationType,
    LookupKind::OrganizationStatus,
    LookupKind::ConfigurationType,
    LookupKind::ConfigurationStatus,
    LookupKind::Manufacturer,
    LookupKind::Model,
];

/// Reads a record through either side's connector, errors classified.
async fn get_record(
    vendor: &impl Vendor,
    entity: Entity,
    id: &str,
) -> Result<Option<Record>, ApiError> {
    vendor.get(entity, id).await.map_err(api_error)
}

/// Creates a record through either side's connector, errors classified.
async fn create_record(
    vendor: &impl Vendor,
    entity: Entity,
    org_id: Option<&str>,
    values: &Values,
) -> Result<Record, ApiError> {
    vendor
        .create(entity, org_id, values)
        .await
        .map_err(api_error)
}

/// Updates a record through either side's connector, errors classified.
async fn update_record(
    vendor: &impl Vendor,
    entity: Entity,
    id: &str,
    changes: &Changes,
) -> Result<Record, ApiError> {
    vendor.update(entity, id, changes).await.map_err(api_error)
}

impl SideApi for ItGlueSide {
    fn side(&self) -> Side {
        Side::ItGlue
    }

    async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>, ApiError> {
        get_record(&*self.client, entity, id).await
    }

    async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record, ApiError> {
        create_record(&*self.client, entity, org_id, values).await
    }

    async fn update(
        &self,
        entity: Entity,
        id: &str,
        changes: &Changes,
    ) -> Result<Record, ApiError> {
        update_record(&*self.client, entity, id, changes).await
    }

    /// The records with the exact key: IT Glue's filters.
    async fn candidates(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        probe: &Record,
    ) -> Result<Vec<Record>, ApiError> {
        self.client
            .find_by_key(entity, org_id, &probe.values)
            .await
            .map_err(api_error)
    }

    /// IT Glue's name filter cannot find an organization whose name differs only in case,
    /// whitespace or Unicode form: the organization list, read at most every [`ORGS_TTL`], is
    /// where the worker looks for such near misses.
    async fn near_miss_pool(&self, entity: Entity) -> Result<Vec<Record>, ApiError> {
        match entity {
            Entity::Organization => self.organizations().await,
            _ => Ok(Vec::new()),
        }
    }

    async fn created_around(
        &self,
        entity: Entity,
        org_id: &str,
        at: UnixMillis,
    ) -> Result<u32, ApiError> {
        let records = self
            .client
            .list_in_org(entity, org_id)
            .await
            .map_err(api_error)?;
        let near = records
            .iter()
            .filter(|r| r.created_at.abs_diff(at) <= BURST_WINDOW_MS)
            .count();
        Ok(u32::try_from(near).unwrap_or(u32::MAX))
    }

    async fn children(&self, entity: Entity, org_id: &str) -> Result<Vec<String>, ApiError> {
        let records = self
            .client
            .list_in_org(entity, org_id)
            .await
            .map_err(api_error)?;
        Ok(records.into_iter().map(|r| r.id).collect())
    }

    async fn lookups(&self) -> Result<Lookups, ApiError> {
        if let Some(lookups) = self.cached() {
            return Ok(lookups);
        }
        let lookups = self.fetch_lookups().await?;
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), lookups.clone()));
        Ok(lookups)
    }

    async fn create_lookup(
        &self,
        kind: LookupKind,
        name: &str,
        manufacturer: Option<&str>,
    ) -> Result<(), ApiError> {
        let manufacturer_id = match (kind, manufacturer) {
            (LookupKind::Model, Some(m)) => self
                .client
                .list_lookups(LookupKind::Manufacturer)
                .await
                .map_err(api_error)?
                .into_iter()
                .find(|l| l.name == m)
                .map(|l| l.id),
            _ => None,
        };
        self.client
            .ensure_lookup(kind, name, manufacturer_id.as_deref())
            .await
            .map_err(api_error)?;
        // The next decision must see it even before the cache expires.
        if let Some((_, lookups)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            lookup_set(lookups, kind).insert(name.to_owned());
        }
        Ok(())
    }
}

impl SideApi for PsaSide {
    fn side(&self) -> Side {
        Side::Psa
    }

    async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>, ApiError> {
        let record = get_record(&*self.client, entity, id).await?;
        if entity == Entity::Contact {
            // Read anyway: what a configuration naming this contact will want next.
            self.keep_company(id, record.as_ref().and_then(|c| c.org_id.clone()));
        }
        Ok(record)
    }

    /// Re-reads the record once the write's rate budget is granted, right before the write is
    /// sent (`check_before_write`): waiting for the budget does not widen the window in which a
    /// person's edit would be overwritten.
    async fn update_unchanged(
        &self,
        entity: Entity,
        read: &Record,
        changes: &Changes,
    ) -> Result<Record, ApiError> {
        let (client, id, expected) = (self.client.clone(), read.id.clone(), read.values.clone());
        let check: Check = Arc::new(move || {
            let (client, id, expected) = (client.clone(), id.clone(), expected.clone());
            Box::pin(async move {
                match client.get(entity, &id).await? {
                    Some(now) if now.values == expected => Ok(()),
                    _ => Err(Error::ChangedSinceRead),
                }
            })
        });
        check_before_write(
            check,
            update_record(&*self.client, entity, &read.id, changes),
        )
        .await
    }

    async fn company_of_contact(&self, id: &str) -> Result<Option<String>, ApiError> {
        match self.cached_company(id) {
            Some(company) => Ok(company),
            None => Ok(self.get(Entity::Contact, id).await?.and_then(|c| c.org_id)),
        }
    }

    async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record, ApiError> {
        create_record(&*self.client, entity, org_id, values).await
    }

    async fn update(
        &self,
        entity: Entity,
        id: &str,
        changes: &Changes,
    ) -> Result<Record, ApiError> {
        update_record(&*self.client, entity, id, changes).await
    }

    async fn candidates(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        probe: &Record,
    ) -> Result<Vec<Record>, ApiError> {
        self.client
            .find_by_key(entity, org_id, &probe.values)
            .await
            .map_err(api_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_errors_map_to_the_workers_reaction() {
        let limited = api_error(Error::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        });
        assert_eq!(
            limited,
            ApiError::Transient {
                retry_after: Duration::from_secs(30),
                message: "rate limited (retry after 30s)".into()
            }
        );
        assert!(matches!(
            api_error(Error::Transport("reset".into())),
            ApiError::Transient { retry_after, .. } if retry_after == DEFAULT_RETRY
        ));
        assert!(matches!(
            api_error(Error::Rejected {
                status: 422,
                body_excerpt: "managed".into()
            }),
            ApiError::Permanent {
                status: Some(422),
                ..
            }
        ));
        assert!(matches!(
            api_error(Error::NotFound),
            ApiError::Transient { retry_after, .. } if retry_after == GONE_RETRY
        ));
        assert!(matches!(
            api_error(Error::ReadOnly { vendor: "Tigerpaw" }),
            ApiError::Permanent { status: None, .. }
        ));
    }
}
