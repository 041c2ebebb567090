//! Every vendor client's decoding of its vendor's answers (records, pages, errors, Retry-After).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::connectors::vendor_response(data));
