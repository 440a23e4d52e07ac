package main

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"
)

// Outcomes of decoding a plugin's stdout the way the Go client does.
const (
	outcomeOK            = "ok"
	outcomeDecodeError   = "decode_error"
	outcomePluginError   = "plugin_error"
	outcomeMissingObject = "missing_method_object"
)

// Errors our host reports.
const (
	errInvalidResponse = "InvalidResponse"
	errPluginReturned  = "PluginReturned"
)

// responseCase is one response vector: what the host asked for and what the
// plugin printed.
type responseCase struct {
	name        string
	description string
	method      string
	stdout      []byte
	// stricter, when set, is a deliberate override: Go accepts this stdout but
	// our host rejects it with InvalidResponse; the text explains why and goes
	// into the vector's expect.note. Keep these rare.
	stricter string
}

const (
	noteNotUTF8 = "stdout is not valid UTF-8: Go silently replaces the bad bytes with U+FFFD; " +
		"we refuse to guess and reject the response"
	noteLoneSurrogate = "a \\u escape names a lone UTF-16 surrogate: Go silently decodes it as U+FFFD; " +
		"we reject it for the same reason as invalid UTF-8"
	noteVerifyMissing = "Go's client never looks at the verifySignature object, so it would report " +
		"the signature as valid; we require the object a real plugin always writes"
)

