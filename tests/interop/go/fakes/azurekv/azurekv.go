// Package azurekv is a fake of Azure Key Vault and of the Microsoft Entra ID
// token endpoint: one HTTPS server on 127.0.0.1 that answers exactly the REST
// calls sigstore-kms-azurekms makes (through Microsoft's Rust SDK), with real
// keys, and refuses what the real services refuse.
//
// No emulator of Key Vault exists. This fake implements, from the REST API
// reference (api-version 7.0 to 7.6 and 2025-07-01):
//
//   - GET  /keys/{name}[/{version}]        get key
//   - POST /keys/{name}/create             create key (EC P-256/P-384/P-521, RSA)
//   - POST /keys/{name}/{version}/sign     sign (ES256/384/512: raw r||s; RS*, PS*)
//   - POST /keys/{name}/{version}/verify   verify
//   - POST /{tenant}/oauth2/v2.0/token     client credentials: a client secret,
//     a certificate's client assertion (RS256 JWT with x5t), or a federated
//     token (workload identity)
//
// and what the real services check: the api-version; the bearer challenge (a
// request without a token gets 401 and `WWW-Authenticate: Bearer
// authorization="AUTHORITY/TENANT", resource="https://vault.azure.net"`, the
// resource of the vault's cloud); a token issued for that resource and tenant;
// the caller's role (Key Vault Crypto User / Officer / Reader); unknown keys
// and versions (KeyNotFound); disabled keys (403 Forbidden); the key's
// operations (key_ops); the algorithm against the key type and curve; the
// digest's length. The vault is chosen by the request's Host; key IDs (kid)
// name it. Faults: throttling (429 with Retry-After).
package azurekv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// APIVersions are the api-version values the fake accepts.
var APIVersions = map[string]bool{"7.0": true, "7.1": true, "7.2": true, "7.3": true, "7.4": true, "7.5": true, "7.6": true, "2025-07-01": true}

// Role is what an identity may do with keys.
type Role string

// The built-in Key Vault roles the fake knows.
const (
	CryptoOfficer Role = "Key Vault Crypto Officer" // everything
	CryptoUser    Role = "Key Vault Crypto User"    // get, sign, verify
	Reader        Role = "Key Vault Reader"         // get
)

func (r Role) allows(action string) bool {
	switch r {
	case CryptoOfficer:
		return true
	case CryptoUser:
		return action != "create"
	case Reader:
		return action == "read"
	}
	return false
}

// Cloud is a cloud the fake plays: its Key Vault resource (token audience) and
// its authority host (what the challenge names).
type Cloud struct {
	Resource  string // https://vault.azure.net
	Authority string // https://login.microsoftonline.com
}

// The three clouds of Go's provider.
var (
	Public       = Cloud{Resource: "https://vault.azure.net", Authority: "https://login.microsoftonline.com"}
	China        = Cloud{Resource: "https://vault.azure.cn", Authority: "https://login.chinacloudapi.cn"}
	USGovernment = Cloud{Resource: "https://vault.usgovcloudapi.net", Authority: "https://login.microsoftonline.us"}
)

// App is a registered application (service principal).
type App struct {
	ClientID string
	Tenant   string
	Secret   string
	// Certificate: its public key and SHA-1 thumbprint (x5t) for client assertions.
	CertKey        *rsa.PublicKey
	CertThumbprint string
	// FederatedToken: the workload identity token it accepts.
	FederatedToken string
	Role           Role
}

// KeyVersion is one version of a key.
type KeyVersion struct {
	ID      string
	Signer  crypto.Signer
	Enabled bool
	Ops     []string
	Created time.Time
}

// Key is a named key with its versions, newest last.
type Key struct {
	Name     string
	Versions []*KeyVersion
	Tags     map[string]string
}

// Request is one request the fake answered.
type Request struct {
	Host, Method, Path, Query string
	Authorized                bool
	Status                    int
	Body                      string
}

