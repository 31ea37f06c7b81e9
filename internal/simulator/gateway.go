package simulator

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// queryGateway is the fake trade-query gateway of Config.QueryGateway:
// alipaytest's Gateway behind a plain-HTTP server of the simulator's own.
type queryGateway struct {
	gw  *alipaytest.Gateway
	srv *http.Server
	url string

	mu    sync.Mutex
	index map[*alipaytest.Trade]int // the story step the gateway knows, per trade
}

// startGateway listens on cfg.QueryGateway and serves the gateway there
// until close.
func startGateway(cfg Config) (*queryGateway, error) {
	ln, err := net.Listen("tcp", cfg.QueryGateway)
	if err != nil {
		return nil, fmt.Errorf("simulator: query gateway: %w", err)
	}
	signer := &alipaytest.Signer{
		Key:      cfg.Key,
		SignType: alipaytest.SignRSA2,
		AppID:    cfg.AppID,
		Partner:  cfg.Partner,
		SellerID: cfg.SellerID,
		MD5Key:   cfg.MD5Key,
	}
	g := &queryGateway{
		gw:    alipaytest.NewGatewayHandler(alipaytest.GatewayOptions{Signer: signer, MerchantPublicKey: cfg.AppPublicKey}),
		url:   "http://" + ln.Addr().String() + "/gateway.do",
		index: map[*alipaytest.Trade]int{},
	}
	g.srv = &http.Server{Handler: g.gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

func (g *queryGateway) close() error {
	g.gw.Close()
	if err := g.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// learn tells the gateway that step index of trade t has happened, with
// status; an earlier step learnt late changes nothing.
func (g *queryGateway) learn(t *alipaytest.Trade, index int, status string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.index[t]; ok && cur >= index {
		return
	}
	g.index[t] = index
	g.gw.SetStatus(t, status)
}

// query is one verified-signature query the gateway answered during a run.
type query struct {
	outTradeNo string
	at         time.Duration // simulated time of arrival
	status     string        // trade_status answered; "" for an error answer
}

var answeredStatus = regexp.MustCompile(`"trade_status":"([A-Z_]+)"|<trade_status>([A-Z_]+)</trade_status>`)

// queries returns the queries with a valid signature received since the
// run's clock started, in simulated time.
func (g *queryGateway) queries(c clock) []query {
	var out []query
	for _, r := range g.gw.Requests() {
		if !r.SignatureValid || r.Received.Before(c.start) {
			continue
		}
		q := query{outTradeNo: r.OutTradeNo, at: time.Duration(float64(r.Received.Sub(c.start)) * c.speed)}
		if m := answeredStatus.FindSubmatch(r.Answer); m != nil {
			q.status = string(m[1]) + string(m[2])
		}
		out = append(out, q)
	}
	return out
}

// gatewayStep is what the gateway learns when a story step happens.
type gatewayStep struct {
	trade  *alipaytest.Trade
	index  int // the step's place in the story
	status string
	at     time.Duration // when it happens, in story order
}

// checkout is a trade's order, appended to Config.OrdersFile before any
// of its events is sent.
type checkout struct {
	order, amount string
	at            time.Duration
	once          sync.Once
}

// ordersFile appends orders to the shop's order book.
type ordersFile struct {
	path string
	mu   sync.Mutex
	err  error // the first failure
}

// add appends "out_trade_no amount" to the book, once per checkout.
func (f *ordersFile) add(c *checkout) {
	c.once.Do(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.err != nil {
			return
		}
		if err := appendLine(f.path, c.order+" "+c.amount+"\n"); err != nil {
			f.err = fmt.Errorf("simulator: orders file: %w", err)
		}
	})
}

func (f *ordersFile) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func appendLine(path, line string) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := fh.WriteString(line); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
