#!/usr/bin/env bash
# A tmm-sized coverage session end to end (issue #15 item 3): generates a C corpus of UNITS
# translation units (bench/scale_corpus.py), builds it with `gcc --coverage -O0`, and serves it
# from the BIG-IP simulator as the one module `tmm`: a start task, then "traffic" (the corpus'
# program runs with GCOV_PREFIX in the module's gcov directory, so its .gcda land where the
# daemon's would, its .gcno beside them), then an end task, all through ccaas-local on the AWS
# emulator. Checks that the report's counts equal gcc's own gcov on a sample of units, and
# prints as its LAST line one JSON object:
#   {"units","lines","archive_mb","end_task_s","collect_s","engine_s","render_s","publish_s","peak_rss_mb"}
# (the stage times from ccaas-local's "stage done" log lines; peak_rss_mb is ccaas-local's
# VmHWM, MiB; archive_mb is the compressed archive, MB).
#
# Usage: bench/session-scale.sh [--small] [--keep]
#   --small  300 units (about 190,000 lines): a minute or two, for CI
#   (default) 5,000 units, 25 functions each: about 3.2 million instrumented lines
#   --keep   keep the generated corpus (in $CCAAS_SCALE_DIR) for the next run
#   --debug  run the debug build of ccaas-local (what `cargo test` already built; CI) rather
#            than building the release one (the numbers to record come from release)
# Environment: CCAAS_SCALE_DIR (a fresh /tmp/ccaas-scale-XXXXXX), CCAAS_LISTEN (127.0.0.1:3790),
# CCAAS_SCALE_SIM_PORT (2790), AWS_ENDPOINT_URL (http://127.0.0.1:4566; an emulator that is
# not answering is started by localstack/up and stopped at the end), CARGO_TARGET_DIR,
# CCAAS_SCALE_RSS_LOG (a file for a timeline of ccaas-local's RSS, "<unix time> <KiB>" every 0.2 s).
# Needs root (the simulator runs sshd), gcc, python3. Exit 1 when a count differs from gcov's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

units=5000; funcs=25; sample=40; keep=no; profile=release
while [ $# -gt 0 ]; do
    case "$1" in
        --small) units=300; sample=20; shift ;;
        --keep) keep=yes; shift ;;
        --debug) profile=debug; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
if [ -n "${CCAAS_SCALE_DIR:-}" ]; then work="$CCAAS_SCALE_DIR"; else
    [ "$keep" = no ] || { echo "--keep needs CCAAS_SCALE_DIR" >&2; exit 2; }
    work="$(mktemp -d /tmp/ccaas-scale-XXXXXX)"
fi
listen="${CCAAS_LISTEN:-127.0.0.1:3790}"
api="http://$listen"
sim_port="${CCAAS_SCALE_SIM_PORT:-2790}"
state="$repo/localstack/.state"
log="$state/ccaas-local-scale-${listen##*:}.log"
mkdir -p "$state" "$work"
say() { echo "== $*" >&2; }
json() { python3 -c "import json,sys; v=json.load(sys.stdin); print($1)"; }

