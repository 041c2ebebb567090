//! IT Glue lookups (DESIGN §3): configuration types, statuses, manufacturers and models that a
//! PSA record uses but IT Glue lacks are created first, so a configuration never fails for them.
//! Organization types and statuses too: IT Glue takes them from the PSA.

use syncbridge_model::{Entity, Field};

use crate::action::{Action, ActionKind, LookupKind, Rule};
use crate::input::Lookups;

/// Create-lookup actions for the values about to be written to an IT Glue configuration.
/// `manufacturer` is the configuration's manufacturer: IT Glue files a model under one.
pub fn missing<'a>(
    entity: Entity,
    values: impl IntoIterator<Item = (Field, Option<&'a str>)>,
    manufacturer: Option<&str>,
    lookups: &Lookups,
) -> Vec<Action> {
    if !matches!(entity, Entity::Organization | Entity::Configuration) {
        return Vec::new();
    }
    let org = entity == Entity::Organization;
    let mut out = Vec::new();
    for (field, value) in values {
        let Some(name) = value else { continue };
        let (lookup, known) = match (field, org) {
            (Field::Type, true) => (LookupKind::OrganizationType, &lookups.org_types),
            (Field::Status, true) => (LookupKind::OrganizationStatus, &lookups.org_statuses),
            (Field::Type, false) => (LookupKind::ConfigurationType, &lookups.config_types),
            (Field::Status, false) => (LookupKind::ConfigurationStatus, &lookups.config_statuses),
            (Field::Manufacturer, false) => (LookupKind::Manufacturer, &lookups.manufacturers),
            (Field::Model, false) => (LookupKind::Model, &lookups.models),
            _ => continue,
        };
        if !known.contains(name) {
            out.push(Action {
                kind: ActionKind::CreateLookup {
                    lookup,
                    name: name.to_owned(),
                    manufacturer: (lookup == LookupKind::Model)
                        .then(|| manufacturer.map(str::to_owned))
                        .flatten(),
                },
                rule: Rule::Lookups,
            });
        }
    }
    out
}
