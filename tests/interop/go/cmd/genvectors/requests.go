package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/encoding"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Deadlines used by the vectors. They lie far in the future because the real
// client refuses to start a plugin once its context has expired.
var (
	deadlineNanos      = time.Date(2099, 4, 1, 2, 47, 0, 123456789, time.UTC)
	deadlineTenth      = time.Date(2099, 4, 1, 2, 47, 0, 100000000, time.UTC)
	deadlineWhole      = time.Date(2099, 4, 1, 2, 47, 0, 0, time.UTC)
	deadlineMicrosecnd = time.Date(2099, 12, 31, 23, 59, 59, 1000, time.UTC)
)

const (
	sampleKeyID   = "projects/example/locations/global/keyRings/ring/cryptoKeys/key"
	sampleMessage = "the message to sign"
)

var sampleDigest = func() []byte {
	d := sha256.Sum256([]byte(sampleMessage))
	return d[:]
}()

func ptr[T any](v T) *T { return &v }

// callOptions are the functional options a caller hands to a client method;
// a nil field means that option is not passed at all.
type callOptions struct {
	deadline           *time.Time
	keyVersion         *string
	remoteVerification *bool
	digest             *[]byte
	hashFunc           *crypto.Hash
}

// build turns the description into the reference's functional options. The
// returned cancel functions release the contexts.
func (o callOptions) build() ([]signature.SignOption, func()) {
	var opts []signature.SignOption
	cancel := func() {}
	if o.deadline != nil {
		ctx, c := context.WithDeadline(context.Background(), *o.deadline)
		cancel = c
		opts = append(opts, options.WithContext(ctx))
	}
	if o.keyVersion != nil {
		opts = append(opts, options.WithKeyVersion(*o.keyVersion))
	}
	if o.remoteVerification != nil {
		opts = append(opts, options.WithRemoteVerification(*o.remoteVerification))
	}
	if o.digest != nil {
		opts = append(opts, options.WithDigest(*o.digest))
	}
	if o.hashFunc != nil {
		opts = append(opts, options.WithCryptoSignerOpts(*o.hashFunc))
	}
	return opts, cancel
}

func asRPC(opts []signature.SignOption) []signature.RPCOption {
	out := make([]signature.RPCOption, 0, len(opts))
	for _, o := range opts {
		out = append(out, o)
	}
	return out
}

func asPublicKey(opts []signature.SignOption) []signature.PublicKeyOption {
	out := make([]signature.PublicKeyOption, 0, len(opts))
	for _, o := range opts {
		out = append(out, o)
	}
	return out
}

func asVerify(opts []signature.SignOption) []signature.VerifyOption {
	out := make([]signature.VerifyOption, 0, len(opts))
	for _, o := range opts {
		out = append(out, o)
	}
	return out
}

// clientCall describes one call through the real Go client: how the client was
// loaded (LoadSignerVerifier) and which method was called with what.
type clientCall struct {
	initDeadline *time.Time // deadline of the context given to LoadSignerVerifier
	keyID        string     // the part after "NAME://"
	hashFunc     crypto.Hash
	initOptions  callOptions // RPC options given to LoadSignerVerifier (only the RPC ones are used)

	method         string
	algorithm      string     // createKey
	createDeadline *time.Time // deadline of the context given to CreateKey
	options        callOptions
	signature      []byte // verifySignature; read through an io.Reader like the client does
	cryptoSigner   bool   // signMessage through PluginClient.CryptoSigner().Sign(digest, hashFunc)
}

