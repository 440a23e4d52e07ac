//go:build interop && providers

package interop

// End to end tests of sigstore-kms-awskms (providers/awskms) against a real
// AWS KMS emulator, local-kms (github.com/nsmithuk/local-kms, installed by
// tests/providers/setup/awskms.sh, path in LOCAL_KMS_BIN). local-kms listens on
// every interface, so these tests refuse to run outside a network namespace
// that has only loopback (tests/providers/run.sh runs them under unshare -rn).
// The SDKs get static test credentials and AWS_EC2_METADATA_DISABLED=true.

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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

// awsSecret is the static test secret key: no output of any test may show it.
const awsSecret = "sigstoreKmsPluginsTestSecretKey0123456789"

var (
	awsOnce sync.Once
	awsBin  string
	awsErr  error
)

// awsPlugin builds sigstore-kms-awskms once and puts it alone in a PATH directory.
func awsPlugin(t *testing.T) plugin {
	t.Helper()
	awsOnce.Do(func() {
		start := time.Now()
		exes, how, err := providerPrograms([]string{"sigstore-kms-awskms"}, "--bin", "sigstore-kms-awskms")
		report.timing("sigstore-kms-awskms: "+how, time.Since(start))
		if err != nil {
			awsErr = err
			return
		}
		exe := exes["sigstore-kms-awskms"]
		awsBin = filepath.Join(e.work, "awsbin")
		if err := os.MkdirAll(awsBin, 0o755); err != nil {
			awsErr = err
			return
		}
		awsErr = os.Symlink(exe, filepath.Join(awsBin, "sigstore-kms-awskms"))
	})
	if awsErr != nil {
		t.Fatal(awsErr)
	}
	return plugin{name: "awskms", scheme: "awskms", dirs: []string{awsBin}, ours: true}
}

// onlyLoopback fails the test unless this process is in a network namespace
// whose only interface is the loopback one.
func onlyLoopback(t *testing.T) {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback == 0 {
			t.Fatalf("network interface %s is not loopback: local-kms binds every interface, so the provider tests run only in a private network namespace (tests/providers/run.sh, unshare -rn)", i.Name)
		}
	}
}

// localKMS is one running local-kms server.
type localKMS struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var localKMSPort = regexp.MustCompile(`started on 0\.0\.0\.0:(\d+)`)

// startLocalKMS starts a local-kms with its own data directory on a port the
// OS picks, and stops it when the test ends.
func startLocalKMS(t *testing.T) *localKMS {
	t.Helper()
	onlyLoopback(t)
	bin := os.Getenv("LOCAL_KMS_BIN")
	if bin == "" {
		t.Fatal("LOCAL_KMS_BIN is not set: run the provider tests with tests/providers/run.sh (make test-providers), which installs local-kms")
	}
	dir := scratch(t, "local-kms")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT=0", "KMS_REGION=eu-west-2", "KMS_ACCOUNT_ID=111122223333",
		"KMS_DATA_PATH="+filepath.Join(dir, "data"), "KMS_SEED_PATH="+filepath.Join(dir, "no-seed.yaml"))
	k := &localKMS{cmd: cmd, done: make(chan struct{}), log: &syncBuffer{}}
	pr, pw := io.Pipe()
	cmd.Stdout = k.log
	cmd.Stderr = io.MultiWriter(k.log, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); pw.Close(); close(k.done) }()
	t.Cleanup(k.stop)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := localKMSPort.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case port := <-found:
		k.url = "http://127.0.0.1:" + port
	case <-k.done:
		t.Fatalf("local-kms exited: %s", k.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("local-kms did not say which port it listens on within 30s: %s", k.log.String())
	}
	return k
}

func (k *localKMS) stop() {
	if k.cmd.Process != nil {
		k.cmd.Process.Kill()
		<-k.done
	}
}

// api calls the KMS JSON API directly (local-kms checks no signatures), for
// set-ups the plugin does not do: an encryption key, a disabled key.
func (k *localKMS) api(t *testing.T, op string, body any) map[string]any {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", k.url+"/", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || (len(bytes.TrimSpace(raw)) > 0 && json.Unmarshal(raw, &out) != nil) {
		t.Fatalf("local-kms %s: %s %s", op, resp.Status, raw)
	}
	return out
}

