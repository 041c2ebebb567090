//! The wall clock, read in one place: event stamps, budgets, checkpoints and schedules all take
//! their `now` from here, so a test hook or a different clock has one place to go.

use syncbridge_model::UnixMillis;

/// Milliseconds since the Unix epoch (0 if the system clock is before it).
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as UnixMillis)
        .unwrap_or_default()
}
