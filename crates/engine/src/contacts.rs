//! Contact rules (DESIGN §3): contacts enter sync only with `contacts_sync` on, and a contact is
//! associated with a configuration only when the PSA documents it in the configuration's client.
//!
//! "Only if the organization holds no contact with the same first and last name (if one exists it
//! is linked instead)" is the ordinary exact match on the contact key (organization + first + last
//! name), so it lives in [`crate::matching`].

use syncbridge_model::TenantSettings;

use crate::input::Refs;

/// Whether a new (unlinked) PSA contact may enter sync. Contacts already linked keep syncing
/// whatever this says; with `contacts_sync` off nothing new is created *or* linked, so a person's
/// IT Glue contacts are never taken over by a setting they left off.
pub fn new_contacts_allowed(settings: &TenantSettings) -> Result<(), String> {
    if settings.contacts_sync {
        Ok(())
    } else {
        Err("contacts sync is off: new PSA contacts are not created or linked in IT Glue".into())
    }
}

/// The association of a PSA contact with a configuration of company `config_company`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Association {
    /// Documented in the same client: associate.
    SameClient,
    /// Documented in another client: the association is ignored (IT Glue does the same).
    OtherClient(String),
    /// The contact's company is not known to this decision; retried later.
    Unknown(String),
}

pub fn association(refs: &Refs, psa_contact_id: &str, config_company: Option<&str>) -> Association {
    match (refs.company_of_contact(psa_contact_id), config_company) {
        (Some(c), Some(cfg)) if c == cfg => Association::SameClient,
        (Some(c), _) => Association::OtherClient(format!(
            "contact {psa_contact_id} is documented in company {c}, not in the configuration's company"
        )),
        (None, _) => Association::Unknown(format!(
            "company of contact {psa_contact_id} is not known yet"
        )),
    }
}
