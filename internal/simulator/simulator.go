package simulator

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// DeliveryHeader is sent with every request: its value is Answer.DeliveryID
// ("e<event>.t<try>.c<copy>"), so that a merchant's logs, or a test's
// recording handler, can be matched with the report. Alipay sends no such
// header; merchants must not depend on it.
const DeliveryHeader = "Alipaysim-Delivery"

// Defaults of Config: Alipay's 15 s client timeout, 32 deliveries in flight, a
// return visit within 3 simulated seconds of its notification, a 1 MiB
// oversized body, a progress report every second.
const (
	DefaultTimeout       = 15 * time.Second
	DefaultWorkers       = 32
	DefaultRaceWindow    = 3 * time.Second
	DefaultOversizeBytes = 1 << 20
	DefaultProgressEvery = time.Second
)

// Config sets up a Simulator. Only NotifyURL is required, plus the key of
// whichever sign types the scenario uses.
type Config struct {
	// NotifyURL is the merchant's notify_url. Required.
	NotifyURL string
	// ReturnURL is the merchant's return_url. Required by trades with
	// RaceReturn.
	ReturnURL string

	// Key is Alipay's private key, used for RSA2 and RSA events; the
	// merchant is configured with its public half. Required when the
	// scenario signs with RSA2 or RSA.
	Key *alipaytest.KeyPair
	// AppID is the app_id of open-platform events.
	// Default: alipaytest.DefaultAppID.
	AppID string
	// Partner is the legacy partner ID of MD5 events.
	// Default: alipaytest.DefaultPID.
	Partner string
	// SellerID is the seller_id of every event. Default: Partner.
	SellerID string
	// MD5Key is the partner's MD5 key. Required when the scenario signs with
	// MD5.
	MD5Key string
	// WAPKey is Alipay's mobile web signing key for WAP_0001 trades; the
	// merchant is configured with its public half (WAPPublicKeys).
	WAPKey *alipaytest.KeyPair
	// MerchantPublicKey is the merchant's public key, which WAP_0001
	// notifications' notify_data is encrypted to; the merchant decrypts
	// with its private half (MerchantPrivateKey).
	MerchantPublicKey *rsa.PublicKey
	// Gateway, when set, learns every notify_id sent, so a merchant that
	// runs the legacy notify_verify check against it gets "true".
	Gateway *alipaytest.NotifyVerifyServer

	// Speed compresses time: simulated time runs Speed times faster than
	// the wall clock (3600: an hour in a second). Default: 1.
	Speed float64
	// Schedule is the interval before each try of a notification.
	// Default: AlipaySchedule.
	Schedule []time.Duration
	// Timeout bounds one delivery in wall-clock time, as Alipay's own
	// client does. Default: 15s.
	Timeout time.Duration
	// Workers bounds the deliveries in flight at once. Default: 32.
	Workers int
	// RaceWindow is how far, in simulated time, a racing return_url visit
	// may be from its payment notification. Default: 3s.
	RaceWindow time.Duration
	// OversizeBytes is the size of the oversized_body input. Default: 1 MiB.
	OversizeBytes int
	// Seed makes the random choices (return offsets, run ID) repeatable.
	// Default: 0, a random seed.
	Seed uint64
	// RunID distinguishes the generated order numbers of this run from
	// earlier ones. Default: 6 random digits.
	RunID string
	// Epoch is the China-time clock reading at simulated time 0, used for
	// notify_time and the other timestamps. Default: the start of the run.
	Epoch time.Time
	// Client sends the deliveries. It must not follow redirects (Alipay
	// does not). Default: a client with Timeout and no redirects.
	Client *http.Client

	// OnDelivery, when set, is called after every delivery, from the worker
	// that made it (concurrently: it must be safe for that).
	OnDelivery func(Event, Answer)
	// OnProgress, when set, is called every ProgressEvery while the run
	// lasts, and once at the end.
	OnProgress func(Progress)
	// ProgressEvery is the period of OnProgress in wall-clock time.
	// Default: 1s.
	ProgressEvery time.Duration
}

// Simulator plays Alipay's servers and the buyer's browser against a
// merchant. Create it with New; Run may be called several times.
type Simulator struct {
	cfg       Config
	offsets   []time.Duration
	lateAfter time.Duration // a delivery this far behind its time is late
	client    *http.Client
}

