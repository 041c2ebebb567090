//! Metrics for every role: `serve --role ingest|worker|poller` as three processes, each with its
//! own `[metrics] listen`, after real traffic (a full sync's events, a person's edit in
//! ConnectWise through its callback, a refused delivery, the pollers' rounds and a scheduled full
//! sync) — each metric appears on the `/metrics` of the role that owns it, the public ingest
//! listener serves no `/metrics`, and every `syncbridge_*` name the Grafana dashboard and the
//! Prometheus alert rules (`deploy/`) use is one the code describes (and was scraped here, but
//! for the few recorded only when something rare happens).

use std::collections::BTreeSet;
use std::path::PathBuf;

use syncbridge::runtime::metrics as m;
use syncbridge_model::Entity;

use super::harness::{edit, eventually, free_ports, logs, Proc, World, SERIAL};

/// The repository's root (this crate is `crates/service`).
fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Metric names in a PromQL expression: every `syncbridge_…` word, a histogram's
/// `_bucket`/`_sum`/`_count` series named by its histogram.
fn names_in(expr: &str, into: &mut BTreeSet<String>) {
    let mut rest = expr;
    while let Some(at) = rest.find("syncbridge_") {
        let word: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + word.len()..];
        into.insert(metric_of(&word));
    }
}

/// A series name's metric: `x_bucket` → `x` when `x` is a described metric.
fn metric_of(series: &str) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = series.strip_suffix(suffix) {
            if m::ALL.contains(&base) {
                return base.to_owned();
            }
        }
    }
    series.to_owned()
}

/// Every `expr` string anywhere in the dashboard.
fn dashboard_exprs(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => into.push(e.clone()),
                    _ => dashboard_exprs(v, into),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, into)),
        _ => {}
    }
}

/// The `expr:` values of the alert rules, read as text: an inline value, or a folded block
/// (`>-`) whose lines are indented deeper than the key.
fn alert_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let value = value.trim();
        if !value.starts_with('>') && !value.starts_with('|') {
            out.push(value.to_owned());
            continue;
        }
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim())
            .collect();
        out.push(block.join(" "));
    }
    out
}

fn dashboard_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_file("deploy/grafana/syncbridge-dashboard.json"))
        .expect("the dashboard");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    dashboard_exprs(&json, &mut exprs);
    assert!(exprs.len() > 20, "the dashboard's queries: {exprs:?}");
    let mut names = BTreeSet::new();
    exprs.iter().for_each(|e| names_in(e, &mut names));
    names
}

fn alert_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).expect("rules");
    let exprs = alert_exprs(&text);
    assert!(exprs.len() >= 5, "the rules' expressions: {exprs:?}");
    let mut names = BTreeSet::new();
    exprs.iter().for_each(|e| names_in(e, &mut names));
    names
}

#[test]
fn the_dashboard_and_the_alert_rules_use_only_described_metrics() {
    let described: BTreeSet<String> = m::ALL.iter().map(|n| n.to_string()).collect();
    let (dashboard, alerts) = (dashboard_names(), alert_names());
    let unknown: Vec<_> = dashboard
        .union(&alerts)
        .filter(|n| !described.contains(*n))
        .collect();
    assert!(
        unknown.is_empty(),
        "not metrics the code describes: {unknown:?}"
    );
    // The rules' unit tests (promtool test rules) feed series of the same names.
    let mut in_rule_tests = BTreeSet::new();
    let rule_tests = std::fs::read_to_string(repo_file("deploy/prometheus/alerts_test.yml"));
    names_in(&rule_tests.expect("the rules' tests"), &mut in_rule_tests);
    let unknown: Vec<_> = in_rule_tests
        .iter()
        .filter(|n| !described.contains(*n))
        .collect();
    assert!(
        unknown.is_empty(),
        "alerts_test.yml feeds unknown series: {unknown:?}"
    );
    // The panels the dashboard is for.
    for name in [
        m::REQUESTS,
        m::VERIFICATION_FAILURES,
        m::EVENTS_HANDLED,
        m::EVENT_AGE_SECONDS,
        m::EVENT_TO_WRITE_SECONDS,
        m::VENDOR_REQUESTS,
        m::BUDGET_WAIT_SECONDS,
        m::CONSUMER_PENDING,
        m::CONSUMER_REDELIVERED,
        m::DLQ_MESSAGES,
        m::POLLER_CURSOR_AGE,
        m::POLLER_LAST_SUCCESS,
        m::FULL_SYNC_LISTED,
        m::FULL_SYNC_PUBLISHED,
        m::FULL_SYNC_LINKED,
        m::WEBHOOK_DEACTIVATED,
    ] {
        assert!(dashboard.contains(name), "no dashboard panel uses {name}");
    }
    for name in [
        m::WEBHOOK_DEACTIVATED,
        m::DLQ_MESSAGES,
        m::CONSUMER_PENDING,
        m::EVENT_AGE_SECONDS,
        m::POLLER_LAST_SUCCESS,
        m::BUDGET_WAIT_SECONDS,
    ] {
        assert!(alerts.contains(name), "no alert rule uses {name}");
    }
}

