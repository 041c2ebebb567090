//! Connecting to NATS so that the connection outlives server restarts.
//!
//! The client retries the initial connect (a worker may start before the server) and reconnects
//! without limit (a server restart or a cluster leader change must never need a process restart).
//! While disconnected, the client buffers publishes: that is why a publish that timed out may still
//! land later (DESIGN §2.1), and why dedup ids matter. [`Connection::state`] feeds `/readyz`.
//!
//! A URL may carry credentials (`nats://user:password@host`, `nats://token@host`): they are taken
//! out of the address before the client sees it and sent as the connection's credentials (unless
//! [`ConnectConfig::auth`] names others), and wherever a URL is shown (errors, logs,
//! `config check`) it goes through [`redact_url`] first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream;

/// How to reach NATS. Secrets (`Auth`) are never logged: `Debug` redacts them.
#[derive(Clone)]
pub struct ConnectConfig {
    /// One or more `nats://host:port` URLs (several for a cluster).
    pub urls: Vec<String>,
    /// Shown in the server's connection list (`nats server report connections`).
    pub client_name: String,
    pub auth: Auth,
    /// Bounds every JetStream API request and publish ack of this connection.
    pub request_timeout: Duration,
    /// Bounds one attempt to open the TCP connection and handshake.
    pub connection_timeout: Duration,
}

impl ConnectConfig {
    /// Defaults for `url`: no auth, 5 s request timeout, 5 s connection timeout.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectConfig {
            urls: vec![url.into()],
            client_name: "syncbridge".to_owned(),
            auth: Auth::None,
            request_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectConfig")
            .field(
                "urls",
                &self.urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>(),
            )
            .field("client_name", &self.client_name)
            .field("auth", &self.auth)
            .field("request_timeout", &self.request_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .finish()
    }
}

/// Client authentication.
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Token(String),
    UserPassword {
        user: String,
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
            Auth::UserPassword { user, .. } => write!(f, "UserPassword({user}, <redacted>)"),
        }
    }
}

/// Why a connection could not be set up. With `retry_on_initial_connect` an unreachable server is
/// not an error (the client keeps trying); what remains are bad options.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no NATS URL configured")]
    NoUrl,
    /// `url` is already redacted.
    #[error("invalid NATS URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot connect to NATS: {0}")]
    Client(String),
    /// [`connect_within`]: no server answered in time. `urls` are redacted.
    #[error(
        "cannot reach NATS at {urls} within {waited:?}: check that nats-server is running and \
         reachable there, and that [nats] urls and the credentials (token or user + password) \
         are right"
    )]
    Unreachable { urls: String, waited: Duration },
}

/// `url` with its credentials masked: `nats://user:***@host:4222`, `nats://***@host:4222`
/// (a token). Text that is not a URL is returned with anything before an `@` masked.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    // The userinfo ends at the last '@' before the path (a password may contain '@').
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    let masked = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    let host = &rest[at + 1..];
    match scheme {
        Some(scheme) => format!("{scheme}://{masked}@{host}"),
        None => format!("{masked}@{host}"),
    }
}

/// The configured URLs, redacted and joined for a message.
fn redacted_urls(urls: &[String]) -> String {
    urls.iter()
        .map(|u| redact_url(u))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the client currently has a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected yet (first connect still being retried).
    Pending,
    Connected,
    /// Lost; the client is reconnecting.
    Disconnected,
}

/// A NATS client and its JetStream context, shared by everything in one process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Connection {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    /// Set by [`Connection::close`]: from then on losing the server is expected, not a warning.
    closing: Arc<AtomicBool>,
}

impl Connection {
    /// The JetStream context (with this connection's request timeout).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The core NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn state(&self) -> ConnectionState {
        match self.client.connection_state() {
            State::Pending => ConnectionState::Pending,
            State::Connected => ConnectionState::Connected,
            State::Disconnected => ConnectionState::Disconnected,
        }
    }

    /// For `/readyz`: connected right now.
    pub fn is_connected(&self) -> bool {
        self.state() == ConnectionState::Connected
    }

    /// Waits until connected, at most `within`; whether it is.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.is_connected() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ends the connection's use on purpose (a clean stop): what is buffered is sent (at most
    /// `within`), and from now on losing the server — the demo's private one goes first — is
    /// logged at debug, not as the warning an unexpected loss deserves. The client itself closes
    /// when the last clone is dropped.
    pub async fn close(&self, within: Duration) {
        self.closing.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(within, self.client.flush()).await;
    }

    /// The connected server's `max_payload` (bytes of headers + body one message may have), or
    /// `None` before the first connection.
    pub fn server_max_payload(&self) -> Option<usize> {
        match self.client.server_info().max_payload {
            0 => None,
            n => Some(n),
        }
    }
}

