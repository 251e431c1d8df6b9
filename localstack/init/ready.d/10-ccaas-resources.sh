#!/bin/bash
# LocalStack ready hook: creates the ccaas resources from /opt/ccaas/resources.json with the
# same bootstrap.py that localstack/up runs against moto_server.
set -euo pipefail
py=/opt/code/localstack/.venv/bin/python
[ -x "$py" ] || py=python3
AWS_ENDPOINT_URL=http://localhost:4566 "$py" /opt/ccaas/bootstrap.py >/dev/null
echo "ccaas resources ready"
