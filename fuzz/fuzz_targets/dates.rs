//! Dates as the vendors write them: canonical form, and the round trip through each vendor's midnight.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| syncbridge_fuzz::model::dates(data));
