//! Which `key_url`s a tenant's ConnectWise callbacks may name (reference `webhooks.md` §1.2, §1.3).
//!
//! A ConnectWise callback names the URL of its own signing key (`Metadata.key_url`). Until the
//! signature is checked, that URL is attacker-controlled: fetching it blindly would let anyone
//! make the ingest issue requests to any host or path (SSRF), or sign a forgery with another
//! company's key served by the same shared ConnectWise host. So a `key_url` is fetched only when
//! [`KeyUrlPolicy`] approves it:
//!
//! - https, no userinfo, no IP literal, no fragment;
//! - a host the tenant configured, on the expected port: its site, the site's `api-` twin when
//!   the site is a ConnectWise Cloud host (`*.myconnectwise.net`), and hosts listed explicitly;
//! - the callback-key path, `/{codebase}/system/callbackkey/index.rails` with the one or two
//!   slashes ConnectWise writes after the codebase (`/v2025_1//system/callbackkey/index.rails`);
//! - a query naming exactly one `companyName`, the tenant's company id (case-insensitively, as
//!   ConnectWise logins compare), and exactly one `id`.
//!
//! The approved URL keeps the path as sent and carries only `companyName` and `id`: anything else
//! in the query is not sent to the key host. The fetch itself is
//! [`crate::connectwise_key_cache`]'s business.

use std::borrow::Cow;

use url::{Host, Url};

use crate::rejection::{Rejection, SettingError};

/// ConnectWise Cloud's domain: its sites (`na.`, `eu.`, `au.`, `sandbox-na.`, …) serve the REST
/// API and the signing keys from an `api-` twin as well (`api-na.myconnectwise.net`).
const CLOUD_DOMAIN: &str = ".myconnectwise.net";

/// The signing-key endpoint below the codebase segment (reference `webhooks.md` §1.2).
const KEY_ENDPOINT: &str = "system/callbackkey/index.rails";

/// The query parameter that names the company whose key is served.
const COMPANY_PARAM: &str = "companyName";

/// The query parameter that names the key.
const KEY_ID_PARAM: &str = "id";

/// Longest codebase segment and key id we accept (`v2025_1`, a GUID).
const MAX_SEGMENT_LEN: usize = 64;
const MAX_KEY_ID_LEN: usize = 128;

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
    company_id: String,
    allow_http: bool,
}

impl KeyUrlPolicy {
    /// The tenant's ConnectWise site (`na.myconnectwise.net`, `cw.example.com:8443`, or a URL such
    /// as `https://na.myconnectwise.net`) and company id (the `companyName` its key URLs carry).
    ///
    /// A ConnectWise Cloud site (`*.myconnectwise.net`) brings its `api-` twin: Cloud serves the
    /// REST API from `api-{site}` and callbacks name either form. Any other site has no twin
    /// (`api-acmecw.com` is not `acmecw.com`'s); list its API host with [`Self::with_host`].
    /// Https only.
    pub fn for_site(site: &str, company_id: &str) -> Result<Self, SettingError> {
        let company_id = company_id.trim();
        if company_id.is_empty() {
            return Err(SettingError::InvalidCompanyId);
        }
        let site = parse_key_host(site)?;
        let mut hosts = vec![site.clone()];
        if let Some(twin) = cloud_twin(&site.host) {
            hosts.push(KeyHost {
                host: twin,
                port: site.port,
            });
        }
        Ok(KeyUrlPolicy {
            hosts,
            company_id: company_id.to_owned(),
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
        let mut url = Url::parse(key_url).map_err(|_| refused("not a valid absolute URL"))?;
        self.check_origin(&url)?;
        if !is_key_path(url.path()) {
            return Err(refused("not the callback-key path"));
        }
        let (company, key_id) = key_query(&url)?;
        if !company.eq_ignore_ascii_case(&self.company_id) {
            return Err(refused("companyName is not the tenant's company"));
        }
        // Only what the key endpoint needs travels.
        url.set_query(None);
        url.query_pairs_mut()
            .append_pair(COMPANY_PARAM, &company)
            .append_pair(KEY_ID_PARAM, &key_id);
        Ok(ApprovedKeyUrl(url.into()))
    }

    /// Scheme, userinfo, fragment, host and port.
    fn check_origin(&self, url: &Url) -> Result<(), Rejection> {
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
                    return Ok(());
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

/// The `api-` twin of a ConnectWise Cloud host (`na.` ↔ `api-na.myconnectwise.net`); `None` for
/// any other host, whose twin would be a different registrable domain.
fn cloud_twin(host: &str) -> Option<String> {
    let label = host.strip_suffix(CLOUD_DOMAIN)?;
    if label.is_empty() {
        return None;
    }
    Some(match label.strip_prefix("api-") {
        Some(bare) if !bare.is_empty() => format!("{bare}{CLOUD_DOMAIN}"),
        _ => format!("api-{host}"),
    })
}

/// `/{codebase}/system/callbackkey/index.rails`, or with `//` after the codebase as ConnectWise
/// sends it. The codebase is one plain segment (`v2025_1`, `v4_6_release`).
fn is_key_path(path: &str) -> bool {
    let Some((codebase, rest)) = path.strip_prefix('/').and_then(|path| path.split_once('/'))
    else {
        return false;
    };
    let endpoint = rest.strip_prefix('/').unwrap_or(rest);
    let plain_segment = !codebase.is_empty()
        && codebase.len() <= MAX_SEGMENT_LEN
        && codebase != "."
        && codebase != ".."
        && codebase
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    plain_segment && endpoint == KEY_ENDPOINT
}

/// The `companyName` and `id` of a key URL's query: each exactly once, the id a plain token.
/// Other parameters are dropped, never refused (they are simply not sent).
fn key_query(url: &Url) -> Result<(String, String), Rejection> {
    let mut company = None;
    let mut key_id = None;
    for (name, value) in url.query_pairs() {
        let slot = match name.as_ref() {
            COMPANY_PARAM => &mut company,
            KEY_ID_PARAM => &mut key_id,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(refused("repeated key_url parameter"));
        }
    }
    let company = company.ok_or_else(|| refused("no companyName"))?;
    let key_id = key_id
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_KEY_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        })
        .ok_or_else(|| refused("no valid key id"))?;
    Ok((company.into_owned(), key_id.into_owned()))
}

/// The port a URL of `scheme` uses when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

pub(crate) fn refused(reason: &'static str) -> Rejection {
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

/// A `key_url` that passed [`KeyUrlPolicy::check`]; the only thing a
/// [`crate::SigningKeySource`] is ever asked to fetch. Its text is the parsed URL's
/// serialisation with only `companyName` and `id` in the query, so the HTTP client requests
/// exactly what was checked (the path, double slashes included, is kept as sent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApprovedKeyUrl(String);

impl ApprovedKeyUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