// New validates cfg once and returns a Simulator.
func New(cfg Config) (*Simulator, error) {
	if err := checkURL("notify URL", cfg.NotifyURL); err != nil {
		return nil, err
	}
	if cfg.ReturnURL != "" {
		if err := checkURL("return URL", cfg.ReturnURL); err != nil {
			return nil, err
		}
	}
	switch {
	case cfg.Speed == 0:
		cfg.Speed = 1
	case !(cfg.Speed > 0) || math.IsInf(cfg.Speed, 1):
		return nil, fmt.Errorf("simulator: speed must be a positive number, got %g", cfg.Speed)
	}
	if cfg.Schedule == nil {
		cfg.Schedule = AlipaySchedule
	}
	if len(cfg.Schedule) == 0 {
		return nil, errors.New("simulator: empty schedule")
	}
	for _, d := range cfg.Schedule {
		if d < 0 {
			return nil, errors.New("simulator: schedule intervals must not be negative")
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.RaceWindow == 0 {
		cfg.RaceWindow = DefaultRaceWindow
	}
	if cfg.OversizeBytes == 0 {
		cfg.OversizeBytes = DefaultOversizeBytes
	}
	if cfg.ProgressEvery == 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	switch {
	case cfg.Timeout < 0:
		return nil, errors.New("simulator: timeout must be positive")
	case cfg.Workers < 0:
		return nil, errors.New("simulator: workers must be positive")
	case cfg.RaceWindow < 0:
		return nil, errors.New("simulator: race window must not be negative")
	case cfg.OversizeBytes < 0:
		return nil, errors.New("simulator: oversize bytes must not be negative")
	case cfg.ProgressEvery < 0:
		return nil, errors.New("simulator: progress period must be positive")
	}
	if cfg.AppID == "" {
		cfg.AppID = alipaytest.DefaultAppID
	}
	if cfg.Partner == "" {
		cfg.Partner = alipaytest.DefaultPID
	}
	s := &Simulator{cfg: cfg, offsets: Offsets(cfg.Schedule), lateAfter: time.Minute, client: cfg.Client}
	for _, d := range cfg.Schedule {
		if d > 0 {
			s.lateAfter = min(s.lateAfter, d/2)
		}
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Workers
		s.client = &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is not "success"
			},
		}
	}
	return s, nil
}

func checkURL(what, raw string) error {
	if raw == "" {
		return fmt.Errorf("simulator: the %s is required", what)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("simulator: the %s %q is not an http(s) URL", what, raw)
	}
	if u.RawQuery != "" {
		// Alipay forbids custom query parameters on both URLs (§1.1).
		return fmt.Errorf("simulator: the %s %q must not carry a query", what, raw)
	}
	return nil
}

// Schedule returns the simulated offset of each try: Offsets(Config.Schedule).
func (s *Simulator) Schedule() []time.Duration { return append([]time.Duration(nil), s.offsets...) }

// CheckScenario reports whether sc can be played with this configuration:
// it is valid and every key it needs is configured.
func (s *Simulator) CheckScenario(sc *Scenario) error {
	if err := sc.Validate(); err != nil {
		return err
	}
	for i, t := range sc.Trades {
		sg, _ := t.signing()
		if err := s.checkKey(sg); err != nil {
			return &ScenarioError{Path: fmt.Sprintf("trades[%d].sign_type", i), Err: err}
		}
		if t.RaceReturn && s.cfg.ReturnURL == "" {
			return &ScenarioError{Path: fmt.Sprintf("trades[%d].race_return", i), Err: errors.New("needs a return URL")}
		}
	}
	for i, h := range sc.Hostile {
		if err := s.checkKey(signing{st: s.hostileSignType(h)}); err != nil {
			return &ScenarioError{Path: fmt.Sprintf("hostile[%d].sign_type", i), Err: err}
		}
	}
	return nil
}

func (s *Simulator) checkKey(sg signing) error {
	switch {
	case sg.st == alipaytest.SignMD5 && s.cfg.MD5Key == "":
		return fmt.Errorf("%s needs the partner's MD5 key", sg.name())
	case sg.st == alipaytest.SignWAPRSA && (s.cfg.WAPKey == nil || s.cfg.MerchantPublicKey == nil):
		return errors.New("WAP_0001 needs Alipay's WAP private key and the merchant's public key")
	case !sg.wap && sg.st != alipaytest.SignMD5 && s.cfg.Key == nil:
		return fmt.Errorf("%s needs Alipay's private key", sg.st)
	}
	return nil
}