// awsEnv points every SDK (ours, cosign's) at endpoint with static test
// credentials, and keeps them away from this machine's AWS files and from any
// metadata endpoint.
func awsEnv(t *testing.T, endpoint string) {
	t.Helper()
	dir := scratch(t, "aws-config")
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_KMS":        endpoint,
		"AWS_ACCESS_KEY_ID":           "AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       awsSecret,
		"AWS_REGION":                  "eu-west-2",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_PROFILE":                 "", "AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": "", "AWS_DEFAULT_REGION": "",
		"AWS_TLS_INSECURE_SKIP_VERIFY": "", "AWS_CA_BUNDLE": "",
		"HTTPS_PROXY": "", "HTTP_PROXY": "", "https_proxy": "", "http_proxy": "",
	} {
		t.Setenv(k, v)
	}
}

// noSecret fails the test if text shows the test secret key.
func noSecret(t *testing.T, what, text string) {
	t.Helper()
	if strings.Contains(text, awsSecret) {
		t.Errorf("%s shows the AWS secret key:\n%s", what, text)
	}
}

// awsAlgorithm is one key spec the tests create, with how to check its key.
type awsAlgorithm struct {
	spec   string
	hash   crypto.Hash
	hashFn int // Go crypto.Hash number
	check  func(any) bool
}

var awsAlgorithms = []awsAlgorithm{
	{"ECC_NIST_P256", crypto.SHA256, 5, func(k any) bool { p, ok := k.(*ecdsa.PublicKey); return ok && p.Curve == elliptic.P256() }},
	{"ECC_NIST_P384", crypto.SHA384, 6, func(k any) bool { p, ok := k.(*ecdsa.PublicKey); return ok && p.Curve == elliptic.P384() }},
	{"RSA_2048", crypto.SHA256, 5, func(k any) bool { p, ok := k.(*rsa.PublicKey); return ok && p.N.BitLen() == 2048 }},
}

func digestOf(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	default:
		d := sha256.Sum256(msg)
		return d[:]
	}
}

// Ops of the AWS scenario.
const (
	awsOpDefault = iota
	awsOpSupported
	awsOpCreate
	awsOpPublic
	awsOpSign
	awsOpSignDigest
	awsOpVerify
	awsOpVerifyDigest
	awsOpVerifyOtherHost
	awsOpVerifyTampered
	awsOpCreateUnsupported
	awsNumOps
)

func awsScenario(uri string, alg awsAlgorithm, msgFile, tamperedFile string, other []byte, remote bool) scenario.Scenario {
	ops := make([]scenario.Op, awsNumOps)
	digest := digestOf(alg.hash, testMessage)
	ops[awsOpDefault] = scenario.Op{Op: scenario.DefaultAlgorithm}
	ops[awsOpSupported] = scenario.Op{Op: scenario.SupportedAlgorithms}
	ops[awsOpCreate] = scenario.Op{Op: scenario.CreateKey, Algorithm: alg.spec}
	ops[awsOpPublic] = scenario.Op{Op: scenario.PublicKey}
	ops[awsOpSign] = scenario.Op{Op: scenario.SignMessage, MessageFile: msgFile}
	ops[awsOpSignDigest] = scenario.Op{Op: scenario.SignDigest, Digest: digest, HashFunc: alg.hashFn}
	ops[awsOpVerify] = scenario.Op{Op: scenario.VerifySignature, MessageFile: msgFile, SignatureFrom: intp(awsOpSign)}
	ops[awsOpVerifyDigest] = scenario.Op{Op: scenario.VerifyDigest, Digest: digest, HashFunc: alg.hashFn, SignatureFrom: intp(awsOpSignDigest)}
	ops[awsOpVerifyOtherHost] = scenario.Op{Op: scenario.VerifySignature, MessageFile: msgFile, Signature: other, SignatureFrom: nil}
	if other == nil {
		ops[awsOpVerifyOtherHost].SignatureFrom = intp(awsOpSignDigest)
	}
	ops[awsOpVerifyTampered] = scenario.Op{Op: scenario.VerifySignature, MessageFile: tamperedFile, SignatureFrom: intp(awsOpSign)}
	ops[awsOpCreateUnsupported] = scenario.Op{Op: scenario.CreateKey, Algorithm: "no-such-algorithm"}
	return scenario.Scenario{Key: uri, HashFunc: 5, TimeoutSeconds: 60, RemoteVerification: remote, Ops: ops}
}

// awsSig is a signature made in the tests, for the cross-checks.
type awsSig struct {
	by  string
	sig []byte
}

