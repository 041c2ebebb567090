//! Issue 13 finding 3: nobody can make the ingest fetch at will. Concurrent requests for one
//! `key_url` share one fetch, a failed fetch is remembered for a few seconds, and a tenant's key
//! fetches are limited by a token bucket (over it: 503, no fetch; cached keys still verify).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::join_all;
use syncbridge_webhooks::{
    ApprovedKeyUrl, FetchLimit, KeyFetchError, KeyFetchResponse, Rejection, SigningKeyCache,
    SigningKeySource, WebhookRequest, NEGATIVE_TTL_MS,
};

use crate::common::{block_on, FakeKeySource};
use crate::connectwise::{callback, run, signed, verifier, KEY_URL, NOW, SIGNING_KEY};

/// A key host that answers only once the gate opens, counting fetches.
#[derive(Default)]
struct GatedKeySource {
    open: Arc<AtomicBool>,
    calls: AtomicUsize,
}

struct Gate(Arc<AtomicBool>);

impl Future for Gate {
    type Output = Result<KeyFetchResponse, KeyFetchError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.0.load(Ordering::SeqCst) {
            let body = serde_json::json!({ "signing_key": SIGNING_KEY }).to_string();
            Poll::Ready(Ok(KeyFetchResponse {
                status: 200,
                body: body.into_bytes(),
            }))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl SigningKeySource for GatedKeySource {
    fn fetch(
        &self,
        _url: &ApprovedKeyUrl,
    ) -> impl Future<Output = Result<KeyFetchResponse, KeyFetchError>> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Gate(self.open.clone())
    }
}

/// Pending for `rounds` polls, then opens `gate`.
struct OpenAfter {
    rounds: usize,
    gate: Arc<AtomicBool>,
}

impl Future for OpenAfter {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.rounds == 0 {
            self.gate.store(true, Ordering::SeqCst);
            return Poll::Ready(());
        }
        self.rounds -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn key_url_with_id(id: &str) -> String {
    KEY_URL.replace("id=e17e6674", &format!("id={id}"))
}

#[test]
fn concurrent_requests_for_one_key_url_share_one_fetch() {
    let source = GatedKeySource::default();
    let gate = source.open.clone();
    let keys = SigningKeyCache::new(source);
    let verifier = verifier();
    let body = callback("updated", "contact", "{}".into(), KEY_URL);
    let headers = signed(&body, SIGNING_KEY);
    let requests: Vec<_> = (0..8)
        .map(|_| WebhookRequest::new(&body, &headers, NOW))
        .collect();
    let (answers, ()) = block_on(futures_util::future::join(
        join_all(requests.iter().map(|r| verifier.verify(r, &keys))),
        OpenAfter { rounds: 5, gate },
    ));
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(
        keys.source().calls.load(Ordering::SeqCst),
        1,
        "one fetch for eight requests"
    );
}

#[test]
fn a_failed_fetch_is_remembered_for_a_few_seconds() {
    let keys = SigningKeyCache::new(FakeKeySource::answering(500));
    let body = callback("updated", "contact", "{}".into(), KEY_URL);
    let headers = signed(&body, SIGNING_KEY);
    let at =
        |now: i64| block_on(verifier().verify(&WebhookRequest::new(&body, &headers, now), &keys));

    for now in [NOW, NOW + 1, NOW + NEGATIVE_TTL_MS - 1] {
        let err = at(now).unwrap_err();
        assert!(matches!(err, Rejection::KeyFetch(_)), "{err:?}");
        assert_eq!(err.http_status(), 503);
    }
    assert_eq!(
        keys.source().calls(),
        1,
        "repeats within the window cost no fetch"
    );

    // After the window the host is asked again.
    assert!(at(NOW + NEGATIVE_TTL_MS).is_err());
    assert_eq!(keys.source().calls(), 2);

    // A redirect is remembered as the refusal it is.
    let keys = SigningKeyCache::new(FakeKeySource::answering(302));
    for now in [NOW, NOW + 1_000] {
        let err = block_on(verifier().verify(&WebhookRequest::new(&body, &headers, now), &keys))
            .unwrap_err();
        assert!(matches!(err, Rejection::KeyUrlRefused(_)), "{err:?}");
    }
    assert_eq!(keys.source().calls(), 1);
}

#[test]
fn key_fetches_over_the_tenants_limit_get_503_without_a_fetch() {
    let limit = FetchLimit {
        burst: 3,
        per_minute: 6,
    };
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY)).with_fetch_limit(limit);
    let send = |id: &str, now: i64| {
        let body = callback("updated", "contact", "{}".into(), &key_url_with_id(id));
        let headers = signed(&body, SIGNING_KEY);
        block_on(verifier().verify(&WebhookRequest::new(&body, &headers, now), &keys)).map(|_| ())
    };

    // 200 distinct ids (issue 13's probe): the burst is fetched, the rest refused unfetched.
    let answers: Vec<_> = (0..200).map(|i| send(&format!("probe{i}"), NOW)).collect();
    assert!(answers[..3].iter().all(Result::is_ok));
    for err in answers[3..].iter().map(|a| a.clone().unwrap_err()) {
        assert_eq!(err, Rejection::KeyFetchLimited);
        assert_eq!(err.http_status(), 503);
        assert_eq!(err.kind(), "key_fetch_limited");
    }
    assert_eq!(keys.source().calls(), 3);

    // A key already cached still verifies while the bucket is empty.
    assert!(send("probe0", NOW + 1).is_ok());
    assert_eq!(keys.source().calls(), 3);

    // 6 a minute: one more fetch after 10 s, not before.
    assert_eq!(send("late", NOW + 9_000), Err(Rejection::KeyFetchLimited));
    assert!(send("late", NOW + 10_000).is_ok());
    assert_eq!(send("later", NOW + 10_001), Err(Rejection::KeyFetchLimited));
    assert_eq!(keys.source().calls(), 4);
}

#[test]
fn the_default_limit_allows_a_burst_of_ten() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    for i in 0..12 {
        let body = callback(
            "updated",
            "contact",
            "{}".into(),
            &key_url_with_id(&format!("k{i}")),
        );
        let _ = run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY));
    }
    assert_eq!(keys.source().calls(), FetchLimit::DEFAULT.burst as usize);
}
