//! The command line (clap, derive): `serve`, `setup`, `config check`. Each command has `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// syncbridge: event-driven sync between IT Glue and MSP PSAs over NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "syncbridge", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: webhook ingest (and, later, workers and pollers).
    Serve(ServeArgs),
    /// Create or verify the NATS streams and KV buckets, then exit.
    Setup(ConfigArgs),
    /// Inspect the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
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
}

/// What a `serve` process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The webhook ingest (HTTP → JetStream).
    Ingest,
    /// Event workers (not available yet).
    Worker,
    /// Pollers (not available yet).
    Poller,
    /// Everything available (today: the ingest).
    All,
}
