#!/usr/bin/env bash
# The long fuzzing run (issue 13): every cargo-fuzz target in fuzz/, one after another, each for a
# bounded time, under `nice -n 19` so it never competes with real work. Not run in CI (CI replays
# the committed seeds through the same entry functions: crates/*/tests/fuzz_seeds.rs).
#
#   bash deploy/local/fuzz.sh [seconds-per-target] [target[:seconds] ...]
#
# Defaults: 600 seconds, every target, the internet-facing webhook verifiers first; a target
# written `name:seconds` gets its own time. Needs a
# nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Corpora grow in
# fuzz/corpus/<target>/ (only the seed-* files there are committed); crashes land in
# fuzz/artifacts/<target>/, logs in fuzz/logs/. Prints per target: executions, exec/s, crashes,
# and a Markdown table of the same at the end (fuzz/logs/summary-<time>.md) for docs/reliability.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root/fuzz"

seconds="${1:-600}"
shift || true
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  # Priority order: what the internet can send first, then what vendors and operators send.
  mapfile -t targets < <(
    listed="$(cargo +nightly fuzz list)"
    for first in connectwise_verify autotask_verify standard_verify itglue_verify connectwise_signed \
      connectwise_key_response connectwise_parse request_parts key_url_policy autotask_escape; do
      grep -qx "$first" <<<"$listed" && echo "$first"
    done
    grep -vxE 'connectwise_verify|autotask_verify|standard_verify|itglue_verify|connectwise_signed|connectwise_key_response|connectwise_parse|request_parts|key_url_policy|autotask_escape' <<<"$listed" || true
  )
fi

# Release with debug assertions and overflow checks (cargo-fuzz's default), no AddressSanitizer:
# every syncbridge crate forbids unsafe code, and ASan would halve the executions.
build_flags=(--sanitizer none)
nice -n 19 cargo +nightly fuzz build "${build_flags[@]}" >&2
# Run copies of the binaries, so that rebuilding fuzz/ during a long run cannot disturb it.
bin_dir="target/fuzz-run-$$"
mkdir -p "$bin_dir"
trap 'rm -rf "$bin_dir"' EXIT
built="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
for entry in "${targets[@]}"; do
  cp "$built/${entry%%:*}" "$bin_dir/"
done

mkdir -p logs
summary="logs/summary-$(date -u +%Y%m%dT%H%M).md"
{
  echo "Run on $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$(git rev-parse --short HEAD)\`, $(nproc) cores (shared, nice 19)."
  echo
  echo "| target | executions | exec/s | crashes | seconds |"
  echo "|---|---:|---:|---:|---:|"
} >"$summary"

for entry in "${targets[@]}"; do
  target="${entry%%:*}"
  secs="$seconds"
  [[ "$entry" == *:* ]] && secs="${entry#*:}"
  mkdir -p "corpus/$target" "artifacts/$target"
  log="logs/$target.log"
  before="$(find "artifacts/$target" -type f | wc -l)"
  started="$(date +%s)"
  # A crash ends the target's run (libFuzzer stops at the first); the next target still runs.
  nice -n 19 "$bin_dir/$target" -artifact_prefix="artifacts/$target/" -max_total_time="$secs" \
    -timeout=10 -print_final_stats=1 "corpus/$target" >"$log" 2>&1 || true
  elapsed=$(($(date +%s) - started))
  crashes=$(($(find "artifacts/$target" -type f | wc -l) - before))
  # The final stats when the run completed; otherwise the last status line (`#N ... exec/s: R`).
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  if [[ -z "$execs" ]]; then
    last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    execs="$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")"
    rate="$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")"
  fi
  printf '%-20s executions %12s  exec/s %8s  crashes %s  (%ss)\n' \
    "$target" "${execs:-?}" "${rate:-?}" "$crashes" "$elapsed"
  echo "| \`$target\` | ${execs:-?} | ${rate:-?} | $crashes | $elapsed |" >>"$summary"
  if [[ $crashes -gt 0 ]]; then
    find "artifacts/$target" -type f -newermt "@$started" -printf '  crash input: fuzz/%p\n'
  fi
done
echo
cat "$summary"
