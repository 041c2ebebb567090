//! IT Glue's lookup lists: the named entries (types, statuses, manufacturers, models, operating
//! systems, regions, countries) that records refer to by id.
//!
//! A record reads a lookup by the `<stem>-name` attribute IT Glue joins in and writes it by
//! `<stem>-id`, so a write first turns the name into an id ([`ResolveLookup`]). Each list is
//! loaded whole on first use, cached per collection, and reloaded once on a miss before a name
//! is declared unknown, so an entry created meanwhile (by us or someone else) is found and never
//! created twice. The engine creates the entries a PSA value needs ([`LookupKind`]); the rest
//! (contact types, operating systems, regions, countries) are only ever looked up.

use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_model::LookupKind;

use super::client::{json_api_type, ItGlueClient};
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::wire::{id_of, text};

/// An IT Glue lookup entry (configuration type, status, manufacturer, model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub id: String,
    pub name: String,
    /// Models only: the manufacturer they belong to.
    pub manufacturer_id: Option<String>,
}

/// One IT Glue lookup list and how records refer to its entries.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct LookupList {
    /// The collection path segment: `/organization_types`.
    pub collection: &'static str,
    /// A record's attributes for an entry: `<stem>-id` (written), `<stem>-name` (read).
    pub stem: &'static str,
    /// What an entry is called in an error.
    pub entry: &'static str,
}

impl LookupList {
    /// The attribute a write sets to the entry's id.
    pub fn id_key(&self) -> String {
        format!("{}-id", self.stem)
    }

    /// The attribute IT Glue joins the entry's name into, on read.
    pub fn name_key(&self) -> String {
        format!("{}-name", self.stem)
    }
}

const fn list(collection: &'static str, stem: &'static str, entry: &'static str) -> LookupList {
    LookupList {
        collection,
        stem,
        entry,
    }
}

pub(super) const ORGANIZATION_TYPES: LookupList = list(
    "organization_types",
    "organization-type",
    "organization type",
);
pub(super) const ORGANIZATION_STATUSES: LookupList = list(
    "organization_statuses",
    "organization-status",
    "organization status",
);
pub(super) const CONFIGURATION_TYPES: LookupList = list(
    "configuration_types",
    "configuration-type",
    "configuration type",
);
pub(super) const CONFIGURATION_STATUSES: LookupList = list(
    "configuration_statuses",
    "configuration-status",
    "configuration status",
);
pub(super) const CONTACT_TYPES: LookupList = list("contact_types", "contact-type", "contact type");
pub(super) const MANUFACTURERS: LookupList = list("manufacturers", "manufacturer", "manufacturer");
pub(super) const MODELS: LookupList = list("models", "model", "model");
pub(super) const OPERATING_SYSTEMS: LookupList =
    list("operating_systems", "operating-system", "operating system");
// Regions and countries are IT Glue's global lists: there is nothing to create. A location writes
// them by id only, since IT Glue ignores `region-name` / `country-name` in a write (audit ITG-4):
// a name it does not list is an `UnknownLookup`, not a silently dropped attribute.
pub(super) const REGIONS: LookupList = list("regions", "region", "IT Glue region");
pub(super) const COUNTRIES: LookupList = list("countries", "country", "IT Glue country");

/// The list the engine creates entries of for `kind`.
fn lookup_list(kind: LookupKind) -> &'static LookupList {
    match kind {
        LookupKind::OrganizationType => &ORGANIZATION_TYPES,
        LookupKind::OrganizationStatus => &ORGANIZATION_STATUSES,
        LookupKind::ConfigurationType => &CONFIGURATION_TYPES,
        LookupKind::ConfigurationStatus => &CONFIGURATION_STATUSES,
        LookupKind::Manufacturer => &MANUFACTURERS,
        LookupKind::Model => &MODELS,
    }
}

