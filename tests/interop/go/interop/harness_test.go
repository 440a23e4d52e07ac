//go:build interop

package interop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

// host is one host program that runs scenarios.
type host struct {
	name string
	argv func(scenarioFile string) []string
	why  string // non-empty: not available, and why
}

func hosts() []host {
	hs := []host{
		{name: "go", argv: func(f string) []string { return []string{filepath.Join(e.goBin, "kmshost"), f} }},
		{name: "rust", argv: func(f string) []string { return []string{e.rustHost, f} }},
		{name: "python", why: e.pythonWhy, argv: func(f string) []string {
			return []string{e.python, filepath.Join(e.repo, "tests", "interop", "hosts", "host.py"), f}
		}},
		{name: "node", why: e.nodeWhy, argv: func(f string) []string {
			return []string{e.node, filepath.Join(e.repo, "tests", "interop", "hosts", "host.js"), f}
		}},
	}
	return hs
}

func hostByName(name string) host {
	for _, h := range hosts() {
		if h.name == name {
			return h
		}
	}
	panic("no host " + name)
}

// plugin is one plugin program, found through dirs on PATH as scheme://.
type plugin struct {
	name   string
	scheme string
	dirs   []string
	why    string
	// ours: one of our plugins (the Go host drives it); else the Go plugin.
	ours bool
}

func plugins() []plugin {
	py := plugin{name: "pysdk", scheme: "pysdk", dirs: []string{e.sdkBin}, why: e.pyPluginWhy, ours: true}
	js := plugin{name: "jssdk", scheme: "jssdk", dirs: []string{e.sdkBin}, ours: true}
	if e.node == "" {
		js.why = "no Node with the package: " + e.nodeWhy
	}
	return []plugin{
		{name: "gokms", scheme: "gokms", dirs: []string{e.goBin}},
		{name: "localkms", scheme: "localkms", dirs: []string{e.ourBin}, ours: true},
		{name: "localkms-via-cli", scheme: "localkms", dirs: []string{e.linkBin}, ours: true},
		py,
		js,
	}
}

func pluginByName(name string) plugin {
	for _, p := range plugins() {
		if p.name == name {
			return p
		}
	}
	panic("no plugin " + name)
}

func (p plugin) uri(ref string) string { return p.scheme + "://" + ref }

// pathWith puts dirs first on the inherited PATH.
func pathWith(dirs ...string) string {
	return strings.Join(append(append([]string{}, dirs...), os.Getenv("PATH")), string(os.PathListSeparator))
}

var seq atomic.Int64

