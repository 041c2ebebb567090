//! The bounds of the configuration's numbers in one place (docs/configuration.md lists them), and
//! the sizes that relate `ingest.body_limit` to what NATS stores (`nats.max_payload`).

use std::time::Duration;

use super::duration::display;
use super::error::ConfigError;

/// NATS's default `max_payload` (1 MiB), the server setting `nats.max_payload` describes.
pub const NATS_DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Bytes of a message's `max_payload` kept for the event's headers (the `Sync-*` envelope and
/// `Nats-Msg-Id`: a few hundred bytes, more with long vendor ids).
pub const NATS_HEADER_ROOM: usize = 8 * 1024;
/// The smallest `ingest.body_limit` (no vendor's webhook fits in less).
pub const MIN_BODY_LIMIT: usize = 1024;
/// The default `ingest.body_limit` with the default `nats.max_payload`: the contract's 1 MiB
/// less the header room, so that every body accepted can be stored.
pub const DEFAULT_BODY_LIMIT: usize = NATS_DEFAULT_MAX_PAYLOAD - NATS_HEADER_ROOM;

/// The largest `ingest.body_limit` a server with `max_payload` can store.
pub fn max_body_limit(max_payload: usize) -> usize {
    max_payload.saturating_sub(NATS_HEADER_ROOM)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const DAY: u64 = 86_400;

pub(crate) const PUBLISH_TIMEOUT: (Duration, Duration) = (Duration::from_millis(100), secs(300));
pub(crate) const DUPLICATE_WINDOW: (Duration, Duration) = (secs(1), secs(7 * DAY));
pub(crate) const MAX_AGE: (Duration, Duration) = (secs(1), secs(365 * DAY));
/// NATS refuses a `max_payload` over 64 MB.
pub(crate) const MAX_PAYLOAD: (usize, usize) = (64 * 1024, 64 * 1024 * 1024);
pub(crate) const REQUEST_TIMEOUT: (Duration, Duration) = (secs(1), secs(600));
pub(crate) const RETRY_AFTER: (Duration, Duration) = (secs(1), secs(3600));
pub(crate) const HEADER_READ_TIMEOUT: (Duration, Duration) =
    (Duration::from_millis(100), secs(300));
pub(crate) const IDLE_TIMEOUT: (Duration, Duration) = (Duration::from_millis(100), secs(3600));
pub(crate) const POLL_INTERVAL: (Duration, Duration) = (Duration::from_millis(100), secs(DAY));
pub(crate) const FULL_SYNC_INTERVAL: (Duration, Duration) = (secs(60), secs(30 * DAY));
pub(crate) const TOLERANCE: (Duration, Duration) = (secs(1), secs(3600));
pub(crate) const BUDGET_WINDOW: (Duration, Duration) = (secs(1), secs(DAY));
pub(crate) const BUDGET_REQUESTS: u32 = 1_000_000;

/// `value` if it is within `(min, max)`, else an error naming `key` and the bounds.
pub(crate) fn within(
    key: &str,
    value: Duration,
    (min, max): (Duration, Duration),
) -> Result<Duration, ConfigError> {
    if value < min || value > max {
        Err(ConfigError::at(
            key,
            format!("must be between {} and {}", display(min), display(max)),
        ))
    } else {
        Ok(value)
    }
}