#[test]
fn every_alert_rule_has_for_severity_summary_and_description() {
    let text = std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).expect("rules");
    let rules: Vec<&str> = text.split("- alert:").skip(1).collect();
    assert!(rules.len() >= 5, "{text}");
    for rule in rules {
        let name = rule.lines().next().unwrap_or("").trim();
        for key in ["expr:", "for:", "severity:", "summary:", "description:"] {
            assert!(rule.contains(key), "alert {name} has no {key}");
        }
    }
}

#[test]
fn every_metric_is_in_the_module_table_and_the_docs() {
    let source =
        std::fs::read_to_string(repo_file("crates/service/src/runtime/metrics.rs")).unwrap();
    let docs = std::fs::read_to_string(repo_file("docs/metrics.md")).expect("docs/metrics.md");
    for name in m::ALL {
        assert!(
            source.contains(&format!("//! | `{name}` |")),
            "{name} is not in the table of runtime/metrics.rs"
        );
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/metrics.md does not list {name}"
        );
    }
}

/// The metric names of a Prometheus text scrape.
fn scraped(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("syncbridge_"))
        .map(|l| metric_of(l.split(['{', ' ']).next().unwrap_or("")))
        .collect()
}

async fn scrape(http: &reqwest::Client, port: u16) -> Result<BTreeSet<String>, String> {
    let r = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("/metrics answered {}", r.status()));
    }
    Ok(scraped(&r.text().await.map_err(|e| e.to_string())?))
}

