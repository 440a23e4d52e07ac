// Package softkms is a software key service for the interop plugins: each key
// lives in a local file (an unencrypted PKCS#8 "PRIVATE KEY" PEM, mode 0600),
// the same format our Rust localkms plugin writes, so that plugins written in Go,
// Rust, Python and JavaScript can share one key and check each other's
// signatures.
//
// It implements the method set the reference handler.Dispatch expects, and
// follows the hash rules of the reference's example plugin
// (test/cliplugin/localkms): the hash is initOptions.hashFunc, replaced by the
// call's hashFunc when given; a non-empty digest is signed as is and stdin is
// not read. Like our localkms it falls back to SHA-256 for hash 0 (where the
// example would fail) and refuses a digest whose length cannot be that of the
// hash, so that the reference's "bad digest" test case fails as it expects.
package softkms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	// Register the SHA-2 hashes with crypto.Hash.New.
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/sigstore/sigstore/pkg/signature"
)

// Algorithm names, the same as our localkms plugin's.
const (
	AlgECDSAP256 = "ecdsa-p256"
	AlgECDSAP384 = "ecdsa-p384"
)

// DefaultAlgorithm is the algorithm of a createKey without one.
const DefaultAlgorithm = AlgECDSAP256

// Algorithms lists what CreateKey can make.
var Algorithms = []string{AlgECDSAP256, AlgECDSAP384}

// ErrInvalidSignature is what VerifySignature answers for a bad signature; the
// text is the one sigstore's ECDSA verifier uses.
var ErrInvalidSignature = errors.New("invalid signature when validating ASN.1 encoded signature")

// KMS serves one key reference: Path is the key file.
type KMS struct {
	Path     string
	HashFunc crypto.Hash
}

// DefaultAlgorithm implements the plugin method.
func (KMS) DefaultAlgorithm() string { return DefaultAlgorithm }

// SupportedAlgorithms implements the plugin method.
func (KMS) SupportedAlgorithms() []string { return slices.Clone(Algorithms) }

// CreateKey answers the existing key if the file exists (whatever algorithm is
// asked for, as the reference's example does); otherwise it generates one and
// writes it without ever replacing a file that appeared meanwhile.
func (k KMS) CreateKey(ctx context.Context, algorithm string) (crypto.PublicKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if algorithm == "" {
		algorithm = DefaultAlgorithm
	}
	var curve elliptic.Curve
	switch algorithm {
	case AlgECDSAP256:
		curve = elliptic.P256()
	case AlgECDSAP384:
		curve = elliptic.P384()
	default:
		return nil, fmt.Errorf("algorithm %s not supported (supported: %v)", algorithm, Algorithms)
	}
	if key, err := k.load(); err == nil {
		return key.Public(), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeNoClobber(k.Path, pemBytes); err != nil {
		if errors.Is(err, os.ErrExist) {
			// Lost a race: answer the winner's key.
			existing, lerr := k.load()
			if lerr != nil {
				return nil, lerr
			}
			return existing.Public(), nil
		}
		return nil, err
	}
	return key.Public(), nil
}

// PublicKey implements the plugin method.
func (k KMS) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	ctx := context.Background()
	for _, o := range opts {
		o.ApplyContext(&ctx)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, err := k.load()
	if err != nil {
		return nil, err
	}
	return key.Public(), nil
}

// SignMessage implements the plugin method: ASN.1 DER ECDSA over the digest.
func (k KMS) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	ctx := context.Background()
	var digest []byte
	var signerOpts crypto.SignerOpts
	for _, o := range opts {
		o.ApplyContext(&ctx)
		o.ApplyDigest(&digest)
		o.ApplyCryptoSignerOpts(&signerOpts)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, err := k.load()
	if err != nil {
		return nil, err
	}
	digest, err = k.digestOf(message, digest, signerOpts)
	if err != nil {
		return nil, err
	}
	return ecdsa.SignASN1(rand.Reader, key, digest)
}

// VerifySignature implements the plugin method.
func (k KMS) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	ctx := context.Background()
	var digest []byte
	var signerOpts crypto.SignerOpts
	for _, o := range opts {
		o.ApplyContext(&ctx)
		o.ApplyDigest(&digest)
		o.ApplyCryptoSignerOpts(&signerOpts)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	key, err := k.load()
	if err != nil {
		return err
	}
	sigBytes, err := io.ReadAll(sig)
	if err != nil {
		return err
	}
	digest, err = k.digestOf(message, digest, signerOpts)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(&key.PublicKey, digest, sigBytes) {
		return ErrInvalidSignature
	}
	return nil
}

// CryptoSigner is not part of the plugin protocol.
func (KMS) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("CryptoSigner is not part of the plugin protocol")
}

// digestOf returns the digest to sign: the given one (checked for length), or
// the message hashed with the call's hash.
func (k KMS) digestOf(message io.Reader, digest []byte, signerOpts crypto.SignerOpts) ([]byte, error) {
	hash := k.HashFunc
	explicit := signerOpts != nil && signerOpts.HashFunc() != 0
	if explicit {
		hash = signerOpts.HashFunc()
	}
	if hash == 0 {
		hash = crypto.SHA256
	}
	if len(digest) > 0 {
		if explicit {
			if !hash.Available() || len(digest) != hash.Size() {
				return nil, fmt.Errorf("digest has %d bytes, %s needs %d", len(digest), hash, sizeOf(hash))
			}
		} else if !slices.Contains([]int{28, 32, 48, 64}, len(digest)) {
			return nil, fmt.Errorf("digest has %d bytes, not the length of a SHA-2 digest", len(digest))
		}
		return digest, nil
	}
	if !hash.Available() {
		return nil, fmt.Errorf("hash function %d is not supported", uint(hash))
	}
	h := hash.New()
	if _, err := io.Copy(h, message); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func sizeOf(h crypto.Hash) int {
	if h.Available() {
		return h.Size()
	}
	return 0
}

func (k KMS) load() (*ecdsa.PrivateKey, error) {
	if k.Path == "" {
		return nil, errors.New("empty key reference: expected a key file path")
	}
	data, err := os.ReadFile(k.Path)
	if err != nil {
		return nil, err
	}
	return ParsePrivateKey(data)
}

// ParsePrivateKey reads the first PEM block of a PKCS#8 or SEC 1 ECDSA key.
func ParsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block in the key file")
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, err
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T, this plugin only handles ECDSA", parsed)
	}
	return key, nil
}

// writeNoClobber writes data to a temporary file in path's directory and links
// it into place; an existing path is never replaced (os.ErrExist).
func writeNoClobber(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".softkms-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}
