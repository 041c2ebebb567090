//! ConnectWise callback verification (signature header, key URL, fetched key, parse).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::webhooks::connectwise_verify(data));
