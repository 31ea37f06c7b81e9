package simulator

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

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
	// merchant is configured with its public half (Legacy.WAP.PublicKeys).
	WAPKey *alipaytest.KeyPair
	// MerchantPublicKey is the merchant's public key, which WAP_0001
	// notifications' notify_data is encrypted to; the merchant decrypts
	// with its private half (MerchantPrivateKey).
	MerchantPublicKey *rsa.PublicKey
	// Gateway, when set, learns every notify_id sent, so a merchant that
	// runs the legacy notify_verify check against it gets "true".
	Gateway *alipaytest.NotifyVerifyServer

	// QueryGateway, when set, is the address (host:port; port 0 picks one)
	// on which New starts serving a fake trade-query gateway over plain
	// HTTP, until Close: see the package documentation, "Lost
	// notifications and the gateway". Point the merchant's query client at
	// Simulator.GatewayURL. Use a loopback address: the merchant's
	// reconcile client accepts plain HTTP there only.
	QueryGateway string
	// AppPublicKey is the merchant's app public key (应用公钥), which checks
	// the signatures of the merchant's open-platform queries, as the key
	// uploaded to Alipay does. Required with QueryGateway when Key is set.
	AppPublicKey *rsa.PublicKey
	// OrdersFile, when set, is the shop's order book: each trade's order
	// is appended to it before the trade starts, as one line
	// "out_trade_no amount" (amount in yuan). The file is created if
	// needed; lines already in it are kept.
	OrdersFile string

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

	// OnStart, when set, is called by Run once the plan is built, with the
	// wall-clock time of simulated time 0, before anything is sent: the
	// simulated time at wall-clock time t is t.Sub(start) × Speed.
	OnStart func(start time.Time)
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
	gw        *queryGateway // nil without Config.QueryGateway
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
		s.client = newClient(cfg.Workers, cfg.Timeout)
	}
	if cfg.QueryGateway != "" {
		if cfg.Key != nil && cfg.AppPublicKey == nil {
			return nil, errors.New("simulator: the query gateway needs the merchant's app public key to check open-platform queries")
		}
		gw, err := startGateway(cfg)
		if err != nil {
			return nil, err
		}
		s.gw = gw
	}
	return s, nil
}

// GatewayURL is the URL of the fake trade-query gateway
// ("http://127.0.0.1:9090/gateway.do"), or "" without
// Config.QueryGateway.
func (s *Simulator) GatewayURL() string {
	if s.gw == nil {
		return ""
	}
	return s.gw.url
}

// Close stops the query gateway, if any; it answers nothing after that.
func (s *Simulator) Close() error {
	if s.gw == nil {
		return nil
	}
	return s.gw.close()
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
		// Alipay forbids custom query parameters on both URLs
		// (docs/protocol-legacy.md, "Legacy mapi").
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
		if last := s.offsets[len(s.offsets)-1]; time.Duration(t.LoseNotifies) > last {
			return &ScenarioError{Path: fmt.Sprintf("trades[%d].lose_notifies", i),
				Err: fmt.Errorf("%s is longer than the schedule's last try (%s after the first): no try would be sent", time.Duration(t.LoseNotifies), last)}
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
