package alipaynotify

// Masking: how a Notification, its Params, a Param and a Receiver print.
//
// Every way a library or a merchant's code commonly writes a value out goes
// through a method here: fmt (every verb, through Format), log/slog (text
// and JSON handlers, through LogValue), encoding/json (MarshalJSON, also used
// by slog's JSON handler and most structured loggers for values nested in
// other structs) and String. All of them write the personal data of the
// buyer masked, so that a log line, an error report or a JSON dump never
// holds it. The fields themselves are untouched: read them to use the data.
// A JSON encoding is therefore a masked view, not a storage format: to store
// personal data, copy the fields you need into your own type.
//
// Personal data is every parameter whose key contains one of piiKeys (see
// there), and every value, whatever its key, that holds such a key followed
// by '=' somewhere: a parameter re-cut from a genuine callback (a value that
// folds in the next parameters, "quantity=1&receive_name=张三", or a key that
// does, "price=1.00&receive_mobile=138…&receive_name") prints masked too,
// whether or not the verifier let it through.

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// piiKeys are the personal-data parameters: the buyer's shipping address
// (every receive_* field of legacy escrow: name, address, zip, phone,
// mobile), the buyer's accounts (buyer_email and buyer_logon_id, e-mail
// addresses or mobile numbers; buyer_id and buyer_open_id, which identify a
// person across merchants, and the trade query's buyer_user_* fields, whose
// buyer_user_id is the buyer_id), seller_email (a personal account for the many
// individual sellers of legacy escrow), and the free text subject and body,
// which often name the buyer or the goods. A key is personal data when it
// contains one of these as a substring, so that a key re-cut around one
// (or a future receive_* field) is masked as well.
var piiKeys = [...]string{
	"receive_",
	"buyer_email",
	"buyer_logon_id",
	"buyer_id",
	"buyer_open_id",
	"buyer_user_",
	"seller_email",
	"subject",
	"body",
}

// piiMasks mask the values of the personal-data keys that have a
// dedicated format; any other key containing a piiKeys entry is redacted
// to "***".
var piiMasks = map[string]func(string) string{
	"receive_name":    maskName,
	"receive_address": maskAddress,
	"receive_zip":     maskZip,
	"receive_phone":   maskPhone,
	"receive_mobile":  maskPhone,
	"buyer_email":     maskAccount,
	"buyer_logon_id":  maskAccount,
	"seller_email":    maskAccount,
	"buyer_id":        maskID,
	"buyer_open_id":   maskID,
	"buyer_user_id":   maskID,
	"subject":         redact,
	"body":            redact,
}

