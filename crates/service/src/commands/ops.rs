//! The operations commands: dead letters, replay, links, tenant mode. Each is a thin shell over the
//! bus library, printing plain text for a person and failing with a message that says what to do.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{anyhow, bail};
use syncbridge_bus::{
    connect_within, replay, AuditLog, Connection, DeadLetter, DeadLetters, LinkStore, OpsError,
    ReplayFrom, ReplayRequest, ReplayUntil, StateStore,
};
use syncbridge_model::{Entity, Link, Mode, TenantId, UnixMillis};

use crate::cli::ReplayArgs;
use crate::config::Config;

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Active => "active",
        Mode::Paused => "paused",
        Mode::Shadow => "shadow",
    }
}

const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// The tenant named on the command line, refused unless the configuration has it.
pub fn tenant(config: &Config, name: &str) -> anyhow::Result<TenantId> {
    let id = TenantId::new(name).map_err(|e| anyhow!("--tenant: {e}"))?;
    if !config.tenants.contains_key(&id) {
        let known: Vec<String> = config.tenants.keys().map(ToString::to_string).collect();
        bail!(
            "--tenant {name}: no such tenant in the configuration (configured: {})",
            known.join(", ")
        );
    }
    Ok(id)
}

pub fn entity(name: &str) -> anyhow::Result<Entity> {
    name.parse().map_err(|e| anyhow!("--entity: {e}"))
}

/// Parses an RFC 3339 time into Unix milliseconds.
pub fn time(flag: &str, value: &str) -> anyhow::Result<UnixMillis> {
    let t = ::time::OffsetDateTime::parse(value, &::time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            anyhow!("{flag} {value:?}: not an RFC 3339 time ({e}); e.g. 2026-11-25T09:00:00Z")
        })?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as UnixMillis)
}

/// The connection a command needs, or an error naming the (redacted) URLs and what to check
/// when no server answers within [`CONNECT_WAIT`].
pub async fn connected(config: &Config) -> anyhow::Result<Connection> {
    Ok(connect_within(&config.connect_config(), CONNECT_WAIT).await?)
}

/// How long a command waits for NATS before saying it cannot reach it.
pub const CONNECT_WAIT: Duration = Duration::from_secs(5);

fn describe_letter(l: &DeadLetter, out: &mut String) {
    let what = l.event.as_ref().map_or_else(
        || "(unreadable envelope)".to_owned(),
        |e| {
            format!(
                "{} {} {} from {}",
                e.action.as_str(),
                l.entity.map_or("-", Entity::as_str),
                e.record_id.as_deref().unwrap_or("-"),
                e.source
            )
        },
    );
    let _ = writeln!(
        out,
        "#{seq}  {what}  attempts={attempts}  original=#{orig}  error: {error}",
        seq = l.seq,
        attempts = l.attempts,
        orig = l.original_seq,
        error = l.error
    );
}

pub async fn dlq_list(config: &Config, tenant: &TenantId, limit: usize) -> anyhow::Result<String> {
    let dlq = DeadLetters::new(connected(config).await?, OP_TIMEOUT);
    let letters = dlq.list(tenant, limit).await?;
    let mut out = String::new();
    for l in &letters {
        describe_letter(l, &mut out);
    }
    let _ = writeln!(out, "{} dead letter(s) for tenant {tenant}", letters.len());
    Ok(out)
}

pub async fn dlq_show(config: &Config, seq: u64) -> anyhow::Result<String> {
    let dlq = DeadLetters::new(connected(config).await?, OP_TIMEOUT);
    let l = dlq.show(seq).await?;
    let mut out = String::new();
    describe_letter(&l, &mut out);
    let _ = writeln!(
        out,
        "tenant: {}\noriginal subject: {}",
        l.tenant, l.original_subject
    );
    let _ = writeln!(out, "body:\n{}", String::from_utf8_lossy(&l.body));
    Ok(out)
}

pub async fn dlq_retry(config: &Config, seq: u64) -> anyhow::Result<String> {
    let dlq = DeadLetters::new(connected(config).await?, OP_TIMEOUT);
    let published = dlq.retry(seq).await?;
    Ok(format!(
        "dead letter #{seq} re-published as SYNC_EVENTS #{} and removed from the DLQ\n",
        published.stream_seq
    ))
}

pub async fn dlq_drop(config: &Config, seq: u64) -> anyhow::Result<String> {
    let dlq = DeadLetters::new(connected(config).await?, OP_TIMEOUT);
    if dlq.drop(seq).await? {
        Ok(format!("dead letter #{seq} dropped\n"))
    } else {
        // The same words as `dlq show` of a missing sequence, and a failure: the operator named
        // something that is not there (a typo, or dropped already).
        Err(OpsError::NotFound {
            stream: syncbridge_bus::names::DLQ_STREAM,
            seq,
        }
        .into())
    }
}

