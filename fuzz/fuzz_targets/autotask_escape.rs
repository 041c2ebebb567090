//! The .NET escaping Autotask signs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::webhooks::autotask_escape(data));
