//! Which unlinked IT Glue records two-way sync pushes to the PSA, and when (DESIGN §3, Two-way,
//! Push all, Network Glue).
//!
//! New IT Glue records created by a person or through the API after two-way was enabled are pushed
//! at once. Records that existed before the tenant's first sync, and imported records (marked as
//! such, or created in a burst above `import_burst` per organization per minute), wait until a
//! person edits and saves them. Network Glue (Active Directory) contacts are pushed automatically.
//! A push-all request pushes every syncable record regardless of age or origin.

use syncbridge_model::{Origin, Record};

use crate::action::Rule;
use crate::input::{Input, Trigger};

/// Whether `itg` may be pushed now: `Ok(rule it is pushed under)` or `Err((rule, reason))`.
pub fn may_push(input: &Input, itg: &Record) -> Result<Rule, (Rule, String)> {
    let settings = &input.settings;
    if !settings.capabilities().two_way {
        return Err((
            Rule::TwoWayOnly,
            format!(
                "{} is a one-way PSA: IT Glue records are not pushed",
                settings.psa.display_name()
            ),
        ));
    }
    if !settings.two_way {
        return Err((
            Rule::TwoWayOnly,
            "two-way sync is not enabled for this tenant".into(),
        ));
    }
    if input.trigger == Trigger::PushAll {
        return Ok(Rule::PushAll);
    }
    let edited_since_first_sync =
        itg.updated_at > itg.created_at && input.first_sync_at.is_some_and(|w| itg.updated_at >= w);
    if edited_since_first_sync {
        return Ok(Rule::TwoWayPush);
    }
    let imported =
        itg.origin == Origin::Import || input.recent_creations_in_org > settings.import_burst;
    if imported {
        return Err((
            Rule::ImportedWaits,
            "imported record: not yet pushed until a person edits and saves it".into(),
        ));
    }
    let existed_before_first_sync = input.first_sync_at.is_none_or(|w| itg.created_at < w);
    if existed_before_first_sync {
        return Err((
            Rule::PreexistingWaits,
            "existed before the first sync: not yet pushed until a person edits and saves it"
                .into(),
        ));
    }
    Ok(if itg.origin == Origin::NetworkGlue {
        Rule::NetworkGlueContact
    } else {
        Rule::TwoWayPush
    })
}
