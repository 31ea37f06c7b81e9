package alipaynotify_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// TestRejectedError: a refusal after the signature carries the verified
// Notification in a RejectedError that errors.Is and errors.As see through;
// a refusal at or before the signature never does.
func TestRejectedError(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	mine := errors.New("order unknown")
	v := openVerifier(t, alipaynotify.Options{CheckOrder: func(context.Context, *alipaynotify.Notification) error { return mine }})
	strict := openVerifier(t, alipaynotify.Options{SellerIDs: []string{"2088000000000009"}})
	plain := openVerifier(t, alipaynotify.Options{MaxReturnAge: time.Hour})
	ctx := context.Background()
	old := s.Return(alipaytest.Fields{"timestamp": alipaytest.FormatTime(time.Now().Add(-3 * time.Hour))})
	tests := []struct {
		name     string
		verify   func() (*alipaynotify.Notification, error)
		class    error
		verified bool
	}{
		{"CheckOrder", func() (*alipaynotify.Notification, error) { return v.VerifyNotify(ctx, s.Paid("O-1", "1.00").Encode()) }, alipaynotify.ErrOrder, true},
		{"seller", func() (*alipaynotify.Notification, error) {
			return strict.VerifyNotify(ctx, s.Paid("O-2", "1.00").Encode())
		}, alipaynotify.ErrSellerID, true},
		{"expired", func() (*alipaynotify.Notification, error) { return plain.VerifyReturn(ctx, old.String()) }, alipaynotify.ErrExpired, true},
		{"signature", func() (*alipaynotify.Notification, error) {
			return v.VerifyNotify(ctx, alipaytest.NewSigner(alipaytest.SecondTestKey()).Paid("O-3", "1.00").Encode())
		}, alipaynotify.ErrSignature, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := tt.verify()
			if n != nil || !errors.Is(err, tt.class) {
				t.Fatalf("got %v, %v; want nil and an error matching %v", n, err, tt.class)
			}
			var re *alipaynotify.RejectedError
			if errors.As(err, &re) != tt.verified {
				t.Fatalf("RejectedError present = %v, want %v", !tt.verified, tt.verified)
			}
			if tt.verified && (re.Notification == nil || re.Notification.OutTradeNo == "") {
				t.Errorf("RejectedError without the verified notification: %+v", re)
			}
			if tt.class == alipaynotify.ErrOrder && !errors.Is(err, mine) {
				t.Errorf("CheckOrder's own error lost: %v", err)
			}
			if fe := (*alipaynotify.FieldError)(nil); tt.class == alipaynotify.ErrSellerID && !errors.As(err, &fe) {
				t.Errorf("the FieldError is not reachable through the RejectedError: %v", err)
			}
		})
	}
}

// TestUnknownCertSN: only a callback naming a serial the Verifier does not
// hold is reported.
func TestUnknownCertSN(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v := openVerifier(t, alipaynotify.Options{})
	m := s.Paid("O-4", "1.00")
	n, err := v.VerifyNotify(context.Background(), m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if sn, ok := v.UnknownCertSN(n); ok {
		t.Errorf("no alipay_cert_sn, yet reported %q", sn)
	}
	m.Params.Set("alipay_cert_sn", "0123abcd")
	n, err = v.VerifyNotify(context.Background(), s.MustSign(m.Params).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if sn, ok := v.UnknownCertSN(n); !ok || sn != "0123abcd" {
		t.Errorf("UnknownCertSN = %q, %v; want 0123abcd, true", sn, ok)
	}
}

// TestPrintNeverShowsKeys: whatever the verb, printing a verified
// Notification never reaches the Verifier that produced it (its MD5 key)
// nor the unmasked original.
func TestPrintNeverShowsKeys(t *testing.T) {
	t.Parallel()
	s := &alipaytest.Signer{Protocol: alipaytest.ProtocolMapi}
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := v.VerifyNotify(context.Background(), s.Notify(alipaytest.Fields{"buyer_email": "buyer@example.com"}).Encode())
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for _, arg := range []any{n, *n} {
			out := fmt.Sprintf(verb, arg)
			if strings.Contains(out, alipaytest.DefaultMD5Key) || strings.Contains(out, hex.EncodeToString([]byte(alipaytest.DefaultMD5Key))) || strings.Contains(out, "buyer@example.com") {
				t.Errorf("fmt %s of %T shows the key or the buyer: %.200s", verb, arg, out)
			}
		}
	}
}
