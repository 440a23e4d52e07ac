// Package gcpkms is a fake of Google Cloud KMS: an HTTPS server on 127.0.0.1
// that answers exactly the REST calls of the Cloud KMS API v1 that
// sigstore-kms-gcpkms makes (through Google's Rust client), with real keys,
// and refuses what the real service refuses.
//
// No emulator of Cloud KMS exists. This fake implements, from the API's
// reference documentation:
//
//   - GET    /v1/{keyRing}                         GetKeyRing
//   - POST   /v1/{location}/keyRings?keyRingId=    CreateKeyRing
//   - GET    /v1/{cryptoKey}                       GetCryptoKey
//   - POST   /v1/{keyRing}/cryptoKeys?cryptoKeyId= CreateCryptoKey
//   - GET    /v1/{cryptoKey}/cryptoKeyVersions     ListCryptoKeyVersions (filter
//     "state=ENABLED" or none, orderBy "name desc" or none, pageSize, pageToken)
//   - GET    /v1/{cryptoKeyVersion}                GetCryptoKeyVersion
//   - GET    /v1/{cryptoKeyVersion}/publicKey      GetPublicKey
//   - POST   /v1/{cryptoKeyVersion}:asymmetricSign AsymmetricSign
//
// and what the real service checks: an OAuth bearer token on every call (a
// service account's self-signed JWT, verified with its public key, or an access
// token issued by the fake's own token endpoint or metadata server), the
// caller's permissions, unknown resources, the key's purpose and the version's
// state and algorithm, the digest's type and length, and the digest's CRC32C
// (digestCrc32c). Answers carry the CRC32C fields the real service sends
// (signatureCrc32c, verifiedDigestCrc32c, pemCrc32c), encode enums as numbers
// when the client asks ($alt=json;enum-encoding=int), and int64s as strings.
// Errors are google.rpc.Status JSON with the HTTP code the real service uses.
//
// Signatures are made with real keys (ECDSA P-256/P-384, RSA PKCS#1 v1.5 and
// PSS with a salt as long as the digest), so they verify with openssl.
// Faults can be injected: throttling (429 with Retry-After), corrupted CRC32C
// fields, a first version that stays PENDING_GENERATION for a while.
package gcpkms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scope is the OAuth scope Cloud KMS accepts.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is the checksum Cloud KMS uses.
func CRC32C(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

// Algorithm describes a Cloud KMS key algorithm the fake knows.
type Algorithm struct {
	Name    string // EC_SIGN_P256_SHA256, ...
	Number  int    // the enum's number
	Purpose string // ASYMMETRIC_SIGN or ENCRYPT_DECRYPT
	Hash    crypto.Hash
	Curve   elliptic.Curve // nil for RSA
	Bits    int            // RSA modulus bits
	PSS     bool
}

// Algorithms the fake can create keys with (the numbers are the API's).
var Algorithms = map[string]Algorithm{
	"GOOGLE_SYMMETRIC_ENCRYPTION": {Name: "GOOGLE_SYMMETRIC_ENCRYPTION", Number: 1, Purpose: "ENCRYPT_DECRYPT"},
	"RSA_SIGN_PSS_2048_SHA256":    {Name: "RSA_SIGN_PSS_2048_SHA256", Number: 2, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA256, Bits: 2048, PSS: true},
	"RSA_SIGN_PSS_3072_SHA256":    {Name: "RSA_SIGN_PSS_3072_SHA256", Number: 3, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA256, Bits: 3072, PSS: true},
	"RSA_SIGN_PSS_4096_SHA256":    {Name: "RSA_SIGN_PSS_4096_SHA256", Number: 4, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA256, Bits: 4096, PSS: true},
	"RSA_SIGN_PKCS1_2048_SHA256":  {Name: "RSA_SIGN_PKCS1_2048_SHA256", Number: 5, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA256, Bits: 2048},
	"RSA_SIGN_PKCS1_3072_SHA256":  {Name: "RSA_SIGN_PKCS1_3072_SHA256", Number: 6, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA256, Bits: 3072},
	"RSA_SIGN_PKCS1_4096_SHA256":  {Name: "RSA_SIGN_PKCS1_4096_SHA256", Number: 7, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA256, Bits: 4096},
	"EC_SIGN_P256_SHA256":         {Name: "EC_SIGN_P256_SHA256", Number: 12, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA256, Curve: elliptic.P256()},
	"EC_SIGN_P384_SHA384":         {Name: "EC_SIGN_P384_SHA384", Number: 13, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA384, Curve: elliptic.P384()},
	"RSA_SIGN_PSS_4096_SHA512":    {Name: "RSA_SIGN_PSS_4096_SHA512", Number: 15, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA512, Bits: 4096, PSS: true},
	"RSA_SIGN_PKCS1_4096_SHA512":  {Name: "RSA_SIGN_PKCS1_4096_SHA512", Number: 16, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA512, Bits: 4096},
	// A signing algorithm the plugin does not support (Go's provider neither).
	"EC_SIGN_SECP256K1_SHA256": {Name: "EC_SIGN_SECP256K1_SHA256", Number: 31, Purpose: "ASYMMETRIC_SIGN", Hash: crypto.SHA256},
}

var (
	purposeNumbers = map[string]int{"CRYPTO_KEY_PURPOSE_UNSPECIFIED": 0, "ENCRYPT_DECRYPT": 1, "ASYMMETRIC_SIGN": 5, "ASYMMETRIC_DECRYPT": 6}
	stateNumbers   = map[string]int{"CRYPTO_KEY_VERSION_STATE_UNSPECIFIED": 0, "PENDING_GENERATION": 5, "ENABLED": 1, "DISABLED": 2, "DESTROYED": 3, "DESTROY_SCHEDULED": 4}
)

func algorithmByNumber(n int) (Algorithm, bool) {
	for _, a := range Algorithms {
		if a.Number == n {
			return a, true
		}
	}
	return Algorithm{}, false
}

// Version is one crypto key version.
type Version struct {
	ID        int
	State     string
	Algorithm Algorithm
	Signer    crypto.Signer // nil for symmetric keys
	Created   time.Time
	// EnableAt: a version PENDING_GENERATION becomes ENABLED at this time.
	EnableAt time.Time
}

// Key is one crypto key.
type Key struct {
	Name     string
	Purpose  string
	Template Algorithm
	Created  time.Time
	Versions []*Version
}

// Identity is who a token belongs to, and what it may do.
type Identity struct {
	Email string
	// Denied permissions (e.g. cloudkms.cryptoKeyVersions.useToSign).
	Denied map[string]bool
}

// ServiceAccount is a service account key the fake knows.
type ServiceAccount struct {
	Email string
	KeyID string
	Key   *rsa.PrivateKey
}

// Request is one request the fake answered, for tests to inspect.
type Request struct {
	Method, Path, Query string
	Auth                string // "jwt:EMAIL", "token:EMAIL", "none" or "invalid"
	Status              int
	Body                string
}

// Server is the fake.
type Server struct {
	// URL is https://127.0.0.1:PORT.
	URL string
	// TokenURL is the OAuth token endpoint (for authorized_user files).
	TokenURL string

	mu        sync.Mutex
	rings     map[string]time.Time
	keys      map[string]*Key
	accounts  map[string]ServiceAccount // by email
	refresh   map[string]string         // refresh token -> email
	tokens    map[string]string         // access token -> email
	identity  map[string]*Identity      // by email
	requests  []Request
	throttle  int
	faults    Faults
	pending   time.Duration
	listener  net.Listener
	server    *http.Server
	mdsServer *http.Server
}

// Faults are deliberate misbehaviours, to see that the plugin catches them.
type Faults struct {
	// SignatureCRC: answer AsymmetricSign with a wrong signatureCrc32c.
	SignatureCRC bool
	// UnverifiedDigest: answer verifiedDigestCrc32c=false.
	UnverifiedDigest bool
	// PEMCRC: answer GetPublicKey with a wrong pemCrc32c.
	PEMCRC bool
	// NoSignatureCRC: leave signatureCrc32c out.
	NoSignatureCRC bool
}

// New starts the fake with TLS certificate cert on 127.0.0.1 (a port the OS
// picks). Stop it with Close.
func New(cert tls.Certificate) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL:      "https://" + l.Addr().String(),
		rings:    map[string]time.Time{},
		keys:     map[string]*Key{},
		accounts: map[string]ServiceAccount{},
		refresh:  map[string]string{},
		tokens:   map[string]string{},
		identity: map[string]*Identity{},
		listener: l,
	}
	s.TokenURL = s.URL + "/token"
	s.server = &http.Server{
		Handler:      http.HandlerFunc(s.serve),
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
	}
	go s.server.ServeTLS(l, "", "")
	return s, nil
}

