//! Header lookups, route segments and the body limit the ingest applies before verifying.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::webhooks::request_parts(data));
