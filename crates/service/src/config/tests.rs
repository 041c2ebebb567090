use std::collections::HashMap;

use super::*;
use crate::psa::{AutotaskSection, ConnectWiseSection};
use syncbridge_connectors::autotask::FallbackProduct;

const EXAMPLE: &str = include_str!("../../../../deploy/syncbridge.example.toml");

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, &no_env)
}

fn autotask(tenant: &TenantConfig) -> &AutotaskSection {
    tenant
        .psa
        .as_any()
        .downcast_ref()
        .expect("an Autotask section")
}

const MINIMAL_AUTOTASK: &str = r#"
[tenants.globex.sync]
psa = "autotask"
org_types = ["Customer"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]

[tenants.globex.itglue]
api_key = "k"

[tenants.globex.autotask]
base_url = "https://webservices5.autotask.net/atservicesrest"
integration_code = "X"
username = "u"
secret = "s"
webhook_secret = { env = "ACME_AT_SECRET" }
"#;

#[test]
fn the_example_loads() {
    let config = load(EXAMPLE).expect("example config");
    assert_eq!(config.tenants.len(), 3);
    assert_eq!(config.nats.duplicate_window, Duration::from_secs(600));
    assert_eq!(config.ingest.body_limit.max_bytes(), DEFAULT_BODY_LIMIT);
    let globex = &config.tenants[&TenantId::new("globex").unwrap()];
    assert!(autotask(globex)
        .webhook_secret
        .as_ref()
        .unwrap()
        .is_rotating());
}

#[test]
fn missing_environment_variables_name_the_key() {
    let err = load(MINIMAL_AUTOTASK).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tenants.globex.autotask.webhook_secret: environment variable ACME_AT_SECRET is not set"
    );
    let env: HashMap<&str, &str> = [("ACME_AT_SECRET", "from-env")].into();
    let config = Config::from_toml(MINIMAL_AUTOTASK, &|k| env.get(k).map(|v| v.to_string()))
        .expect("resolves from env");
    assert_eq!(config.tenants.len(), 1);
}

#[test]
fn secrets_never_show_in_debug() {
    let config = load(EXAMPLE).unwrap();
    let debug = format!("{config:?}");
    for secret in [
        "replace-private-key",
        "replace-webhook-secret",
        "replace-old-webhook-secret",
        "replace-with-a-long-random-token",
        "ITG.replace-with-the-api-key",
        "whsec_C2FVsBQIhrscChlQIMV",
        "replace-password",
        "replace-api-secret",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug");
    }
}

#[test]
fn errors_name_the_offending_key() {
    let cases = [
        (
            EXAMPLE.replace(
                "site = \"na.myconnectwise.net\"",
                "site = \"https://x/y?z\"",
            ),
            "tenants.acme.connectwise.site",
        ),
        (
            EXAMPLE.replace(
                "org_statuses = [\"Active\"]\nconfig_types = [\"Managed",
                "org_statuses = []\nconfig_types = [\"Managed",
            ),
            "tenants.acme.sync",
        ),
        (
            EXAMPLE.replace(
                "publish_timeout = \"5s\"",
                "publish_timeout = \"5 parsecs\"",
            ),
            "nats.publish_timeout",
        ),
        (
            EXAMPLE.replace("replicas = 1 ", "replicas = 9 "),
            "nats.replicas",
        ),
        (
            EXAMPLE.replace("listen = \"0.0.0.0:8080\"", "listen = \"everywhere\""),
            "ingest.listen",
        ),
        (
            EXAMPLE.replace(
                "secret = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"",
                "secret = \"whsec_not base64!\"",
            ),
            "tenants.acme.standard.secret",
        ),
        (
            EXAMPLE.replace(
                "workflow_token = \"replace-with-a-long-random-token\"",
                "workflow_token = \"short\"",
            ),
            "tenants.acme.itglue.workflow_token",
        ),
        (
            EXAMPLE.replace("[tenants.initech.kaseya_bms]", "[tenants.initech.tigerpaw]"),
            "tenants.initech.tigerpaw",
        ),
        (
            EXAMPLE.replace("[tenants.acme.sync]", "[tenants.ACME.sync]"),
            "tenants.ACME",
        ),
        (
            EXAMPLE.replace("client_id = ", "clientid = "),
            "tenants.acme.connectwise.clientid",
        ),
        (format!("{EXAMPLE}\n[telemetry]\nport = 1\n"), "telemetry"),
        (
            EXAMPLE.replace("listen = \"127.0.0.1:9090\"", "listen = \"9090\""),
            "metrics.listen",
        ),
    ];
    for (text, key) in cases {
        let err = load(&text).expect_err(key);
        assert_eq!(err.key, key, "{err}");
    }
}

