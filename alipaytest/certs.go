package alipaytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// CertChain is a public-key-certificate setup shaped like Alipay's
// (docs/protocol.md, "Public-key-certificate mode"): an RSA root CA, an
// intermediate CA, and the "Alipay public key certificate" for a key pair,
// plus extra roots in the root bundle as in the real alipayRootCert.crt.
type CertChain struct {
	// Root is the RSA root, issuer DN
	// "CN=Test Alipay Root R1,OU=Certification Authority,O=Test Financial,C=CN".
	Root *x509.Certificate
	// ECDSARoot is an ECDSA root (ecdsa-with-SHA384) present in the bundle;
	// SN computation skips it as Alipay does.
	ECDSARoot *x509.Certificate
	// SecondRoot is another RSA root (like the iTrusChina root of the real
	// bundle), so the root SN is a '_'-joined pair.
	SecondRoot *x509.Certificate
	// Intermediate is the CA that issues Alipay public key certificates
	// ("Class 2" in Alipay's naming), signed by Root.
	Intermediate *x509.Certificate
	// Leaf is the Alipay public key certificate holding the key pair's
	// public key, signed by Intermediate.
	Leaf *x509.Certificate
}

// CertChainOptions tune NewCertChain. The zero value is fine.
type CertChainOptions struct {
	// SellerPID is the 2088... ID in the leaf's CN. Default: DefaultPID.
	SellerPID string
	// NotBefore and NotAfter bound the leaf's validity. Default: from a
	// day ago, for two years (CA certificates: ten years either side).
	NotBefore, NotAfter time.Time
}

// NewCertChain issues a certificate chain for key (nil means TestKey()).
// CA keys are RSA-2048 generated once per test binary; serial numbers are
// random 128-bit, like Alipay's.
func NewCertChain(key *KeyPair, opts CertChainOptions) (*CertChain, error) {
	if key == nil {
		key = TestKey()
	}
	ecKey, err := ecdsaRootKey()
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	caFrom, caTo := now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0)
	leafFrom, leafTo := opts.NotBefore, opts.NotAfter
	if leafFrom.IsZero() {
		leafFrom = now.Add(-24 * time.Hour)
	}
	if leafTo.IsZero() {
		leafTo = leafFrom.AddDate(2, 0, 0)
	}

	ca := func(cn string) pkix.Name {
		return pkix.Name{Country: []string{"CN"}, Organization: []string{"Test Financial"}, OrganizationalUnit: []string{"Certification Authority"}, CommonName: cn}
	}
	c := &CertChain{}
	rk, ik, r2k := rootKey.get(), interKey.get(), root2Key.get()

	rootTmpl := caTemplate(ca("Test Alipay Root R1"), caFrom, caTo)
	if c.Root, err = issue(rootTmpl, rootTmpl, rk.PublicKey(), rk.PrivateKey()); err != nil {
		return nil, err
	}
	ecTmpl := caTemplate(ca("Test Alipay Root E1"), caFrom, caTo)
	if c.ECDSARoot, err = issue(ecTmpl, ecTmpl, &ecKey.PublicKey, ecKey); err != nil {
		return nil, err
	}
	r2Tmpl := caTemplate(pkix.Name{Country: []string{"CN"}, Organization: []string{"Test Trust"}, OrganizationalUnit: []string{"Test Trust Network"}, CommonName: "Test Trust Class 2 Root CA - G3"}, caFrom, caTo)
	if c.SecondRoot, err = issue(r2Tmpl, r2Tmpl, r2k.PublicKey(), r2k.PrivateKey()); err != nil {
		return nil, err
	}
	interTmpl := caTemplate(ca("Test Alipay Certification Authority Class 2 R1"), caFrom, caTo)
	interTmpl.MaxPathLenZero = true
	if c.Intermediate, err = issue(interTmpl, c.Root, ik.PublicKey(), rk.PrivateKey()); err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			Country:            []string{"CN"},
			Organization:       []string{"测试网络技术有限公司"},
			OrganizationalUnit: []string{"Alipay"},
			CommonName:         "支付宝(中国)网络技术有限公司-" + or(opts.SellerPID, DefaultPID),
		},
		NotBefore: leafFrom,
		NotAfter:  leafTo,
		KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	if c.Leaf, err = issue(leafTmpl, c.Intermediate, key.PublicKey(), ik.PrivateKey()); err != nil {
		return nil, err
	}
	return c, nil
}

var ecdsaRoot struct {
	once sync.Once
	key  *ecdsa.PrivateKey
	err  error
}

func ecdsaRootKey() (*ecdsa.PrivateKey, error) {
	ecdsaRoot.once.Do(func() {
		ecdsaRoot.key, ecdsaRoot.err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	})
	return ecdsaRoot.key, ecdsaRoot.err
}