// args builds the PluginArgs the way the client builds them, with the
// reference's own encoding.Pack* helpers.
func (c clientCall) args() (*common.PluginArgs, error) {
	initOpts, cancelInit := c.initOptions.build()
	defer cancelInit()
	init := &common.InitOptions{
		ProtocolVersion: common.ProtocolVersion,
		KeyResourceID:   c.keyID,
		HashFunc:        c.hashFunc,
		RPCOptions:      encoding.PackRPCOptions(asRPC(initOpts)),
	}
	if c.initDeadline != nil {
		init.CtxDeadline = ptr(*c.initDeadline)
	}
	opts, cancel := c.options.build()
	defer cancel()
	m := &common.MethodArgs{MethodName: c.method}
	switch c.method {
	case common.DefaultAlgorithmMethodName:
		m.DefaultAlgorithm = &common.DefaultAlgorithmArgs{}
	case common.SupportedAlgorithmsMethodName:
		m.SupportedAlgorithms = &common.SupportedAlgorithmsArgs{}
	case common.CreateKeyMethodName:
		m.CreateKey = &common.CreateKeyArgs{Algorithm: c.algorithm}
		if c.createDeadline != nil {
			m.CreateKey.CtxDeadline = ptr(*c.createDeadline)
		}
	case common.PublicKeyMethodName:
		m.PublicKey = &common.PublicKeyArgs{PublicKeyOptions: encoding.PackPublicKeyOptions(asPublicKey(opts))}
	case common.SignMessageMethodName:
		m.SignMessage = &common.SignMessageArgs{SignOptions: encoding.PackSignOptions(opts)}
	case common.VerifySignatureMethodName:
		sig, err := io.ReadAll(bytes.NewReader(c.signature))
		if err != nil {
			return nil, err
		}
		m.VerifySignature = &common.VerifySignatureArgs{Signature: sig, VerifyOptions: encoding.PackVerifyOptions(asVerify(opts))}
	default:
		return nil, fmt.Errorf("unknown method %q", c.method)
	}
	return &common.PluginArgs{InitOptions: init, MethodArgs: m}, nil
}

// pluginClient is the part of the client's method set the generator drives.
type pluginClient interface {
	DefaultAlgorithm() string
	SupportedAlgorithms() []string
	CreateKey(ctx context.Context, algorithm string) (crypto.PublicKey, error)
	PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error)
	SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error)
	VerifySignature(signature, message io.Reader, opts ...signature.VerifyOption) error
	CryptoSigner(ctx context.Context, errFunc func(error)) (crypto.Signer, crypto.SignerOpts, error)
}

// drive performs the call through the real cliplugin client against the
// stand-in plugin "sigstore-kms-capture" and returns what that plugin received.
func (c clientCall) drive(captureFile string) (*capture, error) {
	if err := os.Remove(captureFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ctx := context.Background()
	if c.initDeadline != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, *c.initDeadline)
		defer cancel()
	}
	initOpts, cancelInit := c.initOptions.build()
	defer cancelInit()
	sv, err := cliplugin.LoadSignerVerifier(ctx, "capture://"+c.keyID, c.hashFunc, asRPC(initOpts)...)
	if err != nil {
		return nil, err
	}
	var client pluginClient = sv
	opts, cancel := c.options.build()
	defer cancel()

	wantStdin := ""
	switch c.method {
	case common.DefaultAlgorithmMethodName:
		client.DefaultAlgorithm()
	case common.SupportedAlgorithmsMethodName:
		client.SupportedAlgorithms()
	case common.CreateKeyMethodName:
		cctx := context.Background()
		if c.createDeadline != nil {
			var cc context.CancelFunc
			cctx, cc = context.WithDeadline(cctx, *c.createDeadline)
			defer cc()
		}
		_, err = client.CreateKey(cctx, c.algorithm)
	case common.PublicKeyMethodName:
		_, err = client.PublicKey(asPublicKey(opts)...)
	case common.SignMessageMethodName:
		if c.cryptoSigner {
			var signer crypto.Signer
			signer, _, err = client.CryptoSigner(context.Background(), nil)
			if err == nil {
				_, err = signer.Sign(nil, *c.options.digest, *c.options.hashFunc)
			}
		} else {
			wantStdin = sampleMessage
			_, err = client.SignMessage(strings.NewReader(sampleMessage), opts...)
		}
	case common.VerifySignatureMethodName:
		wantStdin = sampleMessage
		// The plugin's verdict does not matter here, only what it was sent.
		_ = client.VerifySignature(bytes.NewReader(c.signature), strings.NewReader(sampleMessage), asVerify(opts)...)
	default:
		return nil, fmt.Errorf("unknown method %q", c.method)
	}
	if err != nil {
		return nil, fmt.Errorf("client call: %w", err)
	}
	raw, err := os.ReadFile(captureFile)
	if err != nil {
		return nil, fmt.Errorf("the stand-in plugin left no record: %w", err)
	}
	var got capture
	if err := json.Unmarshal(raw, &got); err != nil {
		return nil, err
	}
	if string(got.Stdin) != wantStdin {
		return nil, fmt.Errorf("plugin stdin was %q, want %q", got.Stdin, wantStdin)
	}
	return &got, nil
}