#[test]
fn secret_forms() {
    let with = |spec: &str| MINIMAL_AUTOTASK.replace("{ env = \"ACME_AT_SECRET\" }", spec);
    let env: HashMap<&str, &str> = [("NEW", "new-value"), ("OLD", "old-value")].into();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let rotating = Config::from_toml(&with("{ env = \"NEW\", previous_env = \"OLD\" }"), &lookup)
        .expect("rotation from env");
    let globex = &rotating.tenants[&TenantId::new("globex").unwrap()];
    assert!(autotask(globex)
        .webhook_secret
        .as_ref()
        .unwrap()
        .is_rotating());
    for (spec, message) in [
        ("{ value = \"a\", env = \"NEW\" }", "not both"),
        ("{ previous = \"a\" }", "either `value` or `env`"),
        ("\"\"", "must not be empty"),
        (
            "{ value = \"a\", previous_env = \"MISSING\" }",
            "MISSING is not set",
        ),
        ("{ value = \"a\", prev = \"b\" }", "unknown key"),
    ] {
        let err = Config::from_toml(&with(spec), &lookup).expect_err(spec);
        assert!(err.key.starts_with("tenants.globex.autotask"), "{err}");
        assert!(err.to_string().contains(message), "{spec}: {err}");
    }
}

#[test]
fn worker_concurrency_has_a_default_applies_to_every_tenant_and_is_bounded() {
    let env = |_: &str| Some("x".to_owned());
    let config = Config::from_toml(MINIMAL_AUTOTASK, &env).unwrap();
    assert_eq!(config.worker.concurrency, 8);
    let text = format!("[worker]\nconcurrency = 4\n{MINIMAL_AUTOTASK}");
    let config = Config::from_toml(&text, &env).unwrap();
    assert!(config.tenants.values().all(|t| t.worker.concurrency == 4));
    for bad in ["0", "257"] {
        let text = format!("[worker]\nconcurrency = {bad}\n{MINIMAL_AUTOTASK}");
        let err = Config::from_toml(&text, &env).unwrap_err();
        assert_eq!(err.key, "worker.concurrency", "{bad}");
    }
    let text = format!("[worker]\nthreads = 4\n{MINIMAL_AUTOTASK}");
    assert!(Config::from_toml(&text, &env)
        .unwrap_err()
        .to_string()
        .contains("threads"));
}

#[test]
fn request_timeout_must_outlive_the_publish() {
    let text = format!("[nats]\npublish_timeout = \"30s\"\n[ingest]\nrequest_timeout = \"10s\"\n{MINIMAL_AUTOTASK}");
    let env = |_: &str| Some("x".to_owned());
    let err = Config::from_toml(&text, &env).unwrap_err();
    assert_eq!(err.key, "ingest.request_timeout");
}

#[test]
fn full_sync_schedule_and_sweep_share() {
    let globex = |config: &Config| config.tenants[&TenantId::new("globex").unwrap()].polling;
    let minimal = MINIMAL_AUTOTASK.replace("{ env = \"ACME_AT_SECRET\" }", "\"w\"");
    let defaults = globex(&load(&minimal).unwrap());
    assert_eq!(
        defaults.full_sync_interval,
        Some(Duration::from_secs(6 * 3600))
    );
    assert_eq!(defaults.full_sync_max_orphan_share, 0.25);
    let with = |polling: &str| format!("{minimal}\n[tenants.globex.polling]\n{polling}\n");
    let off = load(&with("full_sync_interval = \"0s\"")).unwrap();
    assert_eq!(globex(&off).full_sync_interval, None);
    for bad in [
        "full_sync_interval = \"30s\"",
        "full_sync_max_orphan_share = 0.0",
        "full_sync_max_orphan_share = 1.5",
    ] {
        let err = load(&with(bad)).expect_err(bad);
        assert!(
            err.key.starts_with("tenants.globex.polling.full_sync"),
            "{err}"
        );
    }
}