/// Scrapes `port` until every name of `expected` is there; the last scrape.
async fn scrape_until(
    http: &reqwest::Client,
    role: &str,
    port: u16,
    expected: &[&str],
    procs: &[&Proc],
) -> BTreeSet<String> {
    eventually(&format!("the {role}'s metrics"), async || {
        let names = scrape(http, port).await?;
        let missing: Vec<_> = expected.iter().filter(|n| !names.contains(**n)).collect();
        match missing.is_empty() {
            true => Ok(names),
            false => Err(format!("missing {missing:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(procs)))
}

/// The world's configuration with a `[metrics] listen` of its own, and `replace` applied.
fn config_with_metrics(w: &World, name: &str, port: u16, replace: (&str, &str)) -> PathBuf {
    let base = std::fs::read_to_string(&w.config_path).expect("the configuration");
    assert!(base.contains(replace.0), "{base}");
    let text = format!(
        "{}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n",
        base.replace(replace.0, replace.1)
    );
    let path = w.scratch.0.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write a configuration");
    path
}

const WORKER_METRICS: [&str; 9] = [
    m::EVENTS_HANDLED,
    m::EVENT_AGE_SECONDS,
    m::EVENT_TO_WRITE_SECONDS,
    m::VENDOR_REQUESTS,
    m::BUDGET_WAIT_SECONDS,
    m::CONSUMER_PENDING,
    m::CONSUMER_REDELIVERED,
    m::DLQ_MESSAGES,
    m::OPEN_FILES_LIMIT,
];
const POLLER_METRICS: [&str; 12] = [
    m::FULL_SYNC_PROGRESS,
    m::POLLER_LAST_SUCCESS,
    m::POLLER_CURSOR_AGE,
    m::POLLER_INTERVAL,
    m::VENDOR_REQUESTS,
    m::BUDGET_WAIT_SECONDS,
    m::FULL_SYNC_RUNS,
    m::FULL_SYNC_STARTED,
    m::FULL_SYNC_FINISHED,
    m::FULL_SYNC_LISTED,
    m::FULL_SYNC_LINKED,
    m::FULL_SYNC_PUBLISHED,
];
const INGEST_METRICS: [&str; 4] = [
    m::REQUESTS,
    m::VERIFICATION_FAILURES,
    m::PUBLISH_SECONDS,
    m::HTTP_CONNECTIONS_OPEN,
];
/// Recorded only when something rare happens (a deactivated webhook, a probe, a failing poll, a
/// connection cap reached, a push-all run — its gauges are `roles::bus_gauges`'s test):
/// described, on the dashboard or in the rules, not in this traffic.
const RARE: [&str; 13] = [
    m::PUSH_ALL_RECORDS,
    m::PUSH_ALL_STARTED,
    m::PUSH_ALL_UPDATED,
    m::PUSH_ALL_FINISHED,
    m::WEBHOOK_DEACTIVATED,
    m::DEACTIVATION_NOTICES,
    m::KEY_FETCHES_LIMITED,
    m::SAFETY_NET_UNANNOUNCED,
    m::DUPLICATES,
    m::POLLER_FAILURES,
    m::HTTP_CONNECTION_LIMIT_HITS,
    m::HTTP_CONNECTIONS_TIMED_OUT,
    m::HTTP_ACCEPT_ERRORS,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_exports_its_metrics_on_its_own_listener() {
    let _serial = SERIAL.lock().await;
    let w = World::start(3, 2).await;
    let [ingest_port, worker_port, poller_port] = free_ports();
    let ports = (ingest_port, worker_port, poller_port);
    let unchanged = ("[nats]", "[nats]");
    let ingest_config = config_with_metrics(&w, "ingest", ports.0, unchanged);
    let worker_config = config_with_metrics(&w, "worker", ports.1, unchanged);
    // A scheduled full sync in the poller (slots start on the minute).
    let every_minute = ("full_sync_interval = \"0s\"", "full_sync_interval = \"1m\"");
    let poller_config = config_with_metrics(&w, "poller", ports.2, every_minute);
    let ingest = w.spawn_with(&ingest_config, "ingest", "ingest", None);
    let worker = w.spawn_with(&worker_config, "worker", "worker", None);
    let poller = w.spawn_with(&poller_config, "poller", "poller", None);
    let procs = [&ingest, &worker, &poller];
    let http = reqwest::Client::new();
    eventually("the ingest answers", async || {
        match http.get(format!("{}/healthz", w.public_url)).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&procs)));
    let tenant = &w.config.tenants[&w.id];
    syncbridge::commands::register::register_webhooks(tenant, &w.public_url)
        .await
        .expect("register the ConnectWise callbacks");

    // The workers' traffic: a full sync's events (links, creates in IT Glue), then a person's
    // edit in ConnectWise through its callback and the ingest.
    w.full_sync("metrics").await;
    let pair = eventually("an organization linked", async || {
        w.linked_pairs(Entity::Organization)
            .await
            .into_iter()
            .next()
            .ok_or_else(|| "none yet".to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&procs)));
    edit(&w, true, Entity::Organization, &pair, "METRICS").await;
    // A delivery without a signature: refused by verification.
    let refused = http
        .post(format!("{}/webhooks/{}/connectwise", w.public_url, w.id))
        .header("content-type", "application/json")
        .body(r#"{"ID":1,"Action":"updated","Type":"company"}"#)
        .send()
        .await
        .expect("the ingest answers");
    assert_eq!(refused.status(), 401, "an unsigned callback is refused");

    let ingest_names = scrape_until(&http, "ingest", ports.0, &INGEST_METRICS, &procs).await;
    let worker_names = scrape_until(&http, "worker", ports.1, &WORKER_METRICS, &procs).await;
    let poller_names = scrape_until(&http, "poller", ports.2, &POLLER_METRICS, &procs).await;

    // Each role exports what it records, not the others' metrics.
    for (role, names, foreign) in [
        (
            "ingest",
            &ingest_names,
            &[m::EVENTS_HANDLED, m::POLLER_LAST_SUCCESS][..],
        ),
        (
            "worker",
            &worker_names,
            &[m::REQUESTS, m::POLLER_LAST_SUCCESS, m::FULL_SYNC_RUNS][..],
        ),
        (
            "poller",
            &poller_names,
            &[m::REQUESTS, m::EVENTS_HANDLED, m::CONSUMER_PENDING][..],
        ),
    ] {
        for name in foreign {
            assert!(!names.contains(*name), "the {role} exports {name}");
        }
    }
    // With `[metrics] listen` set, the public listener serves no /metrics.
    let public = http
        .get(format!("{}/metrics", w.public_url))
        .send()
        .await
        .expect("the ingest answers");
    let status = public.status();
    let body = public.text().await.unwrap_or_default();
    assert_ne!(status, 200, "/metrics on the public listener: {body}");
    assert!(!body.contains("syncbridge_"), "{body}");

    // The worker's labels are from closed sets: the configured tenant, fixed words.
    let text = http
        .get(format!("http://127.0.0.1:{}/metrics", ports.1))
        .send()
        .await
        .expect("the worker's metrics")
        .text()
        .await
        .unwrap_or_default();
    worker_labels_are_closed(&text, w.id.as_str());

    // What the deploy files use was scraped here (but for the rare ones).
    let all: BTreeSet<String> = [&ingest_names, &worker_names, &poller_names]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let unseen: Vec<_> = dashboard_names()
        .union(&alert_names())
        .filter(|n| !all.contains(*n) && !RARE.contains(&n.as_str()))
        .cloned()
        .collect();
    assert!(
        unseen.is_empty(),
        "used by deploy/ but never scraped: {unseen:?}"
    );
}

/// The value of `label` in a series line, if it has one.
fn label<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let start = line.find(&format!("{label}=\""))? + label.len() + 2;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// Every `syncbridge_worker_events_total` series names the configured tenant, an entity, one of
/// the outcomes and a rule of the engine (or `none`); a decision that wrote is among them.
fn worker_labels_are_closed(text: &str, tenant: &str) {
    let rules: BTreeSet<&str> = syncbridge_engine::Rule::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(["none"])
        .collect();
    let entities: BTreeSet<&str> = Entity::ALL
        .iter()
        .map(|e| e.as_str())
        .chain(["unknown"])
        .collect();
    let outcomes = [
        "written",
        "nothing_to_write",
        "shadow",
        "retry",
        "dead_letter",
    ];
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(m::EVENTS_HANDLED))
        .collect();
    assert!(
        series
            .iter()
            .any(|l| label(l, "outcome") == Some("written")),
        "{text}"
    );
    for line in series {
        assert_eq!(label(line, "tenant"), Some(tenant), "{line}");
        assert!(
            entities.contains(label(line, "entity").unwrap_or("")),
            "{line}"
        );
        assert!(
            outcomes.contains(&label(line, "outcome").unwrap_or("")),
            "{line}"
        );
        assert!(rules.contains(label(line, "rule").unwrap_or("")), "{line}");
    }
    for line in text.lines().filter(|l| l.starts_with("syncbridge_event_")) {
        assert_eq!(label(line, "tenant"), Some(tenant), "{line}");
    }
}
