//go:build interop

package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The reference's own plugin-program tests (signer_program_test.go, build tag
// signer_program). They load the client with SHA-512 and create the key with
// the plugin's default algorithm when the key does not exist.
const signerProgramTests = "^(TestInvokePluginPreBuilt|TestDefaultAlgorithm|TestSupportedAlgorithms|TestCreateKey|TestPublicKey|TestSignMessageVerifySignature)$"

const cliplugin = "github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"

// TestReferenceSignerProgram (check 3): the reference's signer_program_test.go,
// run from the module cache copy of github.com/sigstore/sigstore that this
// module depends on, against our plugins:
//
//	go test -tags=signer_program github.com/sigstore/sigstore/pkg/signature/kms/cliplugin \
//	    -run '^(TestInvokePluginPreBuilt|...)$' -count=1 -args -key-resource-id NAME://KEY
//
// (run inside tests/interop/go, the plugin's directory first on PATH).
func TestReferenceSignerProgram(t *testing.T) {
	timed(t)
	dir := scratch(t, "signer-program")
	cli := filepath.Join(e.ourBin, "sigstore-kms")
	precreate := func(t *testing.T, key, alg string) {
		t.Helper()
		cmd := exec.Command(cli, "generate-key", "--key", "localkms://"+key, "--algorithm", alg)
		cmd.Env = append(os.Environ(), "PATH="+pathWith(e.ourBin))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sigstore-kms generate-key --algorithm %s: %v\n%s", alg, err, out)
		}
	}
	cases := []struct {
		name, plugin, alg string // alg "": the test creates the key with the default algorithm
		// expectFail: the subtests that must fail, and why.
		expectFail []string
		why        string
	}{
		{name: "localkms_default_ecdsa_p256", plugin: "localkms"},
		{name: "localkms_ecdsa_p384", plugin: "localkms", alg: "ecdsa-p384"},
		{name: "localkms_rsa_2048", plugin: "localkms", alg: "rsa-2048"},
		{name: "localkms_ed25519", plugin: "localkms", alg: "ed25519",
			expectFail: []string{"TestSignMessageVerifySignature", "TestSignMessageVerifySignature/digest_only,_empty_message", "TestSignMessageVerifySignature/message_and_digest"},
			why:        "a pure Ed25519 key cannot sign a precomputed digest (docs/plugin-authors.md)"},
		{name: "localkms_via_cli_link", plugin: "localkms-via-cli"},
		{name: "pysdk", plugin: "pysdk"},
		{name: "jssdk", plugin: "jssdk"},
		{name: "gokms_reference_sdk", plugin: "gokms"},
	}
	for _, c := range cases {
		p := pluginByName(c.plugin)
		if p.why != "" {
			report.skip("check 3: reference signer_program_test.go", c.name, p.why)
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			report.track(t, "check 3: reference signer_program_test.go", c.name)
			key := filepath.Join(dir, c.name+".pem")
			if c.alg != "" {
				precreate(t, key, c.alg)
			}
			failed, out := runSignerProgram(t, p, p.uri(key))
			want := slices.Clone(c.expectFail)
			sort.Strings(want)
			if !slices.Equal(failed, want) {
				t.Errorf("plugin %s: failed subtests %q, want %q\n%s", p.name, failed, want, tail(out, 6000))
			} else if len(want) > 0 {
				t.Logf("plugin %s: these fail, as expected (%s): %q", p.name, c.why, want)
			}
		})
	}
}

// runSignerProgram runs the reference tests against uri and returns the names
// of the tests that failed (sorted) and the output.
func runSignerProgram(t *testing.T, p plugin, uri string) ([]string, string) {
	t.Helper()
	cmd := exec.Command("go", "test", "-tags=signer_program", "-count=1", "-json", cliplugin,
		"-run", signerProgramTests, "-args", "-key-resource-id", uri)
	cmd.Dir = filepath.Join(e.repo, "tests", "interop", "go")
	cmd.Env = append(os.Environ(), "PATH="+pathWith(p.dirs...), "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	var failed, passed []string
	var text strings.Builder
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev struct {
			Action, Test, Output string
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			text.WriteString(sc.Text() + "\n")
			continue
		}
		text.WriteString(ev.Output)
		switch {
		case ev.Test == "":
		case ev.Action == "fail":
			failed = append(failed, ev.Test)
		case ev.Action == "pass":
			passed = append(passed, ev.Test)
		}
	}
	if len(passed) == 0 && len(failed) == 0 {
		t.Fatalf("go test %s ran no test: %v\n%s\n%s", cliplugin, runErr, text.String(), stderr.String())
	}
	for _, want := range []string{"TestInvokePluginPreBuilt", "TestDefaultAlgorithm", "TestSupportedAlgorithms", "TestCreateKey", "TestPublicKey", "TestSignMessageVerifySignature"} {
		if !slices.Contains(passed, want) && !slices.Contains(failed, want) {
			t.Errorf("the reference test %s did not run", want)
		}
	}
	sort.Strings(failed)
	return failed, text.String() + stderr.String()
}
