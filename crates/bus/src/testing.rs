//! A test harness that runs a real, private `nats-server` process per test (DESIGN §4: tests start
//! their own servers and never rely on one that a machine may already run on the default port).
//!
//! [`NatsServer::start`] runs
//! `nats-server -a 127.0.0.1 -p -1 -js -sd <tempdir> --ports_file_dir <tempdir>`: the server picks
//! a free port and writes it to `<tempdir>/nats-server_<pid>.ports`, so parallel tests never fight
//! over ports. The store lives in a fresh temporary directory, so no test sees state that a previous
//! run left behind. The test owns the process: it can [`kill`](NatsServer::kill) it (SIGKILL, the
//! way a crash looks) and [`restart`](NatsServer::restart) it on the same port with the same store,
//! so durable data survives exactly as it would in production. Dropping the value stops the server
//! and deletes the store.
//!
//! The binary is found from `SYNCBRIDGE_NATS_SERVER`, else `<workspace>/.tools/bin/nats-server`
//! (where `deploy/local/install-nats.sh` puts it). It deliberately never falls back to a
//! `nats-server` on `PATH`: Debian's 2.9 is too old for the KV API this crate uses.
//!
//! Only compiled with the `testing` feature.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::AsyncReadExt;

/// Environment variable naming the nats-server binary the harness runs.
pub const NATS_SERVER_ENV: &str = "SYNCBRIDGE_NATS_SERVER";

/// How long a server may take to write its ports file and accept a connection. An upper bound for
/// "did it start at all", not a speed expectation.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(25);

/// Why the harness could not run a server.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "no nats-server binary: {0}. Run `bash deploy/local/install-nats.sh` (it installs the pinned \
         server into <workspace>/.tools/bin) or set {NATS_SERVER_ENV} to a nats-server >= 2.10"
    )]
    BinaryNotFound(String),
    #[error("could not prepare the server's directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("could not run {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "nats-server did not become ready within {limit:?}: {reason}\n--- server log ---\n{log}"
    )]
    NotReady {
        limit: Duration,
        reason: String,
        log: String,
    },
}

/// Finds the nats-server binary: `$SYNCBRIDGE_NATS_SERVER`, else `<workspace>/.tools/bin/nats-server`.
pub fn nats_server_binary() -> Result<PathBuf, HarnessError> {
    find_binary(std::env::var_os(NATS_SERVER_ENV), &workspace_root())
}

/// The lookup of [`nats_server_binary`], given the variable's value and the workspace root.
fn find_binary(env: Option<std::ffi::OsString>, workspace: &Path) -> Result<PathBuf, HarnessError> {
    if let Some(path) = env.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(HarnessError::BinaryNotFound(format!(
                "{NATS_SERVER_ENV}={} is not a file",
                path.display()
            )))
        };
    }
    let candidate = workspace.join(".tools/bin/nats-server");
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(HarnessError::BinaryNotFound(format!(
            "{NATS_SERVER_ENV} is not set and {} does not exist",
            candidate.display()
        )))
    }
}

/// The cargo workspace root: this crate lives at `<workspace>/crates/bus`.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// A nats-server process with JetStream, owned by the test that started it.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    /// Holds the store (`-sd`), the ports file and the server log; deleted on drop.
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    /// How many times the process was started (names each run's log file).
    runs: u32,
}

impl NatsServer {
    /// Starts a fresh server on a free port with an empty store, and waits until it accepts
    /// connections.
    pub async fn start() -> Result<NatsServer, HarnessError> {
        let binary = nats_server_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("syncbridge-nats-")
            .tempdir()
            .map_err(HarnessError::TempDir)?;
        let mut server = NatsServer {
            binary,
            dir,
            port: 0,
            child: None,
            runs: 0,
        };
        server.spawn(None).await?;
        Ok(server)
    }

