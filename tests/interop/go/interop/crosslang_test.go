//go:build interop

package interop

import (
	"bytes"
	"crypto/ecdsa"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

// signature is one signature made in the matrix, and who made it.
type signature struct {
	by     string // "host=H plugin=P op=O"
	sig    []byte
	digest bool // made with signDigest
}

// TestCrossLanguage (check 1): every host drives every plugin through the
// standard scenario on one shared key (created by the Go plugin, in the file
// format all plugins share): our hosts drive the Go reference plugin, the Go
// reference host drives our plugins. Then every signature made anywhere is
// verified through the plugins by the Go host and by ours, locally with Go's
// crypto/ecdsa, and by our CLI with --public-key.
func TestCrossLanguage(t *testing.T) {
	timed(t)
	msgFile, tamperedFile := writeMessage(t)
	key := filepath.Join(scratch(t, "keys"), "shared-p256.pem")
	var spki []byte
	var pub *ecdsa.PublicKey
	var sigs []signature
	// The plugin's own error texts, as the Go host saw them, per plugin.
	goErrors := map[string][3]string{}

	for _, p := range plugins() {
		for _, h := range hosts() {
			pair := fmt.Sprintf("host=%s plugin=%s", h.name, p.name)
			if p.why != "" || h.why != "" {
				report.skip("check 1: host x plugin", h.name+" x "+p.name, firstNonEmpty(p.why, h.why))
				continue
			}
			t.Run(h.name+"_drives_"+p.name, func(t *testing.T) {
				report.track(t, "check 1: host x plugin", h.name+" x "+p.name)
				// The Go host signs the digest the way Go code does: crypto.Signer.
				sc := standardScenario(p.uri(key), msgFile, tamperedFile, 60, h.name == "go")
				run := runHost(t, hostByName(h.name), sc, p.dirs)
				k := checkStandard(t, pair, run.out)
				if k == nil {
					return
				}
				got := valueBytes(t, run.out.Results[opPublic])
				if spki == nil {
					spki, pub = got, k
				} else if !bytes.Equal(got, spki) {
					t.Errorf("%s: public key of the shared key file differs:\n got  %s\n want %s (first answer)", pair, b64(got), b64(spki))
				}
				for _, i := range []int{opSign, opSignDigest} {
					sigs = append(sigs, signature{by: pair + " op=" + sc.Ops[i].Op, sig: valueBytes(t, run.out.Results[i]), digest: i == opSignDigest})
				}
				msgs := [3]string{}
				for j, i := range []int{opVerifyTampered, opVerifyGarbage, opCreateUnsupported} {
					msgs[j] = run.out.Results[i].Error.PluginMessage
				}
				if h.name == "go" {
					goErrors[p.name] = msgs
				} else if want, ok := goErrors[p.name]; ok && msgs != want {
					t.Errorf("%s: the plugin's error messages differ from what the Go host got:\n %s: %q\n go: %q", pair, h.name, msgs, want)
				}
			})
		}
	}
	if len(sigs) == 0 || pub == nil {
		t.Fatal("no signatures were made")
	}

	t.Run("every_signature_verifies_locally", func(t *testing.T) {
		report.track(t, "check 1: cross-verification", "locally with Go crypto/ecdsa")
		for _, s := range sigs {
			if !ecdsa.VerifyASN1(pub, testDigest, s.sig) {
				t.Errorf("signature by %s does not verify with Go's crypto/ecdsa", s.by)
			}
		}
	})

	t.Run("our_cli_verifies_every_signature", func(t *testing.T) {
		report.track(t, "check 1: cross-verification", "our CLI with --public-key")
		dir := scratch(t, "cli-verify")
		pemFile := filepath.Join(dir, "pub.pem")
		cli := filepath.Join(e.ourBin, "sigstore-kms")
		pk := exec.Command(cli, "public-key", "--key", "localkms://"+key)
		pk.Env = append(os.Environ(), "PATH="+pathWith(e.ourBin))
		out, err := pk.Output()
		if err != nil {
			t.Fatalf("sigstore-kms public-key: %v", err)
		}
		if err := os.WriteFile(pemFile, out, 0o600); err != nil {
			t.Fatal(err)
		}
		for i, s := range sigs {
			sigFile := filepath.Join(dir, fmt.Sprintf("sig-%d", i))
			if err := os.WriteFile(sigFile, []byte(b64(s.sig)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(cli, "verify", "--public-key", pemFile, "--signature", sigFile, msgFile)
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
				t.Errorf("sigstore-kms verify --public-key: signature by %s: %v\n%s", s.by, err, out)
			}
		}
	})

	// Verification through plugins: the Go host through every plugin, every
	// host through the Go plugin, and ours through ours.
	for _, p := range plugins() {
		for _, h := range hosts() {
			if p.why != "" || h.why != "" || !(h.name == "go" || p.name == "gokms" || (h.name == "rust" && p.name == "localkms")) {
				continue
			}
			t.Run("verify_all_"+h.name+"_via_"+p.name, func(t *testing.T) {
				report.track(t, "check 1: cross-verification", h.name+" via "+p.name)
				sc := scenario.Scenario{Key: p.uri(key), HashFunc: 5, TimeoutSeconds: 60}
				var who []string
				for _, s := range sigs {
					sc.Ops = append(sc.Ops, scenario.Op{Op: scenario.VerifySignature, MessageFile: msgFile, Signature: s.sig})
					who = append(who, s.by+" (verifySignature)")
					sc.Ops = append(sc.Ops, scenario.Op{Op: scenario.VerifyDigest, Digest: testDigest, HashFunc: 5, Signature: s.sig})
					who = append(who, s.by+" (verifyDigest)")
				}
				run := runHost(t, hostByName(h.name), sc, p.dirs)
				for i, r := range run.out.Results {
					if !r.OK {
						t.Errorf("verified by host=%s plugin=%s: signature by %s: %s", h.name, p.name, who[i], describe(r))
					}
				}
			})
		}
	}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// TestKeysShared: a key file created by any plugin is the same key to every
// other plugin, and a signature one makes verifies through the creator.
func TestKeysShared(t *testing.T) {
	timed(t)
	msgFile, _ := writeMessage(t)
	dir := scratch(t, "created-keys")
	avail := []plugin{}
	for _, p := range plugins() {
		if p.why == "" {
			avail = append(avail, p)
		}
	}
	for _, creator := range avail {
		t.Run("created_by_"+creator.name, func(t *testing.T) {
			report.track(t, "check 1: key files shared", "created by "+creator.name)
			key := filepath.Join(dir, creator.name+".pem")
			var spki []byte
			if creator.name == "localkms-via-cli" {
				// Our CLI: generate-key prints the PEM; compare through the Go host below.
				cmd := exec.Command(filepath.Join(e.ourBin, "sigstore-kms"), "generate-key", "--key", "localkms://"+key)
				cmd.Env = append(os.Environ(), "PATH="+pathWith(e.linkBin))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("sigstore-kms generate-key: %v\n%s", err, out)
				}
			} else {
				// The Go plugin's key is made through our Rust host; ours through the Go host.
				h := hostByName("go")
				if !creator.ours {
					h = hostByName("rust")
				}
				sc := scenario.Scenario{Key: creator.uri(key), HashFunc: 5, TimeoutSeconds: 60,
					Ops: []scenario.Op{{Op: scenario.CreateKey, Algorithm: "ecdsa-p256"}}}
				r := runHost(t, h, sc, creator.dirs).out.Results[0]
				if !r.OK {
					t.Fatalf("host=%s plugin=%s createKey: %s", h.name, creator.name, describe(r))
				}
				spki = valueBytes(t, r)
			}
			if info, err := os.Stat(key); err != nil {
				t.Fatal(err)
			} else if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("plugin %s created %s with mode %v: readable by others", creator.name, key, info.Mode().Perm())
			}
			for _, reader := range avail {
				h := hostByName("go")
				if !reader.ours {
					h = hostByName("rust")
				}
				sc := scenario.Scenario{Key: reader.uri(key), HashFunc: 5, TimeoutSeconds: 60, Ops: []scenario.Op{
					{Op: scenario.PublicKey},
					{Op: scenario.SignMessage, MessageFile: msgFile},
				}}
				res := runHost(t, h, sc, reader.dirs).out.Results
				if !res[0].OK || !res[1].OK {
					t.Errorf("plugin %s reading the key %s created: %s / %s", reader.name, creator.name, describe(res[0]), describe(res[1]))
					continue
				}
				if got := valueBytes(t, res[0]); spki == nil {
					spki = got
				} else if !bytes.Equal(got, spki) {
					t.Errorf("plugin %s reads the key %s created as a different key:\n got  %s\n want %s", reader.name, creator.name, b64(got), b64(spki))
				}
				// The creator verifies the reader's signature.
				vh := hostByName("rust")
				if !creator.ours {
					vh = hostByName("go")
				}
				vsc := scenario.Scenario{Key: creator.uri(key), HashFunc: 5, TimeoutSeconds: 60, Ops: []scenario.Op{
					{Op: scenario.VerifySignature, MessageFile: msgFile, Signature: valueBytes(t, res[1])},
				}}
				if r := runHost(t, vh, vsc, creator.dirs).out.Results[0]; !r.OK {
					t.Errorf("signed by plugin %s (host %s), verified by plugin %s (host %s): %s", reader.name, h.name, creator.name, vh.name, describe(r))
				}
			}
		})
	}
}
