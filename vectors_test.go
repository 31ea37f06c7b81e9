package alipaynotify_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
)

// vector is the subset of a shared/vectors file the tests read.
type vector struct {
	Name                  string            `json:"name"`
	Charset               string            `json:"charset"`
	FormBody              string            `json:"formBody"`
	FormOrQuery           string            `json:"formOrQuery"`
	FormBodyGBK           string            `json:"formBodyGBKPercentEncoded"`
	Query                 string            `json:"query"`
	PublicKeyPem          string            `json:"publicKeyPem"`
	PrivateKeyPem         string            `json:"privateKeyPem"`
	SignType              string            `json:"signType"`
	SignTypeInContent     bool              `json:"signTypeInContent"`
	MD5Key                string            `json:"md5Key"`
	Keys                  map[string]any    `json:"keys"`
	Params                map[string]string `json:"params"`
	ExpectedVerify        any               `json:"expectedVerify"`
	ExpectedDecodedFields map[string]string `json:"expectedDecodedFields"`
	ProposedEventIdentity struct {
		Key string `json:"key"`
	} `json:"proposedEventIdentity"`
}

func loadVector(t testing.TB, name string) vector {
	t.Helper()
	var v vector
	loadJSON(t, name, &v)
	return v
}

func loadJSON(t testing.TB, name string, dst any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, dst); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func (v vector) body() string {
	for _, b := range []string{v.FormBody, v.FormBodyGBK, v.FormOrQuery, v.Query} {
		if b != "" {
			return b
		}
	}
	return ""
}

// ambiguousBody is the body of the synthetic RSA vectors. It has a second
// reading: "&c=" can also be a boundary, after which c takes the parameters
// that sort before "c" (buyer_id, buyer_logon_id, buyer_pay_amount) as its
// text. The verifier refuses it (ErrAmbiguous).
const ambiguousBody = "a=b&c=d"

// unambiguous returns v re-signed with its key, with the body's two pairs
// swapped ("c=d&a=b": "&a=" cannot be a boundary after "body"), so that
// the vector's other checks still run on a callback with '&' and '=' in its
// free text.
func (v vector) unambiguous(t testing.TB) vector {
	t.Helper()
	if v.Params["body"] != ambiguousBody {
		return v
	}
	block, _ := pem.Decode([]byte(v.PrivateKeyPem))
	if block == nil {
		t.Fatalf("%s: no private key", v.Name)
	}
	keyAny, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if keyAny, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	params := maps.Clone(v.Params)
	params["body"] = "c=d&a=b"
	params["sign_type"] = v.SignType
	keys := slices.Sorted(maps.Keys(params))
	var content []string
	for _, k := range keys {
		if k == "sign" || (k == "sign_type" && !v.SignTypeInContent) || params[k] == "" {
			continue
		}
		content = append(content, k+"="+params[k])
	}
	alg, sum := crypto.SHA256, []byte(nil)
	if params["sign_type"] == "RSA" {
		h := sha1.Sum([]byte(strings.Join(content, "&")))
		alg, sum = crypto.SHA1, h[:]
	} else {
		h := sha256.Sum256([]byte(strings.Join(content, "&")))
		sum = h[:]
	}
	sig, err := rsa.SignPKCS1v15(nil, keyAny.(*rsa.PrivateKey), alg, sum)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{}
	for k, val := range params {
		form.Set(k, val)
	}
	form.Set("sign", base64.StdEncoding.EncodeToString(sig))
	out := v
	out.FormBody, out.FormBodyGBK, out.FormOrQuery, out.Query = form.Encode(), "", "", ""
	out.ExpectedDecodedFields = maps.Clone(v.ExpectedDecodedFields)
	if _, ok := out.ExpectedDecodedFields["body"]; ok {
		out.ExpectedDecodedFields["body"] = "c=d&a=b"
	}
	return out
}

func (v vector) md5Key() string {
	if v.MD5Key != "" {
		return v.MD5Key
	}
	k, _ := v.Keys["md5Key"].(string)
	return k
}

const testPartner = "2088000000000001"

