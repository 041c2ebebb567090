//! Where ConnectWise's signing key may come from, how it is fetched, and how it is cached.
//!
//! A ConnectWise callback names the URL of its own signing key (`Metadata.key_url`). Until the
//! signature is checked, that URL is attacker-controlled: fetching it blindly would let anyone
//! make the ingest issue requests to any host (SSRF), and sign forgeries with a key they serve.
//! So a `key_url` is fetched only when [`KeyUrlPolicy`] approves it: https, a host the tenant
//! configured (its site and that site's `api-` twin by default), the expected port, no userinfo,
//! no IP literal, no fragment. The fetch itself goes through [`SigningKeySource`], which the
//! service implements with its HTTP client and which must not follow redirects; a redirect that
//! comes back is refused here.
//!
//! The cache ([`SigningKeyCache`]) is keyed by the full URL (it carries the key's `id=`), holds
//! only the derived HMAC key (`SHA-256(signing_key)`), and is bounded.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;

use serde_json::Value;
use sha2::{Digest, Sha256};
use syncbridge_model::UnixMillis;
use url::{Host, Url};

use crate::rejection::{Rejection, SettingError};

/// The largest key response we read; ConnectWise answers with a few dozen bytes.
pub const MAX_KEY_RESPONSE_BYTES: usize = 64 * 1024;

/// One host (and port) a tenant's keys may be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyHost {
    /// As `url` serialises it: lower-case, punycode; IPv6 in brackets.
    host: String,
    /// `None`: the scheme's default port.
    port: Option<u16>,
}

/// Which `key_url`s a tenant's ConnectWise callbacks may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUrlPolicy {
    hosts: Vec<KeyHost>,
    allow_http: bool,
}

impl KeyUrlPolicy {
    /// The tenant's ConnectWise site (`na.myconnectwise.net`, `cw.example.com:8443`, or a URL such
    /// as `https://na.myconnectwise.net`), plus its `api-` twin: ConnectWise Cloud serves the
    /// REST API from `api-{site}` and callbacks name either form. Https only.
    pub fn for_site(site: &str) -> Result<Self, SettingError> {
        let site = parse_key_host(site)?;
        let mut hosts = vec![site.clone()];
        // An IP or a single-label name (`localhost`) has no meaningful `api-` twin.
        let is_ip = site.host.starts_with('[') || site.host.parse::<std::net::Ipv4Addr>().is_ok();
        if !is_ip && site.host.contains('.') {
            let twin = match site.host.strip_prefix("api-") {
                Some(bare) => bare.to_owned(),
                None => format!("api-{}", site.host),
            };
            hosts.push(KeyHost {
                host: twin,
                port: site.port,
            });
        }
        Ok(KeyUrlPolicy {
            hosts,
            allow_http: false,
        })
    }

    /// Also allow `host` (or `host:port`), e.g. an on-premises server's separate API host.
    pub fn with_host(mut self, host: &str) -> Result<Self, SettingError> {
        let host = parse_key_host(host)?;
        if !self.hosts.contains(&host) {
            self.hosts.push(host);
        }
        Ok(self)
    }

