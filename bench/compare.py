#!/usr/bin/env python3
"""Compare an lcov tracefile with gcov's per-line oracle.

usage: compare.py COVERAGE.info ORACLE_LINES.tsv [ORACLE_SUMMARY.json]

ORACLE_LINES.tsv is "path<TAB>line<TAB>count" (oracle.py --lines-out).  Every (file, line)
count must be equal, none missing, none extra.  With the summary (oracle.py --json-out), the
function and branch totals ("all" scope) must be equal too.  Exit 0 when everything matches.
"""
import json
import sys


def read_info(path):
    lines, fn, fnh, br, brh = {}, 0, 0, 0, 0
    sf = None
    with open(path) as fh:
        for raw in fh:
            raw = raw.rstrip("\n")
            if raw.startswith("SF:"):
                sf = raw[3:]
            elif raw.startswith("DA:"):
                ln, cnt = raw[3:].split(",")[:2]
                key = (sf, int(ln))
                lines[key] = lines.get(key, 0) + int(cnt)
            elif raw.startswith("FNF:"):
                fn += int(raw[4:])
            elif raw.startswith("FNH:"):
                fnh += int(raw[4:])
            elif raw.startswith("BRF:"):
                br += int(raw[4:])
            elif raw.startswith("BRH:"):
                brh += int(raw[4:])
    return lines, (fnh, fn), (brh, br)


def main():
    info, oracle = sys.argv[1], sys.argv[2]
    summary = sys.argv[3] if len(sys.argv) > 3 else None
    got, fns, brs = read_info(info)
    want = {}
    with open(oracle) as fh:
        for raw in fh:
            f, ln, c = raw.rstrip("\n").split("\t")
            want[(f, int(ln))] = int(c)
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    diff = [k for k in want if k in got and got[k] != want[k]]
    ok = not missing and not extra and not diff
    print(f"lines: oracle {len(want)}, ours {len(got)}, missing {len(missing)}, extra {len(extra)}, "
          f"count mismatches {len(diff)}")
    for k in (missing[:5] + extra[:5]):
        print("  missing/extra:", k)
    for k in diff[:10]:
        print(f"  mismatch {k[0]}:{k[1]} ours {got[k]} gcov {want[k]}")
    if summary:
        s = json.load(open(summary))["all"]
        wf = (s["functions_covered"], s["functions"])
        wb = (s["branches_taken"], s["branches"])
        wl = (s["lines_covered"], s["lines"])
        gl = (sum(1 for k, c in got.items() if c > 0), len(got))
        print(f"lines {gl[0]}/{gl[1]} (gcov {wl[0]}/{wl[1]}); functions {fns[0]}/{fns[1]} (gcov {wf[0]}/{wf[1]}); "
              f"branches {brs[0]}/{brs[1]} (gcov {wb[0]}/{wb[1]})")
        ok = ok and fns == wf and brs == wb and gl == wl
    print("MATCH" if ok else "DIFFERENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
