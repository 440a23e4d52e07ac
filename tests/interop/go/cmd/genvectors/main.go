// Command genvectors writes the golden test vectors of the Sigstore KMS plugin
// protocol v1 under a vectors directory (requests/ and responses/).
//
// Every byte in the vectors comes from the reference Go implementation
// (github.com/sigstore/sigstore/pkg/signature/kms/cliplugin): request bytes are
// produced by encoding/json on the reference's wire types and, for the shapes the
// Go client sends, cross-checked against what the real cliplugin client puts on a
// plugin's command line; response verdicts come from decoding with encoding/json
// into the reference's response type, the way the client does.
//
// Usage:
//
//	go run ./cmd/genvectors -out ../../vectors
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	// The generator re-executes itself as a stand-in plugin to capture what the
	// real Go client sends; in that role it must not parse flags.
	if isStubInvocation() {
		os.Exit(runStub())
	}

	out := flag.String("out", "", "vectors directory to write (it gets requests/ and responses/ subdirectories)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: genvectors -out DIR")
		os.Exit(2)
	}
	files, err := generate(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genvectors:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genvectors: wrote %d files under %s\n", len(files), *out)
}
