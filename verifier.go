package alipaynotify

import (
	"context"
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultNotifyVerifyURL is Alipay's legacy mapi gateway, which answers the
// notify_verify remote check.
const DefaultNotifyVerifyURL = "https://mapi.alipay.com/gateway.do"

// DefaultNotifyVerifyTimeout bounds the notify_verify remote call.
const DefaultNotifyVerifyTimeout = 10 * time.Second

// DefaultMaxReturnAge is how old a return may be by default. The buyer's
// browser follows the redirect within seconds of paying; an hour leaves room
// for slow networks and a tab reloaded later, and a return older than that is
// only ever a replay.
const DefaultMaxReturnAge = time.Hour

// DefaultMaxNotifyAge is how old a notification may be by default: 180 days.
// Alipay retries for about 25 hours and some merchants see every
// notification re-sent about a quarter later, so that must still be
// accepted; and it stays shorter than the middleware's 190-day retention of
// a handled event, so a notification is refused as too old before its done
// mark can expire and let it run the handler again.
const DefaultMaxNotifyAge = 180 * 24 * time.Hour

// Options configure a Verifier. The zero value of every optional field is the
// safe default. NewVerifier validates everything once; nothing is parsed per
// request. Open-platform settings sit at the top level; legacy mapi and
// mobile web settings in Legacy; the rest applies to every protocol.
type Options struct {
	// AppID is the open-platform app whose callbacks are accepted; app_id
	// must equal it. Required for open-platform callbacks.
	AppID string
	// AuthAppIDs lists the authorising apps accepted in auth_app_id (ISV and
	// third-party-authorised setups). Default (empty): auth_app_id must be
	// absent or equal AppID.
	AuthAppIDs []string
	// AlipayPublicKeys are Alipay's RSA public keys ("支付宝公钥", not your app
	// key), as PEM or as the bare base64 the console shows. Give several
	// during a key rotation: a callback is genuine if any one verifies it.
	AlipayPublicKeys []string
	// AlipayCertificates are Alipay public-key certificates
	// (alipayCertPublicKey_RSA2.crt, leaf first, intermediates after) for
	// public-key-certificate mode. Each must chain to AlipayRootCert. A
	// callback carrying alipay_cert_sn is checked with the matching
	// certificate first; an unknown SN never causes a download.
	AlipayCertificates []string
	// AlipayRootCert is Alipay's root bundle (alipayRootCert.crt). Required
	// with AlipayCertificates.
	AlipayRootCert string

	// Legacy configures legacy mapi (partner + MD5 key) and mobile web
	// (alipay.wap.*) callbacks. Its zero value accepts none.
	Legacy LegacyOptions

	// SellerIDs, when set, lists the seller_id values accepted. Default: any
	// seller on the open platform; the Partner on legacy mapi.
	SellerIDs []string
	// CheckOrder, when set, runs after the signature and identity checks:
	// look up OutTradeNo and compare the amount with your order, as Alipay
	// tells merchants to, with Notification.CheckTotalAmount:
	//
	//	CheckOrder: func(ctx context.Context, n *alipaynotify.Notification) error {
	//		order, err := orders.Find(ctx, n.OutTradeNo) // your lookup
	//		if err != nil {
	//			return err
	//		}
	//		return n.CheckTotalAmount(order.Amount)
	//	},
	//
	// Do not compare TotalAmount yourself: a mobile web call_back_url return
	// signs no amount, and CheckTotalAmount knows which callbacks may lack
	// one. An error rejects the callback (wrapped in ErrOrder); on a return
	// the buyer then sees the middleware's 400 instead of your page.
	CheckOrder func(ctx context.Context, n *Notification) error
	// MaxReturnAge bounds the age of a return, by its signed time
	// (timestamp on the open platform, notify_time on legacy mapi). An older
	// return is refused with ErrExpired before any handler runs. The mobile
	// web call_back_url return signs no time: its age is bounded by the
	// creation date that begins its trade_no (docs/protocol.md, "Age").
	// Default: DefaultMaxReturnAge (1 hour).
	MaxReturnAge time.Duration
	// MaxNotifyAge bounds the age of a notification, by its signed
	// notify_time. An older one is refused with ErrExpired. It must stay
	// shorter than the middleware's Retention. Default: DefaultMaxNotifyAge
	// (180 days).
	MaxNotifyAge time.Duration
	// MaxParams bounds the parameters of one callback. Default: 256.
	MaxParams int
	// Now is the clock used to check certificate validity at construction
	// and the age of every callback. Default: time.Now.
	Now func() time.Time
}

// LegacyOptions configure legacy mapi and mobile web (WAP) callbacks: the
// partner, its MD5 key or mapi RSA keys, and the optional notify_verify
// remote check. The same Partner and MD5Key serve mapi and WAP (sec_id=MD5).
type LegacyOptions struct {
	// Partner is the partner ID (16 digits, 2088...). Required for legacy
	// callbacks.
	Partner string
	// MD5Key is the partner's MD5 key (安全校验码). Enables MD5 callbacks.
	MD5Key string
	// MapiPublicKeys are Alipay's mapi RSA public keys, for legacy callbacks
	// signed with sign_type=RSA. They differ from the open-platform keys.
	MapiPublicKeys []string
	// Charset is the _input_charset of your legacy requests, used when a
	// legacy callback does not name its charset. Default: utf-8.
	Charset Charset
	// NotifyVerify turns on the remote check: each legacy notification's
	// notify_id is sent to NotifyVerifyURL and only the answer "true" accepts
	// it. Default: off.
	NotifyVerify bool
	// NotifyVerifyURL is the gateway for the remote check. Default:
	// DefaultNotifyVerifyURL.
	NotifyVerifyURL string
	// NotifyVerifyTimeout bounds one remote check. Default: 10s.
	NotifyVerifyTimeout time.Duration
	// HTTPClient makes the remote check. Default: a client with
	// NotifyVerifyTimeout. It is copied, never changed, and the copy
	// follows no redirects: a 3xx answer fails the check.
	HTTPClient *http.Client
	// WAP configures the mobile web payment's sec_id=0001 (RSA) callbacks.
	WAP WAPOptions
}

// WAPOptions configure the legacy mobile web payment (alipay.wap.*,
// ProtocolWAP). sec_id=MD5 callbacks need none of it: LegacyOptions.Partner
// and MD5Key serve them.
type WAPOptions struct {
	// MerchantPrivateKey is your own RSA private key for sec_id=0001: Alipay
	// encrypts notify_data to your public key and this key decrypts it. PEM
	// ("RSA PRIVATE KEY" or "PRIVATE KEY") or the bare base64 PKCS#8 the
	// official Java demo configures. Requires PublicKeys and
	// LegacyOptions.Partner. Default: none (sec_id=0001 callbacks are refused
	// with ErrSignType).
	MerchantPrivateKey string
	// PublicKeys are Alipay's public keys for the mobile web payment (the
	// console's "无线产品密钥管理（wap专用）" key, which differs from the mapi
	// and open-platform keys), PEM or bare base64. They verify sec_id=0001
	// notifications and sign_type=0001 call_back_url returns; give several
	// during a rotation. Requires MerchantPrivateKey.
	PublicKeys []string
	// ReturnStatus is the trade status a verified call_back_url return
	// stands for: the return carries none, so the Notification gets this
	// status with StatusInferred set, and it dedupes with the notification
	// reporting the same status. TRADE_SUCCESS suits 高级即时到账 (paid =
	// TRADE_SUCCESS, TRADE_FINISHED when the refund window ends); set
	// TRADE_FINISHED for 普通即时到账, whose only notification is
	// TRADE_FINISHED. Default: TRADE_SUCCESS.
	ReturnStatus TradeStatus
}

// Verifier checks that callbacks come from Alipay and turns them into typed
// Notifications. It is safe for concurrent use.
type Verifier struct {
	opts       Options
	openKeys   []verifyKey
	mapiKeys   []verifyKey
	md5Key     []byte
	authApps   map[string]bool
	sellers    map[string]bool
	httpClient *http.Client
	// merchantKey decrypts WAP sec_id=0001 notify_data; wapKeys verify WAP
	// RSA signatures.
	merchantKey *rsa.PrivateKey
	wapKeys     []*rsa.PublicKey
}

// NewVerifier validates opts and parses every key and certificate once.
func NewVerifier(opts Options) (*Verifier, error) {
	v := &Verifier{opts: opts}
	for _, step := range []func() error{v.initLimits, v.initOpenKeys, v.initLegacy, v.initWAP, v.initIdentities} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// cfg is a configuration error on the option field.
func cfg(field, reason string) error { return fieldErr(ErrConfig, field, reason) }

// initLimits applies the defaults of the parameter bound, the clock and the
// age windows.
func (v *Verifier) initLimits() error {
	o := &v.opts
	if o.MaxParams == 0 {
		o.MaxParams = DefaultMaxParams
	} else if o.MaxParams < 0 {
		return cfg("MaxParams", "must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, d := range []struct {
		field string
		v     *time.Duration
		def   time.Duration
	}{{"MaxReturnAge", &o.MaxReturnAge, DefaultMaxReturnAge}, {"MaxNotifyAge", &o.MaxNotifyAge, DefaultMaxNotifyAge}} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return cfg(d.field, "must not be negative")
		}
	}
	return nil
}

// initOpenKeys parses Alipay's open-platform keys and certificates and
// checks that they come with an AppID.
func (v *Verifier) initOpenKeys() error {
	o := &v.opts
	for i, k := range o.AlipayPublicKeys {
		pub, err := ParsePublicKey(k)
		if err != nil {
			return cfg("AlipayPublicKeys", fmt.Sprintf("key %d: %v", i, err))
		}
		v.openKeys = append(v.openKeys, verifyKey{pub: pub})
	}
	switch {
	case len(o.AlipayCertificates) > 0 && o.AlipayRootCert == "":
		return cfg("AlipayRootCert", "required with AlipayCertificates")
	case len(o.AlipayCertificates) > 0:
		keys, err := certKeys(o.AlipayCertificates, o.AlipayRootCert, o.Now())
		if err != nil {
			return cfg("AlipayCertificates", err.Error())
		}
		v.openKeys = append(keys, v.openKeys...)
	case o.AlipayRootCert != "":
		return cfg("AlipayCertificates", "AlipayRootCert given without certificates")
	}
	switch {
	case len(v.openKeys) > 0 && o.AppID == "":
		return cfg("AppID", "required with Alipay public keys or certificates")
	case o.AppID != "" && len(v.openKeys) == 0:
		return cfg("AlipayPublicKeys", "AppID given without any Alipay public key or certificate")
	}
	return nil
}

// initLegacy parses the legacy mapi keys, the charset default and the
// notify_verify settings.
func (v *Verifier) initLegacy() error {
	l := &v.opts.Legacy
	for i, k := range l.MapiPublicKeys {
		pub, err := ParsePublicKey(k)
		if err != nil {
			return cfg("Legacy.MapiPublicKeys", fmt.Sprintf("key %d: %v", i, err))
		}
		v.mapiKeys = append(v.mapiKeys, verifyKey{pub: pub})
	}
	if (l.MD5Key != "" || len(v.mapiKeys) > 0 || l.NotifyVerify) && !isPartnerID(l.Partner) {
		return cfg("Legacy.Partner", "legacy callbacks need the 16-digit partner ID (2088...)")
	}
	if l.MD5Key != "" {
		v.md5Key = []byte(l.MD5Key)
	}
	if l.Charset == "" {
		l.Charset = UTF8
	} else {
		cs, ok := parseCharset([]byte(l.Charset))
		if !ok {
			return cfg("Legacy.Charset", "must be utf-8, gbk or gb2312")
		}
		l.Charset = cs
	}
	if l.NotifyVerify {
		if l.NotifyVerifyURL == "" {
			l.NotifyVerifyURL = DefaultNotifyVerifyURL
		}
		if l.NotifyVerifyTimeout == 0 {
			l.NotifyVerifyTimeout = DefaultNotifyVerifyTimeout
		} else if l.NotifyVerifyTimeout < 0 {
			return cfg("Legacy.NotifyVerifyTimeout", "must not be negative")
		}
		v.httpClient = noRedirectClient(l.HTTPClient, l.NotifyVerifyTimeout)
	}
	return nil
}

// initIdentities checks that some protocol is configured and indexes the
// accepted authorising apps and sellers. It runs after initWAP, which parses
// the merchant key a Partner may come with.
func (v *Verifier) initIdentities() error {
	o := &v.opts
	if o.Legacy.Partner != "" && o.Legacy.MD5Key == "" && len(v.mapiKeys) == 0 && v.merchantKey == nil {
		return cfg("Legacy.MD5Key", "Partner given without an MD5 key, a mapi public key or WAP keys")
	}
	if len(v.openKeys) == 0 && o.Legacy.Partner == "" {
		return cfg("", "configure AppID with Alipay keys, or Legacy.Partner with an MD5 key, or both")
	}
	if len(o.AuthAppIDs) > 0 {
		v.authApps = make(map[string]bool)
		for _, a := range o.AuthAppIDs {
			v.authApps[a] = true
		}
	}
	if len(o.SellerIDs) > 0 {
		v.sellers = make(map[string]bool)
		for _, s := range o.SellerIDs {
			v.sellers[s] = true
		}
	}
	return nil
}

func isPartnerID(s string) bool {
	if len(s) != 16 || s[:4] != "2088" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// VerifyNotify verifies the raw body of a notify_url POST (the form body only:
// query parameters on the notify URL are not part of Alipay's callback) and
// returns the typed Notification.
func (v *Verifier) VerifyNotify(ctx context.Context, body []byte) (*Notification, error) {
	return v.verify(ctx, body, SourceNotify, received{now: v.opts.Now()})
}

// VerifyReturn verifies the raw query string of a return_url GET
// (r.URL.RawQuery) and returns the typed Notification.
func (v *Verifier) VerifyReturn(ctx context.Context, rawQuery string) (*Notification, error) {
	return v.verify(ctx, []byte(rawQuery), SourceReturn, received{now: v.opts.Now()})
}

// VerifyReceived verifies a callback stored when it arrived, such as a dead
// letter replayed by an operator: raw is the notify body or the return's raw
// query exactly as received, and receivedAt the time it was received, taken
// from your own record (never from the callback). Every check runs as it
// did then: the signature, the grammar, identity and CheckOrder, and the age
// windows measured at receivedAt rather than now, so that a payment whose
// handler failed can still be handled days later. The legacy notify_verify
// remote check is skipped: the callback passed it on arrival, and Alipay
// answers it only for a short while. A receivedAt in the future is refused.
func (v *Verifier) VerifyReceived(ctx context.Context, src Source, raw []byte, receivedAt time.Time) (*Notification, error) {
	if now := v.opts.Now(); receivedAt.After(now) {
		return nil, fmt.Errorf("%w: receivedAt %v is in the future", ErrExpired, receivedAt)
	}
	switch src {
	case SourceNotify, SourceReturn:
		return v.verify(ctx, raw, src, received{now: receivedAt, replay: true})
	}
	return nil, fmt.Errorf("%w: only notify and return callbacks can be verified again, not %q", ErrMalformed, src)
}

// received is when a callback being verified arrived, and whether it is a
// stored one verified again.
type received struct {
	now    time.Time
	replay bool
}

func (v *Verifier) verify(ctx context.Context, raw []byte, src Source, at received) (*Notification, error) {
	f := getForm()
	defer putForm(f)
	if err := f.parse(raw, v.opts.MaxParams); err != nil {
		return nil, err
	}
	if kind := wapKindOf(f); kind != notWAP {
		return v.verifyWAP(ctx, f, src, kind, at)
	}
	sign, ok := f.getSlot(slotSign)
	if !ok || len(sign) == 0 {
		return nil, fieldErr(ErrMalformed, "sign", "missing")
	}
	signTypeRaw, _ := f.getSlot(slotSignType)
	signType := signTypeOf(signTypeRaw)

	var proto Protocol
	var partner string
	var csRaw []byte
	var hasCS bool
	if f.hasSlot(slotAppID) {
		proto = ProtocolOpenPlatform
		csRaw, hasCS = f.getSlot(slotCharset)
	} else {
		proto = ProtocolMapi
		partner = v.opts.Legacy.Partner
		csRaw, hasCS = f.getSlot(slotInputCharset)
	}
	hasCS = hasCS && len(csRaw) > 0 // an empty parameter is not signed: absent
	var charset Charset
	switch {
	case hasCS:
		cs, ok := parseCharset(csRaw)
		if !ok {
			return nil, fieldErr(ErrCharset, "charset", "must be utf-8, gbk or gb2312")
		}
		charset = cs
	case proto == ProtocolMapi:
		charset = v.opts.Legacy.Charset
	default:
		charset = UTF8
	}

	if err := v.checkSignature(f, proto, signType, sign); err != nil {
		return nil, err
	}
	// Allocated only now: a forgery costs no Notification. The Params of a
	// usual callback share its allocation.
	np := &notificationWithParams{n: Notification{Source: src, Protocol: proto, SignType: signType, Charset: charset, Partner: partner}}
	n := &np.n
	n.self, n.verifiedBy = n, v
	if err := checkBoundaries(f); err != nil {
		return nil, err
	}

	params, err := appendUTF8(np.params[:0], f, n.Charset)
	if err != nil {
		if fe := (*FieldError)(nil); n.Protocol == ProtocolMapi && !hasCS && errors.As(err, &fe) {
			fe.Reason += " (this legacy callback names no _input_charset, so it is read as Options.Legacy.Charset, " + string(n.Charset) + ")"
		}
		return nil, err
	}
	n.Params = params
	if err := n.fillSpecs(f.specs); err != nil {
		return nil, err
	}
	if err := v.checkKind(n, at.now); err != nil {
		return nil, rejected(n, err)
	}
	if err := v.checkIdentity(n); err != nil {
		return nil, rejected(n, err)
	}
	return v.finish(ctx, n, src == SourceNotify && n.Protocol == ProtocolMapi && v.opts.Legacy.NotifyVerify && !at.replay)
}

// notificationWithParams is a Notification allocated together with room for
// the Params of a usual callback (about 25; one with more gets its own), so
// that both take one allocation: 27 fit the 1792-byte size class, 28 would
// take the 2048-byte one (TestNotificationWithParamsSize).
type notificationWithParams struct {
	n      Notification
	params [27]Param
}

// finish runs the checks every verified callback gets last: the legacy
// notify_verify remote check (when remote is set) and the merchant's
// CheckOrder.
func (v *Verifier) finish(ctx context.Context, n *Notification, remote bool) (*Notification, error) {
	if remote {
		if err := v.remoteCheck(ctx, n.NotifyID); err != nil {
			return nil, rejected(n, err)
		}
	}
	if v.opts.CheckOrder != nil {
		if err := v.opts.CheckOrder(ctx, n); err != nil {
			return nil, rejected(n, fmt.Errorf("%w: %w", ErrOrder, err))
		}
	}
	return n, nil
}

// signTypeOf is SignType(b), without a copy for the sign types this package
// knows.
func signTypeOf(b []byte) SignType {
	switch string(b) {
	case string(SignRSA2):
		return SignRSA2
	case string(SignRSA):
		return SignRSA
	case string(SignMD5):
		return SignMD5
	}
	return SignType(b)
}

// checkSignature picks keys and content rules by protocol and sign type.
func (v *Verifier) checkSignature(f *form, proto Protocol, st SignType, sign []byte) error {
	switch st {
	case SignRSA2, SignRSA:
		keys := v.openKeys
		if proto == ProtocolMapi {
			keys = v.mapiKeys
		}
		if len(keys) == 0 {
			return fieldErr(ErrSignType, "sign_type", string(st)+" is not configured for "+string(proto)+" callbacks")
		}
		if proto == ProtocolOpenPlatform && v.opts.AppID == "" {
			return fieldErr(ErrSignType, "app_id", "open-platform callbacks are not configured")
		}
		var certSN string
		if sn, ok := f.getSlot(slotCertSN); ok {
			certSN = string(sn)
		}
		return verifyRSA(f, st, keys, certSN, sign)
	case SignMD5:
		if proto != ProtocolMapi {
			return fieldErr(ErrSignType, "sign_type", "MD5 is only used by legacy mapi callbacks")
		}
		if v.md5Key == nil {
			return fieldErr(ErrSignType, "sign_type", "MD5 is not configured")
		}
		return verifyMD5(f, v.md5Key, sign)
	case "":
		return fieldErr(ErrSignType, "sign_type", "missing")
	}
	return fieldErr(ErrSignType, "sign_type", "unsupported value")
}

// rsaContentRules are tried in order. V1 with empty values dropped is the
// documented rule for trade notifications and returns (Java/.NET SDKs); the
// keep-empty variant is what the Node and PHP SDKs sign; V2 (sign_type signed)
// is the gateway-message rule, which the official Node SDK also accepts for
// notifications. Every variant is fully determined by the received
// parameters, so trying several lets nobody change a signed value.
var rsaContentRules = [...]contentRule{
	{withSignType: false, keepEmpty: false},
	{withSignType: false, keepEmpty: true},
	{withSignType: true, keepEmpty: false},
	{withSignType: true, keepEmpty: true},
}

// verifyRSA checks an RSA2/RSA signature against every configured key, the
// key named by alipay_cert_sn first.
func verifyRSA(f *form, st SignType, keys []verifyKey, certSN string, sign []byte) error {
	var sigBuf [maxSignatureBytes]byte
	sig, ok := decodeSignature(&sigBuf, sign)
	if !ok {
		return fieldErr(ErrSignature, "sign", "not the base64 of an RSA signature")
	}
	alg := crypto.SHA256
	if st == SignRSA {
		alg = crypto.SHA1
	}
	var sum [sha256.Size]byte
	hasEmpty := f.hasEmptyValue()
	for _, rule := range rsaContentRules {
		if rule.keepEmpty && !hasEmpty {
			continue
		}
		f.content = f.appendContent(f.content[:0], rule)
		var digest []byte
		if alg == crypto.SHA1 {
			sum1 := sha1.Sum(f.content)
			digest = append(sum[:0], sum1[:]...)
		} else {
			sum = sha256.Sum256(f.content)
			digest = sum[:]
		}
		if verifyDigest(keys, certSN, alg, digest, sig) {
			return nil
		}
	}
	return ErrSignature
}

// verifyDigest reports whether sig signs digest under one of keys, trying
// the key whose certificate SN is certSN first.
func verifyDigest(keys []verifyKey, certSN string, alg crypto.Hash, digest, sig []byte) bool {
	if certSN != "" { // try the key the message names first
		for _, k := range keys {
			if k.certSN == certSN && rsa.VerifyPKCS1v15(k.pub, alg, digest, sig) == nil {
				return true
			}
		}
	}
	for _, k := range keys {
		if (certSN == "" || k.certSN != certSN) && rsa.VerifyPKCS1v15(k.pub, alg, digest, sig) == nil {
			return true
		}
	}
	return false
}

// verifyMD5 checks the legacy digest over the sorted content (empty values
// dropped), in the bytes of the callback's charset.
func verifyMD5(f *form, key, sign []byte) error {
	return checkMD5(key, sign, func(w io.Writer) { f.writeContent(w, contentRule{}) })
}

// checkMD5 checks a legacy MD5 signature: hex MD5 (either letter case) of
// the content write writes with the key appended without '&', compared in
// constant time.
func checkMD5(key, sign []byte, write func(io.Writer)) error {
	if len(sign) != 2*md5.Size {
		return ErrSignature
	}
	var want [md5.Size]byte
	if _, err := hex.Decode(want[:], sign); err != nil {
		return ErrSignature
	}
	sum := md5Digest(key, write)
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
		return ErrSignature
	}
	return nil
}

// md5Digest is the legacy MD5 digest: MD5 of the content write writes
// followed by the key, with no '&' in between.
func md5Digest(key []byte, write func(io.Writer)) [md5.Size]byte {
	h := md5.New()
	write(h)
	h.Write(key)
	var sum [md5.Size]byte
	h.Sum(sum[:0])
	return sum
}

// maxSignatureBytes bounds a decoded RSA signature: 4096-bit keys at most.
const maxSignatureBytes = 512

// decodeSignature decodes a base64 RSA signature into buf, refusing one
// longer than any supported key.
func decodeSignature(buf *[maxSignatureBytes]byte, sign []byte) ([]byte, bool) {
	if base64.StdEncoding.DecodedLen(len(sign)) > len(buf) {
		return nil, false
	}
	n, err := base64.StdEncoding.Decode(buf[:], sign)
	if err != nil {
		return nil, false
	}
	return buf[:n], true
}

// checkIdentity enforces app_id, auth_app_id, version and seller rules.
func (v *Verifier) checkIdentity(n *Notification) error {
	if n.Protocol == ProtocolOpenPlatform {
		if n.AppID != v.opts.AppID {
			return fieldErr(ErrAppID, "app_id", "not the configured app")
		}
		if n.AuthAppID != "" && n.AuthAppID != n.AppID && !v.authApps[n.AuthAppID] {
			return fieldErr(ErrAppID, "auth_app_id", "not an accepted authorising app")
		}
		if n.Version != "" && n.Version != "1.0" {
			return fieldErr(ErrMalformed, "version", "only 1.0 is accepted")
		}
	}
	if n.SellerID != "" || v.sellers != nil {
		switch {
		case v.sellers != nil:
			if !v.sellers[n.SellerID] {
				return fieldErr(ErrSellerID, "seller_id", "not an accepted seller")
			}
		case n.Protocol == ProtocolMapi && n.SellerID != v.opts.Legacy.Partner:
			return fieldErr(ErrPartner, "seller_id", "not the configured partner")
		}
	}
	if n.GatewayMessage() {
		return nil // servicemarket_order_notify, ...: no trade event
	}
	if n.OutTradeNo == "" {
		return fieldErr(ErrMalformed, "out_trade_no", "missing")
	}
	if n.TradeStatus == "" {
		if n.Source == SourceReturn && n.Protocol == ProtocolOpenPlatform {
			// A page-pay/wap-pay return carries no status: a verified return,
			// which signs its method (checkKind), stands for the payment of
			// the trade.
			n.TradeStatus = TradeSuccess
			n.StatusInferred = true
		} else {
			return fieldErr(ErrMalformed, "trade_status", "missing")
		}
	}
	return nil
}

var errNotifyVerifyAnswer = errors.New("answer was not true")

// remoteCheck asks Alipay's gateway whether notify_id is genuine.
func (v *Verifier) remoteCheck(ctx context.Context, notifyID string) error {
	if notifyID == "" {
		return fieldErr(ErrRemoteCheck, "notify_id", "missing")
	}
	return checkNotifyID(ctx, v.httpClient, v.opts.Legacy.NotifyVerifyURL, v.opts.Legacy.Partner, notifyID, v.opts.Legacy.NotifyVerifyTimeout)
}

// Produced reports whether n is a Notification v returned from a successful
// verification, as opposed to one built by hand or returned by another
// Verifier. Code that acts on a Notification it did not verify itself (the
// middleware's Deliver, a Reconciler) checks it, so that a struct literal can
// never pass for a payment Alipay signed; nor can a copy of a verified one
// with a field changed. A Notification returned inside a
// RejectedError reports false: it verified, then was refused.
func (v *Verifier) Produced(n *Notification) bool {
	return v != nil && n != nil && n.verifiedBy == v && n.self == n
}
