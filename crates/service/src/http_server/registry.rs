//! The open connections of one listener and its cap: at `max_connections`, a new connection
//! takes the slot of the longest-idle connection with no request in flight, or is refused when
//! every connection is busy. Both are counted (`syncbridge_http_connection_limit_hits_total`)
//! and logged at most once per [`RateLimited::PERIOD`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::connection::Activity;
use super::RateLimited;
use crate::runtime::metrics;

/// The connections of one listener.
#[derive(Debug)]
pub struct Registry {
    name: &'static str,
    max: usize,
    open: Mutex<Open>,
    /// One warn line per period for each action.
    closed_idle_warning: RateLimited,
    refused_warning: RateLimited,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    connections: HashMap<u64, Arc<Activity>>,
}

impl Registry {
    pub fn new(name: &'static str, max: usize) -> Registry {
        metrics::http_connections_max(name, max);
        metrics::http_connections_open(name, 0);
        Registry {
            name,
            max: max.max(1),
            open: Mutex::new(Open::default()),
            closed_idle_warning: RateLimited::default(),
            refused_warning: RateLimited::default(),
        }
    }

    /// A slot for a new connection, making room at the cap by closing the longest-idle one;
    /// `None` when every connection has a request in flight (the caller closes the new one).
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.connections.len() >= self.max {
            let closed_idle = open.evict_longest_idle();
            let action = if closed_idle {
                "closed_idle"
            } else {
                "refused"
            };
            metrics::http_connection_limit_hit(self.name, action);
            if closed_idle {
                if let Some(suppressed) = self.closed_idle_warning.check() {
                    tracing::warn!(
                        listener = self.name,
                        max_connections = self.max,
                        suppressed,
                        "connection limit reached: closed the longest-idle connection to admit a \
                         new one (suppressed = similar events since the last line)"
                    );
                }
            } else if let Some(suppressed) = self.refused_warning.check() {
                tracing::warn!(
                    listener = self.name,
                    max_connections = self.max,
                    suppressed,
                    "connection limit reached and every connection has a request in flight: \
                     refused a new connection (suppressed = similar events since the last line)"
                );
            }
            if !closed_idle {
                return None;
            }
        }
        let id = open.next_id;
        open.next_id += 1;
        let activity = Arc::new(Activity::new());
        open.connections.insert(id, activity.clone());
        metrics::http_connections_open(self.name, open.connections.len());
        Some(Slot {
            registry: self.clone(),
            id,
            activity,
        })
    }

    /// Closes the longest-idle connection (out of file descriptors); whether there was one.
    pub fn shed_idle(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let closed = open.evict_longest_idle();
        if closed {
            metrics::http_connection_limit_hit(self.name, "closed_idle");
            metrics::http_connections_open(self.name, open.connections.len());
        }
        closed
    }

    /// Open connections now.
    pub fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .connections
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn release(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.connections.remove(&id).is_some() {
            metrics::http_connections_open(self.name, open.connections.len());
        }
    }
}

impl Open {
    /// Removes the connection without a request in flight that was active longest ago, and tells
    /// it to close.
    fn evict_longest_idle(&mut self) -> bool {
        let victim = self
            .connections
            .iter()
            .filter(|(_, a)| a.in_flight() == 0)
            .min_by_key(|(id, a)| (a.last_active(), **id))
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.connections.remove(&id)) {
            Some(activity) => {
                activity.evict();
                true
            }
            None => false,
        }
    }
}

/// A connection's place in the registry; released when its task ends.
#[derive(Debug)]
pub struct Slot {
    registry: Arc<Registry>,
    id: u64,
    activity: Arc<Activity>,
}

impl Slot {
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    pub fn listener(&self) -> &'static str {
        self.registry.name
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let registry = Arc::new(Registry::new("test", 2));
        let first = registry.admit().expect("room");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = registry.admit().expect("room");
        let third = registry.admit().expect("an idle connection makes room");
        assert_eq!(registry.len(), 2);
        // The first (longest idle) was told to close; its slot is already free.
        drop(first);
        assert_eq!(registry.len(), 2);
        drop((second, third));
        assert!(registry.is_empty());
    }
}
