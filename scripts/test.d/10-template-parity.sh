#!/usr/bin/env bash
# template.yaml passes cfn-lint, SAM translates it, and its resources, localstack/resources.json
# and those localstack/up created on the running emulator agree (names, env vars, keys, GSIs,
# TTL, SSE, PITR, FIFO/DLQ/redrive, website, public keys, lifecycle, the queue KMS key's alias
# and rotation). Template rules: processor timeout below visibility / 6, event source mappings
# (batch item failures, max concurrency, live alias), canary deployments gated by the error
# alarms, DLQ/error/throttle alarms, one rotated KMS key that every function gets from Globals,
# submit may GenerateDataKey and the processor Decrypt with it, only under the encryption
# context; bucket grants by prefix (submit reads logs/ only, the processor cannot write or
# delete builds/); the report site private at the defaults; ephemeral storage for the caps;
# email: MailFrom (empty = off) reaches both functions, only the processor may ses:SendEmail,
# only as that address, and the emulator has the local sender verified.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${CCAAS_VENV:-$(pwd)/.venv}"
"$venv/bin/python" -c 'import cfnlint, samtranslator' >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'cfn-lint==1.58.0' 'aws-sam-translator==1.115.0'
"$venv/bin/cfn-lint" template.yaml
echo "cfn-lint ok"
"$venv/bin/python" localstack/parity_test.py
