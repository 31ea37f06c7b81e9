package alipayops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// ErrConfig reports Options that Handler cannot work with.
var ErrConfig = errors.New("alipayops: invalid options")

// DefaultMaxListed is Options.MaxListed when left zero.
const DefaultMaxListed = 200

// MaxOutTradeNo is the longest out_trade_no the search accepts: Alipay's
// limit (64 characters).
const MaxOutTradeNo = 64

// maxFormBytes bounds the body of an action's POST.
const maxFormBytes = 8 << 10

// Options configure the ops page. The zero value of every optional field is
// safe: a read-only page.
type Options struct {
	// Middleware is the merchant's middleware, whose store the page reads
	// and whose Replay and Forget it calls. Required.
	Middleware *middleware.Middleware
	// Business is the merchant's business handler, the one given to
	// Middleware.Notify: a replay runs it. Required with AllowActions.
	Business http.Handler
	// Merchants are the identities the search form offers: app_ids (open
	// platform) and partners (legacy). Default: the Verifier's AppID and
	// Partner, those configured. When none is known the form takes any.
	Merchants []string
	// AllowActions shows the replay, replay-all and forget buttons and
	// accepts their POSTs. Default: false, a read-only page that refuses
	// every action with 403.
	AllowActions bool
	// Actor names who makes a request, for the log of every action and for
	// Middleware.Forget: typically the user the merchant's own
	// authentication found. Required with AllowActions; an action whose
	// Actor is "" is refused with 403.
	Actor func(r *http.Request) string
	// MaxListed is how many dead letters the list shows, and how many
	// "replay all" replays at once. Default: DefaultMaxListed.
	MaxListed int
	// Logger receives one record per action (who, what, when, the outcome)
	// and per store failure. Default: slog.Default().
	Logger *slog.Logger
}

// page is the ops page: an http.Handler.
type page struct {
	opts Options
	mw   *middleware.Middleware
	csrf *csrf
	mux  *http.ServeMux
}

// Handler returns the ops page for opts.Middleware: an http.Handler to mount
// behind the merchant's own authentication, under a prefix it strips:
//
//	mux.Handle("/ops/", requireStaff(http.StripPrefix("/ops", h)))
//
// Its routes, relative to where it is mounted:
//
//	GET  /             the search form
//	GET  /trade        ?merchant=M&order=O: what happened to an order
//	GET  /deadletters  the dead letters (callbacks whose handler failed)
//	POST /replay       replay one dead letter (AllowActions)
//	POST /replay-all   replay the listed dead letters (AllowActions)
//	POST /forget       forget one handled event (AllowActions)
//
// Every page is server-rendered HTML, in Chinese with English, with no
// script and no external asset; every response forbids caching and framing.
// The actions are POST forms with a CSRF token (see csrf.go); forget asks
// for a confirmation. Dead letters' bodies (personal data) are never shown.
func Handler(opts Options) (http.Handler, error) {
	if opts.Middleware == nil {
		return nil, fmt.Errorf("%w: Middleware is required", ErrConfig)
	}
	if opts.AllowActions && opts.Business == nil {
		return nil, fmt.Errorf("%w: AllowActions needs Business, the handler a replay runs", ErrConfig)
	}
	if opts.AllowActions && opts.Actor == nil {
		return nil, fmt.Errorf("%w: AllowActions needs Actor, who makes each request", ErrConfig)
	}
	switch {
	case opts.MaxListed == 0:
		opts.MaxListed = DefaultMaxListed
	case opts.MaxListed < 0:
		return nil, fmt.Errorf("%w: MaxListed must not be negative", ErrConfig)
	}
	if opts.Merchants == nil {
		v := opts.Middleware.Verifier()
		for _, m := range []string{v.AppID(), v.Partner()} {
			if m != "" {
				opts.Merchants = append(opts.Merchants, m)
			}
		}
	}
	opts.Merchants = slices.Clone(opts.Merchants)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &page{opts: opts, mw: opts.Middleware, csrf: newCSRF(), mux: http.NewServeMux()}
	p.mux.HandleFunc("GET /{$}", p.home)
	p.mux.HandleFunc("GET /trade", p.trade)
	p.mux.HandleFunc("GET /deadletters", p.deadLetters)
	p.mux.HandleFunc("POST /replay", p.action(p.replay))
	p.mux.HandleFunc("POST /replay-all", p.action(p.replayAll))
	p.mux.HandleFunc("POST /forget", p.action(p.forget))
	return p, nil
}

