package alipaynotify_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// openVerifier verifies the test signer's open-platform callbacks.
func openVerifier(t *testing.T, opts alipaynotify.Options) *alipaynotify.Verifier {
	t.Helper()
	if opts.AppID == "" {
		opts.AppID = alipaytest.DefaultAppID
	}
	opts.AlipayPublicKeys = []string{alipaytest.TestKey().PublicKeyPEM()}
	v, err := newVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fieldOf(err error) string {
	var fe *alipaynotify.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// TestSignedReturnInfersPaid: a verified page-pay return (which carries no
// trade_status) stands for TRADE_SUCCESS, flagged as inferred, and is the
// same event as the payment notification.
func TestSignedReturnInfersPaid(t *testing.T) {
	t.Parallel()
	v := openVerifier(t, alipaynotify.Options{})
	tr := alipaytest.NewSigner(alipaytest.TestKey()).NewTrade("INFER-1", "9.99")
	ret := tr.Return()
	if ret.Get("trade_status") != "" {
		t.Fatal("the test kit's return carries a trade_status")
	}
	n, err := v.VerifyReturn(context.Background(), ret.Request("/return").URL.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	paid, err := v.VerifyNotify(context.Background(), tr.Paid().Encode())
	if err != nil {
		t.Fatal(err)
	}
	if n.TradeStatus != alipaynotify.TradeSuccess || !n.StatusInferred || paid.StatusInferred || n.Event() != paid.Event() {
		t.Fatalf("return: %s inferred %v, event %v; notify event %v", n.TradeStatus, n.StatusInferred, n.Event(), paid.Event())
	}
}

// TestVerifyRules covers the identity and content rules of verification on
// genuinely signed callbacks.
func TestVerifyRules(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	const isv = "2021000000009999"
	voucher := `[{"amount":"1.00","merchantContribute":"0.50","name":"满减","otherContribute":"0.50","type":"ALIPAY_DISCOUNT_VOUCHER","voucherId":"2015102600073002039000002D5O"}]`
	for _, tc := range []struct {
		name   string
		opts   alipaynotify.Options
		fields alipaytest.Fields
		err    error  // nil: accepted
		field  string // the FieldError's field
		check  func(t *testing.T, n *alipaynotify.Notification)
	}{
		{name: "no charset means utf-8", fields: alipaytest.Fields{"charset": alipaytest.Omit, "subject": "中文商品"},
			check: func(t *testing.T, n *alipaynotify.Notification) {
				if n.Charset != alipaynotify.UTF8 || n.Subject != "中文商品" {
					t.Errorf("charset %q subject %q", n.Charset, n.Subject)
				}
			}},
		{name: "unsupported charset", fields: alipaytest.Fields{"charset": "big5"}, err: alipaynotify.ErrCharset, field: "charset"},
		{name: "auth_app_id of another app", fields: alipaytest.Fields{"auth_app_id": isv}, err: alipaynotify.ErrAppID, field: "auth_app_id"},
		{name: "auth_app_id accepted", opts: alipaynotify.Options{AuthAppIDs: []string{isv}}, fields: alipaytest.Fields{"auth_app_id": isv},
			check: func(t *testing.T, n *alipaynotify.Notification) {
				if n.AuthAppID != isv {
					t.Errorf("AuthAppID %q", n.AuthAppID)
				}
			}},
		{name: "app_id of another app", fields: alipaytest.Fields{"app_id": isv, "auth_app_id": isv}, err: alipaynotify.ErrAppID, field: "app_id"},
		{name: "seller not accepted", opts: alipaynotify.Options{SellerIDs: []string{"2088000000000009"}}, err: alipaynotify.ErrSellerID, field: "seller_id"},
		{name: "notify_action_type", fields: alipaytest.Fields{"notify_action_type": "payByAccountAction"},
			check: func(t *testing.T, n *alipaynotify.Notification) {
				if n.NotifyActionType != "payByAccountAction" {
					t.Errorf("NotifyActionType %q", n.NotifyActionType)
				}
			}},
		{name: "voucher_detail_list", fields: alipaytest.Fields{"voucher_detail_list": voucher},
			check: func(t *testing.T, n *alipaynotify.Notification) {
				if len(n.VoucherDetailList) != 1 || n.VoucherDetailList[0]["type"] != "ALIPAY_DISCOUNT_VOUCHER" ||
					n.VoucherDetailList[0]["name"] != "满减" || n.VoucherDetailListRaw != voucher {
					t.Errorf("vouchers %v raw %q", n.VoucherDetailList, n.VoucherDetailListRaw)
				}
			}},
		{name: "voucher_detail_list html-escaped", fields: alipaytest.Fields{"voucher_detail_list": strings.ReplaceAll(voucher, `"`, "&quot;")},
			check: func(t *testing.T, n *alipaynotify.Notification) {
				if len(n.VoucherDetailList) != 1 || n.VoucherDetailList[0]["amount"] != "1.00" || !strings.Contains(n.VoucherDetailListRaw, "&quot;") {
					t.Errorf("vouchers %v raw %q", n.VoucherDetailList, n.VoucherDetailListRaw)
				}
			}},
		{name: "voucher_detail_list malformed", fields: alipaytest.Fields{"voucher_detail_list": `[{"amount":`}, err: alipaynotify.ErrMalformed, field: "voucher_detail_list"},
		{name: "fund_bill_list malformed", fields: alipaytest.Fields{"fund_bill_list": `[{"amount":"1.00"`}, err: alipaynotify.ErrMalformed, field: "fund_bill_list"},
		{name: "fund_bill_list bad amount", fields: alipaytest.Fields{"fund_bill_list": `[{"amount":"1.001","fundChannel":"ALIPAYACCOUNT"}]`}, err: alipaynotify.ErrAmount, field: "fund_bill_list"},
		{name: "fund_bill_list html-escaped", fields: alipaytest.Fields{"fund_bill_list": `[{&quot;amount&quot;:&quot;2.50&quot;,&quot;fundChannel&quot;:&quot;PCREDIT&quot;}]`},
			check: func(t *testing.T, n *alipaynotify.Notification) {
				if len(n.FundBillList) != 1 || n.FundBillList[0].Amount.Fen() != 250 || n.FundBillList[0].FundChannel != "PCREDIT" {
					t.Errorf("fund bills %+v", n.FundBillList)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := openVerifier(t, tc.opts)
			n, err := v.VerifyNotify(context.Background(), s.Notify(tc.fields).Encode())
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if tc.check != nil {
					tc.check(t, n)
				}
				return
			}
			if !errors.Is(err, tc.err) || (tc.field != "" && fieldOf(err) != tc.field) {
				t.Fatalf("err = %v, want %v on %q", err, tc.err, tc.field)
			}
		})
	}
}

// TestSignedInvalidUTF8: a correctly signed utf-8 callback whose bytes are
// not UTF-8 passes the signature (it covers the bytes) and is then refused
// with ErrCharset, not handed over as mojibake.
func TestSignedInvalidUTF8(t *testing.T) {
	t.Parallel()
	m := alipaytest.NewSigner(alipaytest.TestKey()).Notify(alipaytest.Fields{"subject": "placeholder"})
	p := m.Params.Clone()
	p.Set("subject", "\xff\xfe")
	sum := sha256.Sum256([]byte(alipaytest.Content(p, alipaytest.V1, alipaytest.DropEmpty)))
	sig, err := rsa.SignPKCS1v15(nil, alipaytest.TestKey().PrivateKey(), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	p.Set("sign", base64.StdEncoding.EncodeToString(sig))
	var body []string
	for k, v := range p.All() {
		body = append(body, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	_, err = openVerifier(t, alipaynotify.Options{}).VerifyNotify(context.Background(), []byte(strings.Join(body, "&")))
	if !errors.Is(err, alipaynotify.ErrCharset) || errors.Is(err, alipaynotify.ErrSignature) {
		t.Fatalf("err = %v, want ErrCharset", err)
	}
}

// TestLegacySellerMustBePartner: a legacy mapi callback for another seller
// is refused even when correctly signed with the partner's key.
func TestLegacySellerMustBePartner(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewLegacySigner("", "")
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyNotify(context.Background(), s.Notify(nil).Encode()); err != nil {
		t.Fatalf("own seller: %v", err)
	}
	_, err = v.VerifyNotify(context.Background(), s.Notify(alipaytest.Fields{"seller_id": "2088000000009999"}).Encode())
	if !errors.Is(err, alipaynotify.ErrPartner) || fieldOf(err) != "seller_id" {
		t.Fatalf("other seller: %v", err)
	}
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestNotifyVerifyDefaultGateway: without NotifyVerifyURL the remote check
// asks Alipay's own gateway (intercepted here), and only "true" accepts.
func TestNotifyVerifyDefaultGateway(t *testing.T) {
	t.Parallel()
	answer := "true"
	var asked []string
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		asked = append(asked, r.URL.Scheme+"://"+r.URL.Host+r.URL.Path+" service="+r.URL.Query().Get("service")+
			" partner="+r.URL.Query().Get("partner")+" notify_id="+r.URL.Query().Get("notify_id"))
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(answer)), Header: http.Header{}, Request: r}, nil
	})}
	v, err := newVerifier(alipaynotify.Options{
		Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key, NotifyVerify: true, HTTPClient: client},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := alipaytest.NewLegacySigner("", "").Notify(nil)
	if _, err := v.VerifyNotify(context.Background(), m.Encode()); err != nil {
		t.Fatal(err)
	}
	want := alipaynotify.DefaultNotifyVerifyURL + " service=notify_verify partner=" + alipaytest.DefaultPID + " notify_id=" + m.Get("notify_id")
	if len(asked) != 1 || asked[0] != want {
		t.Fatalf("asked %q, want %q", asked, want)
	}
	// "true" alone accepts (surrounding whitespace ignored); anything else
	// refuses.
	for _, answer = range []string{"true\n", " true "} {
		if _, err := v.VerifyNotify(context.Background(), m.Encode()); err != nil {
			t.Errorf("answer %q: %v", answer, err)
		}
	}
	for _, answer = range []string{"false", "TRUE", "", "true true", "invalid", "<html>true</html>"} {
		if _, err := v.VerifyNotify(context.Background(), m.Encode()); !errors.Is(err, alipaynotify.ErrRemoteCheck) {
			t.Errorf("answer %q: err = %v, want ErrRemoteCheck", answer, err)
		}
	}
}
