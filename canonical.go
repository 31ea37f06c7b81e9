package alipaynotify

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Canonical callbacks (docs/protocol.md, "Parameter boundaries").
//
// Alipay signs "k1=v1&k2=v2&…" with the keys sorted and the values raw, so
// the signature covers the bytes but not where one parameter ends and the
// next begins, and under the drop-empty rule it does not cover an empty
// parameter at all. A genuine callback can therefore be re-cut: the next
// parameter folded into a value ("trade_no=T%26trade_status%3DX"), a
// boundary moved into a key name, an empty "k=" appended, or free text that
// happens to read "&k=v" split out into a parameter of its own. The signature
// still verifies every one of them.
//
// The rules below make a verified callback mean exactly one Notification:
//
//   - key names use the protocol's alphabet (lower-case letters, digits,
//     '_'), so no boundary can hide inside a key;
//   - every field Alipay generates has a strict grammar (ids are digits,
//     enums are enums, amounts are decimals, times are Alipay's format,
//     merchant ids hold no separator), so none can absorb a neighbour;
//   - free text (subject, body, passback_params, receive_*, …) may hold '&'
//     and '=', but not "&k=" for a name k that sorts after its own: there the
//     signed string has a second reading, and the callback is refused;
//   - empty parameters, which the drop-empty rule does not sign, and the
//     signature itself reach neither Params nor any typed field;
//   - a field of another protocol is refused and each protocol reads only its
//     own fields (a legacy callback's amount is total_fee; total_amount there
//     could only have been split out of text), and a refund signs gmt_refund;
//   - each kind of callback (notify, return, gateway message) needs its own
//     signed fields: a notify is never taken for a return, nor a return for a
//     notify.
//
// Every violation is ErrAmbiguous.

// maxKeyLen bounds a parameter name. Alipay's longest are about 25 bytes.
const maxKeyLen = 64

// maxIDLen bounds ids and merchant numbers: Alipay documents 64 characters
// for out_trade_no, trade_no and out_biz_no.
const maxIDLen = 64

// Byte classes: the alphabets of parameter names and of the field grammars
// below, one bit each in byteClasses.
const (
	cKey        uint8 = 1 << iota // parameter names: a-z 0-9 _
	cDigit                        // 0-9
	cAlnum                        // A-Z a-z 0-9
	cNotifyID                     // legacy notify_id: alnum and + / = %
	cToken                        // alnum and _ - . ,
	cMerchantNo                   // printable ASCII without space & = |
)

// byteClasses[c] has the bit of every class c belongs to.
var byteClasses = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		isKey := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_'
		isAlnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		for _, m := range []struct {
			class uint8
			in    bool
		}{
			{cKey, isKey},
			{cDigit, '0' <= c && c <= '9'},
			{cAlnum, isAlnum},
			{cNotifyID, isAlnum || c == '+' || c == '/' || c == '=' || c == '%'},
			{cToken, isAlnum || c == '_' || c == '-' || c == '.' || c == ','},
			{cMerchantNo, 0x20 < c && c < 0x7f && c != '&' && c != '=' && c != '|'},
		} {
			if m.in {
				t[i] |= m.class
			}
		}
	}
	return t
}()

// isKeyByte reports whether c belongs to the alphabet of parameter names.
func isKeyByte(c byte) bool { return byteClasses[c]&cKey != 0 }

// checkKey refuses a parameter name outside the protocol's alphabet.
func checkKey(k []byte) error {
	if len(k) > maxKeyLen {
		return fieldErr(ErrAmbiguous, safeField(k), "parameter name too long")
	}
	if !allKeyBytes(k) {
		return fieldErr(ErrAmbiguous, safeField(k), "parameter name outside the protocol's alphabet")
	}
	return nil
}

