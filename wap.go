package alipaynotify

// Legacy mobile web payment (手机网页即时到账, alipay.wap.trade.create.direct +
// alipay.wap.auth.authAndExecute), docs/protocol-legacy.md, "Mobile web".
//
// Its async notification is not mapi-shaped: a POST of exactly service, v,
// sec_id, notify_data and sign, where notify_data is an XML document holding
// every business field, the string-to-sign is the FIXED-order
// "service=…&v=…&sec_id=…&notify_data=…", and with sec_id=0001 notify_data is
// RSA-encrypted to the merchant's public key while the signature covers the
// decrypted text. The browser return to call_back_url is mapi-shaped (sorted
// rule, sign_type MD5 or 0001) but carries no status.
//
// Decisions (the protocol notes leave them to the implementation):
//
//   - Top-level fields other than the five are ignored: they are outside the
//     signature, so they never reach Params or any typed field. Refusing them
//     would turn one unconfirmed report of a top-level notify_id
//     (docs/protocol-legacy.md, "The notification") into lost payments;
//     ignoring them costs nothing because nothing reads them.
//   - Business fields come only from the XML, parsed after verification with
//     encoding/xml (no external entities, no DTD): any DOCTYPE or other <!…>
//     declaration, a root other than <notify>, nested or namespaced elements,
//     text outside the children, and repeated elements are refused; unknown
//     elements and any order are accepted; attributes are ignored.
//   - sec_id=0001: notify_data must be one line of padded standard base64
//     (whitespace is refused) whose length is a multiple of the merchant key's
//     modulus size, of at most MaxWAPNotifyDataBlocks blocks (checked on the
//     base64 length, before any private-key operation: a longer one is
//     ErrMalformed), and sign must decode to one WAP key's size, also
//     checked first. Every block is decrypted even after one fails, the
//     signature is checked whatever the decryption gave, and every failure of
//     that path (base64, length, padding, UTF-8, signature) is exactly
//     ErrSignature, so nobody can use the verifier as a padding oracle on the
//     merchant key.
//   - Text is UTF-8 (every published kit and sample is; Legacy.Charset does not
//     apply): the signed values must be valid UTF-8 or the callback fails with
//     ErrCharset.
//   - A verified call_back_url return stands for the paid event of the trade:
//     TradeStatus is Options.Legacy.WAP.ReturnStatus (default TRADE_SUCCESS) with
//     StatusInferred set, so it dedupes with the notification reporting that
//     status. A contract whose only notification is TRADE_FINISHED (普通即时到账)
//     sets Legacy.WAP.ReturnStatus to TRADE_FINISHED; otherwise its return and its
//     TRADE_FINISHED notification are two events (the handler runs for the
//     return, then for TRADE_FINISHED, or the return arrives after
//     TRADE_FINISHED and is delivered flagged Stale).
//   - The return must say result=success: any other result is refused rather
//     than taken for a payment.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// maxWAPNotifyData bounds a sec_id=MD5 notify_data, the XML itself. Real
// ones are about 0.8 KB and the largest the protocol allows is under 3 KB
// (see MaxWAPNotifyDataBlocks); MD5 over 16 KiB costs microseconds. A
// sec_id=0001 notify_data is bounded by MaxWAPNotifyDataBlocks instead.
const maxWAPNotifyData = 16 << 10

