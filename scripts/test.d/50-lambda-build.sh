#!/usr/bin/env bash
# `cargo lambda build --release` of the three functions (submit, processor, indexer) for x86_64,
# as `sam build` does it (BuildMethod: rust-cargolambda): cargo-lambda comes from PyPI (`pip
# install cargo-lambda` ships the binary), and `--compiler cargo` builds with the host's own
# toolchain, so no zig and no extra Rust target are needed on an x86_64 Debian machine.
# Checks that each function has target/lambda/<binary>/bootstrap, an x86-64 ELF executable
# that the provided.al2023 runtime can load (no glibc symbol newer than AL2023's 2.34).
# arm64: docs/deploy.md.
# The workspace's release profile sets strip, lto, codegen-units and panic, so cargo-lambda adds
# none of its own release settings and this is the build `sam build` makes: stripped, fat LTO,
# one codegen unit (docs/benchmarks.md, "Lambda bootstraps": 17.9, 19.4 and 16.4 MB; about 14
# CPU-minutes from clean for the first two). Each bootstrap must stay within 20 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${CCAAS_VENV:-$(pwd)/.venv}"
"$venv/bin/cargo-lambda" lambda --help >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'cargo-lambda==1.9.2'
target="${CARGO_TARGET_DIR:-$(pwd)/target}"
# no stale binary passes
rm -rf "$target/lambda/ccaas-submit" "$target/lambda/ccaas-processor" "$target/lambda/ccaas-indexer"
PATH="$venv/bin:$PATH" cargo lambda build --release --compiler cargo \
    --x86-64 --locked -p ccaas-submit -p ccaas-processor
# The indexer on its own, as `sam build` builds each function: in one invocation the three
# builds' features are unified (the indexer came out 0.5 MB larger that way).
PATH="$venv/bin:$PATH" cargo lambda build --release --compiler cargo \
    --x86-64 --locked -p ccaas-indexer
# AL2023's glibc; a symbol versioned above it would fail at cold start.
al2023_glibc=2.34
max_bytes=20000000
for fn in ccaas-submit ccaas-processor ccaas-indexer; do
    bin="$target/lambda/$fn/bootstrap"
    [ -f "$bin" ] || { echo "$bin is missing"; exit 1; }
    header="$(readelf -h "$bin")"
    grep -q 'Class: *ELF64' <<<"$header" || { echo "$bin is not a 64-bit ELF"; exit 1; }
    grep -q 'Machine: *Advanced Micro Devices X86-64' <<<"$header" || { echo "$bin is not x86-64"; exit 1; }
    grep -Eq 'Type: *(EXEC|DYN \(Position-Independent Executable)' <<<"$header" ||
        { echo "$bin is not an executable"; exit 1; }
    newest="$(readelf -V "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)"
    if [ "$(printf '%s\n%s\n' "$newest" "$al2023_glibc" | sort -V | tail -1)" != "$al2023_glibc" ]; then
        echo "$bin needs GLIBC_$newest; provided.al2023 has $al2023_glibc (build with zig: docs/deploy.md)"
        exit 1
    fi
    bytes="$(stat -c %s "$bin")"
    [ "$bytes" -le "$max_bytes" ] || { echo "$bin is $bytes bytes, over the $max_bytes budget"; exit 1; }
    echo "$fn: $bytes bytes, x86-64 ELF bootstrap, newest glibc symbol $newest <= $al2023_glibc"
done
echo "lambda build ok"
