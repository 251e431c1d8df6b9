#!/usr/bin/env bash
# Dependency policy (RELIABILITY C3, docs/reliability.md):
# - cargo-deny's `licenses`, `bans` and `sources` checks against deny.toml: permissive licenses
#   only, no wildcard versions, crates.io as the only source. `advisories` is left out: the
#   RustSec database comes from GitHub, which CI cannot reach (run it where you can:
#   `cargo deny check advisories`).
# - Minimum versions in Cargo.lock of crates whose older releases have bugs that matter here:
#   russh >= 0.63.3 (a stalled write ignored its timeout before), tar >= 0.4.36 (archive
#   entries could write outside the target directory before, CVE-2021-38511).
# cargo-deny is installed from crates.io at a pinned version when missing (about 4 minutes of
# build on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
deny_version=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qF "$deny_version"; then
    echo "installing cargo-deny $deny_version ..."
    cargo install --quiet --locked --no-default-features cargo-deny --version "=$deny_version"
fi
cargo deny check bans licenses sources

python3 - <<'PY'
import sys
import tomllib

MINIMUM = {"russh": (0, 63, 3), "tar": (0, 4, 36)}
with open("Cargo.lock", "rb") as f:
    lock = tomllib.load(f)
found = {}
for pkg in lock["package"]:
    if pkg["name"] in MINIMUM:
        v = tuple(int(x) for x in pkg["version"].split("-")[0].split("."))
        found.setdefault(pkg["name"], []).append(v)
bad = []
for name, least in MINIMUM.items():
    versions = found.get(name)
    if not versions:
        bad.append(f"{name} is not in Cargo.lock")
    for v in versions or []:
        if v < least:
            bad.append(f"{name} {'.'.join(map(str, v))} < {'.'.join(map(str, least))}")
if bad:
    print("dependency minimums failed:", *bad, sep="\n  ")
    sys.exit(1)
print("dependency minimums ok:", ", ".join(
    f"{n} {'.'.join(map(str, max(found[n])))} >= {'.'.join(map(str, m))}" for n, m in MINIMUM.items()))
PY
