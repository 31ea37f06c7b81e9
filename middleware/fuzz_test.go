package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// fuzzSigner returns a signer whose output is the same in every process:
// the fuzzing engine runs the target in worker processes, and a corpus entry
// signed with a per-process key (alipaytest.TestKey is generated at random)
// would not verify in another worker or when a crasher is replayed. It uses
// the synthetic vector's published test key and a fixed clock.
func fuzzSigner(tb testing.TB) *alipaytest.Signer {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "synthetic-rsa2-utf8.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var vec struct {
		PrivateKeyPem string `json:"privateKeyPem"`
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		tb.Fatal(err)
	}
	kp, err := alipaytest.ParseKeyPair(vec.PrivateKeyPem)
	if err != nil {
		tb.Fatal(err)
	}
	s := alipaytest.NewSigner(kp)
	now := time.Date(2024, 1, 2, 10, 0, 6, 0, alipaytest.ChinaTime)
	s.Now = func() time.Time { return now }
	return s
}

// signedMeaning is what a signature vouches for: every parameter with a
// non-empty value except sign and sign_type, in key order. Verification may
// accept an unsigned empty parameter (SDKs disagree on whether empty values
// are signed) or another spelling of the same bytes, but never a different
// meaning.
func signedMeaning(p alipaynotify.Params) string {
	var b strings.Builder
	for _, kv := range p {
		if kv.Key == "sign" || kv.Key == "sign_type" || kv.Value == "" {
			continue
		}
		b.WriteString(kv.Key + "=" + kv.Value + "\x00")
	}
	return b.String()
}

// FuzzNotifyHandler sends arbitrary methods, content types and bodies through
// Middleware.Notify with a memory store. The handler must never panic, must
// answer exactly "success" (200) or "fail" (any other status), must answer
// "success" only for a POST whose signed content is one of the genuinely
// signed seeds, and must run the business handler at most once per event.
func FuzzNotifyHandler(f *testing.F) {
	s := fuzzSigner(f)
	ids := alipaytest.Fields{"notify_id": "2024010200222100000000000000000001", "trade_no": "2024010222001468450512505578", "out_trade_no": "FUZZ-1"}
	with := func(extra alipaytest.Fields) alipaytest.Fields {
		f := alipaytest.Fields{}
		for k, v := range ids {
			f[k] = v
		}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	gbk := *s
	gbk.Charset = "gbk"
	keepEmpty := *s
	keepEmpty.EmptyValues = alipaytest.KeepEmpty
	genuine := []*alipaytest.Message{
		s.Notify(with(nil)),
		s.Notify(with(alipaytest.Fields{"subject": "测试 商品 + 100% & more", "passback_params": "a%3Db"})),
		gbk.Notify(with(alipaytest.Fields{"out_trade_no": "FUZZ-GBK", "subject": "测试商品"})),
		keepEmpty.Notify(with(alipaytest.Fields{"out_trade_no": "FUZZ-EMPTY", "body": ""})),
		s.Notify(with(alipaytest.Fields{"out_trade_no": "FUZZ-REFUND", "out_biz_no": "R1", "refund_fee": "10.00",
			"gmt_refund": "2024-01-02 10:00:07.123"})),
		s.Notify(with(alipaytest.Fields{"out_trade_no": "FUZZ-FINISHED", "trade_status": "TRADE_FINISHED", "gmt_close": "2024-01-03 10:00:00"})),
	}

	// The seeds are dated 2024: widen the notification age window, and the
	// retention with it.
	const seedAge = 10 * 365 * 24 * time.Hour
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()},
		MaxNotifyAge: seedAge})
	if err != nil {
		f.Fatal(err)
	}
	meanings := map[string]bool{}
	for _, m := range genuine {
		n, err := v.VerifyNotify(context.Background(), m.Encode())
		if err != nil {
			f.Fatalf("seed does not verify: %v", err)
		}
		meanings[signedMeaning(n.Params)] = true
	}

	const form = "application/x-www-form-urlencoded"
	// Sanity: every genuine seed is acknowledged by a fresh middleware.
	check, err := middleware.New(middleware.Options{Verifier: v, Retention: 2 * seedAge, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	okHandler := check.Notify(middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error { return nil }))
	for i, m := range genuine {
		rec := httptest.NewRecorder()
		okHandler.ServeHTTP(rec, m.Request("/alipay/notify"))
		if rec.Body.String() != "success" {
			f.Fatalf("genuine seed %d answered %q", i, rec.Body.String())
		}
	}
	for _, m := range genuine {
		f.Add(http.MethodPost, form, m.Encode())
		f.Add(http.MethodPost, form+"; charset="+m.Charset, m.Encode())
		f.Add(http.MethodGet, "", m.Encode())
		f.Add(http.MethodPost, form, m.Tampered("total_amount", "0.01").Encode())
	}
	f.Add(http.MethodPost, form, []byte(""))
	f.Add(http.MethodPost, "text/plain", []byte("a=1&b=%E6%B5%8B&c=+&d=%zz&&e"))
	f.Add(http.MethodPost, form, []byte("sign=AAAA&sign_type=RSA2&app_id="+alipaytest.DefaultAppID))
	f.Add(http.MethodPost, "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n"))
	f.Add(http.MethodPut, form, bytes.Repeat([]byte("k=v&"), 300))

	mw, err := middleware.New(middleware.Options{
		Verifier:  v,
		Retention: 2 * seedAge,
		Store:     dedupe.NewMemoryStore(),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	handler := mw.Notify(middleware.HandlerFunc(func(_ context.Context, n *alipaynotify.Notification) error {
		mu.Lock()
		defer mu.Unlock()
		runs[n.Event().String()]++
		if runs[n.Event().String()] > 1 {
			panic("business handler ran twice for " + n.Event().String())
		}
		return nil
	}))

	f.Fuzz(func(t *testing.T, method, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/alipay/notify", bytes.NewReader(body))
		req.Method = method // any string, as a hand-written client or proxy could pass on
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		answer := rec.Body.String()
		switch {
		case answer == "success" && rec.Code == http.StatusOK:
		case answer == "fail" && rec.Code != http.StatusOK:
		default:
			t.Fatalf("answer %d %q, want exactly 200 \"success\" or a non-200 \"fail\"", rec.Code, answer)
		}
		if answer != "success" {
			return
		}
		if method != http.MethodPost {
			t.Fatalf("%q answered success", method)
		}
		n, err := v.VerifyNotify(context.Background(), body)
		if err != nil {
			t.Fatalf("answered success for a body that does not verify: %v", err)
		}
		if !meanings[signedMeaning(n.Params)] {
			keys := make([]string, 0, len(n.Params))
			for _, p := range n.Params {
				keys = append(keys, p.Key)
			}
			slices.Sort(keys)
			t.Fatalf("answered success for content no seed signed (keys %v)", keys)
		}
	})
}
