#!/usr/bin/env bash
# Checks the deployment files with the tools that read them, where this machine has the tool:
# the NATS server configurations with the pinned nats-server (`-t`: parse and exit), the
# systemd unit with `systemd-analyze verify` (the unit's binary path rewritten to a built
# syncbridge, since /usr/local/bin/syncbridge is not installed here), and — with the pinned
# linters of deploy/local/install-deploy-tools.sh — the Dockerfile (hadolint), the compose file
# (the compose-spec schema), the Kubernetes manifests (the Kubernetes 1.37 API schemas, strict),
# the NATS Helm values (every key one the chart reads), every YAML file (yamllint), the
# configuration each deployment mounts (the binary's own `config check`, with only the
# environment its secrets provide), the files' agreement on ports, probes and names, and the
# Prometheus configuration, alert rules and their unit tests with promtool
# (deploy/local/install-promtool.sh). A missing tool is said, not failed: docs/deployment.md says
# which files could not be exercised where. (The metric names the rules and the Grafana dashboard
# use are checked against the code by the service's tests.)
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

# --- container, compose, Kubernetes, Prometheus (docs/deployment.md) -----------------------------
tools="$("$root/deploy/local/install-deploy-tools.sh" | tail -n 1)"

"$tools/hadolint" "$root/deploy/docker/Dockerfile"
echo "ok  deploy/docker/Dockerfile (hadolint)"
"$binary" healthcheck --help >/dev/null
echo "ok  the image's HEALTHCHECK command exists (syncbridge healthcheck --help)"

"$tools/yamllint" --strict -c "$root/deploy/local/yamllint.yaml" \
  "$root/deploy/compose" "$root/deploy/k8s" "$root/deploy/prometheus/prometheus.yml"
echo "ok  deploy/compose, deploy/k8s, deploy/prometheus/prometheus.yml (yamllint)"

"$tools/check-jsonschema" --builtin-schema vendor.compose-spec "$root/deploy/compose/compose.yaml" >/dev/null
echo "ok  deploy/compose/compose.yaml (compose-spec schema)"

manifests=()
for f in "$root"/deploy/k8s/*.yaml; do
  case "$(basename "$f")" in kustomization.yaml | nats-values.yaml) ;; *) manifests+=("$f") ;; esac
done
"$tools/kubernetes-validate" --strict --quiet "${manifests[@]}"
echo "ok  deploy/k8s/*.yaml (kubernetes-validate --strict, Kubernetes 1.37 schemas)"

"$tools/python" "$root/deploy/local/check-helm-values.py" \
  "$root/deploy/k8s/vendor/nats-chart-2.12.6-values.yaml" "$root/deploy/k8s/nats-values.yaml"
echo "ok  deploy/k8s/nats-values.yaml (every key is one of the nats chart 2.12.6's values)"

"$tools/python" "$root/deploy/local/check-deploy-files.py" "$root" "$scratch"
echo "ok  ports, probes, secrets, scrape targets and kustomization agree across the files"

# The image's build stage on exactly the files the Dockerfile copies (and .dockerignore lets
# through): the workspace loads from them, and Cargo.lock is complete for the binary, as
# `cargo build --locked` in the image needs (no network: what the tests built is in the cache).
if command -v cargo >/dev/null; then
  mkdir -p "$scratch/context"
  while read -r source; do
    cp -r "$root/$source" "$scratch/context/$source"
  done < "$scratch/docker-context.txt"
  host="$(rustc -vV | sed -n 's/^host: //p')"
  (cd "$scratch/context" && cargo tree --locked --offline -p syncbridge -e normal,build --target "$host" >/dev/null)
  echo "ok  the image's build context loads the workspace, Cargo.lock complete (cargo tree --locked)"
else
  echo "skip the image's build context (no cargo on this machine)"
fi

# The configuration each deployment mounts, read by the binary with exactly the environment
# variables the deployment's secrets provide (example values): a secret the configuration names
# that the deployment does not pass fails here, as it would at the pod's start.
for deployment in compose k8s; do
  mapfile -t vars < "$scratch/$deployment.env"
  env -i "${vars[@]}" "$binary" config check --config "$scratch/$deployment.toml" >/dev/null 2>"$scratch/check.err" || {
    echo "deploy/check: the $deployment configuration is refused by syncbridge config check:" >&2
    cat "$scratch/check.err" >&2
    exit 1
  }
  echo "ok  the $deployment configuration with only its secrets' variables (syncbridge config check)"
done

# The scrape configuration the way Prometheus loads it, with the alert rules it names (the compose
# file mounts deploy/prometheus/alerts.yml at that path), then the rules' own unit tests.
if promtool="$("$root/deploy/local/install-promtool.sh" 2>"$scratch/promtool.err" | tail -n 1)"; then
  sed "s#/etc/prometheus/alerts.yml#$root/deploy/prometheus/alerts.yml#" \
    "$root/deploy/prometheus/prometheus.yml" > "$scratch/prometheus.yml"
  "$promtool" check config "$scratch/prometheus.yml" >"$scratch/promtool.out" 2>&1 || {
    echo "deploy/check: deploy/prometheus/prometheus.yml or alerts.yml refused by promtool:" >&2
    cat "$scratch/promtool.out" >&2
    exit 1
  }
  echo "ok  deploy/prometheus/prometheus.yml with alerts.yml (promtool check config)"
  (cd "$root/deploy/prometheus" && "$promtool" test rules alerts_test.yml) >"$scratch/promtool.out" 2>&1 || {
    echo "deploy/check: deploy/prometheus/alerts_test.yml failed:" >&2
    cat "$scratch/promtool.out" >&2
    exit 1
  }
  echo "ok  deploy/prometheus/alerts.yml (promtool test rules alerts_test.yml)"
else
  cat "$scratch/promtool.err" >&2
  echo "skip deploy/prometheus (promtool could not be installed on this machine)"
fi
