//go:build interop && providers

package interop

// End to end tests of sigstore-kms-gcpkms (providers/gcpkms) against the fake
// of Google Cloud KMS (tests/interop/go/fakes/gcpkms): HTTPS on 127.0.0.1 with a
// throwaway CA (SSL_CERT_FILE), the plugin pointed at it with GCPKMS_ENDPOINT,
// a service account key of the fake's as GOOGLE_APPLICATION_CREDENTIALS, and the
// metadata server (GCE_METADATA_HOST) on a closed loopback port, inside the
// network namespace of tests/providers/run.sh. TestProviderGCPKMSLive runs the
// same checks against the real service when GCPKMS_TEST_KEY names a key.

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore-kms-plugins/interop/fakes/gcpkms"
	"github.com/sigstore-kms-plugins/interop/fakes/testca"
	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

const gcpKeyRing = "projects/sigstore-test/locations/global/keyRings/ring"

// gcpFake is one running fake with the plugin configured for it.
type gcpFake struct {
	fake    *gcpkms.Server
	ca      *testca.CA
	dir     string
	p       plugin
	account string // the service account's email
	secrets []string
}

func (g *gcpFake) key(name string) string { return gcpKeyRing + "/cryptoKeys/" + name }
func (g *gcpFake) uri(name string) string { return "gcpkms://" + g.key(name) }

