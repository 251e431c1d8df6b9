#!/usr/bin/env python3
"""Per-line oracle from gcov *text* output (for `llvm-cov gcov`, which has no JSON mode).

usage: oracle_text.py GCOVDIR --lines-out lines.tsv --json-out summary.json

GCOVDIR holds the .gcov files written by, for every .gcda,
    llvm-cov-15 gcov -b -c -l -p -o OBJDIR FILE.gcda      (run inside GCOVDIR)
Each file starts with "-:    0:Source:PATH".  Counts are summed by (PATH, line) over all files
(headers included from several translation units), functions by (PATH, line, name), branches by
(PATH, line, index).  "#####" and "=====" are 0; "-" lines are not instrumented.
Writes the same formats as oracle.py.
"""
import argparse
import collections
import glob
import json
import os
import re
import sys

FN = re.compile(r"^function (\S+) called (\d+) returned")
BR = re.compile(r"^branch\s+(\d+) (taken (\d+)|never executed)")
LN = re.compile(r"^\s*([^:]+):\s*(\d+):")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gcovdir")
    ap.add_argument("--lines-out")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    lines = collections.defaultdict(int)
    funcs = collections.defaultdict(int)
    branches = collections.defaultdict(int)
    for path in sorted(glob.glob(os.path.join(a.gcovdir, "*.gcov"))):
        src = None
        pending = []
        last_line = None
        bi = 0
        with open(path, errors="replace") as fh:
            for raw in fh:
                raw = raw.rstrip("\n")
                m = FN.match(raw)
                if m:
                    pending.append((m.group(1), int(m.group(2))))
                    continue
                m = BR.match(raw)
                if m and last_line is not None:
                    cnt = int(m.group(3)) if m.group(3) is not None else 0
                    branches[(src, last_line, bi)] += cnt
                    bi += 1
                    continue
                if raw.startswith(("call ", "unconditional ")):
                    continue
                m = LN.match(raw)
                if not m:
                    continue
                cnt, ln = m.group(1).strip(), int(m.group(2))
                if ln == 0:
                    rest = raw.split(":", 2)[2] if raw.count(":") >= 2 else ""
                    if rest.startswith("Source:"):
                        src = os.path.normpath(rest[len("Source:"):])
                    continue
                last_line, bi = ln, 0
                for name, c in pending:
                    funcs[(src, ln, name)] += c
                pending = []
                if cnt == "-":
                    continue
                cnt = cnt.rstrip("*")
                lines[(src, ln)] += 0 if cnt in ("#####", "=====") else int(cnt)
    tot = {
        "files": len({k[0] for k in lines}),
        "lines": len(lines),
        "lines_covered": sum(1 for c in lines.values() if c > 0),
        "functions": len(funcs),
        "functions_covered": sum(1 for c in funcs.values() if c > 0),
        "branches": len(branches),
        "branches_taken": sum(1 for c in branches.values() if c > 0),
    }
    if a.lines_out:
        with open(a.lines_out, "w") as fh:
            for (f, ln), c in sorted(lines.items()):
                fh.write(f"{f}\t{ln}\t{c}\n")
    if a.json_out:
        with open(a.json_out, "w") as fh:
            json.dump({"all": tot}, fh, indent=1, sort_keys=True)
    print(f"all files={tot['files']} lines={tot['lines_covered']}/{tot['lines']} "
          f"functions={tot['functions_covered']}/{tot['functions']} branches={tot['branches_taken']}/{tot['branches']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
