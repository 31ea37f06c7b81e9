package alipaytest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"sync/atomic"
	"time"
)

// Fields override a callback template: a key already in the template keeps
// its position and takes the new value (an empty string sends an empty
// value); a new key is appended (new keys in byte order, so the result does
// not depend on map iteration); the value Omit removes the key.
type Fields map[string]string

// Omit as a Fields value removes that parameter from the template.
const Omit = "\x00alipaytest:omit"

func (f Fields) applyTo(p *WireParams) {
	for _, k := range slices.Sorted(maps.Keys(f)) {
		if v := f[k]; v == Omit {
			p.Del(k)
		} else {
			p.Set(k, v)
		}
	}
}

const timeLayout = "2006-01-02 15:04:05"

// FormatTime formats t as Alipay does: "yyyy-MM-dd HH:mm:ss" in China time.
func FormatTime(t time.Time) string { return t.In(ChinaTime).Format(timeLayout) }

// FormatCents formats an amount in fen (hundredths of a yuan) as Alipay's
// two-place decimal text: 8888 → "88.88", -5 → "-0.05".
func FormatCents(fen int64) string {
	sign := ""
	u := uint64(fen)
	if fen < 0 {
		sign, u = "-", -u
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// ParseCents parses Alipay's two-place decimal text of a non-negative
// amount into fen, the inverse of FormatCents: "88.88" → 8888, "0.1" → 10,
// "100" → 10000. It rejects signs, spaces, exponents and a third decimal.
func ParseCents(s string) (int64, error) {
	var fen int64
	digits, places, dot := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !dot && digits > 0:
			dot = true
		case c >= '0' && c <= '9' && (!dot || places < 2):
			if fen > math.MaxInt64/1000 { // room for this digit and the scaling below
				return 0, fmt.Errorf("alipaytest: amount %q too large", s)
			}
			fen = fen*10 + int64(c-'0')
			digits++
			if dot {
				places++
			}
		default:
			return 0, fmt.Errorf("alipaytest: amount %q is not a decimal with at most two places", s)
		}
	}
	if digits == 0 || (dot && places == 0) {
		return 0, fmt.Errorf("alipaytest: amount %q is not a decimal with at most two places", s)
	}
	for ; places < 2; places++ {
		fen *= 10
	}
	return fen, nil
}

// Identifiers: unique within a test binary (a counter) and across runs (a
// random prefix drawn once), so that state persisted by a previous run (a
// Redis dedupe store, say) never sees the same notify_id twice.
var (
	idSeq    atomic.Uint64
	idPrefix = func() uint64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return binary.BigEndian.Uint64(b[:]) % 1_000_000
	}()
)

func nextDigits() string {
	return fmt.Sprintf("%06d%09d", idPrefix, idSeq.Add(1)%1_000_000_000)
}

// openNotifyID is shaped like 2019081500222155624068450559358070.
func openNotifyID(t time.Time) string {
	return t.Format("20060102") + "00222" + t.Format("150405") + nextDigits()
}

// tradeNo is shaped like 2019081522001468450512505578.
func tradeNo(t time.Time) string {
	return t.Format("20060102") + "22001" + nextDigits()
}

func outTradeNo(t time.Time) string {
	return "ORDER-" + t.Format("20060102") + "-" + nextDigits()
}

// legacyNotifyID is 32 hex digits plus two, like the legacy samples.
func legacyNotifyID() string {
	sum := sha256.Sum256([]byte(nextDigits()))
	return hex.EncodeToString(sum[:16]) + "46"
}

// legacyReturnNotifyID is shaped like the notify_id of real legacy return
// URLs: base64 text that is itself percent-escaped, so the decoded value
// still contains %2F and %2B ("RqPnCoPT3K9%2Fvwbh3I%2BFi...").
func legacyReturnNotifyID() string {
	sum := sha256.Sum256([]byte(nextDigits()))
	more := sha256.Sum256(sum[:])
	return url.QueryEscape(base64.StdEncoding.EncodeToString(append(sum[:], more[:24]...)))
}

// amountOr returns f[key] when it is set to a non-sentinel value, else def.
func amountOr(f Fields, key, def string) string {
	if v, ok := f[key]; ok && v != Omit {
		return v
	}
	return def
}

