#!/usr/bin/env bash
# Schemathesis (property-based API testing from docs/openapi.yaml) against a real ccaas-local
# on the running emulator: no server errors, responses conform to the schema, and
# schema-invalid requests are rejected. The queue worker is off, so generated devices are
# never contacted. `positive_data_acceptance` is excluded: a schema cannot say that `next`
# must be a cursor this API made, or that `session` belongs only to end tasks.
# `use_after_free` is excluded: `DELETE /v1/tasks/{id}` cancels a task, it does not remove it;
# the task stays readable as `failed` with `cancelled`, its history kept (docs/api.md). The
# Rust and ccaas-local tests hold that behaviour (cancel twice, 409 once running, 404 unknown).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${CCAAS_VENV:-$(pwd)/.venv}"
"$venv/bin/python" -c 'import schemathesis' >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A private emulator: the tasks schemathesis creates must not queue up for other tests.
export AWS_ENDPOINT_URL="http://127.0.0.1:$(free_port)"
eval "$(localstack/up 2>/dev/null)"
port="$(free_port)"
log="$(mktemp)"
CCAAS_LISTEN="127.0.0.1:$port" CCAAS_LOCAL_WORKER=off "${CARGO_TARGET_DIR:-target}/debug/ccaas-local" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"; localstack/down' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/v1/tasks?limit=1" && break; sleep 0.1; done
# One worker: this CPython 3.11.7 can raise "AST constructor recursion depth mismatch"
# when two threads ast.parse at once (hypothesis does, to describe filter lambdas; its AST
# recursion-depth bookkeeping is shared per interpreter, CPython gh-106905); seen here
# as a schemathesis runtime error with --workers 2.
"$venv/bin/st" run docs/openapi.yaml --url "http://127.0.0.1:$port" \
    --checks all --exclude-checks positive_data_acceptance,use_after_free \
    --max-examples 40 --workers 1 --seed 1 --no-color
if grep -q panicked "$log"; then echo "ccaas-local panicked"; exit 1; fi
