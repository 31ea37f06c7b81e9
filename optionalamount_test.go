package alipaynotify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// TestOptionalAmountText: absent and 0.00 stay apart through String,
// MarshalText/UnmarshalText and JSON, both ways.
func TestOptionalAmountText(t *testing.T) {
	t.Parallel()
	type doc struct {
		A alipaynotify.OptionalAmount `json:"a"`
		B alipaynotify.OptionalAmount `json:"b,omitzero"`
	}
	for _, tc := range []struct {
		name string
		v    alipaynotify.OptionalAmount
		text string
		json string
	}{
		{"absent", alipaynotify.OptionalAmount{}, "", `{"a":""}`},
		{"zero", alipaynotify.AmountPresent(0), "0.00", `{"a":"0.00","b":"0.00"}`},
		{"amount", alipaynotify.AmountPresent(8888), "88.88", `{"a":"88.88","b":"88.88"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := tc.v.String(); s != tc.text {
				t.Errorf("String = %q, want %q", s, tc.text)
			}
			b, err := tc.v.MarshalText()
			if err != nil || string(b) != tc.text {
				t.Errorf("MarshalText = %q, %v; want %q", b, err, tc.text)
			}
			back := alipaynotify.AmountPresent(1) // UnmarshalText must overwrite it
			if err := back.UnmarshalText(b); err != nil || back != tc.v {
				t.Errorf("UnmarshalText(%q) = %#v, %v; want %#v", b, back, err, tc.v)
			}
			j, err := json.Marshal(doc{A: tc.v, B: tc.v})
			if err != nil || string(j) != tc.json {
				t.Errorf("json.Marshal = %s, %v; want %s", j, err, tc.json)
			}
			var d doc
			if err := json.Unmarshal(j, &d); err != nil || d.A != tc.v || d.B != tc.v {
				t.Errorf("json round trip of %s = %#v, %v", j, d, err)
			}
			a, ok := tc.v.Get()
			if ok != tc.v.Present() || ok != (tc.text != "") || (ok && a.String() != tc.text) {
				t.Errorf("Get = %v, %v; Present = %v", a, ok, tc.v.Present())
			}
		})
	}
	for _, bad := range []string{"1.001", "-", "abc", " 1.00"} {
		o := alipaynotify.AmountPresent(5)
		if err := o.UnmarshalText([]byte(bad)); !errors.Is(err, alipaynotify.ErrAmount) || o != alipaynotify.AmountPresent(5) {
			t.Errorf("UnmarshalText(%q) = %v, left %#v", bad, err, o)
		}
	}
}

// TestCheckTotalAmount: the CheckOrder recipe on verified callbacks of every
// kind. An absent amount passes only on the callbacks that sign none (the
// mobile web call_back_url return, gateway messages); 0.00 is an amount.
func TestCheckTotalAmount(t *testing.T) {
	t.Parallel()
	open, legacy, os, ls := canonicalVerifiers(t)
	wap := alipaytest.NewWAPSigner("", "")
	omit := alipaytest.Omit
	cases := []struct {
		name     string
		v        *alipaynotify.Verifier
		m        *alipaytest.Message
		isReturn bool
		want     alipaynotify.Amount
		wantErr  error // nil: CheckTotalAmount passes
	}{
		{"open notify, same amount", open, os.Notify(alipaytest.Fields{"total_amount": "88.88"}), false, 8888, nil},
		{"open notify, other amount", open, os.Notify(alipaytest.Fields{"total_amount": "0.01"}), false, 8888, alipaynotify.ErrAmountMismatch},
		{"open notify, 0.00 for a 0.00 order", open, os.Notify(alipaytest.Fields{"total_amount": "0.00"}), false, 0, nil},
		{"open notify, 0.00 for another order", open, os.Notify(alipaytest.Fields{"total_amount": "0.00"}), false, 8888, alipaynotify.ErrAmountMismatch},
		{"open notify, no amount", open, os.Notify(alipaytest.Fields{"total_amount": omit}), false, 0, alipaynotify.ErrMalformed},
		{"open return, same amount", open, os.Return(alipaytest.Fields{"total_amount": "9.99"}), true, 999, nil},
		{"open return, no amount", open, os.Return(alipaytest.Fields{"total_amount": omit}), true, 0, alipaynotify.ErrMalformed},
		{"gateway message, no amount", open, os.Notify(alipaytest.Fields{"notify_type": "servicemarket_order_notify", "total_amount": omit}), false, 8888, nil},
		{"gateway message, other amount", open, os.Notify(alipaytest.Fields{"notify_type": "servicemarket_order_notify", "total_amount": "1.00"}), false, 8888, alipaynotify.ErrAmountMismatch},
		{"mapi notify, same amount", legacy, ls.Notify(alipaytest.Fields{"total_fee": "66.60"}), false, 6660, nil},
		{"mapi notify, no amount", legacy, ls.Notify(alipaytest.Fields{"total_fee": omit}), false, 0, alipaynotify.ErrMalformed},
		{"WAP notify, other amount", legacy, wap.Notify(alipaytest.Fields{"total_fee": "0.01"}), false, 990, alipaynotify.ErrAmountMismatch},
		{"WAP notify, no amount", legacy, wap.Notify(alipaytest.Fields{"total_fee": omit}), false, 990, alipaynotify.ErrMalformed},
		{"WAP call_back_url return (no amount)", legacy, wap.Return(nil), true, 990, nil},
		{"WAP call_back_url return, for a 0.00 order", legacy, wap.Return(nil), true, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n *alipaynotify.Notification
			var err error
			if tc.isReturn {
				n, err = tc.v.VerifyReturn(context.Background(), tc.m.String())
			} else {
				n, err = tc.v.VerifyNotify(context.Background(), tc.m.Encode())
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			err = n.CheckTotalAmount(tc.want)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckTotalAmount(%v) = %v, want nil", tc.want, err)
				}
				return
			}
			var fe *alipaynotify.FieldError
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &fe) {
				t.Fatalf("CheckTotalAmount(%v) = %v, want a FieldError matching %v", tc.want, err, tc.wantErr)
			}
			if got, ok := n.TotalAmount.Get(); ok && !strings.Contains(err.Error(), got.String()) || ok && !strings.Contains(err.Error(), tc.want.String()) {
				t.Fatalf("the error does not name both amounts: %v", err)
			}
		})
	}
}
