#!/usr/bin/env bash
# The gcov engine against the compilers' own tools, on real corpora built here:
#   gcc 12   (gcov 12)            lua, zstd, sqlite
#   gcc-11   (gcov-11)            lua, zstd
#   clang-15 (llvm-cov-15 gcov)   lua, zstd
# For each: build the corpus with --coverage, run its workload, produce the oracle with the
# compiler's gcov, run `ccaas report`, and require every (file, line) count and the function
# and branch totals to be equal (bench/compare.py). Also validates cobertura.xml against
# coverage-04.dtd. Installs what it needs (Debian 12). About 4-6 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
for p in gcc-11 clang-15 llvm-15 gcc python3 xmllint; do
  case $p in
    llvm-15) command -v llvm-cov-15 >/dev/null || need+=(llvm-15) ;;
    xmllint) command -v xmllint >/dev/null || need+=(libxml2-utils) ;;
    gcc) command -v gcov >/dev/null || need+=(gcc) ;;
    *) command -v "$p" >/dev/null || need+=("$p") ;;
  esac
done
if [ ${#need[@]} -gt 0 ]; then
  echo "20-gcov-truth: installing ${need[*]}"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}" >/dev/null
fi

cargo build --release -q -p ccaas-cli
CCAAS=${CARGO_TARGET_DIR:-$ROOT/target}/release/ccaas
WORK=$(mktemp -d /tmp/gcov-truth.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail=0

check() { # NAME CC GCOV CORPUS...
  local name=$1 cc=$2 gcov=$3
  shift 3
  local dir=$WORK/$name
  CC=$cc bash bench/make-corpus.sh "$dir" "$@" 2> "$WORK/$name.build.log" ||
    { cat "$WORK/$name.build.log"; echo "FAIL $name: corpus build"; fail=1; return; }
  for c in "$@"; do
    bash bench/make-oracle.sh "$dir/$c" "$gcov" > /dev/null
    "$CCAAS" report "$dir/$c/build" -o "$dir/$c/report" --no-markers -q
    if python3 bench/compare.py "$dir/$c/report/coverage.info" "$dir/$c/oracle/lines.tsv" \
        "$dir/$c/oracle/summary.json" > "$dir/$c/compare.txt"; then
      echo "ok   $name/$c: $(sed -n 2p "$dir/$c/compare.txt")"
    else
      echo "FAIL $name/$c:"; cat "$dir/$c/compare.txt"; fail=1
    fi
    xmllint --noout --nonet --dtdvalid shared/gcov/tests/data/coverage-04.dtd \
      "$dir/$c/report/cobertura.xml" 2> "$dir/$c/xmllint.txt" ||
      { echo "FAIL $name/$c: cobertura.xml is not valid"; grep -v 'failed to load external entity' "$dir/$c/xmllint.txt" | head; fail=1; }
  done
  rm -rf "$dir"
}

check gcc12 gcc gcov lua zstd sqlite
check gcc11 gcc-11 gcov-11 lua zstd
check clang15 clang-15 "llvm-cov-15 gcov" lua zstd
[ "$fail" = 0 ] || { echo "20-gcov-truth: FAILED"; exit 1; }
echo "20-gcov-truth: all corpora equal their compiler's gcov"
