#!/usr/bin/env bash
# Measures syncbridge's webhook ingest against the ingest floor (`baseline` in ../shared/bench, see
# its README): both receivers side by side on one private nats-server (JetStream, default sync),
# the floor's closed-loop load generator against each in turn, CONC connections, SECS per round,
# ROUNDS rounds alternating which goes first; medians. Writes a markdown fragment to OUT.md.
#
#   deploy/local/bench-ingest.sh OUT.md [SECS=8] [ROUNDS=3]
#
#   SYNCBRIDGE_BENCH_FLOOR  the floor's directory (holding baseline/), when it is not ../shared/bench
#                           next to this repository (or next to the main checkout of a worktree)
#   BENCH_CONC              connections (default 64)
#   BENCH_SYNCBRIDGE        a prebuilt syncbridge binary to measure instead of building one
#
# The load generator has no body-size option: every request is a distinct Autotask callout of
# ~300 bytes (a fresh Guid and SequenceNumber, X-Hook-Signature over it). That is what is measured.
#
# Checks that syncbridge really accepted the deliveries: every load run must report non_2xx = 0,
# and SYNC_EVENTS must hold as many messages as syncbridge's load runs completed requests.
# Without a floor it writes a line saying so and exits 0. Every process it starts is stopped.
set -euo pipefail

