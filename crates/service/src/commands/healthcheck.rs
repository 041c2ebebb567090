//! `syncbridge healthcheck`: one GET of a health URL, exit 0 on a 2xx answer.
//!
//! Why a subcommand: the container image is distroless (no shell, no curl, no wget), so a
//! Docker `HEALTHCHECK` or a probe that execs something can only run the binary that is already
//! there. It reads no configuration file and needs no NATS: it asks the running process's own
//! listener (by default the private `[metrics] listen` address of the deployment files,
//! `127.0.0.1:9090`) whether it is up.

use std::time::Duration;

use anyhow::{bail, Context};

/// GETs `url` within `timeout`; the line to print when it answered 2xx.
pub async fn run(url: &str, timeout: Duration) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("--url {url}: not a URL"))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        bail!("--url {url}: only http:// and https:// are supported");
    }
    // A probe asks this host's own listener: an HTTP(S)_PROXY from the environment must not
    // send it elsewhere.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .context("HTTP client")?;
    let answer = client
        .get(parsed)
        .send()
        .await
        .with_context(|| format!("{url}: no answer"))?;
    let status = answer.status();
    if !status.is_success() {
        bail!("{url}: {status}");
    }
    Ok(format!("ok: {url} {status}\n"))
}
