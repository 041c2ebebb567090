#!/usr/bin/env bash
# The README's test command: installs what the tests need (the pinned nats-server), then runs every
# test of the workspace. Extra arguments go to `cargo test` (e.g. `-p syncbridge-engine`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

nats_server="$("$root/deploy/local/install-nats.sh" | tail -n 1)"
# Tests start their own servers from this binary (never the machine's old one on :4222).
export SYNCBRIDGE_NATS_SERVER="$nats_server"
export PATH="$(dirname "$nats_server"):$PATH"

# Invariant (ARCHITECTURE.md): the rules engine performs no I/O, so none of these may be in its tree.
if cargo tree -p syncbridge-engine -e normal --prefix none | grep -E '^(tokio|hyper|reqwest|async-nats|axum) '; then
  echo "test.sh: syncbridge-engine must not depend on an I/O crate (listed above)" >&2
  exit 1
fi
echo "engine dependency check: no tokio, hyper, reqwest, async-nats or axum in syncbridge-engine"

cargo test --workspace --all-targets "$@"
# Doc tests are not part of --all-targets.
cargo test --workspace --doc "$@"
