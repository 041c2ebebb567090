//! `decide`: one event's decision, from the rule families of this crate.
//!
//! The shape of a decision:
//! 1. the entity must be synced by the tenant's PSA (capability matrix);
//! 2. a linked record is matched by its link, never by key again: deleted or out of scope →
//!    orphan; orphaned and back in scope → relink and the PSA wins; otherwise the three-way merge;
//! 3. an unlinked PSA record passes the type/status gate (and the contacts gate), waits for its
//!    organization, then is matched by exact key, or created in IT Glue (now, or at the full sync);
//! 4. an unlinked IT Glue record is pushed to a two-way PSA when it may be pushed, matched by key
//!    in the PSA first.

use std::collections::BTreeMap;

use syncbridge_model::{
    Direction, Entity, Field, Link, LinkState, Mode, NearMissPolicy, Record, Side, Snapshot, Values,
};

use crate::action::{Action, ActionKind, Changes, Decision, LinkUpdate, Rule};
use crate::contacts::new_contacts_allowed;
use crate::input::{Input, Parent, Trigger};
use crate::lookups;
use crate::matching::{find_match, MatchOutcome};
use crate::merge::{
    itg_to_psa, merge, pending, psa_to_itg, synced_fields, FieldChange, Translated,
};
use crate::orphans::orphan;
use crate::scope::{entity_synced, psa_in_scope, push_requirements};
use crate::two_way::may_push;

/// Decides what to do about one record. Pure: the same input always gives the same decision.
pub fn decide(input: &Input) -> Decision {
    let mut d = Draft::default();
    if let Err(reason) = entity_synced(&input.settings, input.entity) {
        d.push(ActionKind::Ignore { reason }, Rule::EntityCapability);
    } else {
        match &input.link {
            Some(link) if matches!(link.state, LinkState::Linked | LinkState::Orphaned) => {
                linked(input, link, &mut d)
            }
            // No link, or a create that did not complete: match by key (which finds a record a
            // crashed create left behind) and otherwise create.
            _ => unlinked(input, &mut d),
        }
    }
    Decision {
        actions: d.actions,
        link: d.link,
        write: input.settings.mode != Mode::Shadow,
    }
}

#[derive(Default)]
struct Draft {
    actions: Vec<Action>,
    link: LinkUpdate,
}

impl Draft {
    fn push(&mut self, kind: ActionKind, rule: Rule) {
        self.actions.push(Action { kind, rule });
    }

    fn ignore(&mut self, reason: impl Into<String>, rule: Rule) {
        self.push(
            ActionKind::Ignore {
                reason: reason.into(),
            },
            rule,
        );
    }
}

fn linked(input: &Input, link: &Link, d: &mut Draft) {
    let Some(psa) = &input.psa else {
        return apply_orphan(link, "deleted in the PSA".into(), d);
    };
    if let Err(reason) = psa_in_scope(&input.settings, input.entity, psa) {
        return apply_orphan(link, format!("left scope: {reason}"), d);
    }
    if input.parent == Parent::Orphaned {
        return apply_orphan(link, "its organization is orphaned".into(), d);
    }
    let Some(itg) = &input.itg else {
        d.ignore(
            format!(
                "linked IT Glue record {} no longer exists: the PSA record is synced again",
                link.itg_id.as_deref().unwrap_or("?")
            ),
            Rule::ItGlueRecordGone,
        );
        return from_psa(input, psa, d);
    };
    if let Some(reason) = stale_read(link, psa, itg) {
        return d.push(ActionKind::Retry { reason }, Rule::StaleRead);
    }
    let relinking = link.state == LinkState::Orphaned;
    if relinking {
        d.push(
            ActionKind::Relink {
                psa_id: psa.id.clone(),
                itg_id: itg.id.clone(),
            },
            Rule::Relink,
        );
    }
    // A relinked orphan has no trustworthy base: the PSA wins every field.
    let base = if relinking { None } else { link.base.as_ref() };
    apply_merge(input, psa, itg, base, Some(link), d);
}

