#!/usr/bin/env python3
"""Checks one HTML report directory written by `ccaas report`:
links and anchors resolve inside the report, and the numbers shown equal summary.json."""
import json
import os
import re
import sys

root = sys.argv[1]
bad = []
pages = {}
for d, _, names in os.walk(root):
    for n in names:
        if n.endswith(".html"):
            p = os.path.join(d, n)
            pages[os.path.relpath(p, root)] = open(p, encoding="utf-8").read()
ids = {p: set(re.findall(r' id="([^"]*)"', h)) for p, h in pages.items()}
links = 0
for page, html in pages.items():
    for link in re.findall(r'(?:href|src|data-next|data-prev)="([^"]*)"', html):
        links += 1
        link = link.replace("&amp;", "&")
        if "://" in link or link.startswith("/"):
            bad.append((page, link, "leaves the report"))
            continue
        target, _, frag = link.partition("#")
        t = page if not target else os.path.normpath(os.path.join(os.path.dirname(page), target))
        if t.startswith(".."):
            bad.append((page, link, "leaves the report"))
        elif not os.path.isfile(os.path.join(root, t)):
            bad.append((page, link, "no such file"))
        elif frag and t.endswith(".html") and frag not in ids.get(t, ()):
            bad.append((page, link, "no such anchor"))

s = json.load(open(os.path.join(root, "summary.json")))
wrong = []


def rows(html):
    return {m[0]: (int(m[1]), int(m[2])) for m in re.findall(
        r'<th scope="row">(Lines|Functions|Branches)</th><td>(\d+)</td><td>(\d+)</td>', html)}


def want(t):
    return {k.capitalize(): (t[k]["hit"], t[k]["total"]) for k in ("lines", "functions", "branches")}


if rows(pages["index.html"]) != want(s["totals"]):
    wrong.append(("index.html", rows(pages["index.html"]), want(s["totals"])))
for i, f in enumerate(s["files"]):
    page = "f/%d.html" % i
    got = rows(pages.get(page, ""))
    if got != want(f):
        wrong.append((page, f["path"], got, want(f)))
    title = re.search(r"<h1>(.*?)</h1>", pages.get(page, ""))
    if not title or not f["path"].endswith(title.group(1).replace("&amp;", "&")):
        wrong.append((page, "heading", title and title.group(1), f["path"]))

name = root
if bad or wrong:
    print("FAIL %s: %d broken links, %d wrong numbers" % (name, len(bad), len(wrong)))
    for b in (bad + wrong)[:20]:
        print("    ", b)
    sys.exit(1)
print("ok   %s: %d pages, %d links and anchors resolve; numbers of index and %d file pages = summary.json"
      % (name, len(pages), links, len(s["files"])))