local_pid=""; emulator_started=no
cleanup() {
    if [ -n "$local_pid" ]; then kill "$local_pid" 2>/dev/null || true; wait "$local_pid" 2>/dev/null || true; fi
    localstack/bigip-sim/down --port "$sim_port" --purge >/dev/null 2>&1 || true
    if [ "$emulator_started" = yes ]; then localstack/down >/dev/null 2>&1 || true; fi
    if [ "$keep" = no ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

say "corpus: $units units x $funcs functions in $work"
python3 bench/scale_corpus.py "$work" "$units" "$funcs"
t0=$(date +%s)
make -s -C "$work" -j"$(nproc)" scale >&2
say "built in $(( $(date +%s) - t0 )) s"

say "AWS emulator"
endpoint="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
curl -s -o /dev/null --max-time 2 "$endpoint" || emulator_started=yes
eval "$(AWS_ENDPOINT_URL="$endpoint" localstack/up)"

say "BIG-IP simulator on 127.0.0.1:$sim_port"
sim="$(localstack/bigip-sim/up --port "$sim_port")"
sim_root="$(printf '%s' "$sim" | json 'v["root"]')"
sim_user="$(printf '%s' "$sim" | json 'v["username"]')"

say "building ccaas-local ($profile)"
if [ "$profile" = release ]; then cargo build -q --release -p ccaas-local; else cargo build -q -p ccaas-local; fi
bin="${CARGO_TARGET_DIR:-$repo/target}/$profile/ccaas-local"
CCAAS_LISTEN="$listen" CCAAS_API_URL="$api" CCAAS_DEVICE_PROFILE="simulator:$sim_root" \
    RUST_LOG=info "$bin" >"$log" 2>&1 &
local_pid=$!
if [ -n "${CCAAS_SCALE_RSS_LOG:-}" ]; then # a timeline of ccaas-local's RSS (KiB), every 0.2 s
    (while [ -e "/proc/$local_pid/status" ]; do
        echo "$(date +%s.%N) $(awk '/^VmRSS:/{print $2}' "/proc/$local_pid/status" 2>/dev/null)"; sleep 0.2
    done) >"$CCAAS_SCALE_RSS_LOG" 2>/dev/null &
fi
for _ in $(seq 1 200); do curl -sf -o /dev/null "$api/v1/tasks?limit=1" && break; sleep 0.1; done
curl -sf -o /dev/null "$api/v1/tasks?limit=1" || { echo "ccaas-local did not start; see $log" >&2; exit 1; }

submit() { # TYPE [SESSION] -> task id
    printf '%s' "$sim" | python3 -c '
import json, sys
sim = json.load(sys.stdin)
data = {"device": {"host": sim["host"], "port": sim["port"], "username": sim["username"],
                   "password": sim["password"], "host_key_sha256": sim["host_key_sha256"]},
        "modules": ["tmm"]}
if len(sys.argv) > 2:
    data["session"] = sys.argv[2]
print(json.dumps({"name": "scale", "user": "bench", "type": sys.argv[1], "data": data}))
' "$@" | curl -s -X POST "$api/v1/tasks" -H 'content-type: application/json' --data-binary @- | json 'v["id"]'
}
wait_task() { # ID DEADLINE_SECS -> prints the final task JSON; fails unless it succeeded
    local task status deadline=$(( $(date +%s) + $2 ))
    while :; do
        task="$(curl -s "$api/v1/tasks/$1")"
        status="$(printf '%s' "$task" | json 'v["status"]')"
        case "$status" in succeeded|failed) break ;; esac
        [ "$(date +%s)" -lt "$deadline" ] || { echo "task $1 still $status after $2 s" >&2; exit 1; }
        sleep 0.2
    done
    [ "$status" = succeeded ] || { printf '%s\n' "$task" >&2; echo "task $1 $status; see $log" >&2; exit 1; }
    printf '%s\n' "$task"
}

say "start"
start="$(submit code-coverage-start)"
wait_task "$start" 120 >/dev/null

say "traffic: the corpus' program, its .gcda into the tmm module's gcov directory"
prefix="$sim_root/shared/gcov/tmm"
(cd "$work" && find gen -name '*.gcno' -print0 | while IFS= read -r -d '' n; do
    mkdir -p "$prefix$work/${n%/*}"; cp "$n" "$prefix$work/$n"; done)
cp "$work/main.gcno" "$prefix$work/"
(cd "$work" && GCOV_PREFIX="$prefix" ./scale) || true
chown -R "$sim_user:$sim_user" "$prefix"

say "end"
t_end=$(date +%s.%N)
end="$(submit code-coverage-end "$start")"
result="$(wait_task "$end" 900)"
end_task_s="$(python3 -c "import sys; print(round($(date +%s.%N) - $t_end, 2))")"
peak_kib="$(awk '/^VmHWM:/{print $2}' "/proc/$local_pid/status")"

say "checking the counts against gcov on $sample units"
lcov_url="$(printf '%s' "$result" | json 'v["result"]["files"]["lcov"]')"
case "$lcov_url" in http*) ;; *) lcov_url="$api/site/$lcov_url" ;; esac
curl -sf "$lcov_url" -o "$work/coverage.info"
oracle="$work/oracle"; rm -rf "$oracle"; mkdir -p "$oracle"
step=$(( units / sample )); [ "$step" -ge 1 ] || step=1
picked=()
for ((u = 0; u < units; u += step)); do picked+=("gen/d$(printf '%03d' $((u / 100)))/u$u"); done
for p in "${picked[@]}"; do cp "$prefix$work/$p.gcda" "$work/$p.gcda"; done
(cd "$oracle" && for p in "${picked[@]}"; do
    gcov --json-format -b -o "$work/${p%/*}" "$work/$p.c" >/dev/null 2>&1 || exit 1; done)