// ServeHTTP sets the security headers and routes r.
func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	p.mux.ServeHTTP(w, r)
}

// view is what the template renders.
type view struct {
	Actions   bool
	Token     string
	Merchants []string
	Merchant  string
	Order     string
	// Error and Notice are bilingual messages; Error is shown as an alert.
	Error  string
	Notice string
	// Trade is set on the trade page.
	Trade *tradeView
	// Letters is set on the dead-letter page.
	Letters []letterRow
	// Results is set after a replay.
	Results []replayRow
	// Page names the body template: "home", "trade", "deadletters",
	// "replayed".
	Page string
}

// tradeView is one order's events.
type tradeView struct {
	Merchant, Order string
	Bound           bool
	Events          []eventRow
}

// eventRow is one event of an order.
type eventRow struct {
	ID     string
	State  string // "done", "inflight", "failed"
	Label  string // bilingual state
	Detail string
	At     string
	Source string
	Stale  bool
	Legacy bool
	// Letter is the event's dead letter, for a failed event.
	Letter *letterRow
}

// letterRow is one dead letter, without its body.
type letterRow struct {
	Trade, Merchant, Order, ID string
	Source                     string
	Attempts                   int
	First, Last                string
	Err                        string
}

// replayRow is the outcome of one replay.
type replayRow struct {
	Merchant, Order, ID string
	Outcome             string
	OK                  bool
	Err                 string
}

func (p *page) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	v.Actions = p.opts.AllowActions
	v.Merchants = p.opts.Merchants
	if v.Actions {
		v.Token = p.csrf.token(p.csrf.session(w, r))
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, "layout", v); err != nil {
		p.opts.Logger.ErrorContext(r.Context(), "alipayops: rendering the page failed", "page", v.Page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	b.WriteTo(w)
}

func (p *page) home(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, view{Page: "home"})
}

