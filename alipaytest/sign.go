package alipaytest

import (
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// SignType is the sign_type of a callback. Its constants have the names and
// values of alipaynotify.SignType's.
type SignType string

const (
	// SignRSA2 is SHA256withRSA (PKCS#1 v1.5), base64: the open platform
	// default.
	SignRSA2 SignType = "RSA2"
	// SignRSA is SHA1withRSA (PKCS#1 v1.5), base64: old open-platform apps
	// and legacy mapi RSA.
	SignRSA SignType = "RSA"
	// SignMD5 is the legacy mapi digest: lowercase hex MD5 of the
	// string-to-sign with the partner's MD5 key appended (no '&' in between).
	SignMD5 SignType = "MD5"
	// SignWAPRSA is the legacy mobile web's sec_id=0001 (and a return's
	// sign_type=0001): SHA1withRSA with Alipay's WAP key, and in a
	// notification notify_data encrypted to the merchant's key. Only a
	// WAPSigner signs with it.
	SignWAPRSA SignType = "0001"
)

// Protocol selects the shape of the callbacks a Signer builds. Its constants
// have the names and values of alipaynotify.Protocol's; the mobile web
// protocol has a signer of its own, [WAPSigner].
type Protocol string

const (
	// ProtocolOpenPlatform is the modern protocol: app_id, charset,
	// version=1.0, RSA2 or RSA signatures, total_amount. The empty Protocol
	// means ProtocolOpenPlatform.
	ProtocolOpenPlatform Protocol = "open"
	// ProtocolMapi is the legacy mapi protocol (create_direct_pay_by_user
	// and friends): partner, MD5 key, total_fee, no charset parameter.
	ProtocolMapi Protocol = "mapi"
)

// WireOrder is the order of the parameters on the wire.
type WireOrder int

const (
	// InsertionOrder keeps the order in which parameters were set, with
	// sign and sign_type where the template put them or, if absent,
	// appended at the end. Alipay sends unsorted bodies; this is the default.
	InsertionOrder WireOrder = iota
	// SortedOrder sorts the parameters by key, as some SDKs' request
	// builders do.
	SortedOrder
)

// Defaults used by a Signer whose fields are left empty. They are test
// values, not real accounts.
const (
	// DefaultAppID is the app_id of open-platform callbacks.
	DefaultAppID = "2021000000000001"
	// DefaultPID is the merchant's partner ID: seller_id of open-platform
	// callbacks and partner/seller_id of legacy ones.
	DefaultPID = "2088000000000001"
	// DefaultBuyerID is the buyer_id of every callback.
	DefaultBuyerID = "2088102534368455"
	// DefaultMD5Key is the legacy MD5 key, the one the shared vectors use.
	DefaultMD5Key = "0123456789abcdefghijklmnopqrstuv"
)

// ChinaTime is the fixed UTC+8 zone every timestamp is written in: the same
// zone as alipaynotify.ChinaTime, declared here so that the kit does not
// depend on the package it checks.
var ChinaTime = time.FixedZone("CST", 8*60*60)

// Signer signs callbacks as Alipay does. Its zero value is an open-platform
// signer with RSA2, utf-8, the V1 rule, drop-empty content and TestKey. A
// Signer is safe for concurrent use as long as its fields are not changed
// meanwhile.
type Signer struct {
	// Protocol selects the callback shape. Default: ProtocolOpenPlatform.
	Protocol Protocol
	// Key is Alipay's private key for RSA and RSA2; the verifier under test
	// is configured with Key.PublicKeyPEM() or Key.PublicKeyBase64().
	// Default: TestKey().
	Key *KeyPair
	// SignType is the algorithm and the sign_type value sent. Default: RSA2
	// for ProtocolOpenPlatform, MD5 for ProtocolMapi.
	SignType SignType
	// AppID is sent as app_id and auth_app_id. Default: DefaultAppID
	// (NewSigner sets it, so that a verifier can be configured with
	// s.AppID).
	AppID string
	// SellerID is sent as seller_id. Default: Partner, or DefaultPID.
	SellerID string
	// Partner is the legacy partner ID (2088...), also the identity the
	// NotifyVerifyServer registers notify_ids under. Default: DefaultPID
	// (NewLegacySigner sets it).
	Partner string
	// MD5Key is the legacy MD5 key. Default: DefaultMD5Key
	// (NewLegacySigner sets it).
	MD5Key string
	// Charset is the encoding of the signed bytes and of the body's
	// escapes: "utf-8", "gbk" or "gb2312" (any case). Open-platform
	// callbacks also carry it, as written here, in their charset parameter.
	// Default: "utf-8".
	Charset string
	// Rule says whether sign_type is signed. Default: V1.
	Rule Rule
	// EmptyValues says whether empty values are signed. Default: DropEmpty.
	EmptyValues EmptyValues
	// Order is the wire order. Default: InsertionOrder.
	Order WireOrder
	// ContentTypeCharset adds "; charset=<Charset>" to the Content-Type of
	// notify requests. Default: false (plain
	// application/x-www-form-urlencoded).
	ContentTypeCharset bool
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Gateway, when set, gets every signed notify_id registered under
	// Partner, so that it answers "true" to notify_verify for it.
	Gateway *NotifyVerifyServer
}

// NewSigner returns an open-platform RSA2 signer with key (nil means
// TestKey()) and the default app_id. The defaults are filled in, so that
// the fields are what gets signed: configure the verifier under test with
// s.AppID and s.Key.PublicKeyPEM() (or s.PublicKeyPEM()).
func NewSigner(key *KeyPair) *Signer {
	if key == nil {
		key = TestKey()
	}
	return &Signer{Key: key, AppID: DefaultAppID}
}

// NewLegacySigner returns a legacy mapi MD5 signer for partner and md5Key
// ("" means DefaultPID and DefaultMD5Key). The defaults are filled in, so
// that s.Partner and s.MD5Key are what the verifier under test needs.
func NewLegacySigner(partner, md5Key string) *Signer {
	return &Signer{Protocol: ProtocolMapi, Partner: or(partner, DefaultPID), MD5Key: or(md5Key, DefaultMD5Key)}
}

func (s *Signer) key() *KeyPair {
	if s.Key != nil {
		return s.Key
	}
	return TestKey()
}

// PublicKeyPEM returns the PEM public key a verifier must be configured
// with to accept this signer's RSA and RSA2 callbacks.
func (s *Signer) PublicKeyPEM() string { return s.key().PublicKeyPEM() }

func (s *Signer) signType() SignType {
	switch {
	case s.SignType != "":
		return s.SignType
	case s.Protocol == ProtocolMapi:
		return SignMD5
	}
	return SignRSA2
}

func (s *Signer) appID() string { return or(s.AppID, DefaultAppID) }

func (s *Signer) partner() string { return or(s.Partner, DefaultPID) }

func (s *Signer) sellerID() string { return or(s.SellerID, s.partner()) }

func (s *Signer) md5Key() string { return or(s.MD5Key, DefaultMD5Key) }

func (s *Signer) charsetParam() string { return or(s.Charset, "utf-8") }

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now().In(ChinaTime)
	}
	return time.Now().In(ChinaTime)
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// SignContent signs the string-to-sign content with the Signer's algorithm,
// over content's bytes in the Signer's charset: base64 PKCS#1 v1.5 for RSA2
// and RSA, lowercase hex MD5 of content+MD5Key for MD5.
func (s *Signer) SignContent(content string) (string, error) {
	st := s.signType()
	if st == SignMD5 {
		b, err := EncodeText(content+s.md5Key(), s.Charset)
		if err != nil {
			return "", err
		}
		sum := md5.Sum(b)
		return hex.EncodeToString(sum[:]), nil
	}
	b, err := EncodeText(content, s.Charset)
	if err != nil {
		return "", err
	}
	var hash crypto.Hash
	var digest []byte
	switch st {
	case SignRSA2:
		sum := sha256.Sum256(b)
		hash, digest = crypto.SHA256, sum[:]
	case SignRSA:
		sum := sha1.Sum(b)
		hash, digest = crypto.SHA1, sum[:]
	default:
		return "", fmt.Errorf("alipaytest: cannot sign with sign_type %q", st)
	}
	sig, err := rsa.SignPKCS1v15(nil, s.key().PrivateKey(), hash, digest)
	if err != nil {
		return "", fmt.Errorf("alipaytest: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Sign signs a copy of p. It sets sign_type (in place if p has the key,
// else appended), computes the string-to-sign with the Signer's Rule and
// EmptyValues, and sets sign (in place or appended). p itself is not
// changed. It fails if a value cannot be encoded in the charset, the key
// is missing or the Protocol is unknown.
func (s *Signer) Sign(p *WireParams) (*Message, error) {
	cs, err := CanonicalCharset(s.Charset)
	if err != nil {
		return nil, err
	}
	if s.Protocol != "" && s.Protocol != ProtocolOpenPlatform && s.Protocol != ProtocolMapi {
		return nil, fmt.Errorf("alipaytest: unknown Protocol %q (want %q or %q)", s.Protocol, ProtocolOpenPlatform, ProtocolMapi)
	}
	out := p.Clone()
	st := s.signType()
	out.Set("sign_type", string(st))
	content := Content(out, s.Rule, s.EmptyValues)
	sig, err := s.SignContent(content)
	if err != nil {
		return nil, err
	}
	out.Set("sign", sig)
	if s.Order == SortedOrder {
		out.Sort()
	}
	if _, err := Encode(out, cs); err != nil {
		return nil, err
	}
	if s.Gateway != nil {
		if id := out.Get("notify_id"); id != "" {
			s.Gateway.Register(s.partner(), id)
		}
	}
	return &Message{
		Params:             out,
		Charset:            cs,
		SignType:           st,
		SignedContent:      content,
		ContentTypeCharset: s.ContentTypeCharset,
		charsetLabel:       s.charsetParam(),
	}, nil
}

// MustSign is Sign for tests: it panics on error.
func (s *Signer) MustSign(p *WireParams) *Message {
	m, err := s.Sign(p)
	if err != nil {
		panic(err)
	}
	return m
}

// Body signs p and returns the encoded form body. It panics on error.
func (s *Signer) Body(p *WireParams) []byte {
	return s.MustSign(p).Encode()
}