#[test]
fn a_standard_producer_declares_its_side() {
    let acme = |config: &Config| config.tenants[&TenantId::new("acme").unwrap()].clone();
    let example = load(EXAMPLE).unwrap();
    assert_eq!(acme(&example).standard.map(|s| s.side), Some(Side::Psa));
    let itglue = load(&EXAMPLE.replace("side = \"psa\"", "side = \"itglue\"")).unwrap();
    assert_eq!(acme(&itglue).standard.map(|s| s.side), Some(Side::ItGlue));

    let missing = load(&EXAMPLE.replace("side = \"psa\"", "")).unwrap_err();
    assert_eq!(missing.key, "tenants.acme.standard.side");
    assert!(
        missing.message.contains("side = \"psa\"") && missing.message.contains("side = \"itglue\""),
        "says what to write: {missing}"
    );
    let wrong = load(&EXAMPLE.replace("side = \"psa\"", "side = \"both\"")).unwrap_err();
    assert_eq!(wrong.key, "tenants.acme.standard.side");
    assert!(wrong.message.contains("\"both\""), "{wrong}");
}

#[test]
fn vendor_required_field_fallbacks_are_configurable() {
    let env = |k: &str| (k == "ACME_AT_SECRET").then(|| "from-env".to_owned());
    let with = |extra: &str| {
        Config::from_toml(
            &MINIMAL_AUTOTASK.replace("secret = \"s\"\n", &format!("secret = \"s\"\n{extra}\n")),
            &env,
        )
    };
    let autotask =
        |config: Config| autotask(&config.tenants[&TenantId::new("globex").unwrap()]).clone();
    let at =
        autotask(with("company_phone = \"+1 555 0100\"\nfallback_product_id = 29682").unwrap());
    assert_eq!(at.company_phone.as_deref(), Some("+1 555 0100"));
    assert_eq!(at.fallback_product, Some(FallbackProduct::Id(29682)));
    let at = autotask(with("fallback_product = \"Managed device\"").unwrap());
    assert_eq!(
        at.fallback_product,
        Some(FallbackProduct::Named("Managed device".into()))
    );
    let at = autotask(with("").unwrap());
    assert_eq!((at.company_phone, at.fallback_product), (None, None));

    let both = with("fallback_product = \"X\"\nfallback_product_id = 1").unwrap_err();
    assert_eq!(
        both.key, "tenants.globex.autotask.fallback_product_id",
        "{both}"
    );
    let empty = with("company_phone = \"\"").unwrap_err();
    assert_eq!(
        empty.key, "tenants.globex.autotask.company_phone",
        "{empty}"
    );

    let cw = load(&EXAMPLE.replace(
        "client_id = ",
        "company_address_fallback = \"Springfield\"\nclient_id = ",
    ))
    .unwrap();
    let acme = &cw.tenants[&TenantId::new("acme").unwrap()];
    let c = acme
        .psa
        .as_any()
        .downcast_ref::<ConnectWiseSection>()
        .expect("a ConnectWise section");
    assert_eq!(c.company_address_fallback.as_deref(), Some("Springfield"));
}

#[test]
fn connection_bounds_default_and_are_bounded() {
    let env = |_: &str| Some("x".to_owned());
    let config = Config::from_toml(MINIMAL_AUTOTASK, &env).unwrap();
    assert_eq!(config.ingest.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.ingest.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.ingest.max_header_bytes, 32 * 1024);
    assert_eq!(config.ingest.max_connections, None);
    assert_eq!(config.metrics.listen, None);

    let text = format!(
        "[ingest]\nlisten = \"0.0.0.0:8080\"\nheader_read_timeout = \"2s\"\nidle_timeout = \"5m\"\n\
         max_header_bytes = 8192\nmax_connections = 500\n[metrics]\nlisten = \"127.0.0.1:9090\"\n\
         {MINIMAL_AUTOTASK}"
    );
    let config = Config::from_toml(&text, &env).unwrap();
    assert_eq!(config.ingest.header_read_timeout, Duration::from_secs(2));
    assert_eq!(config.ingest.idle_timeout, Duration::from_secs(300));
    assert_eq!(config.ingest.max_header_bytes, 8192);
    assert_eq!(config.ingest.max_connections, Some(500));
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9090".parse().unwrap())
    );

    for (setting, key) in [
        (
            "[ingest]\nheader_read_timeout = \"0s\"",
            "ingest.header_read_timeout",
        ),
        (
            "[ingest]\nheader_read_timeout = \"1h\"",
            "ingest.header_read_timeout",
        ),
        ("[ingest]\nidle_timeout = \"50ms\"", "ingest.idle_timeout"),
        ("[ingest]\nidle_timeout = \"2h\"", "ingest.idle_timeout"),
        (
            "[ingest]\nmax_header_bytes = 100",
            "ingest.max_header_bytes",
        ),
        (
            "[ingest]\nmax_header_bytes = 100000000",
            "ingest.max_header_bytes",
        ),
        ("[ingest]\nmax_connections = 0", "ingest.max_connections"),
        (
            "[ingest]\nmax_connections = 2000000",
            "ingest.max_connections",
        ),
        ("[metrics]\nlisten = \"nowhere\"", "metrics.listen"),
        ("[metrics]\nlisten = \"0.0.0.0:8080\"", "metrics.listen"),
        ("[metrics]\nport = 9090", "metrics.port"),
    ] {
        let err =
            Config::from_toml(&format!("{setting}\n{MINIMAL_AUTOTASK}"), &env).expect_err(setting);
        assert_eq!(err.key, key, "{setting}: {err}");
    }
}

