#!/usr/bin/env bash
# Measures syncbridge's webhook ingest against the ingest floor (`baseline` in ../shared/bench, see
# its README): a closed-loop load generator against `baseline serve` and against
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
#   BENCH_BODY_SIZES        body sizes in bytes for the runs with our load generator (default
#                           "1024 8192"; empty: only the floor's own generator)
#
# Two load generators, each driving both sides of a comparison with the same bodies:
# - the floor's own (`baseline load`): every request a distinct Autotask callout of ~260 bytes (a
#   fresh Guid and SequenceNumber, signed); it has no body-size option. Its figures are the ones
#   comparable with the floor's README.
# - ours, `syncbridge-demo loadgen` (crates/demo/src/loadgen.rs): the floor's generator (same closed
#   loop, client, callout and signatures) with `--body-bytes N`, which pads every callout to N
#   bytes in an extra `Fields` entry; run once per size of BENCH_BODY_SIZES. syncbridge's
#   `[ingest] body_limit` (not set below: 1 MiB by default) and `baseline serve`'s (axum's default,
#   2 MB) both allow these sizes.
#
# Checks that the receivers really accepted the deliveries: every load run must report non_2xx = 0;
# SYNC_EVENTS must hold as many messages as the run completed requests (warm-up included), and
# syncbridge's metrics must count them all accepted; with our generator, whose deliveries to
# `baseline serve` carry distinct ids, the BASELINE stream must hold them all too, and either stream
# must hold at least the body size per message (the padding really was sent and stored).
# Without a floor it writes a line saying so and exits 0. Every process it starts is stopped.
set -euo pipefail

