#!/usr/bin/env bash
# The impact query's benchmark (docs/benchmarks.md, "Impact query"): generates synthetic
# per-session coverage indexes of one build (SESSIONS x FILES, default 1,000 x 5,000) under DIR,
# then times POST /v1/impact's use case over them (diffs touching 1, 10 and 50 files), reading
# byte ranges from the files as the S3 adapter reads them from the bucket. Prints one JSON line
# per step. Not a timed test.
# Usage: bench/impact.sh [DIR] [SESSIONS] [FILES] [ROUNDS]     (DIR: /tmp/ccaas-impact-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-/tmp/ccaas-impact-bench}"
sessions="${2:-1000}"
files="${3:-5000}"
rounds="${4:-20}"
cargo build --release -q -p ccaas-app --example impact_bench
bin="${CARGO_TARGET_DIR:-target}/release/examples/impact_bench"
if [ ! -d "$dir/index/coverage" ]; then
    "$bin" generate "$dir" "$sessions" "$files"
fi
du -sb "$dir/index/coverage" | awk '{print "{\"index_bytes_on_disk\": " $1 "}"}'
# Cold page cache is not measured (it needs root and hurts the machine's other users): the
# warm-up query reads every touched range once.
"$bin" query "$dir" "$rounds"
