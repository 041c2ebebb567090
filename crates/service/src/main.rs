//! The `syncbridge` binary: parses the command line, runs the command, prints its report.

use std::process::ExitCode;

use clap::Parser;
use syncbridge::cli::Cli;

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
