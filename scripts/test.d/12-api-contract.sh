#!/usr/bin/env bash
# docs/openapi.yaml against the code and the template: routes (method + path) of the spec, the
# submit router, ccaas-local and template.yaml's API Gateway routes; response schemas, the
# error body and enums against the Rust types. Reads sources only (12-api-contract.py says how).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${CCAAS_VENV:-$(pwd)/.venv}"
"$venv/bin/python" -c 'import yaml' >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'PyYAML>=6'
"$venv/bin/python" scripts/test.d/12-api-contract.py
