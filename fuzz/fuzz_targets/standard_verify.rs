//! Standard Webhooks verification (id, timestamp window, signatures, payload).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::webhooks::standard_verify(data));