// TestProviderAWSKMSHosts: keys of each algorithm created through the plugin,
// used from every host (the Go reference client, and our Rust, Python and Node
// packages) with local and remote verification; every signature then verified
// with openssl and with cosign's own built-in AWS provider.
func TestProviderAWSKMSHosts(t *testing.T) {
	timed(t)
	p := awsPlugin(t)
	k := startLocalKMS(t)
	awsEnv(t, k.url)
	msgFile, tamperedFile := writeMessage(t)
	cosign := cosignBinary(t)
	s := newSandbox(t)
	s.prefix = nil // already in a namespace with only loopback, where local-kms is

	for _, alg := range awsAlgorithms {
		t.Run(alg.spec, func(t *testing.T) {
			uri := "awskms:///alias/hosts-" + strings.ToLower(alg.spec)
			var spki []byte
			var sigs []awsSig
			var lastSig []byte
			for _, h := range hosts() {
				for _, remote := range []bool{false, true} {
					name := fmt.Sprintf("%s %s verification=%s", h.name, alg.spec, map[bool]string{false: "local", true: "remote"}[remote])
					if h.why != "" {
						report.skip("awskms: host x key", name, h.why)
						continue
					}
					t.Run(fmt.Sprintf("%s_remote=%v", h.name, remote), func(t *testing.T) {
						report.track(t, "awskms: host x key", name)
						run := runHost(t, h, awsScenario(uri, alg, msgFile, tamperedFile, lastSig, remote), p.dirs)
						res := run.out.Results
						noSecret(t, name+" stderr", run.stderr)
						for i, r := range res {
							mustFail := i == awsOpVerifyTampered || i == awsOpCreateUnsupported
							switch {
							case mustFail && r.OK:
								t.Errorf("%s: op %d %s succeeded; it must fail", name, i, r.Op)
							case mustFail && (r.Error == nil || r.Error.Kind != "PluginReturned"):
								t.Errorf("%s: op %d %s: want the plugin's error, got %s", name, i, r.Op, describe(r))
							case !mustFail && !r.OK:
								t.Errorf("%s: op %d %s failed: %s", name, i, r.Op, describe(r))
							}
							if r.Error != nil {
								noSecret(t, name+" error", r.Error.Text)
							}
						}
						if t.Failed() {
							return
						}
						var def string
						var supported []string
						json.Unmarshal(res[awsOpDefault].Value, &def)
						json.Unmarshal(res[awsOpSupported].Value, &supported)
						if def != "ECC_NIST_P256" || strings.Join(supported, ",") != "RSA_2048,RSA_3072,RSA_4096,ECC_NIST_P256,ECC_NIST_P384,ECC_NIST_P521" {
							t.Errorf("%s: defaultAlgorithm %q, supportedAlgorithms %q: want Go's names", name, def, supported)
						}
						if msg := res[awsOpCreateUnsupported].Error.PluginMessage; !strings.Contains(msg, "no-such-algorithm") || !strings.Contains(msg, "ECC_NIST_P256") {
							t.Errorf("%s: createKey of an unknown algorithm: %q", name, msg)
						}
						created, public := valueBytes(t, res[awsOpCreate]), valueBytes(t, res[awsOpPublic])
						if !bytes.Equal(created, public) || (spki != nil && !bytes.Equal(public, spki)) {
							t.Fatalf("%s: createKey, publicKey and earlier hosts answer different keys", name)
						}
						spki = public
						key, err := x509.ParsePKIXPublicKey(public)
						if err != nil || !alg.check(key) {
							t.Fatalf("%s: the key is not %s: %T %v", name, alg.spec, key, err)
						}
						for _, i := range []int{awsOpSign, awsOpSignDigest} {
							sig := valueBytes(t, res[i])
							if err := goVerify(key, alg.hash, digestOf(alg.hash, testMessage), sig); err != nil {
								t.Errorf("%s: the %s signature does not verify with Go's crypto: %v", name, res[i].Op, err)
							}
							sigs = append(sigs, awsSig{by: name + " " + res[i].Op, sig: sig})
						}
						lastSig = valueBytes(t, res[awsOpSign])
					})
				}
			}
			if spki == nil {
				t.Fatal("no host made a key")
			}
			dir := scratch(t, "aws-verify-"+alg.spec)
			pubFile := filepath.Join(dir, "pub.pem")
			os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o600)
			t.Run("openssl", func(t *testing.T) {
				report.track(t, "awskms: every signature verified", "openssl dgst -verify "+alg.spec)
				for i, sg := range sigs {
					sigFile := filepath.Join(dir, fmt.Sprintf("sig-%d.bin", i))
					os.WriteFile(sigFile, sg.sig, 0o600)
					for _, file := range []string{msgFile, tamperedFile} {
						out, ok := opensslVerify(t, alg, pubFile, sigFile, file)
						if ok != (file == msgFile) {
							t.Errorf("openssl on %s (signature by %s): verified=%v:\n%s", filepath.Base(file), sg.by, ok, out)
						}
					}
				}
			})
			t.Run("cosign_builtin_provider", func(t *testing.T) {
				report.track(t, "awskms: every signature verified", "cosign verify-blob --key awskms:// (cosign's own AWS provider) "+alg.spec)
				for i, sg := range sigs {
					sigFile := filepath.Join(dir, fmt.Sprintf("sig-%d.b64", i))
					os.WriteFile(sigFile, []byte(b64(sg.sig)), 0o600)
					for _, file := range []string{msgFile, tamperedFile} {
						out, ok := s.cosign(t, cosign, p, "verify-blob", "--key", uri, "--insecure-ignore-tlog", "--signature", sigFile, file)
						if ok != (file == msgFile) {
							t.Errorf("cosign verify-blob --key %s on %s (signature by %s): verified=%v:\n%s", uri, filepath.Base(file), sg.by, ok, tail(out, 2000))
						}
					}
				}
			})
		})
	}
}

