#!/usr/bin/env bash
# The README's demo command: `syncbridge-demo` on the embedded default — its own nats-server (the
# pinned one this script installs into .tools/), simulators of IT Glue and the five PSAs, and the
# real service (webhook ingest, workers, pollers) in one process, one tenant per PSA, people
# editing both sides, a live progress line and a summary per tenant at the end.
#
# Arguments go to `syncbridge-demo` (e.g. `--duration 20s`, `--tenants connectwise,tigerpaw`,
# `--nats-url nats://…`); `--help` lists them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
"$root/deploy/local/install-nats.sh" >/dev/null
export SYNCBRIDGE_NATS_SERVER="$root/.tools/bin/nats-server"
exec cargo run --quiet --release -p syncbridge-demo -- "$@"
