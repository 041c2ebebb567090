//! The binary's command line: `config check` on the example and on broken files, `--help` on every
//! command, and a `--role` that does not exist refused with the list of roles.

use std::path::PathBuf;
use std::process::{Command, Output};

fn syncbridge(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_syncbridge"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run syncbridge")
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/syncbridge.example.toml")
}

fn temp_config(name: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("syncbridge-cli-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_check_accepts_the_example_and_masks_secrets() {
    let out = syncbridge(
        &["config", "check", "--config", example().to_str().unwrap()],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("configuration OK"));
    for expected in [
        "acme (ConnectWise PSA)",
        "globex (Autotask)",
        "POST /webhooks/acme/itglue/***",
        "POST /webhooks/globex/autotask/deactivated",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    for secret in [
        "replace-private-key",
        "replace-webhook-secret",
        "replace-with-a-long-random-token",
        "whsec_",
        "replace-password",
    ] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
}

#[test]
fn config_check_names_the_offending_key() {
    let example = std::fs::read_to_string(example()).unwrap();
    let cases = [
        (
            "env",
            example.replace(
                "webhook_secret = { value = \"replace-webhook-secret\", previous = \"replace-old-webhook-secret\" }",
                "webhook_secret = { env = \"SYNCBRIDGE_TEST_UNSET_AT_SECRET\" }",
            ),
            "tenants.globex.autotask.webhook_secret: environment variable SYNCBRIDGE_TEST_UNSET_AT_SECRET is not set",
        ),
        ("psa", example.replace("psa = \"autotask\"", "psa = \"halo\""), "tenants.globex.sync"),
        ("listen", example.replace("listen = \"0.0.0.0:8080\"", "listen = \"nowhere\""), "ingest.listen"),
        ("syntax", "[nats\nurls = 1".to_owned(), "line 1, column 6: not valid TOML"),
        (
            "type",
            example.replace("listen = \"0.0.0.0:8080\"", "listen = 5"),
            "ingest.listen: invalid type",
        ),
        (
            "body-limit",
            example.replace("body_limit = 1040384", "body_limit = 10000000000"),
            "ingest.body_limit: must be between 1024 and 1040384 bytes",
        ),
        (
            "duplicate-window",
            example.replace("duplicate_window = \"10m\"", "duplicate_window = \"3s\""),
            "nats.duplicate_window: must be at least twice tenants.acme.standard.tolerance",
        ),
        (
            "zero-timeout",
            example.replace("publish_timeout = \"5s\"", "publish_timeout = \"0s\""),
            "nats.publish_timeout: must be between",
        ),
    ];
    for (name, text, expected) in cases {
        let path = temp_config(name, &text);
        let out = syncbridge(
            &["config", "check", "--config", path.to_str().unwrap()],
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} should fail");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn config_check_resolves_environment_secrets() {
    let example = std::fs::read_to_string(example()).unwrap();
    let text = example.replace(
        "private_key = \"replace-private-key\"",
        "private_key = { env = \"SYNCBRIDGE_TEST_CW_KEY\" }",
    );
    let path = temp_config("env-ok", &text);
    let out = syncbridge(
        &["config", "check", "--config", path.to_str().unwrap()],
        &[("SYNCBRIDGE_TEST_CW_KEY", "very-secret-value")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("very-secret-value"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["setup", "--help"],
        &["config", "check", "--help"],
        &["dlq", "list", "--help"],
        &["replay", "--help"],
        &["links", "explain", "--help"],
        &["tenant", "pause", "--help"],
        &["full-sync", "--help"],
        &["push-all", "--help"],
    ] {
        let out = syncbridge(args, &[]);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
    // A role that does not exist is refused with the list of roles.
    let out = syncbridge(
        &[
            "serve",
            "--config",
            example().to_str().unwrap(),
            "--role",
            "janitor",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ingest") && err.contains("worker"), "{err}");
}

#[test]
fn config_check_masks_credentials_in_the_nats_url() {
    let example = std::fs::read_to_string(example()).unwrap();
    let path = temp_config(
        "nats-url",
        &example.replace(
            "urls = [\"nats://127.0.0.1:4222\"]",
            "urls = [\"nats://bob:s3cret@127.0.0.1:4222\", \"nats://t0ken@10.0.0.2:4222\"]",
        ),
    );
    let out = syncbridge(
        &["config", "check", "--config", path.to_str().unwrap()],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("urls: nats://bob:***@127.0.0.1:4222, nats://***@10.0.0.2:4222"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("s3cret") && !stdout.contains("t0ken"),
        "{stdout}"
    );
    let _ = std::fs::remove_file(path);
}
