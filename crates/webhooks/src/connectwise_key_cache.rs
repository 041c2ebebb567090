//! How ConnectWise signing keys are fetched and cached, in front of a [`SigningKeySource`].
//!
//! Anyone who knows a tenant's (public) company id can send a callback naming an approved
//! `key_url` with a made-up key `id`, so each cache miss is an outbound request someone else
//! chose to make us send. The cache bounds them:
//!
//! - **keys** are cached by the approved URL (it carries the key's `id=`), only as the derived
//!   HMAC key (`SHA-256(signing_key)`), at most `capacity` of them;
//! - **single flight**: concurrent requests for one URL wait for one fetch and share its result;
//! - **failures** (transport error, error status, redirect, unusable answer) are remembered for
//!   [`NEGATIVE_TTL_MS`]: a repeat within that time gets the same answer without a fetch;
//! - **a fetch limit** per cache — the service keeps one cache per tenant, so per tenant: a token
//!   bucket of [`FetchLimit::burst`] fetches refilled at [`FetchLimit::per_minute`]. A miss over
//!   the limit is refused with [`Rejection::KeyFetchLimited`] (503: the sender may retry, and a
//!   genuine ConnectWise callback whose key is cached is not affected) without a fetch.
//!
//! Time is the request's `received_at`, as everywhere in this crate; nothing reads a clock.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::lock::Mutex as FlightLock;
use serde_json::Value;
use sha2::{Digest, Sha256};
use syncbridge_model::UnixMillis;

use crate::connectwise_key::{refused, ApprovedKeyUrl};
use crate::rejection::Rejection;

/// The largest key response we read; ConnectWise answers with a few dozen bytes.
pub const MAX_KEY_RESPONSE_BYTES: usize = 64 * 1024;

/// How long a failed fetch is remembered (per URL).
pub const NEGATIVE_TTL_MS: i64 = 5_000;

/// What the key host answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFetchResponse {
    pub status: u16,
    /// At most [`MAX_KEY_RESPONSE_BYTES`] are read; a longer body is refused.
    pub body: Vec<u8>,
}

/// The transport failed (connect, TLS, timeout). The text must not contain credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyFetchError(pub String);

/// Fetches a ConnectWise signing key. Implemented by the service with its HTTP client; fakes in
/// tests count calls.
///
/// Contract for implementations: one plain GET of exactly `url.as_str()` — the key endpoint is
/// unauthenticated, so no credentials (reference `webhooks.md` §1.3: Nango fetches it with a
/// plain GET) — redirects NOT followed (return the 3xx as it is), a short timeout (10 s), and a
/// body read of at most [`MAX_KEY_RESPONSE_BYTES`] + 1 bytes.
pub trait SigningKeySource {
    fn fetch(
        &self,
        url: &ApprovedKeyUrl,
    ) -> impl Future<Output = Result<KeyFetchResponse, KeyFetchError>> + Send;
}

/// How many key fetches one cache may start: a token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimit {
    /// Fetches allowed at once after a quiet period.
    pub burst: u32,
    /// Fetches allowed per minute in the long run.
    pub per_minute: u32,
}

impl FetchLimit {
    /// 10 at once, 10 a minute: a company's callbacks name one key at a time, and a rotation
    /// costs one fetch.
    pub const DEFAULT: FetchLimit = FetchLimit {
        burst: 10,
        per_minute: 10,
    };
}

/// The HMAC key for ConnectWise signatures: SHA-256 of the fetched `signing_key`.
#[derive(Clone)]
pub(crate) struct HmacKey(pub(crate) [u8; 32]);

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

struct CachedKey {
    key: HmacKey,
    fetched_at: UnixMillis,
}

/// A cached key and whether it came from the host just now.
pub(crate) struct KeyLookup {
    pub(crate) key: HmacKey,
    pub(crate) fetched_at: UnixMillis,
    pub(crate) fresh: bool,
}

/// A failed fetch, answered again until `until`.
struct Failure {
    rejection: Rejection,
    until: UnixMillis,
}

/// Tokens (in thousandths, so refills need no floats) and when they were last topped up.
struct Bucket {
    milli_tokens: i64,
    refilled_at: Option<UnixMillis>,
}

