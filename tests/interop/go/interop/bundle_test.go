//go:build interop

package interop

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundles (check 5): Sigstore bundles across the ecosystem, offline, for ECDSA P-256 and
// P-384, RSA and Ed25519 localkms keys. Every producer's bundles (our CLI's `sign --bundle` and
// `attest`, Python's sign_artifact/sign_dsse, sigstore-js's builders with sigstoreSigner,
// cosign's sign-blob --bundle and attest-blob through our plugin) are checked by every verifier
// (cosign verify-blob / verify-blob-attestation --key --insecure-ignore-tlog, @sigstore/verify
// with the key as its only trust material, Python's verify_artifact/verify_dsse, Node's
// verifyBundle, our `verify --bundle`). The combinations that cannot work are listed in
// knownBundleLimit: each is checked to still fail (and reported), so a fix upstream is
// noticed. Then a tampered artifact, a wrong key, a wrong hint and malformed JSON must fail
// everywhere, with the right reason where there is one.
func TestBundles(t *testing.T) {
	timed(t)
	if e.python == "" || e.node == "" {
		report.skip("check 5: bundles", "all", "needs the Python and Node hosts: "+e.pythonWhy+" "+e.nodeWhy)
		t.Skip("no Python or Node host")
	}
	var cosign *bundleCosign
	switch strings.ToLower(os.Getenv("INTEROP_COSIGN")) {
	case "0", "no", "false", "off":
		report.skip("check 5: bundles", "cosign", "INTEROP_COSIGN="+os.Getenv("INTEROP_COSIGN"))
	default:
		cosign = &bundleCosign{bin: cosignBinary(t), s: newSandbox(t)}
	}
	dir := scratch(t, "bundles")
	artifact := filepath.Join(dir, "artifact.bin")
	tampered := filepath.Join(dir, "tampered.bin")
	writeFile(t, artifact, testMessage)
	tb := bytes.Clone(testMessage)
	tb[7] ^= 1
	writeFile(t, tampered, tb)
	sum := sha256.Sum256(testMessage)
	statement := filepath.Join(dir, "statement.json")
	writeFile(t, statement, []byte(fmt.Sprintf(
		`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact.bin","digest":{"sha256":"%s"}}],"predicateType":%q,"predicate":{"builder":"interop"}}`,
		hex.EncodeToString(sum[:]), bundlePredicateType)))
	predicate := filepath.Join(dir, "predicate.json")
	writeFile(t, predicate, []byte(`{"builder":"interop"}`))

	local := pluginByName("localkms")
	keys := map[string]string{} // alg -> public key file
	for _, alg := range bundleAlgorithms {
		key := filepath.Join(dir, alg+".pem")
		pem, ok := ours(t, dir, local, "generate-key", "--key", local.uri(key), "--algorithm", alg)
		if !ok {
			t.Fatalf("sigstore-kms generate-key --algorithm %s: %s", alg, pem)
		}
		keys[alg] = filepath.Join(dir, alg+".pub")
		writeFile(t, keys[alg], []byte(pem))
	}

	// Make every bundle.
	var made []madeBundle
	for _, alg := range bundleAlgorithms {
		uri := local.uri(filepath.Join(dir, alg+".pem"))
		for _, p := range bundleProducers(cosign, uri, artifact, statement, predicate) {
			if p.only != "" && p.only != alg {
				continue
			}
			out := filepath.Join(dir, fmt.Sprintf("%s.%s.%s.json", alg, sanitize(p.name), p.kind))
			if why, skip := p.skip[alg]; skip {
				report.skip("check 5: bundles", p.name+" "+p.kind+" "+alg, why)
				continue
			}
			if msg, ok := p.make(t, out); !ok {
				t.Errorf("%s cannot make a %s bundle with %s: %s", p.name, p.kind, alg, tail(msg, 2000))
				continue
			}
			made = append(made, madeBundle{alg: alg, producer: p.name, kind: p.kind, file: out})
		}
	}

	// Verify every bundle everywhere.
	verifiers := bundleVerifiers(t, cosign, dir)
	report.note("bundles", fmt.Sprintf("%d bundles (%d key types) x %d verifiers", len(made), len(bundleAlgorithms), len(verifiers)))
	for _, v := range verifiers {
		v := v
		t.Run("verify_"+sanitize(v.name), func(t *testing.T) {
			report.track(t, "check 5: bundles", "verified by "+v.name)
			jobs := make([]bundleJob, len(made))
			for i, b := range made {
				jobs[i] = bundleJob{Bundle: b.file, PublicKey: keys[b.alg]}
				if b.kind == "message" {
					jobs[i].Artifact = artifact
				}
			}
			results := v.run(t, made, jobs)
			for i, b := range made {
				r := results[i]
				limit, known := knownBundleLimit(b, v.name)
				switch {
				case known && r.OK:
					t.Errorf("%s now verifies the %s %s bundle by %s, listed as a known limit (%q): update knownBundleLimit and the docs", v.name, b.alg, b.kind, b.producer, limit)
				case known:
					report.finding(limit)
				case !r.OK:
					t.Errorf("%s rejects the %s %s bundle by %s: %s %s", v.name, b.alg, b.kind, b.producer, r.Reason, tail(r.Message, 1500))
				}
			}
		})
	}

	// What must fail, and why.
	t.Run("failures", func(t *testing.T) {
		report.track(t, "check 5: bundles", "tampered artifact, wrong key, wrong hint, malformed JSON")
		bundleFailures(t, cosign, dir, made, keys, artifact, tampered)
	})
}

