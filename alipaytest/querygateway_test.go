package alipaytest_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// postQuery sends an open-platform query with the given URL parameters and
// biz_content, unsigned unless params holds sign.
func postQuery(ctx context.Context, g *alipaytest.Gateway, params url.Values, biz string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.GatewayURL()+"?"+params.Encode(), strings.NewReader(url.Values{"biz_content": {biz}}.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return g.Client().Do(req)
}

// TestGatewayRefusesUnsignedQuery: a query whose signature does not verify
// under the merchant key gets Alipay's invalid-signature answer, itself
// signed over the response member's text.
func TestGatewayRefusesUnsignedQuery(t *testing.T) {
	t.Parallel()
	g := alipaytest.NewGateway(alipaytest.GatewayOptions{})
	t.Cleanup(g.Close)
	params := url.Values{"app_id": {alipaytest.DefaultAppID}, "method": {alipaytest.MethodTradeQuery}, "sign_type": {"RSA2"}, "sign": {"AAAA"}}
	resp, err := postQuery(context.Background(), g, params, `{"out_trade_no":"X1"}`)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct {
		Response json.RawMessage `json:"alipay_trade_query_response"`
		Sign     string          `json:"sign"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(answer.Response), `"sub_code":"isv.invalid-signature"`) {
		t.Errorf("answer %s", body)
	}
	sig, _ := base64.StdEncoding.DecodeString(answer.Sign)
	sum := sha256.Sum256(answer.Response)
	if err := rsa.VerifyPKCS1v15(alipaytest.TestKey().PublicKey(), crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("answer signature: %v", err)
	}
	reqs := g.Requests()
	if len(reqs) != 1 || reqs[0].SignatureValid || reqs[0].OutTradeNo != "X1" || g.Queries("X1") != 1 || string(reqs[0].Answer) != string(body) {
		t.Errorf("recorded %+v", reqs)
	}
}

// TestGatewayHangEndsOnClose: a hanging gateway releases its requests when
// closed.
func TestGatewayHangEndsOnClose(t *testing.T) {
	t.Parallel()
	g := alipaytest.NewGateway(alipaytest.GatewayOptions{})
	g.SetFault(alipaytest.Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		resp, err := postQuery(ctx, g, url.Values{"method": {alipaytest.MethodTradeQuery}}, `{"out_trade_no":"H1"}`)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for g.Queries("H1") == 0 {
		select {
		case err := <-done:
			t.Fatalf("request ended before Close: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	g.Close()
	if err := <-done; ctx.Err() != nil {
		t.Fatalf("request ended by its own deadline, not by Close: %v", err)
	}
}