func (s *Simulator) hostileSignType(h Hostile) alipaytest.SignType {
	if h.SignType == "" {
		if s.cfg.Key == nil {
			return alipaytest.SignMD5
		}
		return alipaytest.SignRSA2
	}
	sg, _ := parseSignType(h.SignType)
	return sg.st
}

// Progress is a snapshot of a running simulation.
type Progress struct {
	// Simulated is the simulated time now; Wall the wall-clock time spent.
	Simulated time.Duration
	// Wall: see Simulated.
	Wall time.Duration
	// Events is the number of events; Done those finished.
	Events int
	// Done: see Events.
	Done int
	// Notifications, Acknowledged and GaveUp count genuine notifications:
	// all, acknowledged, and out of tries.
	Notifications int
	// Acknowledged: see Notifications.
	Acknowledged int
	// GaveUp: see Notifications.
	GaveUp int
	// Hostile and Refused count hostile inputs.
	Hostile int
	// Refused: see Hostile.
	Refused int
	// Deliveries is the number of requests answered so far.
	Deliveries int
	// Waiting is the number of deliveries scheduled and not yet sent;
	// NextAt is the simulated time of the earliest.
	Waiting int
	// NextAt: see Waiting.
	NextAt time.Duration
	// Behind is set when the earliest waiting delivery is overdue by more
	// than half the shortest retry interval: the merchant (or Workers)
	// cannot keep up with Speed, and retries no longer follow the schedule.
	Behind bool
	// Finished is set on the last call, when the run is over.
	Finished bool
}

// event is one event being played.
type event struct {
	info     Event
	msg      *alipaytest.Message   // notify, return, and hostile inputs built from a message
	copies   []*alipaytest.Message // duplicates of the first try
	raw      func(ctx context.Context, url string) (*http.Request, error)
	lostAcks int

	mu  sync.Mutex
	res Result
}

// run is the state of one Run.
type run struct {
	sim   *Simulator
	clock clock
	q     *queue
	evs   []*event

	deliveries  atomic.Int64
	done        atomic.Int64
	acked       atomic.Int64
	gaveUp      atomic.Int64
	refused     atomic.Int64
	notifyCount int
	hostile     int
}

// Run plays sc and returns the report. It returns early, with the report so
// far and ctx's error, when ctx ends. Other errors mean the scenario could
// not be played at all.
func (s *Simulator) Run(ctx context.Context, sc *Scenario) (*Report, error) {
	if err := s.CheckScenario(sc); err != nil {
		return nil, err
	}
	seed := s.cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	rng := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	runID := s.cfg.RunID
	if runID == "" {
		runID = fmt.Sprintf("%06d", rng.IntN(1_000_000))
	}
	epoch := s.cfg.Epoch
	if epoch.IsZero() {
		epoch = time.Now()
	}
	p := &planner{sim: s, rng: rng, runID: runID, epoch: epoch.In(alipaytest.ChinaTime)}
	evs, err := p.plan(sc)
	if err != nil {
		return nil, err
	}

	r := &run{sim: s, evs: evs}
	for _, ev := range evs {
		switch ev.info.Kind {
		case KindNotify:
			r.notifyCount++
		case KindHostile:
			r.hostile++
		}
	}
	r.clock = clock{start: time.Now(), speed: s.cfg.Speed}
	r.q = newQueue(r.clock)
	for _, ev := range evs {
		ev.res.Event = ev.info
		r.q.push(&job{ev: ev, attempt: 1, due: ev.info.Start})
		for c := range ev.copies {
			r.q.push(&job{ev: ev, attempt: 1, copy: c + 1, due: ev.info.Start})
		}
	}

	jobs := make(chan *job)
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r.deliver(ctx, j)
				r.q.finish()
			}
		}()
	}
	stopProgress := r.progressLoop()
	r.q.run(ctx, jobs)
	wg.Wait()
	stopProgress()

	rep := r.report(sc.Name)
	if err := ctx.Err(); err != nil && rep.Interrupted {
		return rep, err
	}
	return rep, nil
}

func (r *run) progressLoop() func() {
	if r.sim.cfg.OnProgress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(r.sim.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				r.sim.cfg.OnProgress(r.progress(true))
				return
			case <-t.C:
				r.sim.cfg.OnProgress(r.progress(false))
			}
		}
	}()
	return func() { close(stop); <-exited }
}

