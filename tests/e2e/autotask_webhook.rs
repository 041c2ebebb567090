//! The runbooks "An Autotask webhook was deactivated" and "A webhook secret rotates"
//! (docs/operations.md), through the binary against the Autotask simulator: after Autotask turned
//! our webhook off, `register-webhooks` turns it back on and says so, and a second run changes
//! nothing; with a previous webhook secret configured (a rotation), it sets every webhook's
//! `SecretKey` to the current value.

use serde_json::{json, Value};
use syncbridge_demo::world::{DemoTenant, Documented, PsaSim, AUTOTASK_WEBHOOK_SECRET};
use syncbridge_model::PsaKind;
use syncbridge_sim::SimClock;

/// `register-webhooks` for the tenant `autotask` with `toml`: (success, stdout and stderr).
async fn register(toml: &str, name: &str) -> (bool, String) {
    let path = std::env::temp_dir().join(format!(
        "syncbridge-at-webhook-{name}-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, toml).unwrap();
    let (ok, out, err) = crate::binary::run(&[
        "register-webhooks",
        "--config",
        path.to_str().unwrap(),
        "--tenant",
        "autotask",
    ])
    .await;
    let _ = std::fs::remove_file(path);
    (ok, out + &err)
}

/// Our company webhook as the simulator holds it.
async fn company_hook(base: &str) -> Value {
    let all: Vec<Value> = reqwest::get(format!("{base}/_admin/webhooks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all.into_iter()
        .find(|h| h["entity_type"] == "Company")
        .expect("our company webhook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_webhooks_reactivates_a_deactivated_webhook_and_rewrites_a_rotated_secret() {
    let tenant = DemoTenant::start(PsaKind::Autotask, &SimClock::new(), 2, 1, Documented::Third)
        .await
        .unwrap();
    let PsaSim::Autotask(sim) = &tenant.psa else {
        panic!("an Autotask tenant")
    };
    let toml = format!(
        "[ingest]\npublic_url = \"https://sync.example.com\"\n\n{}",
        tenant.toml
    );
    let (ok, first) = register(&toml, "first").await;
    assert!(ok && first.contains("created"), "{first}");

    // Autotask deactivates a webhook after repeated failed deliveries.
    let hook = company_hook(sim.base_url()).await;
    assert_eq!(hook["isActive"], true, "{hook}");
    let deactivated = reqwest::Client::new()
        .patch(format!("{}/CompanyWebhooks", sim.api_url()))
        .header("ApiIntegrationCode", "TRACKING-ID")
        .header("UserName", "syncbridge@example.com")
        .header("Secret", "at-secret")
        .json(&json!({"id": hook["id"], "IsActive": false}))
        .send()
        .await
        .unwrap();
    assert!(deactivated.status().is_success(), "{deactivated:?}");
    assert_eq!(company_hook(sim.base_url()).await["isActive"], false);

    let (ok, again) = register(&toml, "again").await;
    assert!(ok && again.contains("IsActive false → true"), "{again}");
    assert_eq!(company_hook(sim.base_url()).await["isActive"], true);
    let (ok, third) = register(&toml, "third").await;
    assert!(ok && third.contains("nothing changed"), "{third}");

    // A rotation: the new value current, the old one still accepted by the ingest meanwhile.
    let current = format!("webhook_secret = \"{AUTOTASK_WEBHOOK_SECRET}\"");
    assert!(toml.contains(&current), "{toml}");
    let rotating = toml.replace(
        &current,
        &format!(
            "webhook_secret = {{ value = \"rotated-autotask-secret\", previous = \"{AUTOTASK_WEBHOOK_SECRET}\" }}"
        ),
    );
    let (ok, rotated) = register(&rotating, "rotated").await;
    assert!(
        ok && rotated.contains("SecretKey set to the current webhook secret"),
        "{rotated}"
    );
    assert!(!rotated.contains("rotated-autotask-secret"), "{rotated}");
}