// requestCase is one request vector. Either call (a shape the real client
// sends, cross-checked by running the client) or args (built by hand) is set.
type requestCase struct {
	name        string
	description string
	call        *clientCall
	args        *common.PluginArgs
}

func requestCases() []requestCase {
	validSig := ed25519.Sign(edKey, []byte(sampleMessage))
	longKey := "projects/example/locations/global/keyRings/ring/cryptoKeys/" +
		strings.Repeat("0123456789abcdef", 60)
	longKey = longKey[:1000]

	return []requestCase{
		{
			name:        "default_algorithm",
			description: "defaultAlgorithm as the Go client sends it, no deadlines, hashFunc SHA256.",
			call:        &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.DefaultAlgorithmMethodName},
		},
		{
			name:        "supported_algorithms",
			description: "supportedAlgorithms as the Go client sends it, no deadlines.",
			call:        &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.SupportedAlgorithmsMethodName},
		},
		{
			name:        "create_key",
			description: "createKey without a deadline on the call's context.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256,
				method: common.CreateKeyMethodName, algorithm: "ecdsa-p256-sha256"},
		},
		{
			name:        "create_key_deadline",
			description: "createKey whose context has a deadline with nanoseconds; the init options carry none.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256,
				method: common.CreateKeyMethodName, algorithm: "ecdsa-p384-sha384", createDeadline: &deadlineNanos},
		},
		{
			name:        "public_key",
			description: "publicKey with no options: keyVersion and remoteVerification are still written as empty/false.",
			call:        &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.PublicKeyMethodName},
		},
		{
			name:        "public_key_rpc_options",
			description: "publicKey with a context deadline, a key version and remote verification requested.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.PublicKeyMethodName,
				options: callOptions{deadline: &deadlineTenth, keyVersion: ptr("3"), remoteVerification: ptr(true)}},
		},
		{
			name:        "sign_message",
			description: "signMessage with no options: the client writes \"digest\":null and leaves hashFunc out.",
			call:        &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.SignMessageMethodName},
		},
		{
			name:        "sign_message_digest",
			description: "signMessage with a SHA-256 digest and hashFunc 5 given as options.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.SignMessageMethodName,
				options: callOptions{digest: &sampleDigest, hashFunc: ptr(crypto.SHA256)}},
		},
		{
			name:        "sign_message_crypto_signer",
			description: "signMessage as PluginClient.CryptoSigner().Sign sends it: digest and hashFunc 5, empty stdin.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.SignMessageMethodName,
				cryptoSigner: true, options: callOptions{digest: &sampleDigest, hashFunc: ptr(crypto.SHA256)}},
		},
		{
			name:        "sign_message_empty_digest",
			description: "signMessage with an empty, non-nil digest: written as \"digest\":\"\".",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.SignMessageMethodName,
				options: callOptions{digest: ptr([]byte{})}},
		},
		{
			name:        "sign_message_hash_func_zero",
			description: "hashFunc 0 both in the init options and explicitly in the message options.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.Hash(0), method: common.SignMessageMethodName,
				options: callOptions{hashFunc: ptr(crypto.Hash(0))}},
		},
		{
			name:        "sign_message_hash_func_19",
			description: "hashFunc 19 (BLAKE2b-512), the largest crypto.Hash, in the init and message options.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.BLAKE2b_512, method: common.SignMessageMethodName,
				options: callOptions{hashFunc: ptr(crypto.BLAKE2b_512)}},
		},
		{
			name:        "verify_signature",
			description: "verifySignature with no options and a 64-byte signature.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.VerifySignatureMethodName,
				signature: validSig},
		},
		{
			name:        "verify_signature_options",
			description: "verifySignature with every option: deadline, key version, remote verification, digest and hashFunc.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.VerifySignatureMethodName,
				signature: ed25519.Sign(edKey, sampleDigest),
				options: callOptions{deadline: &deadlineNanos, keyVersion: ptr("2"), remoteVerification: ptr(true),
					digest: &sampleDigest, hashFunc: ptr(crypto.SHA256)}},
		},
		{
			name:        "verify_signature_empty_signature",
			description: "verifySignature with an empty signature read from the reader: written as \"signature\":\"\".",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.VerifySignatureMethodName,
				signature: []byte{}},
		},
		{
			name:        "deadline_nanoseconds",
			description: "Deadlines with nanosecond precision in the init options and in the call's RPC options.",
			call: &clientCall{initDeadline: &deadlineNanos, keyID: sampleKeyID, hashFunc: crypto.SHA256,
				method: common.PublicKeyMethodName, options: callOptions{deadline: &deadlineNanos}},
		},
		{
			name:        "deadline_fraction_trailing_zeros",
			description: "Deadlines of .1 s: Go drops the trailing zeros of the fraction.",
			call: &clientCall{initDeadline: &deadlineTenth, keyID: sampleKeyID, hashFunc: crypto.SHA256,
				method: common.SignMessageMethodName, options: callOptions{deadline: &deadlineTenth}},
		},
		{
			name:        "deadline_whole_second",
			description: "A deadline on a whole second: Go writes no fraction at all.",
			call: &clientCall{initDeadline: &deadlineWhole, keyID: sampleKeyID, hashFunc: crypto.SHA256,
				method: common.DefaultAlgorithmMethodName},
		},
		{
			name:        "deadline_small_fraction",
			description: "A createKey deadline of one microsecond past the second: the fraction keeps its leading zeros.",
			call: &clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256, method: common.CreateKeyMethodName,
				algorithm: "ed25519", createDeadline: &deadlineMicrosecnd},
		},
		{
			name:        "init_rpc_options",
			description: "LoadSignerVerifier given a context deadline, a key version and remote verification as RPC options.",
			call: &clientCall{initDeadline: &deadlineWhole, keyID: sampleKeyID, hashFunc: crypto.SHA384,
				initOptions: callOptions{deadline: &deadlineNanos, keyVersion: ptr("1"), remoteVerification: ptr(true)},
				method:      common.SupportedAlgorithmsMethodName},
		},
		{
			name:        "key_resource_id_escapes",
			description: "A key reference with HTML-special characters, quotes, a backslash, control characters and a raw DEL (which Go does not escape).",
			call: &clientCall{keyID: "a<b>c&d\"e'f\\g/h\ti\nj\rk\x01l\x1fm\x7fn", hashFunc: crypto.SHA256,
				method: common.DefaultAlgorithmMethodName},
		},
		{
			name:        "key_resource_id_line_separators",
			description: "A key reference with U+2028 and U+2029, which Go escapes.",
			call: &clientCall{keyID: "line\u2028separator\u2029paragraph", hashFunc: crypto.SHA256,
				method: common.DefaultAlgorithmMethodName},
		},
		{
			name:        "key_resource_id_non_ascii",
			description: "A key reference with non-ASCII text, written by Go as raw UTF-8.",
			call: &clientCall{keyID: "clé/日本/🔑", hashFunc: crypto.SHA256,
				method: common.DefaultAlgorithmMethodName},
		},
		{
			name:        "key_resource_id_long",
			description: "A 1000-character key reference.",
			call:        &clientCall{keyID: longKey, hashFunc: crypto.SHA256, method: common.PublicKeyMethodName},
		},
		{
			name:        "key_resource_id_empty",
			description: "An empty key reference, as the client sends for \"NAME://\".",
			call:        &clientCall{keyID: "", hashFunc: crypto.SHA256, method: common.DefaultAlgorithmMethodName},
		},
		{
			name:        "sign_message_nil_pointers",
			description: "Not sent by the Go client: every optional pointer nil, so rpcOptions and messageOptions are empty objects.",
			args: &common.PluginArgs{
				InitOptions: &common.InitOptions{ProtocolVersion: common.ProtocolVersion, KeyResourceID: sampleKeyID,
					HashFunc: crypto.SHA256, RPCOptions: &common.RPCOptions{}},
				MethodArgs: &common.MethodArgs{MethodName: common.SignMessageMethodName,
					SignMessage: &common.SignMessageArgs{SignOptions: &common.SignOptions{}}},
			},
		},
		{
			name:        "verify_signature_nil_pointers",
			description: "Not sent by the Go client: nil signature (null), nil digest pointer and nil RPC option pointers.",
			args: &common.PluginArgs{
				InitOptions: &common.InitOptions{ProtocolVersion: common.ProtocolVersion, KeyResourceID: sampleKeyID,
					HashFunc: crypto.SHA256, RPCOptions: &common.RPCOptions{}},
				MethodArgs: &common.MethodArgs{MethodName: common.VerifySignatureMethodName,
					VerifySignature: &common.VerifySignatureArgs{VerifyOptions: &common.VerifyOptions{
						MessageOptions: common.MessageOptions{HashFunc: ptr(crypto.SHA256)}}}},
			},
		},
		{
			name:        "public_key_partial_rpc_options",
			description: "Not sent by the Go client: init RPC options with only remoteVerification, call RPC options with no remoteVerification.",
			args: &common.PluginArgs{
				InitOptions: &common.InitOptions{ProtocolVersion: common.ProtocolVersion, KeyResourceID: sampleKeyID,
					HashFunc: crypto.SHA256, CtxDeadline: &deadlineTenth,
					RPCOptions: &common.RPCOptions{RemoteVerification: ptr(false)}},
				MethodArgs: &common.MethodArgs{MethodName: common.PublicKeyMethodName,
					PublicKey: &common.PublicKeyArgs{PublicKeyOptions: &common.PublicKeyOptions{
						RPCOptions: common.RPCOptions{CtxDeadline: &deadlineNanos, KeyVersion: ptr("projects/x/cryptoKeyVersions/7")}}}},
			},
		},
	}
}