/// Connects with reconnects: returns at once even if no server is reachable yet (the client keeps
/// trying in the background; see [`Connection::state`]).
pub async fn connect(config: &ConnectConfig) -> Result<Connection, ConnectError> {
    if config.urls.is_empty() {
        return Err(ConnectError::NoUrl);
    }
    let mut addrs = Vec::with_capacity(config.urls.len());
    let mut url_auth = None;
    for url in &config.urls {
        let addr: async_nats::ServerAddr =
            url.parse()
                .map_err(|e: std::io::Error| ConnectError::InvalidUrl {
                    url: redact_url(url),
                    reason: e.to_string(),
                })?;
        let (addr, auth) =
            without_credentials(addr).map_err(|reason| ConnectError::InvalidUrl {
                url: redact_url(url),
                reason,
            })?;
        url_auth = url_auth.or(auth);
        addrs.push(addr);
    }

    // The client sends only its options' credentials (never a URL's), so credentials written in
    // a URL are moved here; explicitly configured ones take precedence.
    let auth = match (&config.auth, url_auth) {
        (Auth::None, Some(from_url)) => from_url,
        (auth, _) => auth.clone(),
    };
    let closing = Arc::new(AtomicBool::new(false));
    let mut options = match &auth {
        Auth::None => async_nats::ConnectOptions::new(),
        Auth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
        Auth::UserPassword { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
    };
    options = options
        .name(&config.client_name)
        .retry_on_initial_connect()
        // None = unbounded: never give up on the server.
        .max_reconnects(None)
        .connection_timeout(config.connection_timeout)
        .request_timeout(Some(config.request_timeout))
        .event_callback({
            let closing = closing.clone();
            move |event| {
                let closing = closing.load(Ordering::Relaxed);
                async move { log_event(&event, closing) }
            }
        });

    let client = options
        .connect(addrs)
        .await
        .map_err(|e| ConnectError::Client(e.to_string()))?;
    let jetstream = jetstream::context::ContextBuilder::new()
        .timeout(config.request_timeout)
        .build(client.clone());
    Ok(Connection {
        client,
        jetstream,
        closing,
    })
}

/// Logs a connection event. They say nothing secret; they are what an operator needs to see —
/// unless the connection is being closed on purpose, when they are the expected end.
fn log_event(event: &async_nats::Event, closing: bool) {
    match event {
        _ if closing => tracing::debug!(event = %event, "nats event while closing"),
        async_nats::Event::Connected => tracing::info!("nats connected"),
        async_nats::Event::Disconnected => tracing::warn!("nats disconnected"),
        other => tracing::info!(event = %other, "nats event"),
    }
}

/// `addr` without its userinfo, and the credentials that were there: `user:password@` or
/// `token@`. The address handed to the client carries no secret (its debug logs print server
/// addresses), and the credentials it would otherwise ignore become the connection's.
fn without_credentials(
    addr: async_nats::ServerAddr,
) -> Result<(async_nats::ServerAddr, Option<Auth>), String> {
    if !addr.has_user_pass() {
        return Ok((addr, None));
    }
    let mut url = addr.into_inner();
    let user = percent_decoded(url.username())?;
    let auth = match url.password() {
        Some(password) => Auth::UserPassword {
            user,
            password: percent_decoded(password)?,
        },
        None => Auth::Token(user),
    };
    url.set_username("")
        .and_then(|()| url.set_password(None))
        .map_err(|()| "cannot take the credentials out of this URL".to_owned())?;
    let addr = async_nats::ServerAddr::from_url(url).map_err(|e| e.to_string())?;
    Ok((addr, Some(auth)))
}

/// `%XX` escapes of a URL's userinfo decoded (a password may hold any character).
fn percent_decoded(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    "a '%' in the credentials is not followed by two hex digits".to_owned()
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the credentials are not UTF-8".to_owned())
}

/// [`connect`], then waits at most `within` for a server: for a command that is useless without
/// one, so that an unreachable server is said plainly (naming the redacted URLs and what to
/// check) rather than as the time-out of its first request.
pub async fn connect_within(
    config: &ConnectConfig,
    within: Duration,
) -> Result<Connection, ConnectError> {
    let conn = connect(config).await?;
    if conn.wait_connected(within).await {
        Ok(conn)
    } else {
        Err(ConnectError::Unreachable {
            urls: redacted_urls(&config.urls),
            waited: within,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url, without_credentials, Auth};

    #[test]
    fn credentials_leave_the_url_for_the_options() {
        let split = |url: &str| without_credentials(url.parse().unwrap()).unwrap();
        let (addr, auth) = split("nats://bob:p%40ss@h:4222");
        assert_eq!(addr.as_url_str(), "nats://h:4222");
        assert!(
            matches!(auth, Some(Auth::UserPassword { user, password }) if user == "bob" && password == "p@ss")
        );
        let (addr, auth) = split("nats://t0ken@h:4222");
        assert_eq!(addr.as_url_str(), "nats://h:4222");
        assert!(matches!(auth, Some(Auth::Token(token)) if token == "t0ken"));
        let (addr, auth) = split("nats://h:4222");
        assert_eq!(addr.as_url_str(), "nats://h:4222");
        assert!(auth.is_none());
    }

    #[test]
    fn credentials_in_urls_are_masked() {
        for (url, shown) in [
            ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
            ("nats://bob:s3cret@h:4222", "nats://bob:***@h:4222"),
            ("nats://tok3n@h:4222", "nats://***@h:4222"),
            ("tls://bob:p@ss@h:4222/x", "tls://bob:***@h:4222/x"),
            ("bob:s3cret@h:4222", "bob:***@h:4222"),
            ("h:4222", "h:4222"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
    }
}