/// A record older than the base snapshot was read (a lagging replica or cache right after our
/// write): deciding on it would mistake our own write's absence for an edit.
fn stale_read(link: &Link, psa: &Record, itg: &Record) -> Option<String> {
    let base = link.base.as_ref()?;
    let stale = |side: &str, now: i64, synced: i64| {
        (now < synced).then(|| {
            format!("{side} record read at version {now}, older than the synced version {synced}")
        })
    };
    stale("PSA", psa.updated_at, base.psa_updated_at)
        .or_else(|| stale("IT Glue", itg.updated_at, base.itg_updated_at))
}

fn apply_orphan(link: &Link, reason: String, d: &mut Draft) {
    let (actions, update) = orphan(link, reason);
    d.actions.extend(actions);
    d.link = update;
}

/// Runs the merge of a linked (or just matched) pair and turns it into actions and a link.
fn apply_merge(
    input: &Input,
    psa: &Record,
    itg: &Record,
    base: Option<&Snapshot>,
    link: Option<&Link>,
    d: &mut Draft,
) {
    let merged = merge(&input.settings, input.entity, psa, itg, base, &input.refs);
    d.actions.extend(lookups::missing(
        input.entity,
        merged.to_itg.iter().map(|c| (c.field, c.value.as_deref())),
        psa.get(Field::Manufacturer),
        &input.lookups,
    ));
    for (changes, rule) in group_by_rule(&merged.to_itg) {
        d.push(
            ActionKind::UpdateItGlue {
                itg_id: itg.id.clone(),
                changes,
            },
            rule,
        );
    }
    for (changes, rule) in group_by_rule(&merged.to_psa) {
        d.push(
            ActionKind::UpdatePsa {
                psa_id: psa.id.clone(),
                changes,
            },
            rule,
        );
    }
    for (kind, rule) in merged.reports {
        d.push(kind, rule);
    }
    if d.actions.is_empty() {
        d.ignore("no change since the last sync", Rule::NoEcho);
    }
    let next = Link {
        entity: input.entity,
        psa_id: Some(psa.id.clone()),
        itg_id: Some(itg.id.clone()),
        state: LinkState::Linked,
        base: Some(merged.base),
        updated_at: link.map(|l| l.updated_at).unwrap_or_default(),
    };
    d.link = if link == Some(&next) {
        LinkUpdate::Unchanged
    } else {
        LinkUpdate::Store(next)
    };
}

/// One update action per rule, so the audit names the rule behind every field.
fn group_by_rule(changes: &[FieldChange]) -> Vec<(Changes, Rule)> {
    let mut by_rule: BTreeMap<Rule, Changes> = BTreeMap::new();
    for c in changes {
        by_rule
            .entry(c.rule)
            .or_default()
            .insert(c.field, c.value.clone());
    }
    by_rule.into_iter().map(|(r, c)| (c, r)).collect()
}

fn unlinked(input: &Input, d: &mut Draft) {
    match input.trigger {
        Trigger::Event(Side::Psa) | Trigger::FullSync => match &input.psa {
            Some(psa) => from_psa(input, psa, d),
            None => d.ignore(
                "the PSA record no longer exists and was never linked",
                Rule::Orphan,
            ),
        },
        Trigger::Event(Side::ItGlue) | Trigger::PushAll => match &input.itg {
            Some(itg) => from_itg(input, itg, d),
            None => d.ignore(
                "the IT Glue record no longer exists and was never linked",
                Rule::NoEcho,
            ),
        },
    }
}

