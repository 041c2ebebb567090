//! Runs every webhooks fuzz target's entry function over its committed seeds
//! (`fuzz/corpus/<target>/seed-*`), so the fuzz targets keep compiling and their invariants keep
//! holding in CI without nightly or libFuzzer. The long fuzz runs are `deploy/local/fuzz.sh`.

#[path = "../../../fuzz/src/webhooks.rs"]
mod entries;
#[path = "../../../fuzz/src/seeds.rs"]
mod seeds;

fn replay(target: &str, entry: fn(&[u8])) {
    seeds::replay(env!("CARGO_MANIFEST_DIR"), target, entry);
}

#[test]
fn connectwise_seeds() {
    replay("connectwise_parse", entries::connectwise_parse);
    replay("connectwise_verify", entries::connectwise_verify);
    replay("key_url_policy", entries::key_url_policy);
    replay(
        "connectwise_key_response",
        entries::connectwise_key_response,
    );
}

#[test]
fn connectwise_structured_target_signs_its_own_callbacks() {
    let genuine = entries::CallbackParts {
        message_id: "m-1",
        action: "added",
        record_type: "company",
        numeric_id: Some(1),
        text_id: "",
        company_id: Some("Cobalt"),
        key_url: None,
        entity: Some(r#"{"id":1}"#),
        forger_key: None,
    };
    entries::connectwise_signed(&genuine);
    entries::connectwise_signed(&entries::CallbackParts {
        forger_key: Some("another-key"),
        ..genuine.clone()
    });
    entries::connectwise_signed(&entries::CallbackParts {
        numeric_id: None,
        text_id: "57937",
        key_url: Some("http://169.254.169.254/"),
        entity: Some("not json"),
        ..genuine
    });
}

#[test]
fn autotask_seeds() {
    replay("autotask_verify", entries::autotask_verify);
    replay("autotask_escape", entries::autotask_escape);
}

#[test]
fn itglue_and_standard_seeds() {
    replay("itglue_verify", entries::itglue_verify);
    replay("standard_verify", entries::standard_verify);
}

#[test]
fn request_plumbing_seeds() {
    replay("request_parts", entries::request_parts);
}
