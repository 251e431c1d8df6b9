#!/usr/bin/env bash
# Dependency policy (RELIABILITY C3, docs/reliability.md):
# - cargo-deny's `advisories`, `licenses`, `bans` and `sources` checks against deny.toml: no
#   crate version with a known vulnerability, no unsound or unmaintained crate (unless deny.toml
#   ignores it with a reason), permissive licenses only, no wildcard versions, crates.io as the
#   only source.
# - Advisories come from deny/advisory-db/, a dated snapshot of the RustSec database reduced to
#   the crates of Cargo.lock (scripts/refresh-advisories writes it; CI cannot reach GitHub). This
#   script builds a throwaway git repository from it where cargo-deny looks for the database and
#   runs cargo-deny with --offline. It fails when Cargo.lock names a crate that has
#   advisories upstream but none in the snapshot, and warns when the snapshot is over 90 days old.
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

# The snapshot must hold the advisories of every crate in Cargo.lock that has any upstream.
snapshot=deny/advisory-db
python3 - "$snapshot" <<'PY'
import datetime
import pathlib
import sys
import tomllib

snap = pathlib.Path(sys.argv[1])
meta = dict(line.split("=", 1) for line in (snap / "SNAPSHOT").read_text().split())
advised = set((snap / "advised-crates.txt").read_text().split())
vendored = {d.name for d in (snap / "crates").iterdir() if d.is_dir()}
with open("Cargo.lock", "rb") as f:
    locked = {p["name"] for p in tomllib.load(f)["package"]}
missing = sorted((locked & advised) - vendored)
if missing:
    print("Cargo.lock has crates with advisories upstream that the snapshot left out:",
          " ".join(missing), "\nrun scripts/refresh-advisories (needs GitHub) and commit",
          snap, file=sys.stderr)
    sys.exit(1)
taken = datetime.datetime.fromisoformat(meta["date"])
age = (datetime.datetime.now(datetime.timezone.utc) - taken).days
print(f"advisory snapshot {meta['commit'][:12]} of {taken.date()} ({age} days old), "
      f"{len(vendored)} crates with advisories")
if age > 90:
    print(f"warning: the advisory snapshot is {age} days old: run scripts/refresh-advisories",
          file=sys.stderr)
PY

# cargo-deny opens the database at <db-path>/<name>-<hash of its URL> and reads the HEAD
# commit's time with git, so the snapshot becomes a one-commit repository there. The directory
# name is cargo-deny's own business: ask it (its debug log names the path it tries to open).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export CCAAS_ADVISORY_DBS="$tmp/dbs"
# --offline: cargo-deny neither fetches the database nor lets cargo metadata reach the network, so
# every crate of Cargo.lock, for all targets, must be in cargo's cache (crates.io is reachable).
cargo fetch --locked --quiet
db="$(cargo deny --offline --locked --log-level debug check advisories 2>&1 |
    sed -n "s/.*Opening advisory database at '\([^']*\)'.*/\1/p" | head -1 || true)"
case "$db" in
"$CCAAS_ADVISORY_DBS"/?*) ;;
*) echo "cargo-deny did not say where it opens the advisory database (got '$db')"; exit 1 ;;
esac
mkdir -p "$db"
cp -R "$snapshot/crates" "$db/crates"
snapshot_date="$(sed -n 's/^date=//p' "$snapshot/SNAPSHOT")"
git -C "$db" init --quiet
git -C "$db" add crates
GIT_AUTHOR_DATE="$snapshot_date" GIT_COMMITTER_DATE="$snapshot_date" \
    git -C "$db" -c user.name=ccaas -c user.email=ccaas@localhost -c commit.gpgsign=false \
    commit --quiet -m "RustSec advisory snapshot of $snapshot_date"

cargo deny --offline --locked check advisories bans licenses sources

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
