//go:build interop

package interop

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOurCheckCommand: `sigstore-kms check` (our conformance run, a superset of
// the reference's signer_program_test.go checks) passes against the Go
// reference-SDK plugin and against each of ours.
func TestOurCheckCommand(t *testing.T) {
	timed(t)
	dir := scratch(t, "check")
	for _, p := range plugins() {
		if p.why != "" {
			report.skip("sigstore-kms check", p.name, p.why)
			continue
		}
		t.Run(p.name, func(t *testing.T) {
			report.track(t, "sigstore-kms check", p.name)
			out, ok := ours(t, dir, p, "check", "--key", p.uri(filepath.Join(dir, p.name+".pem")))
			if !ok || strings.Contains(out, "FAIL") {
				t.Errorf("sigstore-kms check --key %s:\n%s", p.uri("..."), out)
			}
		})
	}
}
