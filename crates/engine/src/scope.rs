//! Scope: which records sync at all (DESIGN §3, type/status gate and capability matrix), and what
//! an IT Glue record needs before it may be pushed to the PSA.

use syncbridge_model::{Entity, Field, Record, TenantSettings};

/// Why a record is out of scope or not pushable; shown in the audit and by `links explain`.
pub type Reason = String;

/// The type/status gate for a PSA record: organizations and configurations are in scope only when
/// their type AND status are both enabled (for a multi-type company, any enabled type counts).
/// Contacts and locations have no gate of their own: they follow their organization.
pub fn psa_in_scope(settings: &TenantSettings, entity: Entity, psa: &Record) -> Result<(), Reason> {
    let Some((types, statuses)) = settings.gate(entity) else {
        return Ok(());
    };
    let type_ok = psa.types().any(|t| types.contains(t));
    let status = psa.get(Field::Status);
    let status_ok = status.is_some_and(|s| statuses.contains(s));
    match (type_ok, status_ok) {
        (true, true) => Ok(()),
        (false, _) => Err(format!(
            "{entity} type {} is not enabled for sync",
            describe(psa.types().collect::<Vec<_>>().join(", "))
        )),
        (true, false) => Err(format!(
            "{entity} status {} is not enabled for sync",
            describe(status.unwrap_or_default().to_owned())
        )),
    }
}

fn describe(value: String) -> String {
    if value.is_empty() {
        "(none)".to_owned()
    } else {
        format!("{value:?}")
    }
}

/// Whether the tenant's PSA syncs this entity at all.
pub fn entity_synced(settings: &TenantSettings, entity: Entity) -> Result<(), Reason> {
    if settings.capabilities().syncs(entity) {
        Ok(())
    } else {
        Err(format!(
            "{} does not sync {entity}s",
            settings.psa.display_name()
        ))
    }
}

/// What an IT Glue record needs before it may be pushed to the PSA (DESIGN §3, Two-way): type and
/// status enabled for organizations and configurations; manufacturer and model for configurations
/// where the PSA requires them (Autotask); first and last name for contacts, and an email where the
/// PSA requires one (Kaseya BMS).
pub fn push_requirements(
    settings: &TenantSettings,
    entity: Entity,
    itg: &Record,
) -> Result<(), Reason> {
    let caps = settings.capabilities();
    if let Some((types, statuses)) = settings.gate(entity) {
        let t = itg.get(Field::Type);
        if !t.is_some_and(|t| types.contains(t)) {
            return Err(format!(
                "type {} is not set to sync",
                describe(t.unwrap_or_default().to_owned())
            ));
        }
        let s = itg.get(Field::Status);
        if !s.is_some_and(|s| statuses.contains(s)) {
            return Err(format!(
                "status {} is not set to sync",
                describe(s.unwrap_or_default().to_owned())
            ));
        }
    }
    let missing = |fields: &[Field]| fields.iter().copied().find(|f| itg.get(*f).is_none());
    let required: &[Field] = match entity {
        Entity::Configuration if caps.configuration_push_requires_manufacturer_model => {
            &[Field::Manufacturer, Field::Model]
        }
        Entity::Contact if caps.contact_push_requires_email => {
            &[Field::FirstName, Field::LastName, Field::Email]
        }
        Entity::Contact => &[Field::FirstName, Field::LastName],
        _ => &[],
    };
    match missing(required) {
        Some(f) => Err(format!(
            "{} requires the {} field to push this {entity}",
            settings.psa.display_name(),
            f.as_str().replace('_', " ")
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncbridge_model::PsaKind;

    fn settings() -> TenantSettings {
        let mut s = TenantSettings::new(PsaKind::ConnectWise);
        s.org_types.insert("Customer".into());
        s.org_statuses.insert("Active".into());
        s
    }

    #[test]
    fn gate_reasons_name_the_offending_value() {
        let org = Record::new("1")
            .with(Field::Type, "Customer")
            .with(Field::Status, "Inactive");
        let err = psa_in_scope(&settings(), Entity::Organization, &org).unwrap_err();
        assert_eq!(
            err,
            "organization status \"Inactive\" is not enabled for sync"
        );
        let untyped = Record::new("1").with(Field::Status, "Active");
        let err = psa_in_scope(&settings(), Entity::Organization, &untyped).unwrap_err();
        assert_eq!(err, "organization type (none) is not enabled for sync");
    }
}
