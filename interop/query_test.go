//go:build interop

package interop

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

type requestIn struct {
	Method        string `json:"method"`
	Timestamp     string `json:"timestamp"`
	BizContent    string `json:"bizContent"`
	AppID         string `json:"appId"`
	PrivateKeyPem string `json:"privateKeyPem"`
	SignType      string `json:"signType"`
	AppCertPem    string `json:"appCertPem,omitempty"`
	AlipayCertPem string `json:"alipayCertPem,omitempty"`
	RootCertPem   string `json:"rootCertPem,omitempty"`
	Gateway       string `json:"gateway"`
}

type requestOut struct {
	Params map[string]string `json:"params"`
	URL    string            `json:"url"`
	Body   map[string]string `json:"body"`
	Error  string            `json:"error"`
}

// TestSDKSignsTheSameQuery: for each query the Go client sends, the Node
// SDK's own request signer (util.js sign(), given the same timestamp and
// biz_content) produces the same parameters and the same signature, and
// the SDK's formatUrl puts the same parameters in the URL and in the body.
// PKCS#1 v1.5 signatures are deterministic, so an equal signature means the
// same string-to-sign under the same key. In certificate mode the SDK
// computes app_cert_sn and alipay_root_cert_sn from the certificates itself.
func TestSDKSignsTheSameQuery(t *testing.T) {
	requireSDK(t)
	alipayChain, err := alipaytest.NewCertChain(alipaytest.TestKey(), alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	appKey := alipaytest.SecondTestKey()
	appChain, err := alipaytest.NewCertChain(appKey, alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t)
	certVerifier, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(alipayChain.AlipayCertPEM())}, AlipayRootCert: string(alipayChain.RootCertPEM())})
	if err != nil {
		t.Fatal(err)
	}
	type setup struct {
		name     string
		opts     reconcile.Options
		gw       alipaytest.GatewayOptions
		certMode bool
	}
	setups := []setup{
		{name: "RSA2 PKCS#1", opts: reconcile.Options{Verifier: v, MerchantPrivateKey: appKey.PrivateKeyPKCS1PEM()}},
		{name: "RSA2 PKCS#8", opts: reconcile.Options{Verifier: v, MerchantPrivateKey: appKey.PrivateKeyPKCS8PEM()}},
		{name: "RSA", opts: reconcile.Options{Verifier: v, MerchantPrivateKey: appKey.PrivateKeyPKCS1PEM(), SignType: alipaynotify.SignRSA}},
		{name: "certificate mode", certMode: true,
			opts: reconcile.Options{Verifier: certVerifier, MerchantPrivateKey: appKey.PrivateKeyPKCS1PEM(), AppCert: string(appChain.LeafPEM()), AlipayRootCert: string(alipayChain.RootCertPEM())},
			gw:   alipaytest.GatewayOptions{AlipayCertSN: alipayChain.AlipayCertSN(), AppCertSN: appChain.AlipayCertSN(), AlipayRootCertSN: alipayChain.RootCertSN()}},
	}
	orders := []string{"SDK-1", "A<&>'\"1", "x/y+z%20", "with\\backslash"}
	var cases []requestIn
	var sent []alipaytest.GatewayRequest
	for _, s := range setups {
		g := alipaytest.NewGateway(s.gw)
		t.Cleanup(g.Close)
		o := s.opts
		o.GatewayURL, o.HTTPClient = g.GatewayURL(), g.Client()
		c, err := reconcile.New(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range orders {
			if _, err := c.QueryTrade(context.Background(), out); !errors.Is(err, alipaynotify.ErrTradeNotFound) {
				t.Fatalf("%s %q: %v", s.name, out, err)
			}
		}
		for _, req := range g.Requests() {
			if !req.SignatureValid {
				t.Fatalf("%s: the fake gateway refused the request", s.name)
			}
			in := requestIn{Method: req.Query.Get("method"), Timestamp: req.Query.Get("timestamp"), BizContent: req.Form.Get("biz_content"),
				AppID: alipaytest.DefaultAppID, PrivateKeyPem: o.MerchantPrivateKey, SignType: req.Query.Get("sign_type"), Gateway: g.GatewayURL()}
			if s.certMode {
				in.AppCertPem, in.AlipayCertPem, in.RootCertPem = string(appChain.LeafPEM()), string(alipayChain.AlipayCertPEM()), string(alipayChain.RootCertPEM())
			}
			cases = append(cases, in)
			sent = append(sent, req)
		}
	}
	results := runSDK[requestIn, requestOut](t, "request", cases)
	for i, r := range results {
		req := sent[i]
		if r.Error != "" {
			t.Fatalf("case %d: %s", i, r.Error)
		}
		goParams := map[string]string{}
		for _, vs := range []url.Values{req.Query, req.Form} {
			for k, v := range vs {
				goParams[k] = v[0]
			}
		}
		if !maps.Equal(goParams, r.Params) {
			t.Errorf("case %d (%s): Go sent %v\nSDK signs %v", i, cases[i].BizContent, goParams, r.Params)
		}
		sdkURL, err := url.Parse(r.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := slices.Sorted(maps.Keys(req.Query)), slices.Sorted(maps.Keys(sdkURL.Query())); !slices.Equal(got, want) {
			t.Errorf("case %d: URL parameters %v, SDK %v", i, got, want)
		}
		if got, want := slices.Sorted(maps.Keys(req.Form)), slices.Sorted(maps.Keys(r.Body)); !slices.Equal(got, want) {
			t.Errorf("case %d: body parameters %v, SDK %v", i, got, want)
		}
	}
	t.Logf("%d queries signed identically by the Go client and the SDK", len(results))
}

type responseIn struct {
	Response      map[string]any `json:"response"`
	PrivateKeyPem string         `json:"privateKeyPem"`
	SignType      string         `json:"signType"`
	CertSn        string         `json:"certSn,omitempty"`
}

type responseOut struct {
	Body    string `json:"body"`
	SignStr string `json:"signStr"`
	Error   string `json:"error"`
}

// TestSDKSignedAnswersVerify: answers signed the way the SDK's tests build
// them (the response object JSON.stringify'd and signed), which the SDK's
// checkResponseSign accepts, verify in the library, including a
// certificate-mode answer with alipay_cert_sn; a changed amount does not.
func TestSDKSignedAnswersVerify(t *testing.T) {
	requireSDK(t)
	chain, err := alipaytest.NewCertChain(alipaytest.TestKey(), alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certVerifier, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(chain.AlipayCertPEM())}, AlipayRootCert: string(chain.RootCertPEM())})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t)
	base := func(status string) map[string]any {
		return map[string]any{"code": "10000", "msg": "Success", "buyer_logon_id": "159****5620", "buyer_pay_amount": "88.88",
			"buyer_user_id": alipaytest.DefaultBuyerID, "invoice_amount": "88.88", "out_trade_no": "SDK-ANSWER", "point_amount": "0.00",
			"receipt_amount": "88.88", "send_pay_date": "2024-01-02 10:00:05", "total_amount": "88.88", "trade_no": "2024010222001400001000000001",
			"trade_status": status, "subject": "中文 \"quoted\" <b>&amp; a/b \\ \u2028",
			"fund_bill_list": []any{map[string]any{"amount": "88.88", "fund_channel": "ALIPAYACCOUNT"}}}
	}
	cases := []responseIn{
		{Response: base("TRADE_SUCCESS"), PrivateKeyPem: alipaytest.TestKey().PrivateKeyPKCS1PEM(), SignType: "RSA2"},
		{Response: base("WAIT_BUYER_PAY"), PrivateKeyPem: alipaytest.TestKey().PrivateKeyPKCS1PEM(), SignType: "RSA2"},
		{Response: base("TRADE_CLOSED"), PrivateKeyPem: alipaytest.SecondTestKey().PrivateKeyPKCS1PEM(), SignType: "RSA"},
		{Response: base("TRADE_FINISHED"), PrivateKeyPem: alipaytest.TestKey().PrivateKeyPKCS1PEM(), SignType: "RSA2", CertSn: chain.AlipayCertSN()},
		{Response: map[string]any{"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在", "out_trade_no": "SDK-ANSWER"},
			PrivateKeyPem: alipaytest.TestKey().PrivateKeyPKCS1PEM(), SignType: "RSA2"},
	}
	results := runSDK[responseIn, responseOut](t, "response", cases)
	for i, r := range results {
		if r.Error != "" {
			t.Fatalf("case %d: %s", i, r.Error)
		}
		c := cases[i]
		// The SDK verifies the response member's text as sent: the
		// library's rule (docs/protocol.md, "Trade query").
		if !strings.HasPrefix(r.Body, `{"alipay_trade_query_response":`+r.SignStr+`,`) {
			t.Errorf("case %d: SDK signed substring %q is not the response text", i, r.SignStr)
		}
		verifier := v
		if c.CertSn != "" {
			verifier = certVerifier
		}
		n, err := verifier.VerifyTradeQuery(context.Background(), []byte(r.Body), "SDK-ANSWER")
		if c.Response["code"] != "10000" {
			if !errors.Is(err, alipaynotify.ErrTradeNotFound) {
				t.Errorf("case %d: err = %v, want ErrTradeNotFound", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("case %d: %v\nbody: %s", i, err, r.Body)
		}
		if string(n.TradeStatus) != c.Response["trade_status"] || n.TotalAmount != alipaynotify.AmountPresent(8888) || n.Subject != c.Response["subject"] || string(n.SignType) != c.SignType {
			t.Errorf("case %d: %+v", i, *n)
		}
		tampered := strings.Replace(r.Body, `"total_amount":"88.88"`, `"total_amount":"8.88"`, 1)
		if _, err := verifier.VerifyTradeQuery(context.Background(), []byte(tampered), "SDK-ANSWER"); !errors.Is(err, alipaynotify.ErrSignature) {
			t.Errorf("case %d tampered: %v", i, err)
		}
	}
}

type checkResponseIn struct {
	Body         string `json:"body"`
	PublicKeyPem string `json:"publicKeyPem"`
	SignType     string `json:"signType"`
}

type checkResponseOut struct {
	OK      bool   `json:"ok"`
	SignStr string `json:"signStr"`
	Error   string `json:"error"`
}

// TestGatewayAnswersVerifyInSDK: the fake gateway's answers (alipaytest)
// pass the SDK's checkResponseSign, and its bad-signature answers fail it,
// so the test kit signs answers the way the SDK reads them.
func TestGatewayAnswersVerifyInSDK(t *testing.T) {
	requireSDK(t)
	chain, err := alipaytest.NewCertChain(alipaytest.TestKey(), alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cases []checkResponseIn
	var wantOK []bool
	for _, certSN := range []string{"", chain.AlipayCertSN()} {
		for _, st := range []alipaynotify.SignType{alipaynotify.SignRSA2, alipaynotify.SignRSA} {
			g := alipaytest.NewGateway(alipaytest.GatewayOptions{AlipayCertSN: certSN})
			t.Cleanup(g.Close)
			c, err := reconcile.New(reconcile.Options{Verifier: newVerifier(t), MerchantPrivateKey: alipaytest.SecondTestKey().PrivateKeyPKCS1PEM(),
				SignType: st, GatewayURL: g.GatewayURL(), HTTPClient: g.Client()})
			if err != nil {
				t.Fatal(err)
			}
			s := alipaytest.NewSigner(nil)
			for _, status := range []string{"TRADE_SUCCESS", "WAIT_BUYER_PAY", "TRADE_CLOSED"} {
				tr := s.NewTrade("GW-"+status, "12.30")
				g.SetStatus(tr, status)
				if _, err := c.QueryTrade(context.Background(), tr.OutTradeNo); err != nil {
					t.Fatal(err)
				}
			}
			_, _ = c.QueryTrade(context.Background(), "UNKNOWN")
			g.SetFault(alipaytest.Fault{BadSignature: true})
			_, _ = c.QueryTrade(context.Background(), "GW-TRADE_SUCCESS")
			reqs := g.Requests()
			for i, r := range reqs {
				cases = append(cases, checkResponseIn{Body: string(r.Answer), PublicKeyPem: alipaytest.TestKey().PublicKeyPEM(), SignType: string(st)})
				wantOK = append(wantOK, i < len(reqs)-1)
			}
		}
	}
	results := runSDK[checkResponseIn, checkResponseOut](t, "checkresponse", cases)
	for i, r := range results {
		if r.OK != wantOK[i] {
			t.Errorf("case %d: SDK ok=%v (%s), want %v\nbody: %s", i, r.OK, r.Error, wantOK[i], cases[i].Body)
		}
	}
	t.Logf("%d fake-gateway answers checked by the SDK", len(results))
}
