#!/usr/bin/env bash
# Smoke test of the BIG-IP simulator scripts (localstack/bigip-sim): two instances at once,
# the pinned JSON output, poke, bigstart/tmsh over the login user's PATH, reboot and stop.
# The driver's own tests (cargo test -p ccaas-device) start their simulators themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIM=localstack/bigip-sim

free_port() {
    local p
    for p in $(shuf -i 20000-60000 -n 50); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo "no free port" >&2; exit 1
}
field() { sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^\",]*\\).*/\\1/p" <<<"$1"; }

p1="$(free_port)"; p2="$(free_port)"
[ "$p1" != "$p2" ] || p2=$((p1 + 1))
cleanup() { "$SIM/down" --port "$p1" --purge || true; "$SIM/down" --port "$p2" --purge || true; }
trap cleanup EXIT

j1="$("$SIM/up" --port "$p1")"
j2="$("$SIM/up" --port "$p2" --plain-module bigd)"
for k in host port username password host_key_sha256 modules root; do
    grep -q "\"$k\":" <<<"$j1" || { echo "FAIL: no $k in $j1"; exit 1; }
done
[ "$(field "$j1" port)" = "$p1" ] && [ "$(field "$j2" port)" = "$p2" ] || { echo "FAIL: ports"; exit 1; }
[ "$(field "$j1" host_key_sha256)" != "$(field "$j2" host_key_sha256)" ] || { echo "FAIL: same host key"; exit 1; }

[ "$("$SIM/poke" --port "$p1" tmm add 2 3)" = "5" ] || { echo "FAIL: poke tmm"; exit 1; }
[ "$("$SIM/poke" --port "$p2" mcpd set a b)" = "stored" ] || { echo "FAIL: poke mcpd"; exit 1; }
# --plain-module: one more daemon, in "plain_modules" and "pids", catching neither SIGUSR1 nor SIGUSR2.
grep -q '"plain_modules":\["bigd"\]' <<<"$j2" || { echo "FAIL: plain_modules in $j2"; exit 1; }
bigd_pid="$(sed -n 's/.*"bigd":\([0-9]*\).*/\1/p' <<<"$j2")"
[ -n "$bigd_pid" ] && [ "$bigd_pid" = "$(cat "$(field "$j2" root)/run/bigd.pid")" ] || { echo "FAIL: pids in $j2"; exit 1; }
[ $(( 0x$(awk '/^SigCgt:/{print $2}' "/proc/$bigd_pid/status") & 0xa00 )) -eq 0 ] || { echo "FAIL: bigd catches USR1/USR2"; exit 1; }
[ "$("$SIM/poke" --port "$p2" bigd echo hi)" = "hi" ] || { echo "FAIL: poke bigd"; exit 1; }

root1="$(field "$j1" root)"; user1="$(field "$j1" username)"
out="$(ssh -i "$root1/client/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -p "$p1" "$user1@127.0.0.1" \
    'cat "$SIM_ROOT/VERSION"; bigstart status; tmsh show sys version' 2>/dev/null)"
grep -q "^Product: BIG-IP" <<<"$out" && grep -q "tmm .*run (pid" <<<"$out" && grep -q "Sys::Version" <<<"$out" \
    || { echo "FAIL: remote commands: $out"; exit 1; }

old_pid="$(cat "$root1/run/tmm.pid")"
"$SIM/reboot" --port "$p1"
[ "$(cat "$root1/run/tmm.pid")" != "$old_pid" ] || { echo "FAIL: reboot kept the tmm pid"; exit 1; }
[ "$("$SIM/poke" --port "$p1" tmm ping)" = "pong" ] || { echo "FAIL: poke after reboot"; exit 1; }

echo "bigip-sim: 7 passed, 0 failed"