#[test]
fn type_errors_and_unknown_or_missing_keys_name_the_dotted_key() {
    for (text, key, words) in [
        (
            EXAMPLE.replace("listen = \"0.0.0.0:8080\"", "listen = 5"),
            "ingest.listen",
            "expected a string",
        ),
        (
            EXAMPLE.replace("site = \"na.myconnectwise.net\"", "site = 5"),
            "tenants.acme.connectwise.site",
            "expected a string",
        ),
        (
            EXAMPLE.replace("replicas = 1 ", "replicas = \"one\" "),
            "nats.replicas",
            "invalid type",
        ),
        (
            EXAMPLE.replace("listen = \"0.0.0.0:8080\"", "lisen = \"0.0.0.0:8080\""),
            "ingest.lisen",
            "unknown key (expected one of `listen`",
        ),
        (
            EXAMPLE.replacen("api_key = \"ITG.replace-with-the-api-key\"", "", 1),
            "tenants.acme.itglue.api_key",
            "is required",
        ),
    ] {
        let err = load(&text).expect_err(key);
        assert_eq!(err.key, key, "{err}");
        assert!(err.message.contains(words), "{err}");
    }
}

#[test]
fn toml_syntax_errors_carry_line_and_column() {
    let err = load("[nats]\nurls = [\"nats://a:4222\"\npublish_timeout = \"5s\"\n").unwrap_err();
    assert!(err.key.starts_with("line 3, column "), "{err}");
    assert!(err.message.starts_with("not valid TOML: "), "{err}");
    let err = load("[nats\nurls = 1").unwrap_err();
    assert_eq!(err.key, "line 1, column 6", "{err}");
    assert!(!err.message.contains('\n'), "one line: {err}");
}

#[test]
fn the_body_limit_fits_what_nats_stores() {
    let body_limit = |text: &str| load(text).map(|c| c.ingest.body_limit.max_bytes());
    // The default: the contract's 1 MiB less the headers' room under NATS's default max_payload.
    assert_eq!(
        body_limit(&EXAMPLE.replace("body_limit = 1040384", "")),
        Ok(DEFAULT_BODY_LIMIT)
    );
    assert_eq!(DEFAULT_BODY_LIMIT, 1024 * 1024 - NATS_HEADER_ROOM);
    for too_big in ["1048576", "10000000000"] {
        let err = body_limit(&EXAMPLE.replace("1040384", too_big)).unwrap_err();
        assert_eq!(err.key, "ingest.body_limit", "{err}");
        assert!(err.message.contains("nats.max_payload"), "{err}");
    }
    let err = body_limit(&EXAMPLE.replace("1040384", "0")).unwrap_err();
    assert_eq!(err.key, "ingest.body_limit", "{err}");
    // A server with a larger max_payload (declared) allows a larger body, and the default body
    // limit becomes the contract's 1 MiB.
    let big_server = EXAMPLE.replace("replicas = 1 ", "max_payload = 8388608\nreplicas = 1 ");
    assert_eq!(
        body_limit(&big_server.replace("1040384", "4194304")),
        Ok(4 * 1024 * 1024)
    );
    assert_eq!(
        body_limit(&big_server.replace("body_limit = 1040384", "")),
        Ok(1024 * 1024)
    );
    for bad in ["1000", "1073741824"] {
        let err = load(&EXAMPLE.replace(
            "replicas = 1 ",
            &format!("max_payload = {bad}\nreplicas = 1 "),
        ))
        .unwrap_err();
        assert_eq!(err.key, "nats.max_payload", "{err}");
    }
}

