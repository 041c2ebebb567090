//! Log output: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text or as one
//! JSON object per line (`serve --log-format json`, for a log shipper). Colour only when stderr
//! is a terminal: escape codes in a file or a journal are noise. Request spans carry the route
//! template and tenant only (see `ingest::trace`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields, spans).
    Json,
}

/// Installs the global subscriber (once; later calls do nothing).
pub fn init() {
    init_with(LogFormat::Text, "info");
}

/// Like [`init`] but only warnings and errors unless `RUST_LOG` says otherwise: for commands
/// whose own output is the point (`demo`).
pub fn init_quiet() {
    init_with(LogFormat::Text, "warn");
}

/// Installs the global subscriber writing `format`, at `default_level` unless `RUST_LOG` says
/// otherwise (once; later calls do nothing).
pub fn init_with(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
