#!/usr/bin/env bash
# make-oracle.sh CORPUSDIR/NAME GCOV [ROOT]
#
# Writes the per-line oracle NAME/oracle/{lines.tsv,summary.json} for a corpus built by
# make-corpus.sh, with the given gcov:
#   GCOV = gcov | gcov-11 | ...      gcov --json-format -b over every .gcda (and every .gcno
#                                    without one), merged by oracle.py
#   GCOV = "llvm-cov-15 gcov" | ...  llvm-cov gcov -b -c -l -p per .gcda (text), merged by
#                                    oracle_text.py
set -euo pipefail
D=$(cd "${1:?usage: make-oracle.sh CORPUSDIR/NAME GCOV}" && pwd)
GCOV=${2:?gcov command}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$D/oracle
rm -rf "$OUT" "$D/oracle.work"
mkdir -p "$OUT" "$D/oracle.work"
inputs() {
  find "$D/build" -name '*.gcno' | sort | while read -r f; do
    if [ -f "${f%.gcno}.gcda" ]; then echo "${f%.gcno}.gcda"; else echo "$f"; fi
  done
}
cd "$D/oracle.work"
case $GCOV in
  *llvm-cov*)
    # One run per data file; -l -p keep the output names of every (unit, source) pair apart.
    inputs | while read -r f; do
      $GCOV -b -c -l -p -o "$(dirname "$f")" "$f" > /dev/null 2>&1 || true
    done
    python3 "$HERE/oracle_text.py" . --lines-out "$OUT/lines.tsv" --json-out "$OUT/summary.json" ;;
  *)
    inputs | xargs $GCOV --json-format --branch-probabilities --hash-filenames > /dev/null 2>&1
    python3 "$HERE/oracle.py" . --lines-out "$OUT/lines.tsv" --json-out "$OUT/summary.json" ;;
esac
cd "$D" && rm -rf "$D/oracle.work"
