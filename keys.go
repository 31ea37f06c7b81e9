package alipaynotify

import (
	"bytes"
	"crypto/md5"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// verifyKey is one Alipay public key the verifier accepts, with the
// certificate serial-number string when it came from a certificate.
type verifyKey struct {
	pub    *rsa.PublicKey
	certSN string
}

// ParsePublicKey parses an RSA public key given as PEM ("PUBLIC KEY" or "RSA
// PUBLIC KEY") or as the bare base64 string Alipay's console shows (SPKI or
// PKCS#1 DER). Keys shorter than 1024 bits are rejected.
//
// Its errors say what was pasted instead when they can tell: nothing (an
// environment variable that is not set), a private key, a certificate.
func ParsePublicKey(s string) (*rsa.PublicKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty: is the environment variable or file it comes from set?")
	}
	der, err := keyDER(s)
	if err != nil {
		return nil, err
	}
	var pub *rsa.PublicKey
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("not an RSA key (%T)", k)
		}
		pub = rk
	} else if rk, err2 := x509.ParsePKCS1PublicKey(der); err2 == nil {
		pub = rk
	} else {
		return nil, notAPublicKey(der)
	}
	if pub.N.BitLen() < 1024 {
		return nil, fmt.Errorf("RSA key of %d bits is too short", pub.N.BitLen())
	}
	return pub, nil
}

// notAPublicKey names what der is when it is a key or certificate of
// another kind, the usual mix-ups when pasting keys from Alipay's console.
func notAPublicKey(der []byte) error {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return errors.New("this is a private key: configure Alipay's public key (支付宝公钥), never a private key")
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return errors.New("this is a private key: configure Alipay's public key (支付宝公钥), never a private key")
	}
	if _, err := x509.ParseCertificate(der); err == nil {
		return errors.New("this is a certificate: in public-key-certificate mode give it in AlipayCertificates (with AlipayRootCert)")
	}
	return errors.New("not an RSA public key")
}

// keyDER returns the DER of a key given as one PEM block or as bare base64
// (the form Alipay's console and the Java demos use). Encrypted PEM is
// refused: keys are configured in the clear.
func keyDER(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("not a PEM block")
		}
		if strings.Contains(block.Type, "ENCRYPTED") || block.Headers["Proc-Type"] != "" {
			return nil, errors.New("encrypted keys are not supported")
		}
		return block.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, errors.New("neither PEM nor base64")
	}
	return der, nil
}

// pemCertificates returns the DER of every CERTIFICATE block in s.
func pemCertificates(s string) [][]byte {
	var out [][]byte
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		if block.Type == "CERTIFICATE" {
			out = append(out, block.Bytes)
		}
	}
}

// minimalCert is just enough of X.509 to compute Alipay's serial-number
// strings for any certificate, including SM2 and other ones crypto/x509
// cannot parse.
type minimalCert struct {
	TBS struct {
		Raw          asn1.RawContent
		Version      int `asn1:"optional,explicit,default:0,tag:0"`
		SerialNumber *big.Int
		SigAlg       pkix.AlgorithmIdentifier
		Issuer       asn1.RawValue
		Rest         asn1.RawValue `asn1:"optional"`
	}
	SigAlg pkix.AlgorithmIdentifier
}

var oidRSASignaturePrefix = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1}

// CertSN computes the serial-number string Alipay uses for a certificate
// (app_cert_sn, alipay_cert_sn): lowercase hex MD5 of the issuer's RFC 2253
// distinguished name followed by the decimal serial number. The input is one
// PEM certificate (the first in the text is used).
func CertSN(certPEM string) (string, error) {
	ders := pemCertificates(certPEM)
	if len(ders) == 0 {
		return "", errors.New("no PEM certificate")
	}
	sn, _, err := certSNFromDER(ders[0])
	return sn, err
}

// RootCertSN computes alipay_root_cert_sn for Alipay's root bundle: the SNs of
// the RSA-signed certificates in file order, joined with '_'. SM2 and ECDSA
// roots are skipped, as Alipay's SDKs do.
func RootCertSN(bundlePEM string) (string, error) {
	var sns []string
	for _, der := range pemCertificates(bundlePEM) {
		sn, rsaSigned, err := certSNFromDER(der)
		if err != nil {
			return "", err
		}
		if rsaSigned {
			sns = append(sns, sn)
		}
	}
	if len(sns) == 0 {
		return "", errors.New("no RSA certificate in the root bundle")
	}
	return strings.Join(sns, "_"), nil
}