    /// `nats://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port; stays the same across [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (`-sd`).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    /// Whether the process is running (it may have been killed).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server with SIGKILL (no graceful shutdown, like a crash or an OOM kill) and reaps
    /// it. Killing a server that is not running does nothing.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL on Unix. An error means the process already exited; either way reap it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, then starts it again on the same port with the same store, so
    /// whatever JetStream had persisted (streams, KV buckets, consumers) is there again.
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill();
        let port = self.port;
        self.spawn(Some(port)).await
    }

    /// Runs the binary and waits until the client port accepts a connection and greets with INFO.
    /// `port` is `None` on the first run (the server picks one), the previous port afterwards.
    async fn spawn(&mut self, port: Option<u16>) -> Result<(), HarnessError> {
        self.runs += 1;
        let dir = self.dir.path().to_path_buf();
        let log_path = dir.join(format!("nats-server.{}.log", self.runs));
        let log = File::create(&log_path).map_err(HarnessError::TempDir)?;
        let log_err = log.try_clone().map_err(HarnessError::TempDir)?;
        let port_arg = port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        let mut command = Command::new(&self.binary);
        command
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
            .arg(self.store_dir())
            .arg("--ports_file_dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        // Its own process group: a Ctrl-C in the terminal reaches the owner (the demo), which
        // still needs the server to finish cleanly, and not the server directly.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|source| HarnessError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        let pid = child.id();
        self.child = Some(child);

        let ports_file = dir.join(format!("nats-server_{pid}.ports"));
        let deadline = tokio::time::Instant::now() + STARTUP_LIMIT;
        let not_ready = |reason: String| HarnessError::NotReady {
            limit: STARTUP_LIMIT,
            reason,
            log: std::fs::read_to_string(&log_path).unwrap_or_default(),
        };
        loop {
            if !self.is_running() {
                let err = not_ready("the process exited".into());
                self.kill();
                return Err(err);
            }
            if tokio::time::Instant::now() >= deadline {
                let err = not_ready(format!("no usable {}", ports_file.display()));
                self.kill();
                return Err(err);
            }
            if let Some(found) = read_client_port(&ports_file) {
                self.port = found;
                if greets(found).await {
                    return Ok(());
                }
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the client port from a ports file: `{"client": ["nats://127.0.0.1:PORT"], ...}`. `None`
/// while the file is missing or still being written.
fn read_client_port(path: &Path) -> Option<u16> {
    #[derive(serde::Deserialize)]
    struct Ports {
        #[serde(default)]
        nats: Vec<String>,
    }
    let text = std::fs::read_to_string(path).ok()?;
    let ports: Ports = serde_json::from_str(&text).ok()?;
    ports
        .nats
        .iter()
        .find_map(|url| url.rsplit(':').next()?.parse().ok())
}

/// True once the server accepts a TCP connection and sends its `INFO` greeting.
async fn greets(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        Ok::<bool, std::io::Error>(&buf == b"INFO")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_says_how_to_install_it_and_never_falls_back() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_binary(None, empty.path()).unwrap_err().to_string();
        assert!(err.contains("deploy/local/install-nats.sh"), "{err}");
        assert!(err.contains(NATS_SERVER_ENV), "{err}");

        let missing = empty.path().join("nope");
        let err = find_binary(Some(missing.into_os_string()), empty.path()).unwrap_err();
        assert!(err.to_string().contains("is not a file"), "{err}");
    }

    #[test]
    fn the_variable_wins_over_the_workspace_copy() {
        let dir = tempfile::tempdir().unwrap();
        let tools = dir.path().join(".tools/bin");
        std::fs::create_dir_all(&tools).unwrap();
        std::fs::write(tools.join("nats-server"), b"").unwrap();
        let chosen = dir.path().join("chosen");
        std::fs::write(&chosen, b"").unwrap();
        assert_eq!(
            find_binary(None, dir.path()).unwrap(),
            tools.join("nats-server")
        );
        assert_eq!(
            find_binary(Some(chosen.clone().into_os_string()), dir.path()).unwrap(),
            chosen
        );
    }

    #[test]
    fn ports_files_are_parsed_and_partial_ones_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.ports");
        assert_eq!(read_client_port(&file), None);
        std::fs::write(&file, br#"{"nats":["nats://127.0.0.1:4"#).unwrap();
        assert_eq!(read_client_port(&file), None);
        std::fs::write(&file, br#"{"nats":["nats://127.0.0.1:45015"]}"#).unwrap();
        assert_eq!(read_client_port(&file), Some(45015));
    }
}
