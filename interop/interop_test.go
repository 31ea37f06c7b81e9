//go:build interop

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// corpusSize and corpusSeed fix the generated corpus: the same cases on
// every run and machine.
const (
	corpusSize = 200
	corpusSeed = 20240102
)

// sdkCase is one generated notification, unsigned.
type sdkCase struct {
	name     string
	signType alipaytest.SignType
	params   *alipaytest.WireParams // wire order, no sign/sign_type
	hasEmpty bool
}

func (c *sdkCase) key() *alipaytest.KeyPair {
	if c.signType == alipaytest.SignRSA {
		return alipaytest.SecondTestKey()
	}
	return alipaytest.TestKey()
}

// requireSDK skips (or, under CI, fails) when node or the installed SDK is
// missing. The test runs in the package directory, interop/.
func requireSDK(t *testing.T) {
	t.Helper()
	_, errNode := exec.LookPath("node")
	_, errSDK := os.Stat("node_modules/alipay-sdk/package.json")
	if errNode == nil && errSDK == nil {
		return
	}
	msg := fmt.Sprintf("interop test needs node and interop/node_modules (cd interop && npm ci): node: %v, sdk: %v", errNode, errSDK)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// runSDK runs `node sdk.mjs cmd` once with the whole batch.
func runSDK[C, R any](t *testing.T, cmd string, cases []C) []R {
	t.Helper()
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "node", "sdk.mjs", cmd)
	c.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("node sdk.mjs %s: %v\n%s", cmd, err, stderr.String())
	}
	var out []R
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node sdk.mjs %s: bad output: %v", cmd, err)
	}
	if len(out) != len(cases) {
		t.Fatalf("node sdk.mjs %s: %d results for %d cases", cmd, len(out), len(cases))
	}
	return out
}

type signIn struct {
	Pairs         [][2]string `json:"pairs"`
	PrivateKeyPem string      `json:"privateKeyPem"`
	SignType      string      `json:"signType"`
}

type signOut struct {
	Body    string `json:"body"`
	Content string `json:"content"`
	Sign    string `json:"sign"`
	Error   string `json:"error"`
}

type verifyIn struct {
	Body         string `json:"body"`
	PublicKeyPem string `json:"publicKeyPem"`
}

type verifyOut struct {
	OK        bool   `json:"ok"`
	ContentV1 string `json:"contentV1"`
	Threw     string `json:"threw"`
	Error     string `json:"error"`
}

func pairsOf(p *alipaytest.WireParams) [][2]string {
	var out [][2]string
	for k, v := range p.All() {
		out = append(out, [2]string{k, v})
	}
	return out
}