/// The organization the record's counterpart must live in, on `side`; `Err` when the decision
/// stops here (the parent must be synced first, or is orphaned).
fn parent_on(
    input: &Input,
    record: &Record,
    side: Side,
    d: &mut Draft,
) -> Result<Option<String>, ()> {
    if !input.entity.has_parent_org() {
        return Ok(None);
    }
    match &input.parent {
        Parent::Linked { psa_id, itg_id } => Ok(Some(match side {
            Side::Psa => psa_id.clone(),
            Side::ItGlue => itg_id.clone(),
        })),
        Parent::Unlinked => {
            match &record.org_id {
                Some(org_id) => d.push(
                    ActionKind::SyncParentFirst {
                        side: side.other(),
                        org_id: org_id.clone(),
                    },
                    Rule::ParentFirst,
                ),
                None => d.ignore(
                    format!("this {} belongs to no organization", input.entity),
                    Rule::ParentFirst,
                ),
            }
            Err(())
        }
        Parent::Orphaned => {
            d.ignore("its organization is orphaned", Rule::OrphanChildren);
            Err(())
        }
        Parent::NotApplicable => {
            d.ignore(
                format!("the organization of this {} is not known", input.entity),
                Rule::ParentFirst,
            );
            Err(())
        }
    }
}

/// An unlinked PSA record: gate, parent, match or create in IT Glue.
fn from_psa(input: &Input, psa: &Record, d: &mut Draft) {
    let settings = &input.settings;
    if let Err(reason) = psa_in_scope(settings, input.entity, psa) {
        return d.ignore(reason, Rule::TypeStatusGate);
    }
    if input.entity == Entity::Contact {
        if let Err(reason) = new_contacts_allowed(settings) {
            return d.ignore(reason, Rule::ContactsGate);
        }
    }
    let Ok(itg_org) = parent_on(input, psa, Side::ItGlue, d) else {
        return;
    };
    if input.trigger != Trigger::FullSync && !settings.instant_create {
        return d.push(
            ActionKind::Defer {
                reason: "instant_create is off: matched or created at the next full sync".into(),
            },
            Rule::FullSyncCreate,
        );
    }
    match_or_create(input, psa, Side::Psa, itg_org.as_deref(), d, |d| {
        create_in_itglue(input, psa, itg_org.clone(), d)
    });
}

/// Matches an unlinked record from side `from` against the other side's candidates: one exact
/// match is linked (and the PSA wins the merge, whichever side found the other); several are
/// reported and nothing happens; none — or only near misses, unless they are held — runs `create`.
fn match_or_create(
    input: &Input,
    record: &Record,
    from: Side,
    other_org: Option<&str>,
    d: &mut Draft,
    create: impl FnOnce(&mut Draft),
) {
    match find_match(
        input.entity,
        record,
        &record.id,
        other_org,
        &input.candidates,
    ) {
        MatchOutcome::One(found) => {
            let (psa, itg) = match from {
                Side::Psa => (record, found),
                Side::ItGlue => (found, record),
            };
            // A push never links to a PSA record that is out of scope: the next PSA event would
            // orphan that link at once. A person decides (bring it into scope, or rename).
            if from == Side::ItGlue {
                if let Err(reason) = psa_in_scope(&input.settings, input.entity, psa) {
                    return d.push(
                        ActionKind::ReportNotYetPushed {
                            reason: format!(
                                "not yet pushed: the PSA record {} with this key is out of scope ({reason})",
                                psa.id
                            ),
                        },
                        Rule::PushEligibility,
                    );
                }
            }
            d.push(
                ActionKind::Link {
                    psa_id: psa.id.clone(),
                    itg_id: itg.id.clone(),
                },
                Rule::ExactMatch,
            );
            apply_merge(input, psa, itg, None, None, d);
        }
        MatchOutcome::Ambiguous(found) => report_ambiguity(&found, d),
        MatchOutcome::NearMisses(near) => {
            if report_near_misses(input, &near, d) {
                create(d);
            }
        }
        MatchOutcome::None => create(d),
    }
}

fn report_ambiguity(found: &[&Record], d: &mut Draft) {
    d.push(
        ActionKind::ReportAmbiguity {
            candidates: found.iter().map(|r| r.id.clone()).collect(),
        },
        Rule::Ambiguity,
    );
}

/// Reports near misses; returns whether to go on and create (`near_miss = "create"`).
fn report_near_misses(input: &Input, near: &[&Record], d: &mut Draft) -> bool {
    for r in near {
        d.push(
            ActionKind::ReportNearMiss {
                candidate_id: r.id.clone(),
            },
            Rule::NearMiss,
        );
    }
    if input.settings.near_miss == NearMissPolicy::Hold {
        d.push(
            ActionKind::Hold {
                reason: "only near-miss candidates (case, whitespace or Unicode form differ); \
                         near_miss = \"hold\""
                    .into(),
            },
            Rule::NearMiss,
        );
        return false;
    }
    true
}

