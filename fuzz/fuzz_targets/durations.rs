//! Durations and request budgets in the configuration file (parse, display, parse).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::config::durations(data));
