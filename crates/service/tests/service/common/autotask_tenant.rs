//! One Autotask tenant ("globex") pointing at a simulator and a private nats-server, for the tests
//! of what several processes share (rate budgets, concurrency slots).

use syncbridge::config::Config;

/// The tenant's configuration; `extra` is appended TOML (e.g. a `[tenants.globex.budgets]`).
pub fn tenant_config(nats: &str, autotask: &str, extra: &str) -> Config {
    let text = format!(
        r#"
[nats]
urls = ["{nats}"]

[tenants.globex.sync]
{sync}

[tenants.globex.itglue]
base_url = "http://127.0.0.1:9"
api_key = "unused"

[tenants.globex.autotask]
base_url = "{autotask}/atservicesrest"
integration_code = "TRACKING-ID"
username = "syncbridge@example.com"
secret = "at-secret"

{extra}
"#,
        sync = super::sync_keys("autotask", "Customer"),
    );
    Config::from_toml(&text, &|_| None).unwrap()
}
