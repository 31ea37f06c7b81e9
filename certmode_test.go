package alipaynotify_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// TestCertificateMode: keys come from Alipay public-key certificates that
// must chain to the root bundle; alipay_cert_sn picks the key first; an
// unknown SN never causes anything but trying the configured keys.
func TestCertificateMode(t *testing.T) {
	t.Parallel()
	old, cur := alipaytest.SecondTestKey(), alipaytest.TestKey()
	oldChain, err := alipaytest.NewCertChain(old, alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	curChain, err := alipaytest.NewCertChain(cur, alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The computed SNs match the test kit's independent computation.
	if sn, err := alipaynotify.CertSN(string(curChain.AlipayCertPEM())); err != nil || sn != curChain.AlipayCertSN() {
		t.Fatalf("CertSN = %q, %v; want %q", sn, err, curChain.AlipayCertSN())
	}
	if sn, err := alipaynotify.RootCertSN(string(curChain.RootCertPEM())); err != nil || sn != curChain.RootCertSN() {
		t.Fatalf("RootCertSN = %q, %v; want %q", sn, err, curChain.RootCertSN())
	}
	// A self-signed certificate (not issued under the root bundle) is refused.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "impostor"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, old.PublicKey(), old.PrivateKey())
	if err != nil {
		t.Fatal(err)
	}
	selfSigned := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	_, err = alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(selfSigned)}, AlipayRootCert: string(oldChain.RootCertPEM())})
	if !errors.Is(err, alipaynotify.ErrConfig) {
		t.Fatalf("certificate from a foreign root accepted: %v", err)
	}
	// An expired certificate is refused at construction.
	_, err = alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(curChain.AlipayCertPEM())}, AlipayRootCert: string(curChain.RootCertPEM()),
		Now: func() time.Time { return time.Now().AddDate(5, 0, 0) }})
	if !errors.Is(err, alipaynotify.ErrConfig) {
		t.Fatalf("expired certificate accepted: %v", err)
	}
	// A leaf without its intermediate cannot chain.
	_, err = alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(curChain.LeafPEM())}, AlipayRootCert: string(curChain.RootCertPEM())})
	if !errors.Is(err, alipaynotify.ErrConfig) {
		t.Fatalf("leaf without intermediate accepted: %v", err)
	}

	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(curChain.AlipayCertPEM())}, AlipayRootCert: string(curChain.RootCertPEM()),
		AlipayPublicKeys: []string{old.PublicKeyPEM()}}) // rotation: a plain key next to the certificate
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, tc := range map[string]struct {
		signer *alipaytest.Signer
		sn     string
		ok     bool
	}{
		"certificate key, matching sn": {alipaytest.NewSigner(cur), curChain.AlipayCertSN(), true},
		"certificate key, no sn":       {alipaytest.NewSigner(cur), "", true},
		"certificate key, unknown sn":  {alipaytest.NewSigner(cur), "ffffffffffffffffffffffffffffffff", true},
		"rotated plain key, cert sn":   {alipaytest.NewSigner(old), curChain.AlipayCertSN(), true},
		"foreign key":                  {alipaytest.NewSigner(alipaytest.MustKeyPair(1024)), curChain.AlipayCertSN(), false},
	} {
		t.Run(name, func(t *testing.T) {
			f := alipaytest.Fields{}
			if tc.sn != "" {
				f["alipay_cert_sn"] = tc.sn
			}
			m := tc.signer.Notify(f)
			_, err := v.VerifyNotify(ctx, m.Encode())
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, alipaynotify.ErrSignature)) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