// handlerOutput is what a plugin built on the reference handler package prints
// for this call, with the deterministic fake key service behind it.
func handlerOutput(call clientCall, stdin string) ([]byte, error) {
	args, err := call.args()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if _, err := handler.Dispatch(&out, strings.NewReader(stdin), args, fakeKMS{}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// writeResponse is handler.WriteResponse into a byte slice.
func writeResponse(resp *common.PluginResp) ([]byte, error) {
	var out bytes.Buffer
	err := handler.WriteResponse(&out, resp)
	return out.Bytes(), err
}

func writeErrorResponse(e error) ([]byte, error) {
	var out bytes.Buffer
	err := handler.WriteErrorResponse(&out, e)
	return out.Bytes(), err
}

func nested(depth int) string {
	return strings.Repeat(`{"x":`, depth-1) + `{"x":[1,"a",null,true]}` + strings.Repeat("}", depth-1)
}

func responseCases() ([]responseCase, error) {
	const (
		sign   = common.SignMessageMethodName
		verify = common.VerifySignatureMethodName
		defAlg = common.DefaultAlgorithmMethodName
		supAlg = common.SupportedAlgorithmsMethodName
		create = common.CreateKeyMethodName
		pubKey = common.PublicKeyMethodName
	)
	var firstErr error
	must := func(b []byte, err error) []byte {
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return b
	}
	base := clientCall{keyID: sampleKeyID, hashFunc: crypto.SHA256}
	withMethod := func(m string) clientCall { c := base; c.method = m; return c }
	createCall := withMethod(create)
	createCall.algorithm = "ecdsa-p256-sha256"
	verifyGood := withMethod(verify)
	verifyGood.signature = ed25519.Sign(edKey, []byte(sampleMessage))
	verifyBad := withMethod(verify)
	verifyBad.signature = bytes.Repeat([]byte{0x42}, ed25519.SignatureSize)

	// The PEM text of the fake key, for hand-written publicKey answers.
	pemB64 := func() string {
		raw := must(handlerOutput(withMethod(pubKey), ""))
		var r common.PluginResp
		if err := json.Unmarshal(raw, &r); err != nil || r.PublicKey == nil {
			firstErr = errors.Join(firstErr, fmt.Errorf("own publicKey answer did not decode: %v", err))
			return ""
		}
		return base64.StdEncoding.EncodeToString(r.PublicKey.PublicKeyPEM)
	}()
	longMessage := strings.Repeat("0123456789", 1000)

	cases := []responseCase{
		// Well-formed answers, printed by the reference handler package.
		{"handler_default_algorithm", "defaultAlgorithm answer as the Go handler writes it.", defAlg,
			must(handlerOutput(withMethod(defAlg), "")), ""},
		{"handler_supported_algorithms", "supportedAlgorithms answer as the Go handler writes it.", supAlg,
			must(handlerOutput(withMethod(supAlg), "")), ""},
		{"handler_supported_algorithms_nil", "The Go handler's answer when the implementation returns a nil slice: null, read as an empty list.", supAlg,
			must(writeResponse(&common.PluginResp{SupportedAlgorithms: &common.SupportedAlgorithmsResp{}})), ""},
		{"handler_create_key", "createKey answer as the Go handler writes it: base64 of a P-256 public key PEM.", create,
			must(handlerOutput(createCall, "")), ""},
		{"handler_public_key", "publicKey answer as the Go handler writes it: base64 of an Ed25519 public key PEM.", pubKey,
			must(handlerOutput(withMethod(pubKey), "")), ""},
		{"handler_sign_message", "signMessage answer as the Go handler writes it: base64 of a 64-byte signature.", sign,
			must(handlerOutput(withMethod(sign), sampleMessage)), ""},
		{"handler_verify_signature", "verifySignature success as the Go handler writes it: an empty object.", verify,
			must(handlerOutput(verifyGood, sampleMessage)), ""},
		{"handler_verify_signature_error", "verifySignature failure as the Go handler writes it: only errorMessage.", verify,
			must(handlerOutput(verifyBad, sampleMessage)), ""},
		{"handler_unsupported_method", "The Go handler's error answer for a method it does not know.", sign,
			must(writeErrorResponse(fmt.Errorf("%w: %s", handler.ErrorUnsupportedMethod, "signMessage"))), ""},
		{"handler_empty_signature", "A signMessage answer with an empty signature, as the Go handler writes it.", sign,
			must(writeResponse(&common.PluginResp{SignMessage: &common.SignMessageResp{Signature: []byte{}}})), ""},

		// Layout.
		{"whitespace_and_trailing_newline", "Insignificant whitespace everywhere, CRLF and a trailing newline.", sign,
			[]byte("\r\n \t{\n  \"signMessage\" :\t{ \"signature\" : \"AQIDBA==\" }\r\n}\n"), ""},
		{"escaped_key", "A member name written with \\u escapes; Go unescapes names before matching.", sign,
			[]byte(`{"\u0073ign\u004dessage":{"\u0073ignature":"AQID"}}`), ""},
		{"json_escapes_in_base64", "Base64 text written with JSON escapes (\\u003d for '=', \\/ for '/').", sign,
			[]byte(`{"signMessage":{"signature":"\/\/8\u003d"}}`), ""},

		// Name matching.
		{"case_upper_method_key", "The method key in upper case; Go matches names case-insensitively.", sign,
			[]byte(`{"SIGNMESSAGE":{"signature":"AQID"}}`), ""},
		{"case_title_field_key", "The result field in title case.", sign,
			[]byte(`{"signMessage":{"Signature":"AQID"}}`), ""},
		{"case_lower_error_message", "errorMessage spelled errormessage still counts as the plugin's error.", sign,
			[]byte(`{"errormessage":"key is disabled"}`), ""},
		{"case_mixed_public_key", "Mixed-case publicKey and publicKeyPEM.", pubKey,
			[]byte(`{"PUBLICkey":{"PublicKeyPem":"` + pemB64 + `"}}`), ""},
		{"kelvin_sign_in_key", "U+212A KELVIN SIGN, raw UTF-8, in place of 'k': Go's folding treats it as k.", pubKey,
			[]byte("{\"public\u212Aey\":{\"public\u212AeyPEM\":\"" + pemB64 + "\"}}"), ""},
		{"kelvin_sign_escaped_in_key", "U+212A KELVIN SIGN written as \\u212a in place of 'K' in createKey.", create,
			[]byte(`{"create\u212aey":{"publicKeyPEM":"` + pemB64 + `"}}`), ""},
		{"long_s_in_key", "U+017F LATIN SMALL LETTER LONG S in place of 's': Go's folding treats it as s.", sign,
			[]byte("{\"\u017FignMe\u017F\u017Fage\":{\"\u017Fignature\":\"AQID\"}}"), ""},
		{"long_s_in_error_message_key", "errorMeſſage (long s) is errorMessage for Go.", sign,
			[]byte("{\"errorMe\u017F\u017Fage\":\"boom\",\"signMessage\":{\"signature\":\"AQID\"}}"), ""},
		{"dotless_i_not_folded", "U+0131 dotless i does NOT fold to 'i' in Go, so the key is unknown.", sign,
			[]byte("{\"s\u0131gnMessage\":{\"signature\":\"AQID\"}}"), ""},

		// Unknown fields.
		{"unknown_fields_both_levels", "Unknown members at the top level and inside the method object are ignored.", sign,
			[]byte(`{"version":2,"signMessage":{"keyVersion":"7","signature":"AQID","extra":{"a":[1,2]}},"zzz":null}`), ""},
		{"unknown_field_deeply_nested", "An unknown member holding objects nested 100 deep.", sign,
			[]byte(`{"debug":` + nested(100) + `,"signMessage":{"signature":"AQID"}}`), ""},
		{"all_method_objects", "Every method's object present; only the asked one matters.", defAlg,
			[]byte(`{"defaultAlgorithm":{"defaultAlgorithm":"ed25519"},"supportedAlgorithms":{"supportedAlgorithms":["x"]},` +
				`"createKey":{"publicKeyPEM":""},"publicKey":{"publicKeyPEM":""},"signMessage":{"signature":""},"verifySignature":{}}`), ""},

		// Nulls.
		{"null_error_message", `"errorMessage":null is the same as no error.`, sign,
			[]byte(`{"errorMessage":null,"signMessage":{"signature":"AQID"}}`), ""},
		{"null_signature", `"signature":null decodes to an empty signature.`, sign,
			[]byte(`{"signMessage":{"signature":null}}`), ""},
		{"missing_signature", "An empty signMessage object decodes to an empty signature.", sign,
			[]byte(`{"signMessage":{}}`), ""},
		{"null_public_key_pem", `"publicKeyPEM":null decodes to empty bytes.`, pubKey,
			[]byte(`{"publicKey":{"publicKeyPEM":null}}`), ""},
		{"null_default_algorithm_value", `"defaultAlgorithm":null inside the object decodes to "".`, defAlg,
			[]byte(`{"defaultAlgorithm":{"defaultAlgorithm":null}}`), ""},
		{"null_method_object", "The method object is null.", sign,
			[]byte(`{"signMessage":null}`), ""},
		{"null_verify_object", "The verifySignature object is null.", verify,
			[]byte(`{"verifySignature":null}`), ""},
		{"empty_object_verify", "{} answered to verifySignature.", verify,
			[]byte(`{}`), ""},
		{"null_in_algorithms", "null inside the algorithms array decodes to an empty string.", supAlg,
			[]byte(`{"supportedAlgorithms":{"supportedAlgorithms":["ed25519",null,"ecdsa-p256-sha256"]}}`), ""},

		// Duplicate names.
		{"duplicate_method_object_merges", "A second signMessage object is decoded into the first, so the earlier signature survives.", sign,
			[]byte(`{"signMessage":{"signature":"AAAA"},"signMessage":{}}`), ""},
		{"duplicate_method_object_then_null", "A later null for the method object discards the earlier one.", sign,
			[]byte(`{"signMessage":{"signature":"AAAA"},"signMessage":null}`), ""},
		{"duplicate_scalar_last_wins", "The same scalar twice: the last one wins.", defAlg,
			[]byte(`{"defaultAlgorithm":{"defaultAlgorithm":"first","defaultAlgorithm":"second"}}`), ""},
		{"duplicate_case_variant_last_wins", "The same field under two spellings: the last one wins.", sign,
			[]byte(`{"signMessage":{"signature":"AAAA","SIGNATURE":"AQID"}}`), ""},
		{"duplicate_array_replaced", "The algorithms array twice: the second replaces the first.", supAlg,
			[]byte(`{"supportedAlgorithms":{"supportedAlgorithms":["a","b"]},"supportedAlgorithms":{"supportedAlgorithms":["c"]}}`), ""},
		{"duplicate_error_message_cleared", "An errorMessage overwritten by a later empty one is no error.", sign,
			[]byte(`{"errorMessage":"boom","signMessage":{"signature":"AQID"},"errorMessage":""}`), ""},
		{"duplicate_error_message_null_keeps", "A later null errorMessage leaves the earlier message in place.", sign,
			[]byte(`{"errorMessage":"boom","errorMessage":null,"signMessage":{"signature":"AQID"}}`), ""},

		// errorMessage.
		{"error_message_only", "Only an errorMessage.", sign,
			[]byte(`{"errorMessage":"key not found"}`), ""},
		{"error_message_with_result", "A non-empty errorMessage wins over a result.", sign,
			[]byte(`{"errorMessage":"quota exceeded","signMessage":{"signature":"AQID"}}`), ""},
		{"error_message_empty_with_result", "An empty errorMessage next to a result is no error.", sign,
			[]byte(`{"errorMessage":"","signMessage":{"signature":"AQID"}}`), ""},
		{"error_message_empty_without_result", "An empty errorMessage and no result.", sign,
			[]byte(`{"errorMessage":""}`), ""},
		{"error_message_whitespace", "An errorMessage of one space is still an error.", sign,
			[]byte(`{"errorMessage":" "}`), ""},
		{"error_message_control_chars", "An errorMessage with escaped NUL, control characters and an ANSI sequence.", sign,
			[]byte(`{"errorMessage":"a\u0000b\u0001c\td\ne\r\u001b[31mred\u001b[0m\u007f"}`), ""},
		{"error_message_raw_control_char", "A raw newline inside a JSON string is a syntax error.", sign,
			[]byte("{\"errorMessage\":\"line one\nline two\"}"), ""},
		{"error_message_long", "A 10000-character errorMessage.", sign,
			[]byte(`{"errorMessage":"` + longMessage + `"}`), ""},
		{"error_message_and_bad_result", "An errorMessage next to a malformed result: Go reports the parse error.", sign,
			[]byte(`{"errorMessage":"boom","signMessage":{"signature":5}}`), ""},

		// Top-level shapes.
		{"empty_object", "{} answered to signMessage.", sign, []byte(`{}`), ""},
		{"top_level_null", "The JSON literal null.", sign, []byte(`null`), ""},
		{"top_level_array", "An empty JSON array.", sign, []byte(`[]`), ""},
		{"top_level_string", "A JSON string.", sign, []byte(`"str"`), ""},
		{"top_level_number", "A JSON number.", sign, []byte(`0`), ""},
		{"empty_stdout", "No output at all.", sign, []byte(""), ""},
		{"whitespace_only", "Only whitespace.", sign, []byte(" \r\n\t\n"), ""},
		{"log_line_before_json", "A log line printed before the JSON answer.", sign,
			[]byte("signing with key 7\n{\"signMessage\":{\"signature\":\"AQID\"}}"), ""},
		{"two_json_values", "Two JSON values in a row.", sign,
			[]byte(`{"signMessage":{"signature":"AQID"}}` + "\n" + `{"signMessage":{"signature":"AQID"}}`), ""},
		{"trailing_garbage", "Non-space bytes after the JSON value.", sign,
			[]byte(`{"signMessage":{"signature":"AQID"}}done`), ""},
		{"utf8_bom", "A UTF-8 byte order mark before the JSON value.", sign,
			[]byte("\xEF\xBB\xBF{\"signMessage\":{\"signature\":\"AQID\"}}"), ""},

		// Wrong types.
		{"signature_number", "A number where the signature string belongs.", sign,
			[]byte(`{"signMessage":{"signature":12345}}`), ""},
		{"supported_algorithms_string", "A string where the algorithms array belongs.", supAlg,
			[]byte(`{"supportedAlgorithms":{"supportedAlgorithms":"ed25519"}}`), ""},
		{"supported_algorithms_number_element", "A number inside the algorithms array.", supAlg,
			[]byte(`{"supportedAlgorithms":{"supportedAlgorithms":["ed25519",7]}}`), ""},
		{"error_message_object", "An object where the errorMessage string belongs.", sign,
			[]byte(`{"errorMessage":{"code":7},"signMessage":{"signature":"AQID"}}`), ""},
		{"error_message_number", "A number where the errorMessage string belongs.", sign,
			[]byte(`{"errorMessage":1}`), ""},
		{"method_object_bool", "true where the method object belongs.", sign,
			[]byte(`{"signMessage":true}`), ""},
		{"method_object_array", "An array where the method object belongs.", sign,
			[]byte(`{"signMessage":[]}`), ""},
		{"verify_object_string", "A string where the verifySignature object belongs.", verify,
			[]byte(`{"verifySignature":"ok"}`), ""},

		// Base64 and byte arrays.
		{"signature_base64_illegal_chars", "Base64 with a character outside the standard alphabet.", sign,
			[]byte(`{"signMessage":{"signature":"AQ!D"}}`), ""},
		{"signature_base64_url_alphabet", "URL-safe base64 ('-', '_') is not accepted.", sign,
			[]byte(`{"signMessage":{"signature":"-_-_"}}`), ""},
		{"signature_base64_missing_padding", `"AA" without its padding.`, sign,
			[]byte(`{"signMessage":{"signature":"AA"}}`), ""},
		{"signature_base64_extra_padding", "Base64 with one '=' too many.", sign,
			[]byte(`{"signMessage":{"signature":"AA==="}}`), ""},
		{"signature_base64_space", "Base64 with a space inside.", sign,
			[]byte(`{"signMessage":{"signature":"AQID AQID"}}`), ""},
		{"signature_base64_noncanonical_bits", `"AB==" has non-zero unused bits; Go's decoder accepts it as one 0x00 byte.`, sign,
			[]byte(`{"signMessage":{"signature":"AB=="}}`), ""},
		{"signature_base64_embedded_newline", "Base64 with an embedded newline, which Go's decoder skips.", sign,
			[]byte(`{"signMessage":{"signature":"AQID\nBAUG"}}`), ""},
		{"signature_base64_embedded_crlf", "Base64 with embedded CR LF pairs, which Go's decoder skips.", sign,
			[]byte(`{"signMessage":{"signature":"AQ\r\nID\r\n"}}`), ""},
		{"signature_byte_array", "The signature as a JSON array of byte values, which Go decodes into []byte.", sign,
			[]byte(`{"signMessage":{"signature":[1,2,3,255]}}`), ""},
		{"signature_byte_array_empty", "The signature as an empty JSON array.", sign,
			[]byte(`{"signMessage":{"signature":[]}}`), ""},
		{"signature_byte_array_256", "A byte array holding 256, which does not fit a byte.", sign,
			[]byte(`{"signMessage":{"signature":[1,256]}}`), ""},
		{"signature_byte_array_negative", "A byte array holding -1.", sign,
			[]byte(`{"signMessage":{"signature":[-1]}}`), ""},
		{"signature_byte_array_float", "A byte array holding 1.5.", sign,
			[]byte(`{"signMessage":{"signature":[1.5]}}`), ""},
		{"public_key_pem_byte_array", "publicKeyPEM as a JSON array of byte values.", pubKey,
			[]byte(`{"publicKey":{"publicKeyPEM":[45,45,45,45,45]}}`), ""},

		// Text encoding.
		{"invalid_utf8_in_string", "A raw 0xFF byte inside the algorithm name.", defAlg,
			[]byte("{\"defaultAlgorithm\":{\"defaultAlgorithm\":\"ecdsa\xFF\"}}"), noteNotUTF8},
		{"invalid_utf8_in_error_message", "A truncated UTF-8 sequence inside errorMessage.", sign,
			[]byte("{\"errorMessage\":\"bad \xC3\x28 key\"}"), noteNotUTF8},
		{"invalid_utf8_outside_string", "A raw 0xFF byte after the JSON value.", sign,
			[]byte("{\"signMessage\":{\"signature\":\"AQID\"}}\xFF"), ""},
		{"escaped_surrogate_pair", "A \\u-escaped surrogate pair, which is one character (U+1F511).", defAlg,
			[]byte(`{"defaultAlgorithm":{"defaultAlgorithm":"key-\ud83d\udd11"}}`), ""},
		{"escaped_lone_surrogate", "A \\u escape naming a lone high surrogate.", defAlg,
			[]byte(`{"defaultAlgorithm":{"defaultAlgorithm":"key-\ud800"}}`), noteLoneSurrogate},
		{"non_ascii_values", "Raw non-ASCII UTF-8 and escaped U+2028 in the algorithm list.", supAlg,
			[]byte("{\"supportedAlgorithms\":{\"supportedAlgorithms\":[\"clé\",\"日本\",\"a\\u2028b\"]}}"), ""},

		// Wrong method.
		{"wrong_method_object", "Asked for signMessage, answered with only a defaultAlgorithm object.", sign,
			[]byte(`{"defaultAlgorithm":{"defaultAlgorithm":"ed25519"}}`), ""},
		{"wrong_method_object_verify", "Asked for verifySignature, answered with only a signMessage object.", verify,
			[]byte(`{"signMessage":{"signature":"AQID"}}`), ""},
	}
	return cases, firstErr
}

// goVerdict decodes stdout exactly like the Go client's invokePlugin and then
// looks at the method's object like the client's method does.
func goVerdict(method string, stdout []byte) (outcome, goErr string, result any) {
	var resp common.PluginResp
	if err := json.Unmarshal(stdout, &resp); err != nil {
		return outcomeDecodeError, fmt.Errorf("%w: %w", cliplugin.ErrorResponseParse, err).Error(), nil
	}
	if resp.ErrorMessage != "" {
		return outcomePluginError, fmt.Errorf("%w: %s", cliplugin.ErrorPluginReturnError, resp.ErrorMessage).Error(), nil
	}
	b64 := base64.StdEncoding.EncodeToString
	switch method {
	case common.DefaultAlgorithmMethodName:
		if resp.DefaultAlgorithm != nil {
			return outcomeOK, "", object{{"defaultAlgorithm", resp.DefaultAlgorithm.DefaultAlgorithm}}
		}
	case common.SupportedAlgorithmsMethodName:
		if resp.SupportedAlgorithms != nil {
			algs := resp.SupportedAlgorithms.SupportedAlgorithms
			if algs == nil {
				algs = []string{}
			}
			return outcomeOK, "", object{{"supportedAlgorithms", algs}}
		}
	case common.CreateKeyMethodName:
		if resp.CreateKey != nil {
			return outcomeOK, "", object{{"publicKeyPEM", b64(resp.CreateKey.PublicKeyPEM)}}
		}
	case common.PublicKeyMethodName:
		if resp.PublicKey != nil {
			return outcomeOK, "", object{{"publicKeyPEM", b64(resp.PublicKey.PublicKeyPEM)}}
		}
	case common.SignMessageMethodName:
		if resp.SignMessage != nil {
			return outcomeOK, "", object{{"signature", b64(resp.SignMessage.Signature)}}
		}
	case common.VerifySignatureMethodName:
		if resp.VerifySignature != nil {
			return outcomeOK, "", object{}
		}
		// The client's VerifySignature discards the decoded response, so Go
		// itself reports no error here.
		return outcomeMissingObject, "", nil
	default:
		panic("unknown method " + method)
	}
	// The client's other methods dereference the missing object.
	return outcomeMissingObject, nilDereference(), nil
}

var sink *common.SignMessageResp

// nilDereference returns the runtime's message for what the Go client does
// with a missing method object: dereference a nil pointer.
func nilDereference() (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	_ = sink.Signature
	return "no panic"
}

// renderResponses builds every response vector, keyed by relative file name.
func renderResponses() (map[string][]byte, error) {
	cases, err := responseCases()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, rc := range cases {
		outcome, goErr, result := goVerdict(rc.method, rc.stdout)
		var expect object
		switch {
		case rc.stricter != "":
			if outcome == outcomeDecodeError || outcome == outcomeMissingObject {
				return nil, fmt.Errorf("%s: override is pointless, Go already rejects it (%s)", rc.name, outcome)
			}
			expect = object{{"error", errInvalidResponse}, {"note", rc.stricter}}
		case outcome == outcomeOK:
			expect = object{{"ok", result}}
		case outcome == outcomePluginError:
			expect = object{{"error", errPluginReturned}}
		case outcome == outcomeMissingObject && rc.method == common.VerifySignatureMethodName:
			expect = object{{"error", errInvalidResponse}, {"note", noteVerifyMissing}}
		default:
			expect = object{{"error", errInvalidResponse}}
		}
		if !utf8.Valid(rc.stdout) && rc.stricter == "" && outcome != outcomeDecodeError {
			return nil, fmt.Errorf("%s: Go accepts non-UTF-8 stdout, so this case needs the explicit override", rc.name)
		}
		doc := object{
			{"name", rc.name},
			{"description", rc.description},
			{"method", rc.method},
		}
		if utf8.Valid(rc.stdout) {
			doc = append(doc, member{"stdout", string(rc.stdout)})
		} else {
			doc = append(doc, member{"stdoutBase64", base64.StdEncoding.EncodeToString(rc.stdout)})
		}
		doc = append(doc,
			member{"go", object{{"outcome", outcome}, {"error", goErr}}},
			member{"expect", expect},
		)
		out, err := renderDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rc.name, err)
		}
		name := "responses/" + rc.name + ".json"
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("duplicate vector name %s", rc.name)
		}
		files[name] = out
	}
	return files, nil
}
