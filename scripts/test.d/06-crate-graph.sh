#!/usr/bin/env bash
# docs/design.md's crate graph ("## Crate graph") against the Cargo.toml files, through
# `cargo metadata`: every workspace crate is in the table, with exactly its dependencies on our
# own crates, and the ones only its tests use. Proves first that it can fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo metadata --no-deps --format-version 1 --offline 2>/dev/null >/tmp/ccaas-metadata.$$ ||
    cargo metadata --no-deps --format-version 1 >/tmp/ccaas-metadata.$$
trap 'rm -f /tmp/ccaas-metadata.$$' EXIT
python3 - /tmp/ccaas-metadata.$$ docs/design.md <<'PY'
import json, re, sys

meta = json.load(open(sys.argv[1]))
actual = {}
for p in meta["packages"]:
    ours = [d for d in p["dependencies"] if d["name"].startswith("ccaas-") and d["name"] != p["name"]]
    normal = {d["name"] for d in ours if d["kind"] is None}
    dev = {d["name"] for d in ours if d["kind"] == "dev"} - normal
    actual[p["name"]] = (normal, dev)

def documented(text):
    section = text.split("## Crate graph", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`(ccaas-[\w-]+)`\s*\|([^|]*)\|([^|]*)\|", line)
        if m:
            names = lambda cell: set(re.findall(r"`(ccaas-[\w-]+)`", cell))
            out[m.group(1)] = (names(m.group(2)), names(m.group(3)))
    return out

def problems(doc):
    found = []
    for name in sorted(set(actual) | set(doc)):
        if name not in doc:
            found.append(f"{name} is a workspace crate but not in the graph")
        elif name not in actual:
            found.append(f"{name} is in the graph but not a workspace crate")
        elif doc[name] != actual[name]:
            found.append(f"{name}: the graph says uses {sorted(doc[name][0])}, tests also {sorted(doc[name][1])}; "
                         f"Cargo.toml says {sorted(actual[name][0])}, tests also {sorted(actual[name][1])}")
    return found

doc = documented(open(sys.argv[2]).read())
# Self-check: a dependency added on one side only must be reported.
name = next(iter(sorted(doc)))
mutated = dict(doc)
mutated[name] = (doc[name][0] | {"ccaas-extra"}, doc[name][1])
assert problems(mutated), "the crate-graph check cannot fail"
found = problems(doc)
if found:
    print("docs/design.md crate graph disagrees with Cargo.toml:\n  " + "\n  ".join(found))
    sys.exit(1)
print(f"crate graph ok: {len(doc)} crates agree with Cargo.toml")
PY
