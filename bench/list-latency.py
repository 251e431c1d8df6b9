#!/usr/bin/env python3
"""Latency of `GET /v1/tasks` against the raw DynamoDB query it wraps, on the local stack.

Usage (moto and ccaas-local already running, the env of `localstack/up` exported):

    python3 bench/list-latency.py --api http://127.0.0.1:3000 [--tasks 300] [--rounds 40]

It submits `--tasks` tasks through the API (start tasks for made-up devices; run ccaas-local
with CCAAS_LOCAL_WORKER=off so they stay pending and the table stays still), then times,
interleaved round by round so that load drift hits every case alike:

- `raw-20`:  the DynamoDB Query the API's unfiltered list makes (index `by-kind`, newest first,
             Limit 20), POSTed straight to the emulator (no SDK, one kept-alive connection);
- `raw-21`:  the same with Limit 21 (a page and one row more: what the adapter asks now);
- `raw-100`: the same with Limit 100 (the adapter's round size before the fix);
- `api-20`:  `GET /v1/tasks?limit=20` on ccaas-local (one kept-alive connection);
- `api-user-20`: `GET /v1/tasks?limit=20&user=bench` (index `by-user`);
- `api-range-20`: `GET /v1/tasks?limit=20&from=..&to=..` (a date range, when the API has it).

Prints the median and p90 in ms of each. Needs only the Python standard library.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse


def conn_for(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", default=os.environ.get("CCAAS_API", "http://127.0.0.1:3000"))
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    ap.add_argument("--table", default=os.environ.get("CCAAS_TASKS_TABLE", "ccaas-tasks"))
    ap.add_argument("--tasks", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--no-seed", action="store_true", help="time what the table holds")
    args = ap.parse_args()

    api = conn_for(args.api)
    emu = conn_for(args.endpoint)

    def api_get(path):
        api.request("GET", path)
        r = api.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"GET {path}: {r.status} {body[:300]!r}")
        return json.loads(body)

    def raw_query(limit):
        body = json.dumps({
            "TableName": args.table, "IndexName": "by-kind",
            "KeyConditionExpression": "#h = :h",
            "ExpressionAttributeNames": {"#h": "kind"},
            "ExpressionAttributeValues": {":h": {"S": "task"}},
            "ScanIndexForward": False, "Limit": limit,
        })
        emu.request("POST", "/", body, {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.Query",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        })
        r = emu.getresponse()
        out = r.read()
        if r.status != 200:
            sys.exit(f"raw query: {r.status} {out[:300]!r}")
        return json.loads(out)

    if not args.no_seed:
        t0 = time.time()
        for i in range(args.tasks):
            task = {
                "type": "code-coverage-start", "user": "bench", "name": f"bench {i}",
                "data": {"device": {"host": f"10.9.{i // 250}.{i % 250 + 1}", "port": 22,
                                    "username": "root", "password": "bench"},
                         "modules": ["tmm"]},
            }
            api.request("POST", "/v1/tasks", json.dumps(task), {"Content-Type": "application/json"})
            r = api.getresponse()
            b = r.read()
            if r.status != 202:
                sys.exit(f"POST: {r.status} {b[:300]!r}")
        print(f"seeded {args.tasks} tasks in {time.time() - t0:.1f} s", file=sys.stderr)

    first = api_get("/v1/tasks?limit=20")
    total_rows = raw_query(1000)["Count"]
    print(f"table: {total_rows} task rows in by-kind; page of {first['count']}", file=sys.stderr)
    newest = first["collection"][0]["timestamp"] if first["collection"] else None
    cases = {
        "raw-20": lambda: raw_query(20),
        "raw-21": lambda: raw_query(21),
        "raw-100": lambda: raw_query(100),
        "api-20": lambda: api_get("/v1/tasks?limit=20"),
        "api-user-20": lambda: api_get("/v1/tasks?limit=20&user=bench"),
    }
    if newest:
        probe = api.request("GET", "/v1/tasks?limit=1&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z")
        r = api.getresponse()
        r.read()
        if r.status == 200:
            lo = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
            hi = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
            q = urllib.parse.urlencode({"limit": 20, "from": lo, "to": hi})
            cases["api-range-20"] = lambda: api_get(f"/v1/tasks?{q}")
    times = {k: [] for k in cases}
    for _ in range(3):  # warm-up
        for f in cases.values():
            f()
    for _ in range(args.rounds):
        for k, f in cases.items():
            t = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t) * 1000)
    print(f"| case | median ms | p90 ms |")
    print(f"|---|---|---|")
    for k, ts in times.items():
        ts.sort()
        p90 = ts[int(len(ts) * 0.9) - 1]
        print(f"| {k} | {statistics.median(ts):.1f} | {p90:.1f} |")


if __name__ == "__main__":
    main()
