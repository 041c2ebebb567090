#!/usr/bin/env bash
# The README's demo command.
#
# Today it runs the rules-engine walkthrough: everyday situations (matching, near misses, ambiguity,
# scope, PSA wins, two-way push, one-way revert, no echo, Network Glue contacts) decided by the real
# engine, printed with the rule behind every action. The full demo — simulators for IT Glue and the
# five PSAs, NATS, ingest and workers in one process (`syncbridge demo`) — replaces it once the
# service exists (see the README's status section).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
exec cargo run --quiet -p syncbridge-engine --example walkthrough
