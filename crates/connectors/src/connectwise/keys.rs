//! Fetching ConnectWise callback signing keys (`Metadata.key_url`): the ingest's
//! [`SigningKeySource`].
//!
//! Only URLs the tenant's `KeyUrlPolicy` approved ever reach this file (the webhooks crate checks
//! before calling): the callback-key endpoint of the tenant's company, with nothing but its
//! `companyName` and `id` in the query. The request sends only what that endpoint needs: a plain
//! GET with no credentials (the key endpoint is unauthenticated; reference `webhooks.md` §1.3,
//! Nango's production handler fetches it so), so no API key can leak through it. The client
//! still defends itself: no redirects are followed (a 3xx comes back as it is and the webhooks
//! crate refuses it), the whole request is bounded by a short timeout, and at most
//! `MAX_KEY_RESPONSE_BYTES + 1` bytes of the answer are read.

use std::future::Future;
use std::time::Duration;

use syncbridge_webhooks::{
    ApprovedKeyUrl, KeyFetchError, KeyFetchResponse, SigningKeySource, MAX_KEY_RESPONSE_BYTES,
};

/// Bounds a key fetch (connect + request + body). A callback waits for it, and ConnectWise's own
/// delivery timeout is unknown, so keep it short.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One tenant's key fetcher (it holds no credentials: the key endpoint needs none).
#[derive(Debug, Clone)]
pub struct ConnectWiseKeySource {
    client: reqwest::Client,
}

impl ConnectWiseKeySource {
    /// A fetcher on `client` (from [`ConnectWiseKeySource::client`], shared by every tenant).
    pub fn new(client: reqwest::Client) -> Self {
        ConnectWiseKeySource { client }
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
        let request = self.client.get(url.as_str());
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

#[cfg(test)]
mod tests {
    use super::*;
    use syncbridge_webhooks::KeyUrlPolicy;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The request as the key host sees it: only the key endpoint's path and query, no
    /// `Authorization`, no `clientId` (issue 13 finding 2: the fetch sends only what it needs).
    #[tokio::test]
    async fn the_key_fetch_is_a_plain_get_without_credentials() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let site = listener.local_addr().unwrap().to_string();
        let host = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"signing_key":"k"}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let approved = KeyUrlPolicy::for_site(&site, "acme")
            .unwrap()
            .allow_http_for_simulator()
            .check(&format!(
                "http://{site}/v2025_1//system/callbackkey/index.rails?companyName=acme&id=k1&pageSize=1000"
            ))
            .unwrap();
        let source = ConnectWiseKeySource::new(ConnectWiseKeySource::client().unwrap());
        let response = source.fetch(&approved).await.unwrap();
        assert_eq!(response.status, 200);

        let request = host.await.unwrap().to_ascii_lowercase();
        assert!(
            request.starts_with(
                "get /v2025_1//system/callbackkey/index.rails?companyname=acme&id=k1 http/1.1\r\n"
            ),
            "{request}"
        );
        assert!(!request.contains("authorization"), "{request}");
        assert!(!request.contains("clientid"), "{request}");
    }
}
