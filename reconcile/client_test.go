package reconcile_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// merchantKey is the app key the Gateway checks requests against by default.
func merchantKey() *alipaytest.KeyPair { return alipaytest.SecondTestKey() }

// verifier accepts answers signed with TestKey (open platform) and the
// default partner's MD5 key (legacy).
func verifier(t *testing.T) *alipaynotify.Verifier {
	t.Helper()
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		Legacy:           alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newClient(t *testing.T, g *alipaytest.Gateway, o reconcile.Options) *reconcile.Client {
	t.Helper()
	if o.Verifier == nil {
		o.Verifier = verifier(t)
	}
	o.GatewayURL = g.GatewayURL()
	o.HTTPClient = g.Client()
	if o.Protocol != alipaynotify.ProtocolMapi && o.MerchantPrivateKey == "" {
		o.MerchantPrivateKey = merchantKey().PrivateKeyPKCS8PEM()
	}
	c, err := reconcile.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestQueryTrade drives the client against the fake gateway: every answer
// Alipay can give becomes a Notification or a typed error.
func TestQueryTrade(t *testing.T) {
	t.Parallel()
	legacy := reconcile.Options{Protocol: alipaynotify.ProtocolMapi, MD5Key: alipaytest.DefaultMD5Key}
	tests := []struct {
		name     string
		opts     reconcile.Options
		gwOpts   alipaytest.GatewayOptions
		status   string // "" leaves the trade unknown to the gateway
		fault    alipaytest.Fault
		wantErr  error
		want     alipaynotify.TradeStatus
		wantSign alipaynotify.SignType
	}{
		{name: "paid", status: "TRADE_SUCCESS", want: alipaynotify.TradeSuccess, wantSign: alipaynotify.SignRSA2},
		{name: "paid RSA", opts: reconcile.Options{SignType: alipaynotify.SignRSA}, status: "TRADE_SUCCESS", want: alipaynotify.TradeSuccess, wantSign: alipaynotify.SignRSA},
		{name: "finished", status: "TRADE_FINISHED", want: alipaynotify.TradeFinished, wantSign: alipaynotify.SignRSA2},
		{name: "wait buyer pay", status: "WAIT_BUYER_PAY", want: alipaynotify.WaitBuyerPay, wantSign: alipaynotify.SignRSA2},
		{name: "closed", status: "TRADE_CLOSED", want: alipaynotify.TradeClosed, wantSign: alipaynotify.SignRSA2},
		{name: "not found", wantErr: alipaynotify.ErrTradeNotFound},
		{name: "gateway busy", status: "TRADE_SUCCESS", fault: alipaytest.Fault{Code: "20000", SubCode: "isp.unknow-error", SubMsg: "系统繁忙"}, wantErr: alipaynotify.ErrGateway},
		{name: "business failed", status: "TRADE_SUCCESS", fault: alipaytest.Fault{Code: "40004", SubCode: "ACQ.SYSTEM_ERROR"}, wantErr: alipaynotify.ErrGateway},
		{name: "bad answer signature", status: "TRADE_SUCCESS", fault: alipaytest.Fault{BadSignature: true}, wantErr: alipaynotify.ErrSignature},
		{name: "request signed with a key Alipay does not know", opts: reconcile.Options{MerchantPrivateKey: alipaytest.TestKey().PrivateKeyPKCS1PEM()}, status: "TRADE_SUCCESS", wantErr: alipaynotify.ErrGateway},
		{name: "answer about another order", status: "TRADE_SUCCESS", fault: alipaytest.Fault{AnswerAbout: "OTHER"}, wantErr: alipaynotify.ErrMalformed},
		{name: "HTTP 500", status: "TRADE_SUCCESS", fault: alipaytest.Fault{HTTPStatus: http.StatusInternalServerError}, wantErr: reconcile.ErrHTTPStatus},
		{name: "redirect is not followed", status: "TRADE_SUCCESS", fault: alipaytest.Fault{HTTPStatus: http.StatusFound}, wantErr: reconcile.ErrHTTPStatus},
		{name: "oversize", fault: alipaytest.Fault{Body: []byte(strings.Repeat(" ", alipaynotify.MaxQueryResponseBytes+1))}, wantErr: reconcile.ErrResponseTooLarge},
		{name: "malformed", fault: alipaytest.Fault{Body: []byte(`{"alipay_trade_query_response":`)}, wantErr: alipaynotify.ErrMalformed},
		{name: "timeout", opts: reconcile.Options{Timeout: time.Second}, status: "TRADE_SUCCESS", fault: alipaytest.Fault{Hang: true}, wantErr: reconcile.ErrUnreachable},

		{name: "legacy paid", opts: legacy, status: "TRADE_SUCCESS", want: alipaynotify.TradeSuccess, wantSign: alipaynotify.SignMD5},
		{name: "legacy unsigned answer", opts: legacy, gwOpts: alipaytest.GatewayOptions{UnsignedLegacy: true}, status: "TRADE_FINISHED", want: alipaynotify.TradeFinished},
		{name: "legacy wait buyer pay", opts: legacy, status: "WAIT_BUYER_PAY", want: alipaynotify.WaitBuyerPay, wantSign: alipaynotify.SignMD5},
		{name: "legacy escrow", opts: legacy, status: "WAIT_SELLER_SEND_GOODS", want: alipaynotify.WaitSellerSendGoods, wantSign: alipaynotify.SignMD5},
		{name: "legacy not found", opts: legacy, wantErr: alipaynotify.ErrTradeNotFound},
		{name: "legacy request with a wrong key", opts: reconcile.Options{Protocol: alipaynotify.ProtocolMapi, MD5Key: "wrong"}, status: "TRADE_SUCCESS", wantErr: alipaynotify.ErrGateway},
		{name: "legacy bad answer signature", opts: legacy, status: "TRADE_SUCCESS", fault: alipaytest.Fault{BadSignature: true}, wantErr: alipaynotify.ErrSignature},
		{name: "legacy error", opts: legacy, status: "TRADE_SUCCESS", fault: alipaytest.Fault{SubCode: "ILLEGAL_PARTNER"}, wantErr: alipaynotify.ErrGateway},
		{name: "legacy HTTP 500", opts: legacy, fault: alipaytest.Fault{HTTPStatus: http.StatusInternalServerError}, wantErr: reconcile.ErrHTTPStatus},
		{name: "legacy timeout", opts: reconcile.Options{Protocol: alipaynotify.ProtocolMapi, MD5Key: alipaytest.DefaultMD5Key, Timeout: time.Second}, fault: alipaytest.Fault{Hang: true}, wantErr: reconcile.ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := alipaytest.NewGateway(tt.gwOpts)
			t.Cleanup(g.Close)
			signer := alipaytest.NewSigner(nil)
			if tt.opts.Protocol == alipaynotify.ProtocolMapi {
				signer = alipaytest.NewLegacySigner("", "")
			}
			tr := signer.NewTrade("ORDER-"+strings.ReplaceAll(tt.name, " ", "-"), "66.60")
			if tt.status != "" {
				g.SetStatus(tr, tt.status)
				g.SetStatus(signer.NewTrade("OTHER", "1.00"), "TRADE_SUCCESS")
			}
			g.SetFault(tt.fault)
			c := newClient(t, g, tt.opts)
			n, err := c.QueryTrade(context.Background(), tr.OutTradeNo)
			if got := g.Queries(tr.OutTradeNo); got != 1 {
				t.Errorf("gateway saw %d queries about the order, want 1", got)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.TradeStatus != tt.want || n.SignType != tt.wantSign || n.Source != alipaynotify.SourceQuery || n.OutTradeNo != tr.OutTradeNo ||
				n.TradeNo != tr.TradeNo || n.TotalAmount != alipaynotify.AmountPresent(6660) || n.Protocol != c.Protocol() {
				t.Errorf("got %+v", *n)
			}
			if reqs := g.Requests(); !reqs[0].SignatureValid || reqs[0].HTTPMethod != http.MethodPost {
				t.Errorf("request %+v", reqs[0])
			}
		})
	}
}

// TestQueryTradeCertificateMode: in public-key-certificate mode the query
// sends app_cert_sn and alipay_root_cert_sn computed from the certificates,
// and the answer's alipay_cert_sn picks Alipay's certificate.
func TestQueryTradeCertificateMode(t *testing.T) {
	t.Parallel()
	alipayChain, err := alipaytest.NewCertChain(alipaytest.TestKey(), alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	appChain, err := alipaytest.NewCertChain(merchantKey(), alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(alipayChain.AlipayCertPEM())}, AlipayRootCert: string(alipayChain.RootCertPEM())})
	if err != nil {
		t.Fatal(err)
	}
	g := alipaytest.NewGateway(alipaytest.GatewayOptions{AlipayCertSN: alipayChain.AlipayCertSN(),
		AppCertSN: appChain.AlipayCertSN(), AlipayRootCertSN: alipayChain.RootCertSN()})
	t.Cleanup(g.Close)
	tr := alipaytest.NewSigner(nil).NewTrade("CERT-ORDER", "1.00")
	g.SetStatus(tr, "TRADE_SUCCESS")
	c := newClient(t, g, reconcile.Options{Verifier: v, AppCert: string(appChain.LeafPEM()), AlipayRootCert: string(alipayChain.RootCertPEM())})
	n, err := c.QueryTrade(context.Background(), tr.OutTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	if n.TradeStatus != alipaynotify.TradeSuccess {
		t.Errorf("status %q", n.TradeStatus)
	}
	req := g.Requests()[0]
	if req.Query.Get("app_cert_sn") != appChain.AlipayCertSN() || req.Query.Get("alipay_root_cert_sn") != alipayChain.RootCertSN() || !req.SignatureValid {
		t.Errorf("request %+v", req)
	}
}

// TestQueryRequestShape: the open-platform query carries what the Node SDK
// sends, where it sends it: the common parameters in the URL, biz_content in
// the form body; the timestamp is China time.
func TestQueryRequestShape(t *testing.T) {
	t.Parallel()
	g := alipaytest.NewGateway(alipaytest.GatewayOptions{})
	t.Cleanup(g.Close)
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newClient(t, g, reconcile.Options{Now: func() time.Time { return now }})
	if _, err := c.QueryTrade(context.Background(), "A<&>1"); !errors.Is(err, alipaynotify.ErrTradeNotFound) {
		t.Fatal(err)
	}
	req := g.Requests()[0]
	for k, want := range map[string]string{"app_id": alipaytest.DefaultAppID, "method": "alipay.trade.query", "charset": "utf-8",
		"sign_type": "RSA2", "timestamp": "2024-01-02 11:04:05", "version": "1.0"} {
		if got := req.Query.Get(k); got != want {
			t.Errorf("URL %s = %q, want %q", k, got, want)
		}
	}
	if req.Query.Get("sign") == "" || req.Query.Has("biz_content") || len(req.Form) != 1 || req.Form.Get("biz_content") != `{"out_trade_no":"A<&>1"}` {
		t.Errorf("URL %v, form %v", req.Query, req.Form)
	}

	lg := alipaytest.NewGateway(alipaytest.GatewayOptions{})
	t.Cleanup(lg.Close)
	lc := newClient(t, lg, reconcile.Options{Protocol: alipaynotify.ProtocolMapi, MD5Key: alipaytest.DefaultMD5Key})
	if _, err := lc.QueryTrade(context.Background(), "L1"); !errors.Is(err, alipaynotify.ErrTradeNotFound) {
		t.Fatal(err)
	}
	lreq := lg.Requests()[0]
	if lreq.Method != "single_trade_query" || lreq.Form.Get("partner") != alipaytest.DefaultPID || lreq.Form.Get("sign_type") != "MD5" ||
		lreq.Query.Get("_input_charset") != "utf-8" || !lreq.SignatureValid {
		t.Errorf("legacy request %+v", lreq)
	}
}

// TestQueryTradeContext: the caller's context bounds the query.
func TestQueryTradeContext(t *testing.T) {
	t.Parallel()
	g := alipaytest.NewGateway(alipaytest.GatewayOptions{})
	t.Cleanup(g.Close)
	g.SetFault(alipaytest.Fault{Hang: true})
	c := newClient(t, g, reconcile.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.QueryTrade(ctx, "HANG")
	if !errors.Is(err, reconcile.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "sign=") {
		t.Errorf("error quotes the signed URL: %v", err)
	}
}

// TestNewValidates: New refuses options that cannot work, with a field and a
// reason.
func TestNewValidates(t *testing.T) {
	t.Parallel()
	v := verifier(t)
	openOnly, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	key := merchantKey().PrivateKeyPKCS1PEM()
	tests := []struct {
		name  string
		opts  reconcile.Options
		field string
	}{
		{"no verifier", reconcile.Options{MerchantPrivateKey: key}, "Verifier"},
		{"no key", reconcile.Options{Verifier: v}, "MerchantPrivateKey"},
		{"public key as private", reconcile.Options{Verifier: v, MerchantPrivateKey: merchantKey().PublicKeyPEM()}, "MerchantPrivateKey"},
		{"unknown sign type", reconcile.Options{Verifier: v, MerchantPrivateKey: key, SignType: "MD5"}, "SignType"},
		{"app cert without root", reconcile.Options{Verifier: v, MerchantPrivateKey: key, AppCert: "x"}, "AppCert"},
		{"negative timeout", reconcile.Options{Verifier: v, MerchantPrivateKey: key, Timeout: -1}, "Timeout"},
		{"unknown protocol", reconcile.Options{Verifier: v, Protocol: alipaynotify.ProtocolWAP}, "Protocol"},
		{"legacy without MD5 key", reconcile.Options{Verifier: v, Protocol: alipaynotify.ProtocolMapi}, "MD5Key"},
		{"legacy without partner", reconcile.Options{Verifier: openOnly, Protocol: alipaynotify.ProtocolMapi, MD5Key: "k"}, "Verifier"},
		{"legacy with an RSA key", reconcile.Options{Verifier: v, Protocol: alipaynotify.ProtocolMapi, MD5Key: "k", MerchantPrivateKey: key}, "MerchantPrivateKey"},
		{"open with an MD5 key", reconcile.Options{Verifier: v, MerchantPrivateKey: key, MD5Key: "k"}, "MD5Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reconcile.New(tt.opts)
			var fe *alipaynotify.FieldError
			if !errors.Is(err, alipaynotify.ErrConfig) || !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want ErrConfig on %s", err, tt.field)
			}
		})
	}
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://openapi.alipay.com/gateway.do", true},
		{"https://127.0.0.1:9443/gateway.do", true},
		{"http://127.0.0.1:9090/gateway.do", true},
		{"http://127.8.9.10/gateway.do", true},
		{"http://[::1]:9090/gateway.do", true},
		{"http://localhost:9090/gateway.do", true},
		{"http://LOCALHOST/gateway.do", true},
		{"http://openapi.alipay.com/gateway.do", false},
		{"http://10.0.0.1:9090/gateway.do", false},
		{"http://128.0.0.1/gateway.do", false},
		{"http://[::2]:9090/gateway.do", false},
		{"http://localhost.example.com/gateway.do", false},
		{"http://127.0.0.1.nip.io/gateway.do", false},
		{"http://0.0.0.0:9090/gateway.do", false},
		{"http://user:pw@127.0.0.1/gateway.do", false},
		{"ftp://127.0.0.1/gateway.do", false},
		{"127.0.0.1:9090/gateway.do", false},
		{"/gateway.do", false},
		{"https://", false},
		{"http://:9090/gateway.do", false},
	} {
		for _, o := range []reconcile.Options{
			{Verifier: v, MerchantPrivateKey: key, GatewayURL: tt.url},
			{Verifier: v, Protocol: alipaynotify.ProtocolMapi, MD5Key: "k", GatewayURL: tt.url},
		} {
			_, err := reconcile.New(o)
			var fe *alipaynotify.FieldError
			switch {
			case tt.ok && err != nil:
				t.Errorf("%s (%s): %v", tt.url, o.Protocol, err)
			case !tt.ok && (!errors.As(err, &fe) || fe.Field != "GatewayURL" || !errors.Is(err, alipaynotify.ErrConfig)):
				t.Errorf("%s (%s): err = %v, want ErrConfig on GatewayURL", tt.url, o.Protocol, err)
			case !tt.ok && strings.HasPrefix(tt.url, "http://") && !strings.Contains(err.Error(), "loopback"):
				t.Errorf("%s: %v does not say http is for loopback only", tt.url, err)
			}
		}
	}
	c, err := reconcile.New(reconcile.Options{Verifier: v, MerchantPrivateKey: key})
	if err != nil || c.Protocol() != alipaynotify.ProtocolOpenPlatform {
		t.Fatalf("defaults: %v", err)
	}
	if _, err := c.QueryTrade(context.Background(), "bad no"); !errors.Is(err, alipaynotify.ErrMalformed) {
		t.Errorf("out_trade_no with a space: %v", err)
	}
}