func (r *run) progress(finished bool) Progress {
	p := Progress{
		Simulated:     r.clock.now(),
		Wall:          time.Since(r.clock.start),
		Events:        len(r.evs),
		Done:          int(r.done.Load()),
		Notifications: r.notifyCount,
		Acknowledged:  int(r.acked.Load()),
		GaveUp:        int(r.gaveUp.Load()),
		Hostile:       r.hostile,
		Refused:       int(r.refused.Load()),
		Deliveries:    int(r.deliveries.Load()),
		Finished:      finished,
	}
	if at, n, ok := r.q.next(); ok {
		p.NextAt, p.Waiting = at, n
		p.Behind = p.Simulated-at > r.sim.lateAfter
	}
	return p
}

func (r *run) report(name string) *Report {
	rep := &Report{
		Scenario:  name,
		Speed:     r.sim.cfg.Speed,
		Started:   r.clock.start,
		Wall:      time.Since(r.clock.start),
		Simulated: r.clock.now(),
	}
	for _, ev := range r.evs {
		ev.mu.Lock()
		res := ev.res
		res.Answers = append([]Answer(nil), ev.res.Answers...)
		ev.mu.Unlock()
		slices.SortStableFunc(res.Answers, func(a, b Answer) int {
			return cmp.Or(cmp.Compare(a.Attempt, b.Attempt), cmp.Compare(a.Copy, b.Copy))
		})
		if !res.Done {
			rep.Interrupted = true
		}
		rep.Results = append(rep.Results, res)
	}
	rep.total()
	return rep
}

// deliver sends one job and schedules what follows from the answer.
func (r *run) deliver(ctx context.Context, j *job) {
	ev := j.ev
	a := Answer{
		DeliveryID: fmt.Sprintf("e%d.t%d.c%d", ev.info.Index, j.attempt, j.copy),
		Attempt:    j.attempt,
		Copy:       j.copy,
		NotifyID:   ev.info.NotifyID,
		Scheduled:  j.due,
		Sent:       r.clock.now(),
	}
	a.Late = a.Sent-a.Scheduled > r.sim.lateAfter
	if j.copy > 0 {
		a.NotifyID = ev.copies[j.copy-1].Get("notify_id")
	}
	req, err := r.request(ctx, ev, j.copy)
	if err != nil {
		a.Err = err.Error()
	} else {
		req.Header.Set(DeliveryHeader, a.DeliveryID)
		req.Header.Set("User-Agent", "alipaysim")
		a.Method = req.Method
		start := time.Now()
		resp, err := r.sim.client.Do(req)
		if err != nil {
			a.Latency = time.Since(start)
			a.Err = transportError(err)
		} else {
			// Read a little more than "success" so that "success\n" or a page
			// starting with it does not pass; drain a bounded rest so the
			// connection can be reused.
			head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			a.Latency = time.Since(start)
			a.Status = resp.StatusCode
			a.Body = sanitize(head, 40)
			a.Success = string(head) == "success"
		}
	}
	if ctx.Err() != nil && a.Err != "" {
		// The run was stopped: this delivery does not count.
		return
	}
	r.deliveries.Add(1)

	ev.mu.Lock()
	res := &ev.res
	if j.copy == 0 {
		res.Attempts++
	}
	var next *job
	finished := false
	switch {
	case ev.info.Kind == KindHostile:
		res.Refused = !a.Success
		res.OK, finished = res.Refused, true
	case ev.info.Kind == KindReturn:
		res.OK = a.Err == "" && a.Status >= 200 && a.Status < 400
		finished = true
	case j.copy > 0:
		// Duplicates do not drive the chain.
	case a.Success && ev.lostAcks > 0:
		// Alipay never sees this "success": it retries, if it still may.
		ev.lostAcks--
		a.Lost = true
		next = r.retry(ev, j)
		finished = next == nil
	case a.Success:
		res.Acknowledged, res.AckAttempt, res.AckAt = true, j.attempt, j.due
		res.OK, finished = true, true
	default:
		next = r.retry(ev, j)
		finished = next == nil
	}
	res.Answers = append(res.Answers, a)
	if finished {
		res.Done = true
	}
	acked := res.Acknowledged
	ev.mu.Unlock()

	if finished {
		r.done.Add(1)
		switch {
		case ev.info.Kind == KindHostile && !a.Success:
			r.refused.Add(1)
		case ev.info.Kind == KindNotify && acked:
			r.acked.Add(1)
		case ev.info.Kind == KindNotify:
			r.gaveUp.Add(1)
		}
	}
	if next != nil {
		r.q.push(next)
	}
	if f := r.sim.cfg.OnDelivery; f != nil {
		f(ev.info, a)
	}
}

