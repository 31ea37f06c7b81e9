package alipaytest_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// vector is the union of the fields of the shared/vectors files used here
// (copied into testdata/vectors).
type vector struct {
	Name                       string `json:"name"`
	SignType                   string `json:"signType"`
	Charset                    string `json:"charset"`
	SignTypeInContent          bool   `json:"signTypeInContent"`
	FormBody                   string `json:"formBody"`
	FormOrQuery                string `json:"formOrQuery"`
	FormBodyGBKPercentEncoded  string `json:"formBodyGBKPercentEncoded"`
	ExpectedSignedContent      string `json:"expectedSignedContent"`
	ExpectedSignedContentHex   string `json:"expectedSignedContentHex"`
	ExpectedSignedContentGBK   string `json:"expectedSignedContentGBKHex"`
	ExpectedSign               string `json:"expectedSign"`
	ExpectedVerify             any    `json:"expectedVerify"`
	PublicKeyPem               string `json:"publicKeyPem"`
	PrivateKeyPem              string `json:"privateKeyPem"`
	MD5Key                     string `json:"md5Key"`
	ContentEmptyValuesDropped  string `json:"contentEmptyValuesDropped"`
	ContentEmptyValuesIncluded string `json:"contentEmptyValuesIncluded"`
	VerifyEmptyValuesDropped   *bool  `json:"verifyEmptyValuesDropped"`
	VerifyEmptyValuesIncluded  *bool  `json:"verifyEmptyValuesIncluded"`
	Note                       string `json:"note"`
	Keys                       struct {
		MD5Key  string `json:"md5Key"`
		Partner string `json:"partner"`
	} `json:"keys"`
	NegativeChecks struct {
		MD5OfSameTextAsUTF8Bytes string `json:"md5OfSameTextAsUtf8Bytes"`
	} `json:"negativeChecks"`
}

// charset returns the first word of the charset field ("gbk (the
// _input_charset of ...)" -> "gbk").
func (v *vector) charset() string {
	if f := strings.Fields(v.Charset); len(f) > 0 {
		return f[0]
	}
	return "utf-8"
}

// wire returns the encoded body or query as recorded, and whether it was
// produced by an encoder equivalent to url.QueryEscape (Python urlencode);
// the Node oracle's URLSearchParams leaves '*' unescaped, so its bodies are
// compared pair by pair instead.
func (v *vector) wire() (string, bool) {
	switch {
	case v.FormBodyGBKPercentEncoded != "":
		return v.FormBodyGBKPercentEncoded, true
	case v.FormOrQuery != "":
		return v.FormOrQuery, true
	case strings.HasPrefix(v.Name, "synthetic-escrow"):
		return v.FormBody, true
	}
	return v.FormBody, false
}

func loadVectors(t *testing.T, pattern string) []vector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "vectors", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors match %s", pattern)
	}
	var out []vector
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vector
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

