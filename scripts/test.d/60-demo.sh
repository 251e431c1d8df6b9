#!/usr/bin/env bash
# scripts/demo end to end, on free ports with a private emulator: start, publish the build,
# traffic, end. The demo itself fails unless its report's source page shows the source text;
# this test also fetches that page and checks two lines of tmm.c and their counts, then stops
# the demo with `scripts/demo stop` (its logs are kept under localstack/.state on failure).
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/free-ports.sh
. scripts/lib/free-ports.sh
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export CCAAS_LISTEN="127.0.0.1:$api_port"
export CCAAS_DEMO_SIM_PORT="$sim_port"

log="$(mktemp)"
cleanup() {
    scripts/demo stop >/dev/null 2>&1 || true
    localstack/bigip-sim/down --port "$sim_port" --purge >/dev/null 2>&1 || true
    rm -f "$log"
}
trap cleanup EXIT

out="$(scripts/demo 2>"$log")" || { tail -n 40 "$log" >&2; echo "FAIL: scripts/demo" >&2; exit 1; }
page="$(sed -n 's/^source page: *//p' <<<"$out")"
[ -n "$page" ] || { echo "FAIL: no source page in: $out" >&2; exit 1; }
html="$(curl -sf "$page")" || { echo "FAIL: $page does not answer" >&2; exit 1; }
! grep -q 'source file was not available' <<<"$html" || { echo "FAIL: $page lists only the instrumented lines" >&2; exit 1; }
# Source text with its counts: the demo routes 10.1.2.3 once, so tmm.c's "internal" line ran
# once and its "external via gateway" line never.
counts="$(python3 -c '
import re, sys
html = sys.stdin.read()
rows = re.findall(r"<div class=\"[^\"]*\" id=\"L[0-9]+\"><a href=\"#L[0-9]+\">[0-9]+</a><span class=\"c\">([0-9]+)</span>.*?<code>(.*?)</code></div>", html)
def count(text):
    return next((c for c, code in rows if text in code), "none")
print(count("&quot;internal&quot;"), count("&quot;external via gateway&quot;"))
' <<<"$html")"
[ "$counts" = "1 0" ] || { echo "FAIL: $page: counts of tmm.c's route lines are $counts, not 1 0" >&2; exit 1; }
grep -q "published s3://.*/builds/17.1.0-0.0.16-1234567/sources.tar.gz" "$log" \
    || { echo "FAIL: the demo did not publish the build's sources" >&2; exit 1; }

rm -f "localstack/.state/ccaas-local-$api_port.log" "localstack/.state/moto-$moto_port.log"
echo "demo: 1 passed, 0 failed"