// goVerify checks sig over digest with key, in the scheme AWS KMS uses for it:
// ECDSA, or RSASSA-PSS (the first signing algorithm of an RSA key).
func goVerify(key any, h crypto.Hash, digest, sig []byte) error {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return fmt.Errorf("ECDSA verification failed")
		}
		return nil
	case *rsa.PublicKey:
		// Any salt length, as Go's AWS provider verifies (AWS signs with the digest's
		// length, local-kms with the longest).
		return rsa.VerifyPSS(k, h, digest, sig, nil)
	}
	return fmt.Errorf("unexpected key %T", key)
}

func opensslVerify(t *testing.T, alg awsAlgorithm, pubFile, sigFile, file string) (string, bool) {
	t.Helper()
	args := []string{"dgst", "-" + strings.ToLower(strings.ReplaceAll(alg.hash.String(), "-", "")), "-verify", pubFile, "-signature", sigFile}
	if strings.HasPrefix(alg.spec, "RSA") {
		args = append(args, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:auto")
	}
	out, err := exec.Command("openssl", append(args, file)...).CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "Verified OK")
}

// TestProviderAWSKMSCosign: both directions with cosign's built-in AWS
// provider on the same server: a key our plugin created signs through cosign,
// and a key cosign created (generate-key-pair --kms) signs through our plugin;
// each side verifies the other's signatures.
func TestProviderAWSKMSCosign(t *testing.T) {
	timed(t)
	p := awsPlugin(t)
	k := startLocalKMS(t)
	awsEnv(t, k.url)
	cosign := cosignBinary(t)
	s := newSandbox(t)
	s.prefix = nil
	dir := scratch(t, "aws-cosign")
	blob := filepath.Join(dir, "artifact.bin")
	tampered := filepath.Join(dir, "tampered.bin")
	os.WriteFile(blob, testMessage[:1<<16], 0o600)
	tb := bytes.Clone(testMessage[:1<<16])
	tb[7] ^= 1
	os.WriteFile(tampered, tb, 0o600)

	for _, who := range []string{"cosign", "ours"} {
		t.Run("key_created_by_"+who, func(t *testing.T) {
			report.track(t, "awskms: cosign's built-in provider", "key created by "+who)
			uri := "awskms:///alias/made-by-" + who
			var pubPEM []byte
			if who == "cosign" {
				prefix := filepath.Join(dir, who)
				if out, ok := s.cosign(t, cosign, p, "generate-key-pair", "--kms", uri, "--output-key-prefix", prefix); !ok {
					t.Fatalf("cosign generate-key-pair --kms %s:\n%s", uri, out)
				}
				pubPEM, _ = os.ReadFile(prefix + ".pub")
				out, ok := ours(t, dir, p, "public-key", "--key", uri)
				if !ok || !bytes.Equal(mustSPKI(t, []byte(out)), mustSPKI(t, pubPEM)) {
					t.Fatalf("our public-key of cosign's key differs from cosign's (%v):\n%s", ok, out)
				}
			} else {
				out, ok := ours(t, dir, p, "generate-key", "--key", uri, "--algorithm", "ECC_NIST_P256")
				if !ok {
					t.Fatalf("sigstore-kms generate-key --key %s: %s", uri, out)
				}
				pubPEM = []byte(out)
				cosignPub, ok := s.cosign(t, cosign, p, "public-key", "--key", uri)
				if !ok || !bytes.Equal(mustSPKI(t, []byte(cosignPub[strings.Index(cosignPub, "-----BEGIN"):])), mustSPKI(t, pubPEM)) {
					t.Fatalf("cosign public-key of our key differs (%v):\n%s", ok, cosignPub)
				}
			}
			pubFile := filepath.Join(dir, who+"-key.pub")
			os.WriteFile(pubFile, pubPEM, 0o600)

			// cosign signs with its built-in provider; our plugin (and cosign) verify.
			cosignSig := filepath.Join(dir, who+"-cosign.sig")
			if out, ok := s.cosign(t, cosign, p, "sign-blob", "--yes", "--key", uri, "--tlog-upload=false", "--use-signing-config=false",
				"--new-bundle-format=false", "--output-signature", cosignSig, blob); !ok {
				t.Fatalf("cosign sign-blob --key %s:\n%s", uri, out)
			}
			// Our plugin signs; cosign's provider verifies.
			out, ok := ours(t, dir, p, "sign", "--key", uri, blob)
			if !ok {
				t.Fatalf("sigstore-kms sign --key %s: %s", uri, out)
			}
			ourSig := filepath.Join(dir, who+"-ours.sig")
			os.WriteFile(ourSig, []byte(out), 0o600)
			for _, sig := range []string{cosignSig, ourSig} {
				for _, file := range []string{blob, tampered} {
					good := file == blob
					checks := map[string]func() (string, bool){
						"cosign verify-blob --key awskms://": func() (string, bool) {
							return s.cosign(t, cosign, p, "verify-blob", "--key", uri, "--insecure-ignore-tlog", "--signature", sig, file)
						},
						"cosign verify-blob --key PUB": func() (string, bool) {
							return s.cosign(t, cosign, p, "verify-blob", "--key", pubFile, "--insecure-ignore-tlog", "--signature", sig, file)
						},
						"sigstore-kms verify --key awskms://": func() (string, bool) {
							return ours(t, dir, p, "verify", "--key", uri, "--signature", sig, file)
						},
					}
					for what, run := range checks {
						out, ok := run()
						noSecret(t, what, out)
						if ok != good {
							t.Errorf("%s of %s over %s: verified=%v, want %v:\n%s", what, filepath.Base(sig), filepath.Base(file), ok, good, tail(out, 2000))
						}
					}
				}
			}
		})
	}
}

