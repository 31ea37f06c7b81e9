package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

const md5Key = "cli-test-md5-key-0000000000000000"

// shop is a merchant built with the real middleware; its handler fails
// while fail is set and counts successful runs per event.
type shop struct {
	*httptest.Server
	mu   sync.Mutex
	fail bool
	runs map[string]int
}

func newShop(t *testing.T, fail bool) *shop {
	t.Helper()
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		Legacy:           alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: md5Key, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: alipaytest.WAPMerchantTestKey().PrivateKeyPKCS8PEM(), PublicKeys: []string{alipaytest.WAPAlipayTestKey().PublicKeyPEM()}}},

		// Mobile web sec_id=0001: the merchant decrypts notify_data.

	})
	if err != nil {
		t.Fatal(err)
	}
	store := dedupe.NewMemoryStore()
	t.Cleanup(func() { store.Close() })
	mw, err := middleware.New(middleware.Options{Verifier: v, Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := &shop{fail: fail, runs: map[string]int{}}
	business := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail {
			return errors.New("database down")
		}
		s.runs[n.Event().String()]++
		return nil
	})
	mux := http.NewServeMux()
	mux.Handle("/alipay/notify", mw.Notify(business))
	mux.Handle("/alipay/return", mw.Return(business, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("thanks"))
	})))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// keyFile writes the test key as a PEM file.
func keyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "alipay.pem")
	if err := os.WriteFile(path, []byte(alipaytest.TestKey().PrivateKeyPKCS1PEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestAllAcknowledged(t *testing.T) {
	s := newShop(t, false)
	code, out, errOut := runCLI(t, "-url", s.URL, "-key", keyFile(t), "-speed", "360000", "-seed", "7",
		"-trades", "6", "-story", "mixed", "-refunds", "-dup", "2", "-race-return", "-out-of-order", "-lost-acks", "1",
		"-hostile", "-charset", "gbk", "-oversize", "100000")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "PASS — notifications") || !strings.Contains(out, "hostile 5/5 refused") {
		t.Fatalf("stdout:\n%s", out)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ev, n := range s.runs {
		if n != 1 {
			t.Errorf("%s handled %d times", ev, n)
		}
	}
}

// TestLegacyFlows: -story mixed with MD5 tells the escrow stories too, and
// mobile web trades are signed with -md5-key (WAP_MD5) or with -wap-key and
// encrypted to -merchant-pubkey (WAP_0001); every event is handled once.
func TestLegacyFlows(t *testing.T) {
	s := newShop(t, false)
	dir := t.TempDir()
	wapKey := filepath.Join(dir, "alipay_wap.pem")
	merchantPub := filepath.Join(dir, "merchant_pub.pem")
	os.WriteFile(wapKey, []byte(alipaytest.WAPAlipayTestKey().PrivateKeyPKCS8PEM()), 0o600)
	os.WriteFile(merchantPub, []byte(alipaytest.WAPMerchantTestKey().PublicKeyPEM()), 0o644)
	// A different -seed per run: the same seed would reuse order numbers,
	// and the shop would rightly refuse a second trade_no for them.
	for i, args := range [][]string{
		{"-sign-type", "MD5", "-story", "mixed", "-trades", "8", "-dup", "1", "-race-return", "-out-of-order"},
		{"-sign-type", "WAP_MD5", "-story", "mixed", "-trades", "2", "-dup", "2", "-race-return", "-hostile"},
		{"-sign-type", "WAP_0001", "-story", "finished", "-trades", "2", "-dup", "1", "-race-return",
			"-wap-key", wapKey, "-merchant-pubkey", merchantPub},
	} {
		s.mu.Lock()
		before := len(s.runs)
		s.mu.Unlock()
		code, out, errOut := runCLI(t, append([]string{"-url", s.URL, "-md5-key", md5Key, "-speed", "360000", "-seed", strconv.Itoa(3 + i), "-table", "all"}, args...)...)
		if code != exitOK {
			t.Fatalf("%q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
		}
		s.mu.Lock()
		handled := len(s.runs) - before
		s.mu.Unlock()
		var want int
		switch args[1] {
		case "MD5": // paid (made finished by -out-of-order) 2, finished 2, closed 1, partial 2, full 2,
			// escrow finished 4, escrow refunded 5, dual instant 2
			want = 2 + 2 + 1 + 2 + 2 + 4 + 5 + 2
			if !strings.Contains(out, "WAIT_SELLER_SEND_GOODS") || !strings.Contains(out, "refund WAIT_SELLER_AGREE") {
				t.Errorf("no escrow steps in the report:\n%s", out)
			}
		case "WAP_MD5":
			want = 1 + 2
		case "WAP_0001":
			want = 2 + 2
		}
		if handled != want {
			t.Errorf("%q: %d events handled, want %d\n%s", args, handled, want, out)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ev, n := range s.runs {
		if n != 1 {
			t.Errorf("%s handled %d times", ev, n)
		}
	}
}

// TestNeverAcknowledgedExit1: a merchant that always fails gets Alipay's 8
// tries and alipaysim exits 1.
func TestNeverAcknowledgedExit1(t *testing.T) {
	s := newShop(t, true)
	code, out, errOut := runCLI(t, "-url", s.URL, "-key", keyFile(t), "-speed", "360000", "-json")
	if code != exitFail {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Passed  bool `json:"passed"`
		Results []struct {
			Acknowledged bool `json:"acknowledged"`
			Attempts     int  `json:"attempts"`
			Answers      []struct {
				ScheduledNS int64  `json:"scheduled_ns"`
				Body        string `json:"body"`
			} `json:"answers"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r := rep.Results[0]
	if rep.Passed || r.Acknowledged || r.Attempts != 8 || r.Answers[7].Body != "fail" {
		t.Fatalf("%s", out)
	}
	// A table run says so too.
	code, out, _ = runCLI(t, "-url", s.URL, "-key", keyFile(t), "-speed", "360000", "-schedule", "0,1m")
	if code != exitFail || !strings.Contains(out, "NOT ACKNOWLEDGED") || !strings.Contains(out, `500 "fail" ×2`) {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestScenarioFile(t *testing.T) {
	s := newShop(t, false)
	dir := t.TempDir()
	good := filepath.Join(dir, "day.json")
	os.WriteFile(good, []byte(`{
  "name": "cli",
  "trades": [
    {"story": "partial_refund", "refunds": ["1.00"], "race_return": true},
    {"story": "paid", "sign_type": "MD5", "subject": "中文", "charset": "gbk", "repeat": 2}
  ],
  "hostile": ["garbage_body"]
}`), 0o644)
	code, out, errOut := runCLI(t, "-url", s.URL, "-key", keyFile(t), "-md5-key", md5Key, "-speed", "360000", "-scenario", good)
	// The merchant expects utf-8 legacy callbacks: gbk MD5 ones fail
	// verification, so this run must fail...
	if code != exitFail || !strings.Contains(out, "cli: FAIL") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// ...and with utf-8 it passes.
	os.WriteFile(good, []byte(`{"name": "cli", "trades": [{"story": "paid", "sign_type": "MD5", "repeat": 2}], "hostile": ["garbage_body"]}`), 0o644)
	code, out, errOut = runCLI(t, "-url", s.URL, "-md5-key", md5Key, "-speed", "360000", "-scenario", good)
	if code != exitOK || !strings.Contains(out, "cli: PASS") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"trades": [{"story": "paid", "duplicates": "two"}]}`), 0o644)
	code, _, errOut = runCLI(t, "-url", s.URL, "-key", keyFile(t), "-scenario", bad)
	if code != exitUsage || !strings.Contains(errOut, "scenario "+bad+": trades.duplicates (line 1, column") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	key := keyFile(t)
	scenario := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(scenario, []byte(`{"trades": [{"story": "paid"}]}`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-url is required"},
		{[]string{"-url", "ftp://x", "-key", key}, `-url "ftp://x" is not an http(s) URL`},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-url", "http://127.0.0.1:1", "extra"}, `unexpected argument "extra"`},
		{[]string{"-url", "http://127.0.0.1:1"}, "RSA2 needs Alipay's private key: pass -key FILE or -genkey"},
		{[]string{"-url", "http://127.0.0.1:1", "-sign-type", "MD5"}, "pass -md5-key"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-story", "payed"}, `-story: unknown story "payed"`},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-charset", "big5"}, `-charset: unsupported charset "big5"`},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-refunds", "-refund-amounts", "50,50"}, "-refund-amounts: partial refunds reach the amount"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-speed", "0"}, "-speed must be positive"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-schedule", "0,2x"}, "-schedule: schedule item 2"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-scenario", scenario, "-trades", "3"}, "-trades cannot be combined with -scenario"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-scenario", scenario + ".missing"}, "no such file"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", scenario}, "not an RSA private key"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-genkey"}, "-genkey and -key exclude each other"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-return-path", "", "-race-return"}, "needs a return URL: set -return-path"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-table", "some"}, "-table: want auto"},
		{[]string{"-url", "http://127.0.0.1:1", "-sign-type", "WAP_0001"}, "WAP_0001 needs Alipay's WAP private key and the merchant's public key: pass -wap-key FILE and -merchant-pubkey FILE"},
		{[]string{"-url", "http://127.0.0.1:1", "-md5-key", "k", "-sign-type", "WAP_MD5", "-story", "escrow_finished"}, "-sign-type: the escrow_finished story is a legacy escrow trade, signed with MD5 only"},
		{[]string{"-url", "http://127.0.0.1:1", "-merchant-pubkey", key}, "-merchant-pubkey " + key + ": not an RSA public key"},
		{[]string{"-url", "http://127.0.0.1:1", "-md5-key", "k", "-story", "escrow_refunded", "-refunds"}, "-refunds does not go with -story escrow_refunded"},
		{[]string{"-url", "http://127.0.0.1:1", "-story", "dual_instant"}, "MD5 needs the partner's MD5 key: pass -md5-key"},
		{[]string{"-url", "http://127.0.0.1:1", "-wap-key", scenario}, "-wap-key " + scenario + ": not an RSA private key"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-gateway", "127.0.0.1:0"}, "-gateway needs -app-pubkey FILE"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-app-pubkey", key}, "-app-pubkey " + key + ": not an RSA public key"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-app-pubkey", pubFile(t)}, "-app-pubkey goes with -gateway"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-app-pubkey", scenario + ".missing"}, "-app-pubkey: open"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-lose-notifies", "30m", "-race-return"}, "-lose-notifies and -race-return exclude each other"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-lose-notifies", "-1m"}, "-lose-notifies: must not be negative"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-lose-notifies", "30h"}, "lose_notifies: 30h0m0s is longer than the schedule's last try"},
		{[]string{"-url", "http://127.0.0.1:1", "-key", key, "-orders-file", filepath.Join(scenario, "x")}, "-orders-file: open"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	code, _, errOut := runCLI(t, "-help")
	for _, want := range []string{"Usage:", "Example", "-speed", "-genkey", `"trades": [`, "Exit status: 0"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code != exitOK {
		t.Errorf("exit %d", code)
	}
}

func TestGenkey(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "alipay.pem"), filepath.Join(dir, "alipay_pub.pem")
	code, out, errOut := runCLI(t, "-genkey", "-key-out", priv, "-pubkey-out", pub)
	if code != exitOK || !strings.HasPrefix(out, "-----BEGIN PUBLIC KEY-----") || errOut != "" {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(pub); string(b) != out {
		t.Errorf("public key file differs from the printed key")
	}
	k, err := alipaytest.ParseKeyPair(string(must(os.ReadFile(priv))))
	if err != nil || k.PublicKeyPEM() != out || k.PrivateKey().N.BitLen() != 2048 {
		t.Fatalf("private key file: %v", err)
	}
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode())
	}

	// The saved key signs a run against a merchant configured with the
	// printed public key.
	v, _ := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{out}})
	mw, _ := middleware.New(middleware.Options{Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(mw.Notify(middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error { return nil })))
	defer srv.Close()
	code, out, errOut = runCLI(t, "-url", srv.URL, "-notify-path", "/", "-return-path", "", "-key", priv, "-speed", "360000", "-trades", "3")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// -genkey with -url signs the run with the new key, printing it on
	// stderr; this merchant does not know it, so every try is refused.
	code, out, errOut = runCLI(t, "-genkey", "-url", srv.URL, "-notify-path", "/", "-speed", "360000", "-schedule", "0,1m")
	if code != exitFail || !strings.Contains(errOut, "-----BEGIN PUBLIC KEY-----") || !strings.Contains(out, `400 "fail" ×2`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// Without -key-out, alipaysim warns that the key is lost.
	_, _, errOut = runCLI(t, "-genkey")
	if !strings.Contains(errOut, "the private key was not saved") {
		t.Errorf("stderr %q", errOut)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLoseNotifiesWithGateway: with -gateway, -lose-notifies and
// -orders-file, a merchant whose Reconciler asks the gateway about the
// orders of the book finds every payment by query; the late notifications
// come back "success" and the handler ran once per event, by query. A run
// without a reconciling merchant fails.
func TestLoseNotifiesWithGateway(t *testing.T) {
	dir := t.TempDir()
	appPub := filepath.Join(dir, "app_public.pem")
	orders := filepath.Join(dir, "orders.txt")
	os.WriteFile(appPub, []byte(alipaytest.SecondTestKey().PublicKeyPEM()), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	v, _ := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()}})
	mw, _ := middleware.New(middleware.Options{Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	var mu sync.Mutex
	sources := map[string][]string{}
	business := middleware.HandlerFunc(func(_ context.Context, n *alipaynotify.Notification) error {
		mu.Lock()
		defer mu.Unlock()
		sources[n.OutTradeNo] = append(sources[n.OutTradeNo], string(n.Source))
		return nil
	})
	srv := httptest.NewServer(mw.Notify(business))
	defer srv.Close()
	client, err := reconcile.New(reconcile.Options{Verifier: v, MerchantPrivateKey: alipaytest.SecondTestKey().PrivateKeyPKCS8PEM(),
		GatewayURL: "http://" + addr + "/gateway.do"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := reconcile.NewReconciler(reconcile.ReconcilerOptions{Middleware: mw, Business: business, Querier: client,
		Pending: func(context.Context) ([]string, error) {
			b, err := os.ReadFile(orders)
			var out []string
			for _, l := range strings.Split(string(b), "\n") {
				if no, _, ok := strings.Cut(l, " "); ok {
					out = append(out, no)
				}
			}
			return out, err
		},
		Interval: 30 * time.Millisecond, Rate: 1000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	code, out, errOut := runCLI(t, "-url", srv.URL, "-notify-path", "/", "-return-path", "", "-key", keyFile(t), "-app-pubkey", appPub,
		"-gateway", addr, "-orders-file", orders, "-lose-notifies", "30m", "-trades", "3", "-speed", "3600", "-seed", "5", "-table", "all")
	stop()
	<-done
	if code != exitOK || !strings.Contains(errOut, "trade-query gateway at http://"+addr+"/gateway.do") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Count(out, "4 tries lost, found by query at") != 3 || !strings.Contains(out, "3/3 found by query first") {
		t.Errorf("report:\n%s", out)
	}
	book, _ := os.ReadFile(orders)
	mu.Lock()
	if len(sources) != 3 || strings.Count(string(book), " 88.88\n") != 3 {
		t.Errorf("handled %v; order book:\n%s", sources, book)
	}
	for order, s := range sources {
		if len(s) != 1 || s[0] != "query" || !strings.Contains(string(book), order+" 88.88\n") {
			t.Errorf("%s handled by %v", order, s)
		}
	}
	mu.Unlock()

	// Nobody asks: the late notifications are handled, but the run fails.
	code, out, errOut = runCLI(t, "-url", srv.URL, "-notify-path", "/", "-return-path", "", "-key", keyFile(t), "-app-pubkey", appPub,
		"-gateway", addr, "-lose-notifies", "30m", "-speed", "3600", "-seed", "6")
	if code != exitFail || !strings.Contains(out, "NOT FOUND BY QUERY") || !strings.Contains(out, "0/1 found by query first") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// pubFile writes the second test key's public half as a PEM file.
func pubFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app_public.pem")
	if err := os.WriteFile(path, []byte(alipaytest.SecondTestKey().PublicKeyPEM()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
