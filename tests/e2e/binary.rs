//! Running the `syncbridge` binary as a user would, for the tests of one command's output, and a
//! nats-server started with options of the test's own (credentials, a smaller `max_payload`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

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

/// Starts the pinned nats-server (JetStream, store under `dir`) on a free loopback port with
/// `extra` arguments, and waits until it listens: (the process, killed on drop; its port).
pub async fn nats_server(dir: &Path, extra: &[&str]) -> (Child, u16) {
    let port = free_port();
    let child = Command::new(syncbridge_bus::testing::nats_server_binary().expect("nats-server"))
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.join("store"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start nats-server");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nats-server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, port)
}

/// A loopback port nothing listens on now (the process under test binds it itself).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct loopback ports nothing listens on now: all are held while they are picked, since
/// a port given back can be the next one handed out (two "free" ports were once the same).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("a bound port").port())
}

/// Waits until `serve` at `base` answers `/readyz` with 200 (a minute at most).
pub async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if matches!(&ready, Ok(r) if r.status() == 200) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
