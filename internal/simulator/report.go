package simulator

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind says who sends an event and what is expected of the merchant.
type Kind string

// The kinds of events.
const (
	// KindNotify is a genuine notification from Alipay: retried on the
	// schedule until the merchant answers exactly "success".
	KindNotify Kind = "notify"
	// KindReturn is the buyer's browser coming back to return_url: sent
	// once; the merchant must render a page (a status below 400).
	KindReturn Kind = "return"
	// KindHostile is a callback that must be refused: any answer but
	// "success".
	KindHostile Kind = "hostile"
)

// Event is what the simulator knows about one event before sending it.
type Event struct {
	// Index is the event's position in Report.Results.
	Index int `json:"index"`
	// ID names the event: "ORDER-1 TRADE_SUCCESS", "ORDER-1 refund R2",
	// "ORDER-1 return", "hostile forged_signature".
	ID string `json:"id"`
	// Kind is notify, return or hostile.
	Kind Kind `json:"kind"`
	// Hostile is the kind of hostile input.
	Hostile HostileKind `json:"hostile,omitempty"`
	// OutTradeNo is the order.
	OutTradeNo string `json:"out_trade_no,omitempty"`
	// Step is the story step: paid, finished, closed, refund, full_refund,
	// return, or for escrow stories wait_buyer_pay, shipped,
	// refund_requested, refund_succeeded, instant_finished.
	Step string `json:"step,omitempty"`
	// TradeStatus is the trade_status sent.
	TradeStatus string `json:"trade_status,omitempty"`
	// RefundStatus is the refund_status of escrow refund steps.
	RefundStatus string `json:"refund_status,omitempty"`
	// OutBizNo is the refund request number of refunds.
	OutBizNo string `json:"out_biz_no,omitempty"`
	// RefundFee is the cumulative refunded amount of refunds.
	RefundFee string `json:"refund_fee,omitempty"`
	// NotifyID is the notify_id every try of the chain carries.
	NotifyID string `json:"notify_id,omitempty"`
	// Charset and SignType are how the event was signed.
	Charset string `json:"charset,omitempty"`
	// SignType: see Charset.
	SignType string `json:"sign_type,omitempty"`
	// Subject is the order title (UTF-8).
	Subject string `json:"subject,omitempty"`
	// Start is the simulated time of the first delivery.
	Start time.Duration `json:"start_ns"`
	// Copies is the number of concurrent duplicates sent with the first try.
	Copies int `json:"copies,omitempty"`
	// LostAcks is the number of "success" answers the simulator ignores.
	LostAcks int `json:"lost_acks,omitempty"`
	// LoseUntil is, for a trade with Trade.LoseNotifies, the simulated time
	// until which its notifications are lost in transit.
	LoseUntil time.Duration `json:"lose_until_ns,omitempty"`
}

// Answer is one delivery and the merchant's answer to it.
type Answer struct {
	// DeliveryID is the value of the DeliveryHeader sent with the request.
	DeliveryID string `json:"delivery_id"`
	// Attempt is the try of the notification chain (1 to 8 for Alipay's
	// schedule); duplicates carry the try they were sent with.
	Attempt int `json:"attempt"`
	// Copy is 0 for the chain's own delivery and n for its n-th concurrent
	// duplicate.
	Copy int `json:"copy,omitempty"`
	// NotifyID is the notify_id sent (a re-send's is new).
	NotifyID string `json:"notify_id,omitempty"`
	// Method is the HTTP method used.
	Method string `json:"method"`
	// Scheduled is the simulated time the delivery was due.
	Scheduled time.Duration `json:"scheduled_ns"`
	// Sent is the simulated time it was actually sent (later than Scheduled
	// when every worker was busy).
	Sent time.Duration `json:"sent_ns"`
	// Late is set when it was sent more than half the shortest retry
	// interval after Scheduled (a minute with Alipay's schedule).
	Late bool `json:"late,omitempty"`
	// WorkersBusy is set on a late delivery when every worker was busy
	// while it waited: it waited for the merchant's answers to other
	// deliveries. A late delivery without it was started late by the
	// simulator itself.
	WorkersBusy bool `json:"workers_busy,omitempty"`
	// Latency is the wall-clock time the merchant took to answer.
	Latency time.Duration `json:"latency_ns"`
	// Status is the HTTP status (0 on a transport error).
	Status int `json:"status"`
	// Body is the start of the answer, sanitized for display.
	Body string `json:"body"`
	// Success is set when the body was exactly "success".
	Success bool `json:"success"`
	// Lost is set when a "success" was deliberately ignored
	// (Trade.LostAcks).
	Lost bool `json:"lost,omitempty"`
	// Err is the transport error, if any.
	Err string `json:"error,omitempty"`
}