// MaxWAPNotifyDataBlocks is the most RSA blocks a sec_id=0001 notify_data
// may hold. A longer one is refused with ErrMalformed (a FieldError on
// notify_data) from its base64 length alone, before any private-key
// operation: decryption must precede the signature check (the signature
// covers the plaintext), so every block of a forged notify_data costs one
// private-key operation, and this bounds that work per request to
// MaxWAPNotifyDataBlocks operations.
//
// Alipay encrypts the <notify> XML in 100-byte plaintext chunks, one block
// each (docs/protocol-legacy.md, "sec_id=0001 encryption"). Real
// notifications are 743 bytes of XML in 8 blocks (2015) and 1152 bytes of
// ciphertext, 9 blocks (2013); the test kit's realistic one is about 800
// bytes, 9 blocks. The largest the protocol allows, every element of
// docs/protocol-legacy.md, "notify_data XML", including the occasional ones
// at its documented maximum (subject 256 characters, 64-character trade
// numbers and notify_id, 100-character e-mail addresses), is 2076 bytes with
// a Chinese subject (21 blocks), 2332 with 4-byte characters (24) and 2588 if
// every character of the subject is an escaped '&' (26). 32 blocks hold 3200
// bytes at 100 per block (3744 at the PKCS#1 v1.5 maximum of 117 for a
// 1024-bit key).
//
// The bound is in blocks, not bytes, because the chunk size Alipay uses
// with larger keys is not known (all kits assume 1024-bit keys): with
// 100-byte chunks a real notification needs as many blocks whatever the key
// size, so a byte bound would refuse large genuine notifications under a
// 2048-bit key. The cost of the bound grows with the key: one private-key
// operation measured about 0.33 ms (1024-bit) and 1 ms (2048-bit) against
// 0.07 ms for a whole forged RSA2 callback (BenchmarkWAPForged on a 2-vCPU
// machine), so a
// forged notify_data at the bound costs about 11 ms or 31 ms, a forged one
// of a real notification's size 3 ms or 9 ms, and one over the bound,
// refused before decryption, 0.02 ms. Merchant keys above 4096 bits are
// refused at configuration.
const MaxWAPNotifyDataBlocks = 32

// maxWAPMerchantKeyBits bounds the merchant key, hence the cost of one
// block: Alipay's key tools made 1024- and 2048-bit keys, and a private-key
// operation costs about 8 times more per doubling of the modulus.
const maxWAPMerchantKeyBits = 4096

// wapBlockDecryptions counts the private-key operations made on sec_id=0001
// notify_data, so that tests can prove a refused one cost none.
var wapBlockDecryptions atomic.Uint64

// wapNotifyFields are the signed fields of a WAP notification in the order of
// the string-to-sign.
var wapNotifyFields = [...]string{"service", "v", "sec_id", "notify_data"}

// wapKind tells a WAP callback from the others by its shape.
type wapKind int

const (
	notWAP    wapKind = iota
	wapNotify         // notify_data + sec_id
	wapReturn         // request_token + result, no app_id
)

func wapKindOf(f *form) wapKind {
	if f.hasSlot(slotNotifyData) && f.hasSlot(slotSecID) {
		return wapNotify
	}
	if !f.hasSlot(slotAppID) && f.hasSlot(slotRequestToken) && f.hasSlot(slotResult) {
		return wapReturn
	}
	return notWAP
}

// initWAP parses the WAP options for NewVerifier.
func (v *Verifier) initWAP() error {
	w := &v.opts.Legacy.WAP
	if w.MerchantPrivateKey != "" {
		priv, err := parseRSAPrivateKey(w.MerchantPrivateKey)
		if err != nil {
			return cfg("Legacy.WAP.MerchantPrivateKey", err.Error())
		}
		v.merchantKey = priv
	}
	for i, k := range w.PublicKeys {
		pub, err := ParsePublicKey(k)
		if err != nil {
			return cfg("Legacy.WAP.PublicKeys", fmt.Sprintf("key %d: %v", i, err))
		}
		v.wapKeys = append(v.wapKeys, pub)
	}
	switch {
	case v.merchantKey != nil && len(v.wapKeys) == 0:
		return cfg("Legacy.WAP.PublicKeys", "MerchantPrivateKey given without Alipay's WAP public key")
	case v.merchantKey == nil && len(v.wapKeys) > 0:
		return cfg("Legacy.WAP.MerchantPrivateKey", "PublicKeys given without the merchant private key that decrypts notify_data")
	case v.merchantKey != nil && !isPartnerID(v.opts.Legacy.Partner):
		return cfg("Legacy.Partner", "WAP callbacks need the 16-digit partner ID (2088...)")
	}
	switch w.ReturnStatus {
	case "":
		w.ReturnStatus = TradeSuccess
	case TradeSuccess, TradeFinished:
	default:
		return cfg("Legacy.WAP.ReturnStatus", "must be TRADE_SUCCESS or TRADE_FINISHED")
	}
	return nil
}

