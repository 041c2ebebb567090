//! Autotask Products: a configuration item's manufacturer and model are the `Products` row its
//! `productID` names (reference §2.2: Manufacturer ⇄ `manufacturerName`, Model ⇄
//! `manufacturerProductName`; the product's name is the item's name when it has no reference
//! title).
//!
//! Reads fetch the products a page names in batches (`in` on `id`) and keep them for
//! [`PRODUCT_TTL`]. Writes look for the product with exactly that manufacturer and model in the
//! cache, else with an `eq` query; none is [`Error::UnknownLookup`] (a wrong product would be a
//! silent data change). Autotask requires a product, so an item without manufacturer and model
//! gets the [`FallbackProduct`]; products need a billing code only the tenant can choose, so the
//! connector never creates one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::AutotaskClient;
use super::query::condition;
use crate::error::{Error, Result};
use crate::wire::text;

/// Product ids asked for in one `in` condition.
const PRODUCT_BATCH: usize = 100;
/// How long product names (manufacturer, model) are trusted before they are asked again.
const PRODUCT_TTL: Duration = Duration::from_secs(600);
/// Default name of the fallback product ([`FallbackProduct::Named`]).
pub const DEFAULT_FALLBACK_PRODUCT: &str = "Generic Configuration Item";

/// The product a configuration item without manufacturer and model gets (Autotask requires a
/// `productID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackProduct {
    /// This product id.
    Id(u64),
    /// The active product of this exact name (lowest id), looked up once; create it in Autotask
    /// (Products need a billing code, which only the tenant can choose).
    Named(String),
}

/// An Autotask Products row, as far as configuration items need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Product {
    pub(super) id: u64,
    pub(super) name: Option<String>,
    pub(super) maker: Option<String>,
    pub(super) model: Option<String>,
    pub(super) active: bool,
}

impl Product {
    fn from_item(item: &Value) -> Option<Product> {
        Some(Product {
            id: item.get("id")?.as_u64()?,
            name: text(item.get("name")),
            maker: text(item.get("manufacturerName")),
            model: text(item.get("manufacturerProductName")),
            active: item
                .get("isActive")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }
}

/// The products read so far, dropped as a whole every [`PRODUCT_TTL`].
#[derive(Debug)]
pub(super) struct ProductCache {
    by_id: HashMap<u64, Product>,
    since: Instant,
}

impl ProductCache {
    pub(super) fn new() -> Self {
        ProductCache {
            by_id: HashMap::new(),
            since: Instant::now(),
        }
    }
}

impl AutotaskClient {
    /// The product of configuration items without manufacturer and model
    /// ([`AutotaskConfig::fallback_product`](super::AutotaskConfig::fallback_product)).
    pub(super) async fn fallback_product(&self) -> Result<u64> {
        let name = match &self.fallback_product {
            FallbackProduct::Id(id) => return Ok(*id),
            FallbackProduct::Named(name) => name,
        };
        if let Some(id) = *self
            .fallback_product_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            return Ok(id);
        }
        let items = self
            .query_all(
                "Products",
                vec![condition("eq", "name", name.clone().into())],
            )
            .await?;
        self.remember_products(&items);
        let id = items
            .iter()
            .filter_map(Product::from_item)
            .filter(|p| p.active && p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.id)
            .min()
            .ok_or_else(|| Error::UnknownLookup {
                kind: "Autotask product for configuration items without manufacturer and model \
                       (create an active product of this name in Autotask, or configure \
                       fallback_product)"
                    .into(),
                name: name.clone(),
            })?;
        *self
            .fallback_product_id
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(id);
        Ok(id)
    }

    /// The products `items` name (`productID`), from the cache or asked for (batched `in`
    /// queries).
    pub(super) async fn cover_products(&self, items: &[Value]) -> Result<()> {
        let missing: Vec<u64> = {
            let mut cache = self.products.lock().unwrap_or_else(|e| e.into_inner());
            if cache.since.elapsed() >= PRODUCT_TTL {
                *cache = ProductCache::new();
            }
            let mut m: Vec<u64> = items
                .iter()
                .filter_map(|i| i.get(super::fields::PRODUCT_KEY).and_then(Value::as_u64))
                .filter(|id| !cache.by_id.contains_key(id))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        for batch in missing.chunks(PRODUCT_BATCH) {
            let ids: Vec<Value> = batch.iter().map(|i| Value::from(*i)).collect();
            let items = self
                .query_all("Products", vec![condition("in", "id", Value::Array(ids))])
                .await?;
            self.remember_products(&items);
        }
        Ok(())
    }

    fn remember_products(&self, items: &[Value]) {
        let mut cache = self.products.lock().unwrap_or_else(|e| e.into_inner());
        for p in items.iter().filter_map(Product::from_item) {
            cache.by_id.insert(p.id, p);
        }
    }

    /// A cached product.
    pub(super) fn product(&self, id: u64) -> Option<Product> {
        self.products
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .get(&id)
            .cloned()
    }

    /// The product with this manufacturer and model (exact; active ones first, then the lowest
    /// id), from the cache or the Products entity.
    pub(super) async fn find_product(
        &self,
        maker: Option<&str>,
        model: Option<&str>,
    ) -> Result<u64> {
        let fits = |p: &Product| {
            maker.is_none_or(|m| p.maker.as_deref() == Some(m))
                && model.is_none_or(|m| p.model.as_deref() == Some(m))
        };
        let best = |products: &mut dyn Iterator<Item = &Product>| {
            products
                .filter(|p| fits(p))
                .min_by_key(|p| (!p.active, p.id))
                .map(|p| p.id)
        };
        let cached = {
            let cache = self.products.lock().unwrap_or_else(|e| e.into_inner());
            best(&mut cache.by_id.values())
        };
        if let Some(id) = cached {
            return Ok(id);
        }
        let mut filter = Vec::new();
        if let Some(m) = maker {
            filter.push(condition("eq", "manufacturerName", m.into()));
        }
        if let Some(m) = model {
            filter.push(condition("eq", "manufacturerProductName", m.into()));
        }
        let items = self.query_all("Products", filter).await?;
        self.remember_products(&items);
        let found: Vec<Product> = items.iter().filter_map(Product::from_item).collect();
        best(&mut found.iter()).ok_or_else(|| Error::UnknownLookup {
            kind: "Autotask product (manufacturer / model)".into(),
            name: format!("{} / {}", maker.unwrap_or("-"), model.unwrap_or("-")),
        })
    }
}
