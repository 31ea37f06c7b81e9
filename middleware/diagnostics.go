package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Start-up and misconfiguration diagnostics: what a merchant should hear
// about once, or now and then, rather than on every callback.

const (
	// signatureHintAfter is how many signature failures in a row, with no
	// verified callback between them, make the middleware suspect the key.
	signatureHintAfter = 3
	// signatureHintEvery bounds how often that hint is logged.
	signatureHintEvery = 10 * time.Minute
	// maxCertSNWarnings bounds the unknown certificate serials remembered
	// (each is logged once).
	maxCertSNWarnings = 16
)

// diagnostics is the state behind the hints.
type diagnostics struct {
	signatureFailures atomic.Int64 // in a row, since the last verified callback
	lastSignatureHint atomic.Int64 // unix nanoseconds

	certSNMu   sync.Mutex
	certSNSeen map[string]bool
}

// warnInMemoryStore says, once at construction, what the default store
// cannot do.
func warnInMemoryStore(l *slog.Logger) {
	l.Warn("alipaynotify: Options.Store is not set, so the dedupe state lives in this process's memory: " +
		"every instance of the service runs each event once, and a restart forgets what was handled. " +
		"Use dedupe/redisstore when the service runs more than one instance or must survive restarts.")
}

// signatureHint counts signature failures and, when every callback for a
// while has failed its signature although the key is well formed (the
// Verifier checked it), logs the usual cause at most every
// signatureHintEvery: the app's own public key configured in place of
// Alipay's.
func (m *Middleware) signatureHint(ctx context.Context, r Reason) {
	if r != ReasonSignature {
		return
	}
	n := m.diag.signatureFailures.Add(1)
	if n < signatureHintAfter {
		return
	}
	now := time.Now().UnixNano()
	last := m.diag.lastSignatureHint.Load()
	if now-last < int64(signatureHintEvery) || !m.diag.lastSignatureHint.CompareAndSwap(last, now) {
		return
	}
	m.opts.Logger.WarnContext(ctx, "alipaynotify: every callback lately failed its signature, none verified: "+
		"check that Options.AlipayPublicKeys holds 支付宝公钥 (Alipay's public key), not 应用公钥 (your app's own public key); "+
		"in certificate mode, that AlipayCertificates is alipayCertPublicKey_RSA2.crt, not appCertPublicKey_*.crt; "+
		"and that key and app_id belong to the same environment (sandbox or production)",
		"failures_in_a_row", n)
}

// verified resets the signature failure count.
func (m *Middleware) verified() {
	if m.diag.signatureFailures.Load() != 0 {
		m.diag.signatureFailures.Store(0)
	}
}

// certSNWarning logs, once per serial number, a verified callback naming an
// Alipay certificate the Verifier was not given: the early sign of Alipay's
// certificate rotation.
func (m *Middleware) certSNWarning(ctx context.Context, n *alipaynotify.Notification) {
	sn, unknown := m.opts.Verifier.UnknownCertSN(n)
	if !unknown {
		return
	}
	m.diag.certSNMu.Lock()
	first := !m.diag.certSNSeen[sn] && len(m.diag.certSNSeen) < maxCertSNWarnings
	if first {
		if m.diag.certSNSeen == nil {
			m.diag.certSNSeen = make(map[string]bool)
		}
		m.diag.certSNSeen[sn] = true
	}
	m.diag.certSNMu.Unlock()
	if first {
		m.opts.Logger.WarnContext(ctx, "alipaynotify: a callback names an Alipay certificate you have not configured (it verified under another key): "+
			"Alipay may be rotating its certificate; download the new alipayCertPublicKey_RSA2.crt and add it to Options.AlipayCertificates",
			"alipay_cert_sn", sn)
	}
}

// CheckStore checks, at start-up, that the dedupe store answers: it claims
// and releases a probe event of its own (never a merchant's), each call
// bounded by Options.StoreTimeout. Call it before serving, so that an
// unreachable or misconfigured store (a wrong address, a password, a Redis
// that refuses scripts) fails the deploy instead of the first payment. The
// error wraps ErrStore.
func (m *Middleware) CheckStore(ctx context.Context) error {
	var b [8]byte
	rand.Read(b[:])
	ev := dedupe.Event{Trade: "alipaynotify|~check-store", ID: hex.EncodeToString(b[:])}
	c, err := storeCall(m, ctx, "claim", m.opts.StoreTimeout, func(ctx context.Context) (dedupe.Claim, error) {
		return m.opts.Store.Claim(ctx, ev, max(m.opts.StoreTimeout, time.Second))
	}, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	if c.State != dedupe.Claimed || c.Token == "" {
		return fmt.Errorf("%w: a fresh probe event was answered %v, not claimed", ErrStore, c.State)
	}
	ok, err := storeCall(m, ctx, "release", m.opts.StoreTimeout, func(ctx context.Context) (bool, error) {
		return m.opts.Store.Release(ctx, ev, c.Token)
	}, nil)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrStore, err)
	case !ok:
		return fmt.Errorf("%w: the probe claim could not be released with its own token", ErrStore)
	}
	return nil
}