// parseRSAPrivateKey reads PEM "RSA PRIVATE KEY" (PKCS#1) or "PRIVATE KEY"
// (PKCS#8), or the bare base64 of either DER form. Errors never quote the key.
func parseRSAPrivateKey(s string) (*rsa.PrivateKey, error) {
	der, err := keyDER(s)
	if err != nil {
		return nil, err
	}
	var priv *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("not an RSA key (%T)", k)
		}
		priv = rk
	} else if rk, err2 := x509.ParsePKCS1PrivateKey(der); err2 == nil {
		priv = rk
	} else {
		return nil, errors.New("not a PKCS#1 or PKCS#8 RSA private key")
	}
	if priv.N.BitLen() < 1024 {
		return nil, fmt.Errorf("RSA key of %d bits is too short", priv.N.BitLen())
	}
	if priv.N.BitLen() > maxWAPMerchantKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits is too long (at most %d)", priv.N.BitLen(), maxWAPMerchantKeyBits)
	}
	return priv, nil
}

// verifyWAP verifies a WAP callback of the given shape arriving as src, and
// runs the checks every callback gets: identity, notify_verify, CheckOrder.
func (v *Verifier) verifyWAP(ctx context.Context, f *form, src Source, kind wapKind, at received) (*Notification, error) {
	var n *Notification
	var err error
	switch {
	case kind == wapNotify && src == SourceNotify:
		n, err = v.verifyWAPNotify(f)
	case kind == wapReturn && src == SourceReturn:
		n, err = v.verifyWAPReturn(f)
	case kind == wapNotify:
		return nil, fieldErr(ErrMalformed, "notify_data", "a WAP notification is only accepted as a notify_url POST")
	default:
		return nil, fieldErr(ErrMalformed, "request_token", "a WAP call_back_url return is only accepted as a return")
	}
	if err != nil {
		return nil, err
	}
	if kind == wapNotify {
		err = v.checkKind(n, at.now)
	} else {
		err = v.checkWAPReturnAge(n, at.now)
	}
	if err != nil {
		return nil, rejected(n, err)
	}
	if err := v.checkWAPIdentity(n); err != nil {
		return nil, rejected(n, err)
	}
	return v.finish(ctx, n, src == SourceNotify && v.opts.Legacy.NotifyVerify && !at.replay)
}

// wapReturnSlack widens the age bound of a mobile web call_back_url return.
// The return signs no time, so its age is bounded by the only date it signs:
// the creation date (China time) that begins every trade_no Alipay has
// issued (yyyyMMdd…). A trade may be paid a while after it was created, and
// the date has a day's resolution, hence two days of slack on top of
// MaxReturnAge.
const wapReturnSlack = 48 * time.Hour

// checkWAPReturnAge refuses a call_back_url return whose trade was created
// longer ago than MaxReturnAge plus wapReturnSlack, so that an old return
// can never outlive its event's done mark. A trade_no that does not begin
// with a date is refused: nothing else bounds the return's age.
func (v *Verifier) checkWAPReturnAge(n *Notification, now time.Time) error {
	if len(n.TradeNo) < 8 {
		return fieldErr(ErrAmbiguous, "trade_no", "carries no creation date: the return's age cannot be checked")
	}
	day, err := time.ParseInLocation("20060102", n.TradeNo[:8], ChinaTime)
	if err != nil {
		return fieldErr(ErrAmbiguous, "trade_no", "carries no creation date: the return's age cannot be checked")
	}
	if day.AddDate(0, 0, 1).Before(now.Add(-(v.opts.MaxReturnAge + wapReturnSlack))) {
		return fieldErr(ErrExpired, "trade_no", "trade created more than "+(v.opts.MaxReturnAge+wapReturnSlack).String()+" ago")
	}
	return nil
}

