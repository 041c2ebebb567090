//! The open-file limit: raised from the soft to the hard limit at start (systemd's default soft
//! limit is 1,024, its hard limit 524,288), and the connection cap derived from it.

/// The soft and hard limits after [`raise_to_hard`] (`None`: unlimited or unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
    /// The soft limit before, when it was raised.
    pub raised_from: Option<u64>,
}

/// Descriptors kept free for everything that is not a public connection: NATS, vendor API and
/// key-fetch connections, the metrics listener, files.
fn reserve(soft: u64) -> u64 {
    (soft / 4).max(256)
}

/// The default `ingest.max_connections`: what the soft limit leaves after [`reserve`], at least
/// 16 and at most 10,000.
pub fn derived_max_connections(soft: Option<u64>) -> usize {
    let from_limit = soft.map_or(10_000, |soft| soft.saturating_sub(reserve(soft)));
    usize::try_from(from_limit.clamp(16, 10_000)).unwrap_or(10_000)
}

/// Whether `max_connections` fits under the soft limit with the reserve kept free.
pub fn fits(max_connections: usize, soft: Option<u64>) -> bool {
    soft.is_none_or(|soft| max_connections as u64 + reserve(soft).min(soft / 2) <= soft)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and logs both.
#[cfg(unix)]
pub fn raise_to_hard() -> OpenFiles {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let before = getrlimit(Resource::Nofile);
    let mut now = OpenFiles {
        soft: before.current,
        hard: before.maximum,
        raised_from: None,
    };
    if before.current.is_some() && before.current != before.maximum {
        // Unlimited hard limits are refused for descriptors on Linux: cap at its nr_open default.
        let target = before.maximum.unwrap_or(1 << 20);
        match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: before.maximum,
            },
        ) {
            Ok(()) => {
                now.raised_from = before.current;
                now.soft = getrlimit(Resource::Nofile).current;
            }
            Err(e) => tracing::warn!(
                error = %e,
                soft = ?before.current,
                hard = ?before.maximum,
                "could not raise the open-file limit"
            ),
        }
    }
    tracing::info!(
        soft = ?now.soft,
        hard = ?now.hard,
        raised_from = ?now.raised_from,
        "open-file limit"
    );
    crate::runtime::metrics::open_files_limit(now.soft);
    now
}

#[cfg(not(unix))]
pub fn raise_to_hard() -> OpenFiles {
    OpenFiles {
        soft: None,
        hard: None,
        raised_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_reserve_under_the_limit() {
        assert_eq!(derived_max_connections(Some(1024)), 768);
        assert_eq!(derived_max_connections(Some(524_288)), 10_000);
        assert_eq!(derived_max_connections(Some(100)), 16);
        assert_eq!(derived_max_connections(None), 10_000);
        assert!(fits(768, Some(1024)));
        assert!(!fits(1000, Some(1024)));
        assert!(fits(1_000_000, None));
    }
}
