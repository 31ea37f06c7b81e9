package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// Story is what happens to one trade, as the notifications Alipay sends
// about it (docs/protocol.md, "Refund notifications" and "Trade status").
type Story string

// The stories a Trade can tell.
const (
	// StoryPaid is one TRADE_SUCCESS notification.
	StoryPaid Story = "paid"
	// StoryFinished is TRADE_SUCCESS, then TRADE_FINISHED (the refund
	// window elapsed, or a product without refunds).
	StoryFinished Story = "finished"
	// StoryClosedUnpaid is one TRADE_CLOSED notification of a trade that was
	// never paid.
	StoryClosedUnpaid Story = "closed_unpaid"
	// StoryPartialRefund is TRADE_SUCCESS, then one TRADE_SUCCESS refund
	// notification per amount in Trade.Refunds.
	StoryPartialRefund Story = "partial_refund"
	// StoryFullRefund is TRADE_SUCCESS, the partial refunds of Trade.Refunds
	// if any, then a TRADE_CLOSED refund of whatever remains.
	StoryFullRefund Story = "full_refund"
)

// The stories of legacy escrow and dual-function trades
// (create_partner_trade_by_buyer, trade_create_by_buyer;
// docs/protocol-legacy.md, "Escrow and dual-function"). They are mapi
// callbacks signed with MD5, the only way Alipay signs them; each step is a
// distinct business event.
const (
	// StoryEscrowFinished is WAIT_BUYER_PAY (the trade is created),
	// WAIT_SELLER_SEND_GOODS (paid into escrow), WAIT_BUYER_CONFIRM_GOODS
	// (shipped), then TRADE_FINISHED (the money goes to the seller).
	StoryEscrowFinished Story = "escrow_finished"
	// StoryEscrowRefunded is WAIT_BUYER_PAY, WAIT_SELLER_SEND_GOODS,
	// WAIT_BUYER_CONFIRM_GOODS, the buyer's refund request (the same
	// trade_status with refund_status WAIT_SELLER_AGREE), then TRADE_CLOSED
	// with refund_status REFUND_SUCCESS.
	StoryEscrowRefunded Story = "escrow_refunded"
	// StoryDualInstant is the dual-function service's instant branch:
	// WAIT_BUYER_PAY, then TRADE_FINISHED at once (即时到账).
	StoryDualInstant Story = "dual_instant"
)

// Stories lists the stories of open platform and instant-transfer trades,
// in the order the documentation gives them; EscrowStories the legacy
// escrow ones.
var Stories = []Story{StoryPaid, StoryFinished, StoryClosedUnpaid, StoryPartialRefund, StoryFullRefund}

// EscrowStories lists the stories of legacy escrow and dual-function
// trades.
var EscrowStories = []Story{StoryEscrowFinished, StoryEscrowRefunded, StoryDualInstant}

// isEscrow reports whether st is one of EscrowStories.
func (st Story) isEscrow() bool {
	return st == StoryEscrowFinished || st == StoryEscrowRefunded || st == StoryDualInstant
}

// HostileKind names a callback that a merchant must refuse: its answer must
// not be "success".
type HostileKind string

// The hostile inputs the simulator can send to notify_url.
const (
	// HostileForgedSignature is a well-formed notification whose signature
	// was not made with Alipay's key (or the partner's MD5 key).
	HostileForgedSignature HostileKind = "forged_signature"
	// HostileTamperedAmount is a genuine notification whose total_amount
	// (total_fee for MD5) was changed to 0.01 after signing.
	HostileTamperedAmount HostileKind = "tampered_amount"
	// HostileGarbageBody is a POST whose body is not a form at all.
	HostileGarbageBody HostileKind = "garbage_body"
	// HostileOversizedBody is a correctly signed notification padded to
	// Config.OversizeBytes (default 1 MiB), far beyond anything Alipay sends.
	HostileOversizedBody HostileKind = "oversized_body"
	// HostileWrongMethod is a genuine notification sent as a GET query
	// instead of a POST body.
	HostileWrongMethod HostileKind = "wrong_method"
)

// HostileKinds lists every HostileKind.
var HostileKinds = []HostileKind{HostileForgedSignature, HostileTamperedAmount, HostileGarbageBody, HostileOversizedBody, HostileWrongMethod}

