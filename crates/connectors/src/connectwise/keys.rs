//! Fetching ConnectWise callback signing keys (`Metadata.key_url`): the ingest's
//! [`SigningKeySource`], with the tenant's ConnectWise API credentials.
//!
//! Only URLs the tenant's `KeyUrlPolicy` approved ever reach this file (the webhooks crate checks
//! before calling). The client still defends itself: no redirects are followed (a 3xx comes back
//! as it is and the webhooks crate refuses it), the whole request is bounded by a short timeout,
//! and at most `MAX_KEY_RESPONSE_BYTES + 1` bytes of the answer are read. Requests carry the
//! tenant's API credentials (Basic `company+public:private` and `clientId`), which ConnectWise
//! Cloud requires; error texts never include them.

use std::future::Future;
use std::time::Duration;

use syncbridge_webhooks::{
    ApprovedKeyUrl, KeyFetchError, KeyFetchResponse, SigningKeySource, MAX_KEY_RESPONSE_BYTES,
};

use crate::connectwise::ConnectWiseConfig;
use crate::secret::ApiSecret;

/// Bounds a key fetch (connect + request + body). A callback waits for it, and ConnectWise's own
/// delivery timeout is unknown, so keep it short.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One tenant's key fetcher.
#[derive(Clone)]
pub struct ConnectWiseKeySource {
    client: reqwest::Client,
    user: String,
    private_key: ApiSecret,
    client_id: ApiSecret,
}

impl std::fmt::Debug for ConnectWiseKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectWiseKeySource")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl ConnectWiseKeySource {
    /// A fetcher with the credentials of the tenant's ConnectWise client, on `client` (from
    /// [`ConnectWiseKeySource::client`], shared by every tenant).
    pub fn new(client: reqwest::Client, config: &ConnectWiseConfig) -> Self {
        ConnectWiseKeySource {
            client,
            user: format!("{}+{}", config.company_id, config.public_key),
            private_key: config.private_key.clone(),
            client_id: config.client_id.clone(),
        }
    }

    /// The HTTP client every key source shares: no redirects, short timeouts, rustls.
    pub fn client() -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("syncbridge/", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

impl SigningKeySource for ConnectWiseKeySource {
    fn fetch(
        &self,
        url: &ApprovedKeyUrl,
    ) -> impl Future<Output = Result<KeyFetchResponse, KeyFetchError>> + Send {
        let request = self
            .client
            .get(url.as_str())
            .basic_auth(&self.user, Some(self.private_key.expose()))
            .header("clientId", self.client_id.expose());
        async move {
            let mut response = request.send().await.map_err(transport)?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                body.extend_from_slice(&chunk);
                // One byte over is enough for the caller to refuse it; stop reading there.
                if body.len() > MAX_KEY_RESPONSE_BYTES {
                    body.truncate(MAX_KEY_RESPONSE_BYTES + 1);
                    break;
                }
            }
            Ok(KeyFetchResponse { status, body })
        }
    }
}

/// A transport error without the URL (it is logged; keep log lines short and predictable).
fn transport(e: reqwest::Error) -> KeyFetchError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut message = e.to_string();
    if let Some(url) = e.url() {
        message = message.replace(url.as_str(), "<url>");
    }
    KeyFetchError(format!("{kind}: {message}"))
}
