//! The date kind: one canonical form for the calendar-date fields every vendor writes differently.
//!
//! IT Glue keeps `installed-at`, `purchased-at` and `warranty-expires-at` as `YYYY-MM-DD`;
//! ConnectWise answers the same dates as zoned date-times (`2024-01-02T00:00:00Z`), Autotask, Kaseya
//! BMS and Pulseway as zone-less ones (`2024-01-02T00:00:00` or `…T00:00:00.000`). Compared as
//! strings, the same day would differ on every read, and "the PSA always wins" would write it back
//! to IT Glue on every event — a write that changes nothing, forever (vendor audit X-1).
//!
//! So [`Values`](crate::Values) stores a date field in one form: the calendar date the vendor
//! wrote, `YYYY-MM-DD`. The date is taken as written, not converted through a time zone: these are
//! calendar dates to which the vendors attach a midnight of their own, and a `+02:00` midnight names
//! the same day as IT Glue's date, not the day before. A value that is not a date at all is kept
//! verbatim, so nothing a vendor holds is ever lost by normalising; connectors turn the canonical
//! date back into their vendor's own format when they write.

use crate::fields::Field;

/// Whether the field holds a calendar date (and so is kept as `YYYY-MM-DD`).
pub fn is_date_field(field: Field) -> bool {
    matches!(
        field,
        Field::InstalledAt | Field::PurchasedAt | Field::WarrantyExpiresAt
    )
}

/// The calendar date a date or date-time names, as `YYYY-MM-DD`; `None` when `value` is neither.
///
/// Accepts `YYYY-MM-DD`, and that date followed by `T` or a space and a time `HH:MM[:SS[.fff…]]`,
/// optionally zoned (`Z`, `±HH:MM`, `±HHMM`).
pub fn canonical_date(value: &str) -> Option<String> {
    let value = value.trim();
    // Vendors send any text here: byte 10 may fall inside a character (then it is no date).
    let (date, rest) = value.split_at_checked(value.len().min(10))?;
    let (year, month, day) = parse_date(date)?;
    if !rest.is_empty() {
        let time = rest.strip_prefix(['T', 't', ' '])?;
        if !is_time(time) {
            return None;
        }
    }
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

/// How a vendor writes a date-time: ConnectWise zoned (`…T00:00:00Z`), Autotask, Kaseya BMS and
/// Pulseway zone-less (`…T00:00:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeForm {
    Utc,
    ZoneLess,
}

/// A canonical date as the midnight date-time a vendor writes; a value that is not a date is
/// returned unchanged (the vendor then refuses it with its own message).
pub fn midnight(date: &str, form: DateTimeForm) -> String {
    match (canonical_date(date), form) {
        (Some(d), DateTimeForm::Utc) => format!("{d}T00:00:00Z"),
        (Some(d), DateTimeForm::ZoneLess) => format!("{d}T00:00:00"),
        (None, _) => date.to_owned(),
    }
}

/// `value` in canonical form for `field`: the date of a date field, otherwise unchanged.
pub(crate) fn normalise(field: Field, value: String) -> String {
    if !is_date_field(field) {
        return value;
    }
    canonical_date(&value).unwrap_or(value)
}

fn parse_date(date: &str) -> Option<(u32, u32, u32)> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&date[0..4])?;
    let month = digits(&date[5..7])?;
    let day = digits(&date[8..10])?;
    (1..=12).contains(&month).then_some(())?;
    (1..=days_in_month(year, month))
        .contains(&day)
        .then_some(())?;
    Some((year, month, day))
}

/// `HH:MM[:SS[.f…]]` followed by nothing, `Z`, or an offset `±HH:MM` / `±HHMM`.
fn is_time(time: &str) -> bool {
    let (clock, zone) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => time.split_at(i),
        None => (time, ""),
    };
    let zone_ok = match zone {
        "" | "Z" | "z" => true,
        _ => {
            let offset = zone[1..].replace(':', "");
            offset.len() == 4
                && offset.get(0..2).and_then(digits).is_some_and(|h| h <= 23)
                && offset.get(2..4).and_then(digits).is_some_and(|m| m <= 59)
        }
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let fraction_ok = fraction.is_none_or(|f| !f.is_empty() && digits_only(f));
    let parts: Vec<&str> = hms.split(':').collect();
    let limits = [23, 59, 60];
    let hms_ok = (2..=3).contains(&parts.len())
        && (fraction.is_none() || parts.len() == 3)
        && parts
            .iter()
            .zip(limits)
            .all(|(p, max)| p.len() == 2 && digits(p).is_some_and(|n| n <= max));
    zone_ok && fraction_ok && hms_ok
}

fn digits(s: &str) -> Option<u32> {
    digits_only(s).then(|| s.parse().ok()).flatten()
}

fn digits_only(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_form_of_one_day_is_the_same_date() {
        for v in [
            "2024-01-02",              // IT Glue
            "2024-01-02T00:00:00Z",    // ConnectWise
            "2024-01-02T00:00:00",     // Autotask, Kaseya BMS, Pulseway
            "2024-01-02T13:10:35.563", // Autotask with milliseconds
            "2024-01-02T00:00",
        ] {
            assert_eq!(canonical_date(v).as_deref(), Some("2024-01-02"), "{v}");
        }
        assert_eq!(
            canonical_date("2024-01-02T00:00:00+02:00").as_deref(),
            Some("2024-01-02"),
            "a zoned midnight names its own calendar day"
        );
        assert_eq!(
            canonical_date("2024-01-02 23:59:59.5-0500").as_deref(),
            Some("2024-01-02")
        );
    }

    #[test]
    fn what_is_not_a_date_is_refused() {
        for v in [
            "",
            "2024-1-2",
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-01-02T",
            "2024-01-02T25:00",
            "2024-01-02T10:00:00+2",
            "2024-01-02Tnoon",
            "next tuesday",
            "2024-01-02X00:00",
            "2024-01-0\u{e9}",      // byte 10 inside a character (found by fuzzing)
            "2024-035\u{fffd}.563", // the fuzzer's input, as the lossy text it became
            "2024-01-02T10:00+1\u{e9}2", // a 4-byte offset that is not 4 characters
        ] {
            assert_eq!(canonical_date(v), None, "{v:?}");
        }
        assert_eq!(canonical_date("2024-02-29").as_deref(), Some("2024-02-29"));
    }

    #[test]
    fn a_date_is_written_as_each_vendors_midnight() {
        assert_eq!(
            midnight("2024-01-02", DateTimeForm::Utc),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(
            midnight("2024-01-02", DateTimeForm::ZoneLess),
            "2024-01-02T00:00:00"
        );
        assert_eq!(midnight("soon", DateTimeForm::Utc), "soon");
    }

    #[test]
    fn only_date_fields_are_normalised_and_nothing_is_lost() {
        assert_eq!(
            normalise(Field::InstalledAt, "2024-01-02T00:00:00Z".into()),
            "2024-01-02"
        );
        assert_eq!(
            normalise(Field::WarrantyExpiresAt, "soon".into()),
            "soon",
            "an unreadable date is kept as the vendor wrote it"
        );
        assert_eq!(
            normalise(Field::Notes, "2024-01-02T00:00:00Z".into()),
            "2024-01-02T00:00:00Z"
        );
    }
}
