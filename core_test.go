package alipaynotify_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
)

func TestParseAmount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		fen  int64
		out  string
		fail bool
	}{
		{in: "88.88", fen: 8888, out: "88.88"},
		{in: "0.1", fen: 10, out: "0.10"},
		{in: "100", fen: 10000, out: "100.00"},
		{in: "0.01", fen: 1, out: "0.01"},
		{in: "-5", fen: -500, out: "-5.00"},
		{in: "-0.50", fen: -50, out: "-0.50"},
		{in: "92233720368547758.07", fail: true}, // more than 17 integer digits
		{in: "99999999999999999.99", fail: true},
		{in: "9999999999999999.99", fen: 999999999999999999, out: "9999999999999999.99"},
		{in: "", fail: true},
		{in: "1.", fail: true},
		{in: ".5", fail: true},
		{in: "1.234", fail: true},
		{in: "+1", fail: true},
		{in: "1e3", fail: true},
		{in: " 1", fail: true},
		{in: "1,00", fail: true},
		{in: "-", fail: true},
		{in: "１", fail: true},
	}
	for _, c := range cases {
		a, err := alipaynotify.ParseAmount(c.in)
		if c.fail {
			if err == nil {
				t.Errorf("ParseAmount(%q) = %v, want error", c.in, a)
			}
			continue
		}
		if err != nil || a.Fen() != c.fen || a.String() != c.out {
			t.Errorf("ParseAmount(%q) = %d %q %v, want %d %q", c.in, a.Fen(), a.String(), err, c.fen, c.out)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"2019-08-15 15:56:24":     "2019-08-15T07:56:24Z",
		"2014-11-27 14:15:57.123": "2014-11-27T06:15:57.123Z",
		"2014-11-27 14:15:57.5":   "2014-11-27T06:15:57.5Z",
		"2024-02-29 00:00:00":     "2024-02-28T16:00:00Z",
	}
	for in, want := range good {
		tm, err := alipaynotify.ParseTime(in)
		if err != nil || tm.UTC().Format(time.RFC3339Nano) != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", in, tm, err, want)
		}
		if _, off := tm.Zone(); off != 8*3600 {
			t.Errorf("ParseTime(%q) zone offset %d, want +8h", in, off)
		}
	}
	for _, in := range []string{"", "2019-08-15", "2019-08-15T15:56:24", "2023-02-29 00:00:00", "2019-13-01 00:00:00",
		"2019-08-15 24:00:00", "2019-08-15 15:56:24.", "2019-08-15 15:56:24Z", "２019-08-15 15:56:24"} {
		if _, err := alipaynotify.ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) succeeded, want error", in)
		}
	}
}

// TestChinaTimeIgnoresLocal: parsing must not depend on the machine's zone.
// The test binary runs itself again with TZ set to a zone far from China's,
// rather than changing time.Local under the other tests.
func TestChinaTimeIgnoresLocal(t *testing.T) {
	if os.Getenv("ALIPAYNOTIFY_TZ_CHILD") == "1" {
		if _, off := time.Now().Zone(); off != -7*3600 && off != -8*3600 {
			t.Fatalf("TZ did not take effect: local offset %ds", off)
		}
		tm, err := alipaynotify.ParseTime("2024-01-02 10:00:00")
		if err != nil || tm.Unix() != 1704160800 {
			t.Fatalf("got %v (%d), %v", tm, tm.Unix(), err)
		}
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChinaTimeIgnoresLocal$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ALIPAYNOTIFY_TZ_CHILD=1", "TZ=America/Los_Angeles")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("in TZ=America/Los_Angeles: %v\n%s", err, out)
	}
}

