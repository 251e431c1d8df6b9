#!/usr/bin/env bash
# The HTML report on real corpora (lua, zstd) built here with gcc --coverage:
#   - every relative link (href, src, data-next/prev) and every #anchor resolves to a file of
#     the report, and no link leaves it (no CDN, no absolute URL);
#   - the numbers on the index and on every file page equal the engine's summary.json;
#   - two runs give byte-identical reports;
#   - headless Chromium opens the index and a file page and renders them (screenshots; with
#     SAVE_SCREENSHOTS=DIR they are kept there, as docs/report-*.png were made).
# Installs gcc, python3 and chromium when missing (Debian 12). About 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3)
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "40-report-html: installing ${need[*]}"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}" >/dev/null
fi

cargo build --release -q -p ccaas-cli
CCAAS=${CARGO_TARGET_DIR:-$ROOT/target}/release/ccaas
WORK=$(mktemp -d /tmp/report-html.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail=0

bash bench/make-corpus.sh "$WORK/c" lua zstd 2> "$WORK/build.log" ||
  { tail -30 "$WORK/build.log"; echo "FAIL corpus build"; exit 1; }

for c in lua zstd; do
  "$CCAAS" report "$WORK/c/$c/build" -o "$WORK/$c/a" --no-markers -q
  "$CCAAS" report "$WORK/c/$c/build" -o "$WORK/$c/b" --no-markers -q
  if diff -r -q "$WORK/$c/a" "$WORK/$c/b" | grep -v cobertura.xml; then
    echo "FAIL $c: two runs differ"; fail=1
  else
    echo "ok   $c: two runs give the same bytes (cobertura.xml carries a timestamp)"
  fi
  if python3 scripts/test.d/40-report-check.py "$WORK/$c/a"; then :; else fail=1; fi
done

# Headless Chromium: the pages render (not blank) and the script runs without errors.
shot() { # URL PNG WIDTH,HEIGHT
  local prof
  prof=$(mktemp -d "$WORK/chrome.XXXXXX")
  timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$prof" --hide-scrollbars --virtual-time-budget=3000 \
    --window-size="$3" --screenshot="$2" "$1" > "$WORK/chrome.log" 2>&1 || true
}
lua=$WORK/lua/a
corolib=$(grep -o 'href="f/[0-9]*\.html">lcorolib\.c' "$lua/index.html" | sed 's/href="\(f\/[0-9]*\.html\)".*/\1/')
shot "file://$lua/index.html" "$WORK/report-index.png" 1280,1000
shot "file://$lua/$corolib" "$WORK/report-file.png" 1280,1700
for p in report-index report-file; do
  size=$(stat -c %s "$WORK/$p.png" 2>/dev/null || echo 0)
  # A blank 1280-wide PNG compresses to a few kB; a rendered page is well over 50 kB.
  if [ "$size" -gt 50000 ]; then echo "ok   chromium: $p.png ($size bytes)"; else
    echo "FAIL chromium: $p.png is $size bytes (blank or missing)"; cat "$WORK/chrome.log"; fail=1; fi
done
# The DOM after the script ran: sorting buttons exist and no script error was logged.
prof=$(mktemp -d "$WORK/chrome.XXXXXX")
timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$prof" --enable-logging=stderr --v=0 --virtual-time-budget=3000 \
  --dump-dom "file://$lua/$corolib" > "$WORK/dom.html" 2> "$WORK/console.log" || true
if grep -q 'data-jump="1"' "$WORK/dom.html" && ! grep -i 'Uncaught' "$WORK/console.log"; then
  echo "ok   chromium: file page DOM loaded, no script errors"
else
  echo "FAIL chromium: file page DOM or script error"; grep -i 'uncaught' "$WORK/console.log" | head; fail=1
fi
if [ -n "${SAVE_SCREENSHOTS:-}" ]; then cp "$WORK"/report-*.png "$SAVE_SCREENSHOTS"/; fi

if [ "$fail" != 0 ]; then echo "40-report-html: FAILED"; exit 1; fi
echo "40-report-html: all passed"
