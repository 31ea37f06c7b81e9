package alipaytest_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

func TestKeyPairForms(t *testing.T) {
	k := alipaytest.TestKey()
	if k != alipaytest.TestKey() {
		t.Error("TestKey is not cached")
	}
	if k.PublicKey().Equal(alipaytest.SecondTestKey().PublicKey()) {
		t.Error("SecondTestKey equals TestKey")
	}
	if n := k.PublicKey().N.BitLen(); n != 2048 {
		t.Errorf("TestKey has %d bits", n)
	}

	block, rest := pem.Decode([]byte(k.PublicKeyPEM()))
	if block == nil || block.Type != "PUBLIC KEY" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("PublicKeyPEM is not one PUBLIC KEY block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil || !k.PublicKey().Equal(pub) {
		t.Fatalf("PublicKeyPEM does not hold the public key: %v", err)
	}
	b64 := k.PublicKeyBase64()
	if strings.ContainsAny(b64, "\n -") {
		t.Error("PublicKeyBase64 has headers or line breaks")
	}
	if der, err := base64.StdEncoding.DecodeString(b64); err != nil || string(der) != string(block.Bytes) {
		t.Error("PublicKeyBase64 is not the SPKI DER")
	}

	forms := map[string]string{
		"PKCS#1 PEM":  k.PrivateKeyPKCS1PEM(),
		"PKCS#8 PEM":  k.PrivateKeyPKCS8PEM(),
		"bare PKCS#1": base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PrivateKey(k.PrivateKey())),
	}
	if !strings.Contains(forms["PKCS#1 PEM"], "BEGIN RSA PRIVATE KEY") || !strings.Contains(forms["PKCS#8 PEM"], "BEGIN PRIVATE KEY") {
		t.Error("private PEM block types are wrong")
	}
	for name, s := range forms {
		got, err := alipaytest.ParseKeyPair(s)
		if err != nil || !got.PrivateKey().Equal(k.PrivateKey()) {
			t.Errorf("%s: ParseKeyPair = %v", name, err)
		}
	}
	for _, bad := range []string{"", "-----BEGIN X-----\n-----END X-----", "not base64!", base64.StdEncoding.EncodeToString([]byte("junk"))} {
		if _, err := alipaytest.ParseKeyPair(bad); err == nil {
			t.Errorf("ParseKeyPair(%q) accepted", bad)
		}
	}
}

func TestNewKeyPair(t *testing.T) {
	k, err := alipaytest.NewKeyPair(1024)
	if err != nil {
		t.Fatal(err)
	}
	if k.PublicKey().N.BitLen() != 1024 {
		t.Error("wrong size")
	}
	if _, err := alipaytest.NewKeyPair(256); err == nil {
		t.Error("NewKeyPair(256) accepted")
	}
	if alipaytest.FromRSA(k.PrivateKey()).PublicKeyPEM() != k.PublicKeyPEM() {
		t.Error("FromRSA")
	}
}
