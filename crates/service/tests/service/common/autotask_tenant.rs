//! One Autotask tenant ("globex") pointing at a simulator and a private nats-server, for the tests
//! of what several processes share (rate budgets, concurrency slots).

use syncbridge::config::Config;

/// The tenant's configuration; `extra` is appended TOML (e.g. a `[tenants.globex.budgets]`).
pub fn tenant_config(nats: &str, autotask: &str, extra: &str) -> Config {
    super::single_tenant_config(
        nats,
        "globex",
        &super::sync_keys("autotask", "Customer"),
        "http://127.0.0.1:9",
        "unused",
        &format!(
            r#"[tenants.globex.autotask]
base_url = "{autotask}/atservicesrest"
integration_code = "TRACKING-ID"
username = "syncbridge@example.com"
secret = "at-secret"

{extra}"#
        ),
    )
}