// retry returns the next try of a notification chain, or nil when the
// schedule is exhausted.
func (r *run) retry(ev *event, j *job) *job {
	if j.attempt >= len(r.sim.offsets) {
		return nil
	}
	return &job{ev: ev, attempt: j.attempt + 1, due: ev.info.Start + r.sim.offsets[j.attempt]}
}

func (r *run) request(ctx context.Context, ev *event, c int) (*http.Request, error) {
	switch {
	case ev.raw != nil:
		return ev.raw(ctx, r.sim.cfg.NotifyURL)
	case ev.info.Kind == KindReturn:
		return ev.msg.ClientRequest(ctx, r.sim.cfg.ReturnURL)
	case c > 0:
		return ev.copies[c-1].ClientRequest(ctx, r.sim.cfg.NotifyURL)
	}
	return ev.msg.ClientRequest(ctx, r.sim.cfg.NotifyURL)
}

// transportError describes a failed request without echoing its URL, which
// for a return holds the whole signed query.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return "timeout"
	}
	return sanitize([]byte(err.Error()), 80)
}

// planner turns a scenario into events.
type planner struct {
	sim   *Simulator
	rng   *mrand.Rand
	runID string
	epoch time.Time
	evs   []*event
	n     int // generated order numbers
}

// add appends a hostile event (trades fill their own slots).
func (p *planner) add(ev *event) {
	ev.info.Index = len(p.evs)
	p.evs = append(p.evs, ev)
}

// signer returns a signer for one trade (or hostile input) whose clock is
// set by the returned function before each message is built, so that
// notify_time and the other timestamps follow simulated time.
func (p *planner) signer(st alipaytest.SignType, charset string) (*alipaytest.Signer, func(time.Duration)) {
	var at time.Time
	s := &alipaytest.Signer{
		Key:      p.sim.cfg.Key,
		SignType: st,
		AppID:    p.sim.cfg.AppID,
		Partner:  p.sim.cfg.Partner,
		SellerID: p.sim.cfg.SellerID,
		MD5Key:   p.sim.cfg.MD5Key,
		Charset:  charset,
		Gateway:  p.sim.cfg.Gateway,
		Now:      func() time.Time { return at },
	}
	if st == alipaytest.SignMD5 {
		s.Protocol = alipaytest.ProtocolMapi
	}
	return s, func(sim time.Duration) { at = p.epoch.Add(sim) }
}

// tradePlan is one trade to build: its order number, where its events go
// in the plan, and the random offset of its return visit.
type tradePlan struct {
	t         *Trade
	order     string
	base      int // index of its first event
	returnOff time.Duration
}

// plan builds every event. Trades are signed in parallel (RSA signing is
// the bulk of the work for large scenarios); everything random or numbered
// is decided beforehand, in scenario order, so the plan does not depend on
// scheduling.
func (p *planner) plan(sc *Scenario) ([]*event, error) {
	var plans []tradePlan
	n := 0
	for ti := range sc.Trades {
		t := &sc.Trades[ti]
		for k := 1; k <= t.repeat(); k++ {
			tp := tradePlan{t: t, order: p.orderNo(t, k), base: n}
			n += len(t.steps())
			if t.RaceReturn {
				w := p.sim.cfg.RaceWindow
				tp.returnOff = time.Duration(p.rng.Int64N(int64(2*w)+1)) - w
				n++
			}
			plans = append(plans, tp)
		}
	}
	p.evs = make([]*event, n)

	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		errOnce sync.Once
		err     error
	)
	for range min(runtime.GOMAXPROCS(0), len(plans)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(plans) {
					return
				}
				if e := p.trade(plans[i]); e != nil {
					errOnce.Do(func() { err = e })
					return
				}
			}
		}()
	}
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for _, h := range sc.Hostile {
		if err := p.hostile(h); err != nil {
			return nil, err
		}
	}
	return p.evs, nil
}

func (p *planner) orderNo(t *Trade, k int) string {
	if t.OutTradeNo == "" {
		p.n++
		return fmt.Sprintf("SIM-%s-%d", p.runID, p.n)
	}
	if t.repeat() > 1 {
		return fmt.Sprintf("%s-%d", t.OutTradeNo, k)
	}
	return t.OutTradeNo
}

