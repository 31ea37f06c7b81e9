package alipaytest

import (
	"slices"
	"strings"
)

// Rule says which parameters a signature covers.
type Rule int

const (
	// V1 signs every parameter except sign and sign_type: trade
	// notifications (notify_type=trade_status_sync), return_url redirects,
	// and the legacy mapi protocol (Java rsaCheckV1).
	V1 Rule = iota
	// V2 signs every parameter except sign; sign_type is signed: gateway
	// messages such as servicemarket_order_notify (Java rsaCheckV2).
	V2
)

// String returns "V1" or "V2".
func (r Rule) String() string {
	if r == V2 {
		return "V2"
	}
	return "V1"
}

// EmptyValues says whether parameters with an empty value are part of the
// string-to-sign. Official SDKs disagree and no real Alipay sample decides
// it (docs/protocol.md, "Empty values"), so tests should cover both.
type EmptyValues int

const (
	// DropEmpty leaves k= pairs out: current Java and .NET SDKs, the 2020
	// PHP SDK, the legacy mapi demos and the global pre-sign document.
	DropEmpty EmptyValues = iota
	// KeepEmpty signs them as "k=": the official Node SDK, PHP AopClient v2
	// and EasySDK.
	KeepEmpty
)

// String returns "DropEmpty" or "KeepEmpty".
func (e EmptyValues) String() string {
	if e == KeepEmpty {
		return "KeepEmpty"
	}
	return "DropEmpty"
}

// Content returns the string-to-sign of p: the parameters the rule covers,
// sorted by key in byte order, joined as key=value with '&', values verbatim
// (not encoded, not trimmed). Duplicate keys appear once per pair, in their
// original order.
func Content(p *WireParams, rule Rule, empty EmptyValues) string {
	pairs := p.Pairs()
	pairs = slices.DeleteFunc(pairs, func(q Param) bool {
		switch {
		case q.Key == "sign":
			return true
		case q.Key == "sign_type":
			return rule == V1
		case q.Value == "":
			return empty == DropEmpty
		}
		return false
	})
	slices.SortStableFunc(pairs, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
	var b strings.Builder
	for i, q := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(q.Key)
		b.WriteByte('=')
		b.WriteString(q.Value)
	}
	return b.String()
}