// renderRequests builds every request vector, keyed by relative file name.
func renderRequests(stubDir string) (map[string][]byte, error) {
	captureFile := filepath.Join(stubDir, "capture.json")
	files := map[string][]byte{}
	for _, rc := range requestCases() {
		args := rc.args
		if rc.call != nil {
			var err error
			if args, err = rc.call.args(); err != nil {
				return nil, fmt.Errorf("%s: %w", rc.name, err)
			}
		}
		// Exactly what the client does before starting the plugin.
		expected, err := json.Marshal(args)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rc.name, err)
		}
		if rc.call != nil {
			got, err := rc.call.drive(captureFile)
			if err != nil {
				return nil, fmt.Errorf("%s: driving the Go client: %w", rc.name, err)
			}
			if len(got.Args) != 2 || got.Args[0] != common.ProtocolVersion || got.Args[1] != string(expected) {
				return nil, fmt.Errorf("%s: the Go client sent %q, but the vector says %q", rc.name, got.Args, expected)
			}
		}
		fields, err := describeArgs(args)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rc.name, err)
		}
		doc, err := renderDocument(object{
			{"name", rc.name},
			{"description", rc.description},
			{"fields", fields},
			{"expected", string(expected)},
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rc.name, err)
		}
		name := "requests/" + rc.name + ".json"
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("duplicate vector name %s", rc.name)
		}
		files[name] = doc
	}
	return files, nil
}