// allKeyBytes reports whether every byte of k is in the alphabet of
// parameter names. A name of eight bytes or more is tested a word at a
// time, the last word overlapping the one before.
func allKeyBytes(k []byte) bool {
	if len(k) < 8 {
		for _, c := range k {
			if byteClasses[c]&cKey == 0 {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(k)-8; i += 8 {
		if !keyWord(binary.LittleEndian.Uint64(k[i:])) {
			return false
		}
	}
	return keyWord(binary.LittleEndian.Uint64(k[len(k)-8:]))
}

// keyWord reports whether all eight bytes of x are in a-z, 0-9 or '_'. Each
// byte is tested alone: its low seven bits y are below 0x80, so adding at
// most 0x7f carries into no other byte, and the high bit of y+(0x80-lo)
// says y >= lo.
func keyWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x &^ highs
	lower := (y + (0x80-'a')*ones) &^ (y + (0x80-'z'-1)*ones)
	digit := (y + (0x80-'0')*ones) &^ (y + (0x80-'9'-1)*ones)
	under := ^((y ^ '_'*ones) + 0x7f*ones)
	return (lower|digit|under)&^x&highs == highs
}

// le64 is the eight bytes of s from i as a little-endian word.
func le64(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// digitWord reports whether all eight bytes of x are ASCII digits, and
// alnumWord whether they are ASCII letters or digits (as keyWord).
func digitWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x &^ highs
	digit := (y + (0x80-'0')*ones) &^ (y + (0x80-'9'-1)*ones)
	return digit&^x&highs == highs
}

func alnumWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x &^ highs
	lower := (y + (0x80-'a')*ones) &^ (y + (0x80-'z'-1)*ones)
	upper := (y + (0x80-'A')*ones) &^ (y + (0x80-'Z'-1)*ones)
	digit := (y + (0x80-'0')*ones) &^ (y + (0x80-'9'-1)*ones)
	return (lower|upper|digit)&^x&highs == highs
}

// checkBoundaries applies the key alphabet and the boundary rule to every
// parameter of a parsed form, over the bytes as signed: a value may hold
// "&k=" only for names k that do not sort after its own name.
//
// That makes the reading of a signed string unique. Take two readings of the
// same string-to-sign and the first place where they cut it differently.
// Either one of them cuts there at "&k=" inside a value of the other, whose
// name comes just before: names are sorted, so k sorts after that name, and
// the other reading breaks the rule; or the first reading has a boundary
// "&k=" that the second folds into the value before it, and then the second
// breaks the rule. So at most one reading obeys it, and every re-cut of a
// genuine callback, a parameter folded into another, a boundary moved into a
// name, text split into a parameter, is refused, or is the genuine callback.
// Text holding "&k=" for a k that sorts before its own name ("subject=a&b=c")
// cannot be cut there, since the names would not be sorted: it stays text.
//
// '&', '=' and the key alphabet are ASCII, and in GBK and GB18030 every byte
// below 0x80 that starts a character is that ASCII character, so the
// byte-level scan is exact in every supported charset.
//
// It also records in f.specs the fields entry of every parameter that
// reaches Params, for fill. A name found in fields (f.entries, which parse
// filled) is in the alphabet.
func checkBoundaries(f *form) error {
	f.specs = f.specs[:0]
	for i := range f.params {
		p := &f.params[i]
		e := f.entries[i]
		if e == nil {
			if err := checkKey(p.key); err != nil {
				return err
			}
		}
		if !unsigned(p) {
			var spec *fieldSpec
			if e != nil {
				spec = &e.spec
			}
			f.specs = append(f.specs, spec)
		}
		if !p.amp { // raw '&' ends a parameter: one in a value was %26
			continue
		}
		if k, ok := boundaryIn(p.val, p.key); ok {
			return fieldErr(ErrAmbiguous, safeField(p.key), "value holds \"&"+safeField([]byte(k))+"=\", a parameter boundary the signature does not fix")
		}
	}
	return nil
}

// boundaryIn reports whether the value v of parameter key holds "&k=" for a
// name k that sorts after key, and which.
func boundaryIn(v, key []byte) (string, bool) {
	for i := bytes.IndexByte(v, '&'); i >= 0; {
		j := i + 1
		for j < len(v) && isKeyByte(v[j]) {
			j++
		}
		if k := v[i+1 : j]; j > i+1 && j < len(v) && v[j] == '=' && bytes.Compare(k, key) > 0 {
			return string(k), true
		}
		n := bytes.IndexByte(v[i+1:], '&')
		if n < 0 {
			break
		}
		i += 1 + n
	}
	return "", false
}

// grammar is the syntax of a field's value.
type grammar uint8

const (
	gText       grammar = iota // free text: anything (the free-text rule applies)
	gDigits                    // Alipay ids: 1-64 ASCII digits
	gAlnum                     // buyer_open_id, open-platform notify_id: ASCII letters and digits
	gNotifyID                  // notify_id: letters, digits, and on legacy mapi base64's + / = and %
	gToken                     // Alipay names and codes: letters, digits, '_', '-', '.', ','
	gMerchantNo                // out_trade_no, out_biz_no, out_request_no: printable ASCII without & = |
	gStatus                    // trade_status: one of the known statuses
	gYN                        // Y or N
	gTF                        // T or F
	gVersion                   // 1.0 (open platform version; WAP v 1.0 or 2.0)
	gAmount                    // decimal with at most two places (parsed by ParseAmount)
	gTime                      // yyyy-MM-dd HH:mm:ss[.S] (parsed by ParseTime)
)

// checkGrammar refuses a value outside its field's grammar. Amounts and
// times are left to their parsers, which are strict.
func checkGrammar(g grammar, legacy bool, key, v string) error {
	ok := true
	switch g {
	case gDigits:
		ok = len(v) <= maxIDLen && allIn(v, cDigit)
	case gAlnum:
		ok = len(v) <= 128 && allIn(v, cAlnum)
	case gNotifyID:
		if legacy {
			ok = len(v) <= 256 && allIn(v, cNotifyID)
		} else {
			ok = len(v) <= 128 && allIn(v, cAlnum)
		}
	case gToken:
		ok = len(v) <= 128 && allIn(v, cToken)
	case gMerchantNo:
		ok = len(v) <= maxIDLen && allIn(v, cMerchantNo)
	case gStatus:
		ok = TradeStatus(v).Known()
	case gYN:
		ok = v == "Y" || v == "N"
	case gTF:
		ok = v == "T" || v == "F"
	case gVersion:
		ok = v == "1.0" || (legacy && v == "2.0")
	}
	if !ok {
		return fieldErr(ErrAmbiguous, key, "value outside the field's grammar")
	}
	return nil
}

// allIn reports whether s is non-empty and every byte of it is in class.
// Digits and alphanumerics (ids) of eight bytes or more are tested a word at
// a time, the last word overlapping the one before.
func allIn(s string, class uint8) bool {
	if s == "" {
		return false
	}
	switch {
	case len(s) >= 8 && class == cDigit:
		for i := 0; i < len(s)-8; i += 8 {
			if !digitWord(le64(s, i)) {
				return false
			}
		}
		return digitWord(le64(s, len(s)-8))
	case len(s) >= 8 && class == cAlnum:
		for i := 0; i < len(s)-8; i += 8 {
			if !alnumWord(le64(s, i)) {
				return false
			}
		}
		return alnumWord(le64(s, len(s)-8))
	}
	for i := 0; i < len(s); i++ {
		if byteClasses[s[i]]&class == 0 {
			return false
		}
	}
	return true
}

// Return methods: an open-platform return signs one of them, and nothing else
// is taken for a return.
const (
	methodPagePayReturn = "alipay.trade.page.pay.return"
	methodWAPPayReturn  = "alipay.trade.wap.pay.return"
)

func isReturnMethod(m string) bool { return m == methodPagePayReturn || m == methodWAPPayReturn }

// GatewayMessage reports whether the notification is an open-platform
// gateway message (notify_type other than trade_status_sync, such as
// servicemarket_order_notify) rather than a trade event. A gateway message
// never becomes a trade event, whatever trade fields it carries: it is
// identified by its notify_type and notify_id.
func (n *Notification) GatewayMessage() bool {
	return n.Source == SourceNotify && n.NotifyType != "" && n.NotifyType != "trade_status_sync"
}

// checkKind requires each kind of callback to sign what makes it that kind,
// and its time to be within the accepted window:
//
//   - an open-platform return signs a return method and its timestamp, and no
//     notification fields;
//   - a legacy return signs is_success=T and notify_time;
//   - a notification signs notify_id, notify_type and notify_time, and no
//     return method or is_success.
//
// So a notify is never taken for a return (where a missing status would be
// inferred as TRADE_SUCCESS), nor a return for a notify.
func (v *Verifier) checkKind(n *Notification, now time.Time) error {
	legacy := n.Protocol != ProtocolOpenPlatform
	_, hasIsSuccess := n.Params.Lookup("is_success")
	if n.Source == SourceReturn {
		switch {
		case !legacy && !isReturnMethod(n.Method):
			return fieldErr(ErrAmbiguous, "method", "a return signs "+methodPagePayReturn+" or "+methodWAPPayReturn)
		case !legacy && (n.NotifyID != "" || n.NotifyType != ""):
			return fieldErr(ErrAmbiguous, "notify_type", "a notification is not a return")
		case !legacy:
			return checkAge("timestamp", n.Timestamp, v.opts.MaxReturnAge, now)
		case !hasIsSuccess:
			return fieldErr(ErrAmbiguous, "is_success", "a legacy return signs is_success")
		case !n.Legacy.IsSuccess:
			return fieldErr(ErrMalformed, "is_success", "only T is accepted")
		case n.NotifyType != "" && n.NotifyType != "trade_status_sync":
			return fieldErr(ErrAmbiguous, "notify_type", "a gateway message is not a return")
		}
		return checkAge("notify_time", n.NotifyTime, v.opts.MaxReturnAge, now)
	}
	switch {
	case isReturnMethod(n.Method):
		return fieldErr(ErrAmbiguous, "method", "a return is not a notification")
	case hasIsSuccess:
		return fieldErr(ErrAmbiguous, "is_success", "a return is not a notification")
	case n.NotifyID == "":
		return fieldErr(ErrAmbiguous, "notify_id", "a notification signs notify_id")
	case n.NotifyType == "":
		return fieldErr(ErrAmbiguous, "notify_type", "a notification signs notify_type")
	case !legacy && !n.GatewayMessage() && !n.Timestamp.IsZero():
		// timestamp belongs to returns and gateway messages: on a trade
		// notification it can only have been split out of free text.
		return fieldErr(ErrAmbiguous, "timestamp", "a return field on a trade notification")
	}
	return checkAge("notify_time", n.NotifyTime, v.opts.MaxNotifyAge, now)
}

// checkAge refuses a signed time older than maxAge. A time ahead of this
// server's clock is accepted: only Alipay can sign one, and a time-compressed
// test of Alipay's retry schedule signs the future on purpose.
func checkAge(field string, t time.Time, maxAge time.Duration, now time.Time) error {
	if t.IsZero() {
		return fieldErr(ErrAmbiguous, field, "missing: the callback's age cannot be checked")
	}
	if t.Before(now.Add(-maxAge)) {
		return fieldErr(ErrExpired, field, "older than "+maxAge.String())
	}
	return nil
}

// MaxAge is the age of the oldest callback the Verifier accepts, whatever
// its kind. A dedupe store must remember a handled event longer than that,
// or a callback could run the handler again once its done mark expired; the
// middleware checks this at construction.
func (v *Verifier) MaxAge() time.Duration {
	return max(v.opts.MaxNotifyAge, v.opts.MaxReturnAge+wapReturnSlack)
}