    /// Allow plain http and the configured IP literals: for the simulator only, never in
    /// production. Must be asked for explicitly in the tenant's configuration.
    pub fn allow_http_for_simulator(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Approves `key_url`, or says why it is refused. Pure: nothing is fetched here.
    pub fn check(&self, key_url: &str) -> Result<ApprovedKeyUrl, Rejection> {
        let url = Url::parse(key_url).map_err(|_| refused("not a valid absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(refused("scheme not allowed")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("userinfo not allowed"));
        }
        if url.fragment().is_some() {
            return Err(refused("fragment not allowed"));
        }
        let host = match url.host() {
            Some(Host::Domain(domain)) => domain.to_owned(),
            // `url` has already normalised `0x7f.1`, `127.1` and friends into an address here.
            Some(Host::Ipv4(_) | Host::Ipv6(_)) if !self.allow_http => {
                return Err(refused("IP literal not allowed"));
            }
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => format!("[{ip}]"),
            None => return Err(refused("no host")),
        };
        let port = url.port_or_known_default();
        let scheme_port = default_port(url.scheme());
        let mut host_known = false;
        for allowed in &self.hosts {
            if allowed.host == host {
                host_known = true;
                if allowed.port.or(scheme_port) == port {
                    return Ok(ApprovedKeyUrl(url.into()));
                }
            }
        }
        Err(refused(if host_known {
            "port not allowed"
        } else {
            "host not allowed"
        }))
    }
}

/// The port a URL of `scheme` uses when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

fn refused(reason: &'static str) -> Rejection {
    Rejection::KeyUrlRefused(Cow::Borrowed(reason))
}

/// Reads a configured key host: `host`, `host:port`, or an origin URL (`https://host[:port]`).
fn parse_key_host(text: &str) -> Result<KeyHost, SettingError> {
    let invalid = || SettingError::InvalidKeyHost(text.to_owned());
    let text = text.trim();
    let as_url = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let url = Url::parse(&as_url).map_err(|_| invalid())?;
    let bare_origin = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && matches!(url.scheme(), "https" | "http");
    let host = url.host_str().ok_or_else(invalid)?;
    if !bare_origin || host.is_empty() {
        return Err(invalid());
    }
    Ok(KeyHost {
        host: host.to_owned(),
        port: url.port(),
    })
}

/// A `key_url` that passed [`KeyUrlPolicy::check`]; the only thing a [`SigningKeySource`] is
/// ever asked to fetch. Its text is the parsed URL's serialisation, so the HTTP client requests
/// exactly what was checked (the path, double slashes included, is kept as sent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApprovedKeyUrl(String);

impl ApprovedKeyUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
/// Contract for implementations: one GET of exactly `url.as_str()`, redirects NOT followed (return
/// the 3xx as it is), a short timeout (10 s), the tenant's API credentials (Basic + `clientId`),
/// and a body read of at most [`MAX_KEY_RESPONSE_BYTES`] + 1 bytes.
pub trait SigningKeySource {
    fn fetch(
        &self,
        url: &ApprovedKeyUrl,
    ) -> impl Future<Output = Result<KeyFetchResponse, KeyFetchError>> + Send;
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

/// Signing keys by `key_url`, in front of a [`SigningKeySource`]. Share one per process.
pub struct SigningKeyCache<S> {
    source: S,
    entries: Mutex<HashMap<ApprovedKeyUrl, CachedKey>>,
    capacity: usize,
}

impl<S: SigningKeySource> SigningKeyCache<S> {
    /// Default capacity: 256 keys (ConnectWise uses few keys per company).
    pub fn new(source: S) -> Self {
        SigningKeyCache {
            source,
            entries: Mutex::new(HashMap::new()),
            capacity: 256,
        }
    }

    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every key (e.g. after a tenant's ConnectWise credentials change).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ApprovedKeyUrl, CachedKey>> {
        // A panic elsewhere while holding the lock leaves a usable map: recover it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key for `url`, from the cache or fetched now.
    pub(crate) async fn key(
        &self,
        url: &ApprovedKeyUrl,
        now: UnixMillis,
    ) -> Result<KeyLookup, Rejection> {
        let cached = self.lock().get(url).map(|c| KeyLookup {
            key: c.key.clone(),
            fetched_at: c.fetched_at,
            fresh: false,
        });
        match cached {
            Some(hit) => Ok(hit),
            None => self.refetch(url, now).await,
        }
    }

    /// Fetches `url` (even if cached) and stores the result.
    pub(crate) async fn refetch(
        &self,
        url: &ApprovedKeyUrl,
        now: UnixMillis,
    ) -> Result<KeyLookup, Rejection> {
        let response = self
            .source
            .fetch(url)
            .await
            .map_err(|_| Rejection::KeyFetch(Cow::Borrowed("transport error")))?;
        let key = hmac_key_from_response(&response)?;
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(url) {
            // Evict the oldest fetch; the map is small, a scan is cheap.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, c)| c.fetched_at)
                .map(|(u, _)| u.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
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
        let len = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("SigningKeyCache")
            .field("keys", &len)
            .field("capacity", &self.capacity)
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
