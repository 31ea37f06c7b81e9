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
