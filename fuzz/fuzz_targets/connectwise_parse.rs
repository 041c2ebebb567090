//! The ConnectWise callback parser (double-encoded `Entity`, case-insensitive keys).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::webhooks::connectwise_parse(data));
