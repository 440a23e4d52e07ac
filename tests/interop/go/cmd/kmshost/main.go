// Command kmshost is the Go reference host of the interop tests: it loads a
// key with the reference's kms.Get (which runs sigstore-kms-NAME through
// cliplugin, as cosign does) and runs a scenario (see internal/scenario),
// printing the results as JSON.
//
//	kmshost SCENARIO.json
//
// The Go client's DefaultAlgorithm and SupportedAlgorithms call log.Fatal when
// the plugin fails; to report that as a result instead of dying, kmshost runs
// those two calls in a child process (itself, with KMSHOST_ONLY_OP set) and
// reports a child that exited through log.Fatal as an error of kind "Fatal".
// A panic in the client (the nil dereference on a response without the
// method's object) is recovered and reported as kind "Panic".
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/sigstore-kms-plugins/interop/internal/scenario"
)

const (
	onlyOpEnv   = "KMSHOST_ONLY_OP"
	fatalPrefix = "KMSHOST-FATAL: "
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kmshost SCENARIO.json")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kmshost:", err)
		os.Exit(2)
	}
	var sc scenario.Scenario
	if err := json.Unmarshal(data, &sc); err != nil {
		fmt.Fprintln(os.Stderr, "kmshost: scenario:", err)
		os.Exit(2)
	}
	h, err := newHost(sc)
	if err != nil {
		// kms.Get failed: nothing can run.
		fmt.Fprintln(os.Stderr, "kmshost: kms.Get:", err)
		os.Exit(1)
	}
	defer h.cancel()

	if only := os.Getenv(onlyOpEnv); only != "" {
		// Child mode: run one op; log.Fatal inside it ends this process.
		log.SetFlags(0)
		log.SetPrefix(fatalPrefix)
		i, err := strconv.Atoi(only)
		if err != nil || i < 0 || i >= len(sc.Ops) {
			fmt.Fprintln(os.Stderr, "kmshost: bad", onlyOpEnv)
			os.Exit(2)
		}
		emit(h.run(i, nil))
		return
	}

	out := scenario.Output{Host: "go"}
	for i, op := range sc.Ops {
		if op.Op == scenario.DefaultAlgorithm || op.Op == scenario.SupportedAlgorithms {
			out.Results = append(out.Results, runIsolated(i, op.Op))
			continue
		}
		out.Results = append(out.Results, h.run(i, out.Results))
	}
	emit(out)
}

func emit(v any) {
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "kmshost:", err)
		os.Exit(1)
	}
}

type host struct {
	sc     scenario.Scenario
	sv     kms.SignerVerifier
	cancel context.CancelFunc
}

func (s *host) timeout() time.Duration {
	return time.Duration(s.sc.TimeoutSeconds * float64(time.Second))
}

// callCtx is the context of one call: its own deadline when a timeout is set.
func (s *host) callCtx() (context.Context, context.CancelFunc) {
	if s.sc.TimeoutSeconds > 0 {
		return context.WithTimeout(context.Background(), s.timeout())
	}
	return context.Background(), func() {}
}

// rpcOpts are the options given to kms.Get and to every call besides the context.
func (s *host) rpcOpts() []signature.RPCOption {
	var opts []signature.RPCOption
	if s.sc.KeyVersion != "" {
		opts = append(opts, options.WithKeyVersion(s.sc.KeyVersion))
	}
	if s.sc.RemoteVerification {
		opts = append(opts, options.WithRemoteVerification(true))
	}
	return opts
}

func newHost(sc scenario.Scenario) (*host, error) {
	s := &host{sc: sc}
	ctx, cancel := s.callCtx()
	s.cancel = cancel
	sv, err := kms.Get(ctx, sc.Key, crypto.Hash(sc.HashFunc), s.rpcOpts()...)
	if err != nil {
		cancel()
		return nil, err
	}
	s.sv = sv
	return s, nil
}

func (s *host) signOpts(ctx context.Context, extra ...signature.SignOption) []signature.SignOption {
	opts := []signature.SignOption{}
	if s.sc.TimeoutSeconds > 0 {
		opts = append(opts, options.WithContext(ctx))
	}
	for _, o := range s.rpcOpts() {
		opts = append(opts, o.(signature.SignOption))
	}
	return append(opts, extra...)
}

func (s *host) verifyOpts(ctx context.Context, extra ...signature.VerifyOption) []signature.VerifyOption {
	opts := []signature.VerifyOption{}
	for _, o := range s.signOpts(ctx) {
		opts = append(opts, o.(signature.VerifyOption))
	}
	return append(opts, extra...)
}

func (s *host) publicKeyOpts(ctx context.Context) []signature.PublicKeyOption {
	opts := []signature.PublicKeyOption{}
	for _, o := range s.signOpts(ctx) {
		opts = append(opts, o.(signature.PublicKeyOption))
	}
	return opts
}

func message(op scenario.Op) (io.Reader, func(), error) {
	if op.MessageFile != "" {
		f, err := os.Open(op.MessageFile)
		if err != nil {
			return nil, nil, err
		}
		// Hidden behind a plain io.Reader: os/exec would hand an *os.File to
		// the plugin as its stdin; like cosign (which passes a bytes.Reader),
		// and like our hosts, the plugin then reads a pipe.
		return struct{ io.Reader }{f}, func() { f.Close() }, nil
	}
	return bytes.NewReader(op.Message), func() {}, nil
}

