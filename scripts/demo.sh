#!/usr/bin/env bash
# The end-to-end demo: a key held by the bundled `sigstore-kms-localkms` plugin signs a file,
# and the signature is verified through the plugin and locally against the public key.
# Usage: scripts/demo.sh DIR-WITH-BINARIES
set -euo pipefail
bin_dir=$(cd "${1:?usage: demo.sh DIR-WITH-BINARIES}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Only our two programs on PATH first (the build directory also holds dep-info files).
mkdir "$work/bin"
ln -s "$bin_dir/sigstore-kms" "$bin_dir/sigstore-kms-localkms" "$work/bin/"
export PATH="$work/bin:$PATH"

key="localkms://$work/demo-key.pem"
if [ -t 1 ]; then say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }; else say() { printf '\n$ %s\n' "$*"; }; fi

say sigstore-kms list
sigstore-kms list

say sigstore-kms generate-key --key "$key" --algorithm ecdsa-p256
sigstore-kms generate-key --key "$key" --algorithm ecdsa-p256 | tee "$work/pub.pem"

echo "hello from sigstore-kms-plugins" > "$work/artifact.txt"
say sigstore-kms sign --key "$key" artifact.txt
sigstore-kms sign --key "$key" "$work/artifact.txt" | tee "$work/artifact.sig"

say sigstore-kms verify --key "$key" --signature artifact.sig artifact.txt "   # through the plugin"
sigstore-kms verify --key "$key" --signature "$work/artifact.sig" "$work/artifact.txt"

say sigstore-kms verify --public-key pub.pem --signature artifact.sig artifact.txt "   # locally, no plugin"
sigstore-kms verify --public-key "$work/pub.pem" --signature "$work/artifact.sig" "$work/artifact.txt"

echo "tampered" >> "$work/artifact.txt"
say "sigstore-kms verify ... (after tampering with the file: must fail)"
if sigstore-kms verify --key "$key" --signature "$work/artifact.sig" "$work/artifact.txt"; then
  echo "demo failed: a tampered file verified" >&2
  exit 1
fi
printf '\ndemo OK: signed and verified through the localkms plugin\n'