// Close stops the fake.
func (s *Server) Close() {
	s.server.Close()
	if s.mdsServer != nil {
		s.mdsServer.Close()
	}
}

// ---- setup helpers -------------------------------------------------------

// AddServiceAccount registers a service account and returns its key file
// (what GOOGLE_APPLICATION_CREDENTIALS names).
func (s *Server) AddServiceAccount(email string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%x", sha256.Sum256(der))[:40]
	s.mu.Lock()
	s.accounts[email] = ServiceAccount{Email: email, KeyID: id, Key: key}
	s.identityLocked(email)
	s.mu.Unlock()
	return json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "sigstore-test",
		"private_key_id": id,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1000000000001",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      s.TokenURL,
	}, "", "  ")
}

// AddAuthorizedUser registers a user whose refresh token the fake's token
// endpoint exchanges, and returns the authorized_user file gcloud writes.
func (s *Server) AddAuthorizedUser(email, refreshToken string) []byte {
	s.mu.Lock()
	s.refresh[refreshToken] = email
	s.identityLocked(email)
	s.mu.Unlock()
	b, _ := json.MarshalIndent(map[string]string{
		"type":          "authorized_user",
		"client_id":     "764086051850-fake.apps.googleusercontent.com",
		"client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
		"refresh_token": refreshToken,
		"token_uri":     s.TokenURL,
	}, "", "  ")
	return b
}