// TestProviderAWSKMSConformance: our `sigstore-kms check` and the reference's
// signer_program_test.go against the plugin.
func TestProviderAWSKMSConformance(t *testing.T) {
	timed(t)
	p := awsPlugin(t)
	k := startLocalKMS(t)
	awsEnv(t, k.url)
	dir := scratch(t, "aws-check")
	t.Run("sigstore_kms_check", func(t *testing.T) {
		report.track(t, "awskms: conformance", "sigstore-kms check")
		out, ok := ours(t, dir, p, "check", "--key", "awskms:///alias/check")
		noSecret(t, "check", out)
		if !ok || strings.Contains(out, "FAIL") {
			t.Errorf("sigstore-kms check --key awskms:///alias/check:\n%s", out)
		}
	})
	// The reference test creates the key with the default algorithm
	// (ECC_NIST_P256, which signs SHA-256 digests) but sends SHA-512 digests:
	// AWS KMS refuses those, and so does the plugin, for the two digest cases.
	// A P-521 key signs SHA-512 digests: everything passes.
	cases := []struct {
		name, alias, alg string
		expectFail       []string
	}{
		{"default_ecc_nist_p256", "alias/signer-program-default", "", []string{
			"TestSignMessageVerifySignature", "TestSignMessageVerifySignature/digest_only,_empty_message", "TestSignMessageVerifySignature/message_and_digest"}},
		{"ecc_nist_p521", "alias/signer-program-p521", "ECC_NIST_P521", nil},
	}
	for _, c := range cases {
		t.Run("signer_program_test_"+c.name, func(t *testing.T) {
			report.track(t, "awskms: conformance", "reference signer_program_test.go "+c.name)
			uri := "awskms:///" + c.alias
			if c.alg != "" {
				if out, ok := ours(t, dir, p, "generate-key", "--key", uri, "--algorithm", c.alg); !ok {
					t.Fatalf("generate-key %s: %s", c.alg, out)
				}
			}
			failed, out := runSignerProgram(t, p, uri)
			noSecret(t, "signer_program_test", out)
			if strings.Join(failed, "|") != strings.Join(c.expectFail, "|") {
				t.Errorf("failed subtests %q, want %q\n%s", failed, c.expectFail, tail(out, 6000))
			}
			if len(c.expectFail) > 0 && !strings.Contains(out, "but this key signs SHA-256 digests") {
				t.Errorf("the digest cases must fail with the plugin's explanation:\n%s", tail(out, 4000))
			}
		})
	}
}

