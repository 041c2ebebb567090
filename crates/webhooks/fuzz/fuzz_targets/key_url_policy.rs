//! Fuzzes the `key_url` SSRF guard and the parsing of configured key hosts. Invariant: an
//! approved URL is https on one of the configured hosts, with no userinfo, on the callback-key
//! path, naming the tenant's company.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncbridge_webhooks::KeyUrlPolicy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = KeyUrlPolicy::for_site("na.myconnectwise.net", "Cobalt").unwrap();
    if let Ok(approved) = policy.check(text) {
        let url = approved.as_str();
        assert!(
            url.starts_with("https://na.myconnectwise.net/")
                || url.starts_with("https://api-na.myconnectwise.net/"),
            "approved {url:?}"
        );
        assert!(
            url.contains("/system/callbackkey/index.rails?companyName="),
            "approved {url:?}"
        );
    }
    let _ = policy.allow_http_for_simulator().check(text);
    let _ = KeyUrlPolicy::for_site(text, text).map(|p| {
        p.check("https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1")
    });
});