// TestPlainHTTPLoopbackGateway: a Gateway served by a plain-HTTP server of
// its own on loopback (as alipaysim's -gateway does) answers a Client whose
// GatewayURL is http://127.0.0.1:...; requests are checked against the app
// public key alone, and a query signed with another key is refused.
func TestPlainHTTPLoopbackGateway(t *testing.T) {
	t.Parallel()
	g := alipaytest.NewGatewayHandler(alipaytest.GatewayOptions{MerchantPublicKey: merchantKey().PublicKey()})
	t.Cleanup(g.Close)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	if g.Server != nil {
		t.Fatal("a handler gateway has a server of its own")
	}
	gatewayURL := srv.URL + "/gateway.do"
	if !strings.HasPrefix(gatewayURL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want plain http on loopback", gatewayURL)
	}
	g.SetStatus(alipaytest.NewSigner(nil).NewTrade("LOOP-1", "12.34"), "TRADE_SUCCESS")
	v := verifier(t)
	other, err := alipaytest.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		opts   reconcile.Options
		status alipaynotify.TradeStatus
		code   string // the GatewayError's SubCode or Code when refused
	}{
		{"open platform", reconcile.Options{MerchantPrivateKey: merchantKey().PrivateKeyPKCS8PEM()}, alipaynotify.TradeSuccess, ""},
		{"legacy", reconcile.Options{Protocol: alipaynotify.ProtocolMapi, MD5Key: alipaytest.DefaultMD5Key}, alipaynotify.TradeSuccess, ""},
		{"open platform, another app key", reconcile.Options{MerchantPrivateKey: other.PrivateKeyPKCS8PEM()}, "", "isv.invalid-signature"},
		{"legacy, another MD5 key", reconcile.Options{Protocol: alipaynotify.ProtocolMapi, MD5Key: "another-md5-key"}, "", "ILLEGAL_SIGN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Verifier, o.GatewayURL = v, gatewayURL
			c, err := reconcile.New(o)
			if err != nil {
				t.Fatal(err)
			}
			n, err := c.QueryTrade(context.Background(), "LOOP-1")
			if tt.code == "" {
				if err != nil || n.TradeStatus != tt.status || n.TotalAmount.String() != "12.34" || n.Source != alipaynotify.SourceQuery {
					t.Fatalf("QueryTrade = %v, %v", n, err)
				}
				return
			}
			var ge *alipaynotify.GatewayError
			if !errors.As(err, &ge) || (ge.SubCode != tt.code && ge.Code != tt.code) {
				t.Fatalf("QueryTrade = %v, %v; want a GatewayError %s", n, err, tt.code)
			}
		})
	}
	reqs := g.Requests()
	if len(reqs) != len(tests) {
		t.Fatalf("%d requests recorded, want %d", len(reqs), len(tests))
	}
	for i, r := range reqs {
		if r.OutTradeNo != "LOOP-1" || r.Received.IsZero() || (i < 2) != r.SignatureValid {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("GatewayURL of a handler gateway did not panic")
		}
	}()
	_ = g.GatewayURL()
}
