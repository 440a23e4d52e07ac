//go:build interop && providers

package interop

// End to end tests of sigstore-kms-azurekms (providers/azurekms) against the
// fake of Azure Key Vault and Microsoft Entra ID (tests/interop/go/fakes/azurekv):
// HTTPS on 127.0.0.1 with a throwaway CA (SSL_CERT_FILE). The vaults have their
// real kind of names (sigstore-test.vault.azure.net, ...), which
// tests/providers/run.sh maps to 127.0.0.1 (tests/providers/hosts, bound over
// /etc/hosts in the test's own mount and network namespace), so that the SDK's
// check of the vault's challenge (its resource must match the vault's domain)
// runs as against the real service. Tokens come from the fake's Entra token
// endpoint (AZURE_AUTHORITY_HOST, or the clouds' own login hosts on port 443).
// Managed identity has no metadata address to reach in the namespace.
// TestProviderAzureKMSLive runs against the real service when AZUREKMS_TEST_KEY
// names a key.

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore-kms-plugins/interop/fakes/azurekv"
	"github.com/sigstore-kms-plugins/interop/fakes/testca"
	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

const (
	azTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	azClient = "8f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	azSecret = "azureTestSecret~0123456789abcdefghijklmnop"
)

// The names the fake answers for, mapped to 127.0.0.1 by tests/providers/run.sh.
var azNames = []string{
	"sigstore-test.vault.azure.net", "sigstore-test.vault.azure.cn", "sigstore-test.vault.usgovcloudapi.net",
	"login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us",
}

type azFake struct {
	fake  *azurekv.Server
	ca    *testca.CA
	dir   string
	p     plugin
	vault string // host name of the test vault
}

// uri names key in the test vault, with the fake's port.
func (a *azFake) uri(key string) string {
	return fmt.Sprintf("azurekms://%s:%d/%s", a.vault, a.fake.Port, key)
}

// cloudUnsetenv unsets k for the test, and restores it after.
func cloudUnsetenv(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if old, ok := os.LookupEnv(k); ok {
			t.Cleanup(func() { os.Setenv(k, old) })
		}
		os.Unsetenv(k)
	}
}