// Short describes the answer in a few words: `200 "success"`,
// `500 "fail"`, `error: timeout`.
func (a Answer) Short() string {
	if a.Err != "" {
		return "error: " + a.Err
	}
	s := fmt.Sprintf("%d %q", a.Status, a.Body)
	if a.Lost {
		s += " (lost)"
	}
	return s
}

// Result is an event and everything that happened to it.
type Result struct {
	Event
	// Answers are the deliveries, by try, the chain's own delivery before
	// its duplicates.
	Answers []Answer `json:"answers"`
	// Attempts is the number of tries of the chain (duplicates excluded).
	Attempts int `json:"attempts"`
	// Acknowledged is set when a try of a notify got "success" (and the
	// simulator did not drop it).
	Acknowledged bool `json:"acknowledged"`
	// AckAttempt is the try that was acknowledged.
	AckAttempt int `json:"ack_attempt,omitempty"`
	// AckAt is the scheduled simulated time of that try.
	AckAt time.Duration `json:"ack_at_ns,omitempty"`
	// Refused is set when a hostile input was not answered "success".
	Refused bool `json:"refused,omitempty"`
	// OK is set when the merchant did what it must: acknowledge a notify
	// within the schedule, render a return page, refuse a hostile input.
	OK bool `json:"ok"`
	// Done is set once nothing more will be sent for the event.
	Done bool `json:"done"`

	// LostTries is the number of tries lost in transit (Trade.LoseNotifies):
	// scheduled, never sent. The first try sent is try LostTries+1.
	LostTries int `json:"lost_tries,omitempty"`
	// QueryVisible is set on a lost notification whose status a trade query
	// reports (a payment or a closing; not a refund nor WAIT_BUYER_PAY),
	// when the simulator runs the query gateway: the merchant should find
	// it by query before the late notification.
	QueryVisible bool `json:"query_visible,omitempty"`
	// Queries counts the merchant's queries about the order (with a valid
	// signature) that the gateway answered before the first late try of a
	// lost notification was sent.
	Queries int `json:"queries,omitempty"`
	// FoundByQuery is set when one of them answered the notification's
	// trade status: the merchant's Reconciler found the payment before the
	// late notification, which was then a duplicate to the merchant.
	FoundByQuery bool `json:"found_by_query,omitempty"`
	// FoundAt is the simulated time of the first such query.
	FoundAt time.Duration `json:"found_at_ns,omitempty"`
}

// Outcome summarizes the result in a word or two.
func (r *Result) Outcome() string {
	switch {
	case !r.Done && len(r.Answers) == 0:
		return "not sent"
	case !r.Done:
		return "interrupted"
	case r.Kind == KindHostile && r.Refused:
		return "refused"
	case r.Kind == KindHostile:
		return "ACCEPTED"
	case r.Kind == KindReturn && r.OK:
		return "page shown"
	case r.Kind == KindReturn:
		return "PAGE FAILED"
	case r.QueryVisible && !r.FoundByQuery:
		return "NOT FOUND BY QUERY"
	case r.Acknowledged && r.FoundByQuery:
		return "found by query; late notify acknowledged"
	case r.Acknowledged:
		return "acknowledged"
	}
	return "NOT ACKNOWLEDGED"
}