// describeArgs writes the neutral description of a PluginArgs value.
func describeArgs(a *common.PluginArgs) (object, error) {
	init := a.InitOptions
	if init == nil || a.MethodArgs == nil || init.RPCOptions == nil {
		return nil, errors.New("describeArgs: init options, their RPC options and method args must be set")
	}
	initDeadline, err := timeField(init.CtxDeadline)
	if err != nil {
		return nil, err
	}
	initRPC, err := rpcField(init.RPCOptions)
	if err != nil {
		return nil, err
	}
	f := object{
		{"method", a.MethodName},
		{"keyResourceID", init.KeyResourceID},
		{"hashFunc", int(init.HashFunc)},
		{"initCtxDeadline", initDeadline},
		{"initRpcOptions", initRPC},
	}
	switch a.MethodName {
	case common.DefaultAlgorithmMethodName, common.SupportedAlgorithmsMethodName:
	case common.CreateKeyMethodName:
		d, err := timeField(a.CreateKey.CtxDeadline)
		if err != nil {
			return nil, err
		}
		f = append(f, member{"createKey", object{{"ctxDeadline", d}, {"algorithm", a.CreateKey.Algorithm}}})
	case common.PublicKeyMethodName:
		r, err := rpcField(&a.PublicKey.PublicKeyOptions.RPCOptions)
		if err != nil {
			return nil, err
		}
		f = append(f, member{"rpcOptions", r})
	case common.SignMessageMethodName:
		r, err := rpcField(&a.SignMessage.SignOptions.RPCOptions)
		if err != nil {
			return nil, err
		}
		f = append(f, member{"rpcOptions", r}, member{"messageOptions", messageField(&a.SignMessage.SignOptions.MessageOptions)})
	case common.VerifySignatureMethodName:
		v := a.VerifySignature
		r, err := rpcField(&v.VerifyOptions.RPCOptions)
		if err != nil {
			return nil, err
		}
		var sig any // nil slice: null
		if v.Signature != nil {
			sig = base64.StdEncoding.EncodeToString(v.Signature)
		}
		f = append(f, member{"rpcOptions", r}, member{"messageOptions", messageField(&v.VerifyOptions.MessageOptions)},
			member{"signature", sig})
	default:
		return nil, fmt.Errorf("describeArgs: unknown method %q", a.MethodName)
	}
	return f, nil
}

// timeField is the deadline exactly as Go writes it, or nil for a nil pointer.
func timeField(t *time.Time) (any, error) {
	if t == nil {
		return nil, nil
	}
	raw, err := t.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return s, nil
}

func rpcField(r *common.RPCOptions) (object, error) {
	d, err := timeField(r.CtxDeadline)
	if err != nil {
		return nil, err
	}
	var kv, rv any
	if r.KeyVersion != nil {
		kv = *r.KeyVersion
	}
	if r.RemoteVerification != nil {
		rv = *r.RemoteVerification
	}
	return object{{"ctxDeadline", d}, {"keyVersion", kv}, {"remoteVerification", rv}}, nil
}

func messageField(m *common.MessageOptions) object {
	var o object
	// Digest: key absent for a nil pointer, null for a nil slice, else base64.
	if m.Digest != nil {
		var d any
		if *m.Digest != nil {
			d = base64.StdEncoding.EncodeToString(*m.Digest)
		}
		o = append(o, member{"digest", d})
	}
	var h any
	if m.HashFunc != nil {
		h = int(*m.HashFunc)
	}
	return append(o, member{"hashFunc", h})
}
