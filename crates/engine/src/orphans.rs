//! Orphans (DESIGN §3): a linked PSA record that is deleted or leaves scope orphans its IT Glue
//! record — the link is marked orphaned and the IT Glue record kept unchanged; orphaning an
//! organization orphans the records under it. Sync never deletes anything in IT Glue. An orphan
//! whose PSA record comes back into scope is relinked to the same IT Glue record.

use syncbridge_model::{Entity, Link, LinkState};

use crate::action::{Action, ActionKind, LinkUpdate, Rule};

/// The actions and link update that orphan `link` (already orphaned: nothing to do).
pub fn orphan(link: &Link, reason: String) -> (Vec<Action>, LinkUpdate) {
    if link.state == LinkState::Orphaned {
        let ignore = Action {
            kind: ActionKind::Ignore {
                reason: format!("already orphaned ({reason})"),
            },
            rule: Rule::Orphan,
        };
        return (vec![ignore], LinkUpdate::Unchanged);
    }
    let psa_id = link.psa_id.clone().unwrap_or_default();
    let mut actions = vec![Action {
        kind: ActionKind::MarkOrphaned {
            psa_id: psa_id.clone(),
            itg_id: link.itg_id.clone().unwrap_or_default(),
        },
        rule: Rule::Orphan,
    }];
    if link.entity == Entity::Organization {
        actions.push(Action {
            kind: ActionKind::OrphanChildren { psa_org_id: psa_id },
            rule: Rule::OrphanChildren,
        });
    }
    actions.push(Action {
        kind: ActionKind::Ignore { reason },
        rule: Rule::Orphan,
    });
    let orphaned = Link {
        state: LinkState::Orphaned,
        ..link.clone()
    };
    (actions, LinkUpdate::Store(orphaned))
}
