package simulator_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/internal/simulator"
)

const goodScenario = `{
  "name": "a day of traffic",
  "trades": [
    {"story": "paid", "amount": "88.88", "race_return": true, "duplicates": 2},
    {"story": "paid", "charset": "gbk", "subject": "中文商品", "repeat": 10},
    {"story": "partial_refund", "amount": "100.00", "refunds": ["10.00", "5.00"], "lost_acks": 1},
    {"story": "full_refund", "refunds": ["20.00"], "start": "1h"},
    {"story": "finished", "out_of_order": true, "interval": "90m"},
    {"story": "closed_unpaid", "sign_type": "MD5"},
    {"story": "escrow_refunded", "charset": "gbk", "duplicates": 1},
    {"story": "paid", "sign_type": "WAP_MD5", "race_return": true}
  ],
  "hostile": ["forged_signature", {"kind": "tampered_amount", "at": "5m", "sign_type": "MD5"}]
}`

func TestParseScenario(t *testing.T) {
	sc, err := simulator.ParseScenario([]byte(goodScenario))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "a day of traffic" || len(sc.Trades) != 8 || len(sc.Hostile) != 2 {
		t.Fatalf("%+v", sc)
	}
	tr := sc.Trades
	if !tr[0].RaceReturn || tr[0].Duplicates != 2 || tr[1].Charset != "gbk" || tr[1].Repeat != 10 ||
		len(tr[2].Refunds) != 2 || tr[2].LostAcks != 1 || time.Duration(tr[3].Start) != time.Hour ||
		time.Duration(tr[4].Interval) != 90*time.Minute || !tr[4].OutOfOrder || tr[5].SignType != "MD5" ||
		tr[6].Story != simulator.StoryEscrowRefunded || tr[6].Charset != "gbk" || tr[7].SignType != "WAP_MD5" {
		t.Fatalf("trades %+v", tr)
	}
	h := sc.Hostile
	if h[0].Kind != simulator.HostileForgedSignature || h[1].Kind != simulator.HostileTamperedAmount ||
		time.Duration(h[1].At) != 5*time.Minute || h[1].SignType != "MD5" {
		t.Fatalf("hostile %+v", h)
	}

	// The package documentation's example is this file.
	path := filepath.Join(t.TempDir(), "day.json")
	os.WriteFile(path, []byte(goodScenario), 0o644)
	if _, err := simulator.LoadScenario(path); err != nil {
		t.Fatal(err)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"empty", ``, "empty file"},
		{"syntax", "{\n  \"trades\": [\n    {\"story\": \"paid\",}\n  ]\n}", "line 3, column 22: invalid JSON"},
		{"truncated", `{"trades": [`, "unexpected end of file"},
		{"trailing", `{"trades": [{"story": "paid"}]} {}`, "unexpected data after the scenario object"},
		{"unknown field", `{"trades": [{"story": "paid", "amonut": "1.00"}]}`, `unknown field "amonut"`},
		{"unknown top field", `{"trade": []}`, `unknown field "trade"`},
		{"wrong type", `{"trades": [{"story": "paid", "duplicates": "3"}]}`, "trades.duplicates (line 1, column 47): want a JSON int, got string"},
		{"amount as number", `{"trades": [{"story": "paid", "amount": 8.5}]}`, "trades.amount"},
		{"nothing", `{"trades": []}`, "trades: no trades and no hostile inputs"},
		{"no story", `{"trades": [{"amount": "1.00"}]}`, "trades[0].story: missing; want one of paid, finished, closed_unpaid, partial_refund, full_refund, escrow_finished, escrow_refunded, dual_instant"},
		{"bad story", `{"trades": [{"story": "paid"}, {"story": "payed"}]}`, `trades[1].story: unknown story "payed"`},
		{"bad amount", `{"trades": [{"story": "paid", "amount": "8.888"}]}`, `trades[0].amount: amount "8.888": want yuan with at most two decimals`},
		{"zero amount", `{"trades": [{"story": "paid", "amount": "0.00"}]}`, "trades[0].amount: a paid trade needs an amount above 0.00"},
		{"refunds too large", `{"trades": [{"story": "partial_refund", "amount": "10.00", "refunds": ["6.00", "4.00"]}]}`, "trades[0].refunds[1]: partial refunds reach the amount 10.00; use the full_refund story"},
		{"partial without refunds", `{"trades": [{"story": "partial_refund"}]}`, "trades[0].refunds: the partial_refund story needs at least one amount"},
		{"refunds on paid", `{"trades": [{"story": "paid", "refunds": ["1.00"]}]}`, "trades[0].refunds: only the partial_refund and full_refund stories have refunds"},
		{"bad charset", `{"trades": [{"story": "paid", "charset": "latin1"}]}`, `trades[0].charset: unsupported charset "latin1"`},
		{"bad sign type", `{"trades": [{"story": "paid", "sign_type": "SM2"}]}`, `trades[0].sign_type: unsupported sign type "SM2"`},
		{"subject not in gbk", `{"trades": [{"story": "paid", "charset": "gbk", "subject": "🙂"}]}`, "trades[0].subject: cannot be written in gbk"},
		{"bad duration", `{"trades": [{"story": "paid", "start": "soon"}]}`, `bad duration "soon"`},
		{"duration as number", `{"trades": [{"story": "paid", "start": 60}]}`, `want a duration string such as "2m"`},
		{"negative duplicates", `{"trades": [{"story": "paid", "duplicates": -1}]}`, "trades[0].duplicates: want 0 to 100"},
		{"race unpaid", `{"trades": [{"story": "closed_unpaid", "race_return": true}]}`, "trades[0].race_return: an unpaid trade has no return page"},
		{"escrow with RSA2", `{"trades": [{"story": "escrow_finished", "sign_type": "RSA2"}]}`, "trades[0].sign_type: the escrow_finished story is a legacy escrow trade, signed with MD5 only"},
		{"escrow as WAP", `{"trades": [{"story": "dual_instant", "sign_type": "WAP_MD5"}]}`, "trades[0].sign_type: the dual_instant story is a legacy escrow trade"},
		{"WAP refund", `{"trades": [{"story": "partial_refund", "refunds": ["1.00"], "sign_type": "WAP_0001"}]}`, "trades[0].story: mobile web (WAP_0001) trades tell the paid and finished stories only"},
		{"WAP gbk", `{"trades": [{"story": "paid", "sign_type": "wap_md5", "charset": "gbk"}]}`, "trades[0].charset: mobile web (wap_md5) callbacks are utf-8 only"},
		{"hostile WAP", `{"hostile": [{"kind": "forged_signature", "sign_type": "WAP_MD5"}]}`, "hostile[0].sign_type: hostile inputs are RSA2, RSA or MD5 callbacks"},
		{"out of order single", `{"trades": [{"story": "paid", "out_of_order": true}]}`, "trades[0].out_of_order: the paid story has a single notification"},
		{"bad hostile", `{"hostile": ["forged"]}`, `hostile[0].kind: unknown hostile input "forged"; want one of forged_signature, tampered_amount`},
		{"hostile unknown field", `{"hostile": [{"kind": "garbage_body", "when": "1m"}]}`, `unknown field "when"`},
		{"hostile bad charset", `{"hostile": [{"kind": "garbage_body", "charset": "big5"}]}`, "hostile[0].charset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := simulator.ParseScenario([]byte(tc.json))
			var se *simulator.ScenarioError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want a *ScenarioError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "scenario: ") {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadScenarioNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(path, []byte(`{"trades": [{"story": "payed"}]}`), 0o644)
	_, err := simulator.LoadScenario(path)
	if err == nil || !strings.HasPrefix(err.Error(), "scenario "+path+": trades[0].story: ") {
		t.Fatalf("%v", err)
	}
	if _, err := simulator.LoadScenario(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%v", err)
	}
}
