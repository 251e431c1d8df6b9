#!/usr/bin/env bash
# Writes seed inputs for the fuzz target from the committed gcc 12 fixtures: 2-byte
# big-endian length of the notes, then the notes, then the data.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/notes_and_data
for n in ../tests/data/gcc12/*.gcno; do
  d=${n%.gcno}.gcda
  python3 - "$n" "$d" "corpus/notes_and_data/$(basename "${n%.gcno}")" <<'PY'
import sys
n = open(sys.argv[1], "rb").read()
d = open(sys.argv[2], "rb").read()
open(sys.argv[3], "wb").write(len(n).to_bytes(2, "big") + n + d)
PY
done
echo "seeds in $(pwd)/corpus/notes_and_data"