// awsCall runs our CLI with the plugin and returns its output, whether it
// succeeded, and how long it took.
func awsCall(t *testing.T, p plugin, dir string, args ...string) (string, bool, time.Duration) {
	t.Helper()
	start := time.Now()
	out, ok := ours(t, dir, p, args...)
	took := time.Since(start)
	noSecret(t, strings.Join(args, " "), out)
	return out, ok, took
}

// TestProviderAWSKMSErrors: what a user sees when something is wrong. Each
// failure is one clear message, in time, without the secret key.
func TestProviderAWSKMSErrors(t *testing.T) {
	timed(t)
	p := awsPlugin(t)
	k := startLocalKMS(t)
	awsEnv(t, k.url)
	dir := scratch(t, "aws-errors")
	blob := filepath.Join(dir, "blob")
	os.WriteFile(blob, []byte("a message"), 0o600)
	if out, ok, _ := awsCall(t, p, dir, "generate-key", "--key", "awskms:///alias/errors"); !ok {
		t.Fatalf("generate-key: %s", out)
	}

	expect := func(t *testing.T, what string, want []string, args ...string) {
		t.Helper()
		report.track(t, "awskms: error paths", what)
		out, ok, took := awsCall(t, p, dir, args...)
		if ok {
			t.Fatalf("%s: succeeded:\n%s", what, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the error does not say %q:\n%s", what, w, out)
			}
		}
		if took > 20*time.Second {
			t.Errorf("%s: took %s", what, took)
		}
	}

	t.Run("bad_reference", func(t *testing.T) {
		expect(t, "a reference that does not parse", []string{"invalid AWS KMS key reference", "awskms:///alias/NAME", "three slashes"},
			"public-key", "--key", "awskms://release")
	})
	t.Run("unknown_alias", func(t *testing.T) {
		expect(t, "unknown alias", []string{"alias/nope", "does not exist", "NotFoundException", "eu-west-2"},
			"sign", "--key", "awskms:///alias/nope", blob)
	})
	t.Run("unknown_key_id", func(t *testing.T) {
		expect(t, "unknown key ID", []string{"1234abcd-12ab-34cd-56ef-1234567890ab", "does not exist"},
			"public-key", "--key", "awskms:///1234abcd-12ab-34cd-56ef-1234567890ab")
	})
	t.Run("create_by_key_id", func(t *testing.T) {
		expect(t, "createKey for a key ID", []string{"alias reference"},
			"generate-key", "--key", "awskms:///1234abcd-12ab-34cd-56ef-1234567890ab")
	})
	t.Run("encryption_key", func(t *testing.T) {
		key := k.api(t, "CreateKey", map[string]any{"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"})
		id := key["KeyMetadata"].(map[string]any)["KeyId"].(string)
		k.api(t, "CreateAlias", map[string]any{"AliasName": "alias/encrypt-only", "TargetKeyId": id})
		expect(t, "an encryption key", []string{"ENCRYPT_DECRYPT", "SIGN_VERIFY"}, "sign", "--key", "awskms:///alias/encrypt-only", blob)
	})
	t.Run("disabled_key", func(t *testing.T) {
		if out, ok, _ := awsCall(t, p, dir, "generate-key", "--key", "awskms:///alias/disabled"); !ok {
			t.Fatal(out)
		}
		meta := k.api(t, "DescribeKey", map[string]any{"KeyId": "alias/disabled"})
		k.api(t, "DisableKey", map[string]any{"KeyId": meta["KeyMetadata"].(map[string]any)["KeyId"]})
		expect(t, "a disabled key", []string{"disabled", "enable"}, "sign", "--key", "awskms:///alias/disabled", blob)
	})
	t.Run("no_credentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		expect(t, "no credentials", []string{"no AWS credentials were found", "AWS_PROFILE"}, "sign", "--key", "awskms:///alias/errors", blob)
	})
	t.Run("failing_credential_process", func(t *testing.T) {
		cfg := filepath.Join(dir, "config-broken")
		os.WriteFile(cfg, []byte("[profile broken]\ncredential_process = /bin/sh -c 'echo no credentials for you >&2; exit 3'\n"), 0o600)
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_CONFIG_FILE", cfg)
		t.Setenv("AWS_PROFILE", "broken")
		expect(t, "a failing credential_process", []string{"credentials", "AWS_PROFILE"}, "sign", "--key", "awskms:///alias/errors", blob)
	})
	t.Run("expired_credentials", func(t *testing.T) {
		cfg := filepath.Join(dir, "config-expired")
		script := filepath.Join(dir, "expired.sh")
		os.WriteFile(script, []byte(`#!/bin/sh
echo '{"Version":1,"AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"`+awsSecret+`","SessionToken":"tok","Expiration":"2001-01-01T00:00:00Z"}'
`), 0o700)
		os.WriteFile(cfg, []byte("[profile expired]\ncredential_process = "+script+"\n"), 0o600)
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_CONFIG_FILE", cfg)
		t.Setenv("AWS_PROFILE", "expired")
		expect(t, "expired credentials", []string{"have expired", "2001-01-01T00:00:00Z", "aws sso login"}, "sign", "--key", "awskms:///alias/errors", blob)
	})
	t.Run("no_region", func(t *testing.T) {
		t.Setenv("AWS_REGION", "")
		expect(t, "no region", []string{"no AWS region is configured", "AWS_REGION"}, "sign", "--key", "awskms:///alias/errors", blob)
	})
	t.Run("bad_region", func(t *testing.T) {
		t.Setenv("AWS_REGION", "eu west 2")
		expect(t, "a region that is not a region name", []string{"\"eu west 2\" is not a region name", "AWS_REGION"}, "sign", "--key", "awskms:///alias/errors", blob)
	})
	t.Run("https_endpoint_in_uri_without_tls", func(t *testing.T) {
		// The endpoint in the URI is reached over https, as in Go: local-kms speaks plain HTTP.
		host := strings.TrimPrefix(k.url, "http://")
		expect(t, "an endpoint in the URI that does not speak TLS", []string{"https://" + host, "from the key URI"},
			"--timeout", "15", "public-key", "--key", "awskms://"+host+"/alias/errors")
	})
	t.Run("unanswering_endpoint", func(t *testing.T) {
		// A server that accepts connections and never answers: the plugin gives up
		// before the host's deadline, and says so.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		t.Setenv("AWS_ENDPOINT_URL_KMS", "http://"+l.Addr().String())
		report.track(t, "awskms: error paths", "an endpoint that never answers (3s deadline)")
		out, ok, took := awsCall(t, p, dir, "--timeout", "3", "sign", "--key", "awskms:///alias/errors", blob)
		if ok || !strings.Contains(out, "timed out") || !strings.Contains(out, l.Addr().String()) {
			t.Errorf("an endpoint that never answers: %v\n%s", ok, out)
		}
		if took > 4*time.Second {
			t.Errorf("an endpoint that never answers: %s for a 3s deadline", took)
		}
	})
	t.Run("server_stopped_mid_run", func(t *testing.T) {
		report.track(t, "awskms: error paths", "server stopped mid-run")
		if out, ok, _ := awsCall(t, p, dir, "sign", "--key", "awskms:///alias/errors", blob); !ok {
			t.Fatalf("sign before the stop: %s", out)
		}
		k.stop()
		out, ok, took := awsCall(t, p, dir, "--timeout", "20", "sign", "--key", "awskms:///alias/errors", blob)
		if ok || !strings.Contains(out, "cannot reach AWS KMS at "+k.url) {
			t.Errorf("sign after the server stopped: %v\n%s", ok, out)
		}
		if took > 20*time.Second {
			t.Errorf("sign after the server stopped took %s", took)
		}
	})
}

