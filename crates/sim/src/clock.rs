//! The simulators' clock: real time multiplied by a factor that tests can change at run time.
//!
//! Vendor behaviour that is defined in wall-clock terms (IT Glue's 3000 requests per 5 minutes,
//! Autotask's 10,000 requests per hour and its "retry after 30 s, 5 attempts in 2 minutes" webhook
//! schedule) runs on this clock, so a test can set a factor of 100 or 1000 and watch an hour-long
//! window play out in seconds. Tests can also jump the clock forward with [`SimClock::advance`].
//! Record timestamps (`updated-at`, `lastUpdated`, …) are taken from it too, so they stay
//! consistent with the windows.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, in simulated time.
pub type SimMillis = i64;

/// The fastest the clock may run (a million simulated seconds per real second).
pub const MAX_FACTOR: f64 = 1e6;

/// A shared, scalable clock. Cloning gives another handle to the same clock.
#[derive(Clone, Debug)]
pub struct SimClock {
    inner: Arc<Mutex<ClockState>>,
}

#[derive(Debug)]
struct ClockState {
    /// Real instant at which `base_sim` was the simulated time.
    base_real: Instant,
    base_sim: SimMillis,
    factor: f64,
}

impl ClockState {
    fn now(&self) -> SimMillis {
        let real = self.base_real.elapsed().as_secs_f64() * 1000.0;
        // `as` saturates, and so does the addition: an absurd factor cannot overflow.
        self.base_sim
            .saturating_add((real * self.factor) as SimMillis)
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SimClock {
    /// A clock starting at the current real time, running at factor 1.
    pub fn new() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as SimMillis)
            .unwrap_or(0);
        Self::starting_at(now)
    }

    /// A clock starting at a chosen simulated time (deterministic timestamps in tests).
    pub fn starting_at(sim_millis: SimMillis) -> Self {
        SimClock {
            inner: Arc::new(Mutex::new(ClockState {
                base_real: Instant::now(),
                base_sim: sim_millis,
                factor: 1.0,
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, ClockState> {
        // A poisoned clock is still a valid clock: the state is two numbers.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Current simulated time.
    pub fn now_millis(&self) -> SimMillis {
        self.state().now()
    }

    pub fn factor(&self) -> f64 {
        self.state().factor
    }

    /// Changes the speed. Simulated time stays continuous: only its rate changes from now on.
    /// Non-finite or non-positive factors are ignored (the clock never stops or runs backwards);
    /// factors above [`MAX_FACTOR`] are clamped to it.
    pub fn set_factor(&self, factor: f64) {
        if !(factor.is_finite() && factor > 0.0) {
            return;
        }
        let factor = factor.min(MAX_FACTOR);
        let mut s = self.state();
        s.base_sim = s.now();
        s.base_real = Instant::now();
        s.factor = factor;
    }

    /// Jumps simulated time forward.
    pub fn advance(&self, by: Duration) {
        let mut s = self.state();
        let by = SimMillis::try_from(by.as_millis()).unwrap_or(SimMillis::MAX);
        s.base_sim = s.base_sim.saturating_add(by);
    }

    /// How long, in real time, `sim` of simulated time takes at the current factor.
    pub fn to_real(&self, sim: Duration) -> Duration {
        Duration::try_from_secs_f64(sim.as_secs_f64() / self.factor()).unwrap_or(Duration::MAX)
    }

    /// Sleeps until `sim` of simulated time has passed. Re-checks in short real-time slices so a
    /// factor change or an [`advance`](Self::advance) during the sleep takes effect promptly.
    pub async fn sleep(&self, sim: Duration) {
        let by = SimMillis::try_from(sim.as_millis()).unwrap_or(SimMillis::MAX);
        let until = self.now_millis().saturating_add(by);
        self.sleep_until(until).await;
    }

    /// Sleeps until the simulated time reaches `until`.
    pub async fn sleep_until(&self, until: SimMillis) {
        const SLICE: Duration = Duration::from_millis(50);
        loop {
            let (now, factor) = {
                let s = self.state();
                (s.now(), s.factor)
            };
            if now >= until {
                return;
            }
            let remaining_real =
                Duration::try_from_secs_f64((until - now) as f64 / 1000.0 / factor)
                    .unwrap_or(SLICE)
                    .min(SLICE);
            tokio::time::sleep(remaining_real.max(Duration::from_millis(1))).await;
        }
    }
}

/// `2026-01-02T03:04:05.678Z` (IT Glue and Autotask style, millisecond precision).
pub fn format_millis(ms: SimMillis) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    to_datetime(ms).format(&fmt).unwrap_or_default()
}

/// `2026-01-02T03:04:05Z` (ConnectWise style, second precision).
pub fn format_seconds(ms: SimMillis) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    to_datetime(ms).format(&fmt).unwrap_or_default()
}

fn to_datetime(ms: SimMillis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Parses an RFC 3339 timestamp (`Z` or offset, optional fraction) to epoch milliseconds.
/// A bare date-time without zone (`2026-01-02T03:04:05`) is read as UTC, as the vendors do.
pub fn parse_timestamp(s: &str) -> Option<SimMillis> {
    let s = s.trim();
    let parsed = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()?;
    Some((parsed.unix_timestamp_nanos() / 1_000_000) as SimMillis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let ms = 1_700_000_000_123;
        assert_eq!(format_millis(ms), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_seconds(ms), "2023-11-14T22:13:20Z");
        assert_eq!(parse_timestamp("2023-11-14T22:13:20.123Z"), Some(ms));
        assert_eq!(parse_timestamp("2023-11-14T22:13:20"), Some(ms - 123));
        assert_eq!(parse_timestamp("not a date"), None);
    }

    #[test]
    fn advance_and_factor_keep_time_monotonic() {
        let c = SimClock::starting_at(1_000);
        let a = c.now_millis();
        c.advance(Duration::from_secs(60));
        let b = c.now_millis();
        assert!(b >= a + 60_000);
        c.set_factor(1000.0);
        assert!(c.now_millis() >= b);
        c.set_factor(-1.0);
        assert_eq!(c.factor(), 1000.0);
    }
}
