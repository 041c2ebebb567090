//! Fuzz entry functions for `syncbridge-model`: the text every vendor response and route segment
//! passes through before it becomes a value syncbridge trusts.
//!
//! Shared by the libFuzzer targets in `fuzz/fuzz_targets/` and by the seed-replay test
//! `crates/model/tests/fuzz_seeds.rs` (which includes this file by path).

use std::str::FromStr;

use syncbridge_model::dates::{canonical_date, midnight, DateTimeForm};
use syncbridge_model::{Entity, PsaKind, TenantId};

/// Dates as vendors write them. Invariants: a canonical date is `YYYY-MM-DD`, canonical itself,
/// and survives the round trip through each vendor's midnight form (render → parse gives it
/// back); a value that is not a date is written unchanged.
pub fn dates(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match canonical_date(&text) {
        Some(date) => {
            let b = date.as_bytes();
            assert!(
                b.len() == 10
                    && b[4] == b'-'
                    && b[7] == b'-'
                    && b.iter()
                        .enumerate()
                        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit()),
                "{text:?} gave {date:?}"
            );
            assert_eq!(canonical_date(&date).as_deref(), Some(date.as_str()));
            for form in [DateTimeForm::Utc, DateTimeForm::ZoneLess] {
                let rendered = midnight(&date, form);
                assert_eq!(
                    canonical_date(&rendered).as_deref(),
                    Some(date.as_str()),
                    "{form:?} midnight {rendered:?} of {date:?}"
                );
                assert_eq!(midnight(&text, form), rendered);
            }
        }
        None => {
            for form in [DateTimeForm::Utc, DateTimeForm::ZoneLess] {
                assert_eq!(midnight(&text, form), text);
            }
        }
    }
}

/// Identifiers read from routes, configuration and NATS subjects. Invariants: an accepted tenant
/// id is `[a-z0-9_-]{1,64}` and displays as given; entity and PSA names parse only from their
/// own names (parse → render → parse).
pub fn ids(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(tenant) = TenantId::new(text.as_ref()) {
        assert_eq!(tenant.as_str(), text);
        assert_eq!(tenant.to_string(), text);
        assert!((1..=64).contains(&text.len()));
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'));
    }
    if let Ok(entity) = Entity::from_str(&text) {
        assert_eq!(entity.as_str(), text);
        assert_eq!(Entity::from_str(&entity.to_string()).ok(), Some(entity));
    }
    if let Ok(psa) = PsaKind::from_str(&text) {
        assert_eq!(PsaKind::from_str(&psa.to_string()).ok(), Some(psa));
    }
}