#[test]
fn the_duplicate_window_covers_twice_the_standard_webhooks_tolerance() {
    // The example: tolerance 5m (default), window 10m.
    load(EXAMPLE).expect("10m covers 2 × 5m");
    let with = |window: &str, tolerance: &str| {
        load(
            &EXAMPLE
                .replace(
                    "duplicate_window = \"10m\"",
                    &format!("duplicate_window = \"{window}\""),
                )
                .replace(
                    "tolerance = \"5m\"",
                    &format!("tolerance = \"{tolerance}\""),
                ),
        )
    };
    let err = with("3s", "5m").unwrap_err();
    assert_eq!(err.key, "nats.duplicate_window", "{err}");
    assert!(
        err.message.contains("tenants.acme.standard.tolerance") && err.message.contains("10m"),
        "{err}"
    );
    // The issue's case: a 3 s window against a 3 s tolerance let a replay 4.5 s later through.
    assert_eq!(with("3s", "3s").unwrap_err().key, "nats.duplicate_window");
    with("6s", "3s").expect("6s covers 2 × 3s");
    assert_eq!(with("10m", "6m").unwrap_err().key, "nats.duplicate_window");
    // Without a Standard Webhooks producer there is no tolerance to cover.
    let no_standard = MINIMAL_AUTOTASK.replace("{ env = \"ACME_AT_SECRET\" }", "\"w\"");
    load(&format!("[nats]\nduplicate_window = \"3s\"\n{no_standard}"))
        .expect("no standard section");
}

#[test]
fn every_number_is_bounded_and_the_error_names_its_key() {
    let minimal = MINIMAL_AUTOTASK.replace("{ env = \"ACME_AT_SECRET\" }", "\"w\"");
    let polling = |line: &str| format!("{minimal}\n[tenants.globex.polling]\n{line}\n");
    let budgets = |line: &str| format!("{minimal}\n[tenants.globex.budgets]\n{line}\n");
    let top = |section: &str, line: &str| format!("[{section}]\n{line}\n{minimal}");
    for (text, key) in [
        (
            top("nats", "publish_timeout = \"0s\""),
            "nats.publish_timeout",
        ),
        (
            top("nats", "publish_timeout = \"1h\""),
            "nats.publish_timeout",
        ),
        (
            top("nats", "duplicate_window = \"0s\""),
            "nats.duplicate_window",
        ),
        (
            top("nats", "duplicate_window = \"30d\""),
            "nats.duplicate_window",
        ),
        (top("nats", "max_age = \"1000d\""), "nats.max_age"),
        (
            top("ingest", "request_timeout = \"0s\""),
            "ingest.request_timeout",
        ),
        (
            top("ingest", "request_timeout = \"1d\""),
            "ingest.request_timeout",
        ),
        (top("ingest", "retry_after = \"0s\""), "ingest.retry_after"),
        (top("ingest", "retry_after = \"2h\""), "ingest.retry_after"),
        (top("ingest", "body_limit = 10"), "ingest.body_limit"),
        (
            polling("itglue_interval = \"0s\""),
            "tenants.globex.polling.itglue_interval",
        ),
        (
            polling("psa_interval = \"2d\""),
            "tenants.globex.polling.psa_interval",
        ),
        (
            polling("full_sync_interval = \"90d\""),
            "tenants.globex.polling.full_sync_interval",
        ),
        (budgets("psa = \"0/1m\""), "tenants.globex.budgets.psa"),
        (
            budgets("psa = \"2000000/1m\""),
            "tenants.globex.budgets.psa",
        ),
        (
            budgets("itglue = \"10/0s\""),
            "tenants.globex.budgets.itglue",
        ),
        (
            budgets("itglue = \"10/2d\""),
            "tenants.globex.budgets.itglue",
        ),
    ] {
        let err = load(&text).expect_err(key);
        assert_eq!(err.key, key, "{err}");
    }
    let err = load(&EXAMPLE.replace("tolerance = \"5m\"", "tolerance = \"2h\"")).unwrap_err();
    assert_eq!(err.key, "tenants.acme.standard.tolerance", "{err}");
}

#[test]
fn credentials_in_nats_urls_never_show_in_errors() {
    let text = EXAMPLE.replace(
        "urls = [\"nats://127.0.0.1:4222\"]",
        "urls = [\"nats://bob:s3cret@127.0.0.1:notaport\"]",
    );
    let err = load(&text).unwrap_err();
    assert_eq!(err.key, "nats.urls", "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(err.to_string().contains("bob:***@"), "{err}");
    let ok = load(&EXAMPLE.replace(
        "urls = [\"nats://127.0.0.1:4222\"]",
        "urls = [\"nats://bob:s3cret@127.0.0.1:4222\"]",
    ))
    .unwrap();
    assert!(!format!("{:?}", ok.connect_config()).contains("s3cret"));
    assert!(!format!("{ok:?}").contains("s3cret"));
}