// containsPII reports whether s contains one of piiKeys.
func containsPII(s string) bool {
	for _, k := range piiKeys {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// scrubFolded returns "***" for a value that holds a personal-data key
// followed, somewhere, by '=': a value that folds in personal-data
// parameters. Other values are returned as they are.
func scrubFolded(s string) string {
	if strings.IndexByte(s, '=') >= 0 && containsPII(s) {
		return redact(s)
	}
	return s
}

// maskKey masks a key that holds personal data: one that contains a
// personal-data key and a separator ('=' or '&') keeps only its text before
// the first separator, followed by "***" ("price=1.00&receive_name" prints
// "price***"), since what follows may be folded-in values.
func maskKey(k string) string {
	if i := strings.IndexAny(k, "=&"); i >= 0 && containsPII(k) {
		return k[:i] + "***"
	}
	return k
}

// maskValue masks the value of key: "***" if the value folds in
// personal-data parameters, the key's own mask if it has one, "***" if the
// key contains a personal-data key, else the value unchanged.
func maskValue(key, value string) string {
	if value == "" {
		return ""
	}
	if scrubFolded(value) != value {
		return redact(value)
	}
	if mask, ok := piiMasks[key]; ok {
		return mask(value)
	}
	if containsPII(key) {
		return redact(value)
	}
	return value
}

// Masked returns p with its key and value masked as Params.Masked masks
// each parameter.
func (p Param) Masked() Param {
	return Param{Key: maskKey(p.Key), Value: maskValue(p.Key, p.Value)}
}

// maskedParam is a Param without its methods, so that Format prints its
// fields rather than calling itself.
type maskedParam Param

// String returns the masked parameter as fmt's %v prints it: "{Key Value}".
func (p Param) String() string { return fmt.Sprint(maskedParam(p.Masked())) }

// Format implements fmt.Formatter: every verb prints p.Masked(), with %#v
// as Go syntax (alipaynotify.Param{Key:"…", Value:"…"}).
func (p Param) Format(s fmt.State, verb rune) {
	m := p.Masked()
	if verb == 'v' && s.Flag('#') {
		writeGoParam(s, m)
		return
	}
	fmt.Fprintf(s, fmt.FormatString(s, verb), maskedParam(m))
}

// LogValue implements slog.LogValuer: a group of the masked key and value.
func (p Param) LogValue() slog.Value {
	m := p.Masked()
	return slog.GroupValue(slog.String("key", m.Key), slog.String("value", m.Value))
}

// MarshalJSON implements json.Marshaler: the masked parameter as
// {"Key":"…","Value":"…"}.
func (p Param) MarshalJSON() ([]byte, error) { return json.Marshal(maskedParam(p.Masked())) }

// Masked returns a copy of p with every parameter masked: the value of a
// personal-data key (one containing an entry of the personal-data list:
// receive_*, buyer_email, buyer_logon_id, buyer_id, buyer_open_id,
// seller_email, subject, body) masked as Notification.Masked masks the
// typed field ("张*", "138****0000", "b***@example.com",
// "2088********0002", "***"), or "***" for keys without a dedicated mask;
// any value that holds a personal-data key followed by '=' (a parameter
// that folds in others) "***"; and a key that holds a personal-data key and
// a separator cut before its first '=' or '&'. The copy keeps p's order.
// A nil p gives nil.
func (p Params) Masked() Params {
	if p == nil {
		return nil
	}
	c := make(Params, len(p))
	for i, q := range p {
		c[i] = q.Masked()
	}
	return c
}

// String returns the masked parameters as fmt's %v prints them:
// "[{k1 v1} {k2 v2}]".
func (p Params) String() string { return fmt.Sprint(maskedParams(p.Masked())) }

// maskedParams converts to a slice whose elements have no methods.
func maskedParams(p Params) []maskedParam {
	if p == nil {
		return nil
	}
	out := make([]maskedParam, len(p))
	for i, q := range p {
		out[i] = maskedParam(q)
	}
	return out
}

// Format implements fmt.Formatter: every verb prints p.Masked(), with %#v
// as Go syntax (alipaynotify.Params{alipaynotify.Param{Key:"…",
// Value:"…"}, …}).
func (p Params) Format(s fmt.State, verb rune) {
	m := p.Masked()
	if verb == 'v' && s.Flag('#') {
		if m == nil {
			fmt.Fprint(s, "alipaynotify.Params(nil)")
			return
		}
		fmt.Fprint(s, "alipaynotify.Params{")
		for i, q := range m {
			if i > 0 {
				fmt.Fprint(s, ", ")
			}
			writeGoParam(s, q)
		}
		fmt.Fprint(s, "}")
		return
	}
	fmt.Fprintf(s, fmt.FormatString(s, verb), maskedParams(m))
}

func writeGoParam(s fmt.State, p Param) {
	fmt.Fprint(s, "alipaynotify.Param{Key:"+strconv.Quote(p.Key)+", Value:"+strconv.Quote(p.Value)+"}")
}

// LogValue implements slog.LogValuer: a group with one attribute per
// parameter, its masked key and value.
func (p Params) LogValue() slog.Value {
	m := p.Masked()
	attrs := make([]slog.Attr, len(m))
	for i, q := range m {
		attrs[i] = slog.String(q.Key, q.Value)
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON implements json.Marshaler: the masked parameters as an array
// of {"Key":"…","Value":"…"} objects (null for nil Params).
func (p Params) MarshalJSON() ([]byte, error) { return json.Marshal(maskedParams(p.Masked())) }

// Masked returns r with every field masked: the name keeps its first
// character, the address its first three, the zip code its first two, phone
// numbers their first three and last four digits (last two for short
// numbers); the rest becomes '*'. A field that folds in a personal-data
// parameter (holds one of its keys followed by '=') becomes "***".
func (r Receiver) Masked() Receiver {
	m := func(mask func(string) string, s string) string {
		if scrubFolded(s) != s {
			return redact(s)
		}
		return mask(s)
	}
	return Receiver{
		Name:    m(maskName, r.Name),
		Address: m(maskAddress, r.Address),
		Zip:     m(maskZip, r.Zip),
		Phone:   m(maskPhone, r.Phone),
		Mobile:  m(maskPhone, r.Mobile),
	}
}

// plainReceiver is a Receiver without its methods.
type plainReceiver Receiver

// Format implements fmt.Formatter: %#v prints the Go syntax of the masked
// receiver (alipaynotify.Receiver{Name:"张*", …}), every other verb formats
// String, as for any fmt.Stringer.
func (r Receiver) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('#') {
		fmt.Fprint(s, strings.Replace(fmt.Sprintf("%#v", plainReceiver(r.Masked())), "plainReceiver", "Receiver", 1))
		return
	}
	fmt.Fprintf(s, fmt.FormatString(s, verb), r.String())
}

// String returns the masked receiver, e.g.
// "{Name:张* Address:浙江省*** Zip:31**** Phone:057******8090 Mobile:138****0000}".
func (r Receiver) String() string {
	return fmt.Sprintf("%+v", plainReceiver(r.Masked()))
}

// LogValue implements slog.LogValuer: the receiver as a group of masked
// fields.
func (r Receiver) LogValue() slog.Value {
	m := r.Masked()
	return slog.GroupValue(
		slog.String("name", m.Name),
		slog.String("address", m.Address),
		slog.String("zip", m.Zip),
		slog.String("phone", m.Phone),
		slog.String("mobile", m.Mobile),
	)
}

// MarshalJSON implements json.Marshaler: the masked receiver, with the
// field names as keys ({"Name":"张*",…}).
func (r Receiver) MarshalJSON() ([]byte, error) { return json.Marshal(plainReceiver(r.Masked())) }

// LogValue implements slog.LogValuer, so that
// logger.Info("...", "notification", n) logs what identifies the callback
// and its business event — source, protocol, app_id or partner,
// out_trade_no, trade_no, trade_status, refund_status, amounts, notify_type
// and notify_id — and nothing about the buyer: never the receive_* address,
// buyer_email, buyer_logon_id, buyer_id, subject or body (a logged value
// that folds in such a parameter is "***").
func (n *Notification) LogValue() slog.Value {
	if n == nil {
		return slog.StringValue("<nil>")
	}
	attrs := make([]slog.Attr, 0, 14)
	str := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, scrubFolded(v)))
		}
	}
	str("source", string(n.Source))
	str("protocol", string(n.Protocol))
	if n.Protocol == ProtocolOpenPlatform {
		str("app_id", n.AppID)
	} else {
		str("partner", n.Partner)
	}
	str("out_trade_no", n.OutTradeNo)
	str("trade_no", n.TradeNo)
	str("trade_status", string(n.TradeStatus))
	str("total_amount", n.TotalAmount.String()) // left out when absent
	if r := n.Refund; r != nil {
		str("out_biz_no", r.OutBizNo)
		str("refund_status", string(r.Status))
		if r.Fee != 0 {
			attrs = append(attrs, slog.String("refund_fee", r.Fee.String()))
		}
	}
	str("notify_type", n.NotifyType)
	str("notify_id", n.NotifyID)
	return slog.GroupValue(attrs...)
}