// order reads and checks the merchant and out_trade_no of a form.
func (p *page) order(form interface{ Get(string) string }) (merchant, order, problem string) {
	merchant, order = strings.TrimSpace(form.Get("merchant")), strings.TrimSpace(form.Get("order"))
	if merchant == "" && len(p.opts.Merchants) == 1 {
		merchant = p.opts.Merchants[0]
	}
	switch {
	case merchant == "":
		return merchant, order, "请选择商户 (app_id 或 partner)。 Choose the merchant (app_id or partner)."
	case len(p.opts.Merchants) > 0 && !slices.Contains(p.opts.Merchants, merchant):
		return merchant, order, "未知商户：" + merchant + "。 Unknown merchant: " + merchant + "."
	case order == "":
		return merchant, order, "请输入商户订单号 (out_trade_no)。 Enter the order's out_trade_no."
	case !printable(merchant) || !printable(order) || utf8.RuneCountInString(order) > MaxOutTradeNo:
		return merchant, order, fmt.Sprintf("商户订单号无效（最多 %d 个字符）。 Not a valid out_trade_no (at most %d characters).", MaxOutTradeNo, MaxOutTradeNo)
	}
	return merchant, order, ""
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func (p *page) trade(w http.ResponseWriter, r *http.Request) {
	merchant, order, problem := p.order(r.URL.Query())
	v := view{Page: "home", Merchant: merchant, Order: order}
	if problem != "" {
		v.Error = problem
		p.render(w, r, http.StatusBadRequest, v)
		return
	}
	p.showTrade(w, r, merchant, order, "")
}

// showTrade renders the trade page of one order, with notice on top.
func (p *page) showTrade(w http.ResponseWriter, r *http.Request, merchant, order, notice string) {
	v := view{Page: "home", Merchant: merchant, Order: order, Notice: notice}
	tv, err := p.mw.Lookup(r.Context(), merchant, order)
	if err != nil {
		v.Error = p.storeFailure(r, "lookup", err)
		p.render(w, r, storeStatus(err), v)
		return
	}
	v.Page = "trade"
	v.Trade = &tradeView{Merchant: merchant, Order: order, Bound: tv.Bound}
	failed := map[string]*letterRow{}
	for _, d := range tv.Failed {
		row := letter(d)
		failed[d.ID] = &row
	}
	for _, e := range tv.Events {
		row := eventRow{ID: e.ID, Source: e.Source, Stale: e.Stale, Legacy: e.Legacy}
		switch e.State {
		case dedupe.RecordDone:
			row.State, row.Label, row.At = "done", "已处理 done", chinaTime(e.HandledAt)
		case dedupe.RecordInFlight:
			row.State, row.Label = "inflight", "处理中 in flight"
			row.Detail = "租约剩余 lease left " + e.LeaseLeft.Round(time.Millisecond).String()
		default:
			row.State, row.Label = "unknown", e.State.String()
		}
		if row.State != "done" {
			row.Letter = failed[e.ID]
		}
		delete(failed, e.ID)
		v.Trade.Events = append(v.Trade.Events, row)
	}
	for _, d := range tv.Failed {
		if l, ok := failed[d.ID]; ok {
			v.Trade.Events = append(v.Trade.Events, eventRow{ID: d.ID, State: "failed", Label: "失败 failed",
				Detail: fmt.Sprintf("%d 次 attempts", d.Attempts), At: l.Last, Source: d.Source, Letter: l})
		}
	}
	status := http.StatusOK
	if len(v.Trade.Events) == 0 && !tv.Bound {
		if notice == "" { // after an action, the page reports on it
			status = http.StatusNotFound
		}
		v.Error = "没有此订单的记录：" + order + "。 No record of order " + order + " (merchant " + merchant + ")."
	}
	p.render(w, r, status, v)
}

func (p *page) deadLetters(w http.ResponseWriter, r *http.Request) {
	p.showLetters(w, r, http.StatusOK, view{})
}

// showLetters renders the dead-letter list under what v already holds, with
// status unless the store fails.
func (p *page) showLetters(w http.ResponseWriter, r *http.Request, status int, v view) {
	v.Page = "deadletters"
	dls, err := p.mw.DeadLetters(r.Context(), p.opts.MaxListed)
	if err != nil {
		v.Error = p.storeFailure(r, "deadletters", err)
		p.render(w, r, storeStatus(err), v)
		return
	}
	v.Letters = make([]letterRow, 0, len(dls))
	for _, d := range dls {
		v.Letters = append(v.Letters, letter(d))
	}
	p.render(w, r, status, v)
}

// letter returns the row of d, without its body.
func letter(d dedupe.DeadLetter) letterRow {
	merchant, order, _ := strings.Cut(d.Trade, "|")
	return letterRow{Trade: d.Trade, Merchant: merchant, Order: order, ID: d.ID, Source: d.Source,
		Attempts: d.Attempts, First: chinaTime(d.First), Last: chinaTime(d.Last), Err: d.Err}
}

// chinaTime formats t in China time, Alipay's zone.
func chinaTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(alipaynotify.ChinaTime).Format("2006-01-02 15:04:05 北京时间")
}

// storeFailure logs a failed operator call and returns what the page says.
func (p *page) storeFailure(r *http.Request, op string, err error) string {
	if errors.Is(err, middleware.ErrUnsupported) {
		return "此存储不支持该操作。 The dedupe store does not support this operation."
	}
	p.opts.Logger.ErrorContext(r.Context(), "alipayops: the store failed", "op", op, "err", err)
	return "存储暂不可用，请稍后重试。 The dedupe store is unreachable: try again later."
}

// storeStatus is the status of a page whose store call failed with err.
func storeStatus(err error) int {
	if errors.Is(err, middleware.ErrUnsupported) {
		return http.StatusNotImplemented
	}
	return http.StatusServiceUnavailable
}

// action wraps an action's handler: it refuses the action when the page is
// read-only, a request without a valid CSRF token or from another origin,
// and a request without an actor, each with 403.
func (p *page) action(next func(w http.ResponseWriter, r *http.Request, actor string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !p.opts.AllowActions {
			p.refuse(w, r, "此页面为只读。 This page is read-only: actions are turned off.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			p.render(w, r, http.StatusBadRequest, view{Page: "home", Error: "请求无效。 Malformed request."})
			return
		}
		if !p.csrf.check(r) {
			p.refuse(w, r, "安全令牌无效或已过期，请重新加载页面。 The security token is missing or expired (or the request came from another site): reload the page.")
			return
		}
		actor := p.opts.Actor(r)
		if actor == "" {
			p.refuse(w, r, "无法识别操作人。 Who makes this request is unknown: the action is refused.")
			return
		}
		next(w, r, actor)
	}
}

// refuse answers 403 with msg.
func (p *page) refuse(w http.ResponseWriter, r *http.Request, msg string) {
	p.render(w, r, http.StatusForbidden, view{Page: "home", Error: msg})
}

// replayContext bounds the replays of one request (each store call within
// them is bounded by the middleware's StoreTimeout; this bounds the business
// handlers too), so that a stuck handler cannot hold the request forever.
func replayContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 2*time.Minute)
}

