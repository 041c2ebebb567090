//! The vendor connectors as the worker's two sides: [`SideApi`] over [`ItGlueClient`] and
//! [`PsaClient`]. Connector errors are classified the way the worker reacts: transient ones (429,
//! 5xx, timeouts, conflicts) become a retry after the vendor's Retry-After, everything else a
//! permanent refusal that goes to the DLQ with its message.

use std::sync::Arc;
use std::time::Duration;

use syncbridge_connectors::{Error, ItGlueClient, PsaClient};
use syncbridge_engine::{Changes, LookupKind, Lookups};
use syncbridge_model::{Entity, Record, Side, Values};
use syncbridge_worker::{ApiError, SideApi};

/// When a transient error carries no Retry-After.
const DEFAULT_RETRY: Duration = Duration::from_secs(5);

pub(crate) fn api_error(e: Error) -> ApiError {
    if e.is_transient() {
        return ApiError::Transient {
            retry_after: e.retry_after().unwrap_or(DEFAULT_RETRY),
            message: e.to_string(),
        };
    }
    let status = match &e {
        Error::NotFound => 404,
        Error::Rejected { status, .. } | Error::Auth { status } | Error::Server { status, .. } => {
            *status
        }
        _ => 0,
    };
    ApiError::Permanent {
        status,
        message: e.to_string(),
    }
}

/// IT Glue as a side of the sync (shared with the IT Glue poller: one rate budget).
pub struct ItGlueSide(pub Arc<ItGlueClient>);

/// The tenant's PSA as a side of the sync (shared with the PSA poller: one rate budget).
pub struct PsaSide(pub Arc<PsaClient>);

const LOOKUP_KINDS: [LookupKind; 6] = [
    LookupKind::OrganizationType,
    LookupKind::OrganizationStatus,
    LookupKind::ConfigurationType,
    LookupKind::ConfigurationStatus,
    LookupKind::Manufacturer,
    LookupKind::Model,
];

/// The record calls both sides make the same way: the connector's method, errors classified.
macro_rules! record_calls {
    () => {
        async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>, ApiError> {
            self.0.get(entity, id).await.map_err(api_error)
        }

        async fn candidates(
            &self,
            entity: Entity,
            org_id: Option<&str>,
            probe: &Record,
        ) -> Result<Vec<Record>, ApiError> {
            self.0
                .find_by_key(entity, org_id, &probe.values)
                .await
                .map_err(api_error)
        }

        async fn create(
            &self,
            entity: Entity,
            org_id: Option<&str>,
            values: &Values,
        ) -> Result<Record, ApiError> {
            self.0
                .create(entity, org_id, values)
                .await
                .map_err(api_error)
        }

        async fn update(
            &self,
            entity: Entity,
            id: &str,
            changes: &Changes,
        ) -> Result<Record, ApiError> {
            self.0.update(entity, id, changes).await.map_err(api_error)
        }
    };
}

impl SideApi for ItGlueSide {
    fn side(&self) -> Side {
        Side::ItGlue
    }

    record_calls!();

    async fn lookups(&self) -> Result<Lookups, ApiError> {
        let mut out = Lookups::default();
        for kind in LOOKUP_KINDS {
            let names = self
                .0
                .list_lookups(kind)
                .await
                .map_err(api_error)?
                .into_iter()
                .map(|l| l.name);
            let set = match kind {
                LookupKind::OrganizationType => &mut out.org_types,
                LookupKind::OrganizationStatus => &mut out.org_statuses,
                LookupKind::ConfigurationType => &mut out.config_types,
                LookupKind::ConfigurationStatus => &mut out.config_statuses,
                LookupKind::Manufacturer => &mut out.manufacturers,
                LookupKind::Model => &mut out.models,
            };
            set.extend(names);
        }
        Ok(out)
    }

    async fn create_lookup(
        &self,
        kind: LookupKind,
        name: &str,
        manufacturer: Option<&str>,
    ) -> Result<(), ApiError> {
        let manufacturer_id = match (kind, manufacturer) {
            (LookupKind::Model, Some(m)) => self
                .0
                .list_lookups(LookupKind::Manufacturer)
                .await
                .map_err(api_error)?
                .into_iter()
                .find(|l| l.name == m)
                .map(|l| l.id),
            _ => None,
        };
        self.0
            .create_lookup(kind, name, manufacturer_id.as_deref())
            .await
            .map(|_| ())
            .map_err(api_error)
    }
}

impl SideApi for PsaSide {
    fn side(&self) -> Side {
        Side::Psa
    }

    record_calls!();
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
            ApiError::Permanent { status: 422, .. }
        ));
        assert!(matches!(
            api_error(Error::ReadOnly { vendor: "Tigerpaw" }),
            ApiError::Permanent { status: 0, .. }
        ));
    }
}