// verifyWAPNotify checks the five fields, the signature (after decryption for
// sec_id=0001), and only then parses the XML into the Notification.
func (v *Verifier) verifyWAPNotify(f *form) (*Notification, error) {
	var vals [len(wapNotifyFields)][]byte
	for i, k := range wapNotifyFields {
		val, ok := f.get(k)
		if !ok || len(val) == 0 {
			return nil, fieldErr(ErrMalformed, k, "missing")
		}
		vals[i] = val
	}
	sign, ok := f.get("sign")
	if !ok || len(sign) == 0 {
		return nil, fieldErr(ErrMalformed, "sign", "missing")
	}
	service, ver, secID, data := vals[0], vals[1], vals[2], vals[3]
	for i, val := range vals[:3] {
		if !utf8.Valid(val) {
			return nil, fieldErr(ErrCharset, wapNotifyFields[i], "value is not valid utf-8")
		}
	}
	n := &Notification{Source: SourceNotify, Protocol: ProtocolWAP, Charset: UTF8, Partner: v.opts.Legacy.Partner}
	n.self, n.verifiedBy = n, v
	var doc []byte
	switch string(secID) {
	case string(SignMD5):
		if v.md5Key == nil {
			return nil, fieldErr(ErrSignType, "sec_id", "MD5 is not configured")
		}
		if len(data) > maxWAPNotifyData {
			return nil, fieldErr(ErrMalformed, "notify_data", "too large")
		}
		if err := verifyWAPMD5(v.md5Key, service, ver, secID, data, sign); err != nil {
			return nil, err
		}
		if !utf8.Valid(data) {
			return nil, fieldErr(ErrCharset, "notify_data", "value is not valid utf-8")
		}
		n.SignType, doc = SignMD5, data
	case string(SignWAPRSA):
		if v.merchantKey == nil {
			return nil, fieldErr(ErrSignType, "sec_id", "0001 (RSA) is not configured")
		}
		if len(data) > maxWAPCiphertextBase64(v.merchantKey) {
			return nil, fieldErr(ErrMalformed, "notify_data", fmt.Sprintf("longer than %d RSA blocks", MaxWAPNotifyDataBlocks))
		}
		if !plausibleSHA1Signature(v.wapKeys, sign) {
			return nil, ErrSignature // as any other failure of this path
		}
		plain, ok := v.openWAPNotifyData(service, ver, secID, data, sign)
		if !ok {
			return nil, ErrSignature // decryption and signature failures alike
		}
		n.SignType, doc = SignWAPRSA, plain
	default:
		return nil, fieldErr(ErrSignType, "sec_id", "unsupported value (MD5 or 0001)")
	}
	params, err := parseWAPNotifyXML(doc, v.opts.MaxParams)
	if err != nil {
		return nil, err
	}
	for i, k := range wapNotifyFields[:3] {
		if _, dup := params.Lookup(k); dup {
			return nil, fieldErr(ErrMalformed, "notify_data", "element "+k+" repeats a top-level field")
		}
		params = append(params, Param{Key: k, Value: string(vals[i])})
	}
	slices.SortFunc(params, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
	n.Params = params
	if err := n.fill(); err != nil {
		return nil, err
	}
	return n, nil
}

// verifyWAPReturn checks a call_back_url return: the sorted mapi rule with
// sign_type MD5 or 0001 (SHA1withRSA, Alipay's WAP key); request_token is
// signed but not compared with anything (Alipay sends the literal
// "requestToken").
func (v *Verifier) verifyWAPReturn(f *form) (*Notification, error) {
	sign, ok := f.get("sign")
	if !ok || len(sign) == 0 {
		return nil, fieldErr(ErrMalformed, "sign", "missing")
	}
	st, ok := f.get("sign_type")
	if !ok || len(st) == 0 {
		return nil, fieldErr(ErrSignType, "sign_type", "missing")
	}
	n := &Notification{Source: SourceReturn, Protocol: ProtocolWAP, Charset: UTF8, Partner: v.opts.Legacy.Partner}
	n.self, n.verifiedBy = n, v
	switch string(st) {
	case string(SignMD5):
		if v.md5Key == nil {
			return nil, fieldErr(ErrSignType, "sign_type", "MD5 is not configured")
		}
		if err := verifyMD5(f, v.md5Key, sign); err != nil {
			return nil, err
		}
		n.SignType = SignMD5
	case string(SignWAPRSA):
		if len(v.wapKeys) == 0 {
			return nil, fieldErr(ErrSignType, "sign_type", "0001 (RSA) is not configured")
		}
		if err := verifySortedSHA1(f, v.wapKeys, sign); err != nil {
			return nil, err
		}
		n.SignType = SignWAPRSA
	default:
		return nil, fieldErr(ErrSignType, "sign_type", "unsupported value (MD5 or 0001)")
	}
	if err := checkBoundaries(f); err != nil {
		return nil, err
	}
	params, err := toUTF8(f, UTF8)
	if err != nil {
		return nil, err
	}
	n.Params = params
	if err := n.fillSpecs(f.specs); err != nil {
		return nil, err
	}
	if n.Params.Get("result") != "success" {
		return nil, fieldErr(ErrMalformed, "result", "only success is accepted")
	}
	if n.TradeStatus == "" {
		n.TradeStatus = v.opts.Legacy.WAP.ReturnStatus
		n.StatusInferred = true
	}
	return n, nil
}

// checkWAPIdentity applies the legacy identity rules: the trade is named, a
// partner or seller_id in the signed content is the configured partner
// (unless SellerIDs says otherwise), then the common checks.
func (v *Verifier) checkWAPIdentity(n *Notification) error {
	if n.OutTradeNo == "" {
		return fieldErr(ErrMalformed, "out_trade_no", "missing")
	}
	if p, ok := n.Params.Lookup("partner"); ok && p != v.opts.Legacy.Partner {
		return fieldErr(ErrPartner, "partner", "not the configured partner")
	}
	if v.sellers == nil && n.SellerID != "" && n.SellerID != v.opts.Legacy.Partner {
		return fieldErr(ErrPartner, "seller_id", "not the configured partner")
	}
	return v.checkIdentity(n)
}

// writeWAPContent writes the fixed-order notification string-to-sign.
func writeWAPContent(w io.Writer, service, ver, secID, data []byte) {
	w.Write([]byte("service="))
	w.Write(service)
	w.Write([]byte("&v="))
	w.Write(ver)
	w.Write([]byte("&sec_id="))
	w.Write(secID)
	w.Write([]byte("&notify_data="))
	w.Write(data)
}

// verifyWAPMD5 checks sec_id=MD5: hex MD5 of the fixed-order content with
// the key appended without '&', compared in constant time.
func verifyWAPMD5(key, service, ver, secID, data, sign []byte) error {
	return checkMD5(key, sign, func(w io.Writer) { writeWAPContent(w, service, ver, secID, data) })
}

// maxWAPCiphertextBase64 is the length of the base64 of
// MaxWAPNotifyDataBlocks blocks of priv's modulus size.
func maxWAPCiphertextBase64(priv *rsa.PrivateKey) int {
	return base64.StdEncoding.EncodedLen(MaxWAPNotifyDataBlocks * priv.Size())
}

// plausibleSHA1Signature reports whether sign decodes, as verifySHA1Digest
// decodes it, to exactly the modulus size of one of keys. It reads nothing but sign and
// the public keys, so failing it before decryption tells nothing about the
// merchant key, and it spares the private-key work for a signature that
// cannot verify.
func plausibleSHA1Signature(keys []*rsa.PublicKey, sign []byte) bool {
	var sigBuf [maxSignatureBytes]byte
	sig, ok := decodeSignature(&sigBuf, sign) // as verifySHA1Digest
	if !ok {
		return false
	}
	for _, k := range keys {
		if k.Size() == len(sig) {
			return true
		}
	}
	return false
}

// openWAPNotifyData decrypts sec_id=0001 notify_data and verifies the
// signature over the fixed-order content with the plaintext. The signature
// is checked whatever the decryption gave (over whatever bytes came out), so
// both failure kinds cost about the same and return the same false.
func (v *Verifier) openWAPNotifyData(service, ver, secID, data, sign []byte) ([]byte, bool) {
	plain, decrypted := decryptWAPNotifyData(v.merchantKey, data)
	h := sha1.New()
	writeWAPContent(h, service, ver, secID, plain)
	signed := verifySHA1Digest(v.wapKeys, h, sign)
	return plain, decrypted && signed
}

// decryptWAPNotifyData decodes padded standard base64 (nothing but the
// alphabet and '='), splits it into blocks of the modulus size and
// PKCS#1 v1.5-decrypts each, joining the bytes before checking UTF-8 (a
// character may straddle blocks). It decrypts every block even after one has
// failed and reports only whether everything succeeded.
func decryptWAPNotifyData(priv *rsa.PrivateKey, data []byte) ([]byte, bool) {
	for _, c := range data {
		if !isBase64Byte(c) {
			return nil, false
		}
	}
	ct := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	nct, err := base64.StdEncoding.Strict().Decode(ct, data)
	if err != nil {
		return nil, false
	}
	ct = ct[:nct]
	k := priv.Size()
	if len(ct) == 0 || len(ct)%k != 0 || len(ct)/k > MaxWAPNotifyDataBlocks {
		return nil, false
	}
	plain := make([]byte, 0, len(ct)/k*(k-11))
	ok := true
	for off := 0; off < len(ct); off += k {
		wapBlockDecryptions.Add(1)
		//lint:ignore SA1019 the WAP protocol mandates PKCS#1 v1.5 encryption; the caller makes every failure indistinguishable (see openWAPNotifyData).
		b, err := rsa.DecryptPKCS1v15(nil, priv, ct[off:off+k])
		if err != nil {
			ok = false
			continue
		}
		plain = append(plain, b...)
	}
	return plain, ok && utf8.Valid(plain)
}

func isBase64Byte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

// verifySHA1Digest reports whether sign (standard base64) is a SHA1withRSA
// signature of the content written to h by any of keys.
func verifySHA1Digest(keys []*rsa.PublicKey, h hash.Hash, sign []byte) bool {
	var sigBuf [maxSignatureBytes]byte
	sig, ok := decodeSignature(&sigBuf, sign)
	if !ok {
		return false
	}
	var sum [sha1.Size]byte
	digest := h.Sum(sum[:0])
	verified := false
	for _, k := range keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA1, digest, sig) == nil {
			verified = true
		}
	}
	return verified
}

