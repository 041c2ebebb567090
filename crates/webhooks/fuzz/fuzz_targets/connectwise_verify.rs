//! Fuzzes the whole ConnectWise verification: first line = `x-content-signature`, the rest = the
//! body. The fake key source serves a fixed key, and signs the body itself every other input, so
//! the code past the signature check is reached too.
#![no_main]

use std::future::{ready, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use syncbridge_model::TenantId;
use syncbridge_webhooks::{
    ApprovedKeyUrl, ConnectWiseCallback, ConnectWiseVerifier, Headers, KeyFetchError,
    KeyFetchResponse, KeyUrlPolicy, SigningKeyCache, SigningKeySource, WebhookRequest,
};

const KEY: &str = "fuzz-signing-key";

struct FixedKey;

impl SigningKeySource for FixedKey {
    fn fetch(
        &self,
        _url: &ApprovedKeyUrl,
    ) -> impl Future<Output = Result<KeyFetchResponse, KeyFetchError>> + Send {
        ready(Ok(KeyFetchResponse {
            status: 200,
            body: format!(r#"{{"signing_key":"{KEY}"}}"#).into_bytes(),
        }))
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut context = Context::from_waker(Waker::noop());
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (signature, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let headers = if data.first().is_some_and(|b| b & 1 == 1) {
        Headers::new().with("x-content-signature", ConnectWiseCallback::sign(KEY, body))
    } else {
        Headers::new().with("x-content-signature", signature)
    };
    let tenant = TenantId::new("fuzz").unwrap();
    let policy = KeyUrlPolicy::for_site("na.myconnectwise.net", "Cobalt").unwrap();
    let verifier = ConnectWiseVerifier::new(tenant, policy);
    let keys = SigningKeyCache::new(FixedKey);
    let _ = block_on(verifier.verify(&WebhookRequest::new(body, &headers, 0), &keys));
});
