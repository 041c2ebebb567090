//! The worker crate's integration tests against real nats-servers and in-memory sides: the
//! pipeline, the consume loop (with many events in flight on overlapping records), pollers
//! (modified-since and content hash), two workers on the same records, and kill -9 at
//! deterministic points.

mod common;
mod concurrency;
mod concurrent_consume;
mod consume;
mod crash_points;
mod pipeline;
mod poller;
mod poller_content_hash;
