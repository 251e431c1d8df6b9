#!/usr/bin/env bash
# template.yaml's API Gateway routes against docs/openapi.yaml (which Rust tests hold to the code
# and the route table): the same operations, each behind the JWT authorizer when auth is on.
# Reads the two YAML files only (12-api-contract.py says how).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${CCAAS_VENV:-$(pwd)/.venv}"
"$venv/bin/python" -c 'import yaml' >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'PyYAML>=6'
"$venv/bin/python" scripts/test.d/12-api-contract.py