// TestVectors runs every file copied from shared/vectors: genuine ones verify
// and decode to the expected UTF-8 fields and event identity, tampered ones
// fail with ErrSignature.
func TestVectors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		appID   string // open platform
		legacy  string // legacy charset, for mapi vectors
		ret     bool   // a return_url query
		wantErr error
		check   func(t *testing.T, n *alipaynotify.Notification)
	}{
		{name: "nodesdk-trade_status_sync-rsa2-utf8", appID: "2019073166072302", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.Subject, "语雀空间 500人规模")
			eq(t, n.TotalAmount.String(), "0.10")
			eq(t, n.TradeStatus, alipaynotify.TradeSuccess)
			eq(t, len(n.FundBillList), 1)
			eq(t, n.FundBillList[0].FundChannel, "ALIPAYACCOUNT")
			eq(t, n.FundBillList[0].Amount, alipaynotify.Amount(10))
			eq(t, n.GmtPayment.Format("2006-01-02 15:04:05 -0700"), "2019-08-15 15:56:24 +0800")
			eq(t, n.Event().String(), "2019073166072302|20190815155618536-564-57|TRADE_SUCCESS||")
		}},
		{name: "nodesdk-trade_status_sync-plus-empty-param", appID: "2019073166072302"},
		{name: "nodesdk-servicemarket_order_notify-rsa2-utf8-signtype-in-content", appID: "2017122801303261", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.NotifyType, "servicemarket_order_notify")
			eq(t, n.Params.Get("title"), "麦禾商城模版")
		}},
		{name: "nodesdk-servicemarket_order_notify-tampered", appID: "2017122801303261", wantErr: alipaynotify.ErrSignature},
		{name: "synthetic-rsa2-utf8", appID: "2021000000000001", check: func(t *testing.T, n *alipaynotify.Notification) {
			if !strings.Contains(n.PassbackParams, "%3d") {
				t.Errorf("passback_params must keep its escapes, got %q", n.PassbackParams)
			}
			dec, err := n.PassbackParamsDecoded()
			if err != nil || !strings.Contains(dec, "=") {
				t.Errorf("PassbackParamsDecoded = %q, %v", dec, err)
			}
		}},
		{name: "synthetic-rsa-sha1-utf8", appID: "2021000000000001", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.SignType, alipaynotify.SignRSA)
		}},
		{name: "synthetic-rsa2-utf8-signtype-in-content", appID: "2021000000000001"},
		{name: "synthetic-rsa2-utf8-empty-value", appID: "2021000000000001"},
		{name: "synthetic-rsa2-utf8-refund-partial", appID: "2021000000000001", check: func(t *testing.T, n *alipaynotify.Notification) {
			if n.Refund == nil || n.Refund.OutBizNo == "" || n.Refund.Fee <= 0 || n.Refund.Time.IsZero() {
				t.Fatalf("refund not parsed: %+v", n.Refund)
			}
			eq(t, n.TradeStatus, alipaynotify.TradeSuccess)
			if !n.Event().IsRefund() {
				t.Error("partial refund must be a refund event")
			}
		}},
		{name: "synthetic-rsa2-utf8-refund-full-closed", appID: "2021000000000001", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.TradeStatus, alipaynotify.TradeClosed)
			if n.Refund == nil {
				t.Fatal("refund not parsed")
			}
		}},
		{name: "synthetic-rsa2-gbk", appID: "2021000000000001", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.Charset, alipaynotify.GBK)
			eq(t, n.Subject, "中文商品 测试")
		}},
		{name: "synthetic-legacy-md5-notify-utf8", legacy: "utf-8", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.Protocol, alipaynotify.ProtocolMapi)
			eq(t, n.Subject, "测试商品")
			eq(t, n.TotalAmount.String(), "0.01")
			eq(t, n.Event().String(), testPartner+"|LEGACY-0001|TRADE_SUCCESS||")
		}},
		{name: "synthetic-legacy-md5-notify-gbk", legacy: "gbk", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.Subject, "测试商品")
		}},
		{name: "synthetic-legacy-md5-return-utf8", legacy: "utf-8", ret: true, check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.Source, alipaynotify.SourceReturn)
			eq(t, n.NotifyID, "RqPnCoPT3K9%2Fvwbh3I%2BFioE227%2BPfNMl8jwyZqMIiXQWxhOCmQ5MQO%2FWd93rvCB%2BaiGg")
		}},
		{name: "synthetic-escrow-a1-wait-seller-send-goods-utf8", legacy: "utf-8"},
		{name: "synthetic-escrow-a1r-wait-seller-send-goods-resent-utf8", legacy: "utf-8"},
		{name: "synthetic-escrow-a2-wait-buyer-confirm-goods-utf8", legacy: "utf-8"},
		{name: "synthetic-escrow-a3-trade-finished-utf8", legacy: "utf-8"},
		{name: "synthetic-escrow-b1-wait-buyer-confirm-goods-gbk", legacy: "gbk"},
		{name: "synthetic-escrow-b2-refund-wait-seller-agree-gbk", legacy: "gbk", check: func(t *testing.T, n *alipaynotify.Notification) {
			eq(t, n.Refund.Status, alipaynotify.RefundWaitSellerAgree)
			eq(t, n.TradeStatus, alipaynotify.WaitBuyerConfirmGoods)
		}},
		{name: "synthetic-escrow-b3-refund-success-trade-closed-gbk", legacy: "gbk"},
		{name: "synthetic-escrow-c1-dual-instant-trade-finished-utf8", legacy: "utf-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vec := loadVector(t, tc.name)
			opts := alipaynotify.Options{}
			if tc.appID != "" {
				opts.AppID = tc.appID
				opts.AlipayPublicKeys = []string{vec.PublicKeyPem}
			} else {
				opts.Legacy.Partner = testPartner
				opts.Legacy.MD5Key = vec.md5Key()
				opts.Legacy.Charset = alipaynotify.Charset(tc.legacy)
			}
			v, err := newVerifier(opts)
			if err != nil {
				t.Fatal(err)
			}
			if vec.Params["body"] == ambiguousBody && tc.wantErr == nil {
				if _, err := v.VerifyNotify(context.Background(), []byte(vec.body())); !errors.Is(err, alipaynotify.ErrAmbiguous) {
					t.Fatalf("body %q: err = %v, want ErrAmbiguous", ambiguousBody, err)
				}
				vec = vec.unambiguous(t)
			}
			var n *alipaynotify.Notification
			if tc.ret {
				n, err = v.VerifyReturn(context.Background(), vec.body())
			} else {
				n, err = v.VerifyNotify(context.Background(), []byte(vec.body()))
			}
			if vec.ExpectedVerify == false && tc.wantErr == nil {
				t.Fatalf("vector expects failure; the case must say which error")
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			for k, want := range vec.ExpectedDecodedFields {
				if got := n.Params.Get(k); got != want && k != "sign" {
					t.Errorf("field %s = %q, want %q", k, got, want)
				}
			}
			if want := vec.ProposedEventIdentity.Key; want != "" {
				eq(t, n.Event().String(), want)
			}
			if tc.check != nil {
				tc.check(t, n)
			}
			// Any change to any signed value must break the signature.
			tamperEach(t, v, vec.body(), tc.ret)
		})
	}
}

