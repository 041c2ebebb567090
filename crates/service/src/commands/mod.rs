//! The commands: [`run`] turns a parsed command line into the report `main.rs` prints, one small
//! function per command — `serve` ([`crate::roles::serve`]), `setup` ([`setup`]), `config check`
//! ([`check`]), `dlq`, `replay`, `links`, `tenant` and `full-sync` ([`ops`]),
//! `register-webhooks` ([`register`]), `push-all` ([`push_all`]) and `healthcheck`
//! ([`healthcheck`]).
//!
//! Layer: the top, with `cli`; nothing below imports it.

pub mod check;
pub mod healthcheck;
pub mod ops;
pub mod push_all;
pub mod register;
pub mod setup;

use std::future::Future;

use syncbridge_model::Mode;

use crate::cli::{
    Command, ConfigArgs, ConfigCommand, DlqCommand, FullSyncArgs, HealthcheckArgs, LinksCommand,
    PushAllArgs, RegisterWebhooksArgs, ReplayArgs, ServeArgs, TenantCommand,
};
use crate::config::Config;
use crate::runtime::{clock, telemetry};

/// Runs `command`; the text to print on success.
pub fn run(command: Command) -> anyhow::Result<String> {
    match command {
        Command::Serve(args) => serve(args),
        Command::Setup(args) => setup(args),
        Command::Config(ConfigCommand::Check(args)) => config_check(args),
        Command::Dlq(command) => dlq(command),
        Command::Replay(args) => replay(args),
        Command::Links(command) => links(command),
        Command::Tenant(command) => tenant_mode(command),
        Command::RegisterWebhooks(args) => register_webhooks(args),
        Command::FullSync(args) => full_sync(args),
        Command::PushAll(args) => push_all(args),
        Command::Healthcheck(args) => healthcheck(args),
    }
}

/// Runs one async command on a runtime of its own.
fn block_on<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(work)
}

fn serve(args: ServeArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.config)?;
    telemetry::init_with(args.log_format, "info");
    block_on(crate::roles::serve::run(config, args.role))?;
    Ok(String::new())
}

fn setup(args: ConfigArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.config)?;
    telemetry::init();
    block_on(setup::run(&config))
}

fn config_check(args: ConfigArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.config)?;
    Ok(format!(
        "{}configuration OK: {}\n",
        check::describe(&config),
        args.config.display()
    ))
}

fn dlq(command: DlqCommand) -> anyhow::Result<String> {
    let path = match &command {
        DlqCommand::List { config, .. }
        | DlqCommand::Show { config, .. }
        | DlqCommand::Retry { config, .. }
        | DlqCommand::Drop { config, .. } => config.config.clone(),
    };
    let config = Config::load(&path)?;
    block_on(async {
        match command {
            DlqCommand::List { tenant, limit, .. } => {
                ops::dlq_list(&config, &ops::tenant(&config, &tenant)?, limit).await
            }
            DlqCommand::Show { seq, .. } => ops::dlq_show(&config, seq).await,
            DlqCommand::Retry { seq, .. } => ops::dlq_retry(&config, seq).await,
            DlqCommand::Drop { seq, .. } => ops::dlq_drop(&config, seq).await,
        }
    })
}

fn replay(args: ReplayArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.config.config)?;
    let tenant = ops::tenant(&config, &args.tenant)?;
    let request = ops::replay_request(tenant, &args, clock::now_millis())?;
    block_on(ops::run_replay(&config, request))
}

fn links(command: LinksCommand) -> anyhow::Result<String> {
    let (record, explain) = match &command {
        LinksCommand::Show(record) => (record, None),
        LinksCommand::Explain { record, last } => (record, Some(*last)),
    };
    let config = Config::load(&record.config.config)?;
    let tenant = ops::tenant(&config, &record.tenant)?;
    let entity = ops::entity(&record.entity)?;
    let (psa_id, itg_id) = (record.psa_id.as_deref(), record.itg_id.as_deref());
    block_on(async {
        match explain {
            None => ops::links_show(&config, &tenant, entity, psa_id, itg_id).await,
            Some(last) => ops::links_explain(&config, &tenant, entity, psa_id, itg_id, last).await,
        }
    })
}

fn tenant_mode(command: TenantCommand) -> anyhow::Result<String> {
    let (args, mode) = match &command {
        TenantCommand::Pause(a) => (a, Mode::Paused),
        TenantCommand::Resume(a) => (a, Mode::Active),
        TenantCommand::Shadow(a) => (a, Mode::Shadow),
    };
    let config = Config::load(&args.config.config)?;
    let tenant = ops::tenant(&config, &args.tenant)?;
    block_on(ops::set_mode(&config, &tenant, mode))
}

fn register_webhooks(args: RegisterWebhooksArgs) -> anyhow::Result<String> {
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
    let report = block_on(register::register_webhooks(
        &config.tenants[&tenant],
        &public_url,
    ))?;
    Ok(format!("{report}\n"))
}

fn full_sync(args: FullSyncArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.config.config)?;
    let tenant = ops::tenant(&config, &args.tenant)?;
    block_on(ops::full_sync(
        &config,
        &tenant,
        args.dry_run,
        args.force,
        args.run.as_deref(),
    ))
}

fn push_all(args: PushAllArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.config.config)?;
    let tenant = ops::tenant(&config, &args.tenant)?;
    block_on(push_all::command(
        &config,
        &tenant,
        args.dry_run,
        args.restart,
    ))
}

fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<String> {
    block_on(healthcheck::run(
        &args.url,
        std::time::Duration::from_secs(args.timeout_secs),
    ))
}
