// Command sigstore-kms-gokms is a KMS plugin built on the reference Go SDK
// (github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler): key URIs
// gokms://PATH, with PATH an ECDSA key file shared with our other plugins (see
// internal/softkms). The interop tests drive it with our hosts.
package main

import (
	"os"

	"github.com/sigstore-kms-plugins/interop/internal/softkms"
)

func main() {
	os.Exit(softkms.Serve(os.Args, os.Stdin, os.Stdout))
}