// trade builds the events of one trade into p.evs[tp.base:].
func (p *planner) trade(tp tradePlan) (err error) {
	// alipaytest panics on what validation should have caught; turn a
	// panic into an error rather than crash the caller.
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("simulator: building trade %s: %v", tp.order, v)
		}
	}()
	t := tp.t
	sg, _ := t.signing()
	cs, _ := canonicalCharset(t.Charset)
	b := &tradeBuilder{p: p, tp: tp, slot: tp.base, cs: cs, signType: sg.name()}
	switch {
	case sg.wap:
		b.wap(sg.st)
	case t.Story.isEscrow():
		b.escrow()
	default:
		b.trade(sg.st)
	}
	return nil
}

// tradeBuilder builds the events of one trade in story order.
type tradeBuilder struct {
	p        *planner
	tp       tradePlan
	slot     int    // where the next event goes in p.evs
	cs       string // charset
	signType string // as the scenario names it
}

func (b *tradeBuilder) add(ev *event) {
	ev.info.Index = b.slot
	b.p.evs[b.slot] = ev
	b.slot++
}

// at returns the simulated time of step i of n (latest first with
// OutOfOrder).
func (b *tradeBuilder) at(i, n int) time.Duration {
	t := b.tp.t
	if t.OutOfOrder {
		i = n - 1 - i
	}
	return time.Duration(t.Start) + time.Duration(i)*t.interval()
}

// notify adds the notification m of step stp: fields reads its business
// fields, and resend signs the same state again under a new notify_id,
// for the odd duplicates (even ones repeat m itself).
func (b *tradeBuilder) notify(stp step, id string, at time.Duration, m *alipaytest.Message, fields func(string) string, resend func() *alipaytest.Message) {
	t := b.tp.t
	ev := &event{
		info: Event{
			ID:           id,
			Kind:         KindNotify,
			OutTradeNo:   b.tp.order,
			Step:         stp.kind,
			TradeStatus:  fields("trade_status"),
			RefundStatus: fields("refund_status"),
			OutBizNo:     fields("out_biz_no"),
			RefundFee:    fields("refund_fee"),
			NotifyID:     fields("notify_id"),
			Charset:      b.cs,
			SignType:     b.signType,
			Subject:      fields("subject"),
			Start:        at,
			Copies:       t.Duplicates,
			LostAcks:     t.LostAcks,
		},
		msg:      m,
		lostAcks: t.LostAcks,
	}
	for c := 1; c <= t.Duplicates; c++ {
		if c%2 == 0 {
			ev.copies = append(ev.copies, m)
			continue
		}
		ev.copies = append(ev.copies, resend())
	}
	b.add(ev)
}

// ret adds the buyer's return visit rm, racing the payment notification
// sent at paidAt.
func (b *tradeBuilder) ret(rm *alipaytest.Message, at time.Duration, subject string) {
	b.add(&event{
		info: Event{
			ID:         b.tp.order + " return",
			Kind:       KindReturn,
			OutTradeNo: b.tp.order,
			Step:       "return",
			NotifyID:   rm.Get("notify_id"),
			Charset:    b.cs,
			SignType:   b.signType,
			Subject:    subject,
			Start:      at,
		},
		msg: rm,
	})
}

// returnAt is the simulated time of the return visit racing a payment
// notification sent at paidAt.
func (b *tradeBuilder) returnAt(paidAt time.Duration) time.Duration {
	return max(paidAt+b.tp.returnOff, 0)
}

