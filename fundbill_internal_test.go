package alipaynotify

import (
	"errors"
	"testing"
)

// TestParseFundBills: one parser, keys matched exactly as Alipay writes them,
// JSON string escapes decoded, anything but an array of objects with string
// values refused.
func TestParseFundBills(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []FundBill
		err      error
	}{
		{name: "usual", in: `[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]`, want: []FundBill{{FundChannel: "ALIPAYACCOUNT", Amount: 8888}}},
		{name: "two, with spaces and every key", in: " [ {\"fundChannel\" : \"BANKCARD\", \"fundType\":\"DEBIT_CARD\", \"amount\":\"1.00\", \"realAmount\":\"0.90\"} ,\n{\"amount\":\"0.10\",\"fundChannel\":\"COUPON\"} ] ",
			want: []FundBill{{FundChannel: "BANKCARD", FundType: "DEBIT_CARD", Amount: 100, RealAmount: 90}, {FundChannel: "COUPON", Amount: 10}}},
		{name: "empty", in: `[]`, want: []FundBill{}},
		{name: "keys are matched exactly", in: `[{"amount":"1.00","FundChannel":"ALIPAYACCOUNT"}]`, want: []FundBill{{Amount: 100}}},
		{name: "unknown keys skipped", in: `[{"amount":"1.00","fundChannel":"PCREDIT","note":"x"}]`, want: []FundBill{{FundChannel: "PCREDIT", Amount: 100}}},
		{name: "escapes decoded", in: `[{"amount":"1.00","fundChannel":"A\"B\u4e2d\\"}]`, want: []FundBill{{FundChannel: "A\"B中\\", Amount: 100}}},
		{name: "html-escaped quotes", in: `[{&quot;amount&quot;:&quot;2.50&quot;,&quot;fundChannel&quot;:&quot;PCREDIT&quot;}]`, want: []FundBill{{FundChannel: "PCREDIT", Amount: 250}}},
		{name: "number value", in: `[{"amount":1.00,"fundChannel":"PCREDIT"}]`, err: ErrMalformed},
		{name: "bad escape", in: `[{"amount":"1.00","fundChannel":"\x"}]`, err: ErrMalformed},
		{name: "unterminated", in: `[{"amount":"1.00"`, err: ErrMalformed},
		{name: "trailing text", in: `[{"amount":"1.00"}] x`, err: ErrMalformed},
		{name: "not an array", in: `{"amount":"1.00"}`, err: ErrMalformed},
		{name: "bad amount", in: `[{"amount":"1.001"}]`, err: ErrAmount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFundBills(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("bill %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
