package alipaynotify_test

import (
	"context"
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// wapVector is the part of a synthetic-wap-* vector the tests read.
type wapVector struct {
	FormBody string            `json:"formBody"`
	Query    string            `json:"query"`
	Params   map[string]string `json:"params"`
	Keys     struct {
		Partner                      string `json:"partner"`
		MD5Key                       string `json:"md5Key"`
		MerchantPrivateKeyPkcs8Pem   string `json:"merchantPrivateKeyPkcs8Pem"`
		MerchantPrivateKeyBareBase64 string `json:"merchantPrivateKeyBareBase64"`
		AlipayPublicKeyPem           string `json:"alipayPublicKeyPem"`
		AlipayPrivateKeyPem          string `json:"alipayPrivateKeyPkcs8Pem_forRegeneratingOnly"`
	} `json:"keys"`
	ExpectedSignedContent       string            `json:"expectedSignedContent"`
	ExpectedDecryptedNotifyData string            `json:"expectedDecryptedNotifyData"`
	ExpectedNotifyDataFields    map[string]string `json:"expectedNotifyDataFields"`
	ExpectedDecodedFields       map[string]string `json:"expectedDecodedFields"`
	NegativeChecks              struct {
		SortedMapiStyleContent string `json:"sortedMapiStyleContent"`
		SortedMapiStyleDigest  string `json:"sortedMapiStyleDigest"`
	} `json:"negativeChecks"`
}

func loadWAPVector(t testing.TB, name string) wapVector {
	t.Helper()
	var v wapVector
	loadJSON(t, name, &v)
	return v
}

const wapMD5Key = "0123456789abcdefghijklmnopqrstuv"

// wapVectorVerifier accepts every synthetic-wap vector: the partner's MD5
// key and the 0001 keys of synthetic-wap-rsa-0001-notify-utf8.
func wapVectorVerifier(t testing.TB, mod func(*alipaynotify.Options)) *alipaynotify.Verifier {
	t.Helper()
	rsaVec := loadWAPVector(t, "synthetic-wap-rsa-0001-notify-utf8")
	opts := alipaynotify.Options{
		Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: wapMD5Key, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: rsaVec.Keys.MerchantPrivateKeyBareBase64, PublicKeys: []string{rsaVec.Keys.AlipayPublicKeyPem}}},
	}
	if mod != nil {
		mod(&opts)
	}
	v, err := newVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wapVectorSigner is a kit signer holding the keys of the 0001 vector (or
// the MD5 key), so that tests can make variants of the vectors.
func wapVectorSigner(t testing.TB, secID alipaytest.SignType) *alipaytest.WAPSigner {
	t.Helper()
	if secID == alipaytest.SignMD5 {
		return alipaytest.NewWAPSigner(testPartner, wapMD5Key)
	}
	vec := loadWAPVector(t, "synthetic-wap-rsa-0001-notify-utf8")
	alipay, err := alipaytest.ParseKeyPair(vec.Keys.AlipayPrivateKeyPem)
	if err != nil {
		t.Fatal(err)
	}
	merchant, err := alipaytest.ParseKeyPair(vec.Keys.MerchantPrivateKeyPkcs8Pem)
	if err != nil {
		t.Fatal(err)
	}
	return alipaytest.NewWAPRSASigner(alipay, merchant)
}

// TestWAPVectors: every synthetic-wap vector verifies, decodes to the
// expected fields, and has the event identity the middleware dedupes on; any
// change to a signed value breaks it.
func TestWAPVectors(t *testing.T) {
	v := wapVectorVerifier(t, nil)
	cases := []struct {
		name  string
		ret   bool
		check func(t *testing.T, n *alipaynotify.Notification)
	}{
		{name: "synthetic-wap-md5-notify-utf8", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.SignType, alipaynotify.SignMD5)
			eq(t, n.Subject, "测试商品：手机壳 A&B 套装+100%")
			eq(t, n.TotalAmount.String(), "0.01")
			eq(t, n.TradeStatus, alipaynotify.TradeSuccess)
			eq(t, n.StatusInferred, false)
			eq(t, n.NotifyID, "0123456789abcdef0123456789abcdef01")
			eq(t, n.NotifyTime.Format("2006-01-02 15:04:05 -0700"), "2013-12-03 17:35:21 +0800")
			eq(t, n.Event().String(), testPartner+"|WAP20131203000001|TRADE_SUCCESS||")
		}},
		{name: "synthetic-wap-rsa-0001-notify-utf8", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.SignType, alipaynotify.SignWAPRSA)
			eq(t, n.Subject, "黑白象 真皮手机壳（限量版）XXXXXXX 套装")
			eq(t, n.TotalAmount.String(), "128.00")
			eq(t, n.TradeStatus, alipaynotify.TradeFinished)
			eq(t, n.GmtClose.IsZero(), false)
			eq(t, n.Event().String(), testPartner+"|WAP20131203000002|TRADE_FINISHED||")
		}},
		{name: "synthetic-wap-callback-md5-utf8", ret: true, check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.SignType, alipaynotify.SignMD5)
			eq(t, n.TradeStatus, alipaynotify.TradeSuccess)
			eq(t, n.StatusInferred, true)
			eq(t, n.Event().String(), testPartner+"|WAP20131203000001|TRADE_SUCCESS||")
		}},
		{name: "synthetic-wap-callback-rsa-0001-utf8", ret: true, check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.SignType, alipaynotify.SignWAPRSA)
			eq(t, n.StatusInferred, true)
			eq(t, n.Event().String(), testPartner+"|WAP20131203000002|TRADE_SUCCESS||")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vec := loadWAPVector(t, tc.name)
			var n *alipaynotify.Notification
			var err error
			body := vec.FormBody
			if tc.ret {
				body = vec.Query
				n, err = v.VerifyReturn(context.Background(), body)
			} else {
				n, err = v.VerifyNotify(context.Background(), []byte(body))
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			eq(t, n.Protocol, alipaynotify.ProtocolWAP)
			eq(t, n.Partner, testPartner)
			eq(t, n.Merchant(), testPartner)
			eq(t, n.Charset, alipaynotify.UTF8)
			want := vec.ExpectedNotifyDataFields
			if tc.ret {
				want = vec.ExpectedDecodedFields
			} else {
				// Params: the XML's fields plus the signed top-level ones.
				eq(t, len(n.Params), len(want)+3)
				eq(t, n.Params.Get("service"), "alipay.wap.trade.create.direct")
				eq(t, n.Params.Get("v"), "1.0")
				eq(t, n.Params.Get("sec_id"), string(n.SignType))
				if _, ok := n.Params.Lookup("notify_data"); ok {
					t.Error("notify_data must not be exposed as a field")
				}
			}
			for k, w := range want {
				if got := n.Params.Get(k); got != w {
					t.Errorf("field %s = %q, want %q", k, got, w)
				}
			}
			tc.check(t, n)
			tamperWAP(t, v, body, tc.ret)
		})
	}
}

