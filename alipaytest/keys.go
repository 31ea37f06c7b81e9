package alipaytest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// KeyPair is an RSA key pair standing in for Alipay's signing key: the
// private half signs callbacks, the public half is what a merchant configures
// as the "Alipay public key" (支付宝公钥).
type KeyPair struct {
	priv *rsa.PrivateKey
}

// NewKeyPair generates an RSA key pair of the given size in bits (2048 for
// RSA2 as Alipay issues them; 1024 for old RSA apps).
func NewKeyPair(bits int) (*KeyPair, error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("alipaytest: generate RSA key: %w", err)
	}
	return &KeyPair{priv: priv}, nil
}

// MustKeyPair is NewKeyPair for tests: it panics on error.
func MustKeyPair(bits int) *KeyPair {
	k, err := NewKeyPair(bits)
	if err != nil {
		panic(err)
	}
	return k
}

// ParseKeyPair reads an RSA private key: PEM "RSA PRIVATE KEY" (PKCS#1) or
// "PRIVATE KEY" (PKCS#8), or the bare base64 of either DER form, as Alipay's
// key tool prints it.
func ParseKeyPair(privateKey string) (*KeyPair, error) {
	der, err := keyDER(privateKey)
	if err != nil {
		return nil, err
	}
	if priv, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return &KeyPair{priv: priv}, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("alipaytest: not a PKCS#1 or PKCS#8 RSA private key")
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("alipaytest: private key is %T, want RSA", k)
	}
	return &KeyPair{priv: priv}, nil
}

// FromRSA wraps an existing RSA private key.
func FromRSA(priv *rsa.PrivateKey) *KeyPair {
	return &KeyPair{priv: priv}
}

func keyDER(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("alipaytest: bad PEM")
		}
		return block.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, errors.New("alipaytest: key is neither PEM nor base64")
	}
	return der, nil
}

// PrivateKey returns the RSA private key.
func (k *KeyPair) PrivateKey() *rsa.PrivateKey { return k.priv }

// PublicKey returns the RSA public key.
func (k *KeyPair) PublicKey() *rsa.PublicKey { return &k.priv.PublicKey }

// PublicKeyDER returns the public key as DER SubjectPublicKeyInfo.
func (k *KeyPair) PublicKeyDER() []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		panic(err) // cannot fail for an RSA key
	}
	return der
}

// PublicKeyPEM returns the public key as a PEM "PUBLIC KEY" block
// (SubjectPublicKeyInfo), the form most verifiers take.
func (k *KeyPair) PublicKeyPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKeyDER()}))
}

// PublicKeyBase64 returns the public key the way Alipay's open-platform
// console shows the "支付宝公钥": the standard base64 of the
// SubjectPublicKeyInfo DER on one line, without PEM headers.
func (k *KeyPair) PublicKeyBase64() string {
	return base64.StdEncoding.EncodeToString(k.PublicKeyDER())
}

// PrivateKeyPKCS1PEM returns the private key as PEM "RSA PRIVATE KEY".
func (k *KeyPair) PrivateKeyPKCS1PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.priv)}))
}

// PrivateKeyPKCS8PEM returns the private key as PEM "PRIVATE KEY".
func (k *KeyPair) PrivateKeyPKCS8PEM() string {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		panic(err) // cannot fail for an RSA key
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// cachedKey generates one 2048-bit key on first use and keeps it for the
// life of the test binary.
type cachedKey struct {
	once sync.Once
	key  *KeyPair
}

func (c *cachedKey) get() *KeyPair {
	c.once.Do(func() { c.key = MustKeyPair(2048) })
	return c.key
}

var (
	testKey, secondTestKey      cachedKey
	rootKey, interKey, root2Key cachedKey
)

// TestKey returns a 2048-bit key pair generated once per test binary, so
// that tests (especially under -race) do not each pay for key generation.
// Do not modify it.
func TestKey() *KeyPair { return testKey.get() }

// SecondTestKey returns another cached 2048-bit key pair, different from
// TestKey: use it for wrong-key and key-rotation tests.
func SecondTestKey() *KeyPair { return secondTestKey.get() }