// trade builds an open platform or instant-transfer (mapi) trade.
func (b *tradeBuilder) trade(st alipaytest.SignType) {
	t := b.tp.t
	s, setClock := b.p.signer(st, b.cs)
	setClock(time.Duration(t.Start))
	tr := s.NewTrade(b.tp.order, t.amount())
	if t.Subject != "" {
		tr.Extra = alipaytest.Fields{"subject": t.Subject}
	}
	steps := t.steps()
	for i, stp := range steps {
		at := b.at(i, len(steps))
		setClock(at)
		var m *alipaytest.Message
		bizNo := fmt.Sprintf("%s-R%d", tr.OutTradeNo, stp.bizNo)
		id := tr.OutTradeNo + " " + stp.status
		switch stp.kind {
		case "paid":
			m = tr.Paid()
		case "finished":
			m = tr.Finished()
		case "closed":
			m = tr.ClosedUnpaid()
		case "refund":
			m = tr.PartialRefund(bizNo, stp.refund)
			id = fmt.Sprintf("%s refund R%d", tr.OutTradeNo, stp.bizNo)
		case "full_refund":
			m = tr.FullRefund(bizNo)
			id = fmt.Sprintf("%s full refund R%d", tr.OutTradeNo, stp.bizNo)
		}
		b.notify(stp, id, at, m, m.Get, func() *alipaytest.Message {
			// A re-send of the same state: new notify_id, signed again.
			params := m.Params.Clone()
			params.Set("notify_id", s.NotifyParams(nil).Get("notify_id"))
			return s.MustSign(params)
		})
		if stp.kind == "paid" && t.RaceReturn {
			rat := b.returnAt(at)
			setClock(rat)
			rm := tr.Return()
			b.ret(rm, rat, rm.Get("subject"))
		}
	}
}

// escrow builds a legacy escrow or dual-function trade (MD5): one price
// (the amount) times quantity 1, no logistics fee, each gmt_* time at its
// step's simulated time.
func (b *tradeBuilder) escrow() {
	t := b.tp.t
	s, setClock := b.p.signer(alipaytest.SignMD5, b.cs)
	start := time.Duration(t.Start)
	setClock(start)
	tr := s.NewEscrowTrade(b.tp.order, t.amount(), "1", "0.00")
	if t.Subject != "" {
		tr.Subject = t.Subject
	}
	steps := t.steps()
	// Step i is notified at start + i × interval, a second after it
	// happened (the creation: at once, notify_time = gmt_create). With
	// OutOfOrder a step is delivered at another step's time but still
	// reports when it happened.
	clock := func(i int) time.Time { return b.p.epoch.Add(start + time.Duration(i)*t.interval()) }
	tr.ResendAfter = time.Second // duplicates are sent with the first try
	tr.Created = clock(0)
	tr.LogisticsModified = tr.Created
	tr.PaidAt = clock(1).Add(-time.Second)
	if len(steps) > 2 {
		tr.ShippedAt = clock(2).Add(-time.Second)
		tr.FinishedAt = clock(3).Add(-time.Second)
		tr.RefundRequestedAt = tr.FinishedAt
	}
	if len(steps) > 4 {
		tr.RefundedAt = clock(4).Add(-time.Second)
	}
	for i, stp := range steps {
		at := b.at(i, len(steps))
		setClock(at)
		var m *alipaytest.Message
		id := tr.OutTradeNo + " " + stp.status
		switch stp {
		case stepWaitBuyerPay:
			m = tr.WaitBuyerPay()
		case stepEscrowPaid:
			m = tr.Paid()
		case stepShipped:
			m = tr.Shipped()
		case stepEscrowFinished:
			m = tr.Finished()
		case stepInstantFinished:
			m = tr.InstantFinished()
		case stepRefundRequested:
			m = tr.RefundRequested()
			id += " refund WAIT_SELLER_AGREE"
		case stepRefundSucceeded:
			m = tr.RefundSucceeded()
			id += " refund REFUND_SUCCESS"
		}
		b.notify(stp, id, at, m, m.Get, func() *alipaytest.Message { return tr.Resent(m) })
		if (stp == stepEscrowPaid || stp == stepInstantFinished) && t.RaceReturn {
			rat := b.returnAt(at)
			setClock(rat)
			rm := tr.Return()
			b.ret(rm, rat, rm.Get("subject"))
		}
	}
}

