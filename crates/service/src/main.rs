//! The `syncbridge` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser;
use syncbridge::cli::{Cli, Command, ConfigCommand};
use syncbridge::config::Config;
use syncbridge::{check, serve, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config(ConfigCommand::Check(args)) => {
            let config = Config::load(&args.config)?;
            print!("{}", check::describe(&config));
            println!("configuration OK: {}", args.config.display());
            Ok(())
        }
        Command::Setup(args) => {
            let config = Config::load(&args.config)?;
            telemetry::init();
            let report = runtime()?.block_on(serve::setup_once(&config))?;
            print!("{report}");
            Ok(())
        }
        Command::Serve(args) => {
            // A role that does not exist yet is refused before anything else happens.
            serve::check_role(args.role)?;
            let config = Config::load(&args.config)?;
            telemetry::init();
            runtime()?.block_on(serve::run(config, args.role))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
