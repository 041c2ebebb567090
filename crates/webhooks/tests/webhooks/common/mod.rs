//! Shared test helpers: a counting fake signing-key source and a tiny executor.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use syncbridge_model::TenantId;
use syncbridge_webhooks::{
    ApprovedKeyUrl, KeyFetchError, KeyFetchResponse, KeyUrlPolicy, SigningKeySource,
};

pub fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// The ConnectWise company of the reference's fixture (webhooks.md §1.2).
pub const CW_COMPANY: &str = "Cobalt";

/// The tenant's ConnectWise key policy: the `na` Cloud site, company [`CW_COMPANY`].
pub fn cw_policy() -> KeyUrlPolicy {
    KeyUrlPolicy::for_site("na.myconnectwise.net", CW_COMPANY).unwrap()
}

/// A key host that serves `{"signing_key": key}` (or a configured status) and counts fetches.
pub struct FakeKeySource {
    pub key: Mutex<String>,
    pub status: u16,
    pub calls: AtomicUsize,
    pub urls: Mutex<Vec<String>>,
}

impl FakeKeySource {
    pub fn serving(key: &str) -> Self {
        FakeKeySource {
            key: Mutex::new(key.to_owned()),
            status: 200,
            calls: AtomicUsize::new(0),
            urls: Mutex::new(Vec::new()),
        }
    }

    pub fn answering(status: u16) -> Self {
        FakeKeySource {
            status,
            ..FakeKeySource::serving("unused")
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn rotate_to(&self, key: &str) {
        *self.key.lock().unwrap() = key.to_owned();
    }
}

impl SigningKeySource for FakeKeySource {
    fn fetch(
        &self,
        url: &ApprovedKeyUrl,
    ) -> impl Future<Output = Result<KeyFetchResponse, KeyFetchError>> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.urls.lock().unwrap().push(url.as_str().to_owned());
        let body = serde_json::json!({ "signing_key": *self.key.lock().unwrap() }).to_string();
        std::future::ready(Ok(KeyFetchResponse {
            status: self.status,
            body: body.into_bytes(),
        }))
    }
}

/// Runs a future that never waits on anything but already-ready futures (our fakes).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut context = Context::from_waker(Waker::noop());
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}