// startGCP starts the fake and points the plugin at it (t.Setenv: the
// environment of every program the test starts).
func startGCP(t *testing.T) *gcpFake {
	t.Helper()
	onlyLoopback(t)
	p := cloudPlugin(t, "gcpkms")
	dir := scratch(t, "gcpkms")
	ca, err := testca.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := gcpkms.New(ca.Server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	g := &gcpFake{fake: fake, ca: ca, dir: dir, p: p, account: "signer@sigstore-test.iam.gserviceaccount.com"}
	sa, err := fake.AddServiceAccount(g.account)
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]string
	json.Unmarshal(sa, &parsed)
	g.secrets = append(g.secrets, parsed["private_key"][40:120])
	saFile := filepath.Join(dir, "service-account.json")
	if err := os.WriteFile(saFile, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"GOOGLE_APPLICATION_CREDENTIALS": saFile,
		"GCPKMS_ENDPOINT":                fake.URL,
		"SSL_CERT_FILE":                  ca.File,
		"SSL_CERT_DIR":                   "",
		// No test may reach a metadata server: a closed loopback port.
		"GCE_METADATA_HOST": closedPort(t),
	} {
		t.Setenv(k, v)
	}
	cloudUnsetenv(t, "GOOGLE_CLOUD_QUOTA_PROJECT", "GOOGLE_CLOUD_UNIVERSE_DOMAIN", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
	return g
}

type gcpAlg struct {
	name string      // Go's name, for createKey
	kms  string      // Cloud KMS's
	hash crypto.Hash // what it signs
	pss  bool
}

var gcpAlgs = []gcpAlg{
	{"ecdsa-p256-sha256", "EC_SIGN_P256_SHA256", crypto.SHA256, false},
	{"ecdsa-p384-sha384", "EC_SIGN_P384_SHA384", crypto.SHA384, false},
	{"rsa-pkcs1v15-2048-sha256", "RSA_SIGN_PKCS1_2048_SHA256", crypto.SHA256, false},
	{"rsa-pss-3072-sha256", "RSA_SIGN_PSS_3072_SHA256", crypto.SHA256, true},
	{"rsa-pkcs1v15-4096-sha512", "RSA_SIGN_PKCS1_4096_SHA512", crypto.SHA512, false},
}

var hashFuncNumber = map[crypto.Hash]int{crypto.SHA256: 5, crypto.SHA384: 6, crypto.SHA512: 7}

// TestProviderGCPKMSHosts: every host creates a key through the plugin, signs
// and verifies with it; the standard scenario for P-256 keys, and for every
// algorithm a scenario whose signatures Go's crypto and openssl verify.
func TestProviderGCPKMSHosts(t *testing.T) {
	timed(t)
	g := startGCP(t)
	msgFile, tamperedFile := writeMessage(t)
	for _, h := range hosts() {
		if h.why != "" {
			report.skip("gcpkms: hosts", h.name, h.why)
			continue
		}
		t.Run(h.name+"/standard", func(t *testing.T) {
			report.track(t, "gcpkms: hosts", h.name+" standard scenario")
			name := "standard-" + h.name
			run := runHost(t, h, standardScenario(g.uri(name), msgFile, tamperedFile, 60, false), g.p.dirs)
			pub := checkStandard(t, h.name, run.out)
			if pub != nil && !sameKey(t, valueBytes(t, run.out.Results[opPublic]), g.fake.PublicKey(g.key(name), 1)) {
				t.Errorf("%s: the public key is not the one the KMS holds", h.name)
			}
			cloudNoSecret(t, "host stderr", run.stderr, g.secrets...)
		})
		for _, a := range gcpAlgs {
			t.Run(h.name+"/"+a.name, func(t *testing.T) {
				report.track(t, "gcpkms: hosts", h.name+" "+a.name)
				name := fmt.Sprintf("%s-%s", h.name, a.name)
				sc := cloudScenario(g.uri(name), a.name, msgFile, tamperedFile, a.hash, hashFuncNumber[a.hash], false)
				run := runHost(t, h, sc, g.p.dirs)
				checkCloudScenario(t, h.name+" "+a.name, run.out, g.fake.PublicKey(g.key(name), 1), a.hash, a.pss, scratch(t, "gcp-"+name), msgFile)
			})
		}
	}
	// Only digests travelled: no AsymmetricSign request carries data, each
	// carries the digest's CRC32C, and every call was authenticated with the
	// service account's self-signed JWT.
	for _, r := range g.fake.Requests() {
		if r.Auth != "jwt:"+g.account {
			t.Errorf("%s %s: authenticated as %q, want the service account's JWT", r.Method, r.Path, r.Auth)
		}
		if strings.HasSuffix(r.Path, ":asymmetricSign") && (!strings.Contains(r.Body, `"digestCrc32c"`) || strings.Contains(r.Body, `"data"`)) {
			t.Errorf("AsymmetricSign request without digestCrc32c, or with data: %s", r.Body)
		}
	}
}

// TestProviderGCPKMSCLI: our CLI creates, signs (message and digest), verifies
// through the plugin and locally; openssl agrees.
func TestProviderGCPKMSCLI(t *testing.T) {
	timed(t)
	g := startGCP(t)
	dir := scratch(t, "gcp-cli")
	blob := filepath.Join(dir, "artifact.bin")
	os.WriteFile(blob, testMessage, 0o600)
	for _, a := range []gcpAlg{gcpAlgs[1], gcpAlgs[3]} {
		t.Run(a.name, func(t *testing.T) {
			report.track(t, "gcpkms: CLI", a.name)
			uri := g.uri("cli-" + a.name)
			hash := strings.ToLower(strings.ReplaceAll(a.hash.String(), "-", ""))
			out, ok, _ := cloudRun(t, g.p, dir, "generate-key", "--key", uri, "--algorithm", a.name)
			if !ok || !strings.Contains(out, "BEGIN PUBLIC KEY") {
				t.Fatalf("generate-key: %s", out)
			}
			pubFile := filepath.Join(dir, a.name+".pem")
			os.WriteFile(pubFile, []byte(out), 0o644)
			if again, ok, _ := cloudRun(t, g.p, dir, "public-key", "--key", uri); !ok || again != out {
				t.Errorf("public-key answered another key:\n%s\n%s", again, out)
			}
			for _, digest := range []bool{false, true} {
				args := []string{"sign", "--key", uri, "--hash", hash}
				if digest {
					args = append(args, "--digest")
				}
				sigB64, ok, _ := cloudRun(t, g.p, dir, append(args, blob)...)
				if !ok {
					t.Fatalf("%v: %s", args, sigB64)
				}
				sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sigB64))
				if err != nil {
					t.Fatalf("sign printed %q: %v", sigB64, err)
				}
				sigFile := filepath.Join(dir, fmt.Sprintf("%s-%v.sig", a.name, digest))
				os.WriteFile(sigFile, sig, 0o644)
				if text, ok := opensslVerifies(t, pubFile, sigFile, blob, hash, a.pss); !ok {
					t.Errorf("openssl: %s", text)
				}
				hows := [][]string{{"--key", uri}}
				if !a.pss {
					// The CLI verifies RSA signatures with a public key file as PKCS#1 v1.5
					// (it cannot know a key's padding); PSS keys verify through the plugin.
					hows = append(hows, []string{"--public-key", pubFile})
				}
				for _, how := range hows {
					vargs := append(append([]string{"verify"}, how...), "--hash", hash, "--signature", sigFile, blob)
					if out, ok, _ := cloudRun(t, g.p, dir, vargs...); !ok {
						t.Errorf("%v: %s", vargs, out)
					}
				}
			}
		})
	}
}

