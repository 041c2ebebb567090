#!/usr/bin/env bash
# Installs Prometheus's `promtool` into <repo>/.tools/bin, for deploy/check.sh to check the alert
# rules (`promtool check rules deploy/prometheus/alerts.yml`) the way Prometheus will load them.
#
# Why this way: promtool is neither on PyPI nor on crates.io; Debian's `prometheus` package carries
# it as a static Go binary. `apt-get download` fetches the package without installing it (no root,
# no service started, no dependencies), and only `promtool` is taken out of it. Pinned to
# bookworm's version; idempotent. On a machine without apt it prints nothing and exits 1, and
# deploy/check.sh says the rules were not checked.
#
# Prints the absolute path of the binary on its last line.
set -euo pipefail

PROMETHEUS_DEB_VERSION="${PROMETHEUS_DEB_VERSION:-2.42.0+ds-5+deb12u1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$root/.tools/bin/promtool"

if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -qF "${PROMETHEUS_DEB_VERSION%%+*}"; then
  echo "$bin"
  exit 0
fi
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
  echo "install-promtool: needs apt-get and dpkg-deb (Debian/Ubuntu); install Prometheus's promtool by hand" >&2
  exit 1
}

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# apt downloads as its own _apt user where it can: let it into the scratch directory.
chmod 755 "$scratch"
(cd "$scratch" && apt-get download -qq "prometheus=${PROMETHEUS_DEB_VERSION}" >&2) || {
  echo "install-promtool: apt-get download prometheus=${PROMETHEUS_DEB_VERSION} failed (apt-get update?)" >&2
  exit 1
}
dpkg-deb -x "$scratch"/prometheus_*.deb "$scratch/root"
mkdir -p "$(dirname "$bin")"
install -m 0755 "$scratch/root/usr/bin/promtool" "$bin"
echo "$bin"
