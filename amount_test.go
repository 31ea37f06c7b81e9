package alipaynotify_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/alipaynotify/alipaynotify"
)

// TestAmountText: amounts travel as Alipay writes them, in yuan with two
// places, through every text encoding, and come back exact.
func TestAmountText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fen  int64
		text string
	}{{8888, "88.88"}, {10, "0.10"}, {0, "0.00"}, {-500, "-5.00"}, {123456789012, "1234567890.12"}} {
		b, err := json.Marshal(alipaynotify.Amount(tc.fen))
		if err != nil || string(b) != `"`+tc.text+`"` {
			t.Errorf("json.Marshal(%d) = %s, %v; want %q", tc.fen, b, err, tc.text)
		}
		var back alipaynotify.Amount
		if err := json.Unmarshal(b, &back); err != nil || back.Fen() != tc.fen {
			t.Errorf("round trip of %s = %d, %v", b, back.Fen(), err)
		}
	}
	var a alipaynotify.Amount
	for _, bad := range []string{`"1.001"`, `"1e3"`, `""`, `"+1"`, `"1,00"`} {
		if err := json.Unmarshal([]byte(bad), &a); !errors.Is(err, alipaynotify.ErrAmount) {
			t.Errorf("json.Unmarshal(%s) = %v, want ErrAmount", bad, err)
		}
	}
	bills := []alipaynotify.FundBill{{FundChannel: "ALIPAYACCOUNT", Amount: 1000}, {FundChannel: "PCREDIT", Amount: 5, RealAmount: 4}}
	b, err := json.Marshal(bills)
	want := `[{"fundChannel":"ALIPAYACCOUNT","amount":"10.00"},{"fundChannel":"PCREDIT","amount":"0.05","realAmount":"0.04"}]`
	if err != nil || string(b) != want {
		t.Errorf("fund bills = %s, %v; want %s", b, err, want)
	}
}
