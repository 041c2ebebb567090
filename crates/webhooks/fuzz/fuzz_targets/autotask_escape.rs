//! Fuzzes the .NET escaping that Autotask signs. Invariant: escaping never changes what a valid
//! JSON document means (it only rewrites characters inside strings as `\u` escapes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncbridge_webhooks::dotnet_escaped;

fuzz_target!(|data: &[u8]| {
    let Some(escaped) = dotnet_escaped(data) else {
        return;
    };
    if let Ok(original) = serde_json::from_slice::<serde_json::Value>(data) {
        let rewritten: serde_json::Value =
            serde_json::from_slice(&escaped).expect("escaped form of valid JSON is valid JSON");
        assert_eq!(original, rewritten);
    }
});
