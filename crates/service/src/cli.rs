//! The command line (clap, derive): `serve`, `setup`, `config check`, and the operations commands
//! `dlq`, `replay`, `links show` and `tenant`, and `healthcheck` for container probes. Each
//! command has `--help`.

use std::path::PathBuf;

pub use crate::roles::serve::Role;
pub use crate::runtime::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};

/// syncbridge: event-driven sync between IT Glue and MSP PSAs over NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "syncbridge", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: webhook ingest, workers and pollers (see --role).
    Serve(ServeArgs),
    /// Create or verify the NATS streams and KV buckets, then exit.
    Setup(ConfigArgs),
    /// Inspect the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Dead letters: events that failed permanently or max_deliver times.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Re-publish a stretch of a tenant's past events for reprocessing (harmless: events are
    /// hints, the current state decides).
    Replay(ReplayArgs),
    /// Inspect links between PSA and IT Glue records.
    #[command(subcommand)]
    Links(LinksCommand),
    /// Pause, resume or shadow a tenant.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Register our webhooks with a tenant's PSA (ConnectWise callbacks, Autotask webhooks);
    /// idempotent: a second run changes nothing and says so.
    RegisterWebhooks(RegisterWebhooksArgs),
    /// Publish one event per PSA record of a tenant: the workers check every record (a record
    /// equal to its last sync writes nothing).
    FullSync(FullSyncArgs),
    /// Push every syncable, unlinked IT Glue organization, location, contact and configuration
    /// of a two-way tenant to its PSA (matched by key there or created, then linked); resumable,
    /// and a finished run is not repeated without --restart.
    PushAll(PushAllArgs),
    /// GET a health URL of a running process and exit 0 on a 2xx answer, non-zero otherwise:
    /// for container health checks and probes where the image has no curl (reads no
    /// configuration).
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to ask: `/healthz` (process up) or `/readyz` (NATS connected, topology present)
    /// of the process's `[metrics] listen` or `ingest.listen`.
    #[arg(long, default_value = "http://127.0.0.1:9090/healthz")]
    pub url: String,
    /// Give up (and fail) after this many seconds.
    #[arg(long, default_value_t = 3)]
    pub timeout_secs: u64,
}

#[derive(Debug, Args)]
pub struct RegisterWebhooksArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long)]
    pub tenant: String,
    /// The URL vendors reach our ingest at (default: `ingest.public_url` of the configuration).
    #[arg(long)]
    pub public_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct FullSyncArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long)]
    pub tenant: String,
    /// Plan and count what would be published, publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Orphan the links of records the PSA no longer lists even when they are more than
    /// `polling.full_sync_max_orphan_share` of the tenant's links.
    #[arg(long)]
    pub force: bool,
    /// Names the run: a run repeated with the same name (after an interruption, within the
    /// stream's duplicate window) publishes nothing twice. Default: the current time.
    #[arg(long)]
    pub run: Option<String>,
}

#[derive(Debug, Args)]
pub struct PushAllArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long)]
    pub tenant: String,
    /// Count what would be published (per entity: unlinked / already linked), publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Start a new run even if the last one finished or was interrupted (records linked by
    /// then are skipped).
    #[arg(long)]
    pub restart: bool,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List a tenant's dead letters, oldest first.
    List {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        tenant: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead letter (by its SYNC_DLQ sequence), with its raw body.
    Show {
        #[command(flatten)]
        config: ConfigArgs,
        seq: u64,
    },
    /// Re-publish a dead letter to its original subject with a fresh dedup id, and remove it.
    Retry {
        #[command(flatten)]
        config: ConfigArgs,
        seq: u64,
    },
    /// Remove a dead letter (fails, as `show` does, when there is no such sequence).
    Drop {
        #[command(flatten)]
        config: ConfigArgs,
        seq: u64,
    },
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long)]
    pub tenant: String,
    /// Start at this time (RFC 3339, e.g. 2026-11-25T09:00:00Z).
    #[arg(
        long,
        conflicts_with = "from_seq",
        required_unless_present = "from_seq"
    )]
    pub since: Option<String>,
    /// Start at this SYNC_EVENTS sequence.
    #[arg(long)]
    pub from_seq: Option<u64>,
    /// Stop after this time (RFC 3339; not before --since); default: the last event when the
    /// replay starts.
    #[arg(long, conflicts_with = "until_seq")]
    pub until: Option<String>,
    /// Stop after this sequence (not before --from-seq; give an interrupted run's last sequence
    /// to resume it exactly).
    #[arg(long)]
    pub until_seq: Option<u64>,
    /// Only this entity (organization, configuration, contact, location).
    #[arg(long)]
    pub entity: Option<String>,
    /// Count what would be replayed; publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Names the run in the dedup ids; re-use it to resume an interrupted replay.
    #[arg(long)]
    pub run_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// Show the stored link (state, ids, base snapshot) of a record.
    Show(RecordArgs),
    /// Why a record is (not) synced: its link and its last decisions, each with the rule behind
    /// every action (from the audit stream).
    Explain {
        #[command(flatten)]
        record: RecordArgs,
        /// How many decisions to show.
        #[arg(long, default_value_t = 10)]
        last: usize,
    },
}

/// One record of one tenant, by the id on either side.
#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub entity: String,
    /// The PSA record's id.
    #[arg(long, conflicts_with = "itg_id", required_unless_present = "itg_id")]
    pub psa_id: Option<String>,
    /// The IT Glue record's id.
    #[arg(long)]
    pub itg_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Stop consuming the tenant's events (they are kept in the stream).
    Pause(TenantArgs),
    /// Consume and write again.
    Resume(TenantArgs),
    /// Decide and audit, write nothing.
    Shadow(TenantArgs),
}

#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long)]
    pub tenant: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration without starting anything; print tenants, sources, routes and
    /// settings with secrets masked. Exits non-zero, naming the offending key, on an error.
    Check(ConfigArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The TOML configuration file (see docs/configuration.md).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The TOML configuration file (see docs/configuration.md).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Which parts of the service this process runs.
    #[arg(long, value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// How log lines are written to stderr: `text`, or `json` (one object per line, for a log
    /// shipper). Colour only when stderr is a terminal; the level comes from RUST_LOG (info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}
