//! The ConnectWise `key_url` SSRF guard and the parsing of configured key hosts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::webhooks::key_url_policy(data));