// startAzure starts the fake as cloud, registers the test app (a Crypto
// Officer with a client secret), and points the plugin at it.
func startAzure(t *testing.T, cloud azurekv.Cloud, vault string) *azFake {
	t.Helper()
	onlyLoopback(t)
	for _, n := range azNames {
		addrs, err := net.LookupHost(n)
		if err != nil || len(addrs) == 0 || addrs[0] != "127.0.0.1" {
			t.Fatalf("%s does not resolve to 127.0.0.1 (%v %v): run the provider tests with tests/providers/run.sh, which maps the fakes' names (tests/providers/hosts)", n, addrs, err)
		}
	}
	p := cloudPlugin(t, "azurekms")
	dir := scratch(t, "azurekms")
	ca, err := testca.New(dir, azNames...)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := azurekv.New(ca.Server, cloud)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.AddApp(azurekv.App{ClientID: azClient, Tenant: azTenant, Secret: azSecret, Role: azurekv.CryptoOfficer})
	cloudUnsetenv(t, "AZURE_ENVIRONMENT", "AZURE_TOKEN_CREDENTIALS", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME", "AZURE_PASSWORD",
		"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
	for k, v := range map[string]string{
		"AZURE_TENANT_ID":      azTenant,
		"AZURE_CLIENT_ID":      azClient,
		"AZURE_CLIENT_SECRET":  azSecret,
		"AZURE_AUTHORITY_HOST": fake.AuthorityURL(),
		"SSL_CERT_FILE":        ca.File,
		"SSL_CERT_DIR":         "",
	} {
		t.Setenv(k, v)
	}
	return &azFake{fake: fake, ca: ca, dir: dir, p: p, vault: vault}
}

type azAlg struct {
	name string // Go's name, for createKey
	kty  string
	crv  string
	bits int
	hash crypto.Hash
}

var azAlgs = []azAlg{
	{"ES256", "EC", "P-256", 0, crypto.SHA256},
	{"ES384", "EC", "P-384", 0, crypto.SHA384},
	{"ES512", "EC", "P-521", 0, crypto.SHA512},
	{"RS256", "RSA", "", 2048, crypto.SHA256},
	{"RS384", "RSA", "", 3072, crypto.SHA384},
}

// TestProviderAzureKMSHosts: every host creates a key through the plugin,
// signs and verifies (locally and in the vault); Go's crypto and openssl
// verify every signature.
func TestProviderAzureKMSHosts(t *testing.T) {
	timed(t)
	a := startAzure(t, azurekv.Public, "sigstore-test.vault.azure.net")
	msgFile, tamperedFile := writeMessage(t)
	for _, h := range hosts() {
		if h.why != "" {
			report.skip("azurekms: hosts", h.name, h.why)
			continue
		}
		t.Run(h.name+"/standard", func(t *testing.T) {
			report.track(t, "azurekms: hosts", h.name+" standard scenario")
			name := "standard-" + h.name
			run := runHost(t, h, standardScenario(a.uri(name), msgFile, tamperedFile, 60, false), a.p.dirs)
			if pub := checkStandard(t, h.name, run.out); pub != nil && !sameKey(t, valueBytes(t, run.out.Results[opPublic]), a.fake.PublicKey(a.vault, name, "")) {
				t.Errorf("%s: the public key is not the vault's", h.name)
			}
			cloudNoSecret(t, "host stderr", run.stderr, azSecret)
		})
		for _, alg := range azAlgs {
			for _, remote := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/remote=%v", h.name, alg.name, remote), func(t *testing.T) {
					report.track(t, "azurekms: hosts", fmt.Sprintf("%s %s remote=%v", h.name, alg.name, remote))
					name := fmt.Sprintf("%s-%s-%v", h.name, alg.name, remote)
					sc := cloudScenario(a.uri(name), alg.name, msgFile, tamperedFile, alg.hash, hashFuncNumber[alg.hash], remote)
					run := runHost(t, h, sc, a.p.dirs)
					checkCloudScenario(t, h.name+" "+alg.name, run.out, a.fake.PublicKey(a.vault, name, ""), alg.hash, false, scratch(t, "az-"+name), msgFile)
				})
			}
		}
	}
	// The SDK's protocol: each plugin run's first request has no token and gets
	// the challenge; every later one carries a token; the api-version is sent;
	// a sign request carries only a digest.
	for _, r := range a.fake.Requests() {
		if strings.Contains(r.Path, "/oauth2/") {
			continue
		}
		if !strings.Contains(r.Query, "api-version=") {
			t.Errorf("%s %s without api-version", r.Method, r.Path)
		}
		if r.Authorized == (r.Status == 401) {
			t.Errorf("%s %s: authorized=%v but status %d", r.Method, r.Path, r.Authorized, r.Status)
		}
		if strings.HasSuffix(r.Path, "/sign") && r.Authorized {
			var body struct{ Value string }
			json.Unmarshal([]byte(r.Body), &body)
			if d, _ := base64.RawURLEncoding.DecodeString(body.Value); len(d) != 32 && len(d) != 48 && len(d) != 64 {
				t.Errorf("sign request with %d bytes, not a digest: %s", len(d), r.Body)
			}
		}
	}
}