// scratch makes a new directory under the run's scratch directory.
func scratch(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(e.work, fmt.Sprintf("%s-%d", sanitize(name), seq.Add(1)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, s)
}

// hostRun is one run of a host program.
type hostRun struct {
	out           scenario.Output
	stderr        string
	start, finish time.Time
}

// runHost runs scenario sc with host h, with pathDirs first on PATH and extra
// environment variables; it fails the test if the host does not print a
// result for every op.
func runHost(t *testing.T, h host, sc scenario.Scenario, pathDirs []string, extraEnv ...string) hostRun {
	t.Helper()
	dir := scratch(t, "scenario-"+h.name)
	file := filepath.Join(dir, "scenario.json")
	data, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	argv := h.argv(file)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), "PATH="+pathWith(pathDirs...))
	cmd.Env = append(cmd.Env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	run := hostRun{start: time.Now()}
	err = cmd.Run()
	run.finish = time.Now()
	run.stderr = stderr.String()
	if err != nil {
		t.Fatalf("host %s (key %s) failed: %v\nscenario: %s\nstdout: %s\nstderr: %s", h.name, sc.Key, err, file, stdout.String(), tail(run.stderr, 3000))
	}
	if err := json.Unmarshal(stdout.Bytes(), &run.out); err != nil {
		t.Fatalf("host %s printed no result: %v\nstdout: %s\nstderr: %s", h.name, err, stdout.String(), tail(run.stderr, 3000))
	}
	if run.out.Host != h.name || len(run.out.Results) != len(sc.Ops) {
		t.Fatalf("host %s answered for host %q with %d results for %d ops", h.name, run.out.Host, len(run.out.Results), len(sc.Ops))
	}
	for i, r := range run.out.Results {
		if r.Error != nil && r.Error.Kind != "PluginReturned" {
			// Not the plugin's own error: show what the plugin wrote on stderr.
			t.Logf("host %s, key %s, op %d %s: %s\n  stderr of the run (host and plugin):\n%s", h.name, sc.Key, i, r.Op, describe(r), tail(run.stderr, 4000))
			break
		}
	}
	return run
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// describe prints a result for failure messages.
func describe(r scenario.Result) string {
	if r.OK {
		return fmt.Sprintf("ok %s", abbreviate(string(r.Value)))
	}
	if r.Error == nil {
		return "failed without an error"
	}
	return fmt.Sprintf("error kind=%s pluginMessage=%q text=%q", r.Error.Kind, r.Error.PluginMessage, r.Error.Text)
}

func abbreviate(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func valueBytes(t *testing.T, r scenario.Result) []byte {
	t.Helper()
	var b []byte
	if err := json.Unmarshal(r.Value, &b); err != nil {
		t.Fatalf("%s: value %s is not base64: %v", r.Op, r.Value, err)
	}
	return b
}

// ----- the standard scenario ----------------------------------------------------

// Indices of the standard scenario's ops.
const (
	opDefault = iota
	opSupported
	opCreate
	opPublic
	opSign
	opSignDigest
	opVerify
	opVerifyDigestSigAsMessage
	opVerifyDigest
	opVerifyTampered
	opVerifyGarbage
	opCreateUnsupported
	numStandardOps
)

// testMessage is the message every standard scenario signs: 1 MiB + 17 bytes
// of every byte value, streamed from a file.
var testMessage = func() []byte {
	m := make([]byte, 1<<20+17)
	x := uint32(2463534242)
	for i := range m {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		m[i] = byte(x)
	}
	return m
}()

var testDigest = func() []byte { d := sha256.Sum256(testMessage); return d[:] }()

func writeMessage(t *testing.T) (msgFile, tamperedFile string) {
	t.Helper()
	dir := scratch(t, "message")
	msgFile = filepath.Join(dir, "message.bin")
	tamperedFile = filepath.Join(dir, "tampered.bin")
	tampered := bytes.Clone(testMessage)
	tampered[len(tampered)/2] ^= 1
	if err := os.WriteFile(msgFile, testMessage, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tamperedFile, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	return msgFile, tamperedFile
}

func intp(i int) *int { return &i }

// standardScenario calls every method, verifies its own signatures, and makes
// three calls that must fail with the plugin's errorMessage.
func standardScenario(key string, msgFile, tamperedFile string, timeout float64, cryptoSigner bool) scenario.Scenario {
	ops := make([]scenario.Op, numStandardOps)
	ops[opDefault] = scenario.Op{Op: scenario.DefaultAlgorithm}
	ops[opSupported] = scenario.Op{Op: scenario.SupportedAlgorithms}
	ops[opCreate] = scenario.Op{Op: scenario.CreateKey, Algorithm: "ecdsa-p256"}
	ops[opPublic] = scenario.Op{Op: scenario.PublicKey}
	ops[opSign] = scenario.Op{Op: scenario.SignMessage, MessageFile: msgFile}
	ops[opSignDigest] = scenario.Op{Op: scenario.SignDigest, Digest: testDigest, HashFunc: 5, CryptoSigner: cryptoSigner}
	ops[opVerify] = scenario.Op{Op: scenario.VerifySignature, MessageFile: msgFile, SignatureFrom: intp(opSign)}
	ops[opVerifyDigestSigAsMessage] = scenario.Op{Op: scenario.VerifySignature, MessageFile: msgFile, SignatureFrom: intp(opSignDigest)}
	ops[opVerifyDigest] = scenario.Op{Op: scenario.VerifyDigest, Digest: testDigest, HashFunc: 5, SignatureFrom: intp(opSign)}
	ops[opVerifyTampered] = scenario.Op{Op: scenario.VerifySignature, MessageFile: tamperedFile, SignatureFrom: intp(opSign)}
	ops[opVerifyGarbage] = scenario.Op{Op: scenario.VerifySignature, MessageFile: msgFile, Signature: []byte("not a signature")}
	ops[opCreateUnsupported] = scenario.Op{Op: scenario.CreateKey, Algorithm: "no-such-algorithm"}
	return scenario.Scenario{Key: key, HashFunc: 5, TimeoutSeconds: timeout, Ops: ops}
}

// checkStandard checks one run of the standard scenario on its own: every call
// succeeded or failed as it must, both key answers are the same key, and both
// signatures verify locally with it.
func checkStandard(t *testing.T, who string, out scenario.Output) *ecdsa.PublicKey {
	t.Helper()
	res := out.Results
	for i, r := range res {
		mustFail := i == opVerifyTampered || i == opVerifyGarbage || i == opCreateUnsupported
		switch {
		case mustFail && r.OK:
			t.Errorf("%s: op %d %s succeeded; it must fail with the plugin's errorMessage", who, i, r.Op)
		case mustFail && (r.Error == nil || r.Error.Kind != "PluginReturned" || r.Error.PluginMessage == ""):
			t.Errorf("%s: op %d %s: want a PluginReturned error, got %s", who, i, r.Op, describe(r))
		case !mustFail && !r.OK:
			t.Errorf("%s: op %d %s failed: %s", who, i, r.Op, describe(r))
		}
	}
	if t.Failed() {
		return nil
	}
	var def string
	var supported []string
	if json.Unmarshal(res[opDefault].Value, &def) != nil || def == "" {
		t.Errorf("%s: defaultAlgorithm answered %s", who, res[opDefault].Value)
	}
	if json.Unmarshal(res[opSupported].Value, &supported) != nil || len(supported) == 0 {
		t.Errorf("%s: supportedAlgorithms answered %s", who, res[opSupported].Value)
	}
	created, public := valueBytes(t, res[opCreate]), valueBytes(t, res[opPublic])
	if !bytes.Equal(created, public) {
		t.Errorf("%s: createKey and publicKey answered different keys:\n createKey %s\n publicKey %s", who, b64(created), b64(public))
	}
	pub := parseECKey(t, who, public)
	if pub == nil {
		return nil
	}
	for _, i := range []int{opSign, opSignDigest} {
		if sig := valueBytes(t, res[i]); !ecdsa.VerifyASN1(pub, testDigest, sig) {
			t.Errorf("%s: the %s signature does not verify with the public key (Go crypto/ecdsa): %s", who, res[i].Op, b64(sig))
		}
	}
	return pub
}

func parseECKey(t *testing.T, who string, der []byte) *ecdsa.PublicKey {
	t.Helper()
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Errorf("%s: the public key does not parse: %v", who, err)
		return nil
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		t.Errorf("%s: the public key is a %T, want ECDSA", who, k)
		return nil
	}
	return pub
}
