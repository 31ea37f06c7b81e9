package merchant

import (
	"context"
	"sync"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// startReconciler starts the Reconciler in the background when c names an
// orders file that can list its orders and query credentials, and says in
// the log whether it runs.
func (s *Shop) startReconciler(c Config, v *alipaynotify.Verifier) error {
	if c.OrdersFile == "" {
		if c.AppPrivateKey != "" || c.GatewayURL != "" || c.ReconcileInterval != 0 {
			s.logger.Warn("reconciler off: it needs ALIPAY_ORDERS_FILE, the orders to ask about")
		}
		return nil
	}
	book, ok := c.Orders.(Pending)
	if !ok {
		s.logger.Warn("reconciler off: the order book cannot list its orders")
		return nil
	}
	opts := reconcile.Options{Verifier: v, GatewayURL: c.GatewayURL}
	switch {
	case c.AppID != "" && c.AppPrivateKey != "":
		opts.MerchantPrivateKey = c.AppPrivateKey
	case c.Partner != "" && c.MD5Key != "":
		opts.Protocol, opts.MD5Key = alipaynotify.ProtocolMapi, c.MD5Key
	default:
		s.logger.Warn("reconciler off: ALIPAY_ORDERS_FILE is set but no query credentials are " +
			"(ALIPAY_APP_ID with ALIPAY_APP_PRIVATE_KEY_FILE, or ALIPAY_PARTNER with ALIPAY_MD5_KEY); orders are still checked")
		return nil
	}
	client, err := reconcile.New(opts)
	if err != nil {
		return err
	}
	rec, err := reconcile.NewReconciler(reconcile.ReconcilerOptions{
		Middleware: s.Middleware,
		Business:   middleware.HandlerFunc(s.Handle), // the handler of the notify and return routes
		Querier:    client,
		Pending:    func(context.Context) ([]string, error) { return s.pending(book) },
		Interval:   c.ReconcileInterval,
		Logger:     s.logger,
	})
	if err != nil {
		return err
	}
	gateway := c.GatewayURL
	if gateway == "" {
		gateway = reconcile.DefaultGatewayURL
		if client.Protocol() == alipaynotify.ProtocolMapi {
			gateway = reconcile.DefaultLegacyGatewayURL
		}
	}
	interval := c.ReconcileInterval
	if interval == 0 {
		interval = reconcile.DefaultInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = rec.Run(ctx) // returns ctx's error once Close cancels it
	}()
	s.stopReconciler = func() { cancel(); wg.Wait() }
	s.logger.Info("reconciler on: asking Alipay about the unsettled orders of the book",
		"protocol", client.Protocol(), "gateway", gateway, "interval", interval, "orders_file", c.OrdersFile)
	return nil
}

// pending lists the orders of the book that Handle has not seen paid or
// closed: a paid order needs no more queries (its later statuses, and its
// refunds, are the notifications' to deliver).
func (s *Shop) pending(book Pending) ([]string, error) {
	all, err := book.List()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := all[:0]
	for _, o := range all {
		if !s.settled[o] {
			out = append(out, o)
		}
	}
	return out, nil
}