func (s *Server) identityLocked(email string) *Identity {
	id := s.identity[email]
	if id == nil {
		id = &Identity{Email: email, Denied: map[string]bool{}}
		s.identity[email] = id
	}
	return id
}

// Deny takes permission away from email.
func (s *Server) Deny(email, permission string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identityLocked(email).Denied[permission] = true
}

// Allow gives permission back to email.
func (s *Server) Allow(email, permission string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.identityLocked(email).Denied, permission)
}

// AddKeyRing creates a key ring (projects/P/locations/L/keyRings/R).
func (s *Server) AddKeyRing(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rings[name] = time.Now()
}

// AddKey creates a key (and its key ring) with one enabled version of alg.
func (s *Server) AddKey(name, alg string) error {
	a, ok := Algorithms[alg]
	if !ok {
		return fmt.Errorf("unknown algorithm %s", alg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ring := name[:strings.Index(name, "/cryptoKeys/")]
	s.rings[ring] = time.Now()
	k := &Key{Name: name, Purpose: a.Purpose, Template: a, Created: time.Now()}
	s.keys[name] = k
	_, err := s.addVersionLocked(k, "ENABLED")
	return err
}

// AddVersion adds a version of the key's algorithm in state and returns its ID.
func (s *Server) AddVersion(key, state string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[key]
	if k == nil {
		return 0, fmt.Errorf("no key %s", key)
	}
	v, err := s.addVersionLocked(k, state)
	if err != nil {
		return 0, err
	}
	return v.ID, nil
}

// SetState sets the state of version id of key.
func (s *Server) SetState(key string, id int, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.keys[key].Versions {
		if v.ID == id {
			v.State = state
		}
	}
}

// PublicKey is the public key of version id of key.
func (s *Server) PublicKey(key string, id int) crypto.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[key]
	if k == nil {
		return nil
	}
	for _, v := range k.Versions {
		if v.ID == id && v.Signer != nil {
			return v.Signer.Public()
		}
	}
	return nil
}

// Throttle makes the next n calls to the KMS API answer 429.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// SetFaults sets the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// SetGenerationDelay makes the first version of keys created from now on stay
// PENDING_GENERATION for d.
func (s *Server) SetGenerationDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = d
}

// Requests returns the requests answered so far and forgets them.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

func (s *Server) addVersionLocked(k *Key, state string) (*Version, error) {
	v := &Version{ID: len(k.Versions) + 1, State: state, Algorithm: k.Template, Created: time.Now()}
	a := k.Template
	var err error
	switch {
	case a.Curve != nil:
		v.Signer, err = ecdsa.GenerateKey(a.Curve, rand.Reader)
	case a.Bits > 0:
		v.Signer, err = rsa.GenerateKey(rand.Reader, a.Bits)
	}
	if err != nil {
		return nil, err
	}
	k.Versions = append(k.Versions, v)
	return v, nil
}

// ---- the metadata server ---------------------------------------------------