// Server is the fake.
type Server struct {
	// Port is the port it listens on (127.0.0.1).
	Port int
	// Cloud is the cloud its vaults belong to.
	Cloud Cloud

	mu       sync.Mutex
	apps     map[string]*App // by client ID
	tokens   map[string]*App // access token -> app
	vaults   map[string]map[string]*Key
	requests []Request
	throttle int
	servers  []*http.Server
	cert     tls.Certificate
}

// New starts the fake for cloud, with TLS certificate cert, on 127.0.0.1 (a
// port the OS picks).
func New(cert tls.Certificate, cloud Cloud) (*Server, error) {
	s := &Server{Cloud: cloud, apps: map[string]*App{}, tokens: map[string]*App{}, vaults: map[string]map[string]*Key{}, cert: cert}
	port, err := s.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Port = port
	return s, nil
}

// Listen serves the fake on one more address (e.g. 127.0.0.1:443, for an
// authority host that cannot carry a port) and returns its port.
func (s *Server) Listen(addr string) (int, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	srv := &http.Server{
		Handler:      http.HandlerFunc(s.serve),
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12},
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
	}
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	go srv.ServeTLS(l, "", "")
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Close stops the fake.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.servers {
		srv.Close()
	}
}

// AuthorityURL is the authority host to give the plugin (AZURE_AUTHORITY_HOST).
func (s *Server) AuthorityURL() string { return fmt.Sprintf("https://127.0.0.1:%d", s.Port) }

// AddApp registers an application.
func (s *Server) AddApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := a
	s.apps[a.ClientID] = &c
}

// CertThumbprint is the x5t of a DER certificate.
func CertThumbprint(der []byte) string {
	h := sha1.Sum(der)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// AddKey creates key name in vault (its host name, without port) with one
// version: kty "EC" with curve, or "RSA" with bits. It returns the version.
func (s *Server) AddKey(vault, name, kty, curve string, bits int) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.newVersion(kty, curve, bits, []string{"sign", "verify"})
	if err != nil {
		return "", err
	}
	keys := s.vault(vault)
	k := keys[name]
	if k == nil {
		k = &Key{Name: name}
		keys[name] = k
	}
	k.Versions = append(k.Versions, v)
	return v.ID, nil
}

// SetEnabled enables or disables a version of a key.
func (s *Server) SetEnabled(vault, name, version string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vault(vault)[name].Versions {
		if v.ID == version {
			v.Enabled = enabled
		}
	}
}

// SetOps sets the operations a version allows.
func (s *Server) SetOps(vault, name, version string, ops ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vault(vault)[name].Versions {
		if v.ID == version {
			v.Ops = ops
		}
	}
}

// PublicKey is the public key of a version ("" for the latest).
func (s *Server) PublicKey(vault, name, version string) crypto.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, _ := s.find(vault, name, version)
	if v == nil {
		return nil
	}
	return v.Signer.Public()
}

// Throttle makes the next n vault requests answer 429.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Requests returns the requests answered so far and forgets them.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

func (s *Server) vault(host string) map[string]*Key {
	if s.vaults[host] == nil {
		s.vaults[host] = map[string]*Key{}
	}
	return s.vaults[host]
}

func (s *Server) newVersion(kty, curve string, bits int, ops []string) (*KeyVersion, error) {
	id := make([]byte, 16)
	rand.Read(id)
	v := &KeyVersion{ID: fmt.Sprintf("%x", id), Enabled: true, Ops: ops, Created: time.Now()}
	var err error
	switch strings.TrimSuffix(kty, "-HSM") {
	case "EC":
		c := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[curve]
		if c == nil {
			return nil, fmt.Errorf("curve %q", curve)
		}
		v.Signer, err = ecdsa.GenerateKey(c, rand.Reader)
	case "RSA":
		if bits != 2048 && bits != 3072 && bits != 4096 {
			return nil, fmt.Errorf("RSA key size %d", bits)
		}
		v.Signer, err = rsa.GenerateKey(rand.Reader, bits)
	default:
		return nil, fmt.Errorf("key type %q", kty)
	}
	return v, err
}

