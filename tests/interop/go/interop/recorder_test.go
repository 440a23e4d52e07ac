//go:build interop

package interop

import (
	"bytes"
	"crypto/sha512"
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
	"testing"
	"time"

	"github.com/sigstore-kms-plugins/interop/internal/recording"
	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

// recorderPlugin is the recorder, as recorder://.
func recorderPlugin() plugin {
	return plugin{name: "recorder", scheme: "recorder", dirs: []string{e.goBin}}
}

var deadlineRE = regexp.MustCompile(`"ctxDeadline":"([^"]*)"`)

// normalise replaces every ctxDeadline value by a placeholder, after checking
// that it is an RFC 3339 time in [from, to]. It returns the normalised text and
// the deadlines found.
func normalise(t *testing.T, who, request string, from, to time.Time) (string, []string) {
	t.Helper()
	var found []string
	out := deadlineRE.ReplaceAllStringFunc(request, func(m string) string {
		v := deadlineRE.FindStringSubmatch(m)[1]
		found = append(found, v)
		d, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Errorf("%s: ctxDeadline %q is not RFC 3339: %v", who, v, err)
		} else if d.Before(from) || d.After(to) {
			t.Errorf("%s: ctxDeadline %q is outside [%s, %s]", who, v, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
		}
		return `"ctxDeadline":"<deadline>"`
	})
	return out, found
}

// recorded runs sc with host h against the recorder and returns the calls.
func recorded(t *testing.T, h host, sc scenario.Scenario, extraEnv ...string) ([]recording.Call, hostRun) {
	t.Helper()
	dir := scratch(t, "recording-"+h.name)
	run := runHost(t, h, sc, recorderPlugin().dirs, append([]string{"INTEROP_RECORD_DIR=" + dir}, extraEnv...)...)
	calls, err := recording.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return calls, run
}

// window is the time range a run's deadlines may lie in.
type window struct{ from, to time.Time }

func windowOf(run hostRun, timeout float64) window {
	slack := 2 * time.Second
	return window{run.start.Add(-slack), run.finish.Add(time.Duration(timeout*float64(time.Second)) + slack)}
}

// callDiff compares one recorded call of ours with the Go host's. knownDiff,
// when not nil, may explain a difference of argv[2]: it returns our normalised
// request rewritten the way the Go client would have written it, and the
// finding to report.
type knownDiff func(i int, ours string) (rewritten string, finding string)

func compareCalls(t *testing.T, label, ourName string, goCalls, ours []recording.Call, goWin, ourWin window, known knownDiff) {
	t.Helper()
	if len(ours) != len(goCalls) {
		t.Errorf("%s: the Go host made %d plugin calls, %s made %d", label, len(goCalls), ourName, len(ours))
		return
	}
	for i := range goCalls {
		g, o := goCalls[i], ours[i]
		who := fmt.Sprintf("%s, call %d", label, i+1)
		if len(g.Argv) != 3 || len(o.Argv) != 3 {
			t.Errorf("%s: argv has %d elements from the Go host, %d from %s: %q / %q", who, len(g.Argv), len(o.Argv), ourName, g.Argv, o.Argv)
			continue
		}
		// argv[0]: the Go client runs exec.Command("sigstore-kms-NAME"), so the
		// plugin sees the bare program name; compared on its own (subtest argv0).
		if g.Argv[0] != o.Argv[0] {
			argv0Diffs = append(argv0Diffs, fmt.Sprintf("%s: Go host argv[0]=%q, %s argv[0]=%q", who, g.Argv[0], ourName, o.Argv[0]))
		}
		if g.Argv[1] != o.Argv[1] {
			t.Errorf("%s: argv[1] is %q from the Go host, %q from %s", who, g.Argv[1], o.Argv[1], ourName)
		}
		gn, gd := normalise(t, who+" (Go host)", g.Argv[2], goWin.from, goWin.to)
		on, od := normalise(t, who+" ("+ourName+")", o.Argv[2], ourWin.from, ourWin.to)
		logFormats(t, who, ourName, gd, od)
		if gn != on {
			if known != nil {
				if rewritten, finding := known(i, on); rewritten == gn {
					report.finding(finding)
					t.Logf("%s: known difference: %s", who, finding)
					goto stdin
				}
			}
			t.Errorf("%s: argv[2] differs (deadline values normalised):\n Go host:  %s\n %-8s  %s\n first difference at byte %d", who, gn, ourName+":", on, firstDiff(gn, on))
		}
	stdin:
		if !bytes.Equal(g.Stdin, o.Stdin) {
			t.Errorf("%s: stdin differs: Go host sent %d bytes, %s sent %d bytes (first difference at byte %d)", who, len(g.Stdin), ourName, len(o.Stdin), firstDiff(string(g.Stdin), string(o.Stdin)))
		}
		if g.StdinKind != o.StdinKind {
			t.Errorf("%s: stdin is a %s from the Go host, a %s from %s", who, g.StdinKind, o.StdinKind, ourName)
		}
	}
}

// argv0Diffs collects argv[0] differences for the argv0 subtest of each host.
var argv0Diffs []string

// logFormats notes deadlines written in a different form (e.g. a local time
// offset from Go, UTC from us): a difference of value, not of protocol.
func logFormats(t *testing.T, who, ourName string, goDeadlines, ourDeadlines []string) {
	for j := range min(len(goDeadlines), len(ourDeadlines)) {
		gz, oz := zoneOf(goDeadlines[j]), zoneOf(ourDeadlines[j])
		if gz != oz {
			report.finding(fmt.Sprintf("ctxDeadline zone: the Go client writes the deadline in the local time zone (%s here), ours in %s; same instant format (RFC 3339), different text", gz, oz))
			t.Logf("%s: deadline written as %q by the Go host, %q by %s", who, goDeadlines[j], ourDeadlines[j], ourName)
		}
	}
}

func zoneOf(ts string) string {
	if strings.HasSuffix(ts, "Z") {
		return "Z"
	}
	if len(ts) >= 6 {
		return ts[len(ts)-6:]
	}
	return ts
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// recordingScenario exercises every method with inputs that stress the
// encoding: a key reference with HTML-escaped characters, non-ASCII and
// U+2028; a 1 MiB binary message; literal signatures (so both sides send the
// same bytes).
func recordingScenario(key, msgFile string, timeout float64, hash int, keyVersion string, remote, cryptoSigner bool) scenario.Scenario {
	digest := testDigest
	if hash == 6 {
		d := sha512.Sum384(testMessage)
		digest = d[:]
	}
	sig := []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}
	return scenario.Scenario{Key: key, HashFunc: hash, TimeoutSeconds: timeout, KeyVersion: keyVersion, RemoteVerification: remote,
		Ops: []scenario.Op{
			{Op: scenario.DefaultAlgorithm},
			{Op: scenario.SupportedAlgorithms},
			{Op: scenario.CreateKey, Algorithm: "ecdsa-p256"},
			{Op: scenario.PublicKey},
			{Op: scenario.SignMessage, MessageFile: msgFile},
			{Op: scenario.SignDigest, Digest: digest, HashFunc: hash, CryptoSigner: cryptoSigner},
			{Op: scenario.VerifySignature, MessageFile: msgFile, Signature: sig},
			{Op: scenario.VerifyDigest, Digest: digest, HashFunc: hash, Signature: sig},
			{Op: scenario.VerifySignature, Message: []byte{}, Signature: []byte{}},
			{Op: scenario.CreateKey, Algorithm: "no-such-algorithm"},
		}}
}

// TestRequestsByteForByte (check 2): the recorder captures argv and stdin for
// the same calls from the Go host and from each of ours; they must be
// identical byte for byte, deadline values aside.
func TestRequestsByteForByte(t *testing.T) {
	timed(t)
	msgFile, _ := writeMessage(t)
	dir := scratch(t, "recorder-keys")
	key := filepath.Join(dir, "key <&> é\u2028✓.pem")
	rec := recorderPlugin()
	cases := []struct {
		name string
		sc   scenario.Scenario
		// cryptoSignerDeadline: the Go host signs the digest through
		// CryptoSigner while a timeout is set (see below).
		cryptoSignerDeadline bool
		// goEnv: extra environment of the Go host.
		goEnv []string
	}{
		{name: "deadline_keyversion_remote", sc: recordingScenario(rec.uri(key), msgFile, 60, 5, "v7 <&>", true, false)},
		{name: "no_deadline_sha384_cryptosigner", sc: recordingScenario(rec.uri(key), msgFile, 0, 6, "", false, true)},
		{name: "deadline_cryptosigner", sc: recordingScenario(rec.uri(key), msgFile, 60, 5, "", false, true), cryptoSignerDeadline: true},
		// Go writes deadlines in the local time zone: same instant, other text.
		{name: "deadline_go_in_other_time_zone", sc: recordingScenario(rec.uri(key), msgFile, 60, 5, "", false, false), goEnv: []string{"TZ=Asia/Kolkata"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			goCalls, goRun := recorded(t, hostByName("go"), c.sc, c.goEnv...)
			if len(goCalls) != len(c.sc.Ops) {
				t.Fatalf("the Go host made %d plugin calls for %d ops", len(goCalls), len(c.sc.Ops))
			}
			var known knownDiff
			if c.cryptoSignerDeadline {
				// Go's CryptoSigner.Sign calls SignMessage without the caller's
				// context ("the client's initializing ctx should not be used in
				// calls to its methods"), so the method's rpcOptions carry no
				// ctxDeadline; ours send the call's deadline there too.
				known = func(i int, ours string) (string, string) {
					if c.sc.Ops[i].Op != scenario.SignDigest {
						return "", ""
					}
					return strings.Replace(ours, `"signOptions":{"rpcOptions":{"ctxDeadline":"<deadline>",`, `"signOptions":{"rpcOptions":{`, 1),
						"signing a digest with a timeout: Go's CryptoSigner.Sign sends no signOptions.rpcOptions.ctxDeadline (it drops the caller's context by design); our sign_digest sends the call's deadline there (initOptions.ctxDeadline is present on both sides)"
				}
			}
			for _, h := range hosts() {
				if h.name == "go" {
					continue
				}
				if h.why != "" {
					report.skip("check 2: request bytes", h.name, h.why)
					continue
				}
				t.Run(h.name, func(t *testing.T) {
					ours, ourRun := recorded(t, h, c.sc)
					t.Run("argv1_argv2_stdin", func(t *testing.T) {
						report.track(t, "check 2: request bytes", h.name+" ("+c.name+")")
						argv0Diffs = nil
						compareCalls(t, c.name, h.name, goCalls, ours, windowOf(goRun, c.sc.TimeoutSeconds), windowOf(ourRun, c.sc.TimeoutSeconds), known)
					})
					diffs := argv0Diffs
					t.Run("argv0", func(t *testing.T) {
						report.track(t, "check 2: request argv[0]", h.name+" ("+c.name+")")
						checkArgv0(t, diffs)
					})
				})
			}
		})
	}
}

// TestCLIRequestsByteForByte: the calls our CLI makes (each command one client
// with the default 300 s timeout) are the Go host's, byte for byte.
func TestCLIRequestsByteForByte(t *testing.T) {
	timed(t)
	msgFile, _ := writeMessage(t)
	dir := scratch(t, "cli-recorder")
	key := filepath.Join(dir, "cli key.pem")
	rec := recorderPlugin()
	sigFile := filepath.Join(dir, "sig")
	sig := []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}
	if err := os.WriteFile(sigFile, []byte(b64(sig)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uri := rec.uri(key)
	sc := scenario.Scenario{Key: uri, HashFunc: 5, TimeoutSeconds: 300, Ops: []scenario.Op{
		{Op: scenario.DefaultAlgorithm},
		{Op: scenario.CreateKey, Algorithm: "ecdsa-p256"},
		{Op: scenario.CreateKey, Algorithm: "ecdsa-p384"},
		{Op: scenario.PublicKey},
		{Op: scenario.SignMessage, MessageFile: msgFile},
		{Op: scenario.SignDigest, Digest: testDigest, HashFunc: 5},
		{Op: scenario.VerifySignature, MessageFile: msgFile, Signature: sig},
		{Op: scenario.VerifyDigest, Digest: testDigest, HashFunc: 5, Signature: sig},
	}}
	cliCmds := [][]string{
		{"generate-key", "--key", uri}, // defaultAlgorithm, then createKey with it
		{"generate-key", "--key", uri, "--algorithm", "ecdsa-p384"},
		{"public-key", "--key", uri},
		{"sign", "--key", uri, msgFile},
		{"sign", "--key", uri, "--digest", msgFile},
		{"verify", "--key", uri, "--signature", sigFile, msgFile},
		{"verify", "--key", uri, "--digest", "--signature", sigFile, msgFile},
	}
	goCalls, goRun := recorded(t, hostByName("go"), sc)
	recDir := scratch(t, "recording-cli")
	start := time.Now()
	for _, args := range cliCmds {
		cmd := exec.Command(filepath.Join(e.ourBin, "sigstore-kms"), args...)
		cmd.Env = append(os.Environ(), "PATH="+pathWith(rec.dirs...), "INTEROP_RECORD_DIR="+recDir)
		out, err := cmd.CombinedOutput()
		// The verifications fail (the signature is made up): exit status 1 is expected there.
		if err != nil && args[0] != "verify" {
			t.Fatalf("sigstore-kms %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ours, err := recording.Load(recDir)
	if err != nil {
		t.Fatal(err)
	}
	cliWin := window{start.Add(-2 * time.Second), time.Now().Add(302 * time.Second)}
	t.Run("argv1_argv2_stdin", func(t *testing.T) {
		report.track(t, "check 2: request bytes", "sigstore-kms CLI")
		argv0Diffs = nil
		compareCalls(t, "CLI", "sigstore-kms", goCalls, ours, windowOf(goRun, 300), cliWin, nil)
	})
	diffs := argv0Diffs
	t.Run("argv0", func(t *testing.T) {
		report.track(t, "check 2: request argv[0]", "sigstore-kms CLI")
		checkArgv0(t, diffs)
	})
}

// checkArgv0 fails if argv[0] differed from the Go host's in any call.
func checkArgv0(t *testing.T, diffs []string) {
	t.Helper()
	if len(diffs) > 0 {
		report.finding("argv[0]: the Go client runs exec.Command(\"sigstore-kms-NAME\"), so the plugin's argv[0] is the bare program name; our hosts pass the absolute path they found (fix in core/src/process.rs: keep executing the absolute path, but set argv[0] to the program name with std::os::unix::process::CommandExt::arg0)")
		t.Errorf("%d of the calls differ in argv[0]; first: %s", len(diffs), diffs[0])
	}
}

// ----- replay --------------------------------------------------------------------------

// responseVector is a file of tests/vectors/responses.
type responseVector struct {
	Name         string `json:"name"`
	Method       string `json:"method"`
	Stdout       string `json:"stdout"`
	StdoutBase64 string `json:"stdoutBase64"`
	Go           struct {
		Outcome string `json:"outcome"`
		Error   string `json:"error"`
	} `json:"go"`
	Expect struct {
		OK    map[string]json.RawMessage `json:"ok"`
		Error string                     `json:"error"`
	} `json:"expect"`
}

// replayCase is one response a plugin gives, with what each host must make of it.
type replayCase struct {
	name   string
	method string
	stdout []byte
	exit   string // the recorder's exit: "" (0), a number, or "SIGKILL"
	// want: our hosts; wantGo: the Go host. Kind "" means success with value.
	want, wantGo expectation
}

type expectation struct {
	kind  string          // "" for success
	value json.RawMessage // for success: the value the host prints
	any   bool            // success with any value (Go's lenient decoding of input we refuse)
}

func (x expectation) String() string {
	if x.kind != "" {
		return "error " + x.kind
	}
	if x.any {
		return "success"
	}
	return "ok " + string(x.value)
}

// opFor is the single op that makes the host call method.
func opFor(method string) scenario.Op {
	switch method {
	case "createKey":
		return scenario.Op{Op: scenario.CreateKey, Algorithm: "ecdsa-p256"}
	case "signMessage":
		return scenario.Op{Op: scenario.SignMessage, Message: []byte("message")}
	case "verifySignature":
		return scenario.Op{Op: scenario.VerifySignature, Message: []byte("message"), Signature: []byte{1, 2, 3}}
	default:
		return scenario.Op{Op: method}
	}
}

// successValue is what a host prints for a successful method result given as
// the vector's expect.ok object: createKey/publicKey print the DER
// SubjectPublicKeyInfo, so a publicKeyPEM that is not a public key PEM is an
// error on every host (kind "Other" from the Go host: cryptoutils fails).
func successValue(method string, ok map[string]json.RawMessage) (json.RawMessage, bool) {
	switch method {
	case "defaultAlgorithm":
		return ok["defaultAlgorithm"], true
	case "supportedAlgorithms":
		return ok["supportedAlgorithms"], true
	case "createKey", "publicKey":
		var pemB64 []byte
		if json.Unmarshal(ok["publicKeyPEM"], &pemB64) != nil {
			return nil, false
		}
		der, err := spkiOfPEM(pemB64)
		if err != nil {
			return nil, false
		}
		v, _ := json.Marshal(der)
		return v, true
	case "signMessage":
		return ok["signature"], true
	default: // verifySignature
		return json.RawMessage("null"), true
	}
}

func loadReplayCases(t *testing.T) []replayCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(e.repo, "tests", "vectors", "responses", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no response vectors: %v", err)
	}
	var cases []replayCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v responseVector
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c := replayCase{name: v.Name, method: v.Method, stdout: []byte(v.Stdout)}
		if v.StdoutBase64 != "" {
			if c.stdout, err = base64.StdEncoding.DecodeString(v.StdoutBase64); err != nil {
				t.Fatal(err)
			}
		}
		fatalMethod := v.Method == "defaultAlgorithm" || v.Method == "supportedAlgorithms"
		// Ours: the vector's expect.
		if v.Expect.Error != "" {
			c.want = expectation{kind: v.Expect.Error}
		} else if val, ok := successValue(v.Method, v.Expect.OK); ok {
			c.want = expectation{value: val}
		} else {
			c.want = expectation{kind: "InvalidResponse"}
		}
		// The Go host: what the reference client does with it.
		switch v.Go.Outcome {
		case "ok":
			switch {
			case v.Expect.Error != "":
				c.wantGo = expectation{any: true} // a deliberate difference: Go substitutes U+FFFD
			case c.want.kind != "":
				c.wantGo = expectation{kind: "Other"} // not a public key PEM
			default:
				c.wantGo = c.want
			}
		case "plugin_error":
			c.wantGo = expectation{kind: "PluginReturned"}
		case "decode_error":
			c.wantGo = expectation{kind: "InvalidResponse"}
		case "missing_method_object":
			if v.Method == "verifySignature" {
				c.wantGo = expectation{value: json.RawMessage("null")}
			} else {
				c.wantGo = expectation{kind: "Panic"}
			}
		default:
			t.Fatalf("%s: unknown go.outcome %q", v.Name, v.Go.Outcome)
		}
		if fatalMethod && c.wantGo.kind != "" && c.wantGo.kind != "Panic" {
			c.wantGo.kind = "Fatal" // log.Fatal in DefaultAlgorithm / SupportedAlgorithms
		}
		cases = append(cases, c)
	}
	// Cases the vectors cannot express: the process, not just stdout.
	pemText := fixturePEM(t)
	okPub, _ := json.Marshal(mustSPKI(t, pemText))
	pubResp := fmt.Sprintf(`{"publicKey":{"publicKeyPEM":"%s"}}`, b64(pemText))
	cases = append(cases,
		replayCase{name: "extra_exit_status_3_with_answer", method: "publicKey", stdout: []byte(pubResp), exit: "3",
			want: expectation{value: okPub}, wantGo: expectation{value: okPub}},
		replayCase{name: "extra_killed_by_signal_after_answer", method: "publicKey", stdout: []byte(pubResp), exit: "SIGKILL",
			want: expectation{kind: "Exec"}, wantGo: expectation{kind: "Exec"}},
		replayCase{name: "extra_default_algorithm_error", method: "defaultAlgorithm", stdout: []byte(`{"errorMessage":"no algorithms today"}`),
			want: expectation{kind: "PluginReturned"}, wantGo: expectation{kind: "Fatal"}},
		replayCase{name: "extra_case_unknown_null_public_key", method: "publicKey",
			stdout: []byte(fmt.Sprintf(`{"ERRORMESSAGE":null,"PublicKey":{"publickeypem":"%s","extra":[1,{"x":null}]},"unknown":{"a":1}}`, b64(pemText))),
			want:   expectation{value: okPub}, wantGo: expectation{value: okPub}},
		replayCase{name: "extra_create_key_kelvin_and_unknown", method: "createKey",
			stdout: []byte(fmt.Sprintf(`{"createKey":{"PublicKeyPEM":"%s","K":1},"errorMessage":""}`, b64(pemText))),
			want:   expectation{value: okPub}, wantGo: expectation{value: okPub}},
	)
	return cases
}

// TestReplayedResponses (check 2, responses): the recorder replays every
// response vector (and a few process-level cases) to every real host; each
// decodes it as the vector says: the Go host as the reference client does, ours
// as `expect` says, and where both succeed, to the same value.
func TestReplayedResponses(t *testing.T) {
	timed(t)
	cases := loadReplayCases(t)
	replay := scratch(t, "replay")
	key := filepath.Join(scratch(t, "replay-key"), "key.pem")
	sc := scenario.Scenario{Key: recorderPlugin().uri(key), HashFunc: 5, TimeoutSeconds: 60}
	for i, c := range cases {
		base := filepath.Join(replay, fmt.Sprintf("%04d", i+1))
		if err := os.WriteFile(base+".out", c.stdout, 0o600); err != nil {
			t.Fatal(err)
		}
		if c.exit != "" {
			if err := os.WriteFile(base+".exit", []byte(c.exit), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		sc.Ops = append(sc.Ops, opFor(c.method))
	}
	results := map[string][]scenario.Result{}
	for _, h := range hosts() {
		if h.why != "" {
			report.skip("check 2: replayed responses", h.name, h.why)
			continue
		}
		t.Run(h.name, func(t *testing.T) {
			report.track(t, "check 2: replayed responses", fmt.Sprintf("%s (%d responses)", h.name, len(cases)))
			calls, run := recorded(t, h, sc, "INTEROP_REPLAY_DIR="+replay)
			if len(calls) != len(cases) {
				t.Fatalf("%d plugin calls for %d responses", len(calls), len(cases))
			}
			results[h.name] = run.out.Results
			for i, c := range cases {
				want := c.want
				if h.name == "go" {
					want = c.wantGo
				}
				got := run.out.Results[i]
				if !meets(got, want) {
					t.Errorf("response %s (%s) replayed to the %s host: want %s, got %s\n stdout was: %q", c.name, c.method, h.name, want, describe(got), abbreviate(string(c.stdout)))
				}
			}
		})
	}
	// Where the Go host and ours both succeeded, or both got the plugin's
	// error, they must agree on the value or the message; every other
	// disagreement is a documented deliberate one, listed here.
	goRes, ok := results["go"]
	if !ok {
		return
	}
	deliberate := 0
	defer func() {
		if deliberate > 0 {
			report.finding(fmt.Sprintf("replay: %d of %d responses end differently in the Go host and ours, all as tests/vectors documents (Go crashes with a nil dereference, log.Fatal-s, reports success for verifySignature without its object, or accepts invalid UTF-8; ours answer InvalidResponse / PluginReturned); run with -v to list them", deliberate, len(cases)))
		}
	}()
	for name, res := range results {
		if name == "go" {
			continue
		}
		for i, c := range cases {
			g, o := goRes[i], res[i]
			switch {
			case g.OK && o.OK && !sameJSON(g.Value, o.Value):
				t.Errorf("response %s (%s): the Go host decoded %s, %s decoded %s", c.name, c.method, g.Value, name, o.Value)
			case !g.OK && !o.OK && g.Error.Kind == "PluginReturned" && o.Error.Kind == "PluginReturned" && g.Error.PluginMessage != o.Error.PluginMessage:
				// Ours escape control characters and cap the length (README); only that may differ.
				if !strings.ContainsAny(g.Error.PluginMessage, "\x00\x01\x07\x1b\n\r\t\x7f") && len(g.Error.PluginMessage) < 1000 {
					t.Errorf("response %s: errorMessage %q from the Go host, %q from %s", c.name, g.Error.PluginMessage, o.Error.PluginMessage, name)
				}
			case g.OK != o.OK || (!g.OK && g.Error.Kind != o.Error.Kind):
				if name == "rust" {
					t.Logf("deliberate difference, %s (%s): Go host %s; ours %s", c.name, c.method, brief(g), brief(o))
					deliberate++
				}
			}
		}
	}
}

// brief is a one-line description of a result, without the host's whole text.
func brief(r scenario.Result) string {
	if r.OK {
		return "ok " + abbreviate(string(r.Value))
	}
	return "error " + r.Error.Kind
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// meets reports whether result r is what x expects.
func meets(r scenario.Result, x expectation) bool {
	if x.kind != "" {
		return !r.OK && r.Error != nil && r.Error.Kind == x.kind
	}
	if !r.OK {
		return false
	}
	return x.any || sameJSON(r.Value, x.value)
}

// spkiOfPEM is the DER SubjectPublicKeyInfo of a PUBLIC KEY PEM, re-encoded.
func spkiOfPEM(text []byte) ([]byte, error) {
	block, _ := pem.Decode(text)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(k)
}

func fixturePEM(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.repo, "tests", "fixtures", "keys", "fixture-p256.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustSPKI(t *testing.T, text []byte) []byte {
	t.Helper()
	der, err := spkiOfPEM(text)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
