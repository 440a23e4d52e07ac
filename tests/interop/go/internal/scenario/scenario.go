// Package scenario is the language-neutral script every interop host program
// runs (the Go host cmd/kmshost, the Rust host tests/interop/rust, and the
// Python and Node hosts under tests/interop/hosts): which key URI, how the
// client is loaded, which calls to make, and the JSON each host prints.
//
// A host is run as `HOST SCENARIO.json` and prints one Output object on stdout.
package scenario

import "encoding/json"

// Scenario is one run of a host against one key URI.
type Scenario struct {
	// Key is the key URI, NAME://REF.
	Key string `json:"key"`
	// HashFunc is the hash the client is loaded with (Go's crypto.Hash number).
	HashFunc int `json:"hashFunc"`
	// TimeoutSeconds is the per-call timeout; 0 means none. The Go host loads
	// the client with a context of this timeout (kms.Get) and gives each call
	// its own (options.WithContext, CreateKey's ctx); our hosts send the same
	// as ctxDeadline.
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	// KeyVersion and RemoteVerification are given when loading the client and
	// to each call (Go: WithKeyVersion / WithRemoteVerification to kms.Get and
	// to every method; ours: options of the signer-verifier).
	KeyVersion         string `json:"keyVersion,omitempty"`
	RemoteVerification bool   `json:"remoteVerification,omitempty"`
	Ops                []Op   `json:"ops"`
}

// Op names.
const (
	DefaultAlgorithm    = "defaultAlgorithm"
	SupportedAlgorithms = "supportedAlgorithms"
	CreateKey           = "createKey"
	PublicKey           = "publicKey"
	SignMessage         = "signMessage"
	SignDigest          = "signDigest"
	VerifySignature     = "verifySignature"
	VerifyDigest        = "verifyDigest"
)

// Op is one call.
type Op struct {
	Op        string `json:"op"`
	Algorithm string `json:"algorithm,omitempty"`
	// Message (base64 in JSON) or MessageFile: the message of signMessage and
	// verifySignature.
	Message     []byte `json:"message,omitempty"`
	MessageFile string `json:"messageFile,omitempty"`
	// Digest and HashFunc: the digest of signDigest and verifyDigest.
	Digest   []byte `json:"digest,omitempty"`
	HashFunc int    `json:"hashFunc,omitempty"`
	// Signature to verify, or SignatureFrom: the index of an earlier op whose
	// value is the signature.
	Signature     []byte `json:"signature,omitempty"`
	SignatureFrom *int   `json:"signatureFrom,omitempty"`
	// CryptoSigner: the Go host signs the digest through kms CryptoSigner
	// (crypto.Signer.Sign) instead of SignMessage with WithDigest. Go's
	// CryptoSigner sends no per-call deadline. Other hosts ignore it.
	CryptoSigner bool `json:"cryptoSigner,omitempty"`
}

// Output is what a host prints.
type Output struct {
	Host    string   `json:"host"`
	Results []Result `json:"results"`
}

// Result of one op. Value is: a string (defaultAlgorithm), an array of strings
// (supportedAlgorithms), the base64 DER SubjectPublicKeyInfo (createKey,
// publicKey), the base64 signature (signMessage, signDigest), or null (verify).
type Result struct {
	Op    string          `json:"op"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value,omitempty"`
	Error *Error          `json:"error,omitempty"`
}

// Error describes a failed op.
type Error struct {
	// Kind is our ErrorKind name (PluginReturned, InvalidResponse, Exec,
	// Timeout, OutputTooLarge, PluginNotFound, InvalidKeyUri), or what the Go
	// client did instead: Fatal (log.Fatal: the process exited), Panic (e.g.
	// a nil dereference), Other.
	Kind string `json:"kind"`
	// PluginMessage is the plugin's errorMessage, for PluginReturned.
	PluginMessage string `json:"pluginMessage,omitempty"`
	// Text is the host's whole error text.
	Text string `json:"text"`
}