pub async fn run_replay(config: &Config, request: ReplayRequest) -> anyhow::Result<String> {
    let conn = connected(config).await?;
    let report = replay(&conn, &request, OP_TIMEOUT, |r| {
        if r.matched % 1000 == 0 {
            eprintln!("replay: {} events so far", r.matched);
        }
    })
    .await?;
    Ok(format!(
        "replay {run}{dry}: {matched} matched, {published} published, {dup} already replayed by this \
         run id; last original sequence {last} (resume with --run-id {run} --until-seq {last})\n",
        run = request.run_id,
        dry = if request.dry_run { " (dry run)" } else { "" },
        matched = report.matched,
        published = report.published,
        dup = report.duplicates,
        last = report.last_seq,
    ))
}

/// Builds a replay request from the command's flags.
pub fn replay_request(
    tenant: TenantId,
    args: &ReplayArgs,
    now: UnixMillis,
) -> anyhow::Result<ReplayRequest> {
    let from = match (args.since.as_deref(), args.from_seq) {
        (Some(t), None) => ReplayFrom::Time(time("--since", t)?),
        (None, Some(seq)) => ReplayFrom::Seq(seq),
        _ => bail!("give exactly one of --since TIME or --from-seq N"),
    };
    let until = match (args.until.as_deref(), args.until_seq) {
        (Some(t), None) => Some(ReplayUntil::Time(time("--until", t)?)),
        (None, Some(seq)) => Some(ReplayUntil::Seq(seq)),
        (None, None) => None,
        _ => bail!("give at most one of --until TIME or --until-seq N"),
    };
    let request = ReplayRequest {
        tenant,
        from,
        until,
        entity: args.entity.as_deref().map(entity).transpose()?,
        dry_run: args.dry_run,
        run_id: args.run_id.clone().unwrap_or_else(|| format!("r{now}")),
    };
    if let Some(reason) = request.empty_stretch() {
        let flags = match (request.from, request.until) {
            (ReplayFrom::Seq(_), Some(ReplayUntil::Seq(_))) => "--until-seq is before --from-seq",
            _ => "--until is before --since",
        };
        bail!("{flags}: {reason}");
    }
    Ok(request)
}

pub async fn links_show(
    config: &Config,
    tenant: &TenantId,
    entity: Entity,
    psa_id: Option<&str>,
    itg_id: Option<&str>,
) -> anyhow::Result<String> {
    let links = LinkStore::open(&connected(config).await?, OP_TIMEOUT).await?;
    let found = match (psa_id, itg_id) {
        (Some(p), _) => links.get(tenant, entity, p).await?,
        (None, Some(i)) => links.get_by_itg(tenant, entity, i).await?,
        (None, None) => bail!("give --psa-id or --itg-id"),
    };
    match found {
        None => Ok(format!(
            "no link for this {entity}: it has not been synced\n"
        )),
        Some(v) => Ok(format!(
            "{}\n(revision {})\n",
            serde_json::to_string_pretty(&v.value)?,
            v.revision
        )),
    }
}

/// Dead letters searched by `links explain` (a tenant's DLQ is meant to be short).
const EXPLAIN_DEAD_LETTERS: usize = 10_000;

/// The link and the last decisions about a record, with the rule behind every action, and the
/// events about it that were dead-lettered (with the vendor's refusal).
pub async fn links_explain(
    config: &Config,
    tenant: &TenantId,
    entity: Entity,
    psa_id: Option<&str>,
    itg_id: Option<&str>,
    last: usize,
) -> anyhow::Result<String> {
    let conn = connected(config).await?;
    explain(&conn, tenant, entity, psa_id, itg_id, last).await
}