// Duration is a time.Duration written in JSON as a Go duration string
// ("90s", "2m", "1h30m").
type Duration time.Duration

// UnmarshalJSON reads a duration string such as "2m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"2m\" or \"1h30m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q (want e.g. \"2m\" or \"1h30m\")", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string such as "2m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// Trade is one order of a Scenario and the way Alipay delivers its story.
// Only Story is required.
type Trade struct {
	// OutTradeNo is the merchant's order number. Default: a number unique to
	// the run ("SIM-<run>-<n>"). With Repeat > 1 a suffix "-<k>" is added.
	OutTradeNo string `json:"out_trade_no,omitempty"`
	// Amount is the order amount in yuan with at most two decimals.
	// Default: "88.88".
	Amount string `json:"amount,omitempty"`
	// Subject is the order title. Default: alipaytest's "测试商品". It must be
	// representable in Charset.
	Subject string `json:"subject,omitempty"`
	// Story is what happens to the trade. Required.
	Story Story `json:"story"`
	// Refunds are the partial refund amounts of the partial_refund and
	// full_refund stories, in order; together they must stay below Amount.
	Refunds []string `json:"refunds,omitempty"`
	// Charset is the charset of the signed bytes: utf-8, gbk or gb2312.
	// Default: utf-8. Legacy MD5 callbacks carry no charset parameter: the
	// merchant must expect this one (alipaynotify.Options.Legacy.Charset).
	Charset string `json:"charset,omitempty"`
	// SignType is RSA2, RSA (open platform, signed with Config.Key), MD5
	// (legacy mapi, signed with Config.MD5Key), WAP_MD5 or WAP_0001 (legacy
	// mobile web, alipay.wap.*: a notify_data XML notification signed with
	// Config.MD5Key, or signed with Config.WAPKey and encrypted to
	// Config.MerchantPublicKey; its return is the call_back_url redirect).
	// WAP trades tell the paid and finished stories in utf-8; escrow
	// stories are MD5 only. Default: RSA2, MD5 for escrow stories.
	SignType string `json:"sign_type,omitempty"`
	// Start is the simulated time of the trade's first notification.
	// Default: 0, the start of the run.
	Start Duration `json:"start,omitempty"`
	// Interval is the simulated time between two steps of the story (the
	// payment and each refund). Default: 30m.
	Interval Duration `json:"interval,omitempty"`
	// Duplicates is the number of extra copies of each notification sent
	// concurrently with its first delivery: even copies repeat the same body
	// (same notify_id), odd ones are re-sends of the same state with a new
	// notify_id. Default: 0.
	Duplicates int `json:"duplicates,omitempty"`
	// RaceReturn sends the buyer's return_url GET at a random moment within
	// Config.RaceWindow of the payment notification. Needs Config.ReturnURL.
	RaceReturn bool `json:"race_return,omitempty"`
	// OutOfOrder delivers the story's notifications latest first (e.g.
	// TRADE_FINISHED before TRADE_SUCCESS), as interleaved retries do.
	OutOfOrder bool `json:"out_of_order,omitempty"`
	// LostAcks makes the simulator ignore the first LostAcks "success"
	// answers of each notification, as if the response was lost on the way
	// back, so Alipay retries and the merchant sees a duplicate. Default: 0.
	LostAcks int `json:"lost_acks,omitempty"`
	// Repeat plays this trade Repeat times with distinct order numbers.
	// Default: 1.
	Repeat int `json:"repeat,omitempty"`
	// LoseNotifies loses every notification of the trade in transit until
	// this much simulated time after Start: the tries Alipay's schedule
	// puts in that window are not sent (Result.LostTries), and the first
	// try after it is delivered as Alipay's late retry. The buyer never
	// returns (it excludes RaceReturn). The merchant is expected to find
	// the payment first by querying the gateway (Config.QueryGateway), so
	// that the late notification is a duplicate. It must not exceed the
	// schedule's last try (24h22m with Alipay's). Default: 0, nothing lost.
	LoseNotifies Duration `json:"lose_notifies,omitempty"`
}

