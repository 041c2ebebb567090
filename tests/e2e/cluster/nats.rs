//! Three local nats-server processes as one JetStream cluster: free client and route ports on
//! loopback, a store directory and a log file each, every node named (`node1`…) so that a RAFT
//! leader's name maps to its process. A node can be killed (SIGKILL) and started again on the same
//! ports and store.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::binary::free_ports;

/// The cluster's name (`--cluster_name`).
const CLUSTER: &str = "syncbridge-test";

/// One node: its name, ports, store, and the running process (killed on drop).
pub struct Node {
    pub name: String,
    pub port: u16,
    cluster_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The last lines of the node's log (for failure messages).
    pub fn log_tail(&self) -> String {
        tail(&self.dir.join("nats-server.log"), 15)
    }
}

/// The three nodes.
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts three nodes under `dir` (one subdirectory each) and waits until each listens.
    pub async fn start(dir: &Path) -> Cluster {
        let ports: [u16; 6] = free_ports();
        let mut nodes: Vec<Node> = (1..=3)
            .map(|i| Node {
                name: format!("node{i}"),
                port: ports[2 * i - 2],
                cluster_port: ports[2 * i - 1],
                dir: dir.join(format!("node{i}")),
                child: None,
            })
            .collect();
        let routes = nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.cluster_port))
            .collect::<Vec<_>>()
            .join(",");
        for node in &mut nodes {
            std::fs::create_dir_all(&node.dir).expect("a node's directory");
            spawn(node, &routes);
        }
        let cluster = Cluster { nodes };
        for node in &cluster.nodes {
            cluster.wait_listening(node).await;
        }
        cluster
    }

    /// Every node's client URL (what every syncbridge process is given).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// The node called `name`.
    pub fn index_of(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node called {name}"))
    }

    /// Kills node `i` with SIGKILL and waits until it is gone.
    pub async fn kill(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().expect("the node is running");
        child.start_kill().expect("SIGKILL the nats-server");
        let _ = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the nats-server ends after SIGKILL");
    }

    /// Starts node `i` again: same name, ports and store.
    pub async fn restart(&mut self, i: usize) {
        let routes = self
            .nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.cluster_port))
            .collect::<Vec<_>>()
            .join(",");
        assert!(self.nodes[i].child.is_none(), "the node is running");
        spawn(&mut self.nodes[i], &routes);
        self.wait_listening(&self.nodes[i]).await;
    }

    async fn wait_listening(&self, node: &Node) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", node.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not start: {}",
                node.name,
                node.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of every node's log.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("\n--- {}\n{}", n.name, n.log_tail()))
            .collect()
    }
}

fn spawn(node: &mut Node, routes: &str) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node.dir.join("nats-server.log"))
        .expect("a node's log file");
    let child = Command::new(syncbridge_bus::testing::nats_server_binary().expect("nats-server"))
        .args(["-a", "127.0.0.1", "-p", &node.port.to_string()])
        .args(["-n", &node.name, "-js", "-sd"])
        .arg(node.dir.join("store"))
        .args([
            "--cluster",
            &format!("nats://127.0.0.1:{}", node.cluster_port),
        ])
        .args(["--routes", routes, "--cluster_name", CLUSTER])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("a node's log file")))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("start nats-server");
    node.child = Some(child);
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
