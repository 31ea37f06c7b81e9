package alipaytest_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// legacyVerifier returns a real verifier for the legacy signers' defaults:
// mapi and mobile web MD5, and mobile web sec_id=0001 with the WAP test keys.
func legacyVerifier(t *testing.T) *alipaynotify.Verifier {
	t.Helper()
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{
		Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key,
		WAP: alipaynotify.WAPOptions{
			PublicKeys:         []string{alipaytest.WAPAlipayTestKey().PublicKeyPEM()},
			MerchantPrivateKey: alipaytest.WAPMerchantTestKey().PrivateKeyPKCS8PEM(),
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verified verifies m with v as Alipay's callback of its kind.
func verified(t *testing.T, v *alipaynotify.Verifier, m *alipaytest.Message) *alipaynotify.Notification {
	t.Helper()
	var n *alipaynotify.Notification
	var err error
	if m.Kind == alipaytest.ReturnKind {
		n, err = v.VerifyReturn(t.Context(), m.Request("/return").URL.RawQuery)
	} else {
		n, err = v.VerifyNotify(t.Context(), m.Encode())
	}
	if err != nil {
		t.Fatalf("verify %s: %v", m, err)
	}
	return n
}

// story is one legacy trade told by a trade helper: its messages in order
// and the identity every one of them must carry.
type story struct {
	name                  string
	outTradeNo, tradeNo   string
	amount                string // "" when the return carries none
	notifications         []*alipaytest.Message
	resend                func() *alipaytest.Message // the first state again, new notify_id
	ret                   *alipaytest.Message
	wantStatus            []alipaynotify.TradeStatus
	wantRefund            []bool
	returnCarriesNoAmount bool
}

func legacyStories() []story {
	mapi := alipaytest.NewLegacySigner("", "")
	tr := mapi.NewTrade("L-STORY-1", "100.00")
	mapiStory := story{
		name: "legacy mapi Trade", outTradeNo: tr.OutTradeNo, tradeNo: tr.TradeNo, amount: "100.00",
		notifications: []*alipaytest.Message{tr.Paid(), tr.PartialRefund("R1", "30.00"), tr.FullRefund("R2")},
		resend:        tr.Paid,
		ret:           tr.Return(),
		wantStatus:    []alipaynotify.TradeStatus{alipaynotify.TradeSuccess, alipaynotify.TradeSuccess, alipaynotify.TradeClosed},
		wantRefund:    []bool{false, true, true},
	}
	fin := mapi.NewTrade("L-STORY-2", "5.00")
	finStory := story{
		name: "legacy mapi Trade finished", outTradeNo: fin.OutTradeNo, tradeNo: fin.TradeNo, amount: "5.00",
		notifications: []*alipaytest.Message{fin.Paid(), fin.Finished()},
		resend:        fin.Finished,
		ret:           fin.Return(),
		wantStatus:    []alipaynotify.TradeStatus{alipaynotify.TradeSuccess, alipaynotify.TradeFinished},
		wantRefund:    []bool{false, false},
	}
	out := []story{mapiStory, finStory}
	for _, s := range []struct {
		name, order string
		s           *alipaytest.WAPSigner
	}{
		{"mobile web MD5 WAPTrade", "W-MD5-1", alipaytest.NewWAPSigner("", "")},
		{"mobile web 0001 WAPTrade", "W-0001-1", alipaytest.NewWAPRSASigner(nil, nil)},
	} {
		w := s.s.NewTrade(s.order, "66.60")
		out = append(out, story{
			name: s.name, outTradeNo: w.OutTradeNo, tradeNo: w.TradeNo, amount: "66.60",
			notifications:         []*alipaytest.Message{w.Paid(), w.Finished(), w.RefundSucceeded()},
			resend:                w.Paid,
			ret:                   w.Return(),
			wantStatus:            []alipaynotify.TradeStatus{alipaynotify.TradeSuccess, alipaynotify.TradeFinished, alipaynotify.TradeFinished},
			wantRefund:            []bool{false, false, true},
			returnCarriesNoAmount: true,
		})
	}
	return out
}

// TestLegacyTradeHelpersVerify checks that every message of a legacy mapi
// Trade and of a WAPTrade verifies with a real Verifier and carries the
// trade's out_trade_no, trade_no and amount, each with its own notify_id.
func TestLegacyTradeHelpersVerify(t *testing.T) {
	v := legacyVerifier(t)
	for _, st := range legacyStories() {
		t.Run(st.name, func(t *testing.T) {
			ids := map[string]bool{}
			for i, m := range append(st.notifications, st.resend()) {
				n := verified(t, v, m)
				if n.OutTradeNo != st.outTradeNo || n.TradeNo != st.tradeNo || n.TotalAmount.String() != st.amount {
					t.Errorf("message %d: out_trade_no %q trade_no %q amount %s, want %q %q %s",
						i, n.OutTradeNo, n.TradeNo, n.TotalAmount, st.outTradeNo, st.tradeNo, st.amount)
				}
				if i < len(st.wantStatus) {
					if n.TradeStatus != st.wantStatus[i] || (n.Refund != nil) != st.wantRefund[i] {
						t.Errorf("message %d: status %s refund %v, want %s %v", i, n.TradeStatus, n.Refund != nil, st.wantStatus[i], st.wantRefund[i])
					}
				}
				if ids[n.NotifyID] {
					t.Errorf("message %d: notify_id %s reused", i, n.NotifyID)
				}
				ids[n.NotifyID] = true
			}
			n := verified(t, v, st.ret)
			if n.OutTradeNo != st.outTradeNo || n.TradeNo != st.tradeNo {
				t.Errorf("return: out_trade_no %q trade_no %q", n.OutTradeNo, n.TradeNo)
			}
			if !st.returnCarriesNoAmount && n.TotalAmount.String() != st.amount {
				t.Errorf("return: amount %s, want %s", n.TotalAmount, st.amount)
			}
		})
	}
}

// TestLegacyTradeHelpersRunHandlerOncePerStatus delivers every notification
// of each story twice and a re-send of its first state (new notify_id), in
// parallel, through the middleware: the business handler runs exactly once
// per state.
func TestLegacyTradeHelpersRunHandlerOncePerStatus(t *testing.T) {
	v := legacyVerifier(t)
	for _, st := range legacyStories() {
		t.Run(st.name, func(t *testing.T) {
			mw, err := middleware.New(middleware.Options{Verifier: v})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			runs := map[string]int{}
			h := mw.Notify(middleware.HandlerFunc(func(_ context.Context, n *alipaynotify.Notification) error {
				mu.Lock()
				defer mu.Unlock()
				runs[n.Event().ID()]++
				return nil
			}))
			deliveries := append(append(append([]*alipaytest.Message(nil), st.notifications...), st.notifications...), st.resend())
			var wg sync.WaitGroup
			for _, m := range deliveries {
				wg.Go(func() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, m.Request("/notify"))
					if rec.Body.String() != "success" {
						t.Errorf("%s: answer %d %q", m.Get("trade_status"), rec.Code, rec.Body.String())
					}
				})
			}
			wg.Wait()
			if len(runs) != len(st.notifications) {
				t.Errorf("handler ran for %d states, want %d: %v", len(runs), len(st.notifications), runs)
			}
			for id, n := range runs {
				if n != 1 {
					t.Errorf("state %q handled %d times", id, n)
				}
			}
		})
	}
}

func TestWAPTradeFields(t *testing.T) {
	s := alipaytest.NewWAPSigner("", "")
	s.Now = fixedNow
	tr := s.NewTrade("W-FIELDS", "12.30")
	tr.Extra = alipaytest.Fields{"subject": "中文商品"}
	ret := tr.Return()
	q, err := url.ParseQuery(ret.Request("/r").URL.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("out_trade_no") != "W-FIELDS" || q.Get("trade_no") != tr.TradeNo || q.Has("subject") || q.Has("total_fee") {
		t.Errorf("return: %s", ret)
	}
	for _, m := range []*alipaytest.Message{tr.Paid(), tr.Finished(), tr.RefundSucceeded()} {
		if m.Get("service") != alipaytest.WAPService || m.Get("sec_id") != "MD5" {
			t.Errorf("notification envelope: %s", m)
		}
		xml := m.Get("notify_data")
		for _, want := range []string{"<subject>中文商品</subject>", "<total_fee>12.30</total_fee>", "<price>12.30</price>",
			"<trade_no>" + tr.TradeNo + "</trade_no>", "<gmt_create>" + alipaytest.FormatTime(tr.Created) + "</gmt_create>"} {
			if !strings.Contains(xml, want) {
				t.Errorf("notify_data lacks %s: %s", want, xml)
			}
		}
	}
	for name, f := range map[string]func(){
		"bad amount":      func() { s.NewTrade("X", "1.234") },
		"negative amount": func() { s.NewTrade("X", "-1") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}
