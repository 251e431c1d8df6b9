#!/usr/bin/env bash
# The search benchmark (docs/benchmarks.md, "Search"): indexes N generated tasks (default
# 100,000) with ccaas-search's tantivy index, reopens it, and times a mix of queries.
# Usage: bench/search-bench.sh [N] [DIR]. Built in release without fat LTO (cheaper to build;
# the Lambda profile's LTO does not change tantivy's hot loops much).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo run --quiet --release -p ccaas-search --example search_bench -- "$@"