// NotifyParams returns the unsigned parameters of a realistic notify_url
// callback, in Alipay's (unsorted) order, with f applied.
//
// ProtocolOpenPlatform: a trade_status_sync notification of a paid trade
// (TRADE_SUCCESS), amounts from f["total_amount"] (default "88.88"), the
// field order of a real notification. ProtocolMapi: a create_direct_pay_by_user
// notification (TRADE_SUCCESS, total_fee from f["total_fee"], no
// _input_charset). notify_id, trade_no and out_trade_no are fresh unless f
// sets them; times are the Signer's clock in China time.
func (s *Signer) NotifyParams(f Fields) *WireParams {
	now := s.now()
	var p *WireParams
	if s.Protocol == ProtocolMapi {
		amount := amountOr(f, "total_fee", "88.88")
		p = NewWireParams(
			"discount", "0.00",
			"payment_type", "1",
			"subject", "测试商品",
			"trade_no", tradeNo(now),
			"buyer_email", "buyer@example.com",
			"gmt_create", FormatTime(now.Add(-8*time.Second)),
			"notify_type", "trade_status_sync",
			"quantity", "1",
			"out_trade_no", outTradeNo(now),
			"seller_id", s.sellerID(),
			"notify_time", FormatTime(now),
			"trade_status", "TRADE_SUCCESS",
			"is_total_fee_adjust", "N",
			"total_fee", amount,
			"gmt_payment", FormatTime(now.Add(-2*time.Second)),
			"seller_email", "seller@example.com",
			"price", amount,
			"buyer_id", DefaultBuyerID,
			"notify_id", legacyNotifyID(),
			"use_coupon", "N",
			"sign_type", "",
			"sign", "",
		)
	} else {
		amount := amountOr(f, "total_amount", "88.88")
		p = NewWireParams(
			"gmt_create", FormatTime(now.Add(-8*time.Second)),
			"charset", s.charsetParam(),
			"seller_email", "seller@example.com",
			"subject", "测试商品",
			"sign", "",
			"buyer_id", DefaultBuyerID,
			"invoice_amount", amount,
			"notify_id", openNotifyID(now),
			"fund_bill_list", fundBillList(amount),
			"notify_type", "trade_status_sync",
			"trade_status", "TRADE_SUCCESS",
			"receipt_amount", amount,
			"buyer_pay_amount", amount,
			"app_id", s.appID(),
			"sign_type", "",
			"seller_id", s.sellerID(),
			"gmt_payment", FormatTime(now.Add(-2*time.Second)),
			"notify_time", FormatTime(now),
			"version", "1.0",
			"out_trade_no", outTradeNo(now),
			"total_amount", amount,
			"trade_no", tradeNo(now),
			"auth_app_id", s.appID(),
			"buyer_logon_id", "abc***@example.com",
			"point_amount", "0.00",
		)
	}
	f.applyTo(p)
	return p
}

func fundBillList(amount string) string {
	return `[{"amount":"` + amount + `","fundChannel":"ALIPAYACCOUNT"}]`
}

// ReturnParams returns the unsigned parameters of a realistic return_url
// redirect with f applied.
//
// ProtocolOpenPlatform: method=alipay.trade.page.pay.return with timestamp and no
// trade_status or notify_id. ProtocolMapi: is_success=T, exterface, notify_id
// (percent-escaped base64, as real legacy returns carry), trade_status.
func (s *Signer) ReturnParams(f Fields) *WireParams {
	now := s.now()
	var p *WireParams
	if s.Protocol == ProtocolMapi {
		p = NewWireParams(
			"is_success", "T",
			"exterface", "create_direct_pay_by_user",
			"notify_id", legacyReturnNotifyID(),
			"notify_time", FormatTime(now),
			"notify_type", "trade_status_sync",
			"out_trade_no", outTradeNo(now),
			"payment_type", "1",
			"seller_id", s.sellerID(),
			"buyer_id", DefaultBuyerID,
			"buyer_email", "buyer@example.com",
			"seller_email", "seller@example.com",
			"subject", "测试商品",
			"total_fee", "88.88",
			"trade_no", tradeNo(now),
			"trade_status", "TRADE_SUCCESS",
			"sign", "",
			"sign_type", "",
		)
	} else {
		p = NewWireParams(
			"charset", s.charsetParam(),
			"out_trade_no", outTradeNo(now),
			"method", "alipay.trade.page.pay.return",
			"total_amount", "88.88",
			"sign", "",
			"trade_no", tradeNo(now),
			"auth_app_id", s.appID(),
			"version", "1.0",
			"app_id", s.appID(),
			"sign_type", "",
			"seller_id", s.sellerID(),
			"timestamp", FormatTime(now),
		)
	}
	f.applyTo(p)
	return p
}

// Notify signs NotifyParams(f). It panics on error (a charset that cannot
// represent a value, an unknown sign type), like httptest.NewRequest.
func (s *Signer) Notify(f Fields) *Message {
	return s.MustSign(s.NotifyParams(f))
}

// Return signs ReturnParams(f) as a ReturnKind message. It panics on error.
func (s *Signer) Return(f Fields) *Message {
	m := s.MustSign(s.ReturnParams(f))
	m.Kind = ReturnKind
	return m
}

// Paid is the most common story in one call: a fresh trade outTradeNo of
// amount ("88.88") paid, as a TRADE_SUCCESS notification.
func (s *Signer) Paid(outTradeNo, amount string) *Message {
	return s.NewTrade(outTradeNo, amount).Paid()
}