// Totals count what a Report holds.
type Totals struct {
	// Notifications is the number of genuine notify events.
	Notifications int `json:"notifications"`
	// Acknowledged is how many of them got "success" within the schedule.
	Acknowledged int `json:"acknowledged"`
	// FirstTry is how many were acknowledged at the first try.
	FirstTry int `json:"first_try"`
	// Returns is the number of return_url visits; ReturnsOK rendered a page.
	Returns int `json:"returns"`
	// ReturnsOK: see Returns.
	ReturnsOK int `json:"returns_ok"`
	// Hostile is the number of hostile inputs; Refused were refused.
	Hostile int `json:"hostile"`
	// Refused: see Hostile.
	Refused int `json:"refused"`
	// Deliveries is every HTTP request sent.
	Deliveries int `json:"deliveries"`
	// Retries is the number of tries after the first.
	Retries int `json:"retries"`
	// Copies is the number of concurrent duplicates.
	Copies int `json:"copies"`
	// LostAcks is the number of "success" answers deliberately ignored.
	LostAcks int `json:"lost_acks"`
	// Errors is the number of deliveries that got no HTTP answer.
	Errors int `json:"errors"`
	// Late is the number of deliveries sent late (Answer.Late);
	// Report.Lateness says why.
	Late int `json:"late"`
	// Lost is the number of notifications lost in transit for a while
	// (Trade.LoseNotifies); LostTries the tries never sent.
	Lost int `json:"lost,omitempty"`
	// LostTries: see Lost.
	LostTries int `json:"lost_tries,omitempty"`
	// QueryVisible is how many lost notifications a query could find;
	// FoundByQuery how many the merchant found so before the late
	// notification.
	QueryVisible int `json:"query_visible,omitempty"`
	// FoundByQuery: see QueryVisible.
	FoundByQuery int `json:"found_by_query,omitempty"`
	// Queries counts the queries with a valid signature the gateway
	// answered during the run.
	Queries int `json:"queries,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	// Scenario is the scenario's name.
	Scenario string `json:"scenario,omitempty"`
	// Speed is the time compression factor.
	Speed float64 `json:"speed"`
	// Started is the wall-clock start of the run (simulated time 0).
	Started time.Time `json:"started"`
	// Wall is how long the run took.
	Wall time.Duration `json:"wall_ns"`
	// Simulated is the simulated time the run covered.
	Simulated time.Duration `json:"simulated_ns"`
	// Interrupted is set when the run was stopped before every event was
	// done.
	Interrupted bool `json:"interrupted,omitempty"`
	// Results hold one entry per event, in plan order.
	Results []Result `json:"results"`
	// Totals count them.
	Totals Totals `json:"totals"`
	// Lateness explains the deliveries sent late; nil when none was.
	Lateness *Lateness `json:"lateness,omitempty"`
	// Passed is OK() at the time the report was made.
	Passed bool `json:"passed"`
}

// OK reports whether the merchant behaved: every notification acknowledged
// within the schedule, every return page rendered, every hostile input
// refused, and the run not interrupted.
func (r *Report) OK() bool {
	if r.Interrupted {
		return false
	}
	for i := range r.Results {
		if !r.Results[i].OK {
			return false
		}
	}
	return true
}

func (r *Report) total() {
	t := Totals{}
	for i := range r.Results {
		res := &r.Results[i]
		switch res.Kind {
		case KindNotify:
			t.Notifications++
			if res.LostTries > 0 {
				t.Lost++
				t.LostTries += res.LostTries
			}
			if res.QueryVisible {
				t.QueryVisible++
				if res.FoundByQuery {
					t.FoundByQuery++
				}
			}
			if res.Acknowledged {
				t.Acknowledged++
				if res.AckAttempt == 1 {
					t.FirstTry++
				}
			}
		case KindReturn:
			t.Returns++
			if res.OK {
				t.ReturnsOK++
			}
		case KindHostile:
			t.Hostile++
			if res.Refused {
				t.Refused++
			}
		}
		for _, a := range res.Answers {
			t.Deliveries++
			if a.Copy > 0 {
				t.Copies++
			} else if a.Attempt > 1 {
				t.Retries++
			}
			if a.Lost {
				t.LostAcks++
			}
			if a.Err != "" {
				t.Errors++
			}
			if a.Late {
				t.Late++
			}
		}
	}
	t.Queries = r.Totals.Queries // counted by the run
	r.Totals = t
	r.Passed = r.OK()
}

// WriteJSON writes the report as indented JSON. Durations are integers in
// nanoseconds (fields ending in _ns).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteTable writes one row per event, then the summary line. With
// failuresOnly, rows of events that went as expected are left out (and the
// table too when nothing failed).
func (r *Report) WriteTable(w io.Writer, failuresOnly bool) error {
	rows := 0
	for i := range r.Results {
		if !failuresOnly || !r.Results[i].OK {
			rows++
		}
	}
	if rows > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EVENT\tKIND\tSIGN\tSTART\tTRIES\tDUPS\tACK AT\tRESULT\tANSWERS")
		for i := range r.Results {
			res := &r.Results[i]
			if failuresOnly && res.OK {
				continue
			}
			sign := res.SignType
			if res.Charset != "" && sign != "" {
				sign += "/" + res.Charset
			}
			ack := "-"
			if res.Acknowledged {
				ack = fmt.Sprintf("#%d %s", res.AckAttempt, FormatSim(res.AckAt))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n",
				res.ID, res.Kind, or(sign, "-"), FormatSim(res.Start), res.Attempts, len(res.Answers)-res.Attempts,
				ack, res.Outcome(), lostSummary(res)+answersSummary(res.Answers))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return r.WriteSummary(w)
}

// WriteSummary writes the verdict and the totals on one line.
func (r *Report) WriteSummary(w io.Writer) error {
	t := r.Totals
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	if r.Scenario != "" {
		verdict = r.Scenario + ": " + verdict
	}
	interrupted := ""
	if r.Lateness != nil {
		interrupted += "; " + r.Lateness.String()
	} else if t.Late > 0 {
		interrupted += fmt.Sprintf("; %d deliveries sent late", t.Late)
	}
	if t.Lost > 0 {
		lost := fmt.Sprintf("; lost notifications %d (%d tries never sent)", t.Lost, t.LostTries)
		if t.QueryVisible > 0 {
			lost += fmt.Sprintf(", %d/%d found by query first (%d gateway queries)", t.FoundByQuery, t.QueryVisible, t.Queries)
		}
		interrupted = lost + interrupted
	}
	if r.Interrupted {
		interrupted += " (interrupted)"
	}
	_, err := fmt.Fprintf(w, "%s — notifications %d/%d acknowledged (%d at the first try), returns %d/%d rendered, hostile %d/%d refused; "+
		"%d deliveries (%d retries, %d duplicates, %d lost acks, %d errors); simulated %s in %s at speed ×%g%s\n",
		verdict, t.Acknowledged, t.Notifications, t.FirstTry, t.ReturnsOK, t.Returns, t.Refused, t.Hostile,
		t.Deliveries, t.Retries, t.Copies, t.LostAcks, t.Errors,
		FormatSim(r.Simulated), r.Wall.Round(time.Millisecond), r.Speed, interrupted)
	return err
}

// lostSummary says what happened before the first try sent of a lost
// notification: `4 tries lost, found by query at +00:03:10; `.
func lostSummary(res *Result) string {
	if res.LostTries == 0 {
		return ""
	}
	s := fmt.Sprintf("%d tries lost", res.LostTries)
	switch {
	case res.FoundByQuery:
		s += fmt.Sprintf(", found by query at %s", FormatSim(res.FoundAt))
	case res.QueryVisible:
		s += fmt.Sprintf(", %d queries, none found it", res.Queries)
	}
	return s + "; "
}

// answersSummary lists answers compactly, merging runs of equal ones:
// `500 "fail" ×2, 200 "success"`.
func answersSummary(as []Answer) string {
	var parts []string
	for i := 0; i < len(as); {
		j := i + 1
		for j < len(as) && as[j].Short() == as[i].Short() {
			j++
		}
		s := as[i].Short()
		if j-i > 1 {
			s += fmt.Sprintf(" ×%d", j-i)
		}
		parts = append(parts, s)
		i = j
	}
	const maxParts = 4
	if len(parts) > maxParts {
		parts = append(parts[:maxParts-1], "…", parts[len(parts)-1])
	}
	return strings.Join(parts, ", ")
}

// sanitize keeps the start of an answer printable: at most n runes, control
// and invalid bytes replaced by '.', whitespace runs folded into one space.
func sanitize(b []byte, n int) string {
	var out strings.Builder
	runes, space := 0, false
	for len(b) > 0 && runes < n {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case unicode.IsSpace(r):
			if !space && out.Len() > 0 {
				out.WriteByte(' ')
			}
			space = true
			continue
		case r == utf8.RuneError && size <= 1, !unicode.IsPrint(r):
			r = '.'
		}
		space = false
		out.WriteRune(r)
		runes++
	}
	s := strings.TrimRight(out.String(), " ")
	if len(b) > 0 {
		s += "…"
	}
	return s
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