func caTemplate(name pkix.Name, from, to time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               name,
		NotBefore:             from,
		NotAfter:              to,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, new(big.Int).Lsh(big.NewInt(1), 120)) // positive, never tiny
}

func issue(tmpl, parent *x509.Certificate, pub, priv any) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("alipaytest: create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func pemOf(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// AlipayCertPEM returns the leaf followed by the intermediate, the shape of
// the alipayCertPublicKey_RSA2.crt file merchants download.
func (c *CertChain) AlipayCertPEM() []byte { return pemOf(c.Leaf, c.Intermediate) }

// LeafPEM returns the leaf certificate alone.
func (c *CertChain) LeafPEM() []byte { return pemOf(c.Leaf) }

// RootCertPEM returns the root bundle, the shape of alipayRootCert.crt:
// the RSA root, the ECDSA root and the second RSA root, concatenated.
func (c *CertChain) RootCertPEM() []byte { return pemOf(c.Root, c.ECDSARoot, c.SecondRoot) }

// AlipayCertSN returns the SN of the leaf: alipay_cert_sn.
func (c *CertChain) AlipayCertSN() string { return CertSNOf(c.Leaf) }

// RootCertSN returns alipay_root_cert_sn of RootCertPEM: the SNs of the two
// RSA roots joined with '_'.
func (c *CertChain) RootCertSN() string { return CertSNOf(c.Root) + "_" + CertSNOf(c.SecondRoot) }

// CertSNOf returns Alipay's serial-number string of a parsed cert (for PEM
// text, as alipaynotify.CertSN takes, use [CertSNFromPEM]): lowercase hex
// MD5(issuer DN in RFC 2253 form + serial number in decimal), e.g. MD5 of
// "CN=Test Alipay Root R1,OU=Certification Authority,O=Test Financial,C=CN12345...".
func CertSNOf(cert *x509.Certificate) string {
	dn, err := rfc2253(cert.RawIssuer)
	if err != nil {
		dn = cert.Issuer.String()
	}
	sum := md5.Sum([]byte(dn + cert.SerialNumber.String()))
	return hex.EncodeToString(sum[:])
}

// CertSNFromPEM returns the SN of the first certificate in a PEM file such
// as alipayCertPublicKey_RSA2.crt or appCertPublicKey_<appid>.crt.
func CertSNFromPEM(data []byte) (string, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return "", errors.New("alipaytest: no certificate in PEM")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("alipaytest: parse certificate: %w", err)
		}
		return CertSNOf(cert), nil
	}
}

// RootCertSNFromPEM returns alipay_root_cert_sn of a root bundle: the SNs of
// the certificates whose signature algorithm is RSA (OID prefix
// 1.2.840.113549.1.1), in file order, joined with '_'. Other certificates
// (ECDSA, SM2) are skipped without being parsed further, since Go cannot
// parse SM2 keys.
func RootCertSNFromPEM(data []byte) (string, error) {
	var sns []string
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		isRSA, err := rsaSigned(block.Bytes)
		if err != nil {
			return "", err
		}
		if !isRSA {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("alipaytest: parse certificate: %w", err)
		}
		sns = append(sns, CertSNOf(cert))
	}
	if len(sns) == 0 {
		return "", errors.New("alipaytest: no RSA-signed certificate in root bundle")
	}
	return strings.Join(sns, "_"), nil
}

var oidRSASignatures = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1}

// rsaSigned reads the outer signatureAlgorithm of a DER certificate.
func rsaSigned(der []byte) (bool, error) {
	var cert struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &cert); err != nil {
		return false, fmt.Errorf("alipaytest: parse certificate: %w", err)
	}
	oid := cert.Algorithm.Algorithm
	return len(oid) > len(oidRSASignatures) && oid[:len(oidRSASignatures)].Equal(oidRSASignatures), nil
}

// attributeKeywords are the keywords Java's X500Principal.getName() (RFC
// 2253) prints; other attribute types print as a dotted OID with a #hex DER
// value.
var attributeKeywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// rfc2253 formats a DER Name: RDNs most specific first, joined with ',';
// attributes of one RDN joined with '+'.
func rfc2253(rawName []byte) (string, error) {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(rawName, &rdns); err != nil || len(rest) > 0 {
		return "", errors.New("alipaytest: bad distinguished name")
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			kw, known := attributeKeywords[atv.Type.String()]
			s, isString := atv.Value.(string)
			if !known || !isString {
				der, err := asn1.Marshal(atv.Value)
				if err != nil {
					return "", err
				}
				b.WriteString(atv.Type.String() + "=#" + hex.EncodeToString(der))
				continue
			}
			b.WriteString(kw + "=" + escapeDNValue(s))
		}
	}
	return b.String(), nil
}

// escapeDNValue escapes per RFC 2253 §2.4.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune(",+\"\\<>;", r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(s)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
