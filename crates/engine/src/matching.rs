//! Exact matching (DESIGN §3): how an unlinked record finds its counterpart on the other side.
//!
//! Two strings match only if they are byte-for-byte equal: case-sensitive, no trimming, no Unicode
//! normalisation, no fuzzy logic — IT Glue's own rule. Keys: organization = name; contact =
//! organization + first + last name; configuration = organization + type + name, with serial
//! number and MAC address also equal where both sides have one; location = organization + address
//! 1, address 2, city, state/province, country. Only candidates not linked to another record count.
//!
//! A *near miss* is a candidate that would match if case, whitespace or Unicode form were ignored;
//! it never links, it is only reported.

use syncbridge_model::{key_fields, Entity, Field, Record};
use unicode_normalization::UnicodeNormalization;

use crate::input::Candidate;

/// The outcome of matching one record against its candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome<'a> {
    /// Exactly one candidate has the same key.
    One(&'a Record),
    /// Several candidates have the same key: link nothing, create nothing.
    Ambiguous(Vec<&'a Record>),
    /// No exact match; these candidates would match if case/whitespace/Unicode form were ignored.
    NearMisses(Vec<&'a Record>),
    /// No match at all.
    None,
}

/// Whether `a` and `b` have the same exact key for `entity`. Organization membership is checked
/// by the caller (it needs the parent's link), so only the record's own key fields compare here.
pub fn same_key(entity: Entity, a: &Record, b: &Record) -> bool {
    key_fields(entity).iter().all(|f| a.get(*f) == b.get(*f)) && hardware_ids_agree(entity, a, b)
}

/// Configurations: serial number and MAC address must be equal where both sides have a value.
fn hardware_ids_agree(entity: Entity, a: &Record, b: &Record) -> bool {
    if entity != Entity::Configuration {
        return true;
    }
    [Field::SerialNumber, Field::MacAddress]
        .into_iter()
        .all(|f| match (a.get(f), b.get(f)) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        })
}

/// The loose form used only to *report* near misses: NFKC, lower case, whitespace trimmed and
/// collapsed. Never used to link.
pub fn loose(s: &str) -> String {
    let folded: String = s.nfkc().collect::<String>().to_lowercase();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `a` and `b` have the same key in [`loose`] form: a near miss when they are not
/// [`same_key`]. Used to find near misses among listed records and to report them; never to link.
pub fn same_loose_key(entity: Entity, a: &Record, b: &Record) -> bool {
    let loose_eq = |f: Field| match (a.get(f), b.get(f)) {
        (Some(x), Some(y)) => loose(x) == loose(y),
        (None, None) => true,
        _ => false,
    };
    key_fields(entity).iter().all(|f| loose_eq(*f))
        && (entity != Entity::Configuration
            || [Field::SerialNumber, Field::MacAddress]
                .into_iter()
                .all(|f| a.get(f).is_none() || b.get(f).is_none() || loose_eq(f)))
}

/// Matches `record` against `candidates`.
///
/// `own_id` is the record's id: a candidate already linked to it (a resumed create whose reverse
/// link was stored) still counts. `org_id` is the organization the candidates must belong to, on
/// the candidates' side (`None` for organizations).
pub fn find_match<'a>(
    entity: Entity,
    record: &Record,
    own_id: &str,
    org_id: Option<&str>,
    candidates: &'a [Candidate],
) -> MatchOutcome<'a> {
    let eligible: Vec<&Record> = candidates
        .iter()
        .filter(|c| c.linked_to.as_deref().is_none_or(|l| l == own_id))
        .filter(|c| org_id.is_none() || c.record.org_id.as_deref() == org_id)
        .map(|c| &c.record)
        .collect();
    let exact: Vec<&Record> = eligible
        .iter()
        .copied()
        .filter(|c| same_key(entity, record, c))
        .collect();
    match exact.as_slice() {
        [one] => MatchOutcome::One(one),
        [_, _, ..] => MatchOutcome::Ambiguous(exact),
        [] => {
            let near: Vec<&Record> = eligible
                .into_iter()
                .filter(|c| same_loose_key(entity, record, c))
                .collect();
            if near.is_empty() {
                MatchOutcome::None
            } else {
                MatchOutcome::NearMisses(near)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str, name: &str) -> Record {
        Record::new(id).with(Field::Name, name)
    }

    #[test]
    fn loose_form_folds_case_whitespace_and_unicode() {
        assert_eq!(loose("  ACME   Corp "), "acme corp");
        assert_eq!(loose("Cafe\u{301}"), loose("Caf\u{e9}"));
        assert_ne!(loose("Acme."), loose("Acme"));
    }

    #[test]
    fn exact_key_is_byte_for_byte() {
        let a = org("1", "Acme");
        assert!(same_key(Entity::Organization, &a, &org("2", "Acme")));
        for variant in ["acme", "ACME", " Acme", "Acme ", "Acme.", "Ac\u{200b}me"] {
            assert!(
                !same_key(Entity::Organization, &a, &org("2", variant)),
                "{variant:?}"
            );
        }
    }
}
