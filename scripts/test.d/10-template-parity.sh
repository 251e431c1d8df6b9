#!/usr/bin/env bash
# The resources of template.yaml, localstack/resources.json and those localstack/up created
# on the running emulator must agree (names, keys, GSIs, TTL, FIFO/DLQ/redrive, website).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${CCAAS_VENV:-$(pwd)/.venv}"
"$venv/bin/python" localstack/parity_test.py
