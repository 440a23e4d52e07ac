//go:build interop && providers

package interop

// sigstore-kms-pkcs11 end to end on a real PKCS#11 implementation, SoftHSM2
// (tests/providers/setup/pkcs11.sh installs it and OpenSC's pkcs11-tool; each
// test makes its own SOFTHSM2_CONF and token directory): keys created through
// the plugin and by pkcs11-tool, signed by the Go, Rust, Python and Node hosts
// and our CLI, verified through the plugin, with OpenSSL and with cosign
// verify-blob on the exported public key; the errors a user meets; 16
// concurrent signatures and 16 concurrent createKey calls on one token;
// `sigstore-kms check`; the list commands; and the crate's own SoftHSM test.
// No output of any command may contain a PIN.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

// Throwaway PINs of the test tokens, distinctive enough that finding one in an
// output is a leak, not a coincidence.
const (
	pkcs11PIN      = "pin-2718-sigstore-test"
	pkcs11WrongPIN = "pin-1414-not-the-pin"
	pkcs11SOPIN    = "so-pin-31415-test"
)

var (
	pkcs11Once sync.Once
	pkcs11Dir  string
	pkcs11Err  error
)

// pkcs11Plugin builds sigstore-kms-pkcs11 once and answers it as a plugin (our
// CLI on PATH too).
func pkcs11Plugin(t *testing.T) plugin {
	t.Helper()
	pkcs11Once.Do(func() {
		start := time.Now()
		exes, how, err := providerPrograms([]string{"sigstore-kms-pkcs11"}, "--bin", "sigstore-kms-pkcs11")
		report.timing("sigstore-kms-pkcs11: "+how, time.Since(start))
		if err != nil {
			pkcs11Err = err
			return
		}
		bin := exes["sigstore-kms-pkcs11"]
		pkcs11Dir = filepath.Join(e.work, "pkcs11bin")
		if err := os.MkdirAll(pkcs11Dir, 0o755); err != nil {
			pkcs11Err = err
			return
		}
		pkcs11Err = os.Symlink(bin, filepath.Join(pkcs11Dir, "sigstore-kms-pkcs11"))
	})
	if pkcs11Err != nil {
		t.Fatal(pkcs11Err)
	}
	return plugin{name: "pkcs11", scheme: "pkcs11", dirs: []string{pkcs11Dir, e.ourBin}, ours: true}
}

// softhsm is one private SoftHSM2 configuration with one initialized token.
type softhsm struct {
	dir, conf, module, token, pinFile string
}

func pkcs11Tool(t *testing.T) string {
	t.Helper()
	for _, v := range []string{os.Getenv("PKCS11_TOOL"), "pkcs11-tool"} {
		if v == "" {
			continue
		}
		if p, err := exec.LookPath(v); err == nil {
			return p
		}
	}
	t.Fatal("pkcs11-tool not found: install OpenSC (tests/providers/setup/pkcs11.sh does, through tests/providers/run.sh)")
	return ""
}