func TestCertSN(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		b, err := os.ReadFile("testdata/certs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for file, want := range map[string]string{
		"appCertPublicKey_2021001161683774.crt": "866efef280dec9137a87d047ac446315",
		"alipayCertPublicKey_RSA2.crt":          "7513daaaa48aa3ba2e4018d84402479c",
	} {
		got, err := alipaynotify.CertSN(read(file))
		if err != nil || got != want {
			t.Errorf("CertSN(%s) = %q, %v; want %q", file, got, err, want)
		}
	}
	got, err := alipaynotify.RootCertSN(read("alipayRootCert.crt"))
	if want := "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"; err != nil || got != want {
		t.Errorf("RootCertSN = %q, %v; want %q", got, err, want)
	}
	// The fixture certificate ships without its intermediate, so it cannot
	// chain to the root bundle: construction must refuse it.
	_, err = newVerifier(alipaynotify.Options{
		AppID:              "2021001161683774",
		AlipayCertificates: []string{read("alipayCertPublicKey_RSA2.crt")},
		AlipayRootCert:     read("alipayRootCert.crt"),
		Now:                func() time.Time { return time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	if !errors.Is(err, alipaynotify.ErrConfig) {
		t.Errorf("unchained certificate: err = %v, want ErrConfig", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	vec := loadVector(t, "synthetic-rsa2-utf8").unambiguous(t)
	cases := map[string]alipaynotify.Options{
		"empty":             {},
		"app id, no key":    {AppID: "2021000000000001"},
		"key, no app id":    {AlipayPublicKeys: []string{vec.PublicKeyPem}},
		"bad key":           {AppID: "1", AlipayPublicKeys: []string{"not a key"}},
		"md5 no partner":    {Legacy: alipaynotify.LegacyOptions{MD5Key: "k"}},
		"bad partner":       {Legacy: alipaynotify.LegacyOptions{Partner: "1234", MD5Key: "k"}},
		"partner no key":    {Legacy: alipaynotify.LegacyOptions{Partner: testPartner}},
		"bad charset":       {Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: "k", Charset: "latin1"}},
		"root without cert": {AppID: "1", AlipayPublicKeys: []string{vec.PublicKeyPem}, AlipayRootCert: "x"},
		"cert without root": {AppID: "1", AlipayCertificates: []string{"x"}},
		"negative params":   {AppID: "1", AlipayPublicKeys: []string{vec.PublicKeyPem}, MaxParams: -1},
	}
	for name, o := range cases {
		if _, err := newVerifier(o); !errors.Is(err, alipaynotify.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
	// The bare base64 form of the console works like PEM.
	bare := strings.Join(strings.Split(strings.TrimSpace(vec.PublicKeyPem), "\n")[1:], "")
	bare = strings.TrimSuffix(bare, "-----END PUBLIC KEY-----")
	v, err := newVerifier(alipaynotify.Options{AppID: "2021000000000001", AlipayPublicKeys: []string{bare}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyNotify(context.Background(), []byte(vec.body())); err != nil {
		t.Fatalf("bare base64 key: %v", err)
	}
}

// TestKeyRotation: any configured key may verify.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	a := loadVector(t, "synthetic-rsa2-utf8").unambiguous(t)
	b := loadVector(t, "nodesdk-trade_status_sync-rsa2-utf8")
	v, err := newVerifier(alipaynotify.Options{AppID: "2021000000000001", AlipayPublicKeys: []string{b.PublicKeyPem, a.PublicKeyPem}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyNotify(context.Background(), []byte(a.body())); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityChecks(t *testing.T) {
	t.Parallel()
	vec := loadVector(t, "synthetic-rsa2-utf8").unambiguous(t)
	ctx := context.Background()
	mk := func(o alipaynotify.Options) *alipaynotify.Verifier {
		o.AlipayPublicKeys = []string{vec.PublicKeyPem}
		v, err := newVerifier(o)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := mk(alipaynotify.Options{AppID: "2021999999999999"}).VerifyNotify(ctx, []byte(vec.body())); !errors.Is(err, alipaynotify.ErrAppID) {
		t.Errorf("wrong app: %v", err)
	}
	if _, err := mk(alipaynotify.Options{AppID: "2021000000000001", SellerIDs: []string{"2088000000000009"}}).VerifyNotify(ctx, []byte(vec.body())); !errors.Is(err, alipaynotify.ErrSellerID) {
		t.Errorf("wrong seller: %v", err)
	}
	var fe *alipaynotify.FieldError
	_, err := mk(alipaynotify.Options{AppID: "2021000000000001", CheckOrder: func(ctx context.Context, n *alipaynotify.Notification) error {
		if n.TotalAmount.String() != "1.00" {
			return &alipaynotify.FieldError{Field: "total_amount", Reason: "does not match the order", Err: alipaynotify.ErrAmount}
		}
		return nil
	}}).VerifyNotify(ctx, []byte(vec.body()))
	if !errors.Is(err, alipaynotify.ErrOrder) || !errors.Is(err, alipaynotify.ErrAmount) || !errors.As(err, &fe) || fe.Field != "total_amount" {
		t.Errorf("order check: %v", err)
	}
	// MD5 callbacks are refused by a verifier configured only for RSA.
	legacy := loadVector(t, "synthetic-legacy-md5-notify-utf8")
	if _, err := mk(alipaynotify.Options{AppID: "2021000000000001"}).VerifyNotify(ctx, []byte(legacy.body())); !errors.Is(err, alipaynotify.ErrSignType) {
		t.Errorf("md5 on rsa verifier: %v", err)
	}
}

// TestBadInput: malformed, hostile and oversized input gives a typed error
// and never a panic; error text never echoes keys or bodies.
func TestBadInput(t *testing.T) {
	t.Parallel()
	vec := loadVector(t, "synthetic-rsa2-utf8").unambiguous(t)
	v, err := newVerifier(alipaynotify.Options{AppID: "2021000000000001", AlipayPublicKeys: []string{vec.PublicKeyPem},
		Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: "0123456789abcdefghijklmnopqrstuv"}})
	if err != nil {
		t.Fatal(err)
	}
	body := vec.body()
	var sb strings.Builder
	for i := 0; i < 10000; i++ {
		sb.WriteString("k")
		sb.WriteString(strings.Repeat("x", i%7))
		sb.WriteString(string(rune('a' + i%26)))
		sb.WriteString("=1&")
	}
	many := sb.String()
	cases := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", alipaynotify.ErrMalformed},
		{"lone percent", body + "&x=%", alipaynotify.ErrMalformed},
		{"bad hex", body + "&x=%zz", alipaynotify.ErrMalformed},
		{"duplicate key", body + "&app_id=2021000000000001", alipaynotify.ErrMalformed},
		{"empty key", body + "&=x", alipaynotify.ErrMalformed},
		{"10000 params", many + body, alipaynotify.ErrMalformed},
		{"megabyte value", body + "&zz=" + strings.Repeat("A", 1<<20), alipaynotify.ErrSignature},
		{"invalid utf-8", strings.Replace(body, "subject=", "subject=%FF%FE", 1), alipaynotify.ErrSignature},
		{"unknown charset", strings.Replace(body, "charset=utf-8", "charset=latin1", 1), alipaynotify.ErrCharset},
		{"no sign", strings.Replace(body, "sign=", "nosign=", 1), alipaynotify.ErrMalformed},
		{"dsa", strings.Replace(body, "sign_type=RSA2", "sign_type=DSA", 1), alipaynotify.ErrSignType},
		{"lowercase rsa2", strings.Replace(body, "sign_type=RSA2", "sign_type=rsa2", 1), alipaynotify.ErrSignType},
		{"sign not base64", strings.Replace(body, "sign=", "sign=%21%21", 1), alipaynotify.ErrSignature},
		{"md5 on open platform", strings.Replace(body, "sign_type=RSA2", "sign_type=MD5", 1), alipaynotify.ErrSignType},
		{"huge sign", body + "&zzz=1", alipaynotify.ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.VerifyNotify(context.Background(), []byte(c.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if len(err.Error()) > 200 || strings.Contains(err.Error(), "0123456789abcdef") {
				t.Fatalf("error text leaks or is unbounded: %q", err.Error())
			}
		})
	}
}

// TestGBKInvalidBytes: a GBK value that is not valid GBK is refused with
// ErrCharset even when it is correctly signed (MD5 over the bytes).
func TestGBKInvalidBytes(t *testing.T) {
	t.Parallel()
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: "k", Charset: alipaynotify.GBK}})
	if err != nil {
		t.Fatal(err)
	}
	// subject=\x81\x20 is an invalid GBK sequence; sign it properly.
	content := "notify_type=trade_status_sync&out_trade_no=X&subject=\x81\x20&trade_status=TRADE_SUCCESS"
	sign := md5hex(content + "k")
	body := "out_trade_no=X&trade_status=TRADE_SUCCESS&notify_type=trade_status_sync&subject=%81+&sign_type=MD5&sign=" + sign
	if _, err := v.VerifyNotify(context.Background(), []byte(body)); !errors.Is(err, alipaynotify.ErrCharset) {
		t.Fatalf("err = %v, want ErrCharset", err)
	}
}

func TestNotifyVerifyRemoteCheck(t *testing.T) {
	t.Parallel()
	vec := loadVector(t, "synthetic-legacy-md5-notify-utf8")
	var answer atomic.Value
	answer.Store("true")
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		q := r.URL.Query()
		if q.Get("service") != "notify_verify" || q.Get("partner") != testPartner || q.Get("notify_id") != "0123456789abcdef0123456789abcdef01" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		a := answer.Load().(string)
		if a == "hang" {
			<-r.Context().Done() // until the client gives up
			return
		}
		w.Write([]byte(a))
	}))
	defer srv.Close()
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: vec.md5Key(), NotifyVerify: true, NotifyVerifyURL: srv.URL, NotifyVerifyTimeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		answer string
		ok     bool
	}{{"true", true}, {"true\n", true}, {"false", false}, {"invalid", false}, {"TRUE", false}, {"not true", false}, {"hang", false}} {
		answer.Store(c.answer)
		_, err := v.VerifyNotify(context.Background(), []byte(vec.body()))
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, alipaynotify.ErrRemoteCheck)) {
			t.Errorf("answer %q: err = %v", c.answer, err)
		}
	}
	// A forged signature never reaches the gateway.
	before := hits.Load()
	if _, err := v.VerifyNotify(context.Background(), []byte(strings.Replace(vec.body(), "total_fee=0.01", "total_fee=9.99", 1))); !errors.Is(err, alipaynotify.ErrSignature) {
		t.Fatalf("forged: %v", err)
	}
	if hits.Load() != before {
		t.Error("a forged callback was sent to notify_verify")
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
