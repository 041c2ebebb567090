//! The `syncbridge` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser;
use syncbridge::cli::{Cli, Command, ConfigCommand, DlqCommand, LinksCommand, TenantCommand};
use syncbridge::config::Config;
use syncbridge::{check, ops, serve, telemetry};
use syncbridge_model::Mode;

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
        Command::Dlq(command) => {
            let path = match &command {
                DlqCommand::List { config, .. }
                | DlqCommand::Show { config, .. }
                | DlqCommand::Retry { config, .. }
                | DlqCommand::Drop { config, .. } => config.config.clone(),
            };
            let config = Config::load(&path)?;
            let out = runtime()?.block_on(async {
                match command {
                    DlqCommand::List { tenant, limit, .. } => {
                        ops::dlq_list(&config, &ops::tenant(&config, &tenant)?, limit).await
                    }
                    DlqCommand::Show { seq, .. } => ops::dlq_show(&config, seq).await,
                    DlqCommand::Retry { seq, .. } => ops::dlq_retry(&config, seq).await,
                    DlqCommand::Drop { seq, .. } => ops::dlq_drop(&config, seq).await,
                }
            })?;
            print!("{out}");
            Ok(())
        }
        Command::Replay(args) => {
            let config = Config::load(&args.config.config)?;
            let tenant = ops::tenant(&config, &args.tenant)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default();
            let request = ops::replay_request(tenant, &args, now)?;
            print!(
                "{}",
                runtime()?.block_on(ops::run_replay(&config, request))?
            );
            Ok(())
        }
        Command::Links(command) => {
            let (record, explain) = match &command {
                LinksCommand::Show(record) => (record, None),
                LinksCommand::Explain { record, last } => (record, Some(*last)),
            };
            let config = Config::load(&record.config.config)?;
            let tenant = ops::tenant(&config, &record.tenant)?;
            let entity = ops::entity(&record.entity)?;
            let (psa_id, itg_id) = (record.psa_id.as_deref(), record.itg_id.as_deref());
            let out = runtime()?.block_on(async {
                match explain {
                    None => ops::links_show(&config, &tenant, entity, psa_id, itg_id).await,
                    Some(last) => {
                        ops::links_explain(&config, &tenant, entity, psa_id, itg_id, last).await
                    }
                }
            })?;
            print!("{out}");
            Ok(())
        }
        Command::Tenant(command) => {
            let (args, mode) = match &command {
                TenantCommand::Pause(a) => (a, Mode::Paused),
                TenantCommand::Resume(a) => (a, Mode::Active),
                TenantCommand::Shadow(a) => (a, Mode::Shadow),
            };
            let config = Config::load(&args.config.config)?;
            let tenant = ops::tenant(&config, &args.tenant)?;
            print!(
                "{}",
                runtime()?.block_on(ops::set_mode(&config, &tenant, mode))?
            );
            Ok(())
        }
        Command::RegisterWebhooks(args) => {
            let config = Config::load(&args.config.config)?;
            let tenant = ops::tenant(&config, &args.tenant)?;
            let public_url = args
                .public_url
                .or_else(|| config.ingest.public_url.clone())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no public URL: pass --public-url https://… or set ingest.public_url \
                         (the address vendors reach this ingest at)"
                    )
                })?;
            let tenant_config = &config.tenants[&tenant];
            let report = runtime()?.block_on(syncbridge::register::register_webhooks(
                tenant_config,
                &public_url,
            ))?;
            println!("{report}");
            Ok(())
        }
        Command::FullSync(args) => {
            let config = Config::load(&args.config.config)?;
            let tenant = ops::tenant(&config, &args.tenant)?;
            let out = runtime()?.block_on(ops::full_sync(
                &config,
                &tenant,
                args.dry_run,
                args.force,
                args.run.as_deref(),
            ))?;
            print!("{out}");
            Ok(())
        }
        Command::PushAll(args) => {
            let config = Config::load(&args.config.config)?;
            let tenant = ops::tenant(&config, &args.tenant)?;
            let out = runtime()?.block_on(syncbridge::push_all::command(
                &config,
                &tenant,
                args.dry_run,
                args.restart,
            ))?;
            print!("{out}");
            Ok(())
        }
        Command::Serve(args) => {
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