// newSoftHSM makes a SoftHSM2 configuration of its own (SOFTHSM2_CONF for the
// whole test, which the plugin processes inherit) with token `label`.
func newSoftHSM(t *testing.T, label string) *softhsm {
	t.Helper()
	module := os.Getenv("PKCS11_MODULE")
	if module == "" {
		module = "/usr/lib/softhsm/libsofthsm2.so"
	}
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("SoftHSM2's module %s: %v (install softhsm2: tests/providers/setup/pkcs11.sh, run by tests/providers/run.sh)", module, err)
	}
	h := &softhsm{dir: scratch(t, "softhsm-"+label), module: module, token: label}
	if err := os.MkdirAll(filepath.Join(h.dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	h.conf = filepath.Join(h.dir, "softhsm2.conf")
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", filepath.Join(h.dir, "tokens"))
	if err := os.WriteFile(h.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", h.conf)
	util := os.Getenv("SOFTHSM2_UTIL")
	if util == "" {
		util = "softhsm2-util"
	}
	out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--so-pin", pkcs11SOPIN, "--pin", pkcs11PIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, redactPINs(string(out)))
	}
	h.pinFile = filepath.Join(h.dir, "user-pin")
	if err := os.WriteFile(h.pinFile, []byte(pkcs11PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// path is the key reference: token, object, module and the PIN from a file
// (so no PIN is ever in a URI that a failing test prints).
func (h *softhsm) path(object string) string {
	return fmt.Sprintf("token=%s;object=%s?module-path=%s&pin-source=%s", h.token, object, h.module, h.pinFile)
}

// uri is the RFC 7512 form (pkcs11:...), what our hosts take; plugin is the
// pkcs11://... form, what Go's kms.Get takes.
func (h *softhsm) uri(object string) string    { return "pkcs11:" + h.path(object) }
func (h *softhsm) plugin(object string) string { return "pkcs11://" + h.path(object) }

// tool runs pkcs11-tool on the token, logged in.
func (h *softhsm) tool(t *testing.T, args ...string) string {
	t.Helper()
	full := append([]string{"--module", h.module, "--token-label", h.token, "--login", "--pin", pkcs11PIN}, args...)
	out, err := exec.Command(pkcs11Tool(t), full...).CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool %s: %v\n%s", strings.Join(args, " "), err, redactPINs(string(out)))
	}
	return string(out)
}

// externalKey makes a key pair with pkcs11-tool (outside our code) and answers
// its public key as pkcs11-tool exports it (DER SubjectPublicKeyInfo).
func (h *softhsm) externalKey(t *testing.T, keyType, label, id string) []byte {
	t.Helper()
	h.tool(t, "--keypairgen", "--key-type", keyType, "--label", label, "--id", id)
	der := filepath.Join(h.dir, label+".pub.der")
	h.tool(t, "--read-object", "--type", "pubkey", "--id", id, "-o", der)
	data, err := os.ReadFile(der)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func redactPINs(s string) string {
	for _, p := range []string{pkcs11PIN, pkcs11WrongPIN, pkcs11SOPIN} {
		s = strings.ReplaceAll(s, p, "[PIN]")
	}
	return s
}

// noPIN fails the test if out (any output of any program) shows a PIN.
func noPIN(t *testing.T, what, out string) {
	t.Helper()
	for _, p := range []string{pkcs11PIN, pkcs11WrongPIN, pkcs11SOPIN} {
		if strings.Contains(out, p) {
			t.Errorf("%s shows a PIN:\n%s", what, redactPINs(out))
		}
	}
}

// outputOf is everything a host run printed.
func outputOf(run hostRun) string {
	data, _ := json.Marshal(run.out)
	return string(data) + run.stderr
}

func writePub(t *testing.T, dir, name string, der []byte) string {
	t.Helper()
	file := filepath.Join(dir, name+".pub.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// verifyOutside: OpenSSL and cosign verify-blob (with the exported public key)
// accept sig over msgFile and refuse it over tampered.
func verifyOutside(t *testing.T, s *sandbox, p plugin, pubFile string, sig []byte, msgFile, tampered, who string) {
	t.Helper()
	dir := scratch(t, "verify-"+who)
	der := filepath.Join(dir, "sig.der")
	b64File := filepath.Join(dir, "sig.b64")
	if err := os.WriteFile(der, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b64File, []byte(b64(sig)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := cosignBinary(t)
	for _, file := range []string{msgFile, tampered} {
		good := file == msgFile
		out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pubFile, "-signature", der, file).CombinedOutput()
		if good != (err == nil) {
			t.Errorf("%s: openssl dgst -sha256 -verify over %s: %v\n%s", who, filepath.Base(file), err, out)
		}
		cout, ok := s.cosign(t, bin, p, "verify-blob", "--key", pubFile, "--insecure-ignore-tlog", "--signature", b64File, file)
		if good != ok {
			t.Errorf("%s: cosign verify-blob --key PUB over %s: ok=%v\n%s", who, filepath.Base(file), ok, tail(cout, 2000))
		}
	}
}

// TestProviderPKCS11Hosts: each host creates, reads, signs and verifies through
// the plugin (the standard scenario), on a key it creates and on keys
// pkcs11-tool made (EC and RSA); OpenSSL and cosign verify the signatures with
// the exported public key.
func TestProviderPKCS11Hosts(t *testing.T) {
	timed(t)
	p := pkcs11Plugin(t)
	h := newSoftHSM(t, "hosts")
	msgFile, tampered := writeMessage(t)
	s := newSandbox(t)
	dir := scratch(t, "pkcs11-hosts")
	extEC := h.externalKey(t, "EC:secp256r1", "ext-ec", "0e")
	extRSA := h.externalKey(t, "rsa:2048", "ext-rsa", "0f")

	for _, host := range hosts() {
		if host.why != "" {
			report.skip("pkcs11: hosts", host.name, host.why)
			continue
		}
		t.Run(host.name, func(t *testing.T) {
			report.track(t, "pkcs11: hosts", host.name)
			// The Go reference host needs NAME://REF; ours take RFC 7512's pkcs11:REF.
			key := h.uri("made-by-" + host.name)
			if host.name == "go" {
				key = h.plugin("made-by-" + host.name)
			}
			run := runHost(t, host, standardScenario(key, msgFile, tampered, 120, host.name == "go"), p.dirs)
			noPIN(t, "host "+host.name, outputOf(run))
			if checkStandard(t, "host="+host.name+" pkcs11", run.out) == nil {
				return
			}
			pubDER := valueBytes(t, run.out.Results[opPublic])
			pubFile := writePub(t, dir, host.name, pubDER)
			verifyOutside(t, s, p, pubFile, valueBytes(t, run.out.Results[opSign]), msgFile, tampered, host.name+" signMessage")
			verifyOutside(t, s, p, pubFile, valueBytes(t, run.out.Results[opSignDigest]), msgFile, tampered, host.name+" signDigest")

			// The keys pkcs11-tool made: createKey must not replace them, publicKey is
			// what pkcs11-tool exports, signatures verify everywhere.
			for _, ext := range []struct {
				label string
				der   []byte
			}{{"ext-ec", extEC}, {"ext-rsa", extRSA}} {
				key := h.uri(ext.label)
				if host.name == "go" {
					key = h.plugin(ext.label)
				}
				sc := scenario.Scenario{Key: key, HashFunc: 5, TimeoutSeconds: 120, Ops: []scenario.Op{
					{Op: scenario.CreateKey, Algorithm: "ecdsa-p384"},
					{Op: scenario.PublicKey},
					{Op: scenario.SignMessage, MessageFile: msgFile},
					{Op: scenario.VerifySignature, MessageFile: msgFile, SignatureFrom: intp(2)},
					{Op: scenario.SignDigest, Digest: testDigest, HashFunc: 5},
					{Op: scenario.VerifyDigest, Digest: testDigest, HashFunc: 5, SignatureFrom: intp(4)},
					{Op: scenario.VerifySignature, MessageFile: tampered, SignatureFrom: intp(2)},
				}}
				run := runHost(t, host, sc, p.dirs)
				noPIN(t, "host "+host.name, outputOf(run))
				for i, r := range run.out.Results {
					if (i == 6) == r.OK {
						t.Errorf("%s, %s: op %d %s: %s", host.name, ext.label, i, r.Op, describe(r))
					}
				}
				if t.Failed() {
					continue
				}
				for _, i := range []int{0, 1} {
					if got := valueBytes(t, run.out.Results[i]); !bytes.Equal(got, ext.der) {
						t.Errorf("%s, %s: %s answers another key than pkcs11-tool exports:\n got  %s\n want %s", host.name, ext.label, run.out.Results[i].Op, b64(got), b64(ext.der))
					}
				}
				pubFile := writePub(t, dir, host.name+"-"+ext.label, ext.der)
				for _, i := range []int{2, 4} {
					sig := valueBytes(t, run.out.Results[i])
					checkGoVerifies(t, ext.der, sig, host.name+" "+ext.label)
					verifyOutside(t, s, p, pubFile, sig, msgFile, tampered, host.name+" "+ext.label+" "+run.out.Results[i].Op)
				}
			}
		})
	}

	// cosign's own PKCS#11 support (its pkcs11: keys) needs a cgo build with the
	// pkcs11key tag; the go-installed cosign has not got it, and it claims both
	// pkcs11: and pkcs11:// before any KMS plugin is looked up.
	out, ok := s.cosign(t, cosignBinary(t), p, "sign-blob", "--yes", "--key", h.uri("made-by-rust"), "--tlog-upload=false",
		"--use-signing-config=false", "--new-bundle-format=false", "--output-signature", filepath.Join(dir, "cosign.sig"), msgFile)
	noPIN(t, "cosign sign-blob", out)
	if ok {
		report.finding("cosign " + defaultCosignVersion + " signed with a pkcs11: key itself: this build has PKCS#11 support")
	} else {
		report.note("cosign pkcs11:", "cosign "+defaultCosignVersion+" (go install, no pkcs11key build tag) refuses pkcs11: keys ("+lastLine([]byte(out))+"); its signatures of our keys are checked with the exported public key instead")
	}
}

// checkGoVerifies: Go's crypto verifies sig over testMessage (SHA-256) with the
// SubjectPublicKeyInfo der (ECDSA or RSA PKCS#1 v1.5).
func checkGoVerifies(t *testing.T, der, sig []byte, who string) {
	t.Helper()
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	digest := sha256.Sum256(testMessage)
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			t.Errorf("%s: Go's crypto/ecdsa refuses the signature", who)
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, 5, digest[:], sig); err != nil {
			t.Errorf("%s: Go's crypto/rsa refuses the signature: %v", who, err)
		}
	default:
		t.Errorf("%s: unexpected key type %T", who, k)
	}
}

// TestProviderPKCS11Errors: a wrong PIN, no PIN, a missing object, token or
// module each answer a clear errorMessage, through every host; no output shows
// a PIN, not even one given in the URI (pin-value), nor in a mistyped URI.
func TestProviderPKCS11Errors(t *testing.T) {
	timed(t)
	p := pkcs11Plugin(t)
	h := newSoftHSM(t, "errors")
	msgFile, _ := writeMessage(t)
	if out, ok := ours(t, h.dir, p, "generate-key", "--key", h.uri("present")); !ok {
		t.Fatalf("generate-key: %s", redactPINs(out))
	}
	wrongPIN := filepath.Join(h.dir, "wrong-pin")
	if err := os.WriteFile(wrongPIN, []byte(pkcs11WrongPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ref string
		want      []string
	}{
		{"wrong PIN", fmt.Sprintf("token=errors;object=present?module-path=%s&pin-source=%s", h.module, wrongPIN),
			[]string{`wrong PIN for token "errors"`, "pin-source " + wrongPIN}},
		{"no PIN", fmt.Sprintf("token=errors;object=present?module-path=%s", h.module),
			[]string{"needs the user PIN", "pin-source="}},
		{"missing object", fmt.Sprintf("token=errors;object=absent?module-path=%s&pin-source=%s", h.module, h.pinFile),
			[]string{`no private key object "absent" on token "errors"`, "list-keys"}},
		{"missing token", fmt.Sprintf("token=elsewhere;object=present?module-path=%s&pin-source=%s", h.module, h.pinFile),
			[]string{`no token matches token="elsewhere"`, `"errors"`}},
		{"missing module", fmt.Sprintf("token=errors;object=present?module-path=/nonexistent/libnope.so&pin-source=%s", h.pinFile),
			[]string{"PKCS#11 module /nonexistent/libnope.so", "No such file", h.module}},
		{"not a module", fmt.Sprintf("token=errors;object=present?module-path=%s&pin-source=%s", h.conf, h.pinFile),
			[]string{"cannot load the PKCS#11 module " + h.conf}},
		{"no module at all", fmt.Sprintf("token=errors;object=present?pin-source=%s", h.pinFile),
			[]string{"no PKCS#11 module", "SIGSTORE_KMS_PKCS11_MODULE"}},
	}
	for _, host := range hosts() {
		if host.why != "" {
			report.skip("pkcs11: errors", host.name, host.why)
			continue
		}
		t.Run(host.name, func(t *testing.T) {
			report.track(t, "pkcs11: errors", host.name)
			for _, c := range cases {
				key := "pkcs11:" + c.ref
				if host.name == "go" {
					key = "pkcs11://" + c.ref
				}
				sc := scenario.Scenario{Key: key, HashFunc: 5, TimeoutSeconds: 60, Ops: []scenario.Op{{Op: scenario.SignMessage, MessageFile: msgFile}}}
				run := runHost(t, host, sc, p.dirs, "SIGSTORE_KMS_PKCS11_MODULE=", "COSIGN_PKCS11_MODULE_PATH=")
				noPIN(t, host.name+" "+c.name, outputOf(run))
				r := run.out.Results[0]
				if r.OK || r.Error == nil || r.Error.Kind != "PluginReturned" {
					t.Errorf("%s, %s: want the plugin's errorMessage, got %s", host.name, c.name, describe(r))
					continue
				}
				for _, w := range c.want {
					if !strings.Contains(r.Error.PluginMessage, w) {
						t.Errorf("%s, %s: the errorMessage lacks %q: %s", host.name, c.name, w, r.Error.PluginMessage)
					}
				}
			}
		})
	}

	t.Run("pin_value_is_never_shown", func(t *testing.T) {
		report.track(t, "pkcs11: errors", "pin-value never shown (CLI, check, Python, Node)")
		withValue := func(object, pin string) string {
			return fmt.Sprintf("pkcs11:token=errors;object=%s?module-path=%s&pin-value=%s", object, h.module, pin)
		}
		out, ok := ours(t, h.dir, p, "sign", "--key", withValue("present", pkcs11WrongPIN), msgFile)
		noPIN(t, "sigstore-kms sign with a wrong pin-value", out)
		if ok || !strings.Contains(out, "wrong PIN") {
			t.Errorf("sigstore-kms sign with a wrong pin-value: ok=%v\n%s", ok, redactPINs(out))
		}
		out, ok = ours(t, h.dir, p, "check", "--key", withValue("checked", pkcs11PIN))
		noPIN(t, "sigstore-kms check with pin-value", out)
		if !ok || !strings.Contains(out, "pin-value=[redacted]") {
			t.Errorf("sigstore-kms check with pin-value: ok=%v\n%s", ok, redactPINs(out))
		}
		// A mistyped URI (a space in the scheme) is echoed by the core, with the PIN hidden.
		bad := strings.Replace(withValue("present", pkcs11PIN), "pkcs11:", "pkcs 11:", 1)
		out, ok = ours(t, h.dir, p, "public-key", "--key", bad)
		noPIN(t, "sigstore-kms with a mistyped URI", out)
		if ok || !strings.Contains(out, "invalid key URI") || !strings.Contains(out, "pin-value=[redacted]") {
			t.Errorf("sigstore-kms public-key with a mistyped URI: ok=%v\n%s", ok, redactPINs(out))
		}
		if e.python != "" {
			script := "import sys, sigstore_kms_plugins as s\ntry:\n s.get_signer_verifier(sys.argv[1])\nexcept s.KmsPluginError as e:\n print(type(e).__name__, e.kind, e, repr(e))\n"
			out, err := exec.Command(e.python, "-c", script, bad).CombinedOutput()
			noPIN(t, "Python with a mistyped URI", string(out))
			if err != nil || !strings.Contains(string(out), "InvalidKeyURIError InvalidKeyUri") {
				t.Errorf("Python with a mistyped URI: %v\n%s", err, redactPINs(string(out)))
			}
		}
		if e.node != "" {
			script := "const s = require(process.argv[1]); try { s.getSignerVerifier(process.argv[2]) } catch (e) { console.log(e.code, e.message, JSON.stringify(e), e.uri) }"
			out, err := exec.Command(e.node, "-e", script, e.nodePackage, bad).CombinedOutput()
			noPIN(t, "Node with a mistyped URI", string(out))
			if err != nil || !strings.Contains(string(out), "ERR_INVALID_KEY_URI") {
				t.Errorf("Node with a mistyped URI: %v\n%s", err, redactPINs(string(out)))
			}
		}
	})
	report.skip("pkcs11: errors", "locked PIN", "SoftHSM2 never locks a user PIN (any number of wrong PINs are refused with CKR_PIN_INCORRECT); the locked-token message is checked by the crate's unit tests")
}

// TestProviderPKCS11Concurrent: 16 signatures at once on one token (16 plugin
// processes, each its own session and login), and 16 createKey calls at once
// for one new key, which must make exactly one.
func TestProviderPKCS11Concurrent(t *testing.T) {
	timed(t)
	p := pkcs11Plugin(t)
	h := newSoftHSM(t, "busy")
	dir := scratch(t, "pkcs11-concurrent")
	pubText, ok := ours(t, dir, p, "generate-key", "--key", h.uri("shared"))
	if !ok {
		t.Fatalf("generate-key: %s", redactPINs(pubText))
	}
	block, _ := pem.Decode([]byte(pubText))
	if block == nil {
		t.Fatalf("generate-key printed no PEM: %s", pubText)
	}
	const n = 16
	type result struct {
		out string
		ok  bool
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		file := filepath.Join(dir, fmt.Sprintf("msg-%d", i))
		if err := os.WriteFile(file, []byte(fmt.Sprintf("concurrent message %d", i)), 0o600); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(i int, file string) {
			defer wg.Done()
			out, ok := ours(t, dir, p, "sign", "--key", h.uri("shared"), file)
			results[i] = result{out, ok}
		}(i, file)
	}
	wg.Wait()
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		noPIN(t, "concurrent sign", r.out)
		if !r.ok {
			t.Errorf("signature %d of %d concurrent ones failed: %s", i, n, redactPINs(r.out))
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.out))
		digest := sha256.Sum256([]byte(fmt.Sprintf("concurrent message %d", i)))
		if err != nil || !ecdsa.VerifyASN1(k.(*ecdsa.PublicKey), digest[:], sig) {
			t.Errorf("concurrent signature %d does not verify (%v): %s", i, err, r.out)
		}
	}
	report.note("pkcs11 concurrency", fmt.Sprintf("%d concurrent signatures on one SoftHSM token", n))

	// 16 createKey at once for one new key: one key pair on the token, the same
	// public key for all.
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, ok := ours(t, dir, p, "generate-key", "--key", h.uri("raced"))
			results[i] = result{out, ok}
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		noPIN(t, "concurrent createKey", r.out)
		if !r.ok || r.out != results[0].out {
			t.Errorf("concurrent createKey %d: ok=%v, answered %q, the first answered %q", i, r.ok, redactPINs(r.out), results[0].out)
		}
	}
	// pkcs11-tool 0.23 does not filter --list-objects by label: count the labels.
	objects := h.tool(t, "--list-objects", "--type", "privkey")
	if c := len(regexp.MustCompile(`(?m)^\s*label:\s+raced$`).FindAllString(objects, -1)); c != 1 {
		t.Errorf("%d concurrent createKey calls left %d private keys labelled raced, want 1:\n%s", n, c, objects)
	}
}

// TestProviderPKCS11Check: `sigstore-kms check` passes on keys the plugin
// creates (both URI forms) and on existing P-384, P-521 and RSA keys.
func TestProviderPKCS11Check(t *testing.T) {
	timed(t)
	p := pkcs11Plugin(t)
	h := newSoftHSM(t, "check")
	dir := scratch(t, "pkcs11-check")
	for _, alg := range []string{"ecdsa-p384", "ecdsa-p521", "rsa-2048"} {
		if out, ok := ours(t, dir, p, "generate-key", "--key", h.uri("check-"+alg), "--algorithm", alg); !ok {
			t.Fatalf("generate-key --algorithm %s: %s", alg, redactPINs(out))
		}
	}
	// Our CLI started as sigstore-kms-pkcs11 is the plugin too.
	linked := plugin{name: "pkcs11-via-cli", scheme: "pkcs11", dirs: []string{filepath.Join(dir, "linkbin"), e.ourBin}, ours: true}
	target, err := filepath.EvalSymlinks(filepath.Join(e.ourBin, "sigstore-kms"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(linked.dirs[0], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(linked.dirs[0], "sigstore-kms-pkcs11")); err != nil {
		t.Fatal(err)
	}
	keys := []struct {
		key string
		p   plugin
	}{
		{h.uri("fresh"), p}, {h.plugin("fresh-plugin-form"), p}, {h.uri("check-ecdsa-p384"), p},
		{h.uri("check-ecdsa-p521"), p}, {h.uri("check-rsa-2048"), p}, {h.uri("via-cli"), linked},
	}
	for _, k := range keys {
		key := k.key
		name := strings.SplitN(strings.SplitN(key, "object=", 2)[1], "?", 2)[0]
		t.Run(name, func(t *testing.T) {
			report.track(t, "sigstore-kms check", "pkcs11 "+name)
			out, ok := ours(t, dir, k.p, "check", "--key", key)
			if k.p.name == "pkcs11-via-cli" && !strings.Contains(out, "linkbin/sigstore-kms-pkcs11") {
				t.Errorf("check did not run the CLI as the plugin:\n%s", out)
			}
			noPIN(t, "sigstore-kms check", out)
			if !ok || strings.Contains(out, "FAIL") || !strings.Contains(out, "0 failed") {
				t.Errorf("sigstore-kms check --key %s:\n%s", name, out)
			}
		})
	}
}

// TestProviderPKCS11List: list-tokens and list-keys print ready-to-use key
// URIs without the PIN, for keys made by pkcs11-tool and by the plugin.
func TestProviderPKCS11List(t *testing.T) {
	timed(t)
	p := pkcs11Plugin(t)
	h := newSoftHSM(t, "listed")
	dir := scratch(t, "pkcs11-list")
	// (pkcs11-tool 0.23 cannot export a P-384 public key, "cannot create EVP_PKEY": only make it.)
	h.tool(t, "--keypairgen", "--key-type", "EC:secp384r1", "--label", "tool key", "--id", "a1b2")
	if out, ok := ours(t, dir, p, "generate-key", "--key", h.uri("plugin-key")); !ok {
		t.Fatalf("generate-key: %s", redactPINs(out))
	}
	out, ok := ours(t, dir, p, "pkcs11", "list-tokens", "--module-path", h.module)
	if !ok || !strings.Contains(out, "Label:        listed") || !strings.Contains(out, "pkcs11:token=listed?module-path="+h.module) {
		t.Errorf("sigstore-kms pkcs11 list-tokens:\n%s", out)
	}
	t.Setenv("SIGSTORE_KMS_PKCS11_PIN", pkcs11PIN)
	out, ok = ours(t, dir, p, "pkcs11", "list-keys", "--token", "listed", "--module-path", h.module, "--json")
	noPIN(t, "list-keys --json", out)
	var keys []struct {
		Label, ID, Algorithm, URI, PluginURI string
		PrivateKey                           bool
	}
	if !ok || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 2 {
		t.Fatalf("sigstore-kms pkcs11 list-keys --json: %v\n%s", ok, redactPINs(out))
	}
	want := map[string]string{"tool key": "ecdsa-p384", "plugin-key": "ecdsa-p256"}
	for _, k := range keys {
		if want[k.Label] != k.Algorithm || !k.PrivateKey || k.URI == "" || strings.Contains(k.URI, "pin") {
			t.Errorf("list-keys: %+v", k)
			continue
		}
		if k.Label == "tool key" && !strings.Contains(k.URI, "object=tool%20key;id=%a1%b2") {
			t.Errorf("list-keys: the URI of the pkcs11-tool key: %s", k.URI)
		}
		// The listed URI works as it is (the PIN from the environment), in both forms.
		for _, uri := range []string{k.URI, k.PluginURI} {
			msg := filepath.Join(dir, "m")
			if err := os.WriteFile(msg, []byte("listed"), 0o600); err != nil {
				t.Fatal(err)
			}
			sig, ok := ours(t, dir, p, "sign", "--key", uri, msg)
			noPIN(t, "sign", sig)
			if !ok {
				t.Errorf("sigstore-kms sign --key %s: %s", uri, sig)
				continue
			}
			sigFile := filepath.Join(dir, "s")
			if err := os.WriteFile(sigFile, []byte(sig), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, ok := ours(t, dir, p, "verify", "--key", uri, "--signature", sigFile, msg); !ok {
				t.Errorf("sigstore-kms verify --key %s: %s", uri, out)
			}
		}
	}
	// The text form, and without a PIN: public objects only, said on stderr.
	t.Setenv("SIGSTORE_KMS_PKCS11_PIN", "")
	cmd := exec.Command(filepath.Join(e.ourBin, "sigstore-kms"), "pkcs11", "list-keys", "--token", "listed", "--module-path", h.module)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "Objects:   public key") ||
		!regexp.MustCompile(`(?m)^  URI: +pkcs11:token=listed;object=tool%20key;id=%a1%b2\?module-path=`).MatchString(stdout.String()) ||
		!strings.Contains(stderr.String(), "only public key objects") {
		t.Errorf("list-keys without a PIN: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
}

// TestProviderPKCS11RustUnitTests: the crate's own SoftHSM test (the handler in
// process: every algorithm, the errors, listing, threads sharing one module),
// which skips itself without SIGSTORE_KMS_PKCS11_TEST_MODULE: here it must run.
func TestProviderPKCS11RustUnitTests(t *testing.T) {
	timed(t)
	module := os.Getenv("SIGSTORE_KMS_PKCS11_TEST_MODULE")
	if module == "" {
		module = os.Getenv("PKCS11_MODULE")
	}
	if module == "" {
		t.Fatal("SIGSTORE_KMS_PKCS11_TEST_MODULE is not set: run through tests/providers/run.sh (setup/pkcs11.sh sets it)")
	}
	// --workspace, not -p: cargo unifies dependency features over the packages selected, so
	// `-p sigstore-kms-pkcs11` would compile dozens of dependencies again with another feature
	// set than `make test-rust` left built. --tests (not --lib, which would also build the
	// bindings' lib tests that are off) selects what make test-rust built, so every binary is
	// fresh and the filter runs only this test.
	cmd := exec.Command("cargo", "test", "--offline", "--workspace", "--tests", "--", "softhsm_end_to_end", "--nocapture")
	cmd.Dir = e.repo
	cmd.Env = append(os.Environ(), "SIGSTORE_KMS_PKCS11_TEST_MODULE="+module)
	if os.Getenv("CARGO_TARGET_DIR") == "" {
		cmd.Env = append(cmd.Env, "CARGO_TARGET_DIR="+filepath.Join(e.repo, "target"))
	}
	out, err := cmd.CombinedOutput()
	text := string(out)
	noPIN(t, "cargo test --workspace --tests softhsm_end_to_end", text)
	if err != nil || !strings.Contains(text, "test tests::softhsm_end_to_end ... ok") || strings.Contains(text, "skipped:") {
		t.Errorf("cargo test --workspace --tests -- softhsm_end_to_end: %v\n%s", err, tail(text, 6000))
	}
}

// TestProviderPKCS11DocExample: the shell example of docs/providers/pkcs11.md
// runs as written (SoftHSM, our CLI, OpenSSL, cosign, pkcs11-tool), and its
// Python and Node snippets sign with the key it made.
func TestProviderPKCS11DocExample(t *testing.T) {
	timed(t)
	p := pkcs11Plugin(t)
	doc, err := os.ReadFile(filepath.Join(e.repo, "docs", "providers", "pkcs11.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := func(after, lang string) string {
		text := string(doc)
		i := strings.Index(text, after)
		if i < 0 {
			t.Fatalf("docs/providers/pkcs11.md has no %q", after)
		}
		text = text[i:]
		start := strings.Index(text, "```"+lang+"\n")
		if start < 0 {
			t.Fatalf("docs/providers/pkcs11.md: no ```%s block after %q", lang, after)
		}
		text = text[start+len(lang)+4:]
		return text[:strings.Index(text, "```")]
	}
	dir := scratch(t, "pkcs11-doc")
	module := os.Getenv("PKCS11_MODULE")
	if module == "" {
		module = "/usr/lib/softhsm/libsofthsm2.so"
	}
	script := block("<!-- tested: TestProviderPKCS11DocExample -->", "sh")
	script = strings.Replace(script, "module=/usr/lib/softhsm/libsofthsm2.so", "module="+module, 1)
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+pathWith(append(p.dirs, filepath.Dir(cosignBinary(t)))...), "HOME="+home,
		"TUF_ROOT="+filepath.Join(home, "tuf"), "SIGSTORE_KMS_PKCS11_PIN=", "SIGSTORE_KMS_PKCS11_MODULE=")
	out, err := cmd.CombinedOutput()
	report.track(t, "pkcs11: docs", "shell example")
	if err != nil || !strings.Contains(string(out), "Verified OK") || strings.Contains(string(out), "FAIL") {
		t.Fatalf("the example of docs/providers/pkcs11.md failed: %v\n%s", err, out)
	}
	for _, leak := range []string{"user-pin-4711", "so-pin-0815"} {
		if strings.Contains(string(out), leak) {
			t.Errorf("the example's output shows a PIN:\n%s", out)
		}
	}
	uri := fmt.Sprintf("pkcs11:token=release;object=signing-key?module-path=%s&pin-source=%s", module, filepath.Join(dir, "pin"))
	docURI := "pkcs11:token=release;object=signing-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/pin"
	t.Setenv("SOFTHSM2_CONF", filepath.Join(dir, "softhsm2.conf"))
	t.Setenv("PATH", pathWith(p.dirs...))
	if e.python != "" {
		code := strings.Replace(block("From Python and Node", "python"), docURI, uri, 1)
		if out, err := exec.Command(e.python, "-c", code).CombinedOutput(); err != nil {
			t.Errorf("the Python example of docs/providers/pkcs11.md: %v\n%s", err, out)
		}
	}
	if e.node != "" {
		code := strings.Replace(block("From Python and Node", "js"), docURI, uri, 1)
		code = strings.Replace(code, "require('sigstore-kms-plugins')", "require(process.argv[1])", 1)
		if out, err := exec.Command(e.node, "-e", code, e.nodePackage).CombinedOutput(); err != nil {
			t.Errorf("the Node example of docs/providers/pkcs11.md: %v\n%s", err, out)
		}
	}
}
