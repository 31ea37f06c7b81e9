package simulator

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// hostile adds the event of one hostile input: a genuine paid notification
// made forged, tampered or oversized, or a request no callback looks like.
func (p *planner) hostile(h Hostile) error {
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
