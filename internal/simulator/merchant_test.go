package simulator_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/internal/simulator"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// testMD5Key is the partner's MD5 key of the test merchant.
const testMD5Key = "simulator-test-md5-key-000000000"

// merchant is a real merchant server: the middleware with an in-memory store
// in front of a business handler that records every run and can be told to
// fail.
type merchant struct {
	*httptest.Server

	failFirst int           // fail the first failFirst runs of every event
	always    bool          // fail every run
	sleep     time.Duration // each run takes this long
	inFlight  atomic.Int32  // requests being served
	maxFlight atomic.Int32

	mu        sync.Mutex
	ok        map[string]int // successful runs per event
	failed    map[string]int // failed runs per event
	subjects  map[string]string
	receivers map[string]alipaynotify.Receiver // escrow shipping addresses by order
	stale     map[string]bool
	rejected  []error
	headers   []string // DeliveryHeader of every request
}

type merchantOptions struct {
	failFirst int
	always    bool
	sleep     time.Duration
	verify    alipaynotify.Options // overrides
}

func newMerchant(t *testing.T, o merchantOptions) *merchant {
	t.Helper()
	vo := o.verify
	if vo.AppID == "" {
		vo.AppID = alipaytest.DefaultAppID
	}
	if vo.AlipayPublicKeys == nil {
		vo.AlipayPublicKeys = []string{alipaytest.TestKey().PublicKeyPEM()}
	}
	if vo.Legacy.Partner == "" {
		vo.Legacy.Partner, vo.Legacy.MD5Key = alipaytest.DefaultPID, testMD5Key
	}
	if vo.Legacy.WAP.MerchantPrivateKey == "" { // mobile web sec_id=0001
		vo.Legacy.WAP.MerchantPrivateKey = alipaytest.WAPMerchantTestKey().PrivateKeyPKCS8PEM()
		vo.Legacy.WAP.PublicKeys = []string{alipaytest.WAPAlipayTestKey().PublicKeyPEM()}
	}
	v, err := alipaynotify.NewVerifier(vo)
	if err != nil {
		t.Fatal(err)
	}
	store := dedupe.NewMemoryStore()
	t.Cleanup(func() { store.Close() })
	m := &merchant{
		failFirst: o.failFirst, always: o.always, sleep: o.sleep,
		ok: map[string]int{}, failed: map[string]int{}, subjects: map[string]string{}, stale: map[string]bool{},
		receivers: map[string]alipaynotify.Receiver{},
	}
	mw, err := middleware.New(middleware.Options{
		Verifier: v,
		Store:    store,
		Logger:   slog.New(slog.DiscardHandler),
		Hooks: middleware.Hooks{Rejected: func(_ context.Context, r middleware.Rejection) {
			m.mu.Lock()
			m.rejected = append(m.rejected, r.Err)
			m.mu.Unlock()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	business := middleware.HandlerFunc(m.handle)
	mux := http.NewServeMux()
	mux.Handle("/alipay/notify", mw.Notify(business))
	mux.Handle("/alipay/return", mw.Return(business, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>Thank you for your order</html>")
	})))
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := m.inFlight.Add(1)
		defer m.inFlight.Add(-1)
		for {
			old := m.maxFlight.Load()
			if n <= old || m.maxFlight.CompareAndSwap(old, n) {
				break
			}
		}
		m.mu.Lock()
		m.headers = append(m.headers, r.Header.Get(simulator.DeliveryHeader))
		m.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *merchant) handle(ctx context.Context, n *alipaynotify.Notification) error {
	time.Sleep(m.sleep)
	key := n.Event().String()
	d, _ := middleware.DeliveryFromContext(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.always || m.failed[key] < m.failFirst {
		m.failed[key]++
		return errors.New("database busy")
	}
	m.ok[key]++
	if n.Subject != "" { // a WAP return carries none
		m.subjects[n.OutTradeNo] = n.Subject
	}
	if n.Legacy.Receiver != nil {
		m.receivers[n.OutTradeNo] = *n.Legacy.Receiver
	}
	if d != nil && d.Stale {
		m.stale[key] = true
	}
	return nil
}

// config returns a simulator configuration aimed at m.
func (m *merchant) config(speed float64) simulator.Config {
	return simulator.Config{
		NotifyURL: m.URL + "/alipay/notify",
		ReturnURL: m.URL + "/alipay/return",
		Key:       alipaytest.TestKey(),
		MD5Key:    testMD5Key,
		WAPKey:    alipaytest.WAPAlipayTestKey(),
		// Alipay holds only the merchant's public key.
		MerchantPublicKey: alipaytest.WAPMerchantTestKey().PublicKey(),
		Speed:             speed,
		Seed:              1,
	}
}

// runs returns the successful runs per event.
func (m *merchant) runs() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.ok {
		out[k] = v
	}
	return out
}

func (m *merchant) failures() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := 0
	for _, v := range m.failed {
		total += v
	}
	return total
}

// alipaytestLegacyOptions configures a legacy merchant that checks every
// notify_id with the notify_verify gateway gw.
func alipaytestLegacyOptions(gw *alipaytest.NotifyVerifyServer) alipaynotify.Options {
	return alipaynotify.Options{
		AppID:  alipaytest.DefaultAppID,
		Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: testMD5Key, NotifyVerify: true, NotifyVerifyURL: gw.GatewayURL()},
	}
}
