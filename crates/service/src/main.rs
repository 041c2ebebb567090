//! The `syncbridge` binary: parses the command line, runs the command, prints its report.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use syncbridge::cli::Cli;

/// mimalloc rather than glibc malloc: the ingest allocates on many threads at once, and glibc's
/// arena locks and consolidation showed above any of our own code in a profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match syncbridge::commands::run(cli.command) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
