//! Fuzzes the ConnectWise callback parser (double-encoded `Entity`, case-insensitive keys).
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncbridge_webhooks::ConnectWiseCallback;

fuzz_target!(|data: &[u8]| {
    if let Ok(callback) = ConnectWiseCallback::parse(data) {
        let _ = (callback.entity(), callback.change_action());
    }
});