impl Bucket {
    /// Takes one token at `now`, or says there is none.
    fn take(&mut self, limit: FetchLimit, now: UnixMillis) -> bool {
        let full = i64::from(limit.burst) * 1000;
        let elapsed = self
            .refilled_at
            .map_or(0, |at| now.saturating_sub(at).max(0));
        // per_minute tokens per 60,000 ms = per_minute thousandths per 60 ms.
        let earned = elapsed.saturating_mul(i64::from(limit.per_minute)) / 60;
        self.milli_tokens = self.milli_tokens.saturating_add(earned).min(full);
        // A clock that steps back refills nothing and does not move the mark back.
        if self.refilled_at.is_none_or(|at| now > at) {
            self.refilled_at = Some(now);
        }
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

struct CacheState {
    keys: HashMap<ApprovedKeyUrl, CachedKey>,
    failures: HashMap<ApprovedKeyUrl, Failure>,
    /// One lock per URL being fetched; whoever holds it fetches, the others wait and then find
    /// the result in `keys` or `failures`.
    in_flight: HashMap<ApprovedKeyUrl, Arc<FlightLock<()>>>,
    bucket: Bucket,
}

/// Signing keys by `key_url`, in front of a [`SigningKeySource`]. One per tenant: the fetch
/// limit is the cache's.
pub struct SigningKeyCache<S> {
    source: S,
    state: Mutex<CacheState>,
    capacity: usize,
    limit: FetchLimit,
}

impl<S: SigningKeySource> SigningKeyCache<S> {
    /// Default capacity: 256 keys (ConnectWise uses few keys per company); [`FetchLimit::DEFAULT`].
    pub fn new(source: S) -> Self {
        SigningKeyCache {
            source,
            state: Mutex::new(CacheState {
                keys: HashMap::new(),
                failures: HashMap::new(),
                in_flight: HashMap::new(),
                bucket: Bucket {
                    milli_tokens: i64::from(FetchLimit::DEFAULT.burst) * 1000,
                    refilled_at: None,
                },
            }),
            capacity: 256,
            limit: FetchLimit::DEFAULT,
        }
    }

    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Replaces the fetch limit (the bucket starts full).
    pub fn with_fetch_limit(mut self, limit: FetchLimit) -> Self {
        let limit = FetchLimit {
            burst: limit.burst.max(1),
            per_minute: limit.per_minute,
        };
        self.limit = limit;
        self.lock().bucket.milli_tokens = i64::from(limit.burst) * 1000;
        self
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.lock().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every key and remembered failure (e.g. after a tenant's ConnectWise site changes).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.keys.clear();
        state.failures.clear();
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // A panic elsewhere while holding the lock leaves usable maps: recover them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key for `url`, from the cache or fetched now.
    pub(crate) async fn key(
        &self,
        url: &ApprovedKeyUrl,
        now: UnixMillis,
    ) -> Result<KeyLookup, Rejection> {
        let cached = self.lock().keys.get(url).map(|c| KeyLookup {
            key: c.key.clone(),
            fetched_at: c.fetched_at,
            fresh: false,
        });
        match cached {
            Some(hit) => Ok(hit),
            None => self.fetch_once(url, now, None).await,
        }
    }

    /// Fetches `url` again because the key fetched at `seen` did not verify — unless another
    /// request has done so meanwhile, whose result is used instead.
    pub(crate) async fn refetch(
        &self,
        url: &ApprovedKeyUrl,
        now: UnixMillis,
        seen: UnixMillis,
    ) -> Result<KeyLookup, Rejection> {
        self.fetch_once(url, now, Some(seen)).await
    }

    /// One fetch of `url` at a time; `stale` is the fetch time of a cached key to replace.
    async fn fetch_once(
        &self,
        url: &ApprovedKeyUrl,
        now: UnixMillis,
        stale: Option<UnixMillis>,
    ) -> Result<KeyLookup, Rejection> {
        let flight = {
            let mut state = self.lock();
            state
                .in_flight
                .retain(|_, lock| Arc::strong_count(lock) > 1);
            state.in_flight.entry(url.clone()).or_default().clone()
        };
        let result = {
            let _turn = flight.lock().await;
            match self.settled(url, now, stale) {
                Some(settled) => settled,
                None => self.fetch_and_store(url, now).await,
            }
        };
        drop(flight);
        self.lock()
            .in_flight
            .retain(|_, lock| Arc::strong_count(lock) > 1);
        result
    }

    /// What another request's fetch already settled for `url`: a key newer than `stale` (any key
    /// when `stale` is `None`), or a failure still remembered at `now`.
    fn settled(
        &self,
        url: &ApprovedKeyUrl,
        now: UnixMillis,
        stale: Option<UnixMillis>,
    ) -> Option<Result<KeyLookup, Rejection>> {
        let state = self.lock();
        if let Some(cached) = state.keys.get(url) {
            if stale.is_none_or(|seen| cached.fetched_at > seen) {
                return Some(Ok(KeyLookup {
                    key: cached.key.clone(),
                    fetched_at: cached.fetched_at,
                    fresh: true,
                }));
            }
        }
        state
            .failures
            .get(url)
            .filter(|failure| failure.until > now)
            .map(|failure| Err(failure.rejection.clone()))
    }

    async fn fetch_and_store(
        &self,
        url: &ApprovedKeyUrl,
        now: UnixMillis,
    ) -> Result<KeyLookup, Rejection> {
        if !self.lock().bucket.take(self.limit, now) {
            return Err(Rejection::KeyFetchLimited);
        }
        let key = match self.source.fetch(url).await {
            Ok(response) => hmac_key_from_response(&response),
            Err(_) => Err(Rejection::KeyFetch(Cow::Borrowed("transport error"))),
        };
        let mut state = self.lock();
        let key = match key {
            Ok(key) => key,
            Err(rejection) => {
                state.failures.retain(|_, failure| failure.until > now);
                state.failures.insert(
                    url.clone(),
                    Failure {
                        rejection: rejection.clone(),
                        until: now.saturating_add(NEGATIVE_TTL_MS),
                    },
                );
                return Err(rejection);
            }
        };
        state.failures.remove(url);
        if state.keys.len() >= self.capacity && !state.keys.contains_key(url) {
            // Evict the oldest fetch; the map is small, a scan is cheap.
            if let Some(oldest) = state
                .keys
                .iter()
                .min_by_key(|(_, c)| c.fetched_at)
                .map(|(u, _)| u.clone())
            {
                state.keys.remove(&oldest);
            }
        }
        state.keys.insert(
            url.clone(),
            CachedKey {
                key: key.clone(),
                fetched_at: now,
            },
        );
        Ok(KeyLookup {
            key,
            fetched_at: now,
            fresh: true,
        })
    }
}

impl<S> fmt::Debug for SigningKeyCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.state.lock().map(|s| s.keys.len()).unwrap_or(0);
        f.debug_struct("SigningKeyCache")
            .field("keys", &len)
            .field("capacity", &self.capacity)
            .field("limit", &self.limit)
            .finish()
    }
}

/// `{"signing_key": "…"}` → `SHA-256(signing_key)`.
fn hmac_key_from_response(response: &KeyFetchResponse) -> Result<HmacKey, Rejection> {
    let failed = |reason: &'static str| Rejection::KeyFetch(Cow::Borrowed(reason));
    match response.status {
        200..=299 => {}
        // The source must not follow redirects; one coming back is refused like a bad host.
        300..=399 => return Err(refused("redirect")),
        _ => return Err(failed("key host answered an error status")),
    }
    if response.body.len() > MAX_KEY_RESPONSE_BYTES {
        return Err(failed("key response too large"));
    }
    let json: Value =
        serde_json::from_slice(&response.body).map_err(|_| failed("key response is not JSON"))?;
    let signing_key = json
        .as_object()
        .and_then(|o| crate::json_fields::string_field(o, "signing_key"))
        .filter(|k| !k.is_empty())
        .ok_or_else(|| failed("key response has no signing_key"))?;
    Ok(HmacKey(Sha256::digest(signing_key.as_bytes()).into()))
}
