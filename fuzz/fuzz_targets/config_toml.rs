//! The service's configuration loader: TOML text to a validated `Config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::config::config_toml(data));