usage() { echo "usage: $0 OUT.md [SECS] [ROUNDS]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 3 ]] || usage
out="$1"
secs="${2:-8}"
rounds="${3:-3}"
conc="${BENCH_CONC:-64}"
body_sizes="${BENCH_BODY_SIZES-1024 8192}"
[[ "$secs" =~ ^[0-9]+$ && "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 1 ]] || usage
for size in $body_sizes; do
  [[ "$size" =~ ^[0-9]+$ ]] || { echo "bench-ingest: BENCH_BODY_SIZES must be byte counts: $size" >&2; exit 2; }
done

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
echo "bench-ingest: building the floor ($floor/baseline), syncbridge and our load generator (release)" >&2
cargo build --quiet --release --manifest-path "$floor/baseline/Cargo.toml" --target-dir target/bench-baseline
baseline="$root/target/bench-baseline/release/baseline"
if [[ -n "$body_sizes" ]]; then
  cargo build --quiet --release -p syncbridge-demo --bin syncbridge-demo
  loadgen="$root/target/release/syncbridge-demo"
fi
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

# Messages and bytes (`MESSAGES BYTES`) in stream $1 of the running nats-server.
stream_state() {
  curl -fsS "http://127.0.0.1:$nats_mon/jsz?streams=true" |
    jq -r --arg name "$1" '[.account_details[]?.stream_detail[]? | select(.name == $name) | .state]
      | "\(map(.messages) | add // 0) \(map(.bytes) | add // 0)"'
}

# SECS of load on $url from the generator of $body: `floor` is the floor's own `baseline load`, a
# byte count is ours with bodies of that size. Prints `rps p50_ms p99_ms non_2xx total`.
load() {
  if [[ "$body" == floor ]]; then
    "$baseline" load "$url" "$kind" "$secret" "$1" "$conc"
  else
    "$loadgen" loadgen "$url" "$kind" "$secret" "$1" "$conc" --body-bytes "$body"
  fi
}

# One run of WHO (baseline or syncbridge) with the generator and body of $body: fresh server and
# receiver, a 1 s warm-up, then SECS of load; its line (`rps p50_ms p99_ms non_2xx total`)
# appended to $tmp/WHO.$body.runs. Fails on any non-2xx; for syncbridge unless SYNC_EVENTS holds
# every delivery it answered (each has a fresh Guid: no duplicates) and its metrics counted them
# accepted; with our generator, unless the receiver's stream holds every delivery (for baseline:
# its x-ids are distinct, unlike the floor generator's, which restart at 0 in every run) at no less
# than the body size each.
run() {
  local who="$1" line warm bad total stream stored bytes accepted
  start_nats
  "start_$who"
  warm="$(load 1)"
  local recv_cpu nats_cpu
  recv_cpu="$(cpu_ticks "$recv_pid")"; nats_cpu="$(cpu_ticks "$nats_pid")"
  line="$(load "$secs")"
  recv_cpu=$(( $(cpu_ticks "$recv_pid") - recv_cpu )); nats_cpu=$(( $(cpu_ticks "$nats_pid") - nats_cpu ))
  echo "bench-ingest: round $round $who, body $body: $line (load $(loadavg))" >&2
  read -r _ _ _ bad total <<<"$line"
  # CPU per request of the measured run, µs: the receiver's and its nats-server's.
  awk -v r="$recv_cpu" -v n="$nats_cpu" -v t="$total" -v hz="$clk_tck" \
    'BEGIN { printf "%.1f %.1f\n", r * 1e6 / hz / t, n * 1e6 / hz / t }' >>"$tmp/$who.$body.cpu"
  if [[ "$bad" != 0 || "$(cut -d' ' -f4 <<<"$warm")" != 0 ]]; then
    echo "bench-ingest: $who answered requests with a non-2xx ($line; warm-up $warm)" >&2
    tail -n 20 "$tmp/$who.log" >&2
    # Which answers: syncbridge counts every request by outcome (refusals log nothing per request).
    if [[ "$who" == syncbridge ]]; then
      curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep '^syncbridge_ingest_requests_total{' >&2 || true
    fi
    return 1
  fi
  total=$((total + $(cut -d' ' -f5 <<<"$warm")))
  if [[ "$who" == syncbridge ]]; then stream=SYNC_EVENTS; else stream=BASELINE; fi
  read -r stored bytes <<<"$(stream_state "$stream")"
  if [[ "$who" == syncbridge ]]; then
    accepted="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
      awk '/^syncbridge_ingest_requests_total\{/ && /outcome="accepted"/ { s += $NF } END { print s + 0 }')"
    if [[ "$stored" != "$total" || "$accepted" != "$total" ]]; then
      echo "bench-ingest: syncbridge completed $total requests but SYNC_EVENTS holds $stored and it counted $accepted accepted" >&2
      return 1
    fi
    sb_total=$((sb_total + total))
  fi
  if [[ "$body" != floor ]]; then
    if [[ "$stored" != "$total" ]]; then
      echo "bench-ingest: $who completed $total requests but $stream holds $stored" >&2
      return 1
    fi
    if (( bytes < stored * body )); then
      echo "bench-ingest: $stream holds $bytes bytes in $stored messages, less than $body bytes each" >&2
      return 1
    fi
    if [[ "$who" == baseline ]]; then bl_total=$((bl_total + total)); fi
  fi
  echo "$line" >>"$tmp/$who.$body.runs"
  stop_run
}

# CPU time (user + system, clock ticks) process $1 has used so far.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
clk_tck="$(getconf CLK_TCK)"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

load_before="$(loadavg)"
sb_total=0
bl_total=0
# `floor`: the floor's generator and body; then our generator at each size. Every round runs each
# of them, so that all of them see the same stretch of the machine's load.
bodies="floor $body_sizes"
for body in $bodies; do
  for who in baseline syncbridge; do : >"$tmp/$who.$body.runs"; : >"$tmp/$who.$body.cpu"; done
done
for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="baseline syncbridge"; else order="syncbridge baseline"; fi
  for body in $bodies; do
    for who in $order; do run "$who"; done
  done
done
load_after="$(loadavg)"

# Median of column $3 of WHO ($1) runs with body $2.
stat() { awk -v c="$3" '{ print $c }' "$tmp/$1.$2.runs" | median; }
b_rps="$(stat baseline floor 1)"; b_p50="$(stat baseline floor 2)"; b_p99="$(stat baseline floor 3)"
s_rps="$(stat syncbridge floor 1)"; s_p50="$(stat syncbridge floor 2)"; s_p99="$(stat syncbridge floor 3)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# The median ratio of column $2 over each round's pair of runs with body $1 (run back to back, so
# they share the machine's load).
paired() {
  paste -d' ' "$tmp/syncbridge.$1.runs" "$tmp/baseline.$1.runs" |
    awk -v c="$2" '{ print $c / $(c + 5) }' | median | awk '{ printf "%.2f", $1 }'
}
runs() { awk '{ printf "%s%s / %s / %s", (NR > 1 ? "; " : ""), $1, $2, $3 }' "$tmp/$1.$2.runs"; }
# One row of the per-body table: body, generator, both req/s, ratio, both p99, ratio.
size_row() {
  local body="$1" label generator br sr bp sp
  if [[ "$body" == floor ]]; then
    label="~260 B (the floor's callout)"
    generator="the floor's \`baseline load\`"
  else
    label="$body B"
    generator="\`syncbridge-demo loadgen --body-bytes $body\`"
  fi
  br="$(stat baseline "$body" 1)"; sr="$(stat syncbridge "$body" 1)"
  bp="$(stat baseline "$body" 3)"; sp="$(stat syncbridge "$body" 3)"
  printf '| %s | %s | %s | %s | **%s** | %s | %s | **%s** |\n' "$label" "$generator" \
    "$br" "$sr" "$(ratio "$sr" "$br")" "$bp" "$sp" "$(ratio "$sp" "$bp")"
}
# Median CPU µs per request of WHO ($1) with body $2: column 1 the receiver, 2 its nats-server.
cpu() { awk -v c="$3" '{ print $c }' "$tmp/$1.$2.cpu" | median; }
cpu_table() {
  echo "| body | baseline receiver | its nats-server | syncbridge receiver | its nats-server | receiver ratio | nats-server ratio |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  local body label
  for body in $bodies; do
    if [[ "$body" == floor ]]; then label="~260 B (the floor's callout)"; else label="$body B"; fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" \
      "$(cpu baseline "$body" 1)" "$(cpu baseline "$body" 2)" \
      "$(cpu syncbridge "$body" 1)" "$(cpu syncbridge "$body" 2)" \
      "$(ratio "$(cpu syncbridge "$body" 1)" "$(cpu baseline "$body" 1)")" \
      "$(ratio "$(cpu syncbridge "$body" 2)" "$(cpu baseline "$body" 2)")"
  done
}
per_body_table() {
  echo "| body | load generator (both sides) | baseline req/s | syncbridge req/s | req/s ratio | baseline p99 ms | syncbridge p99 ms | p99 ratio |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for body in $bodies; do size_row "$body"; done
}
sized_notes() {
  local body
  [[ -n "$body_sizes" ]] || return 0
  local sep=""
  printf '%s' "Median of the per-round ratios with our generator:"
  for body in $body_sizes; do
    printf '%s %s B: req/s %s, p99 %s' "$sep" "$body" "$(paired "$body" 1)" "$(paired "$body" 3)"
    sep=";"
  done
  echo "."
  printf '%s' "Per run with our generator (req/s / p50 / p99):"
  for body in $body_sizes; do
    printf ' %s B: baseline %s; syncbridge %s.' "$body" "$(runs baseline "$body")" "$(runs syncbridge "$body")"
  done
  echo
  echo "Our generator, \`syncbridge-demo loadgen\` (crates/demo/src/loadgen.rs), is the floor's (same closed loop, reqwest client, callout and signatures, kind bare for \`baseline serve\` and autotask for syncbridge) with every callout padded to the body size in an extra \`Fields\` entry. In these runs each receiver's stream held every delivery, at no less than the body size each ($bl_total to baseline, warm-ups included)."
}
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || echo '+dirty')"
[[ -n "${BENCH_SYNCBRIDGE:-}" ]] && commit="$commit (syncbridge binary: $BENCH_SYNCBRIDGE)"

cat >"$out" <<MD
### Ingest vs. the floor — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit

| | req/s | p50 ms | p99 ms |
|---|---:|---:|---:|
| baseline (\`baseline serve\`, kind bare) | $b_rps | $b_p50 | $b_p99 |
| syncbridge (\`serve --role ingest\`, Autotask) | $s_rps | $s_p50 | $s_p99 |
| **ratio** syncbridge / baseline | **$(ratio "$s_rps" "$b_rps")** | $(ratio "$s_p50" "$b_p50") | **$(ratio "$s_p99" "$b_p99")** |

Median of the per-round ratios (each round's two runs back to back): req/s $(paired floor 1), p99 $(paired floor 3).
Medians of $rounds rounds of ${secs} s, $conc connections, alternating (target: req/s ratio ≥ 0.9, p99 ratio ≤ 1.2).
Per run (req/s / p50 / p99): baseline $(runs baseline floor); syncbridge $(runs syncbridge floor).
Body: the floor's load generator (\`baseline load\`) and its ~260-byte Autotask callout (it has no body-size option); these are the figures comparable with the floor's README.

By body size (medians; in each row both sides are driven by the same generator with the same bodies):

$(per_body_table)

$(sized_notes)

CPU time per request (µs, user + system, medians over the measured runs, from \`/proc/PID/stat\`): on $(nproc) cores the load generator, the receiver and its nats-server share the CPU, so a closed loop's req/s follows what one request costs all three.

$(cpu_table)

Each run on a fresh nats-server (empty store) and a freshly started receiver, after a 1 s warm-up.
Every run non_2xx = 0; SYNC_EVENTS held every delivery syncbridge answered ($sb_total in all, warm-ups included), each counted accepted.
Machine: $(nproc) cores, load average $load_before before, $load_after after.
Command: \`$command\`
MD
cat "$out"