python3 - "$work/coverage.info" "$oracle" "${picked[@]}" <<'PY'
import glob, gzip, json, sys
info, oracle, picked = sys.argv[1], sys.argv[2], sys.argv[3:]
want = {p + ".c" for p in picked}
truth = {}
for f in glob.glob(oracle + "/*.gcov.json.gz"):
    for fi in json.load(gzip.open(f, "rt"))["files"]:
        name = next((w for w in want if fi["file"].endswith(w)), None)
        if name:
            for ln in fi["lines"]:
                key = (name, ln["line_number"])
                truth[key] = truth.get(key, 0) + ln["count"]
got, sf = {}, None
for raw in open(info):
    if raw.startswith("SF:"):
        sf = next((w for w in want if raw.strip().endswith(w)), None)
    elif raw.startswith("DA:") and sf:
        ln, cnt = raw[3:].split(",")[:2]
        got[(sf, int(ln))] = got.get((sf, int(ln)), 0) + int(cnt)
files = {k[0] for k in truth}
if len(files) != len(want) or not truth:
    sys.exit(f"gcov gave lines for {len(files)} of {len(want)} sampled units")
bad = [(k, truth.get(k), got.get(k)) for k in sorted(set(truth) | set(got)) if truth.get(k) != got.get(k)]
if bad:
    for k, t, g in bad[:20]:
        print(f"  {k[0]}:{k[1]}: gcov {t}, report {g}", file=sys.stderr)
    sys.exit(f"{len(bad)} of {len(truth)} sampled lines differ from gcov")
print(f"counts equal gcov's on {len(truth)} lines of {len(files)} units", file=sys.stderr)
PY

python3 - "$log" "$end" "$result" "$units" "$end_task_s" "$peak_kib" <<'PY'
import json, sys
log, end, result, units, end_s, peak_kib = sys.argv[1:]
stages, archive = {}, None
for raw in open(log):
    try:
        v = json.loads(raw)
    except ValueError:
        continue
    f = v.get("fields", {})
    tid = f.get("task_id") or (v.get("span") or {}).get("task_id")
    if f.get("message") == "stage done" and tid == end:
        stages[f["stage"]] = f["secs"]
        if f["stage"] == "collect":
            archive = f.get("archive_bytes")
r = json.loads(result)["result"]
missing = [s for s in ("collect", "engine", "render", "publish") if s not in stages]
if missing or archive is None:
    sys.exit(f"ccaas-local's log has no stage timings for {missing or ['collect (archive size)']} of task {end}")
print(json.dumps({
    "units": int(units),
    "lines": r["summary"]["lines"]["total"],
    "archive_mb": round(archive / 1e6, 1),
    "end_task_s": float(end_s),
    "collect_s": round(stages["collect"], 2),
    "engine_s": round(stages["engine"], 2),
    "render_s": round(stages["render"], 2),
    "publish_s": round(stages["publish"], 2),
    "peak_rss_mb": round(int(peak_kib) / 1024),
}))
PY
