//! Tenant ids, entity and PSA names as routes, configuration and subjects carry them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::model::ids(data));
