# shellcheck shell=bash
# Sourced by tests/providers/run.sh (with the network): SoftHSM2, the PKCS#11 token the
# sigstore-kms-pkcs11 tests sign with, and OpenSC's pkcs11-tool, which makes keys outside our
# code. Debian packages, installed with apt-get when missing (CI runs as root on a fresh
# machine); every test makes its own SOFTHSM2_CONF and token directory, so nothing here touches
# /etc/softhsm or /var/lib/softhsm.
#
# Exports: PKCS11_MODULE (SoftHSM's module), PKCS11_TOOL, SOFTHSM2_UTIL, and
# SIGSTORE_KMS_PKCS11_TEST_MODULE (the crate's own SoftHSM test runs with it).

pkcs11_setup() {
  local missing=() p
  for p in softhsm2 opensc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
      echo "error: the PKCS#11 tests need SoftHSM2 and OpenSC (missing: ${missing[*]}); install them with your package manager" >&2
      return 1
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
      command -v sudo >/dev/null || { echo "error: installing ${missing[*]} needs root (or sudo)" >&2; return 1; }
      sudo=(sudo -n)
    fi
    local start=$SECONDS
    # Wait for another apt-get (a parallel run) rather than fail on the lock.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq update >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq install -y \
      --no-install-recommends "${missing[@]}" >/dev/null
    echo "installed ${missing[*]} with apt-get in $((SECONDS - start))s" >&2
  else
    echo "softhsm2 and opensc are installed" >&2
  fi
  local module=""
  for p in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
           /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
    [[ -f $p ]] && { module=$p; break; }
  done
  [[ -n $module ]] || module=$(dpkg -L libsofthsm2 2>/dev/null | grep -m1 '/libsofthsm2\.so$' || true)
  if [[ -z $module ]]; then
    echo "error: softhsm2 is installed but its module libsofthsm2.so was not found" >&2
    return 1
  fi
  PKCS11_MODULE=$module
  PKCS11_TOOL=$(command -v pkcs11-tool)
  SOFTHSM2_UTIL=$(command -v softhsm2-util)
  SIGSTORE_KMS_PKCS11_TEST_MODULE=$module
  export PKCS11_MODULE PKCS11_TOOL SOFTHSM2_UTIL SIGSTORE_KMS_PKCS11_TEST_MODULE
  echo "PKCS#11: module $PKCS11_MODULE, $(softhsm2-util --version | head -1 | sed 's/^/SoftHSM /'), $PKCS11_TOOL" >&2
}
pkcs11_setup
unset -f pkcs11_setup