func certSNFromDER(der []byte) (sn string, rsaSigned bool, err error) {
	var c minimalCert
	if _, err := asn1.Unmarshal(der, &c); err != nil {
		return "", false, fmt.Errorf("certificate: %v", err)
	}
	var issuer pkix.RDNSequence
	if _, err := asn1.Unmarshal(c.TBS.Issuer.FullBytes, &issuer); err != nil {
		return "", false, fmt.Errorf("certificate issuer: %v", err)
	}
	sum := md5.Sum([]byte(rfc2253(issuer) + c.TBS.SerialNumber.String()))
	alg := c.SigAlg.Algorithm
	rsaSigned = len(alg) > len(oidRSASignaturePrefix) && alg[:len(oidRSASignaturePrefix)].Equal(oidRSASignaturePrefix)
	return hex.EncodeToString(sum[:]), rsaSigned, nil
}

var rdnShortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// rfc2253 renders a distinguished name the way Java's
// X500Principal.getName() does: most specific RDN first, ',' between RDNs,
// '+' inside multi-valued RDNs, special characters escaped.
func rfc2253(seq pkix.RDNSequence) string {
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			oid := atv.Type.String()
			if name, ok := rdnShortNames[oid]; ok {
				b.WriteString(name)
				b.WriteByte('=')
				b.WriteString(escapeRDNValue(fmt.Sprint(atv.Value)))
			} else {
				der, _ := asn1.Marshal(atv.Value)
				b.WriteString(oid)
				b.WriteString("=#")
				b.WriteString(hex.EncodeToString(der))
			}
		}
	}
	return b.String()
}

func escapeRDNValue(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(",+\"\\<>;", r),
			i == 0 && (r == '#' || r == ' '),
			i == len(v)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// swapHint suggests the usual mistake when a certificate does not chain: a
// root certificate given as Alipay's certificate (the root and certificate
// files swapped, or the app's own certificate given as Alipay's).
func swapHint(c *x509.Certificate) string {
	if c.IsCA || bytes.Equal(c.RawIssuer, c.RawSubject) {
		return " (it is a CA certificate: are AlipayCertificates and AlipayRootCert swapped? AlipayCertificates takes alipayCertPublicKey_RSA2.crt, AlipayRootCert alipayRootCert.crt)"
	}
	return " (AlipayCertificates takes alipayCertPublicKey_RSA2.crt, not your app's appCertPublicKey_*.crt; AlipayRootCert takes alipayRootCert.crt)"
}

// certKeys parses Alipay public-key certificates (each PEM may hold the leaf
// followed by its intermediates, as Alipay ships alipayCertPublicKey_RSA2.crt),
// checks that each chains to an RSA root of the root bundle and is valid at
// now, and returns the leaves' keys with their SNs.
func certKeys(certPEMs []string, rootPEM string, now time.Time) ([]verifyKey, error) {
	roots := x509.NewCertPool()
	nRoots := 0
	for _, der := range pemCertificates(rootPEM) {
		_, rsaSigned, err := certSNFromDER(der)
		if err != nil {
			return nil, fmt.Errorf("root bundle: %v", err)
		}
		if !rsaSigned {
			continue // SM2/ECDSA roots: not used for RSA chains
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("root bundle: %v", err)
		}
		roots.AddCert(c)
		nRoots++
	}
	if nRoots == 0 {
		return nil, errors.New("root bundle holds no RSA certificate")
	}
	var keys []verifyKey
	for i, p := range certPEMs {
		ders := pemCertificates(p)
		if len(ders) == 0 {
			return nil, fmt.Errorf("certificate %d: no PEM certificate", i)
		}
		leaf, err := x509.ParseCertificate(ders[0])
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", i, err)
		}
		inter := x509.NewCertPool()
		for _, der := range ders[1:] {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("certificate %d: intermediate: %v", i, err)
			}
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		}); err != nil {
			return nil, fmt.Errorf("certificate %d does not chain to the Alipay root bundle: %v%s", i, err, swapHint(leaf))
		}
		pub, ok := leaf.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("certificate %d: not an RSA key", i)
		}
		sn, _, err := certSNFromDER(ders[0])
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", i, err)
		}
		keys = append(keys, verifyKey{pub: pub, certSN: sn})
	}
	return keys, nil
}

// UnknownCertSN returns the alipay_cert_sn that n (verified by v) names when
// none of v's AlipayCertificates has that serial number. The callback
// verified under another configured key, so this is an early warning rather
// than a failure: Alipay has begun signing with a certificate it has not
// given you yet, or is rotating its certificate; download the new one from
// the console and add it to AlipayCertificates before the old key stops
// working. It reports false for callbacks that name no certificate.
func (v *Verifier) UnknownCertSN(n *Notification) (string, bool) {
	sn, ok := n.Params.Lookup("alipay_cert_sn")
	if !ok || n.Protocol != ProtocolOpenPlatform {
		return "", false
	}
	for _, k := range v.openKeys {
		if k.certSN == sn {
			return "", false
		}
	}
	return sn, true
}
