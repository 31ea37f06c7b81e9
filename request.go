package alipaynotify

import (
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Requests to Alipay's gateway (the trade query) are signed with the rules
// callbacks are verified with (docs/protocol.md, "Trade query"): the same
// code builds both strings-to-sign.

// RequestContent returns the string-to-sign of a request to Alipay's gateway
// on protocol p: the parameters sorted by key, "k=v" joined with '&', values
// verbatim, empty values and sign left out. On the open platform sign_type
// is signed (the V2 rule; Node SDK util.js sign()); on legacy mapi it is left
// out and the MD5 key is appended by MD5Signature. The bytes come from the code
// that builds a callback's string-to-sign.
func RequestContent(p Protocol, params map[string]string) []byte {
	f := getForm()
	defer putForm(f)
	for k, v := range params {
		f.params = append(f.params, rawParam{key: []byte(k), val: []byte(v)})
	}
	sortParams(f.params)
	return f.appendContent(nil, contentRule{withSignType: p == ProtocolOpenPlatform})
}

// MD5Signature returns the legacy MD5 signature of content: lowercase hex MD5 of
// content followed by key, with no '&' in between, the digest legacy
// callbacks are verified with.
func MD5Signature(content []byte, key string) string {
	sum := md5Digest([]byte(key), func(w io.Writer) { w.Write(content) })
	return hex.EncodeToString(sum[:])
}

// ParsePrivateKey parses the merchant's RSA private key (应用私钥): PEM "RSA
// PRIVATE KEY" (PKCS#1) or "PRIVATE KEY" (PKCS#8), or the bare base64 of
// either DER form, as Alipay's key tool prints it. Keys shorter than 1024 or
// longer than 4096 bits are refused. Errors never quote the key, and say
// what was pasted instead when they can tell (nothing, a public key, a
// certificate).
func ParsePrivateKey(s string) (*rsa.PrivateKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty: is the environment variable or file it comes from set?")
	}
	priv, err := parseRSAPrivateKey(s)
	if err == nil {
		return priv, nil
	}
	if _, perr := ParsePublicKey(s); perr == nil {
		return nil, errors.New("this is a public key: configure your app's private key (应用私钥), which signs requests")
	}
	if der, derr := keyDER(s); derr == nil {
		if e := notAPublicKey(der); strings.HasPrefix(e.Error(), "this is a certificate") {
			return nil, errors.New("this is a certificate: configure your app's private key (应用私钥), which signs requests")
		}
	}
	return nil, fmt.Errorf("merchant private key: %w", err)
}

// AppID returns the configured open-platform app (Options.AppID), the
// app_id a trade query is sent for.
func (v *Verifier) AppID() string { return v.opts.AppID }

// Partner returns the configured legacy partner (Options.Legacy.Partner),
// the partner a legacy trade query is sent for.
func (v *Verifier) Partner() string { return v.opts.Legacy.Partner }