// Format implements fmt.Formatter: every verb prints n.Masked() (the
// fields, with %+v their names, with %#v as Go syntax of the masked copy,
// a maskedNotification), so that fmt.Printf("%+v", n) or log.Print(n)
// never writes the buyer's personal data. (fmt cannot call Format on a
// Notification held in an unexported struct field; print such a struct's
// notification with Masked.) Read the fields to use them.
func (n Notification) Format(s fmt.State, verb rune) {
	fmt.Fprintf(s, fmt.FormatString(s, verb), (*maskedNotification)(n.Masked()))
}

// MarshalJSON implements json.Marshaler: the JSON of n.Masked(), every
// field under its Go name, so that json.Marshal(n) — or a structured logger
// encoding a struct that holds n — never writes the buyer's personal data.
// It is a masked view for logs, not a storage format.
func (n Notification) MarshalJSON() ([]byte, error) {
	return json.Marshal((*maskedNotification)(n.Masked()))
}

// maskedNotification is a Notification without its methods, so that Format
// and MarshalJSON print its fields rather than calling themselves.
type maskedNotification Notification

// Masked returns a copy of n that is safe to print or log whole: Legacy.Receiver
// masked as Receiver.Masked, Legacy.BuyerEmail, BuyerLogonID and SellerEmail
// masked ("b***@example.com", "139****0000"), BuyerID and BuyerOpenID
// masked ("2088********0002"), Subject and Body (free text that may name
// the buyer) replaced by "***", Params masked as Params.Masked, and any
// other text field that folds in a personal-data parameter (holds one of
// its keys followed by '=') replaced by "***". Everything else, the
// signature-derived identity included, is kept. The copy shares no mutable
// state with n except the fund bill and voucher lists.
func (n *Notification) Masked() *Notification {
	if n == nil {
		return nil
	}
	c := *n
	scrubStrings(reflect.ValueOf(&c).Elem())
	if n.Legacy.Receiver != nil {
		r := n.Legacy.Receiver.Masked()
		c.Legacy.Receiver = &r
	}
	if n.Legacy.Logistics != nil {
		l := *n.Legacy.Logistics
		scrubStrings(reflect.ValueOf(&l).Elem())
		c.Legacy.Logistics = &l
	}
	if n.Refund != nil {
		r := *n.Refund
		scrubStrings(reflect.ValueOf(&r).Elem())
		c.Refund = &r
	}
	c.Legacy.BuyerEmail = maskAccount(c.Legacy.BuyerEmail) // c's: already "***" if folded
	c.BuyerLogonID = maskAccount(c.BuyerLogonID)
	c.SellerEmail = maskAccount(c.SellerEmail)
	c.BuyerID = maskID(c.BuyerID)
	c.BuyerOpenID = maskID(c.BuyerOpenID)
	c.Subject = redact(c.Subject)
	c.Body = redact(c.Body)
	c.Params = n.Params.Masked()
	// A masked copy is not a verified callback, and printing must never
	// reach the Verifier (it holds keys) or the unmasked original.
	c.verifiedBy, c.self = nil, nil
	return &c
}