usage() { echo "usage: $0 OUT.md [SECS] [ROUNDS]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 3 ]] || usage
out="$1"
secs="${2:-8}"
rounds="${3:-3}"
conc="${BENCH_CONC:-64}"
[[ "$secs" =~ ^[0-9]+$ && "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 1 ]] || usage

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
command="deploy/local/bench-ingest.sh $*"
secret="bench-autotask-webhook-secret"

# --- The floor -------------------------------------------------------------------------------
floor=""
common="$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
for candidate in "$root/../shared/bench" "${common:+$(dirname "$common")/../shared/bench}" \
  "${SYNCBRIDGE_BENCH_FLOOR:-}"; do
  if [[ -n "$candidate" && -f "$candidate/baseline/Cargo.toml" ]]; then
    floor="$(cd "$candidate" && pwd)"
    break
  fi
done
if [[ -z "$floor" ]]; then
  echo "bench-ingest: no ingest floor (../shared/bench/baseline, or SYNCBRIDGE_BENCH_FLOOR); skipped" >&2
  printf '%s\n' "Ingest benchmark skipped on $(date -u +%Y-%m-%d): no ingest floor (../shared/bench or SYNCBRIDGE_BENCH_FLOOR)." > "$out"
  exit 0
fi

# --- Builds ----------------------------------------------------------------------------------
echo "bench-ingest: building the floor ($floor/baseline) and syncbridge (release)" >&2
cargo build --quiet --release --manifest-path "$floor/baseline/Cargo.toml" --target-dir target/bench-baseline
baseline="$root/target/bench-baseline/release/baseline"
if [[ -n "${BENCH_SYNCBRIDGE:-}" ]]; then
  syncbridge="$(cd "$(dirname "$BENCH_SYNCBRIDGE")" && pwd)/$(basename "$BENCH_SYNCBRIDGE")"
else
  cargo build --quiet --release -p syncbridge --bin syncbridge
  syncbridge="$root/target/release/syncbridge"
fi
nats_server="$("$root/deploy/local/install-nats.sh" | tail -n 1)"

# --- Processes -------------------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-ingest.XXXXXX")"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Waits until `curl` gets a 2xx from $1 (up to 30 s).
wait_http() {
  local i
  for i in $(seq 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench-ingest: $1 did not come up; logs in $tmp" >&2
  return 1
}
wait_port() {
  local i
  for i in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench-ingest: nothing listens on port $1; logs in $tmp" >&2
  return 1
}

nats_port="$(free_port)"
nats_mon="$(free_port)"
"$nats_server" -a 127.0.0.1 -p "$nats_port" -m "$nats_mon" -js -sd "$tmp/nats-store" \
  >"$tmp/nats.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$nats_mon/healthz?js-enabled-only=true"

ingest_port="$(free_port)"
metrics_port="$(free_port)"
cat >"$tmp/syncbridge.toml" <<TOML
[nats]
urls = ["nats://127.0.0.1:$nats_port"]

[ingest]
listen = "127.0.0.1:$ingest_port"

[metrics]
listen = "127.0.0.1:$metrics_port"

[tenants.bench.sync]
psa = "autotask"
org_types = ["Customer"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]

[tenants.bench.itglue]
api_key = "itg-key"

[tenants.bench.autotask]
base_url = "http://127.0.0.1:9"
integration_code = "BENCH"
username = "bench@example.com"
secret = "bench"
webhook_secret = "$secret"
TOML
RUST_LOG="${RUST_LOG:-info}" "$syncbridge" serve --config "$tmp/syncbridge.toml" --role ingest \
  >"$tmp/syncbridge.log" 2>&1 &
pids+=($!)
sb_pid=$!
wait_http "http://127.0.0.1:$metrics_port/readyz"
sb_url="http://127.0.0.1:$ingest_port/webhooks/bench/autotask"

# The floor deletes and recreates its stream when it starts; it is restarted before each of its
# runs, since its load's x-id (the Nats-Msg-Id) restarts at 0 in every run and would otherwise be
# answered as a duplicate of the previous round's.
base_port="$(free_port)"
base_pid=""
start_baseline() {
  if [[ -n "$base_pid" ]]; then
    kill "$base_pid" 2>/dev/null || true
    wait "$base_pid" 2>/dev/null || true
  fi
  NATS_URL="127.0.0.1:$nats_port" "$baseline" serve "$base_port" >>"$tmp/baseline.log" 2>&1 &
  base_pid=$!
  pids+=("$base_pid")
  wait_port "$base_port"
}
base_url="http://127.0.0.1:$base_port/hook"

# One run, its line (`rps p50_ms p99_ms non_2xx total`) appended to $tmp/WHO.runs; fails on any
# non-2xx.
run() {
  local who="$1" line
  if [[ "$who" == baseline ]]; then
    start_baseline
    line="$("$baseline" load "$base_url" bare "$secret" "$secs" "$conc")"
  else
    if ! kill -0 "$sb_pid" 2>/dev/null; then
      echo "bench-ingest: syncbridge exited; log:" >&2
      tail -n 20 "$tmp/syncbridge.log" >&2
      return 1
    fi
    line="$("$baseline" load "$sb_url" autotask "$secret" "$secs" "$conc")"
  fi
  echo "bench-ingest: round $round $who: $line (load $(loadavg))" >&2
  read -r _ _ _ bad total <<<"$line"
  if [[ "$bad" != 0 ]]; then
    echo "bench-ingest: $who answered $bad requests with a non-2xx ($line)" >&2
    [[ "$who" == syncbridge ]] && tail -n 20 "$tmp/syncbridge.log" >&2
    return 1
  fi
  [[ "$who" == syncbridge ]] && sb_total=$((sb_total + total))
  echo "$line" >>"$tmp/$who.runs"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

load_before="$(loadavg)"
sb_total=0
: >"$tmp/baseline.runs"
: >"$tmp/syncbridge.runs"
# Warm-up: one short syncbridge run (connections, allocator, the JetStream store).
"$baseline" load "$sb_url" autotask "$secret" 1 "$conc" >"$tmp/warmup" || true
read -r _ _ _ _ warm_total <"$tmp/warmup"
sb_total=$((sb_total + ${warm_total:-0}))
for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="baseline syncbridge"; else order="syncbridge baseline"; fi
  for who in $order; do run "$who"; done
done
load_after="$(loadavg)"

# Every completed syncbridge request is in SYNC_EVENTS (the warm-up's too; no duplicates: each
# delivery has a fresh Guid).
stored="$(curl -fsS "http://127.0.0.1:$nats_mon/jsz?streams=true" |
  jq '[.account_details[]?.stream_detail[]? | select(.name == "SYNC_EVENTS") | .state.messages] | add // 0')"
accepted="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
  awk '/^syncbridge_ingest_requests_total\{/ && /outcome="accepted"/ { s += $NF } END { print s + 0 }')"
if [[ "$stored" != "$sb_total" || "$accepted" != "$sb_total" ]]; then
  echo "bench-ingest: syncbridge completed $sb_total requests but SYNC_EVENTS holds $stored and it counted $accepted accepted" >&2
  exit 1
fi

stat() { awk -v c="$2" '{ print $c }' "$tmp/$1.runs" | median; }
b_rps="$(stat baseline 1)"; b_p50="$(stat baseline 2)"; b_p99="$(stat baseline 3)"
s_rps="$(stat syncbridge 1)"; s_p50="$(stat syncbridge 2)"; s_p99="$(stat syncbridge 3)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# The ratio of each round's pair of runs (run back to back, so they share the machine's load).
paired() {
  paste -d' ' "$tmp/syncbridge.runs" "$tmp/baseline.runs" |
    awk -v s="$1" -v b="$2" '{ print $s / $(b + 5) }' | median | awk '{ printf "%.2f", $1 }'
}
runs() { awk '{ printf "%s%s / %s / %s", (NR > 1 ? "; " : ""), $1, $2, $3 }' "$tmp/$1.runs"; }
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || echo '+dirty')"
[[ -n "${BENCH_SYNCBRIDGE:-}" ]] && commit="$commit (syncbridge binary: $BENCH_SYNCBRIDGE)"

cat >"$out" <<MD
### Ingest vs. the floor — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit

| | req/s | p50 ms | p99 ms |
|---|---:|---:|---:|
| baseline (\`baseline serve\`, kind bare) | $b_rps | $b_p50 | $b_p99 |
| syncbridge (\`serve --role ingest\`, Autotask) | $s_rps | $s_p50 | $s_p99 |
| **ratio** syncbridge / baseline | **$(ratio "$s_rps" "$b_rps")** | $(ratio "$s_p50" "$b_p50") | **$(ratio "$s_p99" "$b_p99")** |

Median of the per-round ratios (each round's two runs back to back): req/s $(paired 1 1), p99 $(paired 3 3).
Medians of $rounds rounds of ${secs} s, $conc connections, alternating (target: req/s ratio ≥ 0.9, p99 ratio ≤ 1.2).
Per run (req/s / p50 / p99): baseline $(runs baseline); syncbridge $(runs syncbridge).
Body: the load generator's ~300-byte Autotask callout (it has no body-size option).
Every run non_2xx = 0; SYNC_EVENTS holds $stored messages = the $sb_total requests syncbridge completed (warm-up included).
Machine: $(nproc) cores, load average $load_before before, $load_after after.
Command: \`$command\`
MD
cat "$out"
