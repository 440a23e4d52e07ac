#!/usr/bin/env bash
# Interop with the Go reference (github.com/sigstore/sigstore) and cosign, both directions.
# What `make test-interop` runs. Extra arguments go to `go test` (e.g. -v, -run TestCosign).
#
# Environment (all optional):
#   INTEROP_BIN_DIR        directory with sigstore-kms and sigstore-kms-localkms (default: cargo build)
#   INTEROP_RUST_HOST      the Rust host program (default: cargo build of tests/interop/rust)
#   INTEROP_PYTHON         Python with sigstore_kms_plugins (default: python, python3, .venv/bin/python)
#   INTEROP_NODE           node (default: node); INTEROP_NODE_PACKAGE: the npm package dir (default: repo root)
#   INTEROP_COSIGN=0       skip cosign; INTEROP_COSIGN_BIN: use this cosign;
#   INTEROP_COSIGN_VERSION cosign to build (default v3.1.3), cached under INTEROP_CACHE_DIR
#                          (default ${XDG_CACHE_HOME:-$HOME/.cache}/sigstore-kms-plugins)
#   INTEROP_KEEP=1         keep the scratch directory
set -euo pipefail
cd "$(dirname "$0")/go"
export GOTOOLCHAIN=local

go vet -tags interop ./...

summary="$(mktemp)"
trap 'rm -f "$summary"' EXIT
status=0
INTEROP_SUMMARY="$summary" go test -tags interop -count=1 -timeout 40m ./interop/ "$@" || status=$?
cat "$summary" >&2 || true
exit "$status"
