#!/usr/bin/env bash
# template.yaml passes cfn-lint, and its resources, localstack/resources.json and those
# localstack/up created on the running emulator agree (names, keys, GSIs, TTL,
# FIFO/DLQ/redrive, website).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${CCAAS_VENV:-$(pwd)/.venv}"
"$venv/bin/python" -c 'import cfnlint' >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'cfn-lint==1.58.0'
"$venv/bin/cfn-lint" template.yaml
echo "cfn-lint ok"
"$venv/bin/python" localstack/parity_test.py