// bundleAlgorithms are the localkms key types of check 8.
var bundleAlgorithms = []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519"}

const bundlePredicateType = "https://example.com/interop/v1"

type madeBundle struct{ alg, producer, kind, file string }

type bundleJob struct {
	Bundle    string `json:"bundle"`
	PublicKey string `json:"publicKey"`
	Artifact  string `json:"artifact,omitempty"`
}

type bundleResult struct {
	OK      bool   `json:"ok"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type bundleCosign struct {
	bin string
	s   *sandbox
}

func (c *bundleCosign) run(t *testing.T, args ...string) (string, bool) {
	return c.s.cosign(t, c.bin, pluginByName("localkms"), args...)
}

type bundleProducer struct {
	name, kind string // kind: "message" or "dsse"
	only       string
	skip       map[string]string
	make       func(t *testing.T, out string) (string, bool)
}

func bundleProducers(cosign *bundleCosign, uri, artifact, statement, predicate string) []bundleProducer {
	local := pluginByName("localkms")
	py := func(args ...string) (string, bool) {
		return runTool(e.python, append([]string{bundleHost("bundle.py")}, args...)...)
	}
	js := func(args ...string) (string, bool) {
		return runTool(e.node, append([]string{bundleHost("bundle.js")}, args...)...)
	}
	ps := []bundleProducer{
		{name: "sigstore-kms", kind: "message", make: func(t *testing.T, out string) (string, bool) {
			return ours(t, filepath.Dir(out), local, "sign", "--key", uri, "--bundle", out, artifact)
		}},
		{name: "sigstore-kms", kind: "dsse", make: func(t *testing.T, out string) (string, bool) {
			return ours(t, filepath.Dir(out), local, "attest", "--key", uri, "--type", bundlePredicateType, "--predicate", predicate, "--bundle", out, artifact)
		}},
		{name: "python", kind: "message", make: func(t *testing.T, out string) (string, bool) { return py("sign-artifact", uri, artifact, out) }},
		{name: "python", kind: "dsse", make: func(t *testing.T, out string) (string, bool) {
			return py("sign-dsse", uri, statement, "application/vnd.in-toto+json", out)
		}},
		{name: "sigstore-js", kind: "message", make: func(t *testing.T, out string) (string, bool) { return js("sign", uri, artifact, out) }},
		{name: "sigstore-js", kind: "dsse", make: func(t *testing.T, out string) (string, bool) {
			return js("sign-dsse", uri, statement, "application/vnd.in-toto+json", out)
		}},
	}
	if cosign != nil {
		ps = append(ps,
			bundleProducer{name: "cosign", kind: "message", make: func(t *testing.T, out string) (string, bool) {
				return cosign.run(t, "sign-blob", "--yes", "--key", uri, "--tlog-upload=false", "--use-signing-config=false", "--bundle", out, artifact)
			}},
			bundleProducer{name: "cosign", kind: "dsse",
				skip: map[string]string{"ed25519": "cosign attest-blob sends an Ed25519 KMS key a digest (Ed25519ph), which localkms refuses"},
				make: func(t *testing.T, out string) (string, bool) {
					return cosign.run(t, "attest-blob", "--yes", "--key", uri, "--tlog-upload=false", "--use-signing-config=false",
						"--new-bundle-format", "--bundle", out, "--predicate", predicate, "--type", bundlePredicateType, artifact)
				}},
		)
	}
	return ps
}

type bundleVerifier struct {
	name string
	run  func(t *testing.T, made []madeBundle, jobs []bundleJob) []bundleResult
}

func bundleVerifiers(t *testing.T, cosign *bundleCosign, dir string) []bundleVerifier {
	batch := func(name string, argv func(jobs string) (string, []string)) bundleVerifier {
		return bundleVerifier{name: name, run: func(t *testing.T, _ []madeBundle, jobs []bundleJob) []bundleResult {
			return runBatch(t, dir, name, jobs, argv)
		}}
	}
	vs := []bundleVerifier{
		batch("python verify_artifact/verify_dsse", func(j string) (string, []string) { return e.python, []string{bundleHost("bundle.py"), "verify", j} }),
		batch("node verifyBundle", func(j string) (string, []string) { return e.node, []string{bundleHost("bundle.js"), "verify", j} }),
		batch("@sigstore/verify", func(j string) (string, []string) {
			return e.node, []string{bundleHost("bundle.js"), "sigstore-verify", j}
		}),
		{name: "sigstore-kms verify --bundle", run: func(t *testing.T, _ []madeBundle, jobs []bundleJob) []bundleResult {
			out := make([]bundleResult, len(jobs))
			for i, j := range jobs {
				args := []string{"verify", "--public-key", j.PublicKey, "--bundle", j.Bundle}
				if j.Artifact != "" {
					args = append(args, j.Artifact)
				}
				msg, ok := ours(t, dir, pluginByName("localkms"), args...)
				out[i] = bundleResult{OK: ok, Message: msg}
			}
			return out
		}},
	}
	if cosign != nil {
		vs = append(vs, bundleVerifier{name: "cosign", run: func(t *testing.T, made []madeBundle, jobs []bundleJob) []bundleResult {
			out := make([]bundleResult, len(jobs))
			for i, j := range jobs {
				msg, ok := cosign.verify(t, made[i], j, j.Artifact)
				out[i] = bundleResult{OK: ok, Message: msg}
			}
			return out
		}})
	}
	return vs
}

// verify runs cosign verify-blob (message) or verify-blob-attestation (DSSE) with the public
// key and --insecure-ignore-tlog. cosign verifies with the hash --signature-digest-algorithm
// names (default SHA-256), whatever the key: the hash the bundle's signature is over is given.
func (c *bundleCosign) verify(t *testing.T, b madeBundle, j bundleJob, artifact string) (string, bool) {
	hash := signatureHash(t, b)
	if b.kind == "message" {
		return c.run(t, "verify-blob", "--key", j.PublicKey, "--insecure-ignore-tlog", "--signature-digest-algorithm", hash, "--bundle", j.Bundle, artifact)
	}
	if artifact == "" {
		artifact = filepath.Join(filepath.Dir(j.Bundle), "artifact.bin")
	}
	return c.run(t, "verify-blob-attestation", "--key", j.PublicKey, "--insecure-ignore-tlog", "--new-bundle-format",
		"--signature-digest-algorithm", hash, "--type", bundlePredicateType, "--bundle", j.Bundle, artifact)
}

// signatureHash is the hash a bundle's signature is over, as cosign's flag names it: the
// message digest's algorithm; for DSSE, SHA-256 from sigstore-js (whatever the curve), the
// key's own hash from the others.
func signatureHash(t *testing.T, b madeBundle) string {
	if b.kind == "message" {
		var doc struct {
			MessageSignature struct {
				MessageDigest struct {
					Algorithm string `json:"algorithm"`
				} `json:"messageDigest"`
			} `json:"messageSignature"`
		}
		data, _ := os.ReadFile(b.file)
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", b.file, err)
		}
		switch doc.MessageSignature.MessageDigest.Algorithm {
		case "SHA2_384":
			return "sha384"
		case "SHA2_512":
			return "sha512"
		default:
			return "sha256"
		}
	}
	if b.producer == "sigstore-js" || b.alg != "ecdsa-p384" {
		return "sha256"
	}
	return "sha384"
}

// knownBundleLimit says whether verifier cannot verify b, and why (a sentence for the report).
func knownBundleLimit(b madeBundle, verifier string) (string, bool) {
	switch {
	case b.producer == "cosign" && b.kind == "message" && b.alg == "ed25519" && verifier == "cosign":
		return "cosign " + defaultCosignVersion + " writes \"messageDigest\":{} for an Ed25519 key and cannot verify its own bundle (\"message is missing artifact digest\"); ours, Python's and Node's verifiers check it, and cosign verifies ours (which carry a SHA2_512 digest)", true
	case b.producer == "cosign" && b.kind == "message" && b.alg == "ed25519" && verifier == "@sigstore/verify":
		return "@sigstore/verify refuses cosign's Ed25519 bundle: its empty messageDigest is invalid for @sigstore/bundle", true
	case b.kind == "message" && b.alg == "ed25519" && verifier == "@sigstore/verify":
		return "@sigstore/verify (3 and 4) cannot verify Ed25519 message-signature bundles: it passes a digest algorithm to crypto.verify, which Node refuses for Ed25519 keys; verifyBundle, Python and cosign verify them", true
	case b.kind == "dsse" && b.producer == "sigstore-js" && verifier == "cosign":
		return "cosign " + defaultCosignVersion + " refuses sigstore-js's public-key DSSE bundles: sigstore-js writes the key hint as the signature's keyid (as the bundle spec asks) and sigstore-go skips a signature whose keyid is not the key's SSH fingerprint; ours, cosign's and Python's DSSE bundles have no keyid", true
	case b.kind == "dsse" && b.alg == "ecdsa-p384" && b.producer != "sigstore-js" && verifier == "@sigstore/verify":
		return "@sigstore/verify checks DSSE signatures with Node's default digest, SHA-256, whatever the curve: it cannot verify P-384 envelopes signed over SHA-384 (cosign's, ours, Python's); ours and Python's accept both", true
	}
	return "", false
}

func bundleFailures(t *testing.T, cosign *bundleCosign, dir string, made []madeBundle, keys map[string]string, artifact, tampered string) {
	type check struct {
		what, reason, bundle, key, artifact string
		kind                                string
		alg                                 string
	}
	var checks []check
	for _, b := range made {
		if b.producer != "sigstore-kms" && b.producer != "python" {
			continue
		}
		other := keys["ecdsa-p256"]
		if b.alg == "ecdsa-p256" {
			other = keys["ed25519"]
		}
		art := ""
		if b.kind == "message" {
			art = artifact
		}
		wrongHint := strings.TrimSuffix(b.file, ".json") + ".wrong-hint.json"
		data, _ := os.ReadFile(b.file)
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		doc["verificationMaterial"] = map[string]any{"publicKey": map[string]any{"hint": base64.StdEncoding.EncodeToString(make([]byte, 32))}}
		fixed, _ := json.Marshal(doc)
		writeFile(t, wrongHint, fixed)
		malformed := strings.TrimSuffix(b.file, ".json") + ".malformed.json"
		writeFile(t, malformed, data[:len(data)/2])
		base := check{bundle: b.file, key: keys[b.alg], artifact: art, kind: b.kind, alg: b.alg}
		if b.kind == "message" {
			c := base
			c.what, c.reason, c.artifact = b.producer+" "+b.alg+" over a tampered artifact", "digest_mismatch", tampered
			checks = append(checks, c)
		} else {
			c := base
			c.what, c.reason, c.artifact = b.producer+" "+b.alg+" DSSE about another artifact", "subject_mismatch", tampered
			checks = append(checks, c)
		}
		c := base
		c.what, c.reason, c.key = b.producer+" "+b.alg+" "+b.kind+" with another key", "hint_mismatch", other
		checks = append(checks, c)
		c = base
		c.what, c.reason, c.bundle = b.producer+" "+b.alg+" "+b.kind+" with a wrong hint", "hint_mismatch", wrongHint
		checks = append(checks, c)
		c = base
		c.what, c.reason, c.bundle = b.producer+" "+b.alg+" "+b.kind+" truncated (malformed JSON)", "malformed", malformed
		checks = append(checks, c)
	}
	jobs := make([]bundleJob, len(checks))
	for i, c := range checks {
		jobs[i] = bundleJob{Bundle: c.bundle, PublicKey: c.key, Artifact: c.artifact}
	}
	for _, v := range []struct {
		name string
		argv func(string) (string, []string)
	}{
		{"python", func(j string) (string, []string) { return e.python, []string{bundleHost("bundle.py"), "verify", j} }},
		{"node verifyBundle", func(j string) (string, []string) { return e.node, []string{bundleHost("bundle.js"), "verify", j} }},
	} {
		results := runBatch(t, dir, v.name, jobs, v.argv)
		for i, c := range checks {
			if r := results[i]; r.OK || r.Reason != c.reason {
				t.Errorf("%s: %s: got ok=%v reason=%q (%s), want reason %q", v.name, c.what, r.OK, r.Reason, r.Message, c.reason)
			}
		}
	}
	// Our CLI says the same in words.
	words := map[string]string{"digest_mismatch": "messageDigest", "subject_mismatch": "matches none of the statement", "hint_mismatch": "hint", "malformed": "malformed bundle"}
	for _, c := range checks {
		args := []string{"verify", "--public-key", c.key, "--bundle", c.bundle}
		if c.artifact != "" {
			args = append(args, c.artifact)
		}
		if out, ok := ours(t, dir, pluginByName("localkms"), args...); ok || !strings.Contains(out, words[c.reason]) {
			t.Errorf("sigstore-kms verify --bundle: %s: ok=%v, want an error about %q: %s", c.what, ok, words[c.reason], out)
		}
	}
	// cosign refuses them too (it gives no reason to compare; it ignores the hint).
	if cosign == nil {
		return
	}
	for _, c := range checks {
		if c.reason == "hint_mismatch" && c.key == keys[c.alg] {
			continue // cosign does not read the hint: a wrong hint with the right key verifies there
		}
		b := madeBundle{alg: c.alg, kind: c.kind, file: c.bundle, producer: "sigstore-kms"}
		if c.reason == "malformed" {
			b.file = strings.Replace(c.bundle, ".malformed.json", ".json", 1) // for the hash only
		}
		j := bundleJob{Bundle: c.bundle, PublicKey: c.key}
		art := c.artifact
		if art == "" {
			art = artifact
		}
		if out, ok := cosign.verify(t, b, j, art); ok {
			t.Errorf("cosign verifies %s:\n%s", c.what, tail(out, 1000))
		}
	}
}

func bundleHost(name string) string {
	return filepath.Join(e.repo, "tests", "interop", "hosts", name)
}

// runTool runs a host script with our plugins on PATH; it returns its output and whether it succeeded.
func runTool(argv0 string, args ...string) (string, bool) {
	cmd := exec.Command(argv0, args...)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), "PATH="+pathWith(e.ourBin), "INTEROP_NODE_PACKAGE="+e.nodePackage)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// runBatch writes jobs to a file, runs argv on it, and reads one result per job.
func runBatch(t *testing.T, dir, name string, jobs []bundleJob, argv func(jobs string) (string, []string)) []bundleResult {
	t.Helper()
	file := filepath.Join(dir, fmt.Sprintf("jobs-%d.json", seq.Add(1)))
	data, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, data)
	bin, args := argv(file)
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), "PATH="+pathWith(e.ourBin), "INTEROP_NODE_PACKAGE="+e.nodePackage)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, tail(stderr.String(), 3000))
	}
	var results []bundleResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil || len(results) != len(jobs) {
		t.Fatalf("%s printed %d results for %d jobs (%v): %s", name, len(results), len(jobs), err, tail(stdout.String(), 2000))
	}
	return results
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