// tamperWAP changes the last character of every value in turn: a signed
// value must fail with ErrSignature (sec_id and sign_type with ErrSignType,
// as the changed value names no algorithm).
func tamperWAP(t *testing.T, v *alipaynotify.Verifier, body string, ret bool) {
	t.Helper()
	pairs := strings.Split(body, "&")
	for i, p := range pairs {
		k, val, _ := strings.Cut(p, "=")
		if k == "sign" {
			continue
		}
		tampered := append([]string(nil), pairs...)
		if strings.HasSuffix(val, "%3D") || strings.HasSuffix(val, "%3E") {
			tampered[i] = k + "=" + val[:len(val)-3] + "A" + val[len(val)-3:]
		} else {
			tampered[i] = k + "=" + val[:len(val)-1] + "A"
		}
		_, err := verifyWAPBody(v, strings.Join(tampered, "&"), ret)
		want := alipaynotify.ErrSignature
		if k == "sec_id" || k == "sign_type" {
			want = alipaynotify.ErrSignType
		}
		if !errors.Is(err, want) {
			t.Errorf("tampered %s: err = %v, want %v", k, err, want)
		}
	}
}

func verifyWAPBody(v *alipaynotify.Verifier, body string, ret bool) (*alipaynotify.Notification, error) {
	if ret {
		return v.VerifyReturn(context.Background(), body)
	}
	return v.VerifyNotify(context.Background(), []byte(body))
}

// TestWAPSortedContentFails: the sorted (mapi) string-to-sign is not the WAP
// notification rule, nor is the content over the ciphertext.
func TestWAPSortedContentFails(t *testing.T) {
	v := wapVectorVerifier(t, nil)
	md5Vec := loadWAPVector(t, "synthetic-wap-md5-notify-utf8")
	body := strings.Replace(md5Vec.FormBody, "sign="+md5Vec.Params["sign"], "sign="+md5Vec.NegativeChecks.SortedMapiStyleDigest, 1)
	if _, err := v.VerifyNotify(context.Background(), []byte(body)); !errors.Is(err, alipaynotify.ErrSignature) {
		t.Errorf("MD5 over sorted content: %v", err)
	}

	rsaVec := loadWAPVector(t, "synthetic-wap-rsa-0001-notify-utf8")
	s := wapVectorSigner(t, alipaytest.SignWAPRSA)
	genuine, err := s.SignNotifyData(rsaVec.ExpectedDecryptedNotifyData)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyNotify(context.Background(), genuine.Encode()); err != nil {
		t.Fatalf("re-signed vector: %v", err)
	}
	sorted := "notify_data=" + rsaVec.ExpectedDecryptedNotifyData + "&sec_id=0001&service=alipay.wap.trade.create.direct&v=1.0"
	overCipher := alipaytest.WAPNotifyContent("alipay.wap.trade.create.direct", "1.0", "0001", genuine.Get("notify_data"))
	for name, content := range map[string]string{"sorted": sorted, "ciphertext": overCipher} {
		sig, err := s.SignContent(content)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyNotify(context.Background(), genuine.Tampered("sign", sig).Encode())
		if err != alipaynotify.ErrSignature {
			t.Errorf("0001 over %s content: %v", name, err)
		}
	}
}

