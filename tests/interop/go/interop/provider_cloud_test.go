//go:build interop && providers

package interop

// What the tests of the cloud providers against fakes of their services
// (provider_gcpkms_test.go, provider_azurekms_test.go; the fakes are in
// tests/interop/go/fakes) share: building a provider plugin once, the
// network-namespace check, openssl, and looking for secrets in output.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

var (
	cloudBuildMu sync.Mutex
	cloudBuilt   = map[string]string{} // crate -> PATH directory holding its program
)

// cloudPlugin finds (INTEROP_PROVIDER_BIN_DIR: the release program of dist/)
// or builds provider crate sigstore-kms-NAME once and returns it as a plugin
// of scheme NAME, alone in a PATH directory.
func cloudPlugin(t *testing.T, name string) plugin {
	t.Helper()
	cloudBuildMu.Lock()
	defer cloudBuildMu.Unlock()
	program := "sigstore-kms-" + name
	if dir, ok := cloudBuilt[name]; ok {
		if dir == "" {
			t.Fatalf("building %s failed earlier", program)
		}
		return plugin{name: name, scheme: name, dirs: []string{dir}, ours: true}
	}
	cloudBuilt[name] = ""
	start := time.Now()
	exes, how, err := providerPrograms([]string{program}, "--bin", program)
	report.timing(program+": "+how, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	exe := exes[program]
	dir := filepath.Join(e.work, name+"-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, filepath.Join(dir, program)); err != nil {
		t.Fatal(err)
	}
	cloudBuilt[name] = dir
	return plugin{name: name, scheme: name, dirs: []string{dir}, ours: true}
}

// closedPort is 127.0.0.1:PORT where nothing listens (connections are refused).
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// cloudNoSecret fails the test if text shows any of secrets.
func cloudNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s shows a secret (%.6s...):\n%s", what, s, text)
		}
	}
}

// cloudRun runs our CLI against p and returns its output, whether it
// succeeded and how long it took.
func cloudRun(t *testing.T, p plugin, dir string, args ...string) (string, bool, time.Duration) {
	t.Helper()
	start := time.Now()
	out, ok := ours(t, dir, p, args...)
	return out, ok, time.Since(start)
}

