//! `syncbridge setup`: one run of the NATS set-up (streams, consumers' stream, KV buckets),
//! reported one line per item: created, ok, or updated with what changed.

use anyhow::Context;
use syncbridge_bus::{setup, SetupOutcome};

use crate::config::Config;

/// Creates or verifies the topology; the report's lines.
pub async fn run(config: &Config) -> anyhow::Result<String> {
    let conn = super::ops::connected(config).await?;
    let report = setup(&conn, &config.setup_config())
        .await
        .context("NATS set-up")?;
    let mut out = String::new();
    for (name, outcome) in report.items {
        let what = match outcome {
            SetupOutcome::Created => "created".to_owned(),
            SetupOutcome::Unchanged => "ok".to_owned(),
            SetupOutcome::Updated(diffs) => format!(
                "updated ({})",
                diffs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        out.push_str(&format!("{name}: {what}\n"));
    }
    Ok(out)
}