/// [`links_explain`] on an open connection.
pub async fn explain(
    conn: &Connection,
    tenant: &TenantId,
    entity: Entity,
    psa_id: Option<&str>,
    itg_id: Option<&str>,
    last: usize,
) -> anyhow::Result<String> {
    let conn = conn.clone();
    let links = LinkStore::open(&conn, OP_TIMEOUT).await?;
    let link = match (psa_id, itg_id) {
        (Some(p), _) => links.get(tenant, entity, p).await?,
        (None, Some(i)) => links.get_by_itg(tenant, entity, i).await?,
        (None, None) => bail!("give --psa-id or --itg-id"),
    }
    .map(|v| v.value);
    // Every id the record is known by: the one asked for and, once linked, the other side's.
    let mut ids: Vec<String> = psa_id
        .into_iter()
        .chain(itg_id)
        .map(str::to_owned)
        .collect();
    if let Some(l) = &link {
        ids.extend(l.psa_id.iter().chain(l.itg_id.iter()).cloned());
    }
    let dead: Vec<DeadLetter> = DeadLetters::new(conn.clone(), OP_TIMEOUT)
        .list(tenant, EXPLAIN_DEAD_LETTERS)
        .await?
        .into_iter()
        .filter(|d| {
            d.event.as_ref().is_some_and(|e| {
                e.entity == Some(entity) && e.record_id.as_ref().is_some_and(|id| ids.contains(id))
            })
        })
        .collect();
    let audit = AuditLog::new(conn, OP_TIMEOUT);
    let decisions = audit
        .find(tenant, entity, last, |v| {
            v["record_id"]
                .as_str()
                .is_some_and(|id| ids.iter().any(|x| x == id))
        })
        .await?;
    let mut out = describe_link(link.as_ref())?;
    describe_decisions(&mut out, &decisions);
    for d in &dead {
        let _ = writeln!(
            out,
            "dead letter #{} at {} after {} attempt(s): {}\n  (`syncbridge dlq retry {}` once the cause is fixed)",
            d.seq, d.dead_at, d.attempts, d.error, d.seq
        );
    }
    Ok(out)
}

/// `link: <state> psa=<id> itg=<id>`, or that there is none.
fn describe_link(link: Option<&Link>) -> anyhow::Result<String> {
    Ok(match link {
        None => "link: none (never linked)\n".to_owned(),
        Some(l) => {
            let state = serde_json::to_value(l)?;
            format!(
                "link: {} psa={} itg={}\n",
                state["state"].as_str().unwrap_or("?"),
                l.psa_id.as_deref().unwrap_or("-"),
                l.itg_id.as_deref().unwrap_or("-")
            )
        }
    })
}

/// Each audited decision with the rule behind every action.
fn describe_decisions(out: &mut String, decisions: &[serde_json::Value]) {
    if decisions.is_empty() {
        out.push_str("no decisions about this record in the audit stream\n");
    }
    for d in decisions {
        let _ = writeln!(
            out,
            "decision at {} on a {} event{}:",
            d["at"],
            d["side"].as_str().unwrap_or("?"),
            if d["written"] == false {
                " (shadow: not written)"
            } else {
                ""
            }
        );
        for a in d["actions"].as_array().into_iter().flatten() {
            let rule = a["rule"].as_str().unwrap_or("?");
            let kind = a["kind"].as_str().unwrap_or("?");
            let detail = a["reason"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| a.get("changes").map(|c| c.to_string()))
                .unwrap_or_default();
            let _ = writeln!(out, "  [{rule}] {kind} {detail}");
        }
    }
}

pub async fn set_mode(config: &Config, tenant: &TenantId, mode: Mode) -> anyhow::Result<String> {
    let state = StateStore::open(&connected(config).await?, OP_TIMEOUT).await?;
    for _ in 0..3 {
        let current = state.mode(tenant).await?;
        match state
            .set_mode(tenant, mode, current.map(|v| v.revision))
            .await
        {
            Ok(_) => return Ok(format!("tenant {tenant}: mode {}\n", mode_name(mode))),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("tenant {tenant}: the mode kept changing under us; try again")
}

/// `full-sync`: lists both systems, plans what differs from the last sync, and publishes one
/// reconcile event per planned record (with `dry_run`, only the plan's counts). A sweep held back
/// (too many links would be orphaned) is an error after the rest was published, naming `--force`.
pub async fn full_sync(
    config: &Config,
    tenant: &TenantId,
    dry_run: bool,
    force: bool,
    run: Option<&str>,
) -> anyhow::Result<String> {
    let tenant_config = &config.tenants[tenant];
    let psa = crate::vendors::clients::psa(tenant_config, None)?;
    let itg = crate::vendors::clients::itglue(tenant_config, None)?;
    let conn = connected(config).await?;
    let stores = crate::roles::full_sync::FullSyncStores::open(&conn, OP_TIMEOUT).await?;
    let now = crate::runtime::clock::now_millis();
    let options = crate::roles::full_sync::FullSyncOptions {
        run: run.map_or_else(|| now.to_string(), str::to_owned),
        dry_run,
        force,
        max_orphan_share: tenant_config.polling.full_sync_max_orphan_share,
    };
    let report =
        crate::roles::full_sync::full_sync(tenant_config, &psa, &itg, &stores, &options, now)
            .await?;
    let mut out = report.describe(dry_run);
    if report.sweep_held.is_some() {
        bail!("{out}");
    }
    if !dry_run {
        writeln!(
            out,
            "run {}: the workers decide each event now",
            options.run
        )?;
    }
    Ok(out)
}