func (s *Server) find(vault, name, version string) (*KeyVersion, *Key) {
	k := s.vaults[vault][name]
	if k == nil || len(k.Versions) == 0 {
		return nil, nil
	}
	if version == "" {
		return k.Versions[len(k.Versions)-1], k
	}
	for _, v := range k.Versions {
		if v.ID == version {
			return v, k
		}
	}
	return nil, k
}

// ---- HTTP ------------------------------------------------------------------

type kvError struct {
	status  int
	code    string
	message string
	inner   string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := Request{Host: r.Host, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body)}
	status := 200
	defer func() {
		rec.Status = status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()
	if m := reToken.FindStringSubmatch(r.URL.Path); m != nil {
		status = s.token(w, r, m[1], body)
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	apiVersion := r.URL.Query().Get("api-version")
	if apiVersion == "" {
		status = writeKV(w, kvError{400, "BadParameter", "The api-version query parameter (?api-version=) is required for all requests.", ""})
		return
	}
	if !APIVersions[apiVersion] {
		status = writeKV(w, kvError{400, "BadParameter", fmt.Sprintf("The specified version (%s) is not recognized. Consider using the latest supported version (2025-07-01).", apiVersion), ""})
		return
	}
	app := s.caller(r.Header.Get("Authorization"))
	if app == nil {
		// The challenge: a client learns here which token the vault wants.
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, s.Cloud.Authority, s.tenant(), s.Cloud.Resource))
		msg := "AKV10000: Request is missing a Bearer or PoP token."
		if r.Header.Get("Authorization") != "" {
			msg = "AKV10032: Invalid issuer or audience, or the token has expired."
		}
		status = writeKV(w, kvError{401, "Unauthorized", msg, ""})
		return
	}
	rec.Authorized = true
	s.mu.Lock()
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	s.mu.Unlock()
	if throttled {
		w.Header().Set("Retry-After", "1")
		status = writeKV(w, kvError{429, "Throttled", "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached", ""})
		return
	}
	answer, kerr := s.route(r, host, app, body)
	if kerr != nil {
		status = writeKV(w, *kerr)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(answer)
}

func writeKV(w http.ResponseWriter, e kvError) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	detail := map[string]any{"code": e.code, "message": e.message}
	if e.inner != "" {
		detail["innererror"] = map[string]string{"code": e.inner}
	}
	json.NewEncoder(w).Encode(map[string]any{"error": detail})
	return e.status
}

// tenant is the tenant of the first registered app (the vault's tenant).
func (s *Server) tenant() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		return a.Tenant
	}
	return "00000000-0000-0000-0000-000000000000"
}

func (s *Server) caller(header string) *App {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[tok]
}

var (
	reToken = regexp.MustCompile(`^/([^/]+)/oauth2/v2\.0/token$`)
	reKeyOp = regexp.MustCompile(`^/keys/([0-9A-Za-z-]{1,127})(?:/([0-9a-zA-Z]*))?(?:/(sign|verify|create))?/?$`)
)