// verifySortedSHA1 checks a SHA1withRSA signature over the sorted mapi
// string-to-sign (sign, sign_type and empty values dropped).
func verifySortedSHA1(f *form, keys []*rsa.PublicKey, sign []byte) error {
	h := sha1.New()
	f.writeContent(h, contentRule{})
	if !verifySHA1Digest(keys, h, sign) {
		return ErrSignature
	}
	return nil
}

// parseWAPNotifyXML reads the verified notify_data document: a <notify> root
// whose children are elements holding only text. It refuses any DOCTYPE or
// other declaration (encoding/xml never fetches external entities nor
// expands DTD ones, and we do not even let a DTD through), a processing
// instruction other than the XML declaration (whose encoding, if named, must
// be UTF-8), nested or namespaced elements, text outside the children, a
// repeated element and more than maxParams elements. Attributes and comments
// are ignored. The result is sorted by element name.
func parseWAPNotifyXML(doc []byte, maxParams int) (Params, error) {
	bad := func(reason string) (Params, error) { return nil, fieldErr(ErrMalformed, "notify_data", reason) }
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	var params Params
	var cur string
	var text []byte
	depth, roots, tokens := 0, 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return bad("not well-formed XML")
		}
		tokens++
		switch t := tok.(type) {
		case xml.Directive:
			return bad("DOCTYPE and other declarations are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" || tokens != 1 {
				return bad("processing instructions are not allowed")
			}
		case xml.Comment:
		case xml.StartElement:
			if t.Name.Space != "" {
				return bad("namespaced elements are not allowed")
			}
			switch depth {
			case 0:
				if roots++; roots > 1 {
					return bad("more than one root element")
				}
				if t.Name.Local != "notify" {
					return bad("root element must be notify")
				}
			case 1:
				if len(params) >= maxParams {
					return bad("too many elements")
				}
				cur, text = t.Name.Local, text[:0]
				if _, dup := params.Lookup(cur); dup {
					return bad("duplicate element " + safeField([]byte(cur)))
				}
			default:
				return bad("nested elements are not allowed")
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 1 {
				p := Param{Key: cur, Value: string(text)}
				i, _ := slices.BinarySearchFunc(params, cur, func(e Param, k string) int { return strings.Compare(e.Key, k) })
				params = slices.Insert(params, i, p)
			}
		case xml.CharData:
			if depth == 2 {
				text = append(text, t...)
			} else if len(bytes.TrimLeft(t, " \t\r\n")) != 0 {
				return bad("text outside the field elements")
			}
		}
	}
	if roots == 0 {
		return bad("no notify element")
	}
	// Element names follow the parameter alphabet, and an empty element
	// counts as absent, as an empty parameter does everywhere else.
	for _, p := range params {
		if err := checkKey([]byte(p.Key)); err != nil {
			return nil, err
		}
	}
	return slices.DeleteFunc(params, func(p Param) bool { return p.Value == "" }), nil
}