// tamperEach flips one character of every value in turn and expects
// ErrSignature each time.
func tamperEach(t *testing.T, v *alipaynotify.Verifier, body string, ret bool) {
	t.Helper()
	pairs := strings.Split(body, "&")
	for i, p := range pairs {
		k, val, _ := strings.Cut(p, "=")
		if k == "sign" || k == "sign_type" || val == "" {
			continue
		}
		tampered := append([]string(nil), pairs...)
		last := val[len(val)-1]
		repl := byte('X')
		if last == 'X' {
			repl = 'Y'
		}
		if strings.HasSuffix(val, "%") || len(val) >= 3 && val[len(val)-3] == '%' {
			tampered[i] = k + "=" + val + "Z"
		} else {
			tampered[i] = k + "=" + val[:len(val)-1] + string(repl)
		}
		b := strings.Join(tampered, "&")
		var err error
		if ret {
			_, err = v.VerifyReturn(context.Background(), b)
		} else {
			_, err = v.VerifyNotify(context.Background(), []byte(b))
		}
		if k == "charset" && errors.Is(err, alipaynotify.ErrCharset) {
			continue // an unknown charset is refused before the signature
		}
		if !errors.Is(err, alipaynotify.ErrSignature) {
			t.Errorf("tampered %s: err = %v, want ErrSignature", k, err)
		}
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}
