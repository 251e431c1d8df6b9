#!/usr/bin/env bash
# bench/session-scale.sh --small on free ports with a private emulator: a generated corpus of
# 300 gcc --coverage units served by the simulator as one module, a start, the traffic and an
# end through ccaas-local. Fails when the report's counts differ from gcc's gcov on the
# sampled units (the bench checks that), when a stage timing is missing from the log, or when
# the JSON line does not describe the whole corpus. Uses the debug ccaas-local that the Rust
# tests built. The full size is run by hand (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/free-ports.sh
. scripts/lib/free-ports.sh
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export CCAAS_LISTEN="127.0.0.1:$api_port"
export CCAAS_SCALE_SIM_PORT="$sim_port"
unset CCAAS_SCALE_DIR

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
out="$(bench/session-scale.sh --small --debug 2>"$log")" || {
    tail -n 40 "$log" >&2; echo "FAIL: bench/session-scale.sh --small" >&2; exit 1; }
line="$(tail -n 1 <<<"$out")"
python3 - "$line" <<'PY' || exit 1
import json, sys
v = json.loads(sys.argv[1])
keys = ["units", "lines", "archive_mb", "end_task_s", "collect_s", "engine_s", "render_s", "publish_s", "peak_rss_mb"]
assert list(v) == keys, f"FAIL: keys {list(v)}"
assert v["units"] == 300, f"FAIL: {v['units']} units"
# 300 units of about 637 lines each, and the simulator's own tmm daemon.
assert v["lines"] >= 300 * 600, f"FAIL: only {v['lines']} lines in the report"
assert all(v[k] >= 0 for k in keys), f"FAIL: {v}"
PY
rm -f "localstack/.state/ccaas-local-scale-$api_port.log" "localstack/.state/moto-$moto_port.log"
echo "session-scale --small: $line"
echo "session-scale: 1 passed, 0 failed"