func newVerifier(t *testing.T) *alipaynotify.Verifier {
	t.Helper()
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID: alipaytest.DefaultAppID,
		// One PEM and one bare base64, as merchants paste them.
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM(), alipaytest.SecondTestKey().PublicKeyBase64()},
		// The corpus is dated 2024-01-02: its age is not what is tested here.
		MaxNotifyAge: 100 * 365 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSDKSignsGoVerifies is direction A: the official SDK signs (its own
// content builder, its own algorithm mapping), our verifier must accept the
// body it serialises, and must reject it once one value is changed.
func TestSDKSignsGoVerifies(t *testing.T) {
	requireSDK(t)
	corpus := generateCorpus()
	in := make([]signIn, len(corpus))
	for i, c := range corpus {
		pem := c.key().PrivateKeyPKCS8PEM()
		if i%2 == 1 {
			pem = c.key().PrivateKeyPKCS1PEM()
		}
		in[i] = signIn{Pairs: pairsOf(c.params), PrivateKeyPem: pem, SignType: string(c.signType)}
	}
	signed := runSDK[signIn, signOut](t, "sign", in)
	v := newVerifier(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(corpusSeed, 2))

	for i, c := range corpus {
		out := signed[i]
		t.Run(c.name, func(t *testing.T) {
			if out.Error != "" {
				t.Fatalf("SDK could not sign: %s", out.Error)
			}
			// Our rule for the same content (keep-empty, as the SDK signs).
			if want := alipaytest.Content(c.params, alipaytest.V1, alipaytest.KeepEmpty); out.Content != want {
				t.Fatalf("SDK content differs from alipaytest's keep-empty content:\n sdk %s\n  go %s", out.Content, want)
			}
			n, err := v.VerifyNotify(ctx, []byte(out.Body))
			if field, ambiguous := secondReading(c.params); ambiguous {
				// The SDK signs it; the string-to-sign has a second reading
				// there, so the verifier must refuse it.
				if !errors.Is(err, alipaynotify.ErrAmbiguous) {
					t.Fatalf("%s holds a parameter boundary: err = %v, want ErrAmbiguous", field, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("verifier rejects an SDK-signed body: %v\nbody: %s", err, out.Body)
			}
			if n.OutTradeNo != c.params.Get("out_trade_no") {
				t.Errorf("OutTradeNo = %q, want %q", n.OutTradeNo, c.params.Get("out_trade_no"))
			}
			for k, want := range c.params.All() {
				if got := n.Params.Get(k); got != want {
					t.Errorf("Params.Get(%q) = %q, want %q", k, got, want)
				}
			}

			key, tampered := tamper(r, c.params)
			body, err := alipaytest.Encode(withSign(tampered, string(c.signType), out.Sign), "utf-8")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.VerifyNotify(ctx, body); !errors.Is(err, alipaynotify.ErrSignature) {
				t.Errorf("tampered %s: err = %v, want ErrSignature", key, err)
			}
		})
	}
}

// TestGoSignsSDKVerifies is direction B: alipaytest signs, the SDK's
// checkNotifySignV2 must accept the body and reject a tampered copy.
//
// The SDK keeps empty values in its string-to-sign ("k="), while Alipay's
// documented rule and the Java/.NET SDKs drop them; so cases with an empty
// value are signed here with KeepEmpty. The same cases signed with DropEmpty
// are checked too, and the SDK must reject those: that is the recorded SDK
// behaviour (docs/protocol.md, "Empty values"), not a bug of alipaytest.
// Every body must also pass our own verifier, which tries both rules.
func TestGoSignsSDKVerifies(t *testing.T) {
	requireSDK(t)
	corpus := generateCorpus()
	v := newVerifier(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(corpusSeed, 3))

	type probe struct {
		caseIdx int
		what    string
		want    bool
		body    string
	}
	var probes []probe
	var in []verifyIn
	for i, c := range corpus {
		s := &alipaytest.Signer{Key: c.key(), SignType: c.signType, Charset: c.params.Get("charset")}
		if c.hasEmpty {
			s.EmptyValues = alipaytest.KeepEmpty
		}
		m, err := s.Sign(c.params)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body := m.String()
		_, ambiguous := secondReading(c.params)
		if _, err := v.VerifyNotify(ctx, []byte(body)); (err != nil) != ambiguous || ambiguous && !errors.Is(err, alipaynotify.ErrAmbiguous) {
			t.Errorf("%s: our verifier on an alipaytest body: %v (second reading: %v)", c.name, err, ambiguous)
		}
		key, tampered := tamper(r, m.Params)
		tamperedBody, err := alipaytest.Encode(tampered, "utf-8")
		if err != nil {
			t.Fatal(err)
		}
		probes = append(probes,
			probe{i, "signed", true, body},
			probe{i, "tampered " + key, false, string(tamperedBody)})
		if c.hasEmpty {
			drop := *s
			drop.EmptyValues = alipaytest.DropEmpty
			dm := drop.MustSign(c.params)
			if _, err := v.VerifyNotify(ctx, dm.Encode()); (err != nil) != ambiguous {
				t.Errorf("%s: our verifier on a drop-empty body: %v (second reading: %v)", c.name, err, ambiguous)
			}
			probes = append(probes, probe{i, "drop-empty (SDK keeps empty values)", false, dm.String()})
		}
	}
	for _, p := range probes {
		pub := corpus[p.caseIdx].key().PublicKeyPEM()
		if p.caseIdx%2 == 1 {
			pub = corpus[p.caseIdx].key().PublicKeyBase64() // the SDK wraps bare base64 itself
		}
		in = append(in, verifyIn{Body: p.body, PublicKeyPem: pub})
	}
	results := runSDK[verifyIn, verifyOut](t, "verify", in)
	for i, p := range probes {
		c, res := corpus[p.caseIdx], results[i]
		t.Run(c.name+"/"+p.what, func(t *testing.T) {
			if res.Error != "" {
				t.Fatalf("sdk.mjs: %s", res.Error)
			}
			if res.OK != p.want {
				t.Errorf("SDK checkNotifySignV2 = %v, want %v (threw %q)\nbody: %s\nsdk content: %s\n go content: %s",
					res.OK, p.want, res.Threw, p.body, res.ContentV1, alipaytest.Content(c.params, alipaytest.V1, alipaytest.KeepEmpty))
			}
		})
	}
}

func withSign(p *alipaytest.WireParams, signType, sign string) *alipaytest.WireParams {
	out := p.Clone()
	out.Set("sign_type", signType)
	out.Set("sign", sign)
	return out
}

// tamper changes one signed value (never sign, sign_type or charset) so
// that it stays well-formed: the only thing wrong is the signature.
func tamper(r *rand.Rand, p *alipaytest.WireParams) (string, *alipaytest.WireParams) {
	keys := slices.DeleteFunc(p.Keys(), func(k string) bool { return k == "sign" || k == "sign_type" || k == "charset" })
	k := keys[r.IntN(len(keys))]
	v := p.Get(k)
	var nv string
	switch {
	case strings.HasSuffix(k, "_amount") || k == "refund_fee":
		nv = "0.01"
		if v == "0.01" {
			nv = "0.02"
		}
	case strings.HasPrefix(k, "gmt_") || k == "notify_time":
		nv = "2023-12-31 23:59:59"
		if v == nv {
			nv = "2023-12-31 23:59:58"
		}
	case k == "fund_bill_list":
		nv = `[{"amount":"0.01","fundChannel":"PCREDIT"}]`
	case k == "voucher_detail_list":
		nv = "[]"
	case k == "trade_status":
		nv = "TRADE_FINISHED"
		if v == nv {
			nv = "TRADE_SUCCESS"
		}
	case k == "version":
		nv = ""
	default:
		nv = v + "x"
	}
	out := p.Clone()
	out.Set(k, nv)
	return k, out
}

// generateCorpus builds corpusSize realistic trade_status_sync
// notifications from a fixed seed: RSA2 and RSA; random subsets of the
// documented fields plus unknown ones; Chinese text, '+', '%', '&', '=' in
// values; passback_params with %3D/%26 escapes that must stay raw;
// fund_bill_list JSON (some HTML-escaped); empty values; trailing spaces;
// random wire order; a few ASCII-only cases declaring charset gbk/gb2312.
func generateCorpus() []sdkCase {
	r := rand.New(rand.NewPCG(corpusSeed, 1))
	base := time.Date(2024, 1, 2, 10, 0, 0, 0, alipaytest.ChinaTime)
	cases := make([]sdkCase, corpusSize)
	for i := range cases {
		c := sdkCase{signType: alipaytest.SignRSA2}
		if r.IntN(10) < 3 {
			c.signType = alipaytest.SignRSA
		}
		ascii := r.IntN(20) == 0
		charset := pick(r, "utf-8", "utf-8", "utf-8", "UTF-8")
		if ascii {
			charset = pick(r, "gbk", "GBK", "gb2312")
		}
		text := func() string { return randomText(r, ascii) }
		at := base.Add(time.Duration(r.IntN(365*24*3600)) * time.Second)
		total := int64(r.IntN(10_000_000) + 1)
		amount := alipaytest.FormatCents(total)
		status := pick(r, "TRADE_SUCCESS", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED", "WAIT_BUYER_PAY")

		var fields []alipaytest.Param
		add := func(k, v string) { fields = append(fields, alipaytest.Param{Key: k, Value: v}) }
		maybe := func(p int, k string, v func() string) {
			if r.IntN(100) < p {
				add(k, v())
			}
		}
		add("notify_type", "trade_status_sync")
		add("notify_id", at.Format("20060102")+"00222"+at.Format("150405")+fmt.Sprintf("%015d", r.Int64N(1e15)))
		add("notify_time", alipaytest.FormatTime(at))
		add("app_id", alipaytest.DefaultAppID)
		add("charset", charset)
		add("version", "1.0")
		add("out_trade_no", fmt.Sprintf("%s-%d", pick(r, "ORDER", "T", "20240102", "SO"), r.IntN(1e9)))
		add("trade_no", at.Format("20060102")+"22001"+fmt.Sprintf("%015d", r.Int64N(1e15)))
		add("trade_status", status)
		add("total_amount", amount)
		maybe(70, "auth_app_id", func() string { return alipaytest.DefaultAppID })
		maybe(70, "buyer_id", func() string { return fmt.Sprintf("2088%012d", r.Int64N(1e12)) })
		maybe(50, "buyer_logon_id", func() string { return pick(r, "abc***@example.com", "138****0000", "xud***@126.com") })
		maybe(70, "seller_id", func() string { return alipaytest.DefaultPID })
		maybe(50, "seller_email", func() string { return pick(r, "seller@example.com", "z97-yuquerevenue@service.aliyun.com") })
		if status != "WAIT_BUYER_PAY" {
			maybe(60, "receipt_amount", func() string { return amount })
			maybe(50, "invoice_amount", func() string { return amount })
			maybe(50, "buyer_pay_amount", func() string { return amount })
			maybe(40, "point_amount", func() string { return pick(r, "0.00", "0") })
			maybe(60, "gmt_payment", func() string { return alipaytest.FormatTime(at.Add(-3 * time.Second)) })
			maybe(50, "fund_bill_list", func() string { return fundBills(r, amount) })
		}
		maybe(80, "subject", text)
		maybe(50, "body", text)
		maybe(70, "gmt_create", func() string { return alipaytest.FormatTime(at.Add(-10 * time.Second)) })
		if status == "TRADE_CLOSED" || status == "TRADE_FINISHED" {
			maybe(70, "gmt_close", func() string { return alipaytest.FormatTime(at) })
		}
		maybe(40, "passback_params", func() string { return passback(r, ascii) })
		maybe(10, "voucher_detail_list", func() string {
			return `[{"amount":"0.20","merchantContribute":"0.00","name":"立减券","otherContribute":"0.20","type":"ALIPAY_DISCOUNT_VOUCHER","voucherId":"2016101200073002586200003BQ4"}]`
		})
		if status == "TRADE_SUCCESS" || status == "TRADE_CLOSED" {
			if r.IntN(4) == 0 {
				refund := int64(r.IntN(int(total))) + 1
				if status == "TRADE_CLOSED" {
					refund = total
				}
				add("out_biz_no", fmt.Sprintf("REFUND-%d", r.IntN(1e6)))
				add("refund_fee", alipaytest.FormatCents(refund))
				add("gmt_refund", alipaytest.FormatTime(at)+pick(r, "", ".123", ".5"))
			}
		}
		maybe(15, "notify_action_type", func() string { return pick(r, "payByAccountAction", "closeTradeAction", "refundAction") })
		maybe(15, "buyer_open_id", func() string { return "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" })
		maybe(10, "hb_fq_num", func() string { return pick(r, "3", "6", "12") })
		maybe(10, "x_unknown_extension", text)

		// Empty values in about one case in six.
		if r.IntN(6) == 0 {
			c.hasEmpty = true
			for range 1 + r.IntN(2) {
				k := pick(r, "body", "passback_params", "buyer_logon_id", "subject", "point_amount", "merchant_memo")
				if j := slices.IndexFunc(fields, func(p alipaytest.Param) bool { return p.Key == k }); j >= 0 {
					fields[j].Value = ""
				} else {
					add(k, "")
				}
			}
		}
		r.Shuffle(len(fields), func(a, b int) { fields[a], fields[b] = fields[b], fields[a] })
		c.params = &alipaytest.WireParams{}
		for _, f := range fields {
			c.params.Set(f.Key, f.Value)
		}
		c.name = fmt.Sprintf("%03d-%s-%s", i, c.signType, strings.ToLower(charset))
		if c.hasEmpty {
			c.name += "-empty"
		}
		cases[i] = c
	}
	return cases
}

func pick(r *rand.Rand, options ...string) string { return options[r.IntN(len(options))] }

var (
	fragments = []string{
		"测试商品", "语雀空间 500人规模", "iPhone 15 Pro 256G", "a=b&c=d", "100% off", "C++ 编程",
		"1+1=2", "trailing space ", " leading space", `quote "x"`, "<b>html</b>", "%zz not an escape",
		"%25 literal", "~*'()!", "中文，标点！：（全角）", "€ 5", "日本語テキスト", "emoji 😀", "tab\there",
		"line\nbreak", "&amp;", "k%3Dv%26x", "  ", "黑白象 真皮手机壳（限量版）",
	}
	asciiFragments = []string{"ASCII only", "a=b&c=d", "100% off", "1+1=2", "trailing ", "%41%42", "x~y*z", "k%3Dv%26w"}
)

func randomText(r *rand.Rand, ascii bool) string {
	src := fragments
	if ascii {
		src = asciiFragments
	}
	var b strings.Builder
	for j := range 1 + r.IntN(3) {
		if j > 0 {
			b.WriteString(pick(r, " ", "", "-", "&", "="))
		}
		b.WriteString(src[r.IntN(len(src))])
	}
	return b.String()
}

// passback returns a merchant's URL-encoded pass-back value: after one
// form-decode it still holds %3D/%26 escapes, which are signed as they are.
func passback(r *rand.Rand, ascii bool) string {
	v := url.Values{}
	v.Set("merchantBizType", pick(r, "3C", "VIRTUAL"))
	v.Set("merchantBizNo", fmt.Sprint(r.IntN(1e12)))
	if !ascii && r.IntN(2) == 0 {
		v.Set("note", "测试 备注")
	}
	s := url.QueryEscape(v.Encode())
	if r.IntN(3) == 0 {
		s = strings.NewReplacer("%3D", "%3d", "%26", "%26").Replace(s) // Alipay's doc sample uses %3d
	}
	return s
}

func fundBills(r *rand.Rand, amount string) string {
	var s string
	switch r.IntN(3) {
	case 0:
		s = `[{"amount":"` + amount + `","fundChannel":"ALIPAYACCOUNT"}]`
	case 1:
		s = `[{"amount":"` + amount + `","fundChannel":"PCREDIT"},{"amount":"0.00","fundChannel":"COUPON"}]`
	default:
		s = `[{"amount":"` + amount + `","fundChannel":"BANKCARD","fundType":"DEBIT_CARD"}]`
	}
	if r.IntN(8) == 0 {
		s = strings.ReplaceAll(s, `"`, "&quot;") // reported by merchants; signed as received
	}
	return s
}

// TestCorpusShape guards the generator: the corpus must keep covering what
// the interop tests are for. It needs no node.
func TestCorpusShape(t *testing.T) {
	corpus := generateCorpus()
	if len(corpus) != corpusSize {
		t.Fatalf("%d cases", len(corpus))
	}
	count := map[string]int{}
	for _, c := range corpus {
		count[string(c.signType)]++
		if c.hasEmpty {
			count["empty value"]++
		}
		if cs := c.params.Get("charset"); cs != "utf-8" && cs != "UTF-8" {
			count["charset gbk/gb2312 (ASCII only)"]++
		}
		for k, v := range c.params.All() {
			has := func(feature string, ok bool) {
				if ok {
					count[feature]++
				}
			}
			has("Chinese text", strings.ContainsRune(v, '测') || strings.ContainsRune(v, '中'))
			has("'+' in a value", strings.Contains(v, "+"))
			has("'%' in a value", strings.Contains(v, "%"))
			has("'&' in a value", strings.Contains(v, "&"))
			has("'=' in a value", strings.Contains(v, "="))
			has("trailing space", v != "" && strings.HasSuffix(v, " "))
			has("passback_params with %3D/%26", k == "passback_params" && strings.Contains(strings.ToUpper(v), "%3D") && strings.Contains(v, "%26"))
			has("fund_bill_list", k == "fund_bill_list")
			has("fund_bill_list HTML-escaped", k == "fund_bill_list" && strings.Contains(v, "&quot;"))
			has("refund fields", k == "refund_fee")
			has("unknown field", k == "x_unknown_extension" || k == "hb_fq_num")
		}
	}
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(count)) {
		lines = append(lines, fmt.Sprintf("%s: %d", k, count[k]))
	}
	t.Logf("corpus of %d cases:\n%s", len(corpus), strings.Join(lines, "\n"))
	for _, must := range []string{"RSA", "RSA2", "empty value", "Chinese text", "'+' in a value", "'%' in a value",
		"'&' in a value", "'=' in a value", "trailing space", "passback_params with %3D/%26", "fund_bill_list",
		"fund_bill_list HTML-escaped", "refund fields", "unknown field", "charset gbk/gb2312 (ASCII only)"} {
		if count[must] == 0 {
			t.Errorf("corpus has no case with %s", must)
		}
	}
}

// secondReading reports whether a parameter's value holds "&k=" for a name k
// (a-z, 0-9, _) that sorts after the parameter's own name: there the signed
// string can be cut a second way, and the verifier refuses the callback as
// ambiguous. Written apart from the library's code, as a cross-check.
func secondReading(p *alipaytest.WireParams) (string, bool) {
	for k, v := range p.All() {
		for i := 0; i < len(v); i++ {
			if v[i] != '&' {
				continue
			}
			j := i + 1
			for j < len(v) && (v[j] >= 'a' && v[j] <= 'z' || v[j] >= '0' && v[j] <= '9' || v[j] == '_') {
				j++
			}
			if j > i+1 && j < len(v) && v[j] == '=' && v[i+1:j] > k {
				return k, true
			}
		}
	}
	return "", false
}