// TestProviderGCPKMSConformance: `sigstore-kms check` and the reference's
// signer_program_test.go pass against the plugin.
func TestProviderGCPKMSConformance(t *testing.T) {
	timed(t)
	g := startGCP(t)
	dir := scratch(t, "gcp-check")
	t.Run("sigstore_kms_check", func(t *testing.T) {
		report.track(t, "gcpkms: conformance", "sigstore-kms check")
		out, ok := ours(t, dir, g.p, "check", "--key", g.uri("check"))
		cloudNoSecret(t, "check", out, g.secrets...)
		if !ok || strings.Contains(out, "FAIL") {
			t.Errorf("sigstore-kms check:\n%s", out)
		}
	})
	// The reference test creates the key with the default algorithm
	// (ecdsa-p256-sha256, which signs SHA-256 digests) but sends SHA-512
	// digests: Cloud KMS refuses those, and so does the plugin, for the two
	// digest cases. A key that signs SHA-512 digests passes everything.
	digestCases := []string{"TestSignMessageVerifySignature", "TestSignMessageVerifySignature/digest_only,_empty_message", "TestSignMessageVerifySignature/message_and_digest"}
	cases := []struct {
		name, key, alg, suffix string
		expectFail             []string
	}{
		{"default_ecdsa_p256", "signer-program-default", "", "", digestCases},
		{"rsa_pkcs1v15_4096_sha512", "signer-program-sha512", "RSA_SIGN_PKCS1_4096_SHA512", "", nil},
		{"pinned_version", "signer-program-sha512", "", "/cryptoKeyVersions/1", nil},
	}
	for _, c := range cases {
		t.Run("signer_program_test_"+c.name, func(t *testing.T) {
			report.track(t, "gcpkms: conformance", "reference signer_program_test.go "+c.name)
			if c.alg != "" {
				if err := g.fake.AddKey(g.key(c.key), c.alg); err != nil {
					t.Fatal(err)
				}
			}
			failed, out := runSignerProgram(t, g.p, g.uri(c.key)+c.suffix)
			cloudNoSecret(t, "signer_program_test", out, g.secrets...)
			if strings.Join(failed, "|") != strings.Join(c.expectFail, "|") {
				t.Errorf("failed subtests %q, want %q\n%s", failed, c.expectFail, tail(out, 6000))
			}
			if len(c.expectFail) > 0 && !strings.Contains(out, "but this key signs SHA-256 digests") {
				t.Errorf("the digest cases must fail with the plugin's explanation:\n%s", tail(out, 4000))
			}
		})
	}
}