func (p *page) replay(w http.ResponseWriter, r *http.Request, actor string) {
	trade, id := r.PostForm.Get("trade"), r.PostForm.Get("id")
	if trade == "" || id == "" || !printable(trade) || !printable(id) {
		p.render(w, r, http.StatusBadRequest, view{Page: "home", Error: "缺少事件。 Name the event to replay."})
		return
	}
	ctx, cancel := replayContext(r)
	defer cancel()
	dl, ok, err := p.mw.DeadLetter(ctx, trade, id)
	if err != nil {
		p.render(w, r, storeStatus(err), view{Page: "home", Error: p.storeFailure(r, "deadletter", err)})
		return
	}
	if !ok {
		merchant, order, _ := strings.Cut(trade, "|")
		p.showLetters(w, r, http.StatusNotFound, view{Error: "没有此死信（可能已处理）：" + order + " " + id + "。 No such dead letter (it may have been handled): " +
			order + " " + id + " (merchant " + merchant + ")."})
		return
	}
	row := p.replayOne(ctx, actor, dl)
	p.render(w, r, http.StatusOK, view{Page: "replayed", Results: []replayRow{row}})
}

func (p *page) replayAll(w http.ResponseWriter, r *http.Request, actor string) {
	ctx, cancel := replayContext(r)
	defer cancel()
	dls, err := p.mw.DeadLetters(ctx, p.opts.MaxListed)
	if err != nil {
		p.render(w, r, storeStatus(err), view{Page: "home", Error: p.storeFailure(r, "deadletters", err)})
		return
	}
	rows := make([]replayRow, 0, len(dls))
	for _, dl := range dls {
		if ctx.Err() != nil {
			break
		}
		rows = append(rows, p.replayOne(ctx, actor, dl))
	}
	p.render(w, r, http.StatusOK, view{Page: "replayed", Results: rows,
		Notice: fmt.Sprintf("已重放 %d 条。 Replayed %d of %d dead letters.", len(rows), len(rows), len(dls))})
}

// replayOne replays dl through the middleware and logs who did it.
func (p *page) replayOne(ctx context.Context, actor string, dl dedupe.DeadLetter) replayRow {
	merchant, order, _ := strings.Cut(dl.Trade, "|")
	d := p.mw.Replay(ctx, dl, p.opts.Business)
	row := replayRow{Merchant: merchant, Order: order, ID: dl.ID, Outcome: d.Outcome.String(), OK: d.Outcome.Acknowledged()}
	if d.Err != nil {
		row.Err = d.Err.Error()
	}
	p.opts.Logger.InfoContext(ctx, "alipayops: an operator replayed a dead letter",
		"actor", actor, "trade", dl.Trade, "event", dl.ID, "at", time.Now().In(alipaynotify.ChinaTime).Format(time.RFC3339),
		"outcome", d.Outcome.String(), "err", d.Err)
	return row
}

func (p *page) forget(w http.ResponseWriter, r *http.Request, actor string) {
	merchant, order, problem := p.order(r.PostForm)
	id := r.PostForm.Get("id")
	switch {
	case problem != "":
	case id == "" || !printable(id):
		problem = "缺少事件。 Name the event to forget."
	case r.PostForm.Get("confirm") != "yes":
		problem = "请勾选确认后再忘记此事件。 Tick the confirmation to forget the event."
	}
	if problem != "" {
		p.render(w, r, http.StatusBadRequest, view{Page: "home", Merchant: merchant, Order: order, Error: problem})
		return
	}
	was, err := p.mw.Forget(r.Context(), dedupe.TradeOf(merchant, order), id, actor)
	if err != nil {
		p.render(w, r, storeStatus(err), view{Page: "home", Merchant: merchant, Order: order, Error: p.storeFailure(r, "forget", err)})
		return
	}
	notice := "已忘记事件 " + id + "：下次通知将再次运行处理程序。 Forgot " + id + ": its next delivery runs the handler again."
	if !was {
		notice = "事件 " + id + " 未处于已处理状态，未做更改。 " + id + " was not done: nothing changed."
	}
	p.showTrade(w, r, merchant, order, notice)
}