// TestProviderAzureKMSCLI: our CLI against the vault; openssl verifies.
func TestProviderAzureKMSCLI(t *testing.T) {
	timed(t)
	a := startAzure(t, azurekv.Public, "sigstore-test.vault.azure.net")
	dir := scratch(t, "az-cli")
	blob := filepath.Join(dir, "artifact.bin")
	os.WriteFile(blob, testMessage, 0o600)
	for _, alg := range []azAlg{azAlgs[1], azAlgs[3]} {
		t.Run(alg.name, func(t *testing.T) {
			report.track(t, "azurekms: CLI", alg.name)
			uri := a.uri("cli-" + alg.name)
			hash := strings.ToLower(strings.ReplaceAll(alg.hash.String(), "-", ""))
			out, ok, _ := cloudRun(t, a.p, dir, "generate-key", "--key", uri, "--algorithm", alg.name)
			if !ok || !strings.Contains(out, "BEGIN PUBLIC KEY") {
				t.Fatalf("generate-key: %s", out)
			}
			cloudNoSecret(t, "generate-key", out, azSecret)
			pubFile := filepath.Join(dir, alg.name+".pem")
			os.WriteFile(pubFile, []byte(out), 0o644)
			for _, digest := range []bool{false, true} {
				args := []string{"sign", "--key", uri, "--hash", hash}
				if digest {
					args = append(args, "--digest")
				}
				sigB64, ok, _ := cloudRun(t, a.p, dir, append(args, blob)...)
				if !ok {
					t.Fatalf("%v: %s", args, sigB64)
				}
				sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sigB64))
				if err != nil {
					t.Fatalf("sign printed %q", sigB64)
				}
				sigFile := filepath.Join(dir, fmt.Sprintf("%s-%v.sig", alg.name, digest))
				os.WriteFile(sigFile, sig, 0o644)
				if text, ok := opensslVerifies(t, pubFile, sigFile, blob, hash, false); !ok {
					t.Errorf("openssl: %s", text)
				}
				for _, how := range [][]string{{"--key", uri}, {"--public-key", pubFile}} {
					vargs := append(append([]string{"verify"}, how...), "--hash", hash, "--signature", sigFile, blob)
					if out, ok, _ := cloudRun(t, a.p, dir, vargs...); !ok {
						t.Errorf("%v: %s", vargs, out)
					}
				}
			}
		})
	}
}

// TestProviderAzureKMSConformance: `sigstore-kms check` and the reference's
// signer_program_test.go pass against the plugin.
func TestProviderAzureKMSConformance(t *testing.T) {
	timed(t)
	a := startAzure(t, azurekv.Public, "sigstore-test.vault.azure.net")
	dir := scratch(t, "az-check")
	t.Run("sigstore_kms_check", func(t *testing.T) {
		report.track(t, "azurekms: conformance", "sigstore-kms check")
		out, ok := ours(t, dir, a.p, "check", "--key", a.uri("check"))
		cloudNoSecret(t, "check", out, azSecret)
		if !ok || strings.Contains(out, "FAIL") {
			t.Errorf("sigstore-kms check:\n%s", out)
		}
	})
	// As for the other KMSs: the default key (ES256) signs SHA-256 digests
	// and the reference test sends SHA-512 ones; a P-521 key (ES512) signs
	// SHA-512 digests and passes everything.
	digestCases := []string{"TestSignMessageVerifySignature", "TestSignMessageVerifySignature/digest_only,_empty_message", "TestSignMessageVerifySignature/message_and_digest"}
	if _, err := a.fake.AddKey(a.vault, "signer-program-p521", "EC", "P-521", 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, key  string
		expectFail []string
	}{
		{"default_es256", "signer-program-default", digestCases},
		{"es512_p521", "signer-program-p521", nil},
	} {
		t.Run("signer_program_test_"+c.name, func(t *testing.T) {
			report.track(t, "azurekms: conformance", "reference signer_program_test.go "+c.name)
			failed, out := runSignerProgram(t, a.p, a.uri(c.key))
			cloudNoSecret(t, "signer_program_test", out, azSecret)
			if strings.Join(failed, "|") != strings.Join(c.expectFail, "|") {
				t.Errorf("failed subtests %q, want %q\n%s", failed, c.expectFail, tail(out, 6000))
			}
			if len(c.expectFail) > 0 && !strings.Contains(out, "but this key signs SHA-256 digests") {
				t.Errorf("the digest cases must fail with the plugin's explanation:\n%s", tail(out, 4000))
			}
		})
	}
}