// TestProviderGCPKMSCredentials: Application Default Credentials as Go finds
// them: an authorized user file, gcloud's file in HOME, the metadata server;
// and clear errors when none works.
func TestProviderGCPKMSCredentials(t *testing.T) {
	timed(t)
	g := startGCP(t)
	dir := scratch(t, "gcp-creds")
	if err := g.fake.AddKey(g.key("creds"), "EC_SIGN_P256_SHA256"); err != nil {
		t.Fatal(err)
	}
	uri := g.uri("creds")
	const refresh = "1//0refresh-token-of-the-test-user"
	user := g.fake.AddAuthorizedUser("user@example.com", refresh)
	userFile := filepath.Join(dir, "user.json")
	os.WriteFile(userFile, user, 0o600)
	gcloudHome := filepath.Join(dir, "gcloud-home")
	os.MkdirAll(filepath.Join(gcloudHome, ".config", "gcloud"), 0o755)
	os.WriteFile(filepath.Join(gcloudHome, ".config", "gcloud", "application_default_credentials.json"), user, 0o600)
	// A HOME without gcloud's file, so that the metadata server comes next.
	emptyHome := filepath.Join(dir, "empty-home")
	os.MkdirAll(emptyHome, 0o755)
	mds, err := g.fake.StartMetadataServer("vm@sigstore-test.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, wantAuth string) {
		t.Helper()
		g.fake.Requests()
		out, ok, _ := cloudRun(t, g.p, dir, "public-key", "--key", uri)
		cloudNoSecret(t, "public-key", out, refresh)
		if !ok {
			t.Fatalf("public-key: %s", out)
		}
		for _, r := range g.fake.Requests() {
			if strings.HasPrefix(r.Path, "/v1/") && r.Auth != wantAuth {
				t.Errorf("%s authenticated as %q, want %q", r.Path, r.Auth, wantAuth)
			}
		}
	}
	t.Run("authorized_user_file", func(t *testing.T) {
		report.track(t, "gcpkms: credentials", "GOOGLE_APPLICATION_CREDENTIALS authorized_user")
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", userFile)
		check(t, "token:user@example.com")
	})
	t.Run("gcloud_user_credentials", func(t *testing.T) {
		report.track(t, "gcpkms: credentials", "gcloud application_default_credentials.json")
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
		t.Setenv("HOME", gcloudHome)
		check(t, "token:user@example.com")
	})
	t.Run("metadata_server", func(t *testing.T) {
		report.track(t, "gcpkms: credentials", "metadata server (GCE_METADATA_HOST)")
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
		t.Setenv("HOME", emptyHome)
		t.Setenv("GCE_METADATA_HOST", mds)
		check(t, "token:vm@sigstore-test.iam.gserviceaccount.com")
	})
	fails := []struct {
		name, want string
		env        map[string]string
	}{
		{"no_credentials", "metadata server", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": ""}},
		{"missing_file", "/nonexistent/key.json", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"}},
		{"revoked_refresh_token", "invalid_grant", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(dir, "revoked.json")}},
		{"bad_endpoint", "GCPKMS_ENDPOINT", map[string]string{"GCPKMS_ENDPOINT": "http://kms.example.com"}},
	}
	revoked := strings.Replace(string(user), refresh, "1//0revoked-refresh-token", 1)
	os.WriteFile(filepath.Join(dir, "revoked.json"), []byte(revoked), 0o600)
	for _, f := range fails {
		t.Run(f.name, func(t *testing.T) {
			report.track(t, "gcpkms: credentials", "error: "+f.name)
			t.Setenv("HOME", emptyHome)
			for k, v := range f.env {
				t.Setenv(k, v)
			}
			out, ok, took := cloudRun(t, g.p, dir, "--timeout", "20", "public-key", "--key", uri)
			cloudNoSecret(t, f.name, out, refresh, "1//0revoked-refresh-token")
			if ok || !strings.Contains(out, f.want) {
				t.Errorf("want a failure mentioning %q, got (ok=%v):\n%s", f.want, ok, out)
			}
			if took > 15*time.Second {
				t.Errorf("took %v: a credentials error must be quick", took)
			}
		})
	}
}

// TestProviderGCPKMSErrors: what a user sees when something is wrong: one
// clear message each, in time, without secrets.
func TestProviderGCPKMSErrors(t *testing.T) {
	timed(t)
	g := startGCP(t)
	dir := scratch(t, "gcp-errors")
	blob := filepath.Join(dir, "blob")
	os.WriteFile(blob, []byte("payload"), 0o600)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(g.fake.AddKey(g.key("disabled"), "EC_SIGN_P256_SHA256"))
	g.fake.SetState(g.key("disabled"), 1, "DISABLED")
	must(g.fake.AddKey(g.key("two"), "EC_SIGN_P256_SHA256"))
	v2, err := g.fake.AddVersion(g.key("two"), "ENABLED")
	must(err)
	must(g.fake.AddKey(g.key("symmetric"), "GOOGLE_SYMMETRIC_ENCRYPTION"))
	must(g.fake.AddKey(g.key("secp256k1"), "EC_SIGN_SECP256K1_SHA256"))
	must(g.fake.AddKey(g.key("ok"), "EC_SIGN_P256_SHA256"))
	cases := []struct {
		name  string
		args  []string
		want  []string
		setup func()
	}{
		{"unknown_key", []string{"public-key", "--key", g.uri("nope")}, []string{"Cloud KMS ListCryptoKeyVersions", "not found", "NOT_FOUND"}, nil},
		{"unknown_version", []string{"public-key", "--key", g.uri("ok") + "/cryptoKeyVersions/9"}, []string{"GetCryptoKeyVersion", "NOT_FOUND"}, nil},
		{"no_enabled_version", []string{"sign", "--key", g.uri("disabled"), blob}, []string{"has no enabled version"}, nil},
		{"disabled_pinned_version", []string{"sign", "--key", g.uri("disabled") + "/versions/1", blob}, []string{"is DISABLED, not ENABLED"}, nil},
		{"not_a_signing_key", []string{"sign", "--key", g.uri("symmetric"), blob}, []string{"GOOGLE_SYMMETRIC_ENCRYPTION"}, nil},
		{"unsupported_algorithm", []string{"sign", "--key", g.uri("secp256k1"), blob}, []string{"EC_SIGN_SECP256K1_SHA256", "does not sign with"}, nil},
		{"wrong_digest", []string{"sign", "--key", g.uri("ok"), "--digest", "--hash", "sha512", blob}, []string{"64 bytes", "SHA-256"}, nil},
		{"bad_reference", []string{"public-key", "--key", "gcpkms://projects/p/keyRings/r"}, []string{"invalid gcpkms key reference", "cryptoKeys/KEY"}, nil},
		{"unknown_algorithm", []string{"generate-key", "--key", g.uri("new"), "--algorithm", "ed25519"}, []string{"unsupported algorithm", "ecdsa-p256-sha256"}, nil},
		{"permission_denied", []string{"sign", "--key", g.uri("ok"), blob}, []string{"permission denied", "roles/cloudkms.signer"},
			func() { g.fake.Deny(g.account, "cloudkms.cryptoKeyVersions.useToSign") }},
		{"signature_crc32c_mismatch", []string{"sign", "--key", g.uri("two"), blob}, []string{"corrupted in transit", "signatureCrc32c"},
			func() { g.fake.SetFaults(gcpkms.Faults{SignatureCRC: true}) }},
		{"digest_not_verified", []string{"sign", "--key", g.uri("two"), blob}, []string{"request was corrupted", "verifiedDigestCrc32c"},
			func() { g.fake.SetFaults(gcpkms.Faults{UnverifiedDigest: true}) }},
		{"no_signature_crc32c", []string{"sign", "--key", g.uri("two"), blob}, []string{"no signatureCrc32c"},
			func() { g.fake.SetFaults(gcpkms.Faults{NoSignatureCRC: true}) }},
		{"pem_crc32c_mismatch", []string{"public-key", "--key", g.uri("two")}, []string{"corrupted in transit", "pemCrc32c"},
			func() { g.fake.SetFaults(gcpkms.Faults{PEMCRC: true}) }},
		{"throttled_past_the_deadline", []string{"--timeout", "4", "sign", "--key", g.uri("two"), blob}, []string{"RESOURCE_EXHAUSTED", "retried until the call's deadline"},
			func() { g.fake.Throttle(1000) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			report.track(t, "gcpkms: errors", c.name)
			if c.setup != nil {
				c.setup()
			}
			out, ok, took := cloudRun(t, g.p, dir, c.args...)
			// Every case starts from a well-behaved service.
			g.fake.Allow(g.account, "cloudkms.cryptoKeyVersions.useToSign")
			g.fake.SetFaults(gcpkms.Faults{})
			g.fake.Throttle(0)
			cloudNoSecret(t, c.name, out, g.secrets...)
			if ok {
				t.Fatalf("%v succeeded: %s", c.args, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v: the error does not say %q:\n%s", c.args, w, out)
				}
			}
			if took > 20*time.Second {
				t.Errorf("%v took %v", c.args, took)
			}
			if n := strings.Count("\n"+out, "\nerror: "); n != 1 {
				t.Errorf("want one error line, got %d:\n%s", n, out)
			}
		})
	}
	g.fake.Throttle(0)
	t.Run("throttled_then_served", func(t *testing.T) {
		report.track(t, "gcpkms: errors", "429 twice, then served (retried)")
		g.fake.Throttle(2)
		out, ok, _ := cloudRun(t, g.p, dir, "sign", "--key", g.uri("two"), blob)
		if !ok {
			t.Errorf("a throttled call is retried within the deadline: %s", out)
		}
	})
	t.Run("newest_enabled_version", func(t *testing.T) {
		report.track(t, "gcpkms: errors", "unpinned key uses the newest enabled version")
		out, ok, _ := cloudRun(t, g.p, dir, "public-key", "--key", g.uri("two"))
		der := pemDER(t, out)
		if !ok || !sameKey(t, der, g.fake.PublicKey(g.key("two"), v2)) {
			t.Errorf("want version %d's key: %s", v2, out)
		}
		g.fake.SetState(g.key("two"), v2, "DISABLED")
		out, ok, _ = cloudRun(t, g.p, dir, "public-key", "--key", g.uri("two"))
		if !ok || !sameKey(t, pemDER(t, out), g.fake.PublicKey(g.key("two"), 1)) {
			t.Errorf("version %d disabled: want version 1's key: %s", v2, out)
		}
	})
	t.Run("first_version_being_generated", func(t *testing.T) {
		report.track(t, "gcpkms: errors", "createKey waits for PENDING_GENERATION")
		g.fake.SetGenerationDelay(1500 * time.Millisecond)
		defer g.fake.SetGenerationDelay(0)
		out, ok, took := cloudRun(t, g.p, dir, "generate-key", "--key", g.uri("slow"), "--algorithm", "ecdsa-p384-sha384")
		if !ok || !sameKey(t, pemDER(t, out), g.fake.PublicKey(g.key("slow"), 1)) || took < time.Second {
			t.Errorf("generate-key (ok=%v, %v): %s", ok, took, out)
		}
	})
	t.Run("server_stopped", func(t *testing.T) {
		report.track(t, "gcpkms: errors", "server stopped mid-run")
		g.fake.Close()
		out, ok, took := cloudRun(t, g.p, dir, "--timeout", "10", "sign", "--key", g.uri("two"), blob)
		if ok || !strings.Contains(out, "Cloud KMS") || took > 15*time.Second {
			t.Errorf("want a clear error within the timeout (ok=%v, %v):\n%s", ok, took, out)
		}
	})
}

func pemDER(t *testing.T, text string) []byte {
	t.Helper()
	i := strings.Index(text, "-----BEGIN PUBLIC KEY-----")
	if i < 0 {
		return nil
	}
	body := text[i+len("-----BEGIN PUBLIC KEY-----"):]
	body = body[:strings.Index(body, "-----END")]
	der, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	return der
}

// TestProviderGCPKMSLive runs the hosts' scenario against the real Cloud KMS
// key that GCPKMS_TEST_KEY names (projects/P/locations/L/keyRings/R/cryptoKeys/K,
// an existing asymmetric signing key of one of the supported algorithms), with
// the caller's Application Default Credentials. Skipped when it is unset.
// Run it outside the network namespace:
//
//	GCPKMS_TEST_KEY=projects/... go test -tags "interop providers" -run TestProviderGCPKMSLive ./interop/
func TestProviderGCPKMSLive(t *testing.T) {
	key := os.Getenv("GCPKMS_TEST_KEY")
	if key == "" {
		report.skip("gcpkms: live", "real Cloud KMS", "GCPKMS_TEST_KEY is not set")
		t.Skip("GCPKMS_TEST_KEY is not set: set it to projects/P/locations/L/keyRings/R/cryptoKeys/K of a real asymmetric signing key to run the live test")
	}
	timed(t)
	p := cloudPlugin(t, "gcpkms")
	uri := "gcpkms://" + strings.TrimPrefix(key, "gcpkms://")
	dir := scratch(t, "gcp-live")
	pubPEM, ok, _ := cloudRun(t, p, dir, "public-key", "--key", uri)
	if !ok {
		t.Fatalf("public-key: %s", pubPEM)
	}
	msgFile, tamperedFile := writeMessage(t)
	for _, h := range hosts() {
		if h.why != "" {
			continue
		}
		t.Run(h.name, func(t *testing.T) {
			report.track(t, "gcpkms: live", h.name)
			sc := scenario.Scenario{Key: uri, HashFunc: 5, TimeoutSeconds: 60, Ops: []scenario.Op{
				{Op: scenario.PublicKey},
				{Op: scenario.SignMessage, MessageFile: msgFile},
				{Op: scenario.VerifySignature, MessageFile: msgFile, SignatureFrom: intp(1)},
				{Op: scenario.VerifySignature, MessageFile: tamperedFile, SignatureFrom: intp(1)},
			}}
			run := runHost(t, h, sc, p.dirs)
			res := run.out.Results
			if !res[0].OK || !res[1].OK || !res[2].OK || res[3].OK {
				t.Fatalf("results: %s / %s / %s / %s", describe(res[0]), describe(res[1]), describe(res[2]), describe(res[3]))
			}
			pubFile := writePEM(t, dir, h.name+".pem", valueBytes(t, res[0]))
			sigFile := filepath.Join(dir, h.name+".sig")
			os.WriteFile(sigFile, valueBytes(t, res[1]), 0o644)
			// The hash and padding of the key's algorithm, from its public key and the plugin's answer.
			for _, hash := range []string{"sha256", "sha384", "sha512"} {
				for _, pss := range []bool{false, true} {
					if _, ok := opensslVerifies(t, pubFile, sigFile, msgFile, hash, pss); ok {
						return
					}
				}
			}
			t.Errorf("openssl verifies the live signature with no SHA-2 hash and padding")
		})
	}
}

// TestProviderGCPKMSDocs runs the examples of docs/providers/gcpkms.md
// against the fake.
func TestProviderGCPKMSDocs(t *testing.T) {
	timed(t)
	g := startGCP(t)
	runDocExamples(t, "gcpkms.md", "gcpkms: docs examples", g.p, g.secrets...)
}
