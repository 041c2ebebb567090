//! Creates that never duplicate: a create whose outcome is unknown (it timed out, or a 5xx came
//! back) may have been committed, so before trying again we look the record up by its exact key
//! and take it if it appeared (DESIGN §2.3 step 4).
//!
//! The key search runs once before the first attempt too, so a record that already had the key
//! (linked elsewhere, or a person's) is never mistaken for ours.

use syncbridge_model::{key_fields, Entity, Record, Values};

use crate::error::{Error, Result};

/// What a vendor client provides for [`create_without_duplicates`].
pub(crate) trait KeyedCreate {
    /// The narrow key search (`find_by_key`).
    async fn search_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>>;

    /// One create request, sent with `Retry::Once`; returns the record as read back.
    async fn create_attempt(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record>;

    /// How many ambiguous attempts to resolve before giving up.
    fn create_attempts(&self) -> u32;
}

/// Byte-exact comparison of the entity's key (DESIGN §3), organization included.
pub(crate) fn has_key(
    record: &Record,
    entity: Entity,
    org_id: Option<&str>,
    values: &Values,
) -> bool {
    let org_ok = !entity.has_parent_org() || org_id.is_none() || record.org_id.as_deref() == org_id;
    org_ok
        && key_fields(entity)
            .iter()
            .all(|f| record.get(*f) == values.get(*f))
}

/// Whether `key` holds any of the entity's key fields: a keyless search would list everything.
pub(crate) fn has_any_key(entity: Entity, key: &Values) -> bool {
    key_fields(entity).iter().any(|f| key.get(*f).is_some())
}

fn ambiguous(e: &Error) -> bool {
    matches!(e, Error::Transport(_) | Error::Server { .. })
}

/// Creates `values` once, resolving ambiguous failures by key lookup.
pub(crate) async fn create_without_duplicates<C: KeyedCreate>(
    client: &C,
    entity: Entity,
    org_id: Option<&str>,
    values: &Values,
) -> Result<Record> {
    let matching = |found: Vec<Record>| -> Vec<Record> {
        found
            .into_iter()
            .filter(|r| has_key(r, entity, org_id, values))
            .collect()
    };
    let before: Vec<String> = matching(client.search_key(entity, org_id, values).await?)
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut last_error = None;
    for attempt in 1..=client.create_attempts().max(1) {
        match client.create_attempt(entity, org_id, values).await {
            Ok(record) => return Ok(record),
            Err(e) if ambiguous(&e) => {
                tracing::info!(%entity, attempt, error = %e, "create outcome unknown; looking it up by key");
                let mut new: Vec<Record> =
                    matching(client.search_key(entity, org_id, values).await?)
                        .into_iter()
                        .filter(|r| !before.contains(&r.id))
                        .collect();
                match new.len() {
                    0 => last_error = Some(e),
                    1 => return Ok(new.remove(0)),
                    n => {
                        return Err(Error::Conflict {
                            body_excerpt: format!(
                                "{n} new {entity} records with the key appeared during the create"
                            ),
                        })
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::Transport("create failed".into())))
}
