//! The ConnectWise key endpoint's answer, as the signing-key cache reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::webhooks::connectwise_key_response(data));
