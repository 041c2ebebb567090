#!/usr/bin/env bash
# Measures syncbridge's webhook ingest against the ingest floor (`baseline` in ../shared/bench, see
# its README): the floor's closed-loop load generator against `baseline serve` and against
# `syncbridge serve --role ingest` in turn, each on a private nats-server (JetStream, default sync),
# CONC connections, SECS per run, ROUNDS rounds alternating which goes first; medians. Every run
# starts a fresh nats-server (empty store) and receiver, so that the order of runs does not matter.
# Writes a markdown fragment to OUT.md.
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
# SYNC_EVENTS must hold as many messages as the run completed requests, and syncbridge's metrics
# must count them all accepted.
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
nats_pid=""
recv_pid=""
cleanup() {
  local pid
  for pid in $recv_pid $nats_pid; do kill "$pid" 2>/dev/null || true; done
  for pid in $recv_pid $nats_pid; do wait "$pid" 2>/dev/null || true; done
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

# Every run starts from nothing: a fresh nats-server with an empty store, then the receiver
# under test. (Otherwise the run order would matter: JetStream's dedup map and the stream grow
# with every run, and the floor's load reuses its Nats-Msg-Ids from 0 in every run, which a
# stream that saw the previous run would answer as duplicates.)
stop_run() {
  local pid
  for pid in $recv_pid $nats_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  recv_pid=""
  nats_pid=""
  rm -rf "$tmp/nats-store"
}
start_nats() {
  nats_port="$(free_port)"
  nats_mon="$(free_port)"
  "$nats_server" -a 127.0.0.1 -p "$nats_port" -m "$nats_mon" -js -sd "$tmp/nats-store" \
    >>"$tmp/nats.log" 2>&1 &
  nats_pid=$!
  wait_http "http://127.0.0.1:$nats_mon/healthz?js-enabled-only=true"
}
start_baseline() {
  local port
  port="$(free_port)"
  NATS_URL="127.0.0.1:$nats_port" "$baseline" serve "$port" >>"$tmp/baseline.log" 2>&1 &
  recv_pid=$!
  wait_port "$port"
  url="http://127.0.0.1:$port/hook"
  kind=bare
}
start_syncbridge() {
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
    >>"$tmp/syncbridge.log" 2>&1 &
  recv_pid=$!
  wait_http "http://127.0.0.1:$metrics_port/readyz"
  url="http://127.0.0.1:$ingest_port/webhooks/bench/autotask"
  kind=autotask
}

# Messages in stream $1 of the running nats-server.
stream_messages() {
  curl -fsS "http://127.0.0.1:$nats_mon/jsz?streams=true" |
    jq --arg name "$1" '[.account_details[]?.stream_detail[]? | select(.name == $name) | .state.messages] | add // 0'
}

# One run: fresh server and receiver, a 1 s warm-up, then SECS of load; its line (`rps p50_ms
# p99_ms non_2xx total`) appended to $tmp/WHO.runs. Fails on any non-2xx, and for syncbridge
# unless SYNC_EVENTS holds every delivery it answered (each has a fresh Guid: no duplicates) and
# its metrics counted them accepted.
run() {
  local who="$1" line warm bad total stored accepted
  start_nats
  "start_$who"
  warm="$("$baseline" load "$url" "$kind" "$secret" 1 "$conc")"
  line="$("$baseline" load "$url" "$kind" "$secret" "$secs" "$conc")"
  echo "bench-ingest: round $round $who: $line (load $(loadavg))" >&2
  read -r _ _ _ bad total <<<"$line"
  if [[ "$bad" != 0 || "$(cut -d' ' -f4 <<<"$warm")" != 0 ]]; then
    echo "bench-ingest: $who answered requests with a non-2xx ($line; warm-up $warm)" >&2
    tail -n 20 "$tmp/$who.log" >&2
    return 1
  fi
  if [[ "$who" == syncbridge ]]; then
    total=$((total + $(cut -d' ' -f5 <<<"$warm")))
    stored="$(stream_messages SYNC_EVENTS)"
    accepted="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
      awk '/^syncbridge_ingest_requests_total\{/ && /outcome="accepted"/ { s += $NF } END { print s + 0 }')"
    if [[ "$stored" != "$total" || "$accepted" != "$total" ]]; then
      echo "bench-ingest: syncbridge completed $total requests but SYNC_EVENTS holds $stored and it counted $accepted accepted" >&2
      return 1
    fi
    sb_total=$((sb_total + total))
  fi
  echo "$line" >>"$tmp/$who.runs"
  stop_run
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

load_before="$(loadavg)"
sb_total=0
: >"$tmp/baseline.runs"
: >"$tmp/syncbridge.runs"
for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="baseline syncbridge"; else order="syncbridge baseline"; fi
  for who in $order; do run "$who"; done
done
load_after="$(loadavg)"

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
Each run on a fresh nats-server (empty store) and a freshly started receiver, after a 1 s warm-up.
Every run non_2xx = 0; SYNC_EVENTS held every delivery syncbridge answered ($sb_total in all, warm-ups included), each counted accepted.
Machine: $(nproc) cores, load average $load_before before, $load_after after.
Command: \`$command\`
MD
cat "$out"
