//! Running the `syncbridge` binary as a user would, for the tests of one command's output.

use std::time::Duration;

use tokio::process::Command;

/// Runs the binary with `args`: (exit status success, stdout, stderr). Panics only if it does not
/// end within two minutes or cannot be started (a test harness failure, not a finding).
pub async fn run(args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new(env!("CARGO_BIN_EXE_syncbridge"))
            .args(args)
            .output(),
    )
    .await
    .expect("the command ends")
    .expect("the binary starts");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
