#!/usr/bin/env bash
# bench.sh CORPUSDIR [CORPUS...]     (default corpora: sqlite zstd zstdx)
#
# Times `ccaas report` side by side with the peers on corpora built by make-corpus.sh:
#   ccaas      ccaas report BUILD -o OUT            (lcov + Cobertura + summary + badge; markers on)
#   gcov-json  gcov --json-format -b -x ALL.gcda    (bare gcov, one process: the floor)
#   grcov      grcov BUILD -s SRC -t html -o OUT
#   gcovr      gcovr -r SRC BUILD --html-details OUT/index.html -j JOBS
#   lcov       lcov --capture -d BUILD + genhtml    (both steps, one timed command)
# Each corpus: 1 warm-up round, then RUNS (3) rounds; every round runs every tool once, in
# turn, so that drift hits all tools alike. Reports the median wall time and the peak RSS of
# the largest process (/usr/bin/time %M). Writes CORPUSDIR/_bench/{runs.tsv,results.md}.
# Env: RUNS, JOBS, TOOLS, CCAAS, GRCOV, GCOVR.
set -euo pipefail
ROOT=$(cd "${1:?usage: bench.sh CORPUSDIR [CORPUS...]}" && pwd)
shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CORPORA=${*:-"sqlite zstd zstdx"}
RUNS=${RUNS:-3}
JOBS=${JOBS:-$(nproc)}
TOOLS=${TOOLS:-"ccaas gcov-json grcov gcovr lcov"}
CCAAS=${CCAAS:-$HERE/../target/release/ccaas}
GRCOV=${GRCOV:-$(command -v grcov || echo "$HOME/.cargo/bin/grcov")}
GCOVR=${GCOVR:-gcovr}
B=$ROOT/_bench
mkdir -p "$B"
TSV=$B/runs.tsv
printf 'corpus\ttool\trun\twall_s\tmaxrss_kb\texit\n' > "$TSV"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cmd_for() { # CORPUS TOOL OUTDIR -> prints nothing, sets CMD array
  local c=$1 t=$2 o=$3 src=$ROOT/$1/src build=$ROOT/$1/build
  case $t in
    ccaas) CMD=("$CCAAS" report "$build" -o "$o" -q) ;;
    gcov-json) CMD=(bash -c 'cd "$1" && find "$2" -name "*.gcda" | sort | xargs gcov --json-format --branch-probabilities --hash-filenames > /dev/null' _ "$o" "$build") ;;
    grcov) CMD=("$GRCOV" "$build" -s "$src" -t html -o "$o/html") ;;
    gcovr) CMD=("$GCOVR" -r "$src" "$build" --html-details "$o/index.html" -j "$JOBS") ;;
    lcov) CMD=(bash -c 'lcov --quiet --capture --directory "$1" --output-file "$2/cov.info" && genhtml --quiet "$2/cov.info" --output-directory "$2/html"' _ "$build" "$o") ;;
  esac
}

for r in $(seq 0 "$RUNS"); do
  for c in $CORPORA; do
    [ -d "$ROOT/$c/build" ] || { log "skip $c: no build"; continue; }
    for t in $TOOLS; do
      o=$B/$c/$t
      rm -rf "$o"; mkdir -p "$o"
      cmd_for "$c" "$t" "$o"
      log "$c/$t run $r"
      tf=$(mktemp)
      rc=0
      /usr/bin/time -f '%e %M' -o "$tf" "${CMD[@]}" > "$B/$c.$t.log" 2>&1 || rc=$?
      read -r wall rss < <(tail -n 1 "$tf")
      rm -f "$tf"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$t" "$r" "$wall" "$rss" "$rc" >> "$TSV"
    done
  done
done

python3 - "$TSV" "$CORPORA" "$TOOLS" > "$B/results.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
corpora, tools = sys.argv[2].split(), sys.argv[3].split()
def cell(c, t):
    rs = [r for r in rows if r["corpus"] == c and r["tool"] == t and r["run"] != "0"]
    if not rs:
        return None
    w = statistics.median(float(r["wall_s"]) for r in rs)
    m = max(int(r["maxrss_kb"]) for r in rs) / 1024
    bad = any(r["exit"] != "0" for r in rs)
    return w, m, bad, len(rs)
print("| corpus | " + " | ".join(tools) + " |")
print("|---|" + "---|" * len(tools))
for c in corpora:
    out = []
    for t in tools:
        v = cell(c, t)
        out.append("-" if v is None else f"{v[0]:.2f} s / {v[1]:.0f} MiB" + (" (FAILED)" if v[2] else ""))
    print(f"| {c} | " + " | ".join(out) + " |")
print()
print("Ratios of ccaas to each peer (median wall time; peak RSS):")
print()
print("| corpus | " + " | ".join(t for t in tools if t != "ccaas") + " |")
print("|---|" + "---|" * (len(tools) - 1))
for c in corpora:
    me = cell(c, "ccaas")
    out = []
    for t in tools:
        if t == "ccaas":
            continue
        v = cell(c, t)
        out.append("-" if (v is None or me is None) else f"{me[0] / v[0]:.3f}x time, {me[1] / v[1]:.2f}x RSS")
    print(f"| {c} | " + " | ".join(out) + " |")
PY
log "wrote $B/results.md"
cat "$B/results.md"
