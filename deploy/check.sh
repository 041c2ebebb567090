#!/usr/bin/env bash
# Checks the deployment files with the tools that read them, where this machine has the tool:
# the NATS server configurations with the pinned nats-server (`-t`: parse and exit) and the
# systemd unit with `systemd-analyze verify` (the unit's binary path rewritten to a built
# syncbridge, since /usr/local/bin/syncbridge is not installed here), and the Prometheus alert
# rules with `promtool check rules` and their unit tests with `promtool test rules` (Debian:
# `apt-get install prometheus`). A missing tool is
# said, not failed: docs say which files could not be exercised where. (The metric names the
# rules and the Grafana dashboard use are checked against the code by the service's tests.)
#
#   deploy/check.sh SYNCBRIDGE_BINARY
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="$(realpath "${1:?usage: deploy/check.sh SYNCBRIDGE_BINARY}")"
nats_server="$("$root/deploy/local/install-nats.sh" | tail -n 1)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for conf in "$root"/deploy/nats/*.conf; do
  # The store_dir must be creatable by the test run: point it at the scratch directory.
  sed "s#/var/lib/nats#$scratch/store#" "$conf" > "$scratch/$(basename "$conf")"
  "$nats_server" -t -c "$scratch/$(basename "$conf")" >/dev/null 2>"$scratch/nats.err" || {
    echo "deploy/check: $(basename "$conf") refused by nats-server:" >&2
    cat "$scratch/nats.err" >&2
    exit 1
  }
  echo "ok  deploy/nats/$(basename "$conf") (nats-server -t)"
done

if command -v systemd-analyze >/dev/null; then
  unit="$scratch/syncbridge@.service"
  sed "s#/usr/local/bin/syncbridge#$binary#g" "$root/deploy/systemd/syncbridge@.service" > "$unit"
  for role in ingest worker poller; do
    cp "$unit" "$scratch/syncbridge@$role.service"
    out="$(systemd-analyze verify --man=no "$scratch/syncbridge@$role.service" 2>&1 || true)"
    # Users and paths of the target host do not exist here; anything else is a finding.
    problems="$(grep -v -E "User=|Group=|EnvironmentFile|/etc/syncbridge|nats-server.service|Documentation" <<<"$out" | grep -v '^$' || true)"
    if [[ -n "$problems" ]]; then
      echo "deploy/check: syncbridge@$role.service:" >&2
      echo "$problems" >&2
      exit 1
    fi
    echo "ok  deploy/systemd/syncbridge@.service as syncbridge@$role (systemd-analyze verify)"
  done
else
  echo "skip deploy/systemd (no systemd-analyze on this machine)"
fi

if command -v promtool >/dev/null; then
  promtool check rules "$root/deploy/prometheus/alerts.yml" >"$scratch/promtool.out" 2>&1 || {
    echo "deploy/check: deploy/prometheus/alerts.yml refused by promtool:" >&2
    cat "$scratch/promtool.out" >&2
    exit 1
  }
  echo "ok  deploy/prometheus/alerts.yml (promtool check rules)"
  (cd "$root/deploy/prometheus" && promtool test rules alerts_test.yml) >"$scratch/promtool.out" 2>&1 || {
    echo "deploy/check: deploy/prometheus/alerts_test.yml failed:" >&2
    cat "$scratch/promtool.out" >&2
    exit 1
  }
  echo "ok  deploy/prometheus/alerts.yml (promtool test rules alerts_test.yml)"
else
  echo "skipped: promtool not installed (deploy/prometheus/alerts.yml not checked; apt-get install prometheus)"
fi