// TestSyntheticVectors re-signs every synthetic vector whose key is
// published (RSA2, RSA, MD5; utf-8 and GBK) and checks the string-to-sign,
// the signature and the wire form against the recorded ones. RSA PKCS#1
// v1.5 and MD5 are deterministic, so equality is exact.
func TestSyntheticVectors(t *testing.T) {
	vectors := loadVectors(t, "synthetic-*.json")
	if len(vectors) < 15 {
		t.Fatalf("only %d synthetic vectors", len(vectors))
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			body, exactWire := v.wire()
			params, err := alipaytest.DecodeWireParams([]byte(body), v.charset())
			if err != nil {
				t.Fatal(err)
			}
			wantSign := params.Get("sign")
			if v.ExpectedSign != "" && v.ExpectedSign != wantSign {
				t.Fatalf("vector inconsistent: expectedSign %s, body sign %s", v.ExpectedSign, wantSign)
			}
			s := &alipaytest.Signer{
				SignType: alipaytest.SignType(v.SignType),
				Charset:  v.charset(),
			}
			switch {
			case v.SignType == "MD5":
				s.Protocol = alipaytest.ProtocolMapi
				s.MD5Key = v.MD5Key + v.Keys.MD5Key
			default:
				k, err := alipaytest.ParseKeyPair(v.PrivateKeyPem)
				if err != nil {
					t.Fatal(err)
				}
				s.Key = k
			}
			if v.SignTypeInContent {
				s.Rule = alipaytest.V2
			}
			if strings.Contains(v.Note, "empty value INCLUDED") {
				s.EmptyValues = alipaytest.KeepEmpty
			}

			m, err := s.Sign(params)
			if err != nil {
				t.Fatal(err)
			}
			if m.SignedContent != v.ExpectedSignedContent {
				t.Errorf("content\n got %s\nwant %s", m.SignedContent, v.ExpectedSignedContent)
			}
			if m.Sign() != wantSign {
				t.Errorf("sign\n got %s\nwant %s", m.Sign(), wantSign)
			}
			if !slices.Equal(m.Params.Pairs(), params.Pairs()) {
				t.Errorf("Sign changed the order or values of the parameters")
			}
			if exactWire && string(m.Encode()) != body {
				t.Errorf("wire\n got %s\nwant %s", m.Encode(), body)
			}
			// The signed bytes, where the vector records them.
			wantHex := v.ExpectedSignedContentHex + v.ExpectedSignedContentGBK
			if wantHex != "" {
				b, err := alipaytest.EncodeText(m.SignedContent, v.charset())
				if err != nil || hex.EncodeToString(b) != wantHex {
					t.Errorf("signed bytes differ from the recorded hex (err %v)", err)
				}
			}
			// GBK MD5 vectors record the digest of the same text as UTF-8
			// bytes: signing in utf-8 must give exactly that wrong digest.
			if neg := v.NegativeChecks.MD5OfSameTextAsUTF8Bytes; neg != "" {
				u := *s
				u.Charset = "utf-8"
				got, err := u.SignContent(m.SignedContent)
				if err != nil || got != neg {
					t.Errorf("utf-8 digest of GBK text = %s, %v; want %s", got, err, neg)
				}
			}
		})
	}
}

// TestContentAgainstRealAlipaySignatures checks Content on the notifications
// actually signed by Alipay (the official Node SDK's test fixtures): the
// content must equal the recorded one and verify under Alipay's key.
func TestContentAgainstRealAlipaySignatures(t *testing.T) {
	for _, v := range loadVectors(t, "nodesdk-*.json") {
		t.Run(v.Name, func(t *testing.T) {
			p, err := alipaytest.DecodeWireParams([]byte(v.FormBody), v.charset())
			if err != nil {
				t.Fatal(err)
			}
			pub := parsePublicKey(t, v.PublicKeyPem)
			rule := alipaytest.V1
			if v.SignTypeInContent {
				rule = alipaytest.V2
			}
			switch {
			case v.ContentEmptyValuesDropped != "":
				drop := alipaytest.Content(p, alipaytest.V1, alipaytest.DropEmpty)
				keep := alipaytest.Content(p, alipaytest.V1, alipaytest.KeepEmpty)
				if drop != v.ContentEmptyValuesDropped || keep != v.ContentEmptyValuesIncluded {
					t.Fatalf("contents differ:\n%s\n%s", drop, keep)
				}
				if got := verifies(pub, drop, p.Get("sign")); got != *v.VerifyEmptyValuesDropped {
					t.Errorf("drop-empty verifies = %v", got)
				}
				if got := verifies(pub, keep, p.Get("sign")); got != *v.VerifyEmptyValuesIncluded {
					t.Errorf("keep-empty verifies = %v", got)
				}
			default:
				c := alipaytest.Content(p, rule, alipaytest.DropEmpty)
				if v.ExpectedSignedContent != "" && c != v.ExpectedSignedContent {
					t.Fatalf("content\n got %s\nwant %s", c, v.ExpectedSignedContent)
				}
				if got := verifies(pub, c, p.Get("sign")); got != (v.ExpectedVerify == true) {
					t.Errorf("verifies = %v, want %v", got, v.ExpectedVerify)
				}
			}
		})
	}
}

func parsePublicKey(t *testing.T, s string) *rsa.PublicKey {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatal("bad public key PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PublicKey)
}

// verifies is an independent RSA2 check over UTF-8 content.
func verifies(pub *rsa.PublicKey, content, sign string) bool {
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(content))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
}
