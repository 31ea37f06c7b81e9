package main

import (
	"strings"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// The JSON the commands print with -json. Scripts depend on these names:
// add fields, never rename or remove one. Times are RFC 3339 in China time
// (UTC+8), "" when unknown.

// lookupJSON is lookup's answer.
type lookupJSON struct {
	Merchant    string           `json:"merchant"`
	OutTradeNo  string           `json:"out_trade_no"`
	Trade       string           `json:"trade"`
	Bound       bool             `json:"trade_no_recorded"`
	Events      []eventJSON      `json:"events"`
	DeadLetters []deadLetterJSON `json:"dead_letters"`
}

// eventJSON is one event of an order.
type eventJSON struct {
	ID          string `json:"event"`
	State       string `json:"state"` // "done" or "in_flight"
	LeaseLeftMS int64  `json:"lease_left_ms"`
	HandledAt   string `json:"handled_at"`
	Source      string `json:"source"`
	Stale       bool   `json:"stale"`
	Legacy      bool   `json:"legacy"`
}

// deadLetterJSON is one dead letter, without its body (personal data).
type deadLetterJSON struct {
	Trade      string `json:"trade"`
	Merchant   string `json:"merchant"`
	OutTradeNo string `json:"out_trade_no"`
	Event      string `json:"event"`
	Source     string `json:"source"`
	Attempts   int    `json:"attempts"`
	First      string `json:"first_failure"`
	Last       string `json:"last_failure"`
	Error      string `json:"error"`
}

// deadLettersJSON is deadletters' answer.
type deadLettersJSON struct {
	DeadLetters []deadLetterJSON `json:"dead_letters"`
}

// forgetJSON is forget's answer.
type forgetJSON struct {
	Trade   string `json:"trade"`
	Event   string `json:"event"`
	Actor   string `json:"actor"`
	At      string `json:"at"`
	WasDone bool   `json:"was_done"`
}

// replayJSON is replay's answer.
type replayJSON struct {
	Results []replayResultJSON `json:"results"`
}

// replayResultJSON is the outcome of one dead letter's replay. Status is
// "replayed", "duplicate" (handled before: not re-sent), "failed" (the
// merchant did not answer "success") or "not_resendable" (a return).
type replayResultJSON struct {
	Trade      string `json:"trade"`
	Merchant   string `json:"merchant"`
	OutTradeNo string `json:"out_trade_no"`
	Event      string `json:"event"`
	Status     string `json:"status"`
	HTTPStatus int    `json:"http_status"`
	Answer     string `json:"answer"`
	Detail     string `json:"detail"`
}

func eventOf(e dedupe.EventRecord) eventJSON {
	out := eventJSON{ID: e.ID, State: "done", HandledAt: chinaTime(e.HandledAt), Source: e.Source, Stale: e.Stale, Legacy: e.Legacy}
	if e.State == dedupe.RecordInFlight {
		out.State, out.LeaseLeftMS = "in_flight", e.LeaseLeft.Milliseconds()
	}
	return out
}

func deadLetterOf(d dedupe.DeadLetter) deadLetterJSON {
	merchant, order, _ := strings.Cut(d.Trade, "|")
	return deadLetterJSON{Trade: d.Trade, Merchant: merchant, OutTradeNo: order, Event: d.ID, Source: d.Source,
		Attempts: d.Attempts, First: chinaTime(d.First), Last: chinaTime(d.Last), Error: d.Err}
}

// chinaTime formats t as RFC 3339 in China time.
func chinaTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(alipaynotify.ChinaTime).Format("2006-01-02T15:04:05.000Z07:00")
}