// StartMetadataServer starts a fake GCE metadata server (plain HTTP on
// 127.0.0.1, as the real one is plain HTTP on 169.254.169.254) whose default
// service account is email; it answers GCE_METADATA_HOST's value (HOST:PORT).
func (s *Server) StartMetadataServer(email string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.identityLocked(email)
	s.mu.Unlock()
	mux := http.NewServeMux()
	mux.HandleFunc("/computeMetadata/v1/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		switch strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/") {
		case "instance/service-accounts/default/token":
			tok := s.issue(email)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
		case "instance/service-accounts/default/email":
			io.WriteString(w, email)
		case "universe/universe-domain":
			io.WriteString(w, "googleapis.com")
		case "project/project-id":
			io.WriteString(w, "sigstore-test")
		default:
			http.NotFound(w, r)
		}
	})
	s.mdsServer = &http.Server{Handler: mux, ReadTimeout: 10 * time.Second}
	go s.mdsServer.Serve(l)
	return l.Addr().String(), nil
}

func (s *Server) issue(email string) string {
	b := make([]byte, 24)
	rand.Read(b)
	tok := "ya29.fake-" + base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = email
	s.mu.Unlock()
	return tok
}

// ---- HTTP ------------------------------------------------------------------

type apiError struct {
	code   int
	status string
	msg    string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body)}
	status := http.StatusOK
	defer func() {
		rec.Status = status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()
	if r.URL.Path == "/token" {
		status = s.token(w, r, body)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		status = writeError(w, apiError{404, "NOT_FOUND", "The requested URL " + r.URL.Path + " was not found on this server."}, false)
		return
	}
	ints := r.URL.Query().Get("$alt") == "json;enum-encoding=int"
	email, how := s.authenticate(r.Header.Get("Authorization"))
	rec.Auth = how
	if email == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		status = writeError(w, apiError{401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."}, ints)
		return
	}
	s.mu.Lock()
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	s.mu.Unlock()
	if throttled {
		w.Header().Set("Retry-After", "1")
		status = writeError(w, apiError{429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Cryptographic requests' and limit 'Cryptographic requests per minute' of service 'cloudkms.googleapis.com'."}, ints)
		return
	}
	answer, err := s.route(r, email, body, ints)
	if err != nil {
		status = writeError(w, *err, ints)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(answer)
}

func writeError(w http.ResponseWriter, e apiError, ints bool) int {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": e.code, "message": e.msg, "status": e.status}})
	return e.code
}

// authenticate returns the caller's email, and how it authenticated.
func (s *Server) authenticate(header string) (string, string) {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || tok == "" {
		return "", "none"
	}
	s.mu.Lock()
	email, issued := s.tokens[tok]
	s.mu.Unlock()
	if issued {
		return email, "token:" + email
	}
	if email := s.verifyJWT(tok); email != "" {
		return email, "jwt:" + email
	}
	return "", "invalid"
}

// verifyJWT checks a service account's self-signed JWT: RS256 over its claims
// with the account's key (header kid), iss == sub == the account, not
// expired, and for Cloud KMS (the cloud-platform scope or the service as
// audience).
func (s *Server) verifyJWT(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	var header struct{ Alg, Kid, Typ string }
	var claims struct {
		Iss, Sub, Scope string
		Aud             string
		Exp, Iat        int64
	}
	if decode(parts[0], &header) != nil || decode(parts[1], &claims) != nil || header.Alg != "RS256" {
		return ""
	}
	s.mu.Lock()
	acct, ok := s.accounts[claims.Iss]
	s.mu.Unlock()
	if !ok || header.Kid != acct.KeyID || claims.Sub != claims.Iss {
		return ""
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return ""
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&acct.Key.PublicKey, crypto.SHA256, h[:], sig) != nil {
		return ""
	}
	now := time.Now().Unix()
	if claims.Exp < now || claims.Iat > now+300 || claims.Exp-claims.Iat > 3700 {
		return ""
	}
	scoped := false
	for _, sc := range strings.Fields(claims.Scope) {
		scoped = scoped || sc == Scope
	}
	if !scoped && claims.Aud != "https://cloudkms.googleapis.com/" {
		return ""
	}
	return acct.Email
}

func decode(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// token is the OAuth token endpoint: refresh_token grants of authorized users.
func (s *Server) token(w http.ResponseWriter, r *http.Request, body []byte) int {
	// Google's token endpoint takes a form or a JSON object.
	form, err := url.ParseQuery(string(body))
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var fields map[string]string
		err = json.Unmarshal(body, &fields)
		form = url.Values{}
		for k, v := range fields {
			form.Set(k, v)
		}
	}
	oauthErr := func(code int, e, desc string) int {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": e, "error_description": desc})
		return code
	}
	if r.Method != http.MethodPost || err != nil {
		return oauthErr(400, "invalid_request", "Invalid request")
	}
	if form.Get("grant_type") != "refresh_token" {
		return oauthErr(400, "unsupported_grant_type", "Invalid grant_type: "+form.Get("grant_type"))
	}
	if form.Get("client_id") == "" || form.Get("client_secret") == "" {
		return oauthErr(401, "invalid_client", "The OAuth client was not found.")
	}
	s.mu.Lock()
	email, ok := s.refresh[form.Get("refresh_token")]
	s.mu.Unlock()
	if !ok {
		return oauthErr(400, "invalid_grant", "Token has been expired or revoked.")
	}
	tok := s.issue(email)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer", "scope": Scope})
	return 200
}

var (
	reLocation = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)$`)
	reRing     = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/([^/]+)$`)
	reKey      = regexp.MustCompile(`^(projects/[^/]+/locations/[^/]+/keyRings/[^/]+)/cryptoKeys/([^/]+)$`)
	reVersion  = regexp.MustCompile(`^(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+)/cryptoKeyVersions/([^/]+)$`)
	reID       = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
)

func notFound(what, name string) *apiError {
	return &apiError{404, "NOT_FOUND", fmt.Sprintf("%s %s not found.", what, name)}
}

func denied(perm, name string) *apiError {
	return &apiError{403, "PERMISSION_DENIED", fmt.Sprintf("Permission '%s' denied on resource '%s' (or it may not exist).", perm, name)}
}

func (s *Server) allowed(email, perm string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.identityLocked(email).Denied[perm]
}

func (s *Server) route(r *http.Request, email string, body []byte, ints bool) (any, *apiError) {
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(path, ":asymmetricSign"):
		name := strings.TrimSuffix(path, ":asymmetricSign")
		if !s.allowed(email, "cloudkms.cryptoKeyVersions.useToSign") {
			return nil, denied("cloudkms.cryptoKeyVersions.useToSign", name)
		}
		return s.sign(name, body, ints)
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/publicKey"):
		name := strings.TrimSuffix(path, "/publicKey")
		if !s.allowed(email, "cloudkms.cryptoKeyVersions.viewPublicKey") {
			return nil, denied("cloudkms.cryptoKeyVersions.viewPublicKey", name)
		}
		return s.publicKey(name, ints)
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/cryptoKeyVersions"):
		parent := strings.TrimSuffix(path, "/cryptoKeyVersions")
		if !s.allowed(email, "cloudkms.cryptoKeyVersions.list") {
			return nil, denied("cloudkms.cryptoKeyVersions.list", parent)
		}
		return s.list(parent, q, ints)
	case r.Method == http.MethodGet && reVersion.MatchString(path):
		if !s.allowed(email, "cloudkms.cryptoKeyVersions.get") {
			return nil, denied("cloudkms.cryptoKeyVersions.get", path)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		_, v, err := s.versionLocked(path)
		if err != nil {
			return nil, err
		}
		return versionJSON(path, v, ints), nil
	case r.Method == http.MethodGet && reKey.MatchString(path):
		if !s.allowed(email, "cloudkms.cryptoKeys.get") {
			return nil, denied("cloudkms.cryptoKeys.get", path)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		k := s.keys[path]
		if k == nil {
			return nil, notFound("CryptoKey", path)
		}
		return keyJSON(k, ints), nil
	case r.Method == http.MethodGet && reRing.MatchString(path):
		if !s.allowed(email, "cloudkms.keyRings.get") {
			return nil, denied("cloudkms.keyRings.get", path)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		created, ok := s.rings[path]
		if !ok {
			return nil, notFound("KeyRing", path)
		}
		return map[string]any{"name": path, "createTime": created.UTC().Format(time.RFC3339Nano)}, nil
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/keyRings") && reLocation.MatchString(strings.TrimSuffix(path, "/keyRings")):
		parent := strings.TrimSuffix(path, "/keyRings")
		if !s.allowed(email, "cloudkms.keyRings.create") {
			return nil, denied("cloudkms.keyRings.create", parent)
		}
		id := q.Get("keyRingId")
		if !reID.MatchString(id) {
			return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid value for field 'key_ring_id'."}
		}
		name := parent + "/keyRings/" + id
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.rings[name]; ok {
			return nil, &apiError{409, "ALREADY_EXISTS", "KeyRing " + name + " already exists."}
		}
		s.rings[name] = time.Now()
		return map[string]any{"name": name, "createTime": time.Now().UTC().Format(time.RFC3339Nano)}, nil
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/cryptoKeys") && reRing.MatchString(strings.TrimSuffix(path, "/cryptoKeys")):
		parent := strings.TrimSuffix(path, "/cryptoKeys")
		if !s.allowed(email, "cloudkms.cryptoKeys.create") {
			return nil, denied("cloudkms.cryptoKeys.create", parent)
		}
		return s.createKey(parent, q.Get("cryptoKeyId"), q.Get("skipInitialVersionCreation") == "true", body, ints)
	}
	return nil, &apiError{404, "NOT_FOUND", fmt.Sprintf("The requested URL /v1/%s was not found on this server (%s).", path, r.Method)}
}

// versionLocked finds a version, making due PENDING_GENERATION versions ENABLED.
func (s *Server) versionLocked(name string) (*Key, *Version, *apiError) {
	m := reVersion.FindStringSubmatch(name)
	if m == nil {
		return nil, nil, &apiError{400, "INVALID_ARGUMENT", "Invalid resource name " + name}
	}
	k := s.keys[m[1]]
	if k == nil {
		return nil, nil, notFound("CryptoKey", m[1])
	}
	s.generateLocked(k)
	id, err := strconv.Atoi(m[2])
	if err != nil {
		return nil, nil, &apiError{400, "INVALID_ARGUMENT", "Invalid CryptoKeyVersion id " + m[2]}
	}
	for _, v := range k.Versions {
		if v.ID == id {
			return k, v, nil
		}
	}
	return nil, nil, notFound("CryptoKeyVersion", name)
}

func (s *Server) generateLocked(k *Key) {
	for _, v := range k.Versions {
		if v.State == "PENDING_GENERATION" && !v.EnableAt.IsZero() && time.Now().After(v.EnableAt) {
			v.State = "ENABLED"
		}
	}
}

func enumJSON(name string, number int, ints bool) any {
	if ints {
		return number
	}
	return name
}

func versionJSON(name string, v *Version, ints bool) map[string]any {
	return map[string]any{
		"name":            name,
		"state":           enumJSON(v.State, stateNumbers[v.State], ints),
		"protectionLevel": enumJSON("SOFTWARE", 1, ints),
		"algorithm":       enumJSON(v.Algorithm.Name, v.Algorithm.Number, ints),
		"createTime":      v.Created.UTC().Format(time.RFC3339Nano),
	}
}

func keyJSON(k *Key, ints bool) map[string]any {
	return map[string]any{
		"name":       k.Name,
		"purpose":    enumJSON(k.Purpose, purposeNumbers[k.Purpose], ints),
		"createTime": k.Created.UTC().Format(time.RFC3339Nano),
		"versionTemplate": map[string]any{
			"protectionLevel": enumJSON("SOFTWARE", 1, ints),
			"algorithm":       enumJSON(k.Template.Name, k.Template.Number, ints),
		},
		"destroyScheduledDuration": "2592000s",
	}
}

func (s *Server) list(parent string, q url.Values, ints bool) (any, *apiError) {
	if !reKey.MatchString(parent) {
		return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid parent " + parent}
	}
	filter, order := q.Get("filter"), q.Get("orderBy")
	if filter != "" && filter != "state=ENABLED" && filter != "state = ENABLED" {
		return nil, &apiError{400, "INVALID_ARGUMENT", "The fake supports only the filter state=ENABLED, got " + filter}
	}
	if order != "" && order != "name desc" && order != "name" {
		return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid order_by: " + order}
	}
	size := 25
	if p := q.Get("pageSize"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 1000 {
			return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid page_size " + p}
		}
		if n > 0 {
			size = n
		}
	}
	start := 0
	if t := q.Get("pageToken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid page_token"}
		}
		start = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[parent]
	if k == nil {
		return nil, notFound("CryptoKey", parent)
	}
	s.generateLocked(k)
	var vs []*Version
	for _, v := range k.Versions {
		if filter == "" || v.State == "ENABLED" {
			vs = append(vs, v)
		}
	}
	// Version names end in their number: "name desc" puts the newest first.
	sort.Slice(vs, func(i, j int) bool {
		if order == "name desc" {
			return vs[i].ID > vs[j].ID
		}
		return vs[i].ID < vs[j].ID
	})
	out := []any{}
	for i := start; i < len(vs) && i < start+size; i++ {
		out = append(out, versionJSON(fmt.Sprintf("%s/cryptoKeyVersions/%d", parent, vs[i].ID), vs[i], ints))
	}
	answer := map[string]any{"cryptoKeyVersions": out, "totalSize": len(vs)}
	if start+size < len(vs) {
		answer["nextPageToken"] = strconv.Itoa(start + size)
	}
	return answer, nil
}

func (s *Server) publicKey(name string, ints bool) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, v, err := s.versionLocked(name)
	if err != nil {
		return nil, err
	}
	if k.Purpose != "ASYMMETRIC_SIGN" && k.Purpose != "ASYMMETRIC_DECRYPT" {
		return nil, &apiError{400, "FAILED_PRECONDITION", fmt.Sprintf("%s does not have an asymmetric purpose.", k.Name)}
	}
	if v.State != "ENABLED" {
		return nil, &apiError{400, "FAILED_PRECONDITION", fmt.Sprintf("%s is not enabled, current state is: %s.", name, v.State)}
	}
	der, e := x509.MarshalPKIXPublicKey(v.Signer.Public())
	if e != nil {
		return nil, &apiError{500, "INTERNAL", e.Error()}
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	crc := CRC32C([]byte(pemText))
	if s.faults.PEMCRC {
		crc ^= 1
	}
	return map[string]any{
		"pem":             pemText,
		"algorithm":       enumJSON(v.Algorithm.Name, v.Algorithm.Number, ints),
		"pemCrc32c":       strconv.FormatInt(crc, 10),
		"name":            name,
		"protectionLevel": enumJSON("SOFTWARE", 1, ints),
	}, nil
}

func (s *Server) sign(name string, body []byte, ints bool) (any, *apiError) {
	var req struct {
		Digest map[string]string `json:"digest"`
		// int64 fields travel as strings; numbers are accepted too.
		DigestCrc32c json.RawMessage `json:"digestCrc32c"`
		Data         string          `json:"data"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid JSON payload received. " + err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, v, err := s.versionLocked(name)
	if err != nil {
		return nil, err
	}
	if k.Purpose != "ASYMMETRIC_SIGN" {
		return nil, &apiError{400, "FAILED_PRECONDITION", fmt.Sprintf("%s has purpose %s, not ASYMMETRIC_SIGN.", k.Name, k.Purpose)}
	}
	if v.State != "ENABLED" {
		return nil, &apiError{400, "FAILED_PRECONDITION", fmt.Sprintf("%s is not enabled, current state is: %s.", name, v.State)}
	}
	if v.Signer == nil {
		return nil, &apiError{400, "FAILED_PRECONDITION", fmt.Sprintf("%s cannot sign in this fake.", name)}
	}
	if req.Data != "" {
		return nil, &apiError{400, "INVALID_ARGUMENT", "The fake signs digests only; data is for raw and Ed25519 keys."}
	}
	want := map[crypto.Hash]string{crypto.SHA256: "sha256", crypto.SHA384: "sha384", crypto.SHA512: "sha512"}[v.Algorithm.Hash]
	if len(req.Digest) != 1 || req.Digest[want] == "" {
		return nil, &apiError{400, "INVALID_ARGUMENT", fmt.Sprintf("The requested digest algorithm does not match the algorithm of %s (%s needs a %s digest).", name, v.Algorithm.Name, strings.ToUpper(want))}
	}
	// Proto3 JSON bytes: standard or URL-safe base64.
	digest, e := base64.StdEncoding.DecodeString(req.Digest[want])
	if e != nil {
		digest, e = base64.URLEncoding.DecodeString(req.Digest[want])
	}
	if e != nil || len(digest) != v.Algorithm.Hash.Size() {
		return nil, &apiError{400, "INVALID_ARGUMENT", fmt.Sprintf("The digest must be %d bytes for %s.", v.Algorithm.Hash.Size(), v.Algorithm.Name)}
	}
	verified := false
	if len(req.DigestCrc32c) > 0 && string(req.DigestCrc32c) != "null" {
		got, e := strconv.ParseInt(strings.Trim(string(req.DigestCrc32c), `"`), 10, 64)
		if e != nil {
			return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid value at 'digest_crc32c' (TYPE_INT64)."}
		}
		if got != CRC32C(digest) {
			return nil, &apiError{400, "INVALID_ARGUMENT", "The checksum in field digest_crc32c did not match the data in field digest."}
		}
		verified = true
	}
	var sig []byte
	if v.Algorithm.PSS {
		sig, e = v.Signer.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: v.Algorithm.Hash})
	} else {
		sig, e = v.Signer.Sign(rand.Reader, digest, v.Algorithm.Hash)
	}
	if e != nil {
		return nil, &apiError{500, "INTERNAL", e.Error()}
	}
	crc := CRC32C(sig)
	if s.faults.SignatureCRC {
		crc ^= 1
	}
	answer := map[string]any{
		"signature":            base64.StdEncoding.EncodeToString(sig),
		"signatureCrc32c":      strconv.FormatInt(crc, 10),
		"verifiedDigestCrc32c": verified && !s.faults.UnverifiedDigest,
		"name":                 name,
		"protectionLevel":      enumJSON("SOFTWARE", 1, ints),
	}
	if s.faults.NoSignatureCRC {
		delete(answer, "signatureCrc32c")
	}
	return answer, nil
}

func (s *Server) createKey(parent, id string, skipVersion bool, body []byte, ints bool) (any, *apiError) {
	if !reID.MatchString(id) {
		return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid value for field 'crypto_key_id'."}
	}
	var req struct {
		Purpose         json.RawMessage `json:"purpose"`
		VersionTemplate *struct {
			Algorithm       json.RawMessage `json:"algorithm"`
			ProtectionLevel json.RawMessage `json:"protectionLevel"`
		} `json:"versionTemplate"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &apiError{400, "INVALID_ARGUMENT", "Invalid JSON payload received. " + err.Error()}
	}
	purpose, ok := enumName(req.Purpose, purposeNumbers)
	if !ok || purpose == "" || purpose == "CRYPTO_KEY_PURPOSE_UNSPECIFIED" {
		return nil, &apiError{400, "INVALID_ARGUMENT", "The request must specify a valid CryptoKey.purpose."}
	}
	if req.VersionTemplate == nil {
		return nil, &apiError{400, "INVALID_ARGUMENT", "A CryptoKey with purpose " + purpose + " must specify version_template.algorithm."}
	}
	var alg Algorithm
	if n, err := strconv.Atoi(string(req.VersionTemplate.Algorithm)); err == nil {
		alg, ok = algorithmByNumber(n)
	} else {
		var name string
		json.Unmarshal(req.VersionTemplate.Algorithm, &name)
		alg, ok = Algorithms[name]
	}
	if !ok || alg.Purpose != purpose {
		return nil, &apiError{400, "INVALID_ARGUMENT", fmt.Sprintf("Algorithm %s is not compatible with purpose %s.", string(req.VersionTemplate.Algorithm), purpose)}
	}
	name := parent + "/cryptoKeys/" + id
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rings[parent]; !ok {
		return nil, notFound("KeyRing", parent)
	}
	if _, ok := s.keys[name]; ok {
		return nil, &apiError{409, "ALREADY_EXISTS", "CryptoKey " + name + " already exists."}
	}
	k := &Key{Name: name, Purpose: purpose, Template: alg, Created: time.Now()}
	if !skipVersion {
		v, err := s.addVersionLocked(k, "PENDING_GENERATION")
		if err != nil {
			return nil, &apiError{500, "INTERNAL", err.Error()}
		}
		v.EnableAt = time.Now().Add(s.pending)
	}
	s.keys[name] = k
	return keyJSON(k, ints), nil
}

// enumName reads an enum given as its number or its name.
func enumName(raw json.RawMessage, numbers map[string]int) (string, bool) {
	if len(raw) == 0 {
		return "", true
	}
	if n, err := strconv.Atoi(string(raw)); err == nil {
		for name, num := range numbers {
			if num == n {
				return name, true
			}
		}
		return "", false
	}
	var name string
	if json.Unmarshal(raw, &name) != nil {
		return "", false
	}
	_, ok := numbers[name]
	return name, ok
}