// Hostile is one hostile input of a Scenario. In JSON it is either the kind
// alone ("forged_signature") or an object with the fields below.
type Hostile struct {
	// Kind is what is sent. Required.
	Kind HostileKind `json:"kind"`
	// At is the simulated time it is sent. Default: 0.
	At Duration `json:"at,omitempty"`
	// SignType and Charset shape the (forged or genuine) notification the
	// input is built from. Default: RSA2 when Config.Key is set, else MD5;
	// utf-8.
	SignType string `json:"sign_type,omitempty"`
	// Charset: see SignType.
	Charset string `json:"charset,omitempty"`
}

// UnmarshalJSON accepts "forged_signature" as well as {"kind": ...}.
func (h *Hostile) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*h = Hostile{Kind: HostileKind(s)}
		return nil
	}
	type plain Hostile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*h = Hostile(p)
	return nil
}

// Scenario is the traffic of one run: trades told as Alipay notifications
// (and the buyer's returns), and hostile inputs. See the package
// documentation for the JSON form.
type Scenario struct {
	// Name labels the run in reports.
	Name string `json:"name,omitempty"`
	// Trades are the orders whose stories are delivered.
	Trades []Trade `json:"trades"`
	// Hostile are the inputs that must be refused.
	Hostile []Hostile `json:"hostile,omitempty"`
	// Gateway is the address (host:port, e.g. "127.0.0.1:9090") on which
	// alipaysim serves the fake trade-query gateway for this scenario,
	// unless its -gateway flag says otherwise. The library itself reads
	// Config.QueryGateway only.
	Gateway string `json:"gateway,omitempty"`
}

// ScenarioError is a scenario that cannot be played; Path locates the
// problem ("trades[2].refunds[0]", "line 7, column 12").
type ScenarioError struct {
	// File is the scenario file, when the scenario came from one.
	File string
	// Path says where the problem is.
	Path string
	// Err is what is wrong.
	Err error
}

// Error returns "scenario [file]: path: problem".
func (e *ScenarioError) Error() string {
	var b strings.Builder
	b.WriteString("scenario")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	if e.Path != "" {
		b.WriteString(": " + e.Path)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

// Unwrap returns Err.
func (e *ScenarioError) Unwrap() error { return e.Err }

// LoadScenario reads and validates a JSON scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, err := ParseScenario(data)
	var se *ScenarioError
	if errors.As(err, &se) {
		se.File = path
	}
	return sc, err
}

// ParseScenario decodes and validates a JSON scenario. Unknown fields are
// errors, so that a typo does not silently change the traffic.
func ParseScenario(data []byte) (*Scenario, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ScenarioError{Path: position(data, dec.InputOffset()), Err: errors.New("unexpected data after the scenario object")}
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// jsonError turns a decoding error into a ScenarioError with a line and
// column, and a field path when encoding/json knows it.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &ScenarioError{Path: position(data, syn.Offset-1), Err: fmt.Errorf("invalid JSON: %v", syn)}
	case errors.As(err, &typ):
		where := position(data, typ.Offset-1)
		if typ.Field != "" {
			where = typ.Field + " (" + where + ")"
		}
		return &ScenarioError{Path: where, Err: fmt.Errorf("want a JSON %s, got %s", typ.Type, typ.Value)}
	case errors.Is(err, io.EOF):
		return &ScenarioError{Err: errors.New("empty file: want a JSON object")}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ScenarioError{Err: errors.New("invalid JSON: unexpected end of file")}
	}
	// Unknown fields ("json: unknown field \"x\"") and errors of our own
	// UnmarshalJSON methods.
	return &ScenarioError{Err: errors.New(strings.TrimPrefix(err.Error(), "json: "))}
}

