package reconcile_test

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

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// business is a business handler that records what it ran: runs per event
// and the Stale flag of each run.
type business struct {
	mu    sync.Mutex
	runs  map[string]int  // by Event().String()
	stale map[string]bool // by Event().String(): the last run was flagged Stale
	fail  atomic.Int32    // fail the next n runs
}

func newBusiness() *business {
	return &business{runs: map[string]int{}, stale: map[string]bool{}}
}

func (b *business) handle(ctx context.Context, n *alipaynotify.Notification) error {
	if b.fail.Load() > 0 {
		b.fail.Add(-1)
		return errors.New("database down")
	}
	d, _ := middleware.DeliveryFromContext(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	key := n.Event().String()
	b.runs[key]++
	b.stale[key] = d.Stale
	return nil
}

// ran returns how many times the handler ran for n's event, and whether
// the last run was flagged Stale.
func (b *business) ran(n *alipaynotify.Notification) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runs[n.Event().String()], b.stale[n.Event().String()]
}

func (b *business) total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	total := 0
	for _, n := range b.runs {
		total += n
	}
	return total
}

// world is a merchant wired like production: one Verifier for the
// callbacks and the query answers, the middleware on a store, a Client
// talking to alipaytest's fake Gateway, and a Reconciler.
type world struct {
	signer   *alipaytest.Signer // Alipay's open-platform side
	legacy   *alipaytest.Signer // Alipay's legacy mapi side
	gateway  *alipaytest.Gateway
	verifier *alipaynotify.Verifier
	mw       *middleware.Middleware
	biz      *business
	handler  http.Handler
	rec      *reconcile.Reconciler
	mux      *http.ServeMux
}

// worldOptions adjust a world.
type worldOptions struct {
	store    dedupe.Store // default: memory
	protocol alipaynotify.Protocol
	recOpts  reconcile.ReconcilerOptions // Middleware, Business and Querier are filled in
	mwOpts   middleware.Options          // Verifier and Store are filled in
	gateway  *alipaytest.Gateway         // default: a new one
	biz      *business                   // default: a new one
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	w := &world{signer: alipaytest.NewSigner(nil), legacy: alipaytest.NewLegacySigner("", ""), biz: o.biz, gateway: o.gateway}
	if w.biz == nil {
		w.biz = newBusiness()
	}
	if w.gateway == nil {
		w.gateway = alipaytest.NewGateway(alipaytest.GatewayOptions{Signer: w.signer})
		t.Cleanup(w.gateway.Close)
	}
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		Legacy:           alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.verifier = v
	mo := o.mwOpts
	mo.Verifier, mo.Store = v, o.store
	if mo.Logger == nil {
		mo.Logger = discardLogger()
	}
	if w.mw, err = middleware.New(mo); err != nil {
		t.Fatal(err)
	}
	w.handler = middleware.HandlerFunc(w.biz.handle)
	co := reconcile.Options{Verifier: v, Protocol: o.protocol, GatewayURL: w.gateway.GatewayURL(), HTTPClient: w.gateway.Client()}
	if o.protocol == alipaynotify.ProtocolMapi {
		co.MD5Key = alipaytest.DefaultMD5Key
	} else {
		co.MerchantPrivateKey = merchantKey().PrivateKeyPKCS8PEM()
	}
	client, err := reconcile.New(co)
	if err != nil {
		t.Fatal(err)
	}
	ro := o.recOpts
	ro.Middleware, ro.Business = w.mw, w.handler
	if ro.Querier == nil {
		ro.Querier = client
	}
	if ro.Logger == nil {
		ro.Logger = discardLogger()
	}
	if w.rec, err = reconcile.NewReconciler(ro); err != nil {
		t.Fatal(err)
	}
	w.mux = http.NewServeMux()
	w.mux.Handle("/alipay/notify", w.mw.Notify(w.handler))
	w.mux.Handle("/alipay/return", w.mw.Return(w.handler, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		d, _ := middleware.DeliveryFromContext(r.Context())
		_, _ = io.WriteString(rw, d.Outcome.String())
	})))
	return w
}

// notify serves a notify callback and returns the body answered to Alipay.
func (w *world) notify(m *alipaytest.Message) string {
	rr := httptest.NewRecorder()
	w.mux.ServeHTTP(rr, m.Request("/alipay/notify"))
	return rr.Body.String()
}

// browserReturn serves a return redirect and returns the page (the
// delivery's Outcome).
func (w *world) browserReturn(m *alipaytest.Message) string {
	rr := httptest.NewRecorder()
	w.mux.ServeHTTP(rr, m.Request("/alipay/return"))
	return rr.Body.String()
}

// verifyNotify verifies m with the world's Verifier, for the event it
// stands for.
func (w *world) verifyNotify(t testing.TB, m *alipaytest.Message) *alipaynotify.Notification {
	t.Helper()
	n, err := w.verifier.VerifyNotify(context.Background(), m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
