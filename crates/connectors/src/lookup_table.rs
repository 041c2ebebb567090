//! Vendor id maps (picklists, lookup tables) learned from the vendor's API and cached per
//! client: a fresh client loads a table on first use, and a name or id the cache does not know
//! makes it load the table again, once, before the answer is "unknown".
//!
//! Refreshes are single-flight: concurrent misses wait for one load, and a task whose miss
//! happened before someone else's completed load only looks again (the generation counter tells).
//! Reads, which only turn ids into names, reload at most every [`READ_REFRESH`], so a record
//! carrying an id the vendor no longer lists does not cost a request per read.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The least time between two reloads caused by reads (an id without a name).
pub(crate) const READ_REFRESH: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    /// Loaded entries, pinned ones first (they win on a name found twice).
    entries: Vec<(i64, String)>,
    generation: u64,
    loaded_at: Option<Instant>,
}

/// One name ↔ id table.
#[derive(Debug)]
pub(crate) struct LookupTable {
    /// What the table holds, for errors: "configuration item type".
    kind: String,
    /// Entries given by configuration, kept across loads.
    pinned: Vec<(i64, String)>,
    state: Mutex<State>,
    refresh: tokio::sync::Mutex<()>,
}

impl LookupTable {
    pub(crate) fn new(kind: impl Into<String>, pinned: Vec<(i64, String)>) -> Self {
        LookupTable {
            kind: kind.into(),
            state: Mutex::new(State {
                entries: pinned.clone(),
                ..State::default()
            }),
            pinned,
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of `name` (exact match) and the generation it was looked up in.
    fn find_id(&self, name: &str) -> (Option<i64>, u64) {
        let st = self.lock();
        let id = st.entries.iter().find(|(_, n)| n == name).map(|(i, _)| *i);
        (id, st.generation)
    }

    /// The name of `id`, if known.
    pub(crate) fn name_of(&self, id: i64) -> Option<String> {
        self.lock()
            .entries
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
    }

    /// Whether a read that met an unknown id may reload now.
    fn read_may_reload(&self) -> bool {
        self.lock()
            .loaded_at
            .is_none_or(|at| at.elapsed() >= READ_REFRESH)
    }

    /// Adds one pair seen in a record (not a load: the generation stays).
    pub(crate) fn learn(&self, id: i64, name: &str) {
        let mut st = self.lock();
        if !st.entries.iter().any(|(i, n)| *i == id && n == name) {
            st.entries.push((id, name.to_owned()));
        }
    }

    /// Loads the table with `load` unless a load finished since generation `seen`.
    async fn reload<F, Fut>(&self, seen: u64, load: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<(i64, String)>>>,
    {
        let _one = self.refresh.lock().await;
        if self.lock().generation != seen {
            return Ok(());
        }
        let loaded = load().await?;
        let mut st = self.lock();
        let mut entries = self.pinned.clone();
        entries.extend(loaded);
        st.entries = entries;
        st.generation += 1;
        st.loaded_at = Some(Instant::now());
        tracing::debug!(kind = %self.kind, entries = st.entries.len(), "lookup table loaded");
        Ok(())
    }

    /// The id of `name`: from the cache, else after one reload through `load`; a name the
    /// vendor does not have is [`Error::UnknownLookup`] naming the kind and the name.
    pub(crate) async fn id<F, Fut>(&self, name: &str, load: F) -> Result<i64>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<(i64, String)>>>,
    {
        let (hit, seen) = self.find_id(name);
        if let Some(id) = hit {
            return Ok(id);
        }
        self.reload(seen, load).await?;
        self.find_id(name).0.ok_or_else(|| self.unknown(name))
    }

    /// Makes sure every id in `ids` has a name if the vendor has one: reloads once when one is
    /// missing (never loaded, or last loaded more than [`READ_REFRESH`] ago).
    pub(crate) async fn cover<F, Fut>(&self, ids: &[i64], load: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<(i64, String)>>>,
    {
        let missing = {
            let st = self.lock();
            ids.iter()
                .any(|id| !st.entries.iter().any(|(i, _)| i == id))
        };
        if missing && self.read_may_reload() {
            let seen = self.lock().generation;
            self.reload(seen, load).await?;
        }
        Ok(())
    }

    pub(crate) fn unknown(&self, name: &str) -> Error {
        Error::UnknownLookup {
            kind: self.kind.clone(),
            name: name.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn loads_on_first_miss_then_once_per_miss_and_names_the_unknown() {
        let table = LookupTable::new("widget type", vec![(9, "Pinned".into())]);
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![(1, "Server".to_owned()), (9, "Shadowed".to_owned())])
        };
        assert_eq!(table.id("Pinned", load).await.unwrap(), 9);
        assert_eq!(loads.load(Ordering::SeqCst), 0);
        assert_eq!(table.id("Server", load).await.unwrap(), 1);
        assert_eq!(table.id("Server", load).await.unwrap(), 1);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(table.name_of(9).as_deref(), Some("Pinned"));
        let err = table.id("Nope", load).await.unwrap_err();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        assert_eq!(err.to_string(), "unknown widget type \"Nope\"");
        // Reads reload at most every READ_REFRESH.
        table.cover(&[42], load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_load_is_the_error_and_a_fresh_read_loads() {
        let table = LookupTable::new("t", Vec::new());
        let err = table
            .id("x", || async { Err(Error::Transport("down".into())) })
            .await
            .unwrap_err();
        assert!(err.is_transient());
        table
            .cover(&[1], || async { Ok(vec![(1, "One".to_owned())]) })
            .await
            .unwrap();
        assert_eq!(table.name_of(1).as_deref(), Some("One"));
    }
}
