#!/usr/bin/env python3
"""Init time of a Lambda bootstrap: process start to its first `GET .../invocation/next`.

    python3 bench/lambda-init.py [--runs N] BOOTSTRAP [BOOTSTRAP...]

Each run starts BOOTSTRAP with a fake Lambda Runtime API on 127.0.0.1 (an ephemeral port) and
the environment the functions read at init (dummy AWS credentials, region and resource names:
nothing is called before the first event). The clock starts just before the process is spawned
and stops when the runtime asks for its first event: that is the init phase Lambda bills as
"Init Duration", less the sandbox's own setup and the download of the code. The process is then
killed; its peak RSS at that moment (VmHWM) is recorded too. The binary is read from the page
cache after the first run, as on a warm Lambda host; runs alternate between the bootstraps so
that load drift hits all alike. Prints one line per bootstrap: size, median and p90 init time,
median peak RSS.
"""

import argparse
import http.server
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

NEXT = "/2018-06-01/runtime/invocation/next"


class Runtime(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.first_next = threading.Event()
        self.done = threading.Event()
        self.at = None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == NEXT and not self.server.first_next.is_set():
            self.server.at = time.monotonic()
            self.server.first_next.set()
        if self.path != NEXT:
            self.send_error(404)
            return
        # Hold the request open (a closed one would end the runtime): the bench kills the
        # process now.
        self.server.done.wait(timeout=60)

    def do_POST(self):
        # /runtime/init/error: the bootstrap could not start (bad env): record it and fail.
        self.server.init_error = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(202)
        self.end_headers()
        self.server.first_next.set()

    def log_message(self, *args):
        pass


def env_for(port):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TZ", "LANG")}
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "CCAAS_TASKS_TABLE": "tasks",
        "CCAAS_DEVICES_TABLE": "devices",
        "CCAAS_USAGE_TABLE": "usage",
        "CCAAS_QUEUE_URL": "http://127.0.0.1:9/q",
        "CCAAS_HIGH_QUEUE_URL": "http://127.0.0.1:9/qh",
        "CCAAS_BUCKET": "bucket",
        "CCAAS_KMS_KEY": "alias/bench",
        "RUST_LOG": "warn",
    })
    return env


def one_run(bootstrap):
    server = Runtime()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start = time.monotonic()
        proc = subprocess.Popen([bootstrap], env=env_for(server.server_address[1]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = start + 30
        while not server.first_next.wait(timeout=0.01):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"{bootstrap}: no GET {NEXT} (exit status {proc.poll()}): "
                                 f"{proc.communicate()[1].decode(errors='replace')[-2000:]}")
        if server.at is None:
            proc.kill()
            raise SystemExit(f"{bootstrap}: init error {getattr(server, 'init_error', b'')!r}")
        elapsed = server.at - start
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return elapsed, hwm
    finally:
        server.done.set()
        server.shutdown()
        server.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("bootstrap", nargs="+")
    args = ap.parse_args()
    results = {b: [] for b in args.bootstrap}
    for b in args.bootstrap:  # warm-up: page cache, and a check that it starts
        one_run(b)
    for _ in range(args.runs):
        for b in args.bootstrap:
            results[b].append(one_run(b))
    for b, rows in results.items():
        times = sorted(t * 1000 for t, _ in rows)
        p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
        rss = statistics.median(h for _, h in rows) / 1024
        size = os.path.getsize(b) / 1e6
        print(f"{b}: {size:.1f} MB, init median {statistics.median(times):.1f} ms, "
              f"p90 {p90:.1f} ms, peak RSS {rss:.1f} MiB ({len(rows)} runs)")


if __name__ == "__main__":
    sys.exit(main())
