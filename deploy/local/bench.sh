#!/usr/bin/env bash
# The benchmarks (issue 12): builds in release, runs them in bounded time (a few minutes on a
# 2-core machine) and writes docs/benchmarks.md with the figures, the date, the commit and this
# command. Run it on a quiet machine: the figures are wall-clock.
#
#   bash deploy/local/bench.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

nats_server="$("$root/deploy/local/install-nats.sh" | tail -n 1)"
export SYNCBRIDGE_NATS_SERVER="$nats_server"
out_dir="$root/target/bench"
mkdir -p "$out_dir"

cargo build --release -p syncbridge-demo
"$root/target/release/syncbridge-demo" bench --out "$out_dir/worker.md"

ingest_note="The ingest benchmark script (deploy/local/bench-ingest.sh) is not in this checkout."
if [[ -x "$root/deploy/local/bench-ingest.sh" ]]; then
  bash "$root/deploy/local/bench-ingest.sh" "$out_dir/ingest.md"
  ingest_note="$(cat "$out_dir/ingest.md")"
fi

{
  echo "# Benchmarks"
  echo
  echo "Written by \`bash deploy/local/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit"
  echo "\`$(git rev-parse --short HEAD)\`, on $(nproc) cores ($(uname -m)), load average at the end:"
  echo "$(cut -d' ' -f1-3 /proc/loadavg). Figures are wall-clock: compare runs on one machine."
  echo
  echo "## Worker throughput"
  echo
  echo "\`syncbridge-demo bench\`: the in-process stack on the simulators with their rate limits off and"
  echo "the tenants' budgets too large to matter, every vendor request delayed by the given time (the"
  echo "simulators' \`delay\` fault), and the onboarding of fresh tenants to do: the full sync publishes"
  echo "one event per record to create, link or update; the workers start afterwards, and events/s is"
  echo "events decided per second from their start until every tenant's consumer is drained. The first"
  echo "row is one event at a time (\`[worker] concurrency = 1\`), for comparison."
  echo
  cat "$out_dir/worker.md"
  echo
  echo "## Ingest against the floor"
  echo
  echo "$ingest_note"
} > "$root/docs/benchmarks.md"
echo "wrote docs/benchmarks.md"