func (s *Server) route(r *http.Request, vault string, app *App, body []byte) (any, *kvError) {
	m := reKeyOp.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return nil, &kvError{400, "BadParameter", "Method " + r.Method + " " + r.URL.Path + " is not supported by this fake.", ""}
	}
	name, version, op := m[1], m[2], m[3]
	if version == "create" && op == "" {
		version, op = "", "create"
	}
	action := map[string]string{"": "read", "sign": "sign", "verify": "verify", "create": "create"}[op]
	if !app.Role.allows(action) {
		return nil, &kvError{403, "Forbidden", fmt.Sprintf("Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=%s\r\nAction: 'Microsoft.KeyVault/vaults/keys/%s/action'\r\nResource: '/keys/%s'", app.ClientID, action, name), "ForbiddenByRbac"}
	}
	switch {
	case op == "" && r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		v, k, err := s.usable(vault, name, version, "get")
		if err != nil {
			return nil, err
		}
		return s.bundle(vault, k, v), nil
	case op == "create" && r.Method == http.MethodPost:
		return s.create(vault, name, body)
	case (op == "sign" || op == "verify") && r.Method == http.MethodPost:
		return s.crypto(vault, name, version, op, body)
	}
	return nil, &kvError{405, "BadParameter", "Method not allowed", ""}
}

