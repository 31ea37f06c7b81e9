package alipaytest_test

import (
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// TestCertSNVectors checks the SN functions against the official Node
// SDK's certificate fixtures and expected SNs (testdata/certs/certsn.json).
// The root bundle holds an SM2 and an ECDSA root that must be skipped.
func TestCertSNVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "certs", "certsn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Expected map[string]string `json:"expected"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, key string
		root      bool
	}{
		{"appCertPublicKey_2021001161683774.crt", "app_cert_sn (appCertPublicKey_2021001161683774.crt)", false},
		{"alipayCertPublicKey_RSA2.crt", "alipay_cert_sn (alipayCertPublicKey_RSA2.crt)", false},
		{"alipayRootCert.crt", "alipay_root_cert_sn (alipayRootCert.crt)", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			want := doc.Expected[tt.key]
			if want == "" {
				t.Fatalf("no expectation %q", tt.key)
			}
			data, err := os.ReadFile(filepath.Join("testdata", "certs", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			sn := alipaytest.CertSNFromPEM
			if tt.root {
				sn = alipaytest.RootCertSNFromPEM
			}
			got, err := sn(data)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("SN = %s, want %s", got, want)
			}
		})
	}
}

func TestNewCertChain(t *testing.T) {
	key := alipaytest.TestKey()
	c, err := alipaytest.NewCertChain(key, alipaytest.CertChainOptions{SellerPID: "2088123412341234"})
	if err != nil {
		t.Fatal(err)
	}

	// The chain verifies: leaf <- intermediate (from the Alipay cert file)
	// <- a root from the root bundle.
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.RootCertPEM()) {
		t.Fatal("root bundle does not parse")
	}
	certs := parsePEMCerts(t, c.AlipayCertPEM())
	if len(certs) != 2 || !certs[0].Equal(c.Leaf) || !certs[1].Equal(c.Intermediate) {
		t.Fatalf("AlipayCertPEM is not leaf+intermediate")
	}
	inters.AddCert(certs[1])
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("chain does not verify: %v", err)
	}
	if !key.PublicKey().Equal(c.Leaf.PublicKey) {
		t.Error("leaf does not hold the key pair's public key")
	}
	if !strings.HasSuffix(c.Leaf.Subject.CommonName, "-2088123412341234") {
		t.Errorf("leaf CN %q", c.Leaf.Subject.CommonName)
	}

	// SNs, computed here independently from the documented rule.
	independent := func(cert *x509.Certificate, issuerDN string) string {
		sum := md5.Sum([]byte(issuerDN + cert.SerialNumber.String()))
		return hex.EncodeToString(sum[:])
	}
	wantLeaf := independent(c.Leaf, "CN=Test Alipay Certification Authority Class 2 R1,OU=Certification Authority,O=Test Financial,C=CN")
	wantRoot := independent(c.Root, "CN=Test Alipay Root R1,OU=Certification Authority,O=Test Financial,C=CN") +
		"_" + independent(c.SecondRoot, "CN=Test Trust Class 2 Root CA - G3,OU=Test Trust Network,O=Test Trust,C=CN")
	if got := c.AlipayCertSN(); got != wantLeaf {
		t.Errorf("AlipayCertSN = %s, want %s", got, wantLeaf)
	}
	if got, err := alipaytest.CertSNFromPEM(c.AlipayCertPEM()); err != nil || got != wantLeaf {
		t.Errorf("CertSNFromPEM = %s, %v; want %s", got, err, wantLeaf)
	}
	if got := c.RootCertSN(); got != wantRoot {
		t.Errorf("RootCertSN = %s, want %s", got, wantRoot)
	}
	if got, err := alipaytest.RootCertSNFromPEM(c.RootCertPEM()); err != nil || got != wantRoot {
		t.Errorf("RootCertSNFromPEM = %s, %v; want %s", got, err, wantRoot)
	}
	if len(parsePEMCerts(t, c.RootCertPEM())) != 3 {
		t.Error("root bundle should hold three roots")
	}
	if c.ECDSARoot.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Errorf("ECDSA root signed with %v", c.ECDSARoot.SignatureAlgorithm)
	}
}

func TestCertSNErrors(t *testing.T) {
	if _, err := alipaytest.CertSNFromPEM([]byte("not pem")); err == nil {
		t.Error("CertSNFromPEM accepted garbage")
	}
	if _, err := alipaytest.RootCertSNFromPEM(nil); err == nil {
		t.Error("RootCertSNFromPEM accepted an empty bundle")
	}
}

func parsePEMCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}
