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

# The crates' dependency invariants (the engine does no I/O; the binary links no simulator) are
# tests: tests/engine/purity.rs, tests/service/processes/production_build.rs (crate-relative).
# The black-box tests through the binary are the top-level tests/e2e (the `e2e` target of the
# syncbridge package), so --workspace runs them too.
# The fault suite (tests/service/processes/faults, docs/reliability.md) runs its CI variant here;
# SYNCBRIDGE_FAULTS_LONG=1 (or SYNCBRIDGE_LONG_TESTS=1) runs the long one (20 kill rounds, bigger
# bursts, a 30 s NATS outage),
# and SYNCBRIDGE_FAULTS_SEED=N replays a run's random choices.
cargo test --workspace --all-targets "$@"
# Doc tests are not part of --all-targets.
cargo test --workspace --doc "$@"
