package alipaynotify

import (
	"errors"
	"strconv"
)

// Amount is an amount of money in fen (hundredths of a yuan), exact. Alipay
// sends amounts as decimal text with at most two places ("88.88", "0.1",
// "100"); ParseAmount turns that into fen and String gives back the canonical
// two-place text. Money is never a float in this package.
type Amount int64

var errAmountSyntax = errors.New("not a decimal with at most two places")

// ParseAmount parses Alipay's decimal text. It accepts an optional leading
// '-' (legacy discount fields are negative), digits, and at most two digits
// after a '.'. It rejects empty strings, '+', spaces, exponents, more than two
// places and integer parts longer than 16 digits (so the value always fits in int64).
func ParseAmount(s string) (Amount, error) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg = true
		s = s[1:]
	}
	intPart, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac = s[:i], s[i+1:]
			if frac == "" {
				return 0, errAmountSyntax
			}
			break
		}
	}
	if intPart == "" || len(frac) > 2 || len(intPart) > 16 {
		return 0, errAmountSyntax
	}
	var v int64
	for i := 0; i < len(intPart); i++ {
		c := intPart[i]
		if c < '0' || c > '9' {
			return 0, errAmountSyntax
		}
		v = v*10 + int64(c-'0')
	}
	for i := 0; i < 2; i++ {
		v *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, errAmountSyntax
			}
			v += int64(c - '0')
		}
	}
	if neg {
		v = -v
	}
	return Amount(v), nil
}

// Fen returns the amount in fen (1/100 yuan).
func (a Amount) Fen() int64 { return int64(a) }

// String formats the amount the way Alipay does: "88.88", "0.10", "-5.00".
func (a Amount) String() string {
	v := int64(a)
	var buf [24]byte
	b := buf[:0]
	if v < 0 {
		b = append(b, '-')
		if v == -1<<63 {
			return "-92233720368547758.08"
		}
		v = -v
	}
	b = strconv.AppendInt(b, v/100, 10)
	f := v % 100
	b = append(b, '.', byte('0'+f/10), byte('0'+f%10))
	return string(b)
}

// MarshalText writes the amount the way Alipay does ("88.88"), so that JSON,
// XML and other text encodings carry yuan, never fen.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses Alipay's decimal text with ParseAmount.
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := ParseAmount(string(b))
	if err != nil {
		return fieldErr(ErrAmount, "", err.Error())
	}
	*a = v
	return nil
}

// OptionalAmount is an amount a callback may or may not carry. Its zero
// value is absent, never 0.00: Get and Present say which, so "Alipay sent no
// amount" can never be read as "Alipay sent 0.00". It is comparable; two
// values are equal when both are absent, or both present with the same
// amount. To compare a notification's order amount with your order, use
// Notification.CheckTotalAmount.
type OptionalAmount struct {
	amount  Amount
	present bool
}

// AmountPresent returns a present OptionalAmount holding a (for tests and
// the test kit; the verifier fills Notification's amounts itself).
func AmountPresent(a Amount) OptionalAmount { return OptionalAmount{amount: a, present: true} }

// Get returns the amount and whether the callback carried it. When ok is
// false the amount is 0 and means nothing.
func (o OptionalAmount) Get() (a Amount, ok bool) { return o.amount, o.present }

// Present reports whether the callback carried the amount.
func (o OptionalAmount) Present() bool { return o.present }

// String returns the amount as Alipay writes it ("88.88"), or "" when it is
// absent. The empty text is what an absent parameter is on the wire (Alipay
// drops empty parameters), it is what MarshalText writes, and unlike a
// marker such as "-" or "<absent>" it can never be taken for an amount by
// whatever reads a log line, a JSON document or a page; slog's text handler
// shows it as total_amount="".
func (o OptionalAmount) String() string {
	if !o.present {
		return ""
	}
	return o.amount.String()
}

// MarshalText writes the amount as Amount.MarshalText does ("88.88"), or
// empty text when it is absent, so that JSON carries "" for an absent
// amount and "0.00" for a zero one (with the omitzero option, an absent
// amount is left out).
func (o OptionalAmount) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads what MarshalText writes: empty text is absent, any
// other text is parsed as Amount.UnmarshalText parses it (an error leaves o
// unchanged).
func (o *OptionalAmount) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*o = OptionalAmount{}
		return nil
	}
	var a Amount
	if err := a.UnmarshalText(b); err != nil {
		return err
	}
	*o = AmountPresent(a)
	return nil
}
