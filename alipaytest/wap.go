package alipaytest

import (
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Legacy mobile web payment (手机网页即时到账, alipay.wap.*;
// docs/protocol-legacy.md, "Mobile web").
const (
	// WAPService is the service field of every WAP notification: the
	// authorisation interface's name.
	WAPService = "alipay.wap.trade.create.direct"
	// WAPNotifyVersion is the v field of every WAP notification.
	WAPNotifyVersion = "1.0"
	// WAPRequestToken is the request_token of real call_back_url returns:
	// the literal string, not the token of the authorisation step.
	WAPRequestToken = "requestToken"
	// DefaultWAPChunkSize is how many plaintext bytes Alipay encrypts per
	// RSA block of a sec_id=0001 notify_data (observed; PKCS#1 v1.5 would
	// allow 117 with a 1024-bit key).
	DefaultWAPChunkSize = 100
)

// WAPSigner plays Alipay for the legacy mobile web payment: it builds the
// async notification (a POST of service, sign, sec_id, v and notify_data,
// where notify_data is a <notify> XML document holding the business fields,
// signed over the fixed-order "service=…&v=…&sec_id=…&notify_data=…" and, for
// sec_id=0001, encrypted to the merchant's public key after signing the
// plaintext) and the browser's call_back_url return (sorted rule, sign_type
// MD5 or 0001). Text is UTF-8, as in every WAP kit.
//
// The zero value is an MD5 signer with the defaults. A WAPSigner is safe for
// concurrent use as long as its fields are not changed meanwhile.
type WAPSigner struct {
	// SecID is the sec_id of notifications and the sign_type of returns: MD5
	// or SignWAPRSA. Default: MD5.
	SecID SignType
	// Partner is the merchant's partner ID, also the identity the Gateway
	// registers notify_ids under. Default: DefaultPID (the constructors set
	// it).
	Partner string
	// SellerID is the XML seller_id. Default: Partner.
	SellerID string
	// MD5Key is the partner's MD5 key (the same as mapi). Default:
	// DefaultMD5Key (NewWAPSigner sets it).
	MD5Key string
	// AlipayKey is Alipay's WAP signing key for SignWAPRSA: configure the
	// verifier's Legacy.WAP.PublicKeys with AlipayKey.PublicKeyPEM(). Default:
	// WAPAlipayTestKey().
	AlipayKey *KeyPair
	// MerchantKey is the merchant's key pair for SignWAPRSA: its public half
	// encrypts notify_data; configure the verifier's Legacy.WAP.MerchantPrivateKey with
	// MerchantKey.PrivateKeyPKCS8PEM(). Default: WAPMerchantTestKey().
	MerchantKey *KeyPair
	// MerchantPublicKey, when set, encrypts notify_data instead of
	// MerchantKey's public half: all that Alipay itself holds of a real
	// merchant's key (DecryptWAPNotifyData then needs the merchant's own
	// private key).
	MerchantPublicKey *rsa.PublicKey
	// ChunkSize is the plaintext bytes per RSA block of notify_data, at most
	// the merchant key's modulus size minus 11. Default: DefaultWAPChunkSize.
	ChunkSize int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Gateway, when set, gets every signed notify_id registered under
	// Partner, so that it answers "true" to notify_verify for it.
	Gateway *NotifyVerifyServer
}

// NewWAPSigner returns a sec_id=MD5 WAP signer for partner and md5Key (""
// means DefaultPID and DefaultMD5Key). The defaults are filled in, so that
// s.Partner and s.MD5Key are what the verifier under test needs.
func NewWAPSigner(partner, md5Key string) *WAPSigner {
	return &WAPSigner{SecID: SignMD5, Partner: or(partner, DefaultPID), MD5Key: or(md5Key, DefaultMD5Key)}
}

// NewWAPRSASigner returns a sec_id=0001 WAP signer: alipayKey signs,
// merchantKey's public half encrypts notify_data (nil means the WAP test
// keys, filled in) and the partner is DefaultPID.
func NewWAPRSASigner(alipayKey, merchantKey *KeyPair) *WAPSigner {
	if alipayKey == nil {
		alipayKey = WAPAlipayTestKey()
	}
	if merchantKey == nil {
		merchantKey = WAPMerchantTestKey()
	}
	return &WAPSigner{SecID: SignWAPRSA, Partner: DefaultPID, AlipayKey: alipayKey, MerchantKey: merchantKey}
}

var (
	wapAlipayKey, wapMerchantKey struct {
		once sync.Once
		key  *KeyPair
	}
)

// WAPAlipayTestKey returns a 1024-bit key pair (the size the WAP demos
// assume) generated once per test binary, standing in for Alipay's WAP key.
// Do not modify it.
func WAPAlipayTestKey() *KeyPair {
	wapAlipayKey.once.Do(func() { wapAlipayKey.key = MustKeyPair(1024) })
	return wapAlipayKey.key
}

// WAPMerchantTestKey returns another 1024-bit key pair generated once per
// test binary, standing in for the merchant's key. Do not modify it.
func WAPMerchantTestKey() *KeyPair {
	wapMerchantKey.once.Do(func() { wapMerchantKey.key = MustKeyPair(1024) })
	return wapMerchantKey.key
}

func (s *WAPSigner) secID() SignType {
	if s.SecID == "" {
		return SignMD5
	}
	return s.SecID
}

func (s *WAPSigner) partner() string { return or(s.Partner, DefaultPID) }

func (s *WAPSigner) alipayKey() *KeyPair {
	if s.AlipayKey != nil {
		return s.AlipayKey
	}
	return WAPAlipayTestKey()
}

func (s *WAPSigner) merchantKey() *KeyPair {
	if s.MerchantKey != nil {
		return s.MerchantKey
	}
	return WAPMerchantTestKey()
}

func (s *WAPSigner) now() time.Time {
	if s.Now != nil {
		return s.Now().In(ChinaTime)
	}
	return time.Now().In(ChinaTime)
}

// AlipayPublicKeyPEM returns the PEM public key to configure as the
// verifier's Legacy.WAP.PublicKeys.
func (s *WAPSigner) AlipayPublicKeyPEM() string { return s.alipayKey().PublicKeyPEM() }

// MerchantPrivateKeyPEM returns the PKCS#8 PEM private key to configure as
// the verifier's MerchantPrivateKey: MerchantKey's. It panics when
// MerchantPublicKey is set, because notify_data is then encrypted to a key
// whose private half the signer does not know.
func (s *WAPSigner) MerchantPrivateKeyPEM() string {
	if s.MerchantPublicKey != nil {
		panic("alipaytest: MerchantPrivateKeyPEM with MerchantPublicKey set: the merchant's private key is not known here")
	}
	return s.merchantKey().PrivateKeyPKCS8PEM()
}

// WAPNotifyContent returns the fixed-order string-to-sign of a WAP
// notification: "service=…&v=…&sec_id=…&notify_data=…", values raw (for
// sec_id=0001, notify_data is the plaintext XML, not the ciphertext).
func WAPNotifyContent(service, v, secID, notifyData string) string {
	return "service=" + service + "&v=" + v + "&sec_id=" + secID + "&notify_data=" + notifyData
}

// SignContent signs content with the signer's algorithm over its bytes as
// they are (UTF-8; invalid sequences are signed as given, for tests of how a
// verifier rejects them): lowercase hex MD5 of content+MD5Key, or base64
// SHA1withRSA with AlipayKey.
func (s *WAPSigner) SignContent(content string) (string, error) {
	switch st := s.secID(); st {
	case SignMD5:
		sum := md5.Sum([]byte(content + or(s.MD5Key, DefaultMD5Key)))
		return hex.EncodeToString(sum[:]), nil
	case SignWAPRSA:
		sum := sha1.Sum([]byte(content))
		sig, err := rsa.SignPKCS1v15(nil, s.alipayKey().PrivateKey(), crypto.SHA1, sum[:])
		if err != nil {
			return "", fmt.Errorf("alipaytest: sign: %w", err)
		}
		return base64.StdEncoding.EncodeToString(sig), nil
	default:
		return "", fmt.Errorf("alipaytest: a WAP signer cannot sign with sec_id %q", st)
	}
}

// EncryptNotifyData encrypts plain as Alipay encrypts a sec_id=0001
// notify_data: ChunkSize-byte pieces, each RSAES-PKCS1-v1_5-encrypted with
// the merchant's public key into one modulus-sized block, the blocks
// concatenated and standard base64-encoded with padding. Pieces split bytes,
// not characters, so a multi-byte character may straddle two blocks.
func (s *WAPSigner) EncryptNotifyData(plain []byte) (string, error) {
	pub := s.MerchantPublicKey
	if pub == nil {
		pub = s.merchantKey().PublicKey()
	}
	chunk := s.ChunkSize
	if chunk == 0 {
		chunk = DefaultWAPChunkSize
	}
	if chunk < 1 || chunk > pub.Size()-11 {
		return "", fmt.Errorf("alipaytest: ChunkSize %d out of range 1..%d", chunk, pub.Size()-11)
	}
	var ct []byte
	for off := 0; off < len(plain); off += chunk {
		//lint:ignore SA1019 Alipay's WAP protocol encrypts with PKCS#1 v1.5; this plays Alipay.
		b, err := rsa.EncryptPKCS1v15(rand.Reader, pub, plain[off:min(off+chunk, len(plain))])
		if err != nil {
			return "", fmt.Errorf("alipaytest: encrypt: %w", err)
		}
		ct = append(ct, b...)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// DecryptWAPNotifyData reverses EncryptNotifyData with the merchant's key:
// base64-decode, decrypt every modulus-sized block, join the bytes. Use it to
// check ciphertext, which PKCS#1 v1.5 randomises.
func DecryptWAPNotifyData(merchant *KeyPair, notifyData string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(notifyData)
	if err != nil {
		return nil, fmt.Errorf("alipaytest: notify_data is not base64: %w", err)
	}
	k := merchant.PublicKey().Size()
	if len(ct) == 0 || len(ct)%k != 0 {
		return nil, fmt.Errorf("alipaytest: ciphertext of %d bytes is not a whole number of %d-byte blocks", len(ct), k)
	}
	var plain []byte
	for off := 0; off < len(ct); off += k {
		//lint:ignore SA1019 Alipay's WAP protocol encrypts with PKCS#1 v1.5.
		b, err := rsa.DecryptPKCS1v15(nil, merchant.PrivateKey(), ct[off:off+k])
		if err != nil {
			return nil, errors.New("alipaytest: a block does not decrypt")
		}
		plain = append(plain, b...)
	}
	return plain, nil
}

// NotifyFields returns the business fields of a realistic WAP notification
// (the XML's elements) in the order of real ones, with f applied: a paid
// trade (TRADE_SUCCESS), total_fee and price from f["total_fee"] (default
// "88.88"), fresh notify_id, trade_no and out_trade_no unless f sets them,
// times from the signer's clock in China time.
func (s *WAPSigner) NotifyFields(f Fields) *WireParams {
	now := s.now()
	amount := amountOr(f, "total_fee", "88.88")
	p := NewWireParams(
		"payment_type", "1",
		"subject", "测试商品",
		"trade_no", tradeNo(now),
		"buyer_email", "buyer@example.com",
		"gmt_create", FormatTime(now.Add(-30*time.Second)),
		"notify_type", "trade_status_sync",
		"quantity", "1",
		"out_trade_no", outTradeNo(now),
		"notify_time", FormatTime(now),
		"seller_id", or(s.SellerID, s.partner()),
		"trade_status", "TRADE_SUCCESS",
		"is_total_fee_adjust", "N",
		"total_fee", amount,
		"gmt_payment", FormatTime(now.Add(-2*time.Second)),
		"seller_email", "seller@example.com",
		"price", amount,
		"buyer_id", DefaultBuyerID,
		"notify_id", legacyNotifyID(),
		"use_coupon", "N",
	)
	f.applyTo(p)
	return p
}

// WAPNotifyXML renders p as a notify_data document: <notify> with one
// element per pair, in order, text escaped as Alipay does for the characters
// XML requires (& < >; quotes are left as they are).
func WAPNotifyXML(p *WireParams) string {
	var b strings.Builder
	b.WriteString("<notify>")
	for k, v := range p.All() {
		b.WriteString("<" + k + ">")
		b.WriteString(xmlEscaper.Replace(v))
		b.WriteString("</" + k + ">")
	}
	b.WriteString("</notify>")
	return b.String()
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Notify signs a realistic WAP notification built from NotifyFields(f). It
// panics on error, like httptest.NewRequest.
func (s *WAPSigner) Notify(f Fields) *Message {
	m, err := s.SignNotifyData(WAPNotifyXML(s.NotifyFields(f)))
	if err != nil {
		panic(err)
	}
	return m
}

// SignNotifyData signs the notify_data document xml exactly as given (any
// text, for tests of hostile documents) and returns the notification: the
// fields service, sign, sec_id, v, notify_data in the order of real captures,
// notify_data being xml itself for MD5 and its encryption for SignWAPRSA.
// SignedContent is the fixed-order string-to-sign over the plaintext. The
// notify_id element, if any, is registered with the Gateway.
func (s *WAPSigner) SignNotifyData(xml string) (*Message, error) {
	st := s.secID()
	content := WAPNotifyContent(WAPService, WAPNotifyVersion, string(st), xml)
	sig, err := s.SignContent(content)
	if err != nil {
		return nil, err
	}
	data := xml
	if st == SignWAPRSA {
		if data, err = s.EncryptNotifyData([]byte(xml)); err != nil {
			return nil, err
		}
	}
	if s.Gateway != nil {
		if id := xmlElementText(xml, "notify_id"); id != "" {
			s.Gateway.Register(s.partner(), id)
		}
	}
	return &Message{
		Kind: NotifyKind,
		Params: NewWireParams(
			"service", WAPService,
			"sign", sig,
			"sec_id", string(st),
			"v", WAPNotifyVersion,
			"notify_data", data,
		),
		Charset:       "utf-8",
		SignType:      st,
		SignedContent: content,
		charsetLabel:  "utf-8",
	}, nil
}

// xmlElementText returns the raw text of the first <name>…</name> in doc.
func xmlElementText(doc, name string) string {
	_, rest, ok := strings.Cut(doc, "<"+name+">")
	if !ok {
		return ""
	}
	text, _, ok := strings.Cut(rest, "</"+name+">")
	if !ok {
		return ""
	}
	return text
}

// ReturnParams returns the unsigned parameters of a realistic call_back_url
// return with f applied: out_trade_no, request_token (WAPRequestToken),
// result=success and trade_no, then empty sign and sign_type placeholders
// that Return fills.
func (s *WAPSigner) ReturnParams(f Fields) *WireParams {
	now := s.now()
	p := NewWireParams(
		"out_trade_no", outTradeNo(now),
		"request_token", WAPRequestToken,
		"result", "success",
		"trade_no", tradeNo(now),
		"sign", "",
		"sign_type", "",
	)
	f.applyTo(p)
	return p
}

// Return signs ReturnParams(f) with the sorted rule (sign, sign_type and
// empty values dropped) as a ReturnKind message. It panics on error.
func (s *WAPSigner) Return(f Fields) *Message {
	m, err := s.SignReturn(s.ReturnParams(f))
	if err != nil {
		panic(err)
	}
	return m
}

// SignReturn signs a copy of p as a call_back_url return: sign_type is set
// to SecID (in place, or appended), the sorted content is signed, and sign is
// set (in place, or appended).
func (s *WAPSigner) SignReturn(p *WireParams) (*Message, error) {
	st := s.secID()
	out := p.Clone()
	out.Set("sign_type", string(st))
	content := Content(out, V1, DropEmpty)
	sig, err := s.SignContent(content)
	if err != nil {
		return nil, err
	}
	out.Set("sign", sig)
	return &Message{
		Kind:          ReturnKind,
		Params:        out,
		Charset:       "utf-8",
		SignType:      st,
		SignedContent: content,
		charsetLabel:  "utf-8",
	}, nil
}
