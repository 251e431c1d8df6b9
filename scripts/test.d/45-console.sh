#!/usr/bin/env bash
# The operations console in headless Chromium (Debian's chromium), on a live stack: a private
# moto, one BIG-IP simulator and ccaas-local, all on free loopback ports. The checks are in
# 45-console.py. With SAVE_SCREENSHOTS=DIR the screenshots are kept there (docs/console-*.png
# were made so); otherwise they are checked for size and dropped.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if ! command -v chromium >/dev/null; then
    echo "45-console: installing chromium"
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium fonts-dejavu-core >/dev/null
fi

# shellcheck source=scripts/lib/free-ports.sh
. scripts/lib/free-ports.sh
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
work="$(mktemp -d /tmp/console-test.XXXXXX)"
local_pid=""
cleanup() {
    if [ -n "$local_pid" ]; then kill "$local_pid" 2>/dev/null || true; fi
    localstack/bigip-sim/down --port "$sim_port" --purge >/dev/null 2>&1 || true
    localstack/down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

eval "$(localstack/up)"
sim="$(localstack/bigip-sim/up --port "$sim_port")"
sim_root="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])' <<<"$sim")"

# The hold: the login's PATH starts with the sim root's bin/, so this pidof (which every start
# runs first) waits while $sim_root/run/hold exists, for at most 50 s (the device's command
# timeout is 60 s). The test creates and removes the file; no sleep races anything.
real_pidof="$(command -v pidof)"
cat >"$sim_root/bin/pidof" <<HOLD
#!/bin/sh
i=0
while [ -e "$sim_root/run/hold" ] && [ \$i -lt 500 ]; do sleep 0.1; i=\$((i + 1)); done
exec $real_pidof "\$@"
HOLD
chmod 0755 "$sim_root/bin/pidof"

cargo build -q -p ccaas-local
api="http://127.0.0.1:$api_port"
CCAAS_LISTEN="127.0.0.1:$api_port" CCAAS_API_URL="$api" CCAAS_DEVICE_PROFILE="simulator:$sim_root" \
    "${CARGO_TARGET_DIR:-$repo/target}/debug/ccaas-local" >"$work/ccaas-local.log" 2>&1 &
local_pid=$!
for _ in $(seq 1 300); do curl -sf -o /dev/null "$api/v1/tasks?limit=1" && break; sleep 0.1; done
curl -sf -o /dev/null "$api/v1/tasks?limit=1" || { tail -20 "$work/ccaas-local.log"; echo "FAIL: ccaas-local did not start"; exit 1; }

shots="${SAVE_SCREENSHOTS:-$work}"
if API="$api" SIM="$sim" SIM_ROOT="$sim_root" SHOTS="$shots" POKE="$repo/localstack/bigip-sim/poke" \
    python3 scripts/test.d/45-console.py; then
    exit 0
fi
echo "--- ccaas-local log (tail)"; tail -30 "$work/ccaas-local.log"
exit 1
