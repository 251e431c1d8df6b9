#!/usr/bin/env bash
# Smoke test of the BIG-IP simulator scripts (localstack/bigip-sim): two instances at once,
# the pinned JSON output, poke, bigstart/tmsh over the login user's PATH, reboot and stop, and
# the build each keeps: the notes beside the data (or, with --no-gcno, only in the build
# directory) and every note's source beside it in the build directory, where
# `ccaas build publish` reads them (scripts/demo publishes them so its report shows sources).
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
j2="$("$SIM/up" --port "$p2" --plain-module bigd --no-gcno)"
for k in host port username password host_key_sha256 modules root; do
    grep -q "\"$k\":" <<<"$j1" || { echo "FAIL: no $k in $j1"; exit 1; }
done
if [ "$(field "$j1" port)" != "$p1" ] || [ "$(field "$j2" port)" != "$p2" ]; then echo "FAIL: ports"; exit 1; fi
[ "$(field "$j1" host_key_sha256)" != "$(field "$j2" host_key_sha256)" ] || { echo "FAIL: same host key"; exit 1; }

[ "$("$SIM/poke" --port "$p1" tmm add 2 3)" = "5" ] || { echo "FAIL: poke tmm"; exit 1; }
[ "$("$SIM/poke" --port "$p2" mcpd set a b)" = "stored" ] || { echo "FAIL: poke mcpd"; exit 1; }
# --plain-module: one more daemon, in "plain_modules" and "pids", catching neither SIGUSR1 nor SIGUSR2.
grep -q '"plain_modules":\["bigd"\]' <<<"$j2" || { echo "FAIL: plain_modules in $j2"; exit 1; }
bigd_pid="$(sed -n 's/.*"bigd":\([0-9]*\).*/\1/p' <<<"$j2")"
if [ -z "$bigd_pid" ] || [ "$bigd_pid" != "$(cat "$(field "$j2" root)/run/bigd.pid")" ]; then echo "FAIL: pids in $j2"; exit 1; fi
[ $(( 0x$(awk '/^SigCgt:/{print $2}' "/proc/$bigd_pid/status") & 0xa00 )) -eq 0 ] || { echo "FAIL: bigd catches USR1/USR2"; exit 1; }
[ "$("$SIM/poke" --port "$p2" bigd echo hi)" = "hi" ] || { echo "FAIL: poke bigd"; exit 1; }

# The builds: each daemon's notes and their sources in build_dir/<module>; the notes also under
# the GCOV_PREFIX dirs of the first sim, and nowhere there in the --no-gcno one.
grep -q '"gcno_on_device":true' <<<"$j1" || { echo "FAIL: gcno_on_device in $j1"; exit 1; }
grep -q '"gcno_on_device":false' <<<"$j2" || { echo "FAIL: gcno_on_device in $j2"; exit 1; }
for j in "$j1" "$j2"; do
    root="$(field "$j" root)"; build="$(field "$j" build_dir)"
    [ "$build" = "$root/build" ] || { echo "FAIL: build_dir $build"; exit 1; }
    while read -r m; do
        notes=("$build/$m"/*.gcno)
        if [ ! -f "${notes[0]}" ] || [ "${#notes[@]}" -ne 2 ]; then echo "FAIL: notes of $m in $build/$m"; exit 1; fi
        for n in "${notes[@]}"; do
            [ -s "${n%.gcno}.c" ] || { echo "FAIL: no source ${n%.gcno}.c beside its notes"; exit 1; }
        done
        grep -q 'simd_main(' "$build/$m/$m.c" || { echo "FAIL: $build/$m/$m.c is not $m's source"; exit 1; }
        [ -s "$build/$m/simd.h" ] || { echo "FAIL: no simd.h in $build/$m"; exit 1; }
    done <"$root/etc/modules"
done
[ "$(find "$(field "$j1" root)/shared/gcov" -name '*.gcno' | wc -l)" -eq 4 ] || { echo "FAIL: notes beside the data"; exit 1; }
[ "$(find "$(field "$j2" root)/shared/gcov" -name '*.gcno' | wc -l)" -eq 0 ] || { echo "FAIL: notes on a --no-gcno device"; exit 1; }

root1="$(field "$j1" root)"; user1="$(field "$j1" username)"
out="$(ssh -i "$root1/client/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -p "$p1" "$user1@127.0.0.1" \
    'cat "$SIM_ROOT/VERSION"; bigstart status; tmsh show sys version' 2>/dev/null)"
if ! { grep -q "^Product: BIG-IP" <<<"$out" && grep -q "tmm .*run (pid" <<<"$out" && grep -q "Sys::Version" <<<"$out"; }; then
    echo "FAIL: remote commands: $out"; exit 1
fi

old_pid="$(cat "$root1/run/tmm.pid")"
"$SIM/reboot" --port "$p1"
[ "$(cat "$root1/run/tmm.pid")" != "$old_pid" ] || { echo "FAIL: reboot kept the tmm pid"; exit 1; }
[ "$("$SIM/poke" --port "$p1" tmm ping)" = "pong" ] || { echo "FAIL: poke after reboot"; exit 1; }

echo "bigip-sim: 8 passed, 0 failed"