// scrubStrings applies scrubFolded to every settable string-kinded field of
// the struct v and of the structs it holds by value, so that a text field added to Notification later is
// covered without a change here.
func scrubStrings(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.CanSet() {
			scrubStrings(f) // Notification.Legacy
		}
		if f.Kind() == reflect.String && f.CanSet() {
			if s := f.String(); scrubFolded(s) != s {
				f.SetString(redact(s))
			}
		}
	}
}

// maskKeep keeps the first head and last tail runes of s and replaces the
// rest with '*' (stars of them, or one per masked rune when stars is 0).
// Strings too short to hide anything become all stars.
func maskKeep(s string, head, tail, stars int) string {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return ""
	}
	if n <= head+tail {
		return strings.Repeat("*", max(stars, n))
	}
	var b strings.Builder
	i := 0
	for _, r := range s {
		switch {
		case i < head || i >= n-tail:
			b.WriteRune(r)
		case stars == 0:
			b.WriteByte('*')
		case i == head:
			b.WriteString(strings.Repeat("*", stars))
		}
		i++
	}
	return b.String()
}

// maskName keeps a name's first character: "张三" → "张*", "欧阳娜娜" → "欧***".
func maskName(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= 1 {
		return maskKeep(s, 0, 0, 0)
	}
	return maskKeep(s, 1, 0, min(n-1, 3))
}

// maskAddress keeps an address's first three characters (the province):
// "浙江省杭州市…" → "浙江省***".
func maskAddress(s string) string { return maskKeep(s, 3, 0, 3) }

// maskZip keeps a zip code's first two digits: "310000" → "31****".
func maskZip(s string) string { return maskKeep(s, 2, 0, 0) }

// maskPhone keeps the first three and last four characters of a number of
// at least eleven ("13800000000" → "138****0000"), the last two of a shorter
// one of at least six, and nothing of shorter ones.
func maskPhone(s string) string {
	switch n := utf8.RuneCountInString(s); {
	case n >= 11:
		return maskKeep(s, 3, 4, 0)
	case n >= 6:
		return maskKeep(s, 0, 2, 0)
	default:
		return maskKeep(s, 0, 0, 0)
	}
}

// maskAccount masks an account, an e-mail address ("buyer@example.com"
// → "b***@example.com") or a mobile number.
func maskAccount(s string) string {
	if at := strings.LastIndexByte(s, '@'); at > 0 {
		return maskKeep(s[:at], 1, 0, 3) + s[at:]
	}
	return maskPhone(s)
}

// maskID keeps the first and last four characters of an account ID:
// "2088000000000002" → "2088********0002".
func maskID(s string) string { return maskKeep(s, 4, 4, 0) }

// redact replaces a non-empty s by "***".
func redact(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}
