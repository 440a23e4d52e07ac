# Sourced by tests/providers/run.sh (and bench/run.py): installs local-kms, the AWS KMS emulator
# the awskms provider tests and benchmark run against, into $INTEROP_CACHE_DIR/bin once, and
# exports LOCAL_KMS_BIN. local-kms listens on every interface, so it only ever runs inside the
# private network namespace of run.sh (loopback only).
LOCAL_KMS_VERSION=${LOCAL_KMS_VERSION:-v0.0.0-20260228092603-2a5e92d09ab6}
LOCAL_KMS_BIN="$INTEROP_CACHE_DIR/bin/local-kms-$LOCAL_KMS_VERSION/local-kms"
if [[ ! -x "$LOCAL_KMS_BIN" ]]; then
  step "building local-kms $LOCAL_KMS_VERSION (once; cached in $INTEROP_CACHE_DIR)"
  _lkms_tmp=$(mktemp -d "$INTEROP_CACHE_DIR/bin/.local-kms-build-XXXXXX")
  (cd "$_lkms_tmp" && GOBIN="$_lkms_tmp" GOTOOLCHAIN=local go install "github.com/nsmithuk/local-kms@$LOCAL_KMS_VERSION" 2>&1 | tail -20) ||
    { rm -rf "$_lkms_tmp"; return 1; }
  mkdir -p "$(dirname "$LOCAL_KMS_BIN")" && mv "$_lkms_tmp/local-kms" "$LOCAL_KMS_BIN" && rm -rf "$_lkms_tmp"
  unset _lkms_tmp
fi
export LOCAL_KMS_BIN