/// Turns a lookup name into the id a write carries. The client resolves through its cached
/// lists; the field table's tests through a fake.
pub(super) trait ResolveLookup {
    /// The id of the entry of `list` named exactly `name`; `UnknownLookup` when there is none.
    async fn id_of_entry(&self, list: &'static LookupList, name: &str) -> Result<String>;
}

impl ResolveLookup for ItGlueClient {
    async fn id_of_entry(&self, list: &'static LookupList, name: &str) -> Result<String> {
        self.lookup_id(list.collection, name)
            .await?
            .ok_or_else(|| Error::UnknownLookup {
                kind: list.entry.to_owned(),
                name: name.to_owned(),
            })
    }
}

impl ItGlueClient {
    /// Every entry of a lookup list.
    pub async fn list_lookups(&self, kind: LookupKind) -> Result<Vec<Lookup>> {
        self.fetch_lookups(lookup_list(kind).collection).await
    }

    /// The lookup entry named exactly `name`, created when IT Glue has none (the list is
    /// reloaded once before deciding it is missing, so a stale caller never creates a twin).
    pub async fn ensure_lookup(
        &self,
        kind: LookupKind,
        name: &str,
        manufacturer_id: Option<&str>,
    ) -> Result<Lookup> {
        match self.lookup_id(lookup_list(kind).collection, name).await? {
            Some(id) => Ok(Lookup {
                id,
                name: name.to_owned(),
                manufacturer_id: manufacturer_id.map(str::to_owned),
            }),
            None => self.create_lookup(kind, name, manufacturer_id).await,
        }
    }

    /// Creates a lookup entry (a model needs its manufacturer's id).
    pub async fn create_lookup(
        &self,
        kind: LookupKind,
        name: &str,
        manufacturer_id: Option<&str>,
    ) -> Result<Lookup> {
        let coll = lookup_list(kind).collection;
        let mut attrs = Map::new();
        attrs.insert("name".into(), name.into());
        if kind == LookupKind::Model {
            let m = manufacturer_id
                .ok_or_else(|| Error::InvalidInput("a model needs a manufacturer".into()))?;
            attrs.insert("manufacturer-id".into(), m.into());
        }
        let body = json!({"data": {"type": json_api_type(coll), "attributes": attrs}});
        let reply = self
            .call(
                Method::POST,
                &format!("/{coll}"),
                &[],
                Some(body),
                Retry::Once,
            )
            .await?;
        let doc = reply.json()?;
        let lookup = doc
            .get("data")
            .map(to_lookup)
            .transpose()?
            .ok_or_else(|| Error::malformed("answer without data"))?;
        self.lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(coll);
        Ok(lookup)
    }

    /// Loads a whole list (every page) and caches it.
    async fn fetch_lookups(&self, coll: &'static str) -> Result<Vec<Lookup>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let (data, next) = self
                .list_resources(coll, Vec::new(), cursor.as_ref())
                .await?;
            for d in &data {
                out.push(to_lookup(d)?);
            }
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        self.lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(coll, out.clone());
        Ok(out)
    }

    /// The id of the lookup entry named exactly `name`, reloading the list once on a miss.
    async fn lookup_id(&self, coll: &'static str, name: &str) -> Result<Option<String>> {
        let cached = |this: &Self| -> Option<Option<String>> {
            let map = this.lookups.lock().unwrap_or_else(|e| e.into_inner());
            map.get(coll)
                .map(|list| list.iter().find(|l| l.name == name).map(|l| l.id.clone()))
        };
        if let Some(Some(id)) = cached(self) {
            return Ok(Some(id));
        }
        let list = self.fetch_lookups(coll).await?;
        Ok(list.into_iter().find(|l| l.name == name).map(|l| l.id))
    }
}

fn to_lookup(resource: &Value) -> Result<Lookup> {
    let attrs = resource.get("attributes");
    Ok(Lookup {
        id: id_of(resource, "id")?,
        name: text(attrs.and_then(|a| a.get("name"))).unwrap_or_default(),
        manufacturer_id: text(attrs.and_then(|a| a.get("manufacturer-id"))),
    })
}
