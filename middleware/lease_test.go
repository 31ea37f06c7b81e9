package middleware_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// frozenRenewals is a store whose Extend pretends to succeed without renewing
// anything: the owner behaves like a process paused past its lease.
type frozenRenewals struct{ dedupe.Store }

func (frozenRenewals) Extend(context.Context, dedupe.Event, string, time.Duration) (bool, error) {
	return true, nil
}

// TestPausedOwnerCannotCompleteOverNewOwner: an owner whose lease ran out
// while it was paused cannot mark done over the delivery (of another
// instance) that took over: the new owner's done mark stands, later
// duplicates run nothing, and the paused owner answers "fail", reporting a
// lost lease, not a store failure.
func TestPausedOwnerCannotCompleteOverNewOwner(t *testing.T) {
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		mem := newStore()
		var storeErrs, leaseLost atomic.Int32
		opts := middleware.Options{Store: frozenRenewals{mem}, Lease: 60 * time.Millisecond, WaitInFlight: 10 * time.Millisecond,
			Hooks: middleware.Hooks{
				StoreError: func(ctx context.Context, op string, err error) { storeErrs.Add(1) },
				LeaseLost:  func(context.Context, *alipaynotify.Notification) { leaseLost.Add(1) },
			}}
		a, b := newFixture(t, opts), newFixture(t, opts)
		release, started := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		var tokens sync.Map
		business := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
			d, _ := middleware.DeliveryFromContext(ctx)
			tokens.Store(calls.Add(1), d.ClaimToken)
			if calls.Load() == 1 {
				close(started)
				<-release // paused past the lease
			}
			return nil
		})
		a.mux.Handle("/paused", a.mw.Notify(business))
		b.mux.Handle("/paused", b.mw.Notify(business))
		paid := a.signer.NewTrade("PAUSED-1", "1.00").Paid()
		first := make(chan string)
		go func() {
			w := a.serve(paid.Request("/paused"))
			first <- w.Body.String()
		}()
		<-started                          // instance a's delivery owns the claim
		time.Sleep(200 * time.Millisecond) // and its lease has run out
		if w := b.serve(paid.Request("/paused")); w.Body.String() != "success" {
			t.Fatalf("take-over delivery: %q", w.Body.String())
		}
		close(release)
		if answer := <-first; answer != "fail" {
			t.Fatalf("the paused owner answered %q after losing its lease, want fail", answer)
		}
		if calls.Load() != 2 {
			t.Fatalf("handler calls = %d, want 2 (the documented limit: a paused owner's work and the take-over)", calls.Load())
		}
		t1, _ := tokens.Load(int32(1))
		t2, _ := tokens.Load(int32(2))
		if t1 == t2 || t1 == "" {
			t.Fatalf("the two owners must hold different claim tokens: %v %v", t1, t2)
		}
		if leaseLost.Load() != 1 || storeErrs.Load() != 0 {
			t.Fatalf("the paused owner's refused complete must be reported once as a lost lease (got %d), never as a store error (got %d)",
				leaseLost.Load(), storeErrs.Load())
		}
		// The take-over's done mark stands: duplicates run nothing.
		for _, f := range []*fixture{a, b} {
			if w := f.serve(paid.Request("/paused")); w.Body.String() != "success" || calls.Load() != 2 {
				t.Fatalf("duplicate after take-over: %q, calls %d", w.Body.String(), calls.Load())
			}
		}
	})
}