// TestProviderAWSKMSTLS: an https endpoint (a TLS reverse proxy in front of
// local-kms with a self-signed certificate), named in the key URI as Go's
// provider expects it: refused by default, accepted with AWS_CA_BUNDLE, and
// with AWS_TLS_INSECURE_SKIP_VERIFY=1.
func TestProviderAWSKMSTLS(t *testing.T) {
	timed(t)
	p := awsPlugin(t)
	k := startLocalKMS(t)
	awsEnv(t, k.url)
	target, _ := url.Parse(k.url)
	caPEM, leaf := testCertificates(t)
	srv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	srv.StartTLS()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	dir := scratch(t, "aws-tls")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	// The endpoint of the URI wins over AWS_ENDPOINT_URL_KMS: point that somewhere dead.
	t.Setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
	uri := "awskms://" + host + "/alias/tls"

	t.Run("untrusted_certificate", func(t *testing.T) {
		report.track(t, "awskms: TLS", "self-signed endpoint refused")
		out, ok, _ := awsCall(t, p, dir, "--timeout", "20", "generate-key", "--key", uri)
		if ok || !strings.Contains(out, "TLS") || !strings.Contains(out, "AWS_CA_BUNDLE") {
			t.Errorf("a self-signed endpoint: %v\n%s", ok, out)
		}
	})
	t.Run("ca_bundle", func(t *testing.T) {
		report.track(t, "awskms: TLS", "AWS_CA_BUNDLE")
		t.Setenv("AWS_CA_BUNDLE", caFile)
		if out, ok, _ := awsCall(t, p, dir, "generate-key", "--key", uri); !ok {
			t.Errorf("with AWS_CA_BUNDLE: %s", out)
		}
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		report.track(t, "awskms: TLS", "AWS_TLS_INSECURE_SKIP_VERIFY=1")
		t.Setenv("AWS_TLS_INSECURE_SKIP_VERIFY", "1")
		blob := filepath.Join(dir, "blob")
		os.WriteFile(blob, []byte("over tls"), 0o600)
		if out, ok, _ := awsCall(t, p, dir, "generate-key", "--key", "awskms://"+host+"/alias/tls-insecure"); !ok {
			t.Fatalf("generate-key with AWS_TLS_INSECURE_SKIP_VERIFY=1: %s", out)
		}
		uri := "awskms://" + host + "/alias/tls-insecure"
		out, ok, _ := awsCall(t, p, dir, "sign", "--key", uri, blob)
		if !ok {
			t.Fatalf("with AWS_TLS_INSECURE_SKIP_VERIFY=1: %s", out)
		}
		sig := filepath.Join(dir, "sig")
		os.WriteFile(sig, []byte(out), 0o600)
		if out, ok, _ := awsCall(t, p, dir, "verify", "--key", uri, "--signature", sig, blob); !ok {
			t.Errorf("verify over TLS: %s", out)
		}
	})
}