// usable finds a version and refuses disabled ones, as the vault does.
func (s *Server) usable(vault, name, version, op string) (*KeyVersion, *Key, *kvError) {
	v, k := s.find(vault, name, version)
	if v == nil {
		id := name
		if version != "" {
			id = name + "/" + version
		}
		return nil, nil, &kvError{404, "KeyNotFound", fmt.Sprintf("A key with (name/id) %s was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", id), ""}
	}
	if !v.Enabled {
		return nil, nil, &kvError{403, "Forbidden", fmt.Sprintf("Operation %s is not allowed on a disabled key.", op), "KeyDisabled"}
	}
	return v, k, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s *Server) bundle(vault string, k *Key, v *KeyVersion) map[string]any {
	jwk := map[string]any{"kid": fmt.Sprintf("https://%s/keys/%s/%s", vault, k.Name, v.ID), "key_ops": v.Ops}
	switch pub := v.Signer.Public().(type) {
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		jwk["kty"] = "EC"
		jwk["crv"] = pub.Curve.Params().Name
		jwk["x"] = b64(pub.X.FillBytes(make([]byte, size)))
		jwk["y"] = b64(pub.Y.FillBytes(make([]byte, size)))
	case *rsa.PublicKey:
		jwk["kty"] = "RSA"
		jwk["n"] = b64(pub.N.Bytes())
		jwk["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	}
	answer := map[string]any{
		"key": jwk,
		"attributes": map[string]any{
			"enabled": v.Enabled, "created": v.Created.Unix(), "updated": v.Created.Unix(),
			"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90, "exportable": false,
		},
	}
	if len(k.Tags) > 0 {
		answer["tags"] = k.Tags
	}
	return answer
}

func (s *Server) create(vault, name string, body []byte) (any, *kvError) {
	var req struct {
		Kty        string            `json:"kty"`
		Crv        string            `json:"crv"`
		KeySize    int               `json:"key_size"`
		KeyOps     []string          `json:"key_ops"`
		Tags       map[string]string `json:"tags"`
		Attributes *struct {
			Enabled *bool `json:"enabled"`
		} `json:"attributes"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &kvError{400, "BadParameter", "Property has invalid value: " + err.Error(), ""}
	}
	switch strings.TrimSuffix(req.Kty, "-HSM") {
	case "EC":
		if req.Crv == "" {
			req.Crv = "P-256" // the vault's default curve
		}
		if req.KeySize != 0 {
			return nil, &kvError{400, "BadParameter", "Property key_size is not valid for EC keys.", ""}
		}
	case "RSA":
		if req.KeySize == 0 {
			req.KeySize = 2048
		}
	default:
		return nil, &kvError{400, "BadParameter", fmt.Sprintf("Property kty has invalid value %q.", req.Kty), ""}
	}
	ops := req.KeyOps
	if len(ops) == 0 {
		ops = []string{"sign", "verify"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.newVersion(req.Kty, req.Crv, req.KeySize, ops)
	if err != nil {
		return nil, &kvError{400, "BadParameter", "Invalid key parameters: " + err.Error(), ""}
	}
	if req.Attributes != nil && req.Attributes.Enabled != nil {
		v.Enabled = *req.Attributes.Enabled
	}
	keys := s.vault(vault)
	k := keys[name]
	if k == nil {
		k = &Key{Name: name}
		keys[name] = k
	}
	k.Tags = req.Tags
	// An existing name gets a new version: what the real vault does.
	k.Versions = append(k.Versions, v)
	return s.bundle(vault, k, v), nil
}

var algorithms = map[string]struct {
	hash  crypto.Hash
	curve string // "" for RSA
	pss   bool
}{
	"ES256": {crypto.SHA256, "P-256", false}, "ES384": {crypto.SHA384, "P-384", false}, "ES512": {crypto.SHA512, "P-521", false},
	"RS256": {crypto.SHA256, "", false}, "RS384": {crypto.SHA384, "", false}, "RS512": {crypto.SHA512, "", false},
	"PS256": {crypto.SHA256, "", true}, "PS384": {crypto.SHA384, "", true}, "PS512": {crypto.SHA512, "", true},
}

func (s *Server) crypto(vault, name, version, op string, body []byte) (any, *kvError) {
	var req struct {
		Alg    string `json:"alg"`
		Value  string `json:"value"`
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &kvError{400, "BadParameter", "Property has invalid value: " + err.Error(), ""}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, _, kerr := s.usable(vault, name, version, op)
	if kerr != nil {
		return nil, kerr
	}
	allowed := false
	for _, o := range v.Ops {
		allowed = allowed || o == op
	}
	if !allowed {
		return nil, &kvError{403, "Forbidden", fmt.Sprintf("Operation %s is not permitted on this key.", op), "KeyOperationForbidden"}
	}
	alg, ok := algorithms[req.Alg]
	if !ok {
		return nil, &kvError{400, "BadParameter", fmt.Sprintf("Property alg has invalid value %q.", req.Alg), ""}
	}
	ec, isEC := v.Signer.Public().(*ecdsa.PublicKey)
	if isEC != (alg.curve != "") || (isEC && ec.Curve.Params().Name != alg.curve) {
		return nil, &kvError{400, "BadParameter", fmt.Sprintf("Key and signing algorithm are incompatible (%s).", req.Alg), ""}
	}
	digestField := req.Value
	if op == "verify" {
		digestField = req.Digest
	}
	digest, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(digestField, "="))
	if err != nil || len(digest) != alg.hash.Size() {
		return nil, &kvError{400, "BadParameter", fmt.Sprintf("Invalid length of digest for %s: %d bytes.", req.Alg, len(digest)), ""}
	}
	kid := fmt.Sprintf("https://%s/keys/%s/%s", vault, name, v.ID)
	if op == "sign" {
		var sig []byte
		if isEC {
			r, ss, err := ecdsa.Sign(rand.Reader, v.Signer.(*ecdsa.PrivateKey), digest)
			if err != nil {
				return nil, &kvError{500, "InternalError", err.Error(), ""}
			}
			size := (ec.Curve.Params().BitSize + 7) / 8
			sig = append(r.FillBytes(make([]byte, size)), ss.FillBytes(make([]byte, size))...)
		} else if alg.pss {
			sig, err = v.Signer.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: alg.hash})
		} else {
			sig, err = v.Signer.Sign(rand.Reader, digest, alg.hash)
		}
		if err != nil {
			return nil, &kvError{500, "InternalError", err.Error(), ""}
		}
		return map[string]any{"kid": kid, "value": b64(sig)}, nil
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.Value, "="))
	if err != nil {
		return nil, &kvError{400, "BadParameter", "Property value is not base64url.", ""}
	}
	valid := false
	if isEC {
		size := (ec.Curve.Params().BitSize + 7) / 8
		if len(sig) == 2*size {
			valid = ecdsa.Verify(ec, digest, new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:]))
		}
	} else if alg.pss {
		valid = rsa.VerifyPSS(v.Signer.Public().(*rsa.PublicKey), alg.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	} else {
		valid = rsa.VerifyPKCS1v15(v.Signer.Public().(*rsa.PublicKey), alg.hash, digest, sig) == nil
	}
	return map[string]any{"value": valid}, nil
}

// token is Microsoft Entra ID's v2.0 token endpoint, for client credentials.
func (s *Server) token(w http.ResponseWriter, r *http.Request, tenant string, body []byte) int {
	entraErr := func(status int, code, desc string, num int) int {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{
			"error": code, "error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: 0 Correlation ID: 0 Timestamp: %s", num, desc, time.Now().UTC().Format(time.DateTime)),
			"error_codes": []int{num},
		})
		return status
	}
	form, err := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || err != nil {
		return entraErr(400, "invalid_request", "The request body must be form encoded.", 900144)
	}
	if form.Get("grant_type") != "client_credentials" {
		return entraErr(400, "unsupported_grant_type", "The grant type is not supported.", 70003)
	}
	if want := s.Cloud.Resource + "/.default"; form.Get("scope") != want {
		return entraErr(400, "invalid_scope", fmt.Sprintf("The provided value for scope %s is not valid here (this fake plays the cloud whose Key Vault resource is %s).", form.Get("scope"), s.Cloud.Resource), 70011)
	}
	s.mu.Lock()
	app := s.apps[form.Get("client_id")]
	s.mu.Unlock()
	if app == nil {
		return entraErr(400, "unauthorized_client", fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", form.Get("client_id"), tenant), 700016)
	}
	if tenant != app.Tenant {
		return entraErr(400, "invalid_request", fmt.Sprintf("Tenant '%s' not found.", tenant), 90002)
	}
	switch {
	case form.Get("client_secret") != "":
		if app.Secret == "" || form.Get("client_secret") != app.Secret {
			return entraErr(401, "invalid_client", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.", 7000215)
		}
	case form.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		assertion := form.Get("client_assertion")
		ok := false
		if app.FederatedToken != "" {
			ok = assertion == app.FederatedToken
		} else if app.CertKey != nil {
			ok = s.verifyAssertion(app, tenant, r.Host, assertion)
		}
		if !ok {
			return entraErr(401, "invalid_client", "Client assertion failed signature validation, or does not match a federated identity credential.", 700027)
		}
	default:
		return entraErr(401, "invalid_client", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", 7000218)
	}
	b := make([]byte, 24)
	rand.Read(b)
	tok := "eyJ0eXAiOiJKV1QifQ.fake-" + base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = app
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
	return 200
}

// verifyAssertion checks a certificate's client assertion: RS256 (or PS256)
// with the certificate's key, x5t its thumbprint, aud this token endpoint,
// iss == sub == the client, within its validity.
func (s *Server) verifyAssertion(app *App, tenant, host, assertion string) bool {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return false
	}
	var header struct{ Alg, X5t string }
	var claims struct {
		Aud, Iss, Sub string
		Exp, Nbf      int64
	}
	dec := func(p string, v any) error {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	if dec(parts[0], &header) != nil || dec(parts[1], &claims) != nil || header.X5t != app.CertThumbprint {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch header.Alg {
	case "RS256":
		err = rsa.VerifyPKCS1v15(app.CertKey, crypto.SHA256, h[:], sig)
	case "PS256":
		err = rsa.VerifyPSS(app.CertKey, crypto.SHA256, h[:], sig, nil)
	default:
		return false
	}
	now := time.Now().Unix()
	audOK := strings.HasSuffix(claims.Aud, "/"+tenant+"/oauth2/v2.0/token")
	return err == nil && audOK && claims.Iss == app.ClientID && claims.Sub == app.ClientID && claims.Exp > now && claims.Nbf <= now+300
}

// Certificate makes a self-signed certificate for an app's certificate
// credential: the DER and its key.
func Certificate() ([]byte, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return der, key, err
}
