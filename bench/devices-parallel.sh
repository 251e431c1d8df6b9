#!/usr/bin/env bash
# Devices in parallel, measured end to end on the local stack (#11): three "tarpit" devices
# (TCP that accepts and never speaks) and one BIG-IP simulator, all submitted at once to
# ccaas-local, first with CCAAS_DEVICE_CONCURRENCY=4 and then with 1 (one device at a time).
# Also runs the simulator's start alone, as the baseline. Prints one JSON line last:
#   {"handshake_timeout_s", "sim_alone_s", "parallel": {"wall_s", "sim_s", "tarpit_s": [...]},
#    "sequential": {...}}
# where each time is from the submit to the task's terminal status, as the API reports it.
# Needs root (the simulator's sshd). Ports: AWS_ENDPOINT_URL (default 127.0.0.1:4566),
# CCAAS_BENCH_LISTEN (127.0.0.1:3600), CCAAS_BENCH_SIM_PORT (2600). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
listen="${CCAAS_BENCH_LISTEN:-127.0.0.1:3600}"
sim_port="${CCAAS_BENCH_SIM_PORT:-2600}"
state="$repo/localstack/.state"
mkdir -p "$state"

scripts/bootstrap >&2
eval "$(localstack/up)"
sim="$(localstack/bigip-sim/up --port "$sim_port")"
trap 'localstack/bigip-sim/down --port "$sim_port" >/dev/null 2>&1 || true' EXIT
cargo build -q -p ccaas-local >&2
bin="${CARGO_TARGET_DIR:-$repo/target}/debug/ccaas-local"

SIM="$sim" BIN="$bin" LISTEN="$listen" LOG="$state/bench-devices.log" python3 - <<'EOF'
import json, os, socket, subprocess, threading, time, urllib.request

sim = json.loads(os.environ["SIM"])
listen = os.environ["LISTEN"]
api = f"http://{listen}"

# Tarpits: accept, hold, never answer (a device that accepts TCP and never speaks SSH).
held = []
def tarpit():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    def serve():
        while True:
            c, _ = s.accept()
            held.append(c)
    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1]
tarpits = [tarpit() for _ in range(3)]

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")

def task(kind, port, session=None, user="bench"):
    device = {"host": "127.0.0.1", "port": port, "username": sim["username"],
              "password": sim["password"]}
    if port == sim["port"]:
        device["host_key_sha256"] = sim["host_key_sha256"]
    data = {"device": device, "modules": sim["modules"]}
    if session:
        data["session"] = session
    return call("POST", "/v1/tasks", {"name": "bench", "user": user, "type": kind, "data": data})["id"]

def wait(ids, limit=600):
    done, deadline = {}, time.time() + limit
    while len(done) < len(ids):
        if time.time() > deadline:
            raise SystemExit(f"tasks still open after {limit} s: {set(ids) - set(done)}")
        for i in ids:
            if i not in done:
                t = call("GET", f"/v1/tasks/{i}")
                if t["status"] in ("succeeded", "failed"):
                    done[i] = (t, time.time())
        time.sleep(0.1)
    return done

def ccaas_local(concurrency):
    env = dict(os.environ, CCAAS_LISTEN=listen, CCAAS_API_URL=api,
               CCAAS_DEVICE_PROFILE=f"simulator:{sim['root']}",
               CCAAS_DEVICE_CONCURRENCY=str(concurrency),
               # A tarpit's handshake timeout is final at once (no retry window), and the
               # tarpits give no fingerprint, so trust on first use lets them be tried.
               CCAAS_RETRY_WINDOW_SECS="0", CCAAS_HOST_KEY_POLICY="tofu")
    log = open(os.environ["LOG"], "a")
    p = subprocess.Popen([os.environ["BIN"]], env=env, stdout=log, stderr=log)
    for _ in range(300):
        try:
            call("GET", "/v1/tasks?limit=1")
            return p
        except Exception:
            time.sleep(0.1)
    p.kill()
    raise SystemExit("ccaas-local did not start; see " + os.environ["LOG"])

def close(start):
    d = wait([task("code-coverage-discard", sim["port"], session=start)])
    assert all(t["status"] == "succeeded" for t, _ in d.values()), d

def round_(concurrency):
    p = ccaas_local(concurrency)
    try:
        t0 = time.time()
        ids = [task("code-coverage-start", port) for port in tarpits]
        sim_id = task("code-coverage-start", sim["port"])
        submitted = {i: time.time() for i in ids + [sim_id]}
        done = wait(ids + [sim_id])
        wall = max(at for _, at in done.values()) - t0
        sim_task, sim_at = done[sim_id]
        assert sim_task["status"] == "succeeded", sim_task
        for i in ids:
            assert done[i][0]["status"] == "failed", done[i][0]
        close(sim_id)
        return {"wall_s": round(wall, 1), "sim_s": round(sim_at - submitted[sim_id], 1),
                "tarpit_s": [round(done[i][1] - submitted[i], 1) for i in ids],
                "tarpit_codes": sorted({done[i][0]["error"]["code"] for i in ids})}
    finally:
        p.terminate()
        p.wait()

p = ccaas_local(4)
try:
    t0 = time.time()
    sid = task("code-coverage-start", sim["port"])
    d = wait([sid])
    alone = d[sid][1] - t0
    close(sid)
finally:
    p.terminate()
    p.wait()
out = {"handshake_timeout_s": 15, "sim_alone_s": round(alone, 1),
       "parallel": round_(4), "sequential": round_(1)}
print(json.dumps(out))
EOF