// testCertificates makes a CA and a server certificate for 127.0.0.1 signed
// by it: the CA's PEM, and the server's certificate with its key.
func testCertificates(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigstore-kms-plugins test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// docBlocks returns the fenced code blocks of language lang in a Markdown file.
func docBlocks(t *testing.T, file, lang string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// TestProviderAWSKMSDocs runs the Python, Node and shell examples of
// docs/providers/awskms.md against local-kms, as a user would paste them.
func TestProviderAWSKMSDocs(t *testing.T) {
	timed(t)
	p := awsPlugin(t)
	k := startLocalKMS(t)
	awsEnv(t, k.url)
	doc := filepath.Join(e.repo, "docs", "providers", "awskms.md")
	dir := scratch(t, "aws-docs")
	path := pathWith(append(append([]string{}, p.dirs...), e.ourBin)...)
	run := func(t *testing.T, what string, argv ...string) {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		noSecret(t, what, string(out))
		if err != nil {
			t.Errorf("%s failed: %v\n%s", what, err, out)
		}
	}
	langs := []struct {
		lang, why string
		argv      func(file string) []string
	}{
		{"python", e.pythonWhy, func(f string) []string { return []string{e.python, f} }},
		{"js", e.nodeWhy, func(f string) []string { return []string{e.node, f} }},
		{"sh", "", func(f string) []string { return []string{"bash", "-euo", "pipefail", f} }},
	}
	// `require('sigstore-kms-plugins')` as in an installed project.
	if e.node != "" {
		os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755)
		os.Symlink(e.nodePackage, filepath.Join(dir, "node_modules", "sigstore-kms-plugins"))
	}
	for _, l := range langs {
		blocks := docBlocks(t, doc, l.lang)
		if len(blocks) == 0 {
			t.Errorf("docs/providers/awskms.md has no %s example", l.lang)
		}
		for i, b := range blocks {
			name := fmt.Sprintf("%s_%d", l.lang, i)
			if l.why != "" {
				report.skip("awskms: docs examples", name, l.why)
				continue
			}
			t.Run(name, func(t *testing.T) {
				report.track(t, "awskms: docs examples", name)
				file := filepath.Join(dir, fmt.Sprintf("example-%d.%s", i, l.lang))
				if err := os.WriteFile(file, []byte(b), 0o600); err != nil {
					t.Fatal(err)
				}
				run(t, "docs/providers/awskms.md "+name, l.argv(file)...)
			})
		}
	}
}
