#!/usr/bin/env bash
# End to end tests of the KMS and HSM provider plugins (providers/*) against real local servers:
# what `make test-providers` runs. Extra arguments go to `go test` (e.g. -v, -run TestProviderAWS).
#
# 1. With the network: every server, tool and binary the tests need is installed or built first
#    (tests/providers/setup/*.sh, sourced in name order; each installs into the cache below and
#    exports the paths it made, e.g. LOCAL_KMS_BIN), plus cosign (cached as the interop tests
#    cache it) and the provider plugins.
# 2. Without it: the tests (tests/interop/go/interop/provider_*_test.go, build tags
#    `interop providers`) run in a private network namespace that has only loopback
#    (`unshare -rnm`), so neither a server that binds every interface nor a cloud SDK can reach
#    anything but 127.0.0.1, and no test can ever reach a cloud metadata address. Its own mount
#    namespace maps the fakes' host names (tests/providers/hosts) to 127.0.0.1.
#
# Environment: INTEROP_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/sigstore-kms-plugins),
# INTEROP_COSIGN_VERSION (default v3.1.3), INTEROP_COSIGN_BIN (use this cosign), INTEROP_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
export GOTOOLCHAIN=local
export INTEROP_CACHE_DIR=${INTEROP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sigstore-kms-plugins}
mkdir -p "$INTEROP_CACHE_DIR/bin"

step() { printf '\n==> %s\n' "$*" >&2; }

command -v unshare >/dev/null && unshare -rnm true 2>/dev/null || {
  echo "error: 'unshare -rnm' does not work here; the provider tests need a private network and mount namespace" \
       "(util-linux unshare, user namespaces enabled)" >&2
  exit 1
}

if [[ -z "${INTEROP_COSIGN_BIN:-}" ]]; then
  version=${INTEROP_COSIGN_VERSION:-v3.1.3}
  INTEROP_COSIGN_BIN="$INTEROP_CACHE_DIR/bin/cosign-$version/cosign"
  if [[ ! -x "$INTEROP_COSIGN_BIN" ]]; then
    step "building cosign $version (once; cached in $INTEROP_CACHE_DIR)"
    tmp=$(mktemp -d "$INTEROP_CACHE_DIR/bin/.cosign-build-XXXXXX")
    (cd "$tmp" && GOBIN="$tmp" go install "github.com/sigstore/cosign/v${version#v}/cmd/cosign@$version" 2>&1 | tail -20) ||
      { rm -rf "$tmp"; exit 1; }
    # cosign's module path carries its major version (v3 -> github.com/sigstore/cosign/v3).
    mkdir -p "$(dirname "$INTEROP_COSIGN_BIN")" && mv "$tmp/cosign" "$INTEROP_COSIGN_BIN" && rm -rf "$tmp"
  fi
fi
export INTEROP_COSIGN_BIN

for setup in tests/providers/setup/*.sh; do
  [[ -e "$setup" ]] || continue
  step "setup: $setup"
  # shellcheck disable=SC1090 # each setup script is ours, and exports what it installed
  source "$setup"
done

step "Go modules for the harness"
(cd tests/interop/go && go mod download)

step "provider tests (private network namespace: loopback only)"
summary=$(mktemp)
# The fakes' host names (tests/providers/hosts) resolve to loopback inside the namespace only:
# a private mount namespace gets /etc/hosts plus those lines.
hosts=$(mktemp)
trap 'rm -f "$summary" "$hosts"' EXIT
cat /etc/hosts tests/providers/hosts > "$hosts"
status=0
INTEROP_SUMMARY="$summary" PROVIDERS_HOSTS="$hosts" unshare -rnm bash -c '
  set -euo pipefail
  mount --bind "$PROVIDERS_HOSTS" /etc/hosts
  ip link set lo up
  cd tests/interop/go
  # Nothing may be downloaded from in here: there is no network.
  GOFLAGS=-mod=mod GOPROXY=off go test -tags "interop providers" -count=1 -timeout 30m -run "^TestProvider" ./interop/ "$@"
' bash "$@" || status=$?
cat "$summary" >&2 || true
exit "$status"