// run runs op i; earlier holds the results so far (for signatureFrom).
func (s *host) run(i int, earlier []scenario.Result) (res scenario.Result) {
	op := s.sc.Ops[i]
	res.Op = op.Op
	defer func() {
		if r := recover(); r != nil {
			res = scenario.Result{Op: op.Op, Error: &scenario.Error{Kind: "Panic", Text: fmt.Sprint(r)}}
		}
	}()
	ctx, cancel := s.callCtx()
	defer cancel()

	var value any
	var err error
	switch op.Op {
	case scenario.DefaultAlgorithm:
		value = s.sv.DefaultAlgorithm()
	case scenario.SupportedAlgorithms:
		algs := s.sv.SupportedAlgorithms()
		if algs == nil {
			algs = []string{}
		}
		value = algs
	case scenario.CreateKey:
		var pub crypto.PublicKey
		if pub, err = s.sv.CreateKey(ctx, op.Algorithm); err == nil {
			value, err = spki(pub)
		}
	case scenario.PublicKey:
		var pub crypto.PublicKey
		if pub, err = s.sv.PublicKey(s.publicKeyOpts(ctx)...); err == nil {
			value, err = spki(pub)
		}
	case scenario.SignMessage:
		msg, closeMsg, merr := message(op)
		if merr != nil {
			return fail(op, "Other", merr)
		}
		defer closeMsg()
		value, err = nonNil(s.sv.SignMessage(msg, s.signOpts(ctx)...))
	case scenario.SignDigest:
		hash := crypto.Hash(op.HashFunc)
		if op.CryptoSigner {
			// The path Go code such as cosign's signers takes: crypto.Signer.
			var signer crypto.Signer
			signer, _, err = s.sv.CryptoSigner(ctx, nil)
			if err == nil {
				value, err = nonNil(signer.Sign(rand.Reader, op.Digest, hash))
			}
		} else {
			value, err = nonNil(s.sv.SignMessage(bytes.NewReader(nil),
				s.signOpts(ctx, options.WithDigest(op.Digest), options.WithCryptoSignerOpts(hash))...))
		}
	case scenario.VerifySignature, scenario.VerifyDigest:
		sig := op.Signature
		if op.SignatureFrom != nil {
			sig, err = signatureFrom(earlier, *op.SignatureFrom)
			if err != nil {
				return fail(op, "Other", err)
			}
		}
		if op.Op == scenario.VerifyDigest {
			err = s.sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(nil),
				s.verifyOpts(ctx, options.WithDigest(op.Digest), options.WithCryptoSignerOpts(crypto.Hash(op.HashFunc)))...)
		} else {
			msg, closeMsg, merr := message(op)
			if merr != nil {
				return fail(op, "Other", merr)
			}
			defer closeMsg()
			err = s.sv.VerifySignature(bytes.NewReader(sig), msg, s.verifyOpts(ctx)...)
		}
	default:
		return fail(op, "Other", fmt.Errorf("unknown op %q", op.Op))
	}
	if err != nil {
		return fail(op, "", err)
	}
	raw, merr := json.Marshal(value)
	if merr != nil {
		return fail(op, "Other", merr)
	}
	return scenario.Result{Op: op.Op, OK: true, Value: raw}
}

// nonNil turns the nil signature the Go client returns for a response
// without one into an empty signature (printed as "", as our hosts do).
func nonNil(sig []byte, err error) ([]byte, error) {
	if sig == nil && err == nil {
		sig = []byte{}
	}
	return sig, err
}

func signatureFrom(earlier []scenario.Result, j int) ([]byte, error) {
	if j < 0 || j >= len(earlier) || !earlier[j].OK {
		return nil, fmt.Errorf("signatureFrom %d: no such successful op", j)
	}
	var sig []byte
	err := json.Unmarshal(earlier[j].Value, &sig)
	return sig, err
}

func spki(pub crypto.PublicKey) ([]byte, error) {
	return x509.MarshalPKIXPublicKey(pub)
}

// fail classifies err the way our hosts name their error kinds.
func fail(op scenario.Op, kind string, err error) scenario.Result {
	e := &scenario.Error{Kind: kind, Text: err.Error()}
	if kind == "" {
		switch {
		case errors.Is(err, cliplugin.ErrorPluginReturnError):
			e.Kind = "PluginReturned"
			e.PluginMessage = strings.TrimPrefix(err.Error(), cliplugin.ErrorPluginReturnError.Error()+": ")
		case errors.Is(err, cliplugin.ErrorResponseParse):
			e.Kind = "InvalidResponse"
		case errors.Is(err, context.DeadlineExceeded):
			e.Kind = "Timeout"
		case errors.Is(err, cliplugin.ErrorExecutingPlugin):
			e.Kind = "Exec"
		default:
			// e.g. a publicKeyPEM that cryptoutils cannot parse.
			e.Kind = "Other"
		}
	}
	return scenario.Result{Op: op.Op, Error: e}
}

// runIsolated runs op i in a child process, so that log.Fatal in the Go
// client ends the child, not this run.
func runIsolated(i int, name string) scenario.Result {
	self, err := os.Executable()
	if err != nil {
		return scenario.Result{Op: name, Error: &scenario.Error{Kind: "Other", Text: err.Error()}}
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), onlyOpEnv+"="+strconv.Itoa(i))
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	runErr := cmd.Run()
	var res scenario.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err == nil && res.Op != "" {
		return res
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if msg, ok := strings.CutPrefix(line, fatalPrefix); ok {
			e := &scenario.Error{Kind: "Fatal", Text: msg}
			if pm, ok := strings.CutPrefix(msg, cliplugin.ErrorPluginReturnError.Error()+": "); ok {
				e.PluginMessage = pm
			}
			return scenario.Result{Op: name, Error: e}
		}
	}
	return scenario.Result{Op: name, Error: &scenario.Error{Kind: "Other", Text: fmt.Sprintf("child failed: %v", runErr)}}
}