// wap builds a legacy mobile web trade (alipay.wap.*): notifications whose
// business fields travel in notify_data, and the call_back_url return.
func (b *tradeBuilder) wap(st alipaytest.SignType) {
	t := b.tp.t
	cfg := b.p.sim.cfg
	var now time.Time
	s := &alipaytest.WAPSigner{
		SecID: st, Partner: cfg.Partner, SellerID: cfg.SellerID, MD5Key: cfg.MD5Key,
		AlipayKey: cfg.WAPKey, MerchantPublicKey: cfg.MerchantPublicKey, Gateway: cfg.Gateway,
		Now: func() time.Time { return now },
	}
	setClock := func(at time.Duration) { now = b.p.epoch.Add(at) }
	setClock(time.Duration(t.Start))
	base := s.NotifyFields(nil) // a fresh trade_no for the whole trade
	fields := alipaytest.Fields{"out_trade_no": b.tp.order, "trade_no": base.Get("trade_no"), "total_fee": t.amount()}
	if t.Subject != "" {
		fields["subject"] = t.Subject
	}
	sign := func(p *alipaytest.WireParams) *alipaytest.Message {
		m, err := s.SignNotifyData(alipaytest.WAPNotifyXML(p))
		if err != nil {
			panic(err)
		}
		return m
	}
	steps := t.steps()
	for i, stp := range steps {
		at := b.at(i, len(steps))
		setClock(at)
		f := maps.Clone(fields)
		f["trade_status"] = stp.status
		if stp.kind == "finished" {
			f["gmt_close"] = alipaytest.FormatTime(now)
		}
		p := s.NotifyFields(f)
		// A re-send: the same fields at the same clock, with the fresh
		// notify_id NotifyFields gives every call.
		b.notify(stp, b.tp.order+" "+stp.status, at, sign(p), p.Get, func() *alipaytest.Message { return sign(s.NotifyFields(f)) })
		if stp.kind == "paid" && t.RaceReturn {
			rat := b.returnAt(at)
			setClock(rat)
			b.ret(s.Return(alipaytest.Fields{"out_trade_no": b.tp.order, "trade_no": fields["trade_no"]}), rat, p.Get("subject"))
		}
	}
}

func (p *planner) hostile(h Hostile) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("simulator: building hostile input %s: %v", h.Kind, v)
		}
	}()
	st := p.sim.hostileSignType(h)
	cs, _ := canonicalCharset(h.Charset)
	s, setClock := p.signer(st, cs)
	at := time.Duration(h.At)
	setClock(at)
	p.n++
	order := fmt.Sprintf("HOSTILE-%s-%d", p.runID, p.n)
	ev := &event{info: Event{
		ID:         "hostile " + string(h.Kind),
		Kind:       KindHostile,
		Hostile:    h.Kind,
		OutTradeNo: order,
		Charset:    cs,
		SignType:   string(st),
		Start:      at,
	}}
	amountKey := "total_amount"
	if st == alipaytest.SignMD5 {
		amountKey = "total_fee"
	}
	genuine := s.NewTrade(order, "88.88").Paid()
	switch h.Kind {
	case HostileForgedSignature:
		ev.msg = forge(genuine)
	case HostileTamperedAmount:
		ev.msg = genuine.Tampered(amountKey, "0.01")
	case HostileOversizedBody:
		params := genuine.Params.Clone()
		params.Set("body", strings.Repeat("A", p.sim.cfg.OversizeBytes))
		m, err := s.Sign(params)
		if err != nil {
			return fmt.Errorf("simulator: oversized body: %w", err)
		}
		ev.msg = m
	case HostileGarbageBody:
		garbage := make([]byte, 96)
		_, _ = rand.Read(garbage)
		body := append([]byte("%%%=&&sign=%ZZ\x00"), garbage...)
		ev.raw = func(ctx context.Context, url string) (*http.Request, error) {
			r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err == nil {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			return r, err
		}
	case HostileWrongMethod:
		m := genuine.Clone()
		m.Kind = alipaytest.ReturnKind // sent as a GET with the query
		ev.msg = m
		ev.raw = func(ctx context.Context, url string) (*http.Request, error) { return m.ClientRequest(ctx, url) }
	}
	if ev.msg != nil {
		ev.info.NotifyID = ev.msg.Get("notify_id")
		ev.info.TradeStatus = ev.msg.Get("trade_status")
	}
	p.add(ev)
	return nil
}

// forge returns m with a signature that Alipay's key did not make: for RSA
// a signature whose bytes were altered, for MD5 the digest under another
// key. Everything else stays genuine.
func forge(m *alipaytest.Message) *alipaytest.Message {
	f := m.Clone()
	if m.SignType == alipaytest.SignMD5 {
		sum := md5.Sum([]byte(m.SignedContent + "not-the-partner-key"))
		f.Params.Set("sign", hex.EncodeToString(sum[:]))
		return f
	}
	sig, err := base64.StdEncoding.DecodeString(m.Sign())
	if err != nil || len(sig) == 0 {
		f.Params.Set("sign", base64.StdEncoding.EncodeToString([]byte("forged")))
		return f
	}
	for i := range sig {
		sig[i] ^= byte(0x5a + i)
	}
	f.Params.Set("sign", base64.StdEncoding.EncodeToString(sig))
	return f
}
