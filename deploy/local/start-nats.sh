#!/usr/bin/env bash
# Starts the pinned nats-server (installed by install-nats.sh) with JetStream, for running
# syncbridge locally. Single node: `sync_interval: always` makes an acknowledged webhook durable on
# disk (DESIGN §4). Runs in the foreground; Ctrl-C stops it.
#
#   NATS_PORT   port to listen on (default 4222; pick another if an old server already runs there)
#   NATS_STORE  JetStream store directory (default <repo>/.tools/nats-store)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
nats_server="$("$root/deploy/local/install-nats.sh" | tail -n 1)"
port="${NATS_PORT:-4222}"
store="${NATS_STORE:-$root/.tools/nats-store}"
mkdir -p "$store"
conf="$(mktemp)"
trap 'rm -f "$conf"' EXIT
cat > "$conf" <<CONF
listen: 127.0.0.1:$port
jetstream {
  store_dir: "$store"
  sync_interval: always
}
CONF
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "start-nats: port $port is in use (an older nats-server?); set NATS_PORT to another port" >&2
  exit 1
fi
echo "start-nats: nats-server on nats://127.0.0.1:$port, store $store" >&2
exec "$nats_server" -c "$conf"