fn create_in_itglue(input: &Input, psa: &Record, itg_org: Option<String>, d: &mut Draft) {
    let mut values = Values::new();
    let mut base_psa = Values::new();
    for spec in synced_fields(&input.settings, input.entity) {
        match psa_to_itg(input.entity, spec.field, psa, &input.refs) {
            Translated::Value(v) => {
                values.set(spec.field, v);
                base_psa.set(spec.field, psa.get(spec.field).map(str::to_owned));
            }
            Translated::Skip(reason) => {
                d.ignore(reason, Rule::ContactAssociation);
                base_psa.set(spec.field, psa.get(spec.field).map(str::to_owned));
            }
            Translated::Pending(why) => {
                let (kind, rule) = pending(spec.field, &why);
                d.push(kind, rule);
            }
        }
    }
    d.actions.extend(lookups::missing(
        input.entity,
        values.iter().map(|(f, v)| (f, Some(v))),
        values.get(Field::Manufacturer),
        &input.lookups,
    ));
    let rule = if input.trigger == Trigger::FullSync {
        Rule::FullSyncCreate
    } else {
        Rule::InstantCreate
    };
    d.push(
        ActionKind::CreateInItGlue {
            org_id: itg_org,
            values: values.clone(),
        },
        rule,
    );
    d.link = LinkUpdate::Store(Link {
        entity: input.entity,
        psa_id: Some(psa.id.clone()),
        itg_id: None,
        state: LinkState::Linked,
        base: Some(Snapshot {
            psa: base_psa,
            itg: values,
            psa_updated_at: psa.updated_at,
            itg_updated_at: 0,
        }),
        updated_at: 0,
    });
}

/// An unlinked IT Glue record: may it be pushed? Then match or create in the PSA.
fn from_itg(input: &Input, itg: &Record, d: &mut Draft) {
    let push_rule = match may_push(input, itg) {
        Ok(rule) => rule,
        Err((Rule::TwoWayOnly, reason)) => return d.ignore(reason, Rule::TwoWayOnly),
        Err((rule, reason)) => return d.push(ActionKind::ReportNotYetPushed { reason }, rule),
    };
    if let Err(reason) = push_requirements(&input.settings, input.entity, itg) {
        return d.push(
            ActionKind::ReportNotYetPushed {
                reason: format!("not yet pushed: {reason}"),
            },
            Rule::PushEligibility,
        );
    }
    let Ok(psa_org) = parent_on(input, itg, Side::Psa, d) else {
        return;
    };
    match_or_create(input, itg, Side::ItGlue, psa_org.as_deref(), d, |d| {
        create_in_psa(input, itg, psa_org.clone(), push_rule, d)
    });
}

fn create_in_psa(input: &Input, itg: &Record, psa_org: Option<String>, rule: Rule, d: &mut Draft) {
    let mut values = Values::new();
    let mut base_itg = Values::new();
    let both_ways =
        synced_fields(&input.settings, input.entity).filter(|s| s.direction == Direction::Both);
    for spec in both_ways {
        if let Translated::Value(v) = itg_to_psa(spec.field, itg, &input.refs) {
            values.set(spec.field, v);
            base_itg.set(spec.field, itg.get(spec.field).map(str::to_owned));
        }
    }
    d.push(
        ActionKind::CreateInPsa {
            org_id: psa_org,
            values: values.clone(),
        },
        rule,
    );
    d.link = LinkUpdate::Store(Link {
        entity: input.entity,
        psa_id: None,
        itg_id: Some(itg.id.clone()),
        state: LinkState::Linked,
        base: Some(Snapshot {
            psa: values,
            itg: base_itg,
            psa_updated_at: 0,
            itg_updated_at: itg.updated_at,
        }),
        updated_at: 0,
    });
}
