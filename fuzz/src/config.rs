//! Fuzz entry functions for the service's configuration loader (`syncbridge::config`): the TOML
//! an operator writes, and the durations and budgets inside it.
//!
//! Shared by the libFuzzer targets in `fuzz/fuzz_targets/` and by the seed-replay test
//! `crates/demo/tests/fuzz_seeds.rs` (which includes this file by path; the service's own tests
//! directory belongs to the end-to-end suite).

use syncbridge::config::{duration, Config, RequestBudget};

/// What every `{ env = … }` secret resolves to: a valid `whsec_` value, so that Standard
/// Webhooks sections get past decoding too.
pub const ENV_SECRET: &str = "whsec_c2VjcmV0LWZyb20tdGhlLWVudmlyb25tZW50";

/// `Config::from_toml` on any text. Invariants: no panic; a secret read from the environment
/// never appears in an error message nor in the loaded configuration's `Debug`.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |_: &str| Some(ENV_SECRET.to_owned());
    let leaks = |shown: &str| !text.contains(ENV_SECRET) && shown.contains(ENV_SECRET);
    match Config::from_toml(text, &env) {
        Ok(config) => {
            let shown = format!("{config:?}");
            assert!(!leaks(&shown), "an environment secret in Debug: {shown}");
        }
        Err(error) => {
            let shown = error.to_string();
            assert!(!leaks(&shown), "an environment secret in an error: {shown}");
        }
    }
}

/// Durations (`"5s"`, `"10m"`, …) and request budgets (`"1500/5m"`). Invariants: a parsed
/// duration renders to text that parses back to it (parse → display → parse); a budget has at
/// least one request and a window longer than zero.
pub fn durations(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = duration::parse(&text) {
        let shown = duration::display(parsed);
        assert_eq!(
            duration::parse(&shown),
            Ok(parsed),
            "{text:?} → {parsed:?} → {shown:?}"
        );
    }
    if let Ok(budget) = RequestBudget::parse(&text) {
        assert!(budget.requests > 0 && !budget.per.is_zero(), "{text:?}");
    }
}
