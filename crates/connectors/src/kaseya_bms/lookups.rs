//! The name ↔ id tables behind the fields BMS writes by id (account type, asset category, state,
//! manufacturer). Each is loaded from the API on first use and again, once, on a name it does
//! not know (`LookupTable`); entries pinned by the config win; every asset the client reads
//! teaches it the pairs the asset shows.

use reqwest::Method;
use serde_json::Value;
use syncbridge_model::Entity;

use super::client::BmsClient;
use super::fields;
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::lookup_table::LookupTable;
use crate::wire::text;

/// Lookups written by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum BmsLookup {
    AccountType,
    AssetCategory,
    AssetState,
    Manufacturer,
}

impl BmsLookup {
    /// Where the table is read. Account types have their own documented endpoint; the others
    /// go through the documented generic `/v2/system/lookup/{tableName}`, whose table names
    /// are not published (reference §1.4, [gap]): ours are assumptions, see docs/vendors.md.
    fn path(self) -> &'static str {
        match self {
            BmsLookup::AccountType => "/v2/system/accounttypes/lookup",
            BmsLookup::AssetCategory => "/v2/system/lookup/AssetCategories",
            BmsLookup::AssetState => "/v2/system/lookup/AssetStates",
            BmsLookup::Manufacturer => "/v2/system/lookup/Manufacturers",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            BmsLookup::AccountType => "account type",
            BmsLookup::AssetCategory => "asset category",
            BmsLookup::AssetState => "asset status",
            BmsLookup::Manufacturer => "manufacturer",
        }
    }
}

/// Turns a lookup name into the vendor's id: the client asks its tables, tests a fake.
pub(super) trait LookupIds {
    async fn id_of(&self, lookup: BmsLookup, name: &str) -> Result<i64>;
}

/// The client's lookup tables.
#[derive(Debug)]
pub(super) struct Tables {
    account_types: LookupTable,
    categories: LookupTable,
    states: LookupTable,
    manufacturers: LookupTable,
}

impl Tables {
    /// Empty tables but for the pinned entries (id, name) of each asset lookup; `vendor` names
    /// the platform in errors.
    pub(super) fn new(
        vendor: &str,
        categories: &[(u64, String)],
        states: &[(u64, String)],
        manufacturers: &[(u64, String)],
    ) -> Self {
        let table = |lookup: BmsLookup, pinned: &[(u64, String)]| {
            LookupTable::new(
                format!("{vendor} {}", lookup.kind()),
                pinned
                    .iter()
                    .filter_map(|(id, n)| Some((i64::try_from(*id).ok()?, n.clone())))
                    .collect(),
            )
        };
        Tables {
            account_types: table(BmsLookup::AccountType, &[]),
            categories: table(BmsLookup::AssetCategory, categories),
            states: table(BmsLookup::AssetState, states),
            manufacturers: table(BmsLookup::Manufacturer, manufacturers),
        }
    }

    fn get(&self, lookup: BmsLookup) -> &LookupTable {
        match lookup {
            BmsLookup::AccountType => &self.account_types,
            BmsLookup::AssetCategory => &self.categories,
            BmsLookup::AssetState => &self.states,
            BmsLookup::Manufacturer => &self.manufacturers,
        }
    }
}

impl LookupIds for BmsClient {
    /// The id of a lookup name, loading the table on a miss.
    async fn id_of(&self, lookup: BmsLookup, name: &str) -> Result<i64> {
        self.lookups
            .get(lookup)
            .id(name, || self.load_lookup(lookup))
            .await
    }
}

impl BmsClient {
    /// One lookup table from the API: rows with `id` and `name`.
    async fn load_lookup(&self, lookup: BmsLookup) -> Result<Vec<(i64, String)>> {
        let (result, _) = self
            .call(Method::GET, lookup.path(), &[], None, Retry::Idempotent)
            .await?;
        let rows = result
            .as_array()
            .ok_or_else(|| Error::malformed(format!("{} lookup is not a list", lookup.kind())))?;
        Ok(rows
            .iter()
            .filter_map(|t| {
                let id = t.get("id").or_else(|| t.get("Id"))?.as_i64()?;
                let name = text(t.get("name").or_else(|| t.get("Name")))?;
                Some((id, name))
            })
            .collect())
    }

    /// Records the lookup name ↔ id pairs a whole asset shows.
    pub(super) fn learn(&self, asset: &Value) {
        for (lookup, id_key, name_key) in fields::lookups(Entity::Configuration) {
            if let (Some(id), Some(name)) = (
                asset.get(id_key).and_then(Value::as_i64),
                text(asset.get(name_key)),
            ) {
                self.lookups.get(lookup).learn(id, &name);
            }
        }
    }

    /// Records the category name ↔ id pair a thin `searchselect` row shows.
    pub(super) fn learn_thin(&self, row: &Value) {
        if let (Some(id), Some(name)) = (
            row.get("categoryId")
                .and_then(Value::as_i64)
                .filter(|i| *i > 0),
            text(row.get("categoryName")),
        ) {
            self.lookups.get(BmsLookup::AssetCategory).learn(id, &name);
        }
    }
}
