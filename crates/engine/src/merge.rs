//! The per-field three-way merge against the base snapshot (DESIGN §3, "PSA always wins").
//!
//! For each mapped field, each side is compared with its own base value (the value that side held
//! right after the last sync):
//! - changed in the PSA → the PSA's value goes to IT Glue, even if IT Glue changed it too;
//! - changed only in IT Glue → pushed to the PSA when the field syncs both ways and two-way is in
//!   effect (and the record is pushable, else reported "not yet pushed" and left alone); otherwise
//!   reverted to the PSA's value;
//! - changed nowhere → nothing, even if the two sides hold differently normalised values. This is
//!   what makes our own writes, coming back as events, produce no further write.
//!
//! With no base (a fresh link or a relinked orphan) every field counts as changed in the PSA.
//! Reference fields (contact, location) are translated through the links of the referenced records;
//! one that cannot be translated yet is left for a later decision (its base is not advanced).

use syncbridge_model::{
    field_map, Direction, Entity, Field, FieldSpec, Record, Snapshot, TenantSettings,
};

use crate::action::{ActionKind, Rule};
use crate::contacts::{association, Association};
use crate::input::Refs;
use crate::scope::push_requirements;

/// A field value carried across to the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translated {
    Value(Option<String>),
    /// Not translatable yet (the referenced record is not linked): retry later.
    Pending(String),
    /// Deliberately not carried across (a contact of another client).
    Skip(String),
}

/// Translates a PSA value of `field` into IT Glue's terms.
pub fn psa_to_itg(entity: Entity, field: Field, psa: &Record, refs: &Refs) -> Translated {
    let Some(value) = psa.get(field) else {
        return Translated::Value(None);
    };
    let Some(target) = field.references() else {
        return Translated::Value(Some(value.to_owned()));
    };
    if entity == Entity::Configuration && field == Field::Contact {
        match association(refs, value, psa.org_id.as_deref()) {
            Association::SameClient => {}
            Association::OtherClient(why) => return Translated::Skip(why),
            Association::Unknown(why) => return Translated::Pending(why),
        }
    }
    match refs.to_itg(target, value) {
        Some(id) => Translated::Value(Some(id.to_owned())),
        None => Translated::Pending(format!("{target} {value} is not linked yet")),
    }
}

/// Translates an IT Glue value of `field` into the PSA's terms.
pub fn itg_to_psa(field: Field, itg: &Record, refs: &Refs) -> Translated {
    let Some(value) = itg.get(field) else {
        return Translated::Value(None);
    };
    match field.references() {
        None => Translated::Value(Some(value.to_owned())),
        Some(target) => match refs.to_psa(target, value) {
            Some(id) => Translated::Value(Some(id.to_owned())),
            None => Translated::Pending(format!("IT Glue {target} {value} is not linked yet")),
        },
    }
}

/// The report for a reference field that cannot be carried yet: a configuration's contact waits
/// under the association rule, any other reference for its record to be synced first.
pub fn pending(field: Field, why: &str) -> (ActionKind, Rule) {
    let rule = if field == Field::Contact {
        Rule::ContactAssociation
    } else {
        Rule::ParentFirst
    };
    let reason = format!("{field} not carried yet: {why}");
    (ActionKind::Ignore { reason }, rule)
}

/// One field change the merge asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: Field,
    pub value: Option<String>,
    pub rule: Rule,
}

/// The merge's result: changes per side, the base to store, and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    pub to_itg: Vec<FieldChange>,
    pub to_psa: Vec<FieldChange>,
    pub base: Snapshot,
    pub reports: Vec<(ActionKind, Rule)>,
}

/// The fields of `entity` the tenant syncs: its PSA's field map, without references to an entity
/// the PSA does not sync (a Pulseway PSA contact's location can never be carried: Pulseway syncs
/// no locations). The base snapshot holds exactly these.
pub fn synced_fields(
    settings: &TenantSettings,
    entity: Entity,
) -> impl Iterator<Item = &'static FieldSpec> + '_ {
    field_map(settings.psa, entity).iter().filter(|spec| {
        spec.field
            .references()
            .is_none_or(|target| settings.capabilities().syncs(target))
    })
}

/// Merges a linked pair. `base` is `None` for a fresh link: the PSA wins every field.
pub fn merge(
    settings: &TenantSettings,
    entity: Entity,
    psa: &Record,
    itg: &Record,
    base: Option<&Snapshot>,
    refs: &Refs,
) -> Merged {
    let mut out = Merged {
        base: base.cloned().unwrap_or_default(),
        ..Merged::default()
    };
    out.base.psa_updated_at = psa.updated_at;
    out.base.itg_updated_at = itg.updated_at;
    let two_way = settings.two_way_active();
    let pushable = push_requirements(settings, entity, itg);
    let mut not_pushed_reported = false;

    for spec in synced_fields(settings, entity) {
        let f = spec.field;
        let (p, i) = (psa.get(f), itg.get(f));
        let psa_changed = base.is_none_or(|b| b.psa.get(f) != p);
        let itg_changed = base.is_some_and(|b| b.itg.get(f) != i);

        if psa_changed {
            let rule = if base.is_none() || !itg_changed {
                Rule::PsaWins
            } else {
                Rule::PsaWinsConflict
            };
            out.carry_psa_value(entity, f, psa, i, refs, rule);
        } else if itg_changed && spec.direction == Direction::Both && two_way {
            if let Err(reason) = &pushable {
                // Left as it is and reported, never reverted; the base keeps the old IT Glue
                // value so the edit is pushed once the record becomes pushable.
                if !not_pushed_reported {
                    out.reports.push((
                        ActionKind::ReportNotYetPushed {
                            reason: format!("not yet pushed: {reason}"),
                        },
                        Rule::PushEligibility,
                    ));
                    not_pushed_reported = true;
                }
                continue;
            }
            if let Translated::Value(want) = itg_to_psa(f, itg, refs) {
                if want.as_deref() != p {
                    out.to_psa.push(FieldChange {
                        field: f,
                        value: want.clone(),
                        rule: Rule::TwoWayPush,
                    });
                }
                out.base.psa.set(f, want);
                out.base.itg.set(f, i.map(str::to_owned));
            }
        } else if itg_changed {
            let rule = if spec.direction == Direction::PsaToItGlue && two_way {
                Rule::PsaOnlyField
            } else {
                Rule::OneWayRevert
            };
            out.carry_psa_value(entity, f, psa, i, refs, rule);
        }
    }
    out
}

impl Merged {
    /// Carries the PSA's value of `f` to IT Glue (where it differs) and advances the base.
    fn carry_psa_value(
        &mut self,
        entity: Entity,
        f: Field,
        psa: &Record,
        itg_now: Option<&str>,
        refs: &Refs,
        rule: Rule,
    ) {
        match psa_to_itg(entity, f, psa, refs) {
            Translated::Value(want) => {
                if want.as_deref() != itg_now {
                    self.to_itg.push(FieldChange {
                        field: f,
                        value: want.clone(),
                        rule,
                    });
                }
                self.base.psa.set(f, psa.get(f).map(str::to_owned));
                self.base.itg.set(f, want);
            }
            Translated::Skip(reason) => {
                self.reports
                    .push((ActionKind::Ignore { reason }, Rule::ContactAssociation));
                self.base.psa.set(f, psa.get(f).map(str::to_owned));
                self.base.itg.set(f, itg_now.map(str::to_owned));
            }
            // The base is not advanced, so the change is carried once the reference resolves.
            Translated::Pending(why) => self.reports.push(pending(f, &why)),
        }
    }
}
