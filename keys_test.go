package alipaynotify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// TestKeyMixUpsAreNamed: the usual mistakes when pasting keys from Alipay's
// console fail NewVerifier with an error that says what was pasted.
func TestKeyMixUpsAreNamed(t *testing.T) {
	t.Parallel()
	k := alipaytest.TestKey()
	chain, err := alipaytest.NewCertChain(k, alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key, want string
	}{
		{"unset environment variable", "", "environment variable"},
		{"blank", "  \n", "environment variable"},
		{"private key PKCS#1", k.PrivateKeyPKCS1PEM(), "private key"},
		{"private key PKCS#8", k.PrivateKeyPKCS8PEM(), "private key"},
		{"certificate", string(chain.LeafPEM()), "AlipayCertificates"},
		{"garbage", "not a key", "neither PEM nor base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{tc.key}})
			if !errors.Is(err, alipaynotify.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
}

// TestSwappedCertFilesAreNamed: the root bundle given as Alipay's certificate
// fails with a hint at the swap.
func TestSwappedCertFilesAreNamed(t *testing.T) {
	t.Parallel()
	chain, err := alipaytest.NewCertChain(alipaytest.TestKey(), alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(chain.RootCertPEM())}, AlipayRootCert: string(chain.AlipayCertPEM())})
	if !errors.Is(err, alipaynotify.ErrConfig) || !strings.Contains(err.Error(), "swapped") {
		t.Fatalf("err = %v, want ErrConfig naming the swap", err)
	}
}

// TestLegacyCharsetHint: a legacy callback in GBK read as the default UTF-8
// fails with ErrCharset pointing at Options.Legacy.Charset.
func TestLegacyCharsetHint(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewLegacySigner(alipaytest.DefaultPID, alipaytest.DefaultMD5Key)
	s.Charset = "gbk"
	m := s.Notify(alipaytest.Fields{"_input_charset": alipaytest.Omit})
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyNotify(context.Background(), m.Encode())
	if !errors.Is(err, alipaynotify.ErrCharset) || !strings.Contains(err.Error(), "Options.Legacy.Charset") {
		t.Fatalf("err = %v, want ErrCharset naming Options.Legacy.Charset", err)
	}
}
