package alipaytest_test

import (
	"bytes"
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// checkBody is an independent verifier used by the tests: it works on raw
// bytes (percent-decoding only, no charset library), the way
// docs/protocol.md, "Charset of the signed bytes", recommends, so it checks
// the Signer's charset handling rather than repeating it.
func checkBody(body []byte, pub *rsa.PublicKey, md5Key string, signTypeSigned, keepEmpty bool) bool {
	type pair struct{ k, v []byte }
	var pairs []pair
	var sign, signType string
	for part := range strings.SplitSeq(string(body), "&") {
		k, v, _ := strings.Cut(part, "=")
		kb, err1 := url.QueryUnescape(k)
		vb, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return false
		}
		switch {
		case kb == "sign":
			sign = vb
			continue
		case kb == "sign_type":
			signType = vb
			if !signTypeSigned {
				continue
			}
		}
		if vb == "" && !keepEmpty {
			continue
		}
		pairs = append(pairs, pair{[]byte(kb), []byte(vb)})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return bytes.Compare(pairs[i].k, pairs[j].k) < 0 })
	var content []byte
	for i, p := range pairs {
		if i > 0 {
			content = append(content, '&')
		}
		content = append(content, p.k...)
		content = append(content, '=')
		content = append(content, p.v...)
	}
	switch signType {
	case "MD5":
		sum := md5.Sum(append(content, md5Key...))
		return hex.EncodeToString(sum[:]) == sign
	case "RSA2", "RSA":
		sig, err := base64.StdEncoding.DecodeString(sign)
		if err != nil {
			return false
		}
		if signType == "RSA2" {
			sum := sha256.Sum256(content)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
		}
		sum := sha1.Sum(content)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig) == nil
	}
	return false
}