// wapNotifyOf builds a kit notification, panicking on error.
func wapNotifyOf(t *testing.T, s *alipaytest.WAPSigner, doc string) *alipaytest.Message {
	t.Helper()
	m, err := s.SignNotifyData(doc)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// validWAPXML is a minimal accepted notify_data document.
const validWAPXML = `<notify><out_trade_no>W-1</out_trade_no><trade_no>2013120331000009</trade_no>` +
	`<trade_status>TRADE_SUCCESS</trade_status><total_fee>1.00</total_fee><seller_id>2088000000000001</seller_id>` +
	`<notify_id>abc</notify_id><notify_type>trade_status_sync</notify_type><notify_time>2013-12-03 10:00:00</notify_time></notify>`

// TestWAPNotifyXML: the notify_data parser after verification. Hostile
// documents are signed with the partner key, so they reach the parser.
func TestWAPNotifyXML(t *testing.T) {
	v := wapVectorVerifier(t, nil)
	s := wapVectorSigner(t, alipaytest.SignMD5)
	env := `<notify_id>abc</notify_id><notify_type>trade_status_sync</notify_type><notify_time>2013-12-03 10:00:00</notify_time>`
	fields := `<out_trade_no>W-1</out_trade_no><trade_status>TRADE_SUCCESS</trade_status>` + env
	cases := []struct {
		name string
		doc  string
		want error // nil: accepted
	}{
		{"minimal", validWAPXML, nil},
		{"any order and unknown elements", `<notify><trade_status>TRADE_SUCCESS</trade_status><new_field>x</new_field>` + env + `<out_trade_no>W-1</out_trade_no></notify>`, nil},
		{"XML declaration utf-8", `<?xml version="1.0" encoding="UTF-8"?>` + "\n<notify>" + fields + "</notify>\n", nil},
		{"pretty printed, comments, CDATA, attributes", "<notify a=\"1\">\n  <!-- c -->\n  <out_trade_no><![CDATA[W-1]]></out_trade_no>\n  <trade_status>TRADE_SUCCESS</trade_status>\n" + env + "</notify>", nil},
		{"empty element", `<notify>` + fields + `<subject/></notify>`, nil},
		{"DOCTYPE", `<!DOCTYPE notify><notify>` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><notify><subject>&lol3;</subject>` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"external entity", `<!DOCTYPE notify [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><notify><subject>&xxe;</subject>` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"undeclared entity", `<notify><subject>&xxe;</subject>` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"parameter entity", `<!DOCTYPE notify [<!ENTITY % p SYSTEM "http://127.0.0.1/x.dtd"> %p;]><notify>` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"GBK declaration", `<?xml version="1.0" encoding="GBK"?><notify>` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"processing instruction", `<notify><?php echo 1; ?>` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"late XML declaration", `<!-- x --><?xml version="1.0"?><notify>` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"wrong root", `<notification>` + fields + `</notification>`, alipaynotify.ErrMalformed},
		{"two roots", `<notify>` + fields + `</notify><notify></notify>`, alipaynotify.ErrMalformed},
		{"no root", `just text`, alipaynotify.ErrMalformed},
		{"nested", `<notify>` + fields + `<subject><b>x</b></subject></notify>`, alipaynotify.ErrMalformed},
		{"duplicate", `<notify>` + fields + `<trade_status>TRADE_CLOSED</trade_status></notify>`, alipaynotify.ErrMalformed},
		{"mixed text", `<notify>text` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"namespaced", `<notify xmlns="urn:x">` + fields + `</notify>`, alipaynotify.ErrMalformed},
		{"prefixed", `<notify>` + fields + `<a:subject>x</a:subject></notify>`, alipaynotify.ErrMalformed},
		{"unclosed", `<notify>` + fields, alipaynotify.ErrMalformed},
		{"mismatched", `<notify><out_trade_no>W-1</trade_status></notify>`, alipaynotify.ErrMalformed},
		{"repeats top-level field", `<notify>` + fields + `<sec_id>MD5</sec_id></notify>`, alipaynotify.ErrMalformed},
		{"no out_trade_no", `<notify><trade_status>TRADE_SUCCESS</trade_status>` + env + `</notify>`, alipaynotify.ErrMalformed},
		{"no trade_status", `<notify><out_trade_no>W-1</out_trade_no>` + env + `</notify>`, alipaynotify.ErrMalformed},
		{"bad amount", `<notify>` + fields + `<total_fee>1.001</total_fee></notify>`, alipaynotify.ErrAmount},
		{"bad time", `<notify>` + fields + `<notify_time>yesterday</notify_time></notify>`, alipaynotify.ErrMalformed},
		{"other seller", `<notify>` + fields + `<seller_id>2088999999999999</seller_id></notify>`, alipaynotify.ErrPartner},
		{"other partner", `<notify><partner>2088999999999999</partner>` + fields + `</notify>`, alipaynotify.ErrPartner},
		{"1 MiB", `<notify>` + fields + `<subject>` + strings.Repeat("x", 1<<20) + `</subject></notify>`, alipaynotify.ErrMalformed},
		{"too many elements", `<notify>` + fields + manyElements(300) + `</notify>`, alipaynotify.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := v.VerifyNotify(context.Background(), wapNotifyOf(t, s, tc.doc).Encode())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				eq(t, n.OutTradeNo, "W-1")
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "passwd") || strings.Contains(err.Error(), "lol") {
				t.Errorf("error echoes the document: %v", err)
			}
		})
	}
}

func manyElements(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("<e" + strings.Repeat("x", i%7) + hex.EncodeToString([]byte{byte(i), byte(i >> 8)}) + ">1</e" +
			strings.Repeat("x", i%7) + hex.EncodeToString([]byte{byte(i), byte(i >> 8)}) + ">")
	}
	return b.String()
}

// TestWAPNotifyForm: the five top-level fields, their values and sec_id.
func TestWAPNotifyForm(t *testing.T) {
	v := wapVectorVerifier(t, nil)
	md5Vec := loadWAPVector(t, "synthetic-wap-md5-notify-utf8")
	q, err := url.ParseQuery(md5Vec.FormBody)
	if err != nil {
		t.Fatal(err)
	}
	build := func(edit func(url.Values)) []byte {
		c := url.Values{}
		for k, vs := range q {
			c[k] = append([]string(nil), vs...)
		}
		edit(c)
		return []byte(c.Encode())
	}
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"genuine", build(func(url.Values) {}), nil},
		{"duplicate service", build(func(c url.Values) { c.Add("service", "alipay.wap.trade.create.direct") }), alipaynotify.ErrMalformed},
		{"duplicate notify_data", build(func(c url.Values) { c.Add("notify_data", c.Get("notify_data")) }), alipaynotify.ErrMalformed},
		{"sec_id RSA", build(func(c url.Values) { c.Set("sec_id", "RSA") }), alipaynotify.ErrSignType},
		{"sec_id DSA", build(func(c url.Values) { c.Set("sec_id", "DSA") }), alipaynotify.ErrSignType},
		{"sec_id lower-case md5", build(func(c url.Values) { c.Set("sec_id", "md5") }), alipaynotify.ErrSignType},
		{"sign upper-case hex", build(func(c url.Values) { c.Set("sign", strings.ToUpper(c.Get("sign"))) }), nil},
		{"sign too short", build(func(c url.Values) { c.Set("sign", "abc") }), alipaynotify.ErrSignature},
		{"wrong MD5 key", func() []byte {
			m := wapNotifyOf(t, alipaytest.NewWAPSigner(testPartner, "another-key-another-key-another-k"), md5Vec.Params["notify_data"])
			return m.Encode()
		}(), alipaynotify.ErrSignature},
		{"tampered XML", build(func(c url.Values) {
			c.Set("notify_data", strings.Replace(c.Get("notify_data"), "<total_fee>0.01<", "<total_fee>100.00<", 1))
		}), alipaynotify.ErrSignature},
		{"unescaped XML", build(func(c url.Values) {
			c.Set("notify_data", strings.Replace(c.Get("notify_data"), "&amp;", "&", 1))
		}), alipaynotify.ErrSignature},
		{"sec_id on a return-looking body", build(func(c url.Values) { c.Set("request_token", "requestToken"); c.Set("result", "success") }), nil},
	}
	for _, k := range []string{"service", "v", "sec_id", "notify_data", "sign"} {
		cases = append(cases,
			struct {
				name string
				body []byte
				want error
			}{"missing " + k, build(func(c url.Values) { c.Del(k) }), alipaynotify.ErrMalformed},
			struct {
				name string
				body []byte
				want error
			}{"empty " + k, build(func(c url.Values) { c.Set(k, "") }), alipaynotify.ErrMalformed},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			switch tc.name {
			case "missing sec_id", "missing notify_data", "empty sec_id", "empty notify_data":
				// Without both (an empty parameter is an absent one), the
				// body is not recognised as WAP at all: it falls to the mapi
				// rules, which refuse it for lack of a sign_type.
				tc.want = alipaynotify.ErrSignType
			}
			n, err := v.VerifyNotify(context.Background(), tc.body)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				eq(t, n.OutTradeNo, "WAP20131203000001")
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestWAPExtraTopLevelFields: fields outside the five are unsigned, so they
// are ignored: never in Params, never in a typed field.
func TestWAPExtraTopLevelFields(t *testing.T) {
	v := wapVectorVerifier(t, nil)
	for _, secID := range []alipaytest.SignType{alipaytest.SignMD5, alipaytest.SignWAPRSA} {
		m := wapNotifyOf(t, wapVectorSigner(t, secID), validWAPXML)
		evil := m.Clone()
		for k, val := range map[string]string{
			"out_trade_no": "EVIL", "trade_status": "TRADE_CLOSED", "total_fee": "0.01", "notify_id": "top-level",
			"partner": "2088999999999999", "sign_type": "RSA", "_input_charset": "gbk", "seller_id": "2088999999999999",
		} {
			evil.Params.Set(k, val)
		}
		n, err := v.VerifyNotify(context.Background(), evil.Encode())
		if err != nil {
			t.Fatalf("%s: %v", secID, err)
		}
		eq(t, n.OutTradeNo, "W-1")
		eq(t, n.TradeStatus, alipaynotify.TradeSuccess)
		eq(t, n.TotalAmount.String(), "1.00")
		eq(t, n.NotifyID, "abc")
		eq(t, n.Charset, alipaynotify.UTF8)
		for _, k := range []string{"partner", "sign_type", "_input_charset", "sign"} {
			if _, ok := n.Params.Lookup(k); ok {
				t.Errorf("%s: unsigned %s exposed", secID, k)
			}
		}
	}
}

// TestWAPRSAFailuresIndistinguishable: every way a sec_id=0001 notification
// can fail after its fields are well-formed — ciphertext that is not base64,
// a partial block, a block whose padding fails, a wrong merchant key,
// plaintext that is not UTF-8 (split across blocks), a wrong Alipay key, a
// bad signature — returns exactly ErrSignature, with no detail to tell them
// apart.
func TestWAPRSAFailuresIndistinguishable(t *testing.T) {
	v := wapVectorVerifier(t, nil)
	s := wapVectorSigner(t, alipaytest.SignWAPRSA)
	genuine := wapNotifyOf(t, s, validWAPXML)
	if _, err := v.VerifyNotify(context.Background(), genuine.Encode()); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	ct, err := base64.StdEncoding.DecodeString(genuine.Get("notify_data"))
	if err != nil {
		t.Fatal(err)
	}
	k := s.MerchantKey.PublicKey().Size()
	withCT := func(c []byte) *alipaytest.Message {
		return genuine.Tampered("notify_data", base64.StdEncoding.EncodeToString(c))
	}
	badPadding := append([]byte(nil), ct...)
	copy(badPadding[k:2*k], ct[k:2*k])
	badPadding[k] ^= 0xff // a block that decrypts to garbage padding
	// Two bytes of a three-byte character, inside the trade_status text,
	// straddling blocks 0 and 1 (100-byte chunks): never valid UTF-8.
	notUTF8 := append([]byte(validWAPXML[:99]), 0xe6, 0xb5)
	notUTF8 = append(notUTF8, validWAPXML[99:]...)
	notUTF8Msg := signRawWAP(t, s, notUTF8)
	otherMerchant := *s
	otherMerchant.MerchantKey = alipaytest.WAPMerchantTestKey()
	otherAlipay := *s
	otherAlipay.AlipayKey = alipaytest.WAPAlipayTestKey()

	cases := map[string]*alipaytest.Message{
		"not base64":         genuine.Tampered("notify_data", "!!!!"+genuine.Get("notify_data")[4:]),
		"base64 with spaces": genuine.Tampered("notify_data", genuine.Get("notify_data")[:20]+"\n"+genuine.Get("notify_data")[20:]),
		"unpadded base64":    genuine.Tampered("notify_data", strings.TrimRight(base64.StdEncoding.EncodeToString(ct[:len(ct)-1]), "=")),
		"truncated":          withCT(ct[:len(ct)-1]),
		"one block missing":  withCT(ct[:len(ct)-k]),
		"block appended":     withCT(append(append([]byte(nil), ct...), ct[:k]...)),
		"padding fails":      withCT(badPadding),
		"blocks swapped":     withCT(append(append([]byte(nil), ct[k:2*k]...), append(append([]byte(nil), ct[:k]...), ct[2*k:]...)...)),
		"all zero":           withCT(make([]byte, len(ct))),
		"wrong merchant key": wapNotifyOf(t, &otherMerchant, validWAPXML),
		"not UTF-8 (split)":  notUTF8Msg,
		"wrong Alipay key":   wapNotifyOf(t, &otherAlipay, validWAPXML),
		"bad signature":      genuine.Tampered("sign", base64.StdEncoding.EncodeToString(make([]byte, 128))),
		"signature not b64":  genuine.Tampered("sign", "***"),
	}
	for name, m := range cases {
		_, err := v.VerifyNotify(context.Background(), m.Encode())
		if err != alipaynotify.ErrSignature {
			t.Errorf("%s: err = %#v, want exactly ErrSignature", name, err)
			continue
		}
		var fe *alipaynotify.FieldError
		if errors.As(err, &fe) || err.Error() != alipaynotify.ErrSignature.Error() {
			t.Errorf("%s: error carries detail: %v", name, err)
		}
	}
}

// signRawWAP signs and encrypts arbitrary plaintext bytes, valid UTF-8 or
// not, as a sec_id=0001 notification.
func signRawWAP(t *testing.T, s *alipaytest.WAPSigner, plain []byte) *alipaytest.Message {
	t.Helper()
	content := alipaytest.WAPNotifyContent(alipaytest.WAPService, alipaytest.WAPNotifyVersion, "0001", string(plain))
	sum := sha1.Sum([]byte(content))
	sig, err := rsa.SignPKCS1v15(nil, s.AlipayKey.PrivateKey(), crypto.SHA1, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.EncryptNotifyData(plain)
	if err != nil {
		t.Fatal(err)
	}
	m := wapNotifyOf(t, s, validWAPXML)
	m.Params.Set("sign", base64.StdEncoding.EncodeToString(sig))
	m.Params.Set("notify_data", data)
	return m
}

// TestWAPSplitCharacter: a character split across blocks verifies, whatever
// the chunk size and key size.
func TestWAPSplitCharacter(t *testing.T) {
	doc := `<notify><out_trade_no>W-1</out_trade_no><trade_status>TRADE_SUCCESS</trade_status><subject>` +
		strings.Repeat("黑白象", 40) + `</subject><notify_id>abc</notify_id><notify_type>trade_status_sync</notify_type>` +
		`<notify_time>2013-12-03 10:00:00</notify_time></notify>`
	for _, chunk := range []int{20, 50, 100, 117} { // at most MaxWAPNotifyDataBlocks blocks
		s := alipaytest.NewWAPRSASigner(nil, nil)
		s.ChunkSize = chunk
		v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: s.MerchantPrivateKeyPEM(), PublicKeys: []string{s.AlipayPublicKeyPEM()}}}})
		if err != nil {
			t.Fatal(err)
		}
		n, err := v.VerifyNotify(context.Background(), wapNotifyOf(t, s, doc).Encode())
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		eq(t, n.Subject, strings.Repeat("黑白象", 40))
	}
	// A 2048-bit merchant key: 256-byte blocks.
	s := alipaytest.NewWAPRSASigner(nil, alipaytest.TestKey())
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: alipaytest.TestKey().PrivateKeyPKCS1PEM(), PublicKeys: []string{s.AlipayPublicKeyPEM()}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyNotify(context.Background(), wapNotifyOf(t, s, doc).Encode()); err != nil {
		t.Fatalf("2048-bit merchant key: %v", err)
	}
	// 1 MiB of ciphertext is refused before any decryption.
	big := wapNotifyOf(t, s, doc).Tampered("notify_data", base64.StdEncoding.EncodeToString(make([]byte, 1<<20)))
	if _, err := v.VerifyNotify(context.Background(), big.Encode()); !errors.Is(err, alipaynotify.ErrMalformed) {
		t.Fatalf("1 MiB ciphertext: %v", err)
	}
}

// TestWAPCharset: signed values must be UTF-8.
func TestWAPCharset(t *testing.T) {
	v := wapVectorVerifier(t, nil)
	doc := "<notify><out_trade_no>W-1</out_trade_no><trade_status>TRADE_SUCCESS</trade_status><subject>\xb2\xe2\xca\xd4</subject></notify>"
	content := alipaytest.WAPNotifyContent(alipaytest.WAPService, alipaytest.WAPNotifyVersion, "MD5", doc)
	sum := md5.Sum([]byte(content + wapMD5Key))
	body := "service=" + alipaytest.WAPService + "&sign=" + hex.EncodeToString(sum[:]) + "&sec_id=MD5&v=1.0&notify_data=" + url.QueryEscape(doc)
	if _, err := v.VerifyNotify(context.Background(), []byte(body)); !errors.Is(err, alipaynotify.ErrCharset) {
		t.Fatalf("GBK bytes in notify_data: %v", err)
	}
}

// TestWAPConfig: the WAP options are validated at construction and only the
// configured sec_id values are accepted.
func TestWAPConfig(t *testing.T) {
	rsaVec := loadWAPVector(t, "synthetic-wap-rsa-0001-notify-utf8")
	keys := rsaVec.Keys
	merchant, err := alipaytest.ParseKeyPair(keys.MerchantPrivateKeyPkcs8Pem)
	if err != nil {
		t.Fatal(err)
	}
	good := []struct {
		name string
		opts alipaynotify.Options
	}{
		{"bare base64 PKCS#8", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: keys.MerchantPrivateKeyBareBase64, PublicKeys: []string{keys.AlipayPublicKeyPem}}}}},
		{"PKCS#8 PEM", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: keys.MerchantPrivateKeyPkcs8Pem, PublicKeys: []string{keys.AlipayPublicKeyPem}}}}},
		{"PKCS#1 PEM", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: merchant.PrivateKeyPKCS1PEM(), PublicKeys: []string{keys.AlipayPublicKeyPem}}}}},
		{"bare base64 public key", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: keys.MerchantPrivateKeyBareBase64, PublicKeys: []string{pemBody(keys.AlipayPublicKeyPem)}}}}},
		{"return status finished", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: wapMD5Key, WAP: alipaynotify.WAPOptions{ReturnStatus: alipaynotify.TradeFinished}}}},
	}
	for _, tc := range good {
		if _, err := newVerifier(tc.opts); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	bad := []struct {
		name, field string
		opts        alipaynotify.Options
	}{
		{"private key alone", "Legacy.WAP.PublicKeys", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: keys.MerchantPrivateKeyBareBase64}}}},
		{"public keys alone", "Legacy.WAP.MerchantPrivateKey", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: wapMD5Key, WAP: alipaynotify.WAPOptions{PublicKeys: []string{keys.AlipayPublicKeyPem}}}}},
		{"no partner", "Legacy.Partner", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{WAP: alipaynotify.WAPOptions{MerchantPrivateKey: keys.MerchantPrivateKeyBareBase64, PublicKeys: []string{keys.AlipayPublicKeyPem}}}}},
		{"bad private key", "Legacy.WAP.MerchantPrivateKey", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: "c2VjcmV0LWtleS1tYXRlcmlhbA==", PublicKeys: []string{keys.AlipayPublicKeyPem}}}}},
		{"public key as private", "Legacy.WAP.MerchantPrivateKey", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: keys.AlipayPublicKeyPem, PublicKeys: []string{keys.AlipayPublicKeyPem}}}}},
		{"bad public key", "Legacy.WAP.PublicKeys", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: keys.MerchantPrivateKeyBareBase64, PublicKeys: []string{"nope"}}}}},
		{"return status", "Legacy.WAP.ReturnStatus", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: wapMD5Key, WAP: alipaynotify.WAPOptions{ReturnStatus: alipaynotify.TradeClosed}}}},
	}
	for _, tc := range bad {
		_, err := newVerifier(tc.opts)
		var fe *alipaynotify.FieldError
		if !errors.Is(err, alipaynotify.ErrConfig) || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: err = %v, want ErrConfig on %s", tc.name, err, tc.field)
			continue
		}
		if strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "MIIC") {
			t.Errorf("%s: error quotes the key: %v", tc.name, err)
		}
	}

	// An MD5-only verifier refuses 0001, an 0001-only one refuses MD5.
	md5Only, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: wapMD5Key}})
	if err != nil {
		t.Fatal(err)
	}
	rsaOnly, err := newVerifier(good[0].opts)
	if err != nil {
		t.Fatal(err)
	}
	md5Vec := loadWAPVector(t, "synthetic-wap-md5-notify-utf8")
	for name, c := range map[string]struct {
		v    *alipaynotify.Verifier
		body string
		ret  bool
	}{
		"0001 notify on MD5 only":  {md5Only, rsaVec.FormBody, false},
		"MD5 notify on 0001 only":  {rsaOnly, md5Vec.FormBody, false},
		"0001 return on MD5 only":  {md5Only, loadWAPVector(t, "synthetic-wap-callback-rsa-0001-utf8").Query, true},
		"MD5 return on 0001 only":  {rsaOnly, loadWAPVector(t, "synthetic-wap-callback-md5-utf8").Query, true},
		"notify on the return URL": {md5Only, md5Vec.FormBody, true},
	} {
		_, err := verifyWAPBody(c.v, c.body, c.ret)
		want := alipaynotify.ErrSignType
		if name == "notify on the return URL" {
			want = alipaynotify.ErrMalformed
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
}

func withoutParam(m *alipaytest.Message, key string) string {
	c := m.Clone()
	c.Params.Del(key)
	return c.String()
}

func pemBody(p string) string {
	var b strings.Builder
	for _, line := range strings.Split(p, "\n") {
		if !strings.HasPrefix(line, "-----") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestWAPReturn: call_back_url returns (sorted rule, no status) stand for
// the paid event of the trade.
func TestWAPReturn(t *testing.T) {
	v := wapVectorVerifier(t, nil)
	for _, secID := range []alipaytest.SignType{alipaytest.SignMD5, alipaytest.SignWAPRSA} {
		t.Run(string(secID), func(t *testing.T) {
			s := wapVectorSigner(t, secID)
			ret := s.Return(alipaytest.Fields{"out_trade_no": "W-1"})
			n, err := v.VerifyReturn(context.Background(), ret.String())
			if err != nil {
				t.Fatal(err)
			}
			eq(t, n.Source, alipaynotify.SourceReturn)
			eq(t, n.Protocol, alipaynotify.ProtocolWAP)
			eq(t, n.SignType, alipaynotify.SignType(secID))
			eq(t, n.TradeStatus, alipaynotify.TradeSuccess)
			eq(t, n.StatusInferred, true)
			eq(t, n.TradeNo, ret.Get("trade_no"))
			notify, err := v.VerifyNotify(context.Background(), wapNotifyOf(t, s, validWAPXML).Encode())
			if err != nil {
				t.Fatal(err)
			}
			eq(t, n.Event(), notify.Event()) // the return and the paid notification are one event

			cases := []struct {
				name string
				q    string
				want error
			}{
				{"result fail", s.Return(alipaytest.Fields{"result": "fail"}).String(), alipaynotify.ErrMalformed},
				{"no out_trade_no", s.Return(alipaytest.Fields{"out_trade_no": alipaytest.Omit}).String(), alipaynotify.ErrMalformed},
				{"no sign_type", withoutParam(ret, "sign_type"), alipaynotify.ErrSignType},
				{"sign_type RSA", strings.Replace(ret.String(), "sign_type="+string(secID), "sign_type=RSA", 1), alipaynotify.ErrSignType},
				{"no sign", strings.Replace(ret.String(), "sign=", "sig=", 1), alipaynotify.ErrMalformed},
				{"tampered trade_no", ret.Tampered("trade_no", "2013120331000099").String(), alipaynotify.ErrSignature},
				{"tampered request_token", ret.Tampered("request_token", "other").String(), alipaynotify.ErrSignature},
				{"added field", ret.String() + "&trade_status=TRADE_CLOSED", alipaynotify.ErrSignature},
				{"as a notify", "", alipaynotify.ErrMalformed},
			}
			for _, tc := range cases {
				var err error
				if tc.name == "as a notify" {
					_, err = v.VerifyNotify(context.Background(), ret.Encode())
				} else {
					_, err = v.VerifyReturn(context.Background(), tc.q)
				}
				if !errors.Is(err, tc.want) {
					t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
				}
			}
		})
	}

	// A contract whose payment notification is TRADE_FINISHED.
	fin := wapVectorVerifier(t, func(o *alipaynotify.Options) { o.Legacy.WAP.ReturnStatus = alipaynotify.TradeFinished })
	n, err := fin.VerifyReturn(context.Background(), loadWAPVector(t, "synthetic-wap-callback-rsa-0001-utf8").Query)
	if err != nil {
		t.Fatal(err)
	}
	notify, err := fin.VerifyNotify(context.Background(), []byte(loadWAPVector(t, "synthetic-wap-rsa-0001-notify-utf8").FormBody))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, n.Event(), notify.Event())
}

// TestWAPNotifyVerify: with NotifyVerify on, the XML's notify_id is checked
// remotely and a missing one fails.
func TestWAPNotifyVerify(t *testing.T) {
	gw := alipaytest.NewNotifyVerifyServer()
	t.Cleanup(gw.Close)
	v := wapVectorVerifier(t, func(o *alipaynotify.Options) {
		o.Legacy.NotifyVerify = true
		o.Legacy.NotifyVerifyURL = gw.GatewayURL()
	})
	s := wapVectorSigner(t, alipaytest.SignWAPRSA)
	s.Gateway = gw
	m := s.Notify(alipaytest.Fields{"out_trade_no": "W-7"})
	if _, err := v.VerifyNotify(context.Background(), m.Encode()); err != nil {
		t.Fatalf("registered notify_id: %v", err)
	}
	reqs := gw.Requests()
	if len(reqs) != 1 || reqs[0].Partner != testPartner || reqs[0].NotifyID == "" {
		t.Fatalf("gateway saw %+v", reqs)
	}
	unknown := wapNotifyOf(t, wapVectorSigner(t, alipaytest.SignMD5), validWAPXML)
	if _, err := v.VerifyNotify(context.Background(), unknown.Encode()); !errors.Is(err, alipaynotify.ErrRemoteCheck) {
		t.Errorf("unknown notify_id: %v", err)
	}
	// A notification signs its notify_id: without one it is not taken for
	// a notification at all, before any remote check.
	noID := wapNotifyOf(t, wapVectorSigner(t, alipaytest.SignMD5), `<notify><out_trade_no>W-1</out_trade_no><trade_status>TRADE_SUCCESS</trade_status></notify>`)
	if _, err := v.VerifyNotify(context.Background(), noID.Encode()); !errors.Is(err, alipaynotify.ErrAmbiguous) {
		t.Errorf("missing notify_id: %v", err)
	}
	// Returns carry no notify_id and are not checked remotely.
	if _, err := v.VerifyReturn(context.Background(), s.Return(nil).String()); err != nil {
		t.Errorf("return: %v", err)
	}
}

// TestWAPCheckOrder: the merchant's order check runs on WAP callbacks too.
func TestWAPCheckOrder(t *testing.T) {
	var seen []string
	v := wapVectorVerifier(t, func(o *alipaynotify.Options) {
		o.CheckOrder = func(_ context.Context, n *alipaynotify.Notification) error {
			seen = append(seen, n.OutTradeNo+"/"+n.TotalAmount.String())
			if n.OutTradeNo != "W-1" {
				return errors.New("unknown order")
			}
			return nil
		}
	})
	s := wapVectorSigner(t, alipaytest.SignMD5)
	if _, err := v.VerifyNotify(context.Background(), wapNotifyOf(t, s, validWAPXML).Encode()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyNotify(context.Background(), s.Notify(alipaytest.Fields{"out_trade_no": "W-2"}).Encode()); !errors.Is(err, alipaynotify.ErrOrder) {
		t.Fatalf("unknown order: %v", err)
	}
	if len(seen) != 2 || seen[0] != "W-1/1.00" {
		t.Fatalf("CheckOrder saw %v", seen)
	}
}

// TestWAPSellerIDs: SellerIDs replaces the partner rule for seller_id.
func TestWAPSellerIDs(t *testing.T) {
	v := wapVectorVerifier(t, func(o *alipaynotify.Options) { o.SellerIDs = []string{"2088999999999999"} })
	s := wapVectorSigner(t, alipaytest.SignMD5)
	if _, err := v.VerifyNotify(context.Background(), s.Notify(alipaytest.Fields{"seller_id": "2088999999999999"}).Encode()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyNotify(context.Background(), s.Notify(nil).Encode()); !errors.Is(err, alipaynotify.ErrSellerID) {
		t.Fatalf("seller not listed: %v", err)
	}
}