// position is the 1-based line and column of byte offset off. encoding/json
// reports offsets just past the offending byte: callers pass Offset-1.
func position(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// Validate checks the scenario without playing it. Errors are
// *ScenarioError with a path to the offending field.
func (sc *Scenario) Validate() error {
	if len(sc.Trades) == 0 && len(sc.Hostile) == 0 {
		return &ScenarioError{Path: "trades", Err: errors.New("no trades and no hostile inputs: nothing to send")}
	}
	for i := range sc.Trades {
		if err := sc.Trades[i].validate(); err != nil {
			err.Path = fmt.Sprintf("trades[%d]", i) + dotted(err.Path)
			return err
		}
	}
	for i, h := range sc.Hostile {
		if err := h.validate(); err != nil {
			err.Path = fmt.Sprintf("hostile[%d]", i) + dotted(err.Path)
			return err
		}
	}
	return nil
}

func dotted(p string) string {
	if p == "" || strings.HasPrefix(p, "[") {
		return p
	}
	return "." + p
}

func (t *Trade) validate() *ScenarioError {
	bad := func(path string, format string, args ...any) *ScenarioError {
		return &ScenarioError{Path: path, Err: fmt.Errorf(format, args...)}
	}
	switch t.Story {
	case "":
		return bad("story", "missing; want one of %s", storyList())
	case StoryPaid, StoryFinished, StoryClosedUnpaid, StoryPartialRefund, StoryFullRefund,
		StoryEscrowFinished, StoryEscrowRefunded, StoryDualInstant:
	default:
		return bad("story", "unknown story %q; want one of %s", t.Story, storyList())
	}
	total, err := parseCents(t.amount())
	if err != nil {
		return bad("amount", "%v", err)
	}
	if total == 0 && t.Story != StoryClosedUnpaid {
		return bad("amount", "a paid trade needs an amount above 0.00")
	}
	if len(t.Refunds) > 0 && t.Story != StoryPartialRefund && t.Story != StoryFullRefund {
		return bad("refunds", "only the partial_refund and full_refund stories have refunds (story is %q)", t.Story)
	}
	if t.Story == StoryPartialRefund && len(t.Refunds) == 0 {
		return bad("refunds", "the partial_refund story needs at least one amount, e.g. [\"10.00\"]")
	}
	var refunded int64
	for i, r := range t.Refunds {
		fen, err := parseCents(r)
		if err != nil {
			return bad(fmt.Sprintf("refunds[%d]", i), "%v", err)
		}
		if fen == 0 {
			return bad(fmt.Sprintf("refunds[%d]", i), "a refund must be above 0.00")
		}
		refunded += fen
		if refunded >= total {
			return bad(fmt.Sprintf("refunds[%d]", i), "partial refunds reach the amount %s; use the full_refund story for the refund that empties the trade", t.amount())
		}
	}
	cs, err := canonicalCharset(t.Charset)
	if err != nil {
		return bad("charset", "%v", err)
	}
	sg, err := t.signing()
	if err != nil {
		return bad("sign_type", "%v", err)
	}
	switch {
	case t.Story.isEscrow() && (sg.wap || sg.st != alipaytest.SignMD5):
		return bad("sign_type", "the %s story is a legacy escrow trade, signed with MD5 only (got %s)", t.Story, t.SignType)
	case sg.wap && t.Story != StoryPaid && t.Story != StoryFinished:
		return bad("story", "mobile web (%s) trades tell the paid and finished stories only (got %s)", t.SignType, t.Story)
	case sg.wap && cs != "utf-8":
		return bad("charset", "mobile web (%s) callbacks are utf-8 only (got %s)", t.SignType, t.Charset)
	}
	if _, err := alipaytest.EncodeText(t.Subject, cs); err != nil {
		return bad("subject", "cannot be written in %s", cs)
	}
	switch {
	case t.Start < 0:
		return bad("start", "must not be negative")
	case t.Interval < 0:
		return bad("interval", "must not be negative")
	case t.Duplicates < 0 || t.Duplicates > 100:
		return bad("duplicates", "want 0 to 100, got %d", t.Duplicates)
	case t.LostAcks < 0:
		return bad("lost_acks", "must not be negative")
	case t.Repeat < 0:
		return bad("repeat", "must not be negative")
	case t.Repeat > 1 && t.OutTradeNo != "" && len(t.OutTradeNo) > 60:
		return bad("out_trade_no", "too long to take a repeat suffix")
	case len(t.OutTradeNo) > 64:
		return bad("out_trade_no", "longer than Alipay's 64 characters")
	}
	if t.LoseNotifies < 0 {
		return bad("lose_notifies", "must not be negative")
	}
	if t.LoseNotifies > 0 && t.RaceReturn {
		return bad("race_return", "a trade whose notifications are lost (lose_notifies) has no return visit: the buyer never comes back")
	}
	if t.RaceReturn && t.Story == StoryClosedUnpaid {
		return bad("race_return", "an unpaid trade has no return page to race")
	}
	if t.OutOfOrder && len(t.steps()) < 2 {
		return bad("out_of_order", "the %s story has a single notification; use finished, partial_refund or full_refund", t.Story)
	}
	return nil
}

func (h Hostile) validate() *ScenarioError {
	bad := func(path string, format string, args ...any) *ScenarioError {
		return &ScenarioError{Path: path, Err: fmt.Errorf(format, args...)}
	}
	known := false
	for _, k := range HostileKinds {
		known = known || h.Kind == k
	}
	if !known {
		return bad("kind", "unknown hostile input %q; want one of %s", h.Kind, hostileList())
	}
	if h.At < 0 {
		return bad("at", "must not be negative")
	}
	if _, err := canonicalCharset(h.Charset); err != nil {
		return bad("charset", "%v", err)
	}
	if h.SignType != "" {
		sg, err := parseSignType(h.SignType)
		if err != nil {
			return bad("sign_type", "%v", err)
		}
		if sg.wap {
			return bad("sign_type", "hostile inputs are RSA2, RSA or MD5 callbacks (got %s)", h.SignType)
		}
	}
	return nil
}

func storyList() string {
	var s []string
	for _, v := range append(slices.Clone(Stories), EscrowStories...) {
		s = append(s, string(v))
	}
	return strings.Join(s, ", ")
}

func hostileList() string {
	s := make([]string, len(HostileKinds))
	for i, v := range HostileKinds {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func (t *Trade) amount() string {
	if t.Amount == "" {
		return "88.88"
	}
	return t.Amount
}

func (t *Trade) interval() time.Duration {
	if t.Interval == 0 {
		return 30 * time.Minute
	}
	return time.Duration(t.Interval)
}

func (t *Trade) repeat() int { return max(t.Repeat, 1) }

// canonicalCharset is alipaytest.CanonicalCharset with the simulator's
// wording of the error.
func canonicalCharset(name string) (string, error) {
	cs, err := alipaytest.CanonicalCharset(name)
	if err != nil {
		return "", fmt.Errorf("unsupported charset %q; want utf-8, gbk or gb2312", name)
	}
	return cs, nil
}

// signing is how a trade's callbacks are signed.
type signing struct {
	st  alipaytest.SignType // RSA2, RSA, MD5, or SignWAPRSA (sec_id=0001)
	wap bool                // legacy mobile web (alipay.wap.*)
}

// name is the sign type as scenarios write it.
func (sg signing) name() string {
	switch {
	case sg.wap && sg.st == alipaytest.SignWAPRSA:
		return "WAP_0001"
	case sg.wap:
		return "WAP_MD5"
	}
	return string(sg.st)
}

func parseSignType(s string) (signing, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "RSA2":
		return signing{st: alipaytest.SignRSA2}, nil
	case "RSA":
		return signing{st: alipaytest.SignRSA}, nil
	case "MD5":
		return signing{st: alipaytest.SignMD5}, nil
	case "WAP_MD5":
		return signing{st: alipaytest.SignMD5, wap: true}, nil
	case "WAP_0001":
		return signing{st: alipaytest.SignWAPRSA, wap: true}, nil
	}
	return signing{}, fmt.Errorf("unsupported sign type %q; want RSA2, RSA, MD5, WAP_MD5 or WAP_0001", s)
}

// signing returns the trade's signing, with the story's default.
func (t *Trade) signing() (signing, error) {
	if strings.TrimSpace(t.SignType) == "" && t.Story.isEscrow() {
		return signing{st: alipaytest.SignMD5}, nil
	}
	return parseSignType(t.SignType)
}

// parseCents parses a scenario amount: yuan with at most two decimals, below
// ten trillion yuan so that a trade's refunds can be summed without overflow.
func parseCents(s string) (int64, error) {
	fen, err := alipaytest.ParseCents(s)
	if err != nil || fen < 0 || fen > 1e15 {
		return 0, fmt.Errorf("amount %q: want yuan with at most two decimals, e.g. \"88.88\"", s)
	}
	return fen, nil
}