// TestProviderAzureKMSCredentials: the credential chain and the clouds.
func TestProviderAzureKMSCredentials(t *testing.T) {
	timed(t)
	a := startAzure(t, azurekv.Public, "sigstore-test.vault.azure.net")
	dir := scratch(t, "az-creds")
	if _, err := a.fake.AddKey(a.vault, "creds", "EC", "P-256", 0); err != nil {
		t.Fatal(err)
	}
	uri := a.uri("creds")
	works := func(t *testing.T) {
		t.Helper()
		out, ok, _ := cloudRun(t, a.p, dir, "public-key", "--key", uri)
		cloudNoSecret(t, "public-key", out, azSecret)
		if !ok || !sameKey(t, pemDER(t, out), a.fake.PublicKey(a.vault, "creds", "")) {
			t.Errorf("public-key: %s", out)
		}
	}
	t.Run("client_secret", func(t *testing.T) {
		report.track(t, "azurekms: credentials", "AZURE_CLIENT_SECRET")
		works(t)
	})
	t.Run("client_certificate", func(t *testing.T) {
		report.track(t, "azurekms: credentials", "AZURE_CLIENT_CERTIFICATE_PATH")
		der, key, err := azurekv.Certificate()
		if err != nil {
			t.Fatal(err)
		}
		const certClient = "0c0c0c0c-1111-2222-3333-444444444444"
		a.fake.AddApp(azurekv.App{ClientID: certClient, Tenant: azTenant, CertKey: &key.PublicKey, CertThumbprint: azurekv.CertThumbprint(der), Role: azurekv.CryptoUser})
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		file := filepath.Join(dir, "sp.pem")
		os.WriteFile(file, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), 0o600)
		cloudUnsetenv(t, "AZURE_CLIENT_SECRET")
		t.Setenv("AZURE_CLIENT_ID", certClient)
		t.Setenv("AZURE_CLIENT_CERTIFICATE_PATH", file)
		works(t)
	})
	t.Run("workload_identity", func(t *testing.T) {
		report.track(t, "azurekms: credentials", "workload identity (AZURE_FEDERATED_TOKEN_FILE)")
		const fedClient = "fedfedfe-1111-2222-3333-444444444444"
		const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpzaWdzdG9yZSJ9.c2lnbmF0dXJl"
		a.fake.AddApp(azurekv.App{ClientID: fedClient, Tenant: azTenant, FederatedToken: token, Role: azurekv.CryptoUser})
		file := filepath.Join(dir, "federated-token")
		os.WriteFile(file, []byte(token), 0o600)
		cloudUnsetenv(t, "AZURE_CLIENT_SECRET")
		t.Setenv("AZURE_CLIENT_ID", fedClient)
		t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
		works(t)
		out, ok, _ := cloudRun(t, a.p, dir, "sign", "--key", uri, filepath.Join(dir, "federated-token"))
		cloudNoSecret(t, "sign", out, token)
		if !ok {
			t.Errorf("sign with workload identity: %s", out)
		}
	})
	fails := []struct {
		name  string
		want  []string
		env   map[string]string
		unset []string
	}{
		{"wrong_secret", []string{"EnvironmentCredential", "AADSTS7000215"}, map[string]string{"AZURE_CLIENT_SECRET": "wrong~secret-value-0123456789"}, nil},
		{"unknown_tenant", []string{"EnvironmentCredential", "Tenant"}, map[string]string{"AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000001"}, nil},
		{"no_credentials", []string{"no Azure credential was available", "EnvironmentCredential", "ManagedIdentityCredential", "AzureCLICredential", "az login"},
			nil, []string{"AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"}},
		{"only_the_cli", []string{"AzureCLICredential"}, map[string]string{"AZURE_TOKEN_CREDENTIALS": "AzureCLICredential"}, nil},
		{"bad_token_credentials", []string{"AZURE_TOKEN_CREDENTIALS", "\"dev\", \"prod\""}, map[string]string{"AZURE_TOKEN_CREDENTIALS": "browser"}, nil},
		{"bad_environment", []string{"AZURE_ENVIRONMENT", "AZURECHINACLOUD"}, map[string]string{"AZURE_ENVIRONMENT": "AZUREGERMANCLOUD"}, nil},
		{"pfx_certificate", []string{"not a PEM file", "openssl pkcs12"}, map[string]string{"AZURE_CLIENT_CERTIFICATE_PATH": filepath.Join(dir, "cert.pfx")}, []string{"AZURE_CLIENT_SECRET"}},
	}
	os.WriteFile(filepath.Join(dir, "cert.pfx"), []byte{0x30, 0x82, 0x0a, 0x01, 0x02, 0x01, 0x03}, 0o600)
	for _, f := range fails {
		t.Run(f.name, func(t *testing.T) {
			report.track(t, "azurekms: credentials", "error: "+f.name)
			// No Azure CLI login of the machine's user to find.
			t.Setenv("HOME", dir)
			cloudUnsetenv(t, f.unset...)
			for k, v := range f.env {
				t.Setenv(k, v)
			}
			out, ok, took := cloudRun(t, a.p, dir, "--timeout", "30", "public-key", "--key", uri)
			cloudNoSecret(t, f.name, out, azSecret, "wrong~secret-value-0123456789")
			if ok {
				t.Fatalf("succeeded: %s", out)
			}
			for _, w := range f.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
			if took > 15*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// TestProviderAzureKMSClouds: AZURE_ENVIRONMENT picks the cloud's authority
// (its real login host, served here on 127.0.0.1:443) and the vault suffix of a
// bare vault name; the token is for that cloud's Key Vault resource.
func TestProviderAzureKMSClouds(t *testing.T) {
	timed(t)
	for _, c := range []struct {
		env   string
		cloud azurekv.Cloud
		vault string
	}{
		{"AZURECHINACLOUD", azurekv.China, "sigstore-test.vault.azure.cn"},
		{"AzureUSGovernment", azurekv.USGovernment, "sigstore-test.vault.usgovcloudapi.net"},
		{"AZUREPUBLICCLOUD", azurekv.Public, "sigstore-test.vault.azure.net"},
	} {
		t.Run(c.env, func(t *testing.T) {
			report.track(t, "azurekms: clouds", c.env)
			a := startAzure(t, c.cloud, c.vault)
			// The authority host of a named cloud is fixed (no port): serve :443.
			if _, err := a.fake.Listen("127.0.0.1:443"); err != nil {
				t.Fatalf("serving the fake on 127.0.0.1:443: %v", err)
			}
			cloudUnsetenv(t, "AZURE_AUTHORITY_HOST")
			t.Setenv("AZURE_ENVIRONMENT", c.env)
			if _, err := a.fake.AddKey(c.vault, "cloud-key", "EC", "P-384", 0); err != nil {
				t.Fatal(err)
			}
			dir := scratch(t, "az-cloud")
			// A bare vault name: the cloud's vault suffix, on port 443.
			out, ok, _ := cloudRun(t, a.p, dir, "public-key", "--key", "azurekms://sigstore-test/cloud-key")
			if !ok || !sameKey(t, pemDER(t, out), a.fake.PublicKey(c.vault, "cloud-key", "")) {
				t.Fatalf("public-key: %s", out)
			}
			login := strings.TrimPrefix(c.cloud.Authority, "https://")
			var sawLogin bool
			for _, r := range a.fake.Requests() {
				sawLogin = sawLogin || (strings.HasSuffix(r.Path, "/oauth2/v2.0/token") && r.Host == login && r.Status == 200)
			}
			if !sawLogin {
				t.Errorf("no token from %s", login)
			}
		})
	}
}

// TestProviderAzureKMSErrors: what a user sees when something is wrong.
func TestProviderAzureKMSErrors(t *testing.T) {
	timed(t)
	a := startAzure(t, azurekv.Public, "sigstore-test.vault.azure.net")
	dir := scratch(t, "az-errors")
	blob := filepath.Join(dir, "blob")
	os.WriteFile(blob, []byte("payload"), 0o600)
	must := func(v string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	must(a.fake.AddKey(a.vault, "ok", "EC", "P-256", 0))
	dis := must(a.fake.AddKey(a.vault, "disabled", "EC", "P-256", 0))
	a.fake.SetEnabled(a.vault, "disabled", dis, false)
	noSign := must(a.fake.AddKey(a.vault, "verify-only", "EC", "P-256", 0))
	a.fake.SetOps(a.vault, "verify-only", noSign, "verify")
	const readerClient = "eeeeeeee-1111-2222-3333-444444444444"
	const readerSecret = "readerSecret~0123456789abcdef"
	a.fake.AddApp(azurekv.App{ClientID: readerClient, Tenant: azTenant, Secret: readerSecret, Role: azurekv.Reader})
	cases := []struct {
		name string
		args []string
		want []string
		env  map[string]string
	}{
		{"unknown_key", []string{"public-key", "--key", a.uri("nope")}, []string{"Azure Key Vault get key", "not found", "KeyNotFound"}, nil},
		{"unknown_version", []string{"public-key", "--key", a.uri("ok") + "/0123abcd"}, []string{"KeyNotFound"}, nil},
		{"disabled_key", []string{"sign", "--key", a.uri("disabled"), blob}, []string{"disabled"}, nil},
		{"no_sign_operation", []string{"sign", "--key", a.uri("verify-only"), blob}, []string{"sign", "not permitted"}, nil},
		{"reader_role", []string{"sign", "--key", a.uri("ok"), blob}, []string{"access denied", "ForbiddenByRbac", "Key Vault Crypto User"},
			map[string]string{"AZURE_CLIENT_ID": readerClient, "AZURE_CLIENT_SECRET": readerSecret}},
		{"reader_cannot_create", []string{"generate-key", "--key", a.uri("reader-new")}, []string{"create key", "Key Vault Crypto Officer"},
			map[string]string{"AZURE_CLIENT_ID": readerClient, "AZURE_CLIENT_SECRET": readerSecret}},
		{"wrong_digest", []string{"sign", "--key", a.uri("ok"), "--digest", "--hash", "sha384", blob}, []string{"48 bytes", "SHA-256"}, nil},
		{"bad_reference", []string{"public-key", "--key", "azurekms://vault/key/1/2"}, []string{"invalid azurekms key reference", "VAULT_HOST/KEY_NAME"}, nil},
		{"bad_key_name", []string{"public-key", "--key", "azurekms://v.vault.azure.net/my_key"}, []string{"letters, digits and dashes"}, nil},
		{"unknown_algorithm", []string{"generate-key", "--key", a.uri("new"), "--algorithm", "PS256"}, []string{"unsupported algorithm", "ES256"}, nil},
		// The vault's address without its name: the SDK refuses a challenge
		// whose resource is not the vault's domain (nothing is sent).
		{"challenge_domain_mismatch", []string{"public-key", "--key", fmt.Sprintf("azurekms://127.0.0.1:%d/ok", a.fake.Port)}, []string{"challenge resource", "doesn't match"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			report.track(t, "azurekms: errors", c.name)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			out, ok, took := cloudRun(t, a.p, dir, c.args...)
			cloudNoSecret(t, c.name, out, azSecret, readerSecret)
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
		})
	}
	t.Run("throttled_then_served", func(t *testing.T) {
		report.track(t, "azurekms: errors", "429 with Retry-After twice, then served")
		a.fake.Throttle(2)
		start := time.Now()
		out, ok, _ := cloudRun(t, a.p, dir, "sign", "--key", a.uri("ok"), blob)
		if !ok {
			t.Errorf("a throttled call is retried within the deadline: %s", out)
		}
		if took := time.Since(start); took < 2*time.Second {
			t.Errorf("took %v: Retry-After: 1 was not honoured twice", took)
		}
	})
	t.Run("throttled_past_the_deadline", func(t *testing.T) {
		report.track(t, "azurekms: errors", "429 until the deadline")
		a.fake.Throttle(1000)
		defer a.fake.Throttle(0)
		out, ok, took := cloudRun(t, a.p, dir, "--timeout", "4", "sign", "--key", a.uri("ok"), blob)
		if ok || !(strings.Contains(out, "timed out") || strings.Contains(out, "throttled")) || took > 10*time.Second {
			t.Errorf("want a clear error within the timeout (ok=%v, %v):\n%s", ok, took, out)
		}
	})
	t.Run("server_stopped", func(t *testing.T) {
		report.track(t, "azurekms: errors", "server stopped mid-run")
		a.fake.Close()
		out, ok, took := cloudRun(t, a.p, dir, "--timeout", "10", "sign", "--key", a.uri("ok"), blob)
		if ok || !strings.Contains(out, "Azure Key Vault") || took > 15*time.Second {
			t.Errorf("want a clear error within the timeout (ok=%v, %v):\n%s", ok, took, out)
		}
		cloudNoSecret(t, "server_stopped", out, azSecret)
	})
}

// TestProviderAzureKMSLive runs the hosts' scenario against the real Key Vault
// key AZUREKMS_TEST_KEY names (VAULT_HOST/KEY_NAME, an existing EC or RSA key),
// with the caller's Azure credentials (the chain the plugin documents). Skipped
// when it is unset. Run it outside the network namespace:
//
//	AZUREKMS_TEST_KEY=myvault.vault.azure.net/release go test -tags "interop providers" -run TestProviderAzureKMSLive ./interop/
func TestProviderAzureKMSLive(t *testing.T) {
	key := os.Getenv("AZUREKMS_TEST_KEY")
	if key == "" {
		report.skip("azurekms: live", "real Key Vault", "AZUREKMS_TEST_KEY is not set")
		t.Skip("AZUREKMS_TEST_KEY is not set: set it to VAULT_HOST/KEY_NAME of a real Key Vault key to run the live test")
	}
	timed(t)
	p := cloudPlugin(t, "azurekms")
	uri := "azurekms://" + strings.TrimPrefix(key, "azurekms://")
	dir := scratch(t, "az-live")
	msgFile, tamperedFile := writeMessage(t)
	for _, h := range hosts() {
		if h.why != "" {
			continue
		}
		for _, remote := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/remote=%v", h.name, remote), func(t *testing.T) {
				report.track(t, "azurekms: live", fmt.Sprintf("%s remote=%v", h.name, remote))
				sc := scenario.Scenario{Key: uri, HashFunc: 5, TimeoutSeconds: 60, RemoteVerification: remote, Ops: []scenario.Op{
					{Op: scenario.PublicKey},
					{Op: scenario.SignMessage, MessageFile: msgFile},
					{Op: scenario.VerifySignature, MessageFile: msgFile, SignatureFrom: intp(1)},
					{Op: scenario.VerifySignature, MessageFile: tamperedFile, SignatureFrom: intp(1)},
				}}
				res := runHost(t, h, sc, p.dirs).out.Results
				if !res[0].OK || !res[1].OK || !res[2].OK || res[3].OK {
					t.Fatalf("results: %s / %s / %s / %s", describe(res[0]), describe(res[1]), describe(res[2]), describe(res[3]))
				}
				pubFile := writePEM(t, dir, h.name+".pem", valueBytes(t, res[0]))
				sigFile := filepath.Join(dir, h.name+".sig")
				os.WriteFile(sigFile, valueBytes(t, res[1]), 0o644)
				for _, hash := range []string{"sha256", "sha384", "sha512"} {
					if _, ok := opensslVerifies(t, pubFile, sigFile, msgFile, hash, false); ok {
						return
					}
				}
				t.Errorf("openssl verifies the live signature with no SHA-2 hash")
			})
		}
	}
}

// TestProviderAzureKMSDocs runs the examples of docs/providers/azurekms.md
// against the fake, which answers for sigstore-test.vault.azure.net on port
// 443 as the real vault would.
func TestProviderAzureKMSDocs(t *testing.T) {
	timed(t)
	a := startAzure(t, azurekv.Public, "sigstore-test.vault.azure.net")
	if _, err := a.fake.Listen("127.0.0.1:443"); err != nil {
		t.Fatalf("serving the fake on 127.0.0.1:443: %v", err)
	}
	runDocExamples(t, "azurekms.md", "azurekms: docs examples", a.p, azSecret)
}