// writePEM writes a public key as a PEM file and returns its path.
func writePEM(t *testing.T, dir, name string, der []byte) string {
	t.Helper()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// opensslVerifies checks sig over the file msg with openssl dgst: hash is the
// digest (sha256, ...), pss selects RSA-PSS with a salt as long as the digest.
func opensslVerifies(t *testing.T, pubFile, sigFile, msgFile, hash string, pss bool) (string, bool) {
	t.Helper()
	args := []string{"dgst", "-" + hash, "-verify", pubFile, "-signature", sigFile}
	if pss {
		args = append(args, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest")
	}
	cmd := exec.Command("openssl", append(args, msgFile)...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && bytes.Contains(out, []byte("Verified OK"))
}

// goVerifies checks sig over digest with key, as Go's crypto does.
func goVerifies(key crypto.PublicKey, h crypto.Hash, digest, sig []byte, pss bool) error {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return fmt.Errorf("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		if pss {
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	}
	return fmt.Errorf("key type %T", key)
}

// sameKey reports whether the DER SubjectPublicKeyInfo der is key.
func sameKey(t *testing.T, der []byte, key crypto.PublicKey) bool {
	t.Helper()
	want, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(der, want)
}

// hashOf hashes msg with h.
func hashOf(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// cloudScenario is what every host runs per algorithm: create the key, read
// its public key, sign the message, verify the signature, verify it over the
// tampered message (must fail) and verify a digest signature.
func cloudScenario(uri, alg string, msgFile, tamperedFile string, h crypto.Hash, hashFunc int, remote bool) scenario.Scenario {
	return scenario.Scenario{Key: uri, HashFunc: 5, TimeoutSeconds: 60, RemoteVerification: remote, Ops: []scenario.Op{
		{Op: scenario.CreateKey, Algorithm: alg},
		{Op: scenario.PublicKey},
		{Op: scenario.SignMessage, MessageFile: msgFile},
		{Op: scenario.VerifySignature, MessageFile: msgFile, SignatureFrom: intp(2)},
		{Op: scenario.VerifySignature, MessageFile: tamperedFile, SignatureFrom: intp(2)},
		{Op: scenario.SignDigest, Digest: hashOf(h, testMessage), HashFunc: hashFunc},
		{Op: scenario.VerifyDigest, Digest: hashOf(h, testMessage), HashFunc: hashFunc, SignatureFrom: intp(5)},
	}}
}

// checkCloudScenario checks a run of cloudScenario: every op as it must be,
// the public key is the KMS's, and both signatures verify with Go's crypto and
// the message signature with openssl.
func checkCloudScenario(t *testing.T, who string, out scenario.Output, key crypto.PublicKey, h crypto.Hash, pss bool, dir, msgFile string) {
	t.Helper()
	for i, r := range out.Results {
		mustFail := i == 4
		if mustFail && (r.OK || r.Error == nil || r.Error.Kind != "PluginReturned") {
			t.Errorf("%s: op %d %s (tampered message) must fail with the plugin's errorMessage: %s", who, i, r.Op, describe(r))
		}
		if !mustFail && !r.OK {
			t.Errorf("%s: op %d %s failed: %s", who, i, r.Op, describe(r))
		}
	}
	if t.Failed() {
		return
	}
	created, public := valueBytes(t, out.Results[0]), valueBytes(t, out.Results[1])
	if !bytes.Equal(created, public) || !sameKey(t, public, key) {
		t.Errorf("%s: createKey/publicKey did not answer the KMS's key", who)
	}
	for _, i := range []int{2, 5} {
		sig := valueBytes(t, out.Results[i])
		if err := goVerifies(key, h, hashOf(h, testMessage), sig, pss); err != nil {
			t.Errorf("%s: the %s signature does not verify with Go's crypto: %v", who, out.Results[i].Op, err)
		}
	}
	pubFile := writePEM(t, dir, "pub.pem", public)
	sigFile := filepath.Join(dir, "sig.bin")
	if err := os.WriteFile(sigFile, valueBytes(t, out.Results[2]), 0o644); err != nil {
		t.Fatal(err)
	}
	if text, ok := opensslVerifies(t, pubFile, sigFile, msgFile, strings.ToLower(strings.ReplaceAll(h.String(), "-", "")), pss); !ok {
		t.Errorf("%s: openssl does not verify the signature: %s", who, text)
	}
}

// runDocExamples runs the Python, Node and shell blocks of docs/providers/DOC
// as a user would paste them, with p and our CLI on PATH, in the test's
// environment; secrets must not appear in their output.
func runDocExamples(t *testing.T, doc, section string, p plugin, secrets ...string) {
	t.Helper()
	file := filepath.Join(e.repo, "docs", "providers", doc)
	dir := scratch(t, "docs-"+doc)
	path := pathWith(append(append([]string{}, p.dirs...), e.ourBin)...)
	if e.node != "" {
		// `require('sigstore-kms-plugins')` as in an installed project.
		os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755)
		os.Symlink(e.nodePackage, filepath.Join(dir, "node_modules", "sigstore-kms-plugins"))
	}
	langs := []struct {
		lang, why string
		argv      func(file string) []string
	}{
		{"python", e.pythonWhy, func(f string) []string { return []string{e.python, f} }},
		{"js", e.nodeWhy, func(f string) []string { return []string{e.node, f} }},
		{"sh", "", func(f string) []string { return []string{"bash", "-euo", "pipefail", f} }},
	}
	for _, l := range langs {
		blocks := docBlocks(t, file, l.lang)
		if len(blocks) == 0 {
			t.Errorf("docs/providers/%s has no %s example", doc, l.lang)
		}
		for i, b := range blocks {
			name := fmt.Sprintf("%s_%d", l.lang, i)
			if l.why != "" {
				report.skip(section, name, l.why)
				continue
			}
			t.Run(name, func(t *testing.T) {
				report.track(t, section, name)
				f := filepath.Join(dir, fmt.Sprintf("example-%d.%s", i, l.lang))
				if err := os.WriteFile(f, []byte(b), 0o600); err != nil {
					t.Fatal(err)
				}
				argv := l.argv(f)
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "PATH="+path)
				out, err := cmd.CombinedOutput()
				cloudNoSecret(t, doc+" "+name, string(out), secrets...)
				if err != nil {
					t.Errorf("docs/providers/%s %s failed: %v\n%s", doc, name, err, out)
				}
			})
		}
	}
}
